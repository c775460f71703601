"""W9 (security review): every command of a batched exec runs under resource limits set on the
host by the shell (CPU seconds, bytes of output; address space for the tools that parse data
guests, devices or storage servers control: blkid, iscsiadm, multipath, lsblk, iscsi-ls,
showmount), so a hostile input cannot make them spin, fill the host's disk or eat its memory,
even where coreutils `timeout` is missing. The real script runs here under the local sh."""

from __future__ import annotations

import subprocess

import preflight.facts.gather as gather
from preflight.facts.gather import (COMMAND_OUTPUT_BYTES, UNTRUSTED_AS_BYTES, UNTRUSTED_INPUT_FACTS,
                                    build_facts_script, parse_facts_output)
from preflight.facts.raw import SHELL_FACTS


def _run(facts, **kw):
    script = build_facts_script(facts, "PFMlim", **kw)
    p = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, timeout=120)
    got, errors = parse_facts_output(p.stdout, "PFMlim", facts.keys())
    assert not errors, errors
    return got


def test_W9_limits_are_set_for_every_command_and_address_space_for_untrusted_tools():
    probe = ["sh", "-c", "ulimit -t; ulimit -f; ulimit -v"]
    got = _run({"blkid": probe, "hostname": probe})
    assert got["blkid"]["out"].split() == [str(gather.COMMAND_CPU_S), str(COMMAND_OUTPUT_BYTES // 512),
                                           str(UNTRUSTED_AS_BYTES // 1024)]
    assert got["hostname"]["out"].split()[:2] == [str(gather.COMMAND_CPU_S), str(COMMAND_OUTPUT_BYTES // 512)]
    assert got["hostname"]["out"].split()[2] != str(UNTRUSTED_AS_BYTES // 1024)
    # the tools of the review, as gathered for real, are in the limited set
    assert {"blkid", "iscsi_sessions", "multipath"} <= UNTRUSTED_INPUT_FACTS <= set(SHELL_FACTS)
    script = build_facts_script(SHELL_FACTS, "PFMx")
    assert "pf_run blkid \"$LU\" sh -c" in script and "pf_run iscsi_sessions \"$LU\" iscsiadm" in script


def test_W9_a_command_flooding_output_is_cut_at_the_host_and_named():
    n = COMMAND_OUTPUT_BYTES // 4096 + 64
    got = _run({"flood": ["sh", "-c", f"dd if=/dev/zero bs=4096 count={n} 2>/dev/null | tr '\\0' x"],
                "after": ["echo", "still here"]})
    assert got["flood"]["rc"] == 153 and len(got["flood"]["out"]) <= COMMAND_OUTPUT_BYTES
    assert "MiB" in got["flood"]["err"] and "hostile" in got["flood"]["err"]
    assert got["after"]["out"].strip() == "still here"           # the batch goes on


def test_W9_a_spinning_command_is_stopped_by_its_cpu_limit_without_timeout(monkeypatch):
    monkeypatch.setattr(gather, "COMMAND_CPU_S", 1)
    script = build_facts_script({"spin": ["sh", "-c", "while :; do :; done"]}, "PFMcpu")
    script = script.replace("if command -v timeout", "if false")      # a host without coreutils timeout
    p = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, timeout=60)
    got, _ = parse_facts_output(p.stdout, "PFMcpu", ["spin"])
    assert got["spin"]["rc"] == 152 and "CPU limit" in got["spin"]["err"]
