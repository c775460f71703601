"""preflight.compat.firewall on the lab's recorded rulesets: the verdicts must match what the
lab's real migrations did (tests/lab/lab.py EXPECTED_FAILURES / EXPECTED_SUCCESSES)."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.firewall import (
    judge_control_port,
    judge_migration_ports,
    judge_port_capacity,
    ports_needed,
)
from preflight.compat.packet import HostFilters
from preflight.facts.iptables import parse_iptables_save
from preflight.facts.nftables import parse_nft_json
from preflight.model import Status

HV1, HV2, HV3 = "10.251.81.11", "10.251.81.12", "10.251.81.13"
RANGE = (49152, 49215)


def filters(name):
    return HostFilters(nft=parse_nft_json(read(f"compat/{name}")), nft_read=True)


def test_dropped_subnet_fails_its_source_only():
    f = filters("nft-j-ruleset.drop-subnet.lab-hv3.json")
    bad = judge_migration_ports("hv1", HV1, "hv3", HV3, f, RANGE)
    assert bad.status is Status.FAIL and "49152-49215" in bad.message and "10.251.81.8/30" in bad.message
    assert bad.details["blocked"] == "49152-49215"
    assert judge_migration_ports("hv2", HV2, "hv3", HV3, f, RANGE).status is Status.PASS


def test_one_source_rule_and_the_partly_open_range():
    f = filters("nft-j-ruleset.one-source.lab-hv2.json")
    assert judge_migration_ports("hv1", HV1, "hv2", HV2, f, RANGE).status is Status.FAIL
    one = judge_migration_ports("hv3", HV3, "hv2", HV2, f, RANGE, needed=1)
    assert one.status is Status.WARN and "49153-49215" in one.message  # the real migration succeeds
    two = judge_migration_ports("hv3", HV3, "hv2", HV2, f, RANGE, needed=2)
    assert two.status is Status.FAIL  # a second one would not


def test_iptables_only_host_and_the_libvirt_connection():
    f = HostFilters(
        iptables=parse_iptables_save(read("compat/iptables-save.netns-hypervisor.txt")), nft_read=True
    )
    assert judge_control_port("a", "10.251.97.5", "b", None, f, "ssh").status is Status.PASS
    tls = judge_control_port("a", "10.251.97.5", "b", None, f, "tls")
    assert tls.status is Status.PASS and tls.details["port"] == 16514
    ok = judge_migration_ports("a", "10.251.99.5", "b", None, f, RANGE, needed=2)
    assert ok.status is Status.WARN and ok.details["blocked"] == "49184-49215"
    assert judge_migration_ports("a", "10.251.98.5", "b", None, f, RANGE).status is Status.FAIL


def test_not_read_is_error():
    r = judge_migration_ports("hv1", HV1, "hv2", HV2, HostFilters(), RANGE)
    assert r.status is Status.ERROR


def test_capacity_counts_one_nbd_port_per_migration():
    assert ports_needed(4, copies_disks=True) == 8 and ports_needed(4, copies_disks=False) == 4
    assert judge_port_capacity("hv2", RANGE, 32, copied_disks=3).status is Status.PASS  # 64 of 64
    r = judge_port_capacity("hv2", RANGE, 33, copied_disks=1)
    assert r.status is Status.FAIL and r.details["needed"] == 66
    w = judge_port_capacity("hv2", RANGE, 2, copied_disks=0, ports_in_use=[49152, 49153, 50000])
    assert w.status is Status.WARN and w.details["free"] == 62
