"""W8 (security review): the pair phase connects only where the inventory or the host's own facts
legitimately point. A guest's <disk type='network'> host, an NFS server in a mount or a
destination's libvirt hostname cannot make every hypervisor connect to loopback, the cloud
metadata address or any other host: the real probe / listing scripts refuse, before connecting,
with the reason in the row (an ERROR downstream, never a PASS)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from types import SimpleNamespace as NS

import pytest

from preflight.facts.gather import parse_facts_output
from preflight.facts.listings import list_targets, lists_argv, parse_listing_rows, rows_from_output
from preflight.facts.pairs import _Listener, _probe_from_source, run_pairs
from preflight.facts.probe_guard import host_policy, own_addresses, refusal, storage_policy, validate_networks
from preflight.inventory import InventoryError, load_file


class _Counter:
    """A loopback TCP server that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def counter():
    c = _Counter()
    yield c
    c.close()


def test_W8_policy_refuses_special_addresses_and_outside_networks():
    default = storage_policy(())
    for addr in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1%eth0", "0.0.0.0", "224.0.0.1",
                 "::ffff:127.0.0.1", "[::1]"):
        assert refusal(addr, default), addr
    assert refusal("10.20.0.5", default) is None and refusal("2001:db8::5", default) is None
    nets = storage_policy(["10.20.0.0/16"])
    assert refusal("10.20.9.9", nets) is None
    assert "outside probe_networks (10.20.0.0/16)" in refusal("10.21.0.1", nets)
    assert refusal("127.0.0.1", storage_policy(["127.0.0.0/8"])) is None      # explicitly allowed
    own = {"own": ["10.0.0.7"], "of": "hv2"}
    assert refusal("10.0.0.7", own) is None and "none of hv2's own addresses" in refusal("10.0.0.8", own)
    assert refusal("not-an-ip", default)


def test_W8_own_addresses_from_inventory_and_interfaces():
    ip_addr = ('[{"ifname":"lo","addr_info":[{"local":"127.0.0.1","prefixlen":8}]},'
               '{"ifname":"br0","addr_info":[{"local":"10.0.0.7","prefixlen":24},'
               '{"local":"fe80::1","prefixlen":64}]}]')
    entry = {"address": "192.0.2.7", "shell": {"ip_addr": {"rc": 0, "out": ip_addr, "err": ""}}}
    assert own_addresses(entry) == ["192.0.2.7", "10.0.0.7"]          # loopback/link-local left out
    assert host_policy("hv2", {"address": None, "shell": {}}) == {"own": [], "of": "hv2"}


def test_W8_probe_never_connects_to_a_refused_target(conn, counter):
    dests = [{"name": ("portal", "localhost"), "target": "localhost", "allow": storage_policy(()),
              "ports": [(counter.port, "nbd")]},
             {"name": ("portal", "127.0.0.1"), "target": "127.0.0.1", "allow": storage_policy(["10.0.0.0/8"]),
              "ports": [(counter.port, "iscsi")]},
             {"name": "hv2", "target": "localhost", "allow": {"own": ["192.0.2.7"], "of": "hv2"},
              "ports": [(counter.port, "migration")]}]
    _, _, results, error = _probe_from_source(conn, dests, timeout=2.0)
    assert error is None
    for key, port, purpose in ((("portal", "localhost"), counter.port, "nbd"),
                               (("portal", "127.0.0.1"), counter.port, "iscsi"),
                               ("hv2", counter.port, "migration")):
        row = results[(key, port, purpose)]
        assert row["outcome"] == "not_probed" and row["detail"].startswith("not probed: "), row
    assert "loopback" in results[(("portal", "localhost"), counter.port, "nbd")]["detail"]
    assert "none of hv2's own addresses" in results[("hv2", counter.port, "migration")]["detail"]
    time.sleep(0.2)
    assert counter.accepted == 0, "a refused target was connected to"
    # the same target under a policy that allows it IS connected to: the refusal above is the policy
    dests = [{"name": "hv2", "target": "127.0.0.1", "allow": {"own": ["127.0.0.1"], "of": "hv2"},
              "ports": [(counter.port, "migration")]}]
    _, _, results, _ = _probe_from_source(conn, dests, timeout=2.0)
    assert results[("hv2", counter.port, "migration")]["outcome"] == "answered"
    time.sleep(0.2)
    assert counter.accepted == 1


