"""preflight.compat.identity against what the lab's name scenarios really did (lab.py:
hosts_alias_localhost migrates; hosts_alias_fqdn and migration_name_loopback fail from hv1)."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.identity import judge_hostname, judge_identity, judge_name_resolution
from preflight.facts.hostcaps import parse_hostcaps
from preflight.facts.netlink import parse_ip_addr
from preflight.facts.resolve import parse_getent_ahosts
from preflight.model import Status


def hv2_addresses():
    return {
        a.split("/")[0]
        for addrs in parse_ip_addr(read("compat/ip-addr.lab-hv2.json")).values()
        for a in addrs
    }


def name(file):
    return read(file).strip()


def test_clean_name():
    n = name("compat/virsh-hostname.clean.lab-hv2.txt")
    assert judge_hostname("hv2", n).status is Status.PASS
    res = parse_getent_ahosts(n, read("compat/getent-ahosts-hv2.clean.lab-hv1.txt"))
    assert judge_name_resolution("hv1", "hv2", n, res, hv2_addresses()).status is Status.PASS


def test_alias_on_the_localhost_line_is_harmless():
    """libvirt discards the canonical name 'localhost' and hands back the short name."""
    n = name("compat/virsh-hostname.alias-localhost.lab-hv2.txt")
    assert n == "hv2" and judge_hostname("hv2", n).status is Status.PASS
    res = parse_getent_ahosts(n, read("compat/getent-ahosts-hv2.clean.lab-hv1.txt"))
    assert judge_name_resolution("hv1", "hv2", n, res, hv2_addresses()).status is Status.PASS


def test_alias_with_an_fqdn_first_fails_where_the_source_cannot_resolve_it():
    n = name("compat/virsh-hostname.alias-fqdn.lab-hv2.txt")
    assert n == "hv2.lab.example" and judge_hostname("hv2", n).status is Status.PASS
    text = read("compat/getent-ahosts-fqdn.alias-fqdn.lab-hv1.txt")
    res = parse_getent_ahosts(n, text.split("rc=")[0], rc=int(text.rsplit("rc=", 1)[1]))
    r = judge_name_resolution("hv1", "hv2", n, res, hv2_addresses())
    assert r.status is Status.FAIL and "cannot resolve hv2.lab.example" in r.message


def test_name_on_loopback_at_the_source_fails_and_the_other_source_passes():
    n = name("compat/virsh-hostname.name-loopback.lab-hv2.txt")
    lo = parse_getent_ahosts(n, read("compat/getent-ahosts-fqdn.name-loopback.lab-hv1.txt"))
    r = judge_name_resolution("hv1", "hv2", n, lo, hv2_addresses())
    assert r.status is Status.FAIL and "loopback only" in r.message
    ok = parse_getent_ahosts(n, read("compat/getent-ahosts-fqdn.name-loopback.lab-hv3.txt"))
    assert judge_name_resolution("hv3", "hv2", n, ok, hv2_addresses()).status is Status.PASS


def test_loopback_before_the_real_address_warns():
    res = parse_getent_ahosts("hv2", read("compat/getent-ahosts-hv2.alias-localhost.lab-hv2.txt"))
    r = judge_name_resolution("hvX", "hv2", "hv2", res, hv2_addresses())
    assert r.status is Status.WARN and "loopback address first" in r.message


def test_localhost_names_are_refused_as_libvirt_does():
    for n in ("localhost", "localhost.localdomain", "localhost-hv9"):
        r = judge_hostname("hv2", n)
        assert r.status is Status.FAIL and "requires an FQDN" in r.message
    assert judge_hostname("hv2", "hv2", migration_host="localhost").status is Status.FAIL
    assert judge_hostname("hv2", None).status is Status.ERROR


def test_unknown_is_error_and_ip_literals_need_no_resolution():
    assert judge_name_resolution("hv1", "hv2", "hv2", None, hv2_addresses()).status is Status.ERROR
    assert judge_name_resolution("hv1", "hv2", "10.251.81.12", None, hv2_addresses()).status is Status.PASS
    assert judge_name_resolution("hv1", "hv2", "10.251.81.99", None, hv2_addresses()).status is Status.FAIL
    assert judge_name_resolution("hv1", "hv2", "10.251.81.12", None, None).status is Status.ERROR


def test_cloned_host_uuid():
    uuids = {
        h: parse_hostcaps(read(f)).uuid
        for h, f in (
            ("hv1", "compat/capabilities.lab-hv1.xml"),
            ("hv2", "compat/capabilities.lab-hv2.xml"),
            ("hv3", "compat/capabilities-uuid-clone.lab-hv3.xml"),
        )
    }
    out = {(f.details or {}).get("host"): f for f in judge_identity(uuids, {}, {})}
    assert out["hv1"].status is Status.PASS
    assert out["hv2"].status is Status.FAIL and out["hv3"].status is Status.FAIL
    assert "same host" in out["hv3"].message and out["hv3"].details["shared_with"] == ["hv2"]


def test_machine_id_and_smbios_duplicates_warn_unknown_errors():
    f = judge_identity({"a": "1", "b": "2"}, {"a": "m", "b": "m"}, {"a": "s", "b": None})
    st = [x.status for x in f]
    assert st == [Status.PASS, Status.PASS, Status.WARN, Status.WARN, Status.PASS, Status.ERROR]
