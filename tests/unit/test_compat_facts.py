"""issue 10's facts in the host batch: parsed from recorded outputs; a recording without them
names every compat fact key missing (so the checks reading them say ERROR, never PASS)."""

from test_parse_record import compat_shell, ok, raw_host

from preflight.compat.packet import Packet, evaluate_host
from preflight.facts.compat_facts import COMPAT_FACT_KEYS, COMPAT_SHELL_FACTS
from preflight.facts.keys import HOST_FACT_KEYS
from preflight.facts.parse import parse_host
from preflight.facts.raw import SHELL_FACTS


def test_the_commands_ride_the_one_batch():
    assert all(SHELL_FACTS[k] == v for k, v in COMPAT_SHELL_FACTS.items())
    assert set(COMPAT_FACT_KEYS) <= set(HOST_FACT_KEYS)


def test_recorded_outputs_parse_into_compat_facts():
    h = parse_host("hv1", raw_host())
    c = h.compat
    assert not set(COMPAT_FACT_KEYS) & set(h.fact_errors), h.fact_errors
    assert c.kvm.is_char_device and (c.kvm.major, c.kvm.minor) == (10, 232) and c.kvm_ids == (0, 0)
    assert c.meminfo.available_kib and c.hugepages is not None and c.numa.node_ids and c.host_cpus == 2
    assert c.chrony is not None and c.smbios_uuid.startswith("4c4c4544")
    # the lab's drop-subnet ruleset, read for two sources: one dropped, one accepted
    dropped = evaluate_host(c.filters, Packet(saddr="10.251.81.11", dport=49152))
    assert dropped.denied and "10.251.81.8/30" in dropped.rule
    assert evaluate_host(c.filters, Packet(saddr="10.251.81.12", dport=49152)).outcome == "accept"


def test_an_old_recording_names_every_compat_fact_missing():
    raw = raw_host()
    for key in COMPAT_SHELL_FACTS:
        raw["shell"].pop(key, None)
    raw["shell"]["nft"] = ok("{}")
    h = parse_host("hv1", raw)
    assert set(COMPAT_FACT_KEYS) <= set(h.fact_errors)
    assert all("not gathered" in h.fact_errors[k] for k in COMPAT_FACT_KEYS)


def test_unusable_kvm_and_failed_nft_are_facts_or_errors_not_guesses():
    raw = raw_host()
    raw["shell"]["kvm_dev"] = ok("regular empty file|0:0|600|root|root\n10:232\nids 0:0\n")
    raw["shell"]["nft"] = {"rc": 1, "out": "", "err": "Operation not permitted"}
    h = parse_host("hv1", raw)
    assert not h.compat.kvm.is_char_device
    assert "Operation not permitted" in h.fact_errors["packet_filter"] and h.compat.filters is None
    assert compat_shell()["chrony"]["rc"] == 0
