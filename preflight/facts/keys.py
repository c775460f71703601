"""The fact keys: the one authoritative list of what a check may name in ``@check(requires=...)``.

A key is only worth requiring if something reports it missing. For every key below the parser
(preflight.facts.parse) guarantees exactly that: when the fact could not be gathered or parsed
its key is in ``HostFacts.fact_errors`` / ``PairFacts.fact_errors`` (an unreachable host has every
host key there), and the runner turns it into ERROR for the checks requiring it. A key that no
parser fills in would never turn up missing, and the check declaring it would silently run on
empty fields, so the registry (preflight.engine.registry) refuses any other key. Adding a fact:
add its key here *and* make the parser name it in fact_errors when it is missing.

The table of keys, their raw sources and typed fields is in preflight.facts.parse.
"""

from __future__ import annotations

# Facts of one host (HostFacts.fact_errors).
HOST_FACT_KEYS = ("hostname", "fqdn", "machine_id", "mounts", "interfaces", "addresses",
                  "qemu_conf", "libvirt", "capabilities", "domains", "networks",
                  "fstab", "mount_units", "qemu_user",
                  "block", "qemu_caps", "pools", "chains",
                  "cluster_stack", "blkid", "image_access", "secrets",
                  # issue 10 (preflight.facts.compat_facts)
                  "kvm_device", "memory", "numa", "time_sync", "packet_filter")

# Facts of an ordered (source, destination) pair (PairFacts.fact_errors), gathered in the pair phase.
# Only checks of pair or migration scope see a pair, so only they may require these.
PAIR_FACT_KEYS = ("cpu", "probes", "resolved")

# What a reachable hypervisor must have for its guests to be judged at all: the libvirt connection
# answered (versions, hostname), its capabilities and its domain list. Without them host.reachable
# says ERROR, and without the domain list the host's guests are "not assessed" in the report.
CORE_FACT_KEYS = ("libvirt", "capabilities", "domains")

KNOWN_FACT_KEYS = frozenset(HOST_FACT_KEYS) | frozenset(PAIR_FACT_KEYS)
