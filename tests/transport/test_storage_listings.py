"""showmount -e / iscsi-ls -s ride the pair phase's single probe exec per source, beside the
migration, NFS and portal probes (local sshd harness: nothing listens for NFS or iSCSI on
loopback here, so the real tools answer with their real errors)."""

import socket

from preflight.facts.listings import CHAP_SKIP, parse_listing_rows
from preflight.facts.pairs import run_pairs

LOOPBACK = ("127.0.0.0/8", "::1/128")   # these tests' servers listen on loopback (W8 refuses it by default)


class _S:
    def __init__(self, conn):
        self.conn, self.bridge = conn, None


def test_listings_ride_the_probe_exec_and_record_real_tool_answers(ctx):
    from preflight.transport.ssh import HostTarget
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    sessions = {n: _S(ctx.connect(HostTarget("pft-target"))) for n in ("a", "b")}
    hosts = {n: {"reachable": True, "address": "127.0.0.1", "shell": {}, "libvirt": {}} for n in sessions}
    lists = {"showmount": ["127.0.0.1"],
             "iscsi": [{"host": "127.0.0.1", "port": closed_port, "initiator": "iqn.2008-11.org.linux-kvm:u1",
                        "chap": False},
                       {"host": "127.0.0.1", "port": 3260, "initiator": "iqn.2008-11.org.linux-kvm:u2",
                        "chap": True}]}
    try:
        pairs = run_pairs(sessions, hosts, cpu=False, probe_networks=LOOPBACK, probe_timeout=2.0, listener_lifetime=3,
                          portal_targets=[{"protocol": "iscsi", "target": "127.0.0.1", "port": closed_port}],
                          list_targets=lists)
    finally:
        for s in sessions.values():
            s.conn.close()
    assert len(pairs) == 2
    for n in ("a", "b"):
        raw = hosts[n]
        (show,) = raw["nfs_showmount"]
        assert show["server"] == "127.0.0.1" and show["rc"] not in (0, None)
        run, chap = raw["iscsi_lists"]
        assert run["port"] == closed_port and run["rc"] not in (0, None)
        assert chap == {"host": "127.0.0.1", "port": 3260, "initiator": "iqn.2008-11.org.linux-kvm:u2",
                        "skipped": CHAP_SKIP}
        views = parse_listing_rows(raw)
        assert views["nfs_showmount"]["127.0.0.1"].status in ("error", "absent")
        assert views["iscsi_lists"][("127.0.0.1", closed_port, "iqn.2008-11.org.linux-kvm:u1")].status \
            in ("error", "absent")
        assert raw["portal_probes"][0]["outcome"] == "refused"
        # listener + ONE probe exec per host: the listings added no round trip
        assert raw["pair_round_trips"] == 2


def test_no_list_targets_means_no_keys(ctx):
    from preflight.transport.ssh import HostTarget
    sessions = {n: _S(ctx.connect(HostTarget("pft-target"))) for n in ("a", "b")}
    hosts = {n: {"reachable": True, "address": "127.0.0.1", "shell": {}, "libvirt": {}} for n in sessions}
    try:
        run_pairs(sessions, hosts, cpu=False, probe_networks=LOOPBACK, probe_timeout=2.0, listener_lifetime=3)
    finally:
        for s in sessions.values():
            s.conn.close()
    assert all("nfs_showmount" not in h and "iscsi_lists" not in h for h in hosts.values())
    assert all(h["pair_round_trips"] == 2 for h in hosts.values())
