"""`preflight --help` starts light: the heavy stacks (XML, templates, SSH, libvirt, rich) are imported
only by the commands that use them. The time itself is printed by benchmarks/startup.py (no timed test)."""

from __future__ import annotations

import json
import subprocess
import sys

from preflight import textsafe

HEAVY = ("lxml", "jinja2", "paramiko", "libvirt", "rich", "markdown_it", "preflight.engine",
         "preflight.reports", "preflight.facts", "preflight.checks", "preflight.transport")

_PROBE = r"""
import json, sys
sys.argv = ["preflight"] + sys.argv[1:]
from preflight.cli import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n")
"""


def _modules(*args) -> tuple:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return proc.stdout, set(json.loads(line[len("MODULES "):]))


def _heavy(modules: set) -> list:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_no_heavy_module():
    out, modules = _modules("--help")
    assert "check" in out and "Exit codes" in out       # the help itself is all there
    assert _heavy(modules) == []


def test_command_help_imports_no_heavy_module():
    out, modules = _modules("check", "--help")
    assert "--replay" in out and "--full-results" in out
    assert _heavy(modules) == []


def test_a_real_command_does_import_them():
    """The probe can see an import: `preflight checks` needs the engine and the check modules."""
    _, modules = _modules("checks")
    assert "preflight.engine.registry" in modules and "preflight.checks.storage" in modules


def test_the_format_character_table_is_the_unicode_databases():
    """textsafe ships the format-character ranges of one Unicode version instead of scanning every code
    point at import; they must be exactly what unicodedata says (else a bidi override could slip through)."""
    import unicodedata

    computed = [tuple(r) for r in textsafe.format_ranges()]
    if unicodedata.unidata_version == textsafe._KNOWN_VERSION:
        assert computed == [tuple(r) for r in textsafe._KNOWN_RANGES]
    assert textsafe.visible("a\u202eb\u2066c\U000e0041") == "a\\u202eb\\u2066c\\U000e0041"
