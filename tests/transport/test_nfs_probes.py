"""NFS server port probes ride the pair phase's single probe exec per source (local sshd harness)."""

import socket

from preflight.facts.pairs import run_pairs

LOOPBACK = ("127.0.0.0/8", "::1/128")   # these tests' servers listen on loopback (W8 refuses it by default)


class _S:
    def __init__(self, conn):
        self.conn, self.bridge = conn, None


def test_nfs_targets_are_probed_from_every_source(ctx):
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
    try:
        pairs = run_pairs(sessions, hosts, cpu=False, probe_networks=LOOPBACK, probe_timeout=2.0, listener_lifetime=3,
                          nfs_targets={"nas": {"target": "127.0.0.1", "own": ["127.0.0.1"],
                                               "ports": [(open_port, "nfs"), (closed_port, "rpcbind")]}})
    finally:
        open_.close()
        for s in sessions.values():
            s.conn.close()
    assert len(pairs) == 2
    for n in ("a", "b"):
        rows = {r["purpose"]: r for r in hosts[n]["nfs_probes"]}
        assert rows["nfs"]["outcome"] == "answered" and rows["rpcbind"]["outcome"] == "refused"
        assert rows["nfs"]["server"] == "nas" and rows["nfs"]["port"] == open_port
        # listener + ONE probe exec per host: the NFS probes added no round trip
        assert hosts[n]["pair_round_trips"] == 2
