"""V1: every place that parses XML (live gather and replay) goes through preflight.facts.xmlsafe,
and an XXE, an internal entity and an entity bomb are refused at each of them."""

from __future__ import annotations

import pathlib
import re

import pytest

from preflight.facts import (capabilities, chain_probe, cpu_defs, domain_xml, domcaps, firewalld, gather,
                             guest_needs, hostcaps, listings, numa, portals, storage_access, storage_pool)
from preflight.facts.xmlsafe import UnsafeXMLError, parse_xml
from preflight.compat import baseline

ROOT = pathlib.Path(__file__).resolve().parents[2]


def payloads(tmp_path, root: str, inner: str) -> dict:
    """Hostile variants of a document whose root is `root` and whose body is `inner` with &k;."""
    secret = tmp_path / "id_ed25519"
    secret.write_text("OPERATOR-PRIVATE-KEY")
    bomb = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 10))
    return {
        "xxe": f'<!DOCTYPE r [<!ENTITY k SYSTEM "file://{secret}">]><{root}>{inner}</{root}>',
        "internal": f'<!DOCTYPE r [<!ENTITY k "SMUGGLED">]><{root}>{inner}</{root}>',
        "bomb": f'<!DOCTYPE r [<!ENTITY l0 "lol">{bomb}<!ENTITY k "&l9;">]><{root}>{inner}</{root}>',
        "param": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><{root}>{inner}</{root}>',
    }


def _domain(raw):
    return domain_xml.parse_domain_xml(raw, name="evil")


def _live(raw):
    d = domain_xml.parse_domain_xml("<domain type='kvm'><name>v</name></domain>", live_xml=raw, active=True)
    assert d.live_xml is None and d.live_cpu is None
    raise UnsafeXMLError(d.live_cpu_note)


def _domain_lists(raw):
    dom = {"name": "evil", "active": True, "xml": raw, "live_xml": raw}
    assert chain_probe.chain_targets({"domains": [dom]}) == []
    assert gather._referenced_volumes([dom]) == []
    assert storage_access._root(raw) is None
    listings.list_targets({"hv": {"libvirt": {"domains": [dom]}}})
    portals.network_disk_targets({"hv": {"libvirt": {"domains": [dom]}}})
    raise UnsafeXMLError("skipped")


SITES = {   # name -> (root, inner with &k;, callable)
    "parse_xml": ("domain", "<name>&k;</name>", parse_xml),
    "gather caps arch (live, V1)": ("capabilities", "<host><cpu><arch>&k;</arch></cpu></host>",
                                    gather._host_arch_and_virttype),
    "gather scrub (record)": ("domain", "<name>&k;</name>", gather.scrub_domain_xml),
    "domain_xml": ("domain", "<name>&k;</name>", _domain),
    "domain_xml live": ("domain", "<name>&k;</name>", _live),
    "domain lists (chains, volumes, access, listings, portals)": ("domain", "<name>&k;</name>", _domain_lists),
    "capabilities": ("capabilities", "<host><cpu><arch>&k;</arch></cpu></host>", capabilities.parse_capabilities),
    "hostcaps": ("capabilities", "<host><cpu><arch>&k;</arch></cpu></host>", hostcaps.parse_hostcaps),
    "numa": ("capabilities", "<host><cpu><arch>&k;</arch></cpu></host>", numa.parse_caps_topology),
    "domcaps": ("domainCapabilities", "<arch>&k;</arch>", domcaps.parse_domcaps),
    "cpu_defs host-model": ("domainCapabilities", "<arch>&k;</arch>", cpu_defs.host_model_cpu),
    "firewalld zone": ("zone", "<short>&k;</short>", firewalld.parse_zone_xml),
    "firewalld service": ("service", "<short>&k;</short>", firewalld.parse_service_xml),
    "storage pool": ("pool", "<name>&k;</name>", storage_pool.parse_pool_xml),
    "guest needs": ("domain", "<name>&k;</name>", guest_needs.parse_guest_needs),
    "network": ("network", "<name>&k;</name>",
                lambda raw: capabilities.parse_network({"name": "n", "xml": raw})),
    "baseline cpu": ("cpu", "<model>&k;</model>", baseline.parse_cpu_def),
}


@pytest.mark.parametrize("site", sorted(SITES))
@pytest.mark.parametrize("kind", ["xxe", "internal", "bomb", "param"])
def test_V1_every_parse_site_refuses_entities(tmp_path, site, kind):
    root, inner, fn = SITES[site]
    raw = payloads(tmp_path, root, inner)[kind]
    try:
        result = fn(raw)
    except (UnsafeXMLError, ValueError) as exc:
        text = str(exc)
    else:
        text = repr(result)
        if fn in (cpu_defs.host_model_cpu,):
            assert result is None, "the hostile document was used"
    assert "OPERATOR-PRIVATE-KEY" not in text and "SMUGGLED" not in text and "lollol" not in text


def test_V1_live_arch_never_carries_an_entity(tmp_path):
    """The exfiltration path of V1: the capabilities' arch goes back to the host as an RPC argument.
    On the old code (lxml's default parser) the internal entity is expanded into the arch."""
    raw = payloads(tmp_path, "capabilities", "<host><cpu><arch>&k;</arch></cpu></host>")["internal"]
    with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
        gather._host_arch_and_virttype(raw)


_RAW_PARSE = re.compile(r"\b(?:etree\.(?:fromstring|XML|parse|iterparse|XMLParser|HTML)|ElementTree|minidom|"
                        r"xml\.sax|expat|pulldom)\b")


def test_V1_one_xml_entry_point():
    """No module but xmlsafe builds a parser or parses XML text itself (live and replay alike)."""
    offenders = []
    for sub in ("preflight", "checks", "reports"):
        for path in (ROOT / sub).rglob("*.py"):
            if path.name == "xmlsafe.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _RAW_PARSE.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_V1_lxml_5_required():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"lxml>=(\d+)', text).group(1) >= "5"
