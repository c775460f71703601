"""Fact gathering: the batched shell facts, libvirt facts, scrubbing, the pair phase, collect()."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace as NS

import pytest

from preflight.facts.gather import (MASK, build_facts_script, gather_host, gather_shell,
                                    parse_facts_output, scrub_conf_text, scrub_domain_xml,
                                    scrub_mount_options)
from preflight.facts.pairs import _compare_on_destination, _probe_from_source, migration_port_range
from preflight.facts.raw import FORMAT, SHELL_FACTS

TRICKY = {
    "plain": ["echo", "hello"],
    "no_newline": ["printf", "%s", "no newline at end"],
    "empty": ["true"],
    "fails": ["sh", "-c", "echo partial; echo oops >&2; exit 3"],
    "missing": ["pft-no-such-command", "--x"],
    "fake_marker": ["printf", "%s\n", "PFM0000 plain err", "x\n\n"],
    "stdin_is_null": ["cat"],
    "quoting": ["printf", "%s|", "a b", "$(id)", "it's"],
}


def test_batched_shell_facts_one_exec_parsed_per_key(conn):
    shell, errors = gather_shell(conn, TRICKY)
    assert conn.round_trips == 1 and errors == {}
    assert shell["plain"] == {"rc": 0, "out": "hello\n", "err": ""}
    assert shell["no_newline"]["out"] == "no newline at end"
    assert shell["empty"] == {"rc": 0, "out": "", "err": ""}
    assert shell["fails"] == {"rc": 3, "out": "partial\n", "err": "oops\n"}
    assert shell["missing"]["rc"] == 127 and "pft-no-such-command" in shell["missing"]["err"]
    assert shell["fake_marker"]["out"] == "PFM0000 plain err\nx\n\n\n"
    assert shell["stdin_is_null"] == {"rc": 0, "out": "", "err": ""}
    assert shell["quoting"]["out"] == "a b|$(id)|it's|"


def test_real_shell_facts(conn):
    shell, errors = gather_shell(conn)
    assert set(shell) | set(errors) == set(SHELL_FACTS)
    assert shell["machine_id"]["rc"] == 0 and len(shell["machine_id"]["out"].strip()) == 32
    assert "pft-not-a-real-password" not in shell["qemu_conf"]["out"]
    assert MASK in shell["qemu_conf"]["out"]


def test_parse_facts_output_missing_and_truncated():
    script = build_facts_script({"a": ["true"]}, "MK1")
    assert "pf_run a \"$L\" true" in script
    data = b"MK1 a rc 0\nMK1 a out\nhi\nMK1 a err\n\nMK1 a end\nMK1 b rc 1\nMK1 b out\nhalf"
    facts, errors = parse_facts_output(data, "MK1", ["a", "b", "c"])
    assert facts == {"a": {"rc": 0, "out": "hi", "err": ""}}
    assert "truncated" in errors["b"] and "no output" in errors["c"]


def test_scrub_domain_xml():
    xml = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>v</name>
      <devices>
        <graphics type='vnc' port='-1' passwd='hunter2' passwdValidTo='2030-01-01T00:00:00'/>
        <graphics type='spice' passwd="s3cr3t"/>
        <disk type='network' device='disk'><source protocol='https' name='/img'>
          <host name='web'/><cookies><cookie name='session'>abc123</cookie></cookies></source>
          <auth username='u'><secret type='ceph' uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'/></auth>
          <target dev='vda'/></disk>
      </devices>
      <launchSecurity type='sev'><dhCert>DHCERTBLOB</dhCert><session>SESSIONBLOB</session></launchSecurity>
      <qemu:commandline><qemu:arg value='-object'/>
        <qemu:arg value='secret,id=sec0,data=topsecret,password=pw1'/></qemu:commandline>
    </domain>"""
    out = scrub_domain_xml(xml)
    for secret in ("hunter2", "s3cr3t", "abc123", "DHCERTBLOB", "SESSIONBLOB", "pw1"):
        assert secret not in out, secret
    assert "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87" in out     # a reference, not a secret value
    assert "2030-01-01" in out and "<name>v</name>" in out and "-object" in out
    assert MASK in out


