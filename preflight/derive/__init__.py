"""Derived facts: pure functions over the parsed facts (preflight.facts.models) that say what the
facts mean together (where a disk lives on each host, which NFS export serves it, what QEMU's user
may open, what a cluster file system needs), shared by the checks and the report rollups.

No verdicts here (those are the checks'), no I/O (that is gathering's): a derive function returns
what it found, or None / a reason why it could not tell, never a PASS.
"""
