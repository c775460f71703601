"""V8: when mktemp fails, the root-run scripts stop instead of using a predictable /tmp name
that any local user can pre-create with a symlink in it (root then wrote through it)."""

from __future__ import annotations

import os
import subprocess

from preflight.facts.gather import build_facts_script
from preflight.facts.listings import lists_argv


def failing_mktemp_env(tmp_path) -> dict:
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "mktemp").write_text("#!/bin/sh\nexit 1\n")
    os.chmod(stub / "mktemp", 0o755)
    return dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}")


def test_V8_facts_script_runs_nothing_without_a_private_directory(tmp_path):
    sentinel = tmp_path / "ran"
    script = build_facts_script({"probe": ["touch", str(sentinel)]}, "PFMtest")
    p = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, env=failing_mktemp_env(tmp_path),
                       timeout=30)
    assert p.returncode == 97 and b"mktemp -d failed" in p.stderr
    assert not sentinel.exists(), "a fact ran with its output in a predictable /tmp directory"
    assert "/tmp/preflight" not in script


def test_V8_listing_script_has_no_fallback(tmp_path):
    argv = lists_argv({"showmount": ["nas.invalid"]}, "PFMtest") or []
    assert argv and "/tmp/preflight" not in " ".join(argv)
    p = subprocess.run(argv, capture_output=True, env=failing_mktemp_env(tmp_path), timeout=30)
    assert p.returncode == 97
