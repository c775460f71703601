"""Network-disk servers (iSCSI portals, Gluster, NBD, Ceph monitors...) ride the pair phase's
single probe exec per source, beside the migration ports and NFS ports (local sshd harness)."""

import socket

from preflight.facts.pairs import run_pairs

LOOPBACK = ("127.0.0.0/8", "::1/128")   # these tests' servers listen on loopback (W8 refuses it by default)


class _S:
    def __init__(self, conn):
        self.conn, self.bridge = conn, None


def test_portal_targets_are_probed_from_every_source_in_the_same_exec(ctx):
    from preflight.transport.ssh import HostTarget
    open_ = socket.socket()
    open_.bind(("127.0.0.1", 0))
    open_.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    open_port, closed_port = open_.getsockname()[1], closed.getsockname()[1]
    closed.close()
    sessions = {n: _S(ctx.connect(HostTarget("pft-target"))) for n in ("a", "b")}
    hosts = {n: {"reachable": True, "address": "127.0.0.1", "shell": {}, "libvirt": {}} for n in sessions}
    portals = [{"protocol": "iscsi", "target": "127.0.0.1", "port": open_port},
               {"protocol": "gluster", "target": "localhost", "port": closed_port}]
    try:
        pairs = run_pairs(sessions, hosts, cpu=False, probe_networks=LOOPBACK, probe_timeout=2.0, listener_lifetime=3,
                          nfs_targets={"nas": {"target": "127.0.0.1", "own": ["127.0.0.1"], "ports": [(open_port, "nfs")]}},
                          portal_targets=portals)
    finally:
        open_.close()
        for s in sessions.values():
            s.conn.close()
    assert len(pairs) == 2
    for n in ("a", "b"):
        rows = {r["protocol"]: r for r in hosts[n]["portal_probes"]}
        assert rows["iscsi"]["outcome"] == "answered" and rows["iscsi"]["port"] == open_port
        assert rows["iscsi"]["target"] == "127.0.0.1"
        assert rows["gluster"]["outcome"] == "refused" and rows["gluster"]["target"] == "localhost"
        assert hosts[n]["nfs_probes"][0]["outcome"] == "answered"
        # listener + ONE probe exec per host: NFS and portal probes added no round trip
        assert hosts[n]["pair_round_trips"] == 2


def test_no_portal_targets_means_no_key_and_empty_list_means_probed_nothing(ctx):
    from preflight.transport.ssh import HostTarget
    sessions = {n: _S(ctx.connect(HostTarget("pft-target"))) for n in ("a", "b")}
    hosts = {n: {"reachable": True, "address": "127.0.0.1", "shell": {}, "libvirt": {}} for n in sessions}
    try:
        run_pairs(sessions, hosts, cpu=False, probe_networks=LOOPBACK, probe_timeout=2.0, listener_lifetime=3, portal_targets=[])
    finally:
        for s in sessions.values():
            s.conn.close()
    assert all(hosts[n]["portal_probes"] == [] for n in hosts)