def test_scrub_conf_and_mounts():
    conf = 'vnc_password = "pw"\n#spice_password = "old"\nvnc_listen = "0.0.0.0"\nvnc_tls_x509_secret_uuid = "u"\n'
    out = scrub_conf_text(conf)
    assert '"pw"' not in out and '"old"' not in out and 'vnc_listen = "0.0.0.0"' in out
    fstab = "//nas/share /mnt cifs username=bob,password=pw,vers=3.0 0 0\nceph /c ceph name=a,secret=KEY== 0 0\n"
    out = scrub_mount_options(fstab)
    assert "pw" not in out.replace("password", "") and "KEY==" not in out and "username=bob" in out


def test_helpers_pure():
    assert migration_port_range(None) == (49152, 49215)
    assert migration_port_range("migration_port_min = 50000\n#migration_port_max = 1\n") == (50000, 50000)


def test_probe_outcomes(conn):
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()                                   # nothing listens there now
    full = socket.socket()                            # a full accept queue drops SYNs -> timeout
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    filler = socket.create_connection(full.getsockname())
    open_ = socket.socket()
    open_.bind(("127.0.0.1", 0))
    open_.listen(8)
    open_port, full_port = open_.getsockname()[1], full.getsockname()[1]
    try:
        dests = [{"name": "d1", "target": "localhost", "allow": {"own": ["127.0.0.1", "::1"], "of": "d1"},
                  "ports": [(open_port, "migration"), (refused_port, "ssh"), (full_port, "libvirt")]}]
        resolved, notes, results, error = _probe_from_source(conn, dests, timeout=1.0)
    finally:
        for s in (filler, full, open_):
            s.close()
    assert error is None and conn.round_trips == 1
    assert resolved["localhost"] in ("127.0.0.1", "::1")
    assert results[("d1", open_port, "migration")]["outcome"] == "answered"
    assert results[("d1", refused_port, "ssh")]["outcome"] == "refused"
    assert results[("d1", full_port, "libvirt")]["outcome"] == "timeout"


def test_gather_host_with_libvirt(libvirt_lab, defined_domains, conn):
    entry = gather_host(conn, libvirt_timeout=60)
    assert entry["reachable"] is True and entry["error"] is None
    assert entry["round_trips"] == 3                  # shell facts + libvirt helper channel + image batch
    acc = entry["image_access"]                       # the image batch: QEMU's ids (qemu.conf user root)
    assert acc["user"] == "root" and acc["uid"]["out"].strip() == "0"
    lv = entry["libvirt"]
    assert lv["lib_version"] >= 9_000_000 and lv["hv_version"] > 0 and lv["hostname"]
    assert "<capabilities>" in lv["capabilities"] and "<domainCapabilities>" in lv["domcapabilities"]
    doms = {d["name"]: d for d in lv["domains"]}
    vm1 = doms["pft-vm1"]
    assert vm1["state"] == "shutoff" and vm1["active"] is False and vm1["persistent"] is True
    assert len(vm1["uuid"]) == 36 and "<domain" in vm1["xml"] and "pftSecr1" not in vm1["xml"]
    assert all(set(n) == {"name", "active", "persistent", "autostart", "xml"} for n in lv["networks"])
    assert entry["libvirt_calls"] >= 8 + 6 * len(doms)
    assert {k for k in entry["errors"]} == set()


def test_gather_host_libvirt_failure_is_an_error_not_a_crash(sshd_lab, conn):
    from preflight.transport.libvirt_bridge import LibvirtBridge
    pytest.importorskip("libvirt")
    bridge = LibvirtBridge(conn, helpers=[["pft-no-helper", "x"]])
    entry = gather_host(conn, bridge=bridge)
    bridge.close()
    assert entry["reachable"] is True and entry["shell"]
    assert "no libvirt helper found" in entry["errors"]["libvirt"]


def test_gather_records_the_live_xml_of_running_guests(running_domains, conn):
    """The live XML (flags 0) beside the migratable one, for running guests only."""
    from preflight.facts.domain_xml import parse_domain_xml
    entry = gather_host(conn, libvirt_timeout=60)
    doms = {d["name"]: d for d in entry["libvirt"]["domains"]}
    run1 = doms["pft-run1"]
    assert run1["active"] and run1["live_xml"] and "<domain" in run1["live_xml"]
    assert "live_xml" not in doms["pft-vm1"]                 # not running: nothing live to record
    assert not any(k.startswith("live_xml:") for k in entry["errors"]), entry["errors"]
    dom = parse_domain_xml(run1["xml"], name="pft-run1", active=True, live_xml=run1["live_xml"])
    assert dom.cpu.check == "none" and dom.cpu.model == "qemu64" and dom.cpu.disabled == ()
    # libvirt verified and updated the CPU when it started the guest
    assert dom.live_cpu.check == "full" and dom.live_cpu.model == "qemu64"
    assert dom.live_xml.startswith("<domain") and " id=" in dom.live_xml.split(">", 1)[0]   # a live XML