def test_W8_fallback_without_python_refuses_names_and_refused_literals(conn, counter):
    dests = [{"name": ("portal", "127.0.0.1"), "target": "127.0.0.1", "allow": storage_policy(()),
              "ports": [(counter.port, "nbd")]}]
    _, _, results, _ = _probe_from_source(conn, dests, timeout=2.0, pythons=("pft-no-python",))
    row = results[(("portal", "127.0.0.1"), counter.port, "nbd")]
    assert row["outcome"] == "not_probed" and "loopback" in row["detail"]
    assert counter.accepted == 0


class _S:
    def __init__(self, conn):
        self.conn, self.bridge = conn, None


def test_W8_guest_disk_on_loopback_is_not_probed_or_listed_by_default(ctx, counter):
    """End to end through run_pairs: a guest's network disk naming the hypervisors' own loopback
    (a port-scan of every hypervisor's local services) is neither probed nor logged into."""
    xml = ("<domain type='kvm'><name>t</name><uuid>u-1</uuid><devices><disk type='network'>"
           f"<source protocol='iscsi' name='iqn.x/1'><host name='127.0.0.1' port='{counter.port}'/></source>"
           "<target dev='vda'/></disk><disk type='network'><source protocol='nfs' name='/e'>"
           "<host name='localhost'/></source><target dev='vdb'/></disk></devices></domain>")
    from preflight.transport.ssh import HostTarget
    sessions = {n: _S(ctx.connect(HostTarget("pft-target"))) for n in ("pft-a", "pft-b")}
    hosts = {n: {"reachable": True, "address": "127.0.0.1", "shell": {},
                 "libvirt": {"domains": [{"name": "t", "xml": xml}] if n == "pft-a" else []}} for n in sessions}
    try:
        from preflight.facts.portals import network_disk_targets
        run_pairs(sessions, hosts, cpu=False, probe_timeout=2.0, listener_lifetime=3,
                  portal_targets=network_disk_targets(hosts), list_targets=list_targets(hosts))
    finally:
        for s in sessions.values():
            s.conn.close()
    for n in sessions:
        rows = hosts[n]["portal_probes"]
        assert rows and all(r["outcome"] == "not_probed" and "not probed" in r["detail"] for r in rows), rows
        for r in hosts[n]["nfs_showmount"] + hosts[n]["iscsi_lists"]:
            assert r["rc"] == 126 and "not listed" in r["err"] and "loopback" in r["err"], r
        views = parse_listing_rows(hosts[n])
        assert all(v.status == "error" for v in views["iscsi_lists"].values())
    assert counter.accepted == 0


def test_W8_listing_tool_gets_the_checked_address_not_the_name(tmp_path):
    """The listing script resolves once, checks, and hands the tool the ADDRESS: a name cannot be
    resolved a second time (by the tool) to somewhere else."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls"
    fake = bindir / "showmount"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >>{log}\necho '/export *'\n")
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    t = {"showmount": ["localhost", "169.254.169.254"]}
    argv = lists_argv(t, "PFLw8", 5, storage_policy(["127.0.0.0/8"]))
    res = subprocess.run(argv, capture_output=True, env=env, timeout=30)
    parsed, errors = parse_facts_output(res.stdout, "PFLw8", ["0", "1"])
    assert not errors
    show, _ = rows_from_output(t, parsed, None)
    assert show[0]["rc"] == 0 and show[0]["out"].strip() == "/export *"
    assert show[1]["rc"] == 126 and "outside probe_networks" in show[1]["err"]
    calls = log.read_text().split("\n")
    assert calls[0] == "-e --no-headers -- 127.0.0.1" and len([c for c in calls if c]) == 1


def test_W8_listener_port_outside_the_migration_range_is_refused():
    class Chan:
        def __init__(self):
            self.data = [b"READY 22\n"]
            self.closed = False

        def settimeout(self, t):
            pass

        def recv(self, n):
            return self.data.pop(0) if self.data else b""

        def close(self):
            self.closed = True

    chan = Chan()
    lst = _Listener("hv-hostile")
    lst.start(NS(open_channel=lambda argv, sudo=False: chan), 49152, 49215, 5)
    assert lst.port is None and "outside the migration range 49152-49215" in lst.error and chan.closed


def test_W8_inventory_probe_networks(tmp_path):
    assert validate_networks(["10.1.2.3/16", "2001:db8::/32"], "x") == ("10.1.0.0/16", "2001:db8::/32")
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.c]\nhosts = ["a"]\nprobe_networks = ["10.0.0.0/8"]\n')
    inv.chmod(0o600)
    assert load_file(inv)["c"].probe_networks == ("10.0.0.0/8",)
    inv.write_text('[clusters.c]\nhosts = ["a"]\nprobe_networks = ["storage-net"]\n')
    with pytest.raises(InventoryError, match=r"'storage-net' is not a network"):
        load_file(inv)