def test_pair_cpu_compares_the_live_cpu_once_per_definition(running_domains, conn):
    """The destination judges the CPU the guest RUNS with (issue 6): where KVM lacks some of
    qemu64's features the configured CPU is incompatible, the live one is not. Two guests with
    the same live CPU cost one compareHypervisorCPU call."""
    from preflight.facts.gather import gather_libvirt
    from preflight.transport.libvirt_bridge import LibvirtBridge
    bridge = LibvirtBridge(conn, call_timeout=60).open()
    try:
        errors: dict = {}
        lv = gather_libvirt(bridge, errors)
        before = bridge.calls
        out = _compare_on_destination("pft-target", bridge, {"src": {
            "domains": lv["domains"], "domcapabilities": lv["domcapabilities"]}})
        calls = bridge.calls - before
        v1, v2 = out["src"]["pft-run1"], out["src"]["pft-run2"]
        assert v1 == v2 and v1["compared"] == "live", v1
        assert v1["result"] in ("identical", "superset"), v1
        assert "pft-vm1" not in out["src"]                   # only running guests are judged
        assert calls == 1
        # what preflight used to compare: the migratable (configured) CPU
        run1 = next(d for d in lv["domains"] if d["name"] == "pft-run1")
        from preflight.facts.domain_xml import parse_domain_xml
        live = parse_domain_xml(run1["xml"], live_xml=run1["live_xml"], active=True).live_cpu
        if live.disabled:                                    # KVM here lacks some qemu64 features
            from preflight.transport.errors import TransportError
            with pytest.raises(TransportError) as exc:
                bridge.call("compareHypervisorCPU", bridge.conn.compareHypervisorCPU, None, "x86_64", "pc",
                            "kvm", "<cpu mode='custom' match='exact'><model>qemu64</model></cpu>", 1)
            assert all(f in str(exc.value) for f in live.disabled), (str(exc.value), live.disabled)
    finally:
        bridge.close()


def test_collect_end_to_end(libvirt_lab, defined_domains, running_domains):
    from preflight.facts.collect import CollectOptions, collect
    inv = NS(name="pft", storage_hosts=["nas"], hosts=[
        NS(name="pft-target", address=None, port=None, user=None),
        NS(name="pft-behind", address=None, port=None, user=None),      # via ProxyJump pft-jump
        NS(name="pft-down", address="127.0.0.1", port=1, user=None),
    ])
    events = []
    opts = CollectOptions(ssh_config=libvirt_lab.ssh_config, known_hosts=libvirt_lab.known_hosts,
                          use_agent=False, libvirt_timeout=60, probe_timeout=2, listener_lifetime=8)
    rec = collect(inv, opts, progress=lambda *a: events.append(a))
    assert rec["format"] == FORMAT and rec["cluster"] == "pft" and rec["storage_hosts"] == ["nas"]
    assert list(rec["hosts"]) == ["pft-target", "pft-behind", "pft-down"]
    down = rec["hosts"]["pft-down"]
    assert down["reachable"] is False and "127.0.0.1:1" in down["error"]
    up = rec["hosts"]["pft-target"]
    assert up["reachable"] and up["round_trips"] == 3 and up["pair_round_trips"] == 2
    pairs = {(p["source"], p["destination"]): p for p in rec["pairs"]}
    assert set(pairs) == {("pft-target", "pft-behind"), ("pft-behind", "pft-target")}
    p = pairs[("pft-target", "pft-behind")]
    v = p["cpu"]["pft-run1"]
    assert v["result"] in ("identical", "superset") and v["compared"] == "live", v
    assert "pft-vm1" not in p["cpu"] and "pft-vm3" not in p["cpu"]     # not running: not judged
    purposes = {pr["purpose"]: pr for pr in p["probes"]}
    assert purposes["migration"]["outcome"] == "answered" and 49152 <= purposes["migration"]["port"] <= 49215
    assert purposes["ssh"]["outcome"] == "answered" and purposes["ssh"]["port"] == libvirt_lab.port
    assert p["resolved"] and p["errors"] == {}
    assert ("*", "done", None) in events
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(("lv-up", "lv-down", "gather", "pairs"))]
    assert leftover == []
    assert _sshd_sessions(libvirt_lab.pid) == 0                  # every SSH connection really closed


def _sshd_sessions(sshd_pid: int, wait: float = 3.0) -> int:
    """Children of the test sshd = open SSH connections (polls until they are gone)."""
    import os
    import time
    deadline = time.monotonic() + wait
    while True:
        kids = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == sshd_pid:
                        kids += 1
            except (OSError, ValueError, IndexError):
                pass
        if kids == 0 or time.monotonic() > deadline:
            return kids
        time.sleep(0.1)


def test_probe_fallback_without_python(conn):
    from preflight.facts.pairs import _probe_from_source
    open_ = socket.socket()
    open_.bind(("127.0.0.1", 0))
    open_.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    open_port, closed_port = open_.getsockname()[1], closed.getsockname()[1]
    closed.close()
    try:
        # without a Python only a literal address the controller checked is probed (W8)
        dests = [{"name": "d1", "target": "127.0.0.1", "allow": {"own": ["127.0.0.1"], "of": "d1"},
                  "ports": [(open_port, "migration"), (closed_port, "ssh")]},
                 {"name": "d2", "target": "localhost", "allow": {"own": ["127.0.0.1", "::1"], "of": "d2"},
                  "ports": [(open_port, "migration")]}]
        _, _, results, error = _probe_from_source(conn, dests, timeout=2.0, pythons=("pft-no-python",))
    finally:
        open_.close()
    assert error is None
    assert results[("d1", open_port, "migration")]["outcome"] == "answered"
    assert results[("d1", closed_port, "ssh")]["outcome"] == "refused"
    assert results[("d2", open_port, "migration")]["outcome"] == "not_probed"
    assert "no python3 to check the address localhost resolves to" in results[("d2", open_port, "migration")]["detail"]


def test_listener_python_and_socat_fallback(conn):
    import shutil
    from preflight.facts.pairs import _Listener
    for pythons in (("python3",), ("pft-no-python",)):
        if pythons == ("pft-no-python",) and not shutil.which("socat"):
            pytest.skip("socat not installed")
        lst = _Listener("pft-target")
        lst.start(conn, 49100, 49110, 5, pythons=pythons)
        assert lst.error is None and 49100 <= lst.port <= 49110
        with socket.create_connection(("127.0.0.1", lst.port), timeout=2) as c:
            c.sendall(b"n0nce42\n")
        lst.finish(wait=3)
        if pythons == ("python3",):
            assert lst.accepted == [("127.0.0.1", "n0nce42")] and lst.port == 49100   # lowest free, as libvirt
            assert lst.confirmed("n0nce42") is True and lst.confirmed("other") is False
        else:
            assert lst.confirmed("n0nce42") is None         # socat cannot tell nonces


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_listener_lives_until_closed_and_leaves_nothing_behind(conn):
    # issue 6: it used to exit after N connections (a stray one ended it early for others) or
    # linger for its whole lifetime after the run (the next run then found the port taken).
    from preflight.facts.pairs import _Listener
    lst = _Listener("pft-target")
    lst.start(conn, 49120, 49130, 60)
    assert lst.error is None
    for _ in range(3):                                   # more connections than sources: still there
        socket.create_connection(("127.0.0.1", lst.port), timeout=2).close()
    time.sleep(0.3)
    assert _listening(lst.port)
    t0 = time.monotonic()
    lst.finish(wait=5)
    assert time.monotonic() - t0 < 3 and lst.reported and len(lst.accepted) == 4   # 3 + the liveness check
    deadline = time.monotonic() + 3
    while _listening(lst.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _listening(lst.port), "the listener outlived finish()"


def test_listener_streaming_garbage_cannot_hang_start(conn):
    # a hostile destination that streams bytes without a newline: start() gives up at its deadline
    from preflight.facts.pairs import _Listener
    import preflight.facts.pairs as pairs
    lst = _Listener("pft-garbage")
    real = pairs._SOCAT_LISTENER
    pairs._SOCAT_LISTENER = "yes x | tr -d '\\n'"
    try:
        t0 = time.monotonic()
        lst.start(conn, 49140, 49150, 5, ready_timeout=2)
    finally:
        pairs._SOCAT_LISTENER = real
    assert time.monotonic() - t0 < 6 and lst.port is None and lst.error
