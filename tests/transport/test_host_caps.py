"""A hostile hypervisor cannot exhaust the controller: the lists and XML one host's libvirt hands
back are capped (preflight.facts.caps). Past a cap the whole list is refused with one error naming
the host, the count and the inventory key -- never judged on a truncated list (fail closed)."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

pytest.importorskip("libvirt")

from preflight.facts.caps import HostCaps, caps_from  # noqa: E402
from preflight.facts.gather import gather_libvirt  # noqa: E402
from preflight.inventory import InventoryError, load_file  # noqa: E402

CAPS_XML = ("<capabilities><host><cpu><arch>x86_64</arch></cpu></host><guest><os_type>hvm</os_type>"
            "<arch name='x86_64'><domain type='kvm'/></arch></guest></capabilities>")


def _dom(name, xml):
    return NS(name=lambda: name, UUIDString=lambda: "u-" + name, state=lambda flags: (5, 0),
              isActive=lambda: False, isPersistent=lambda: True, XMLDesc=lambda flags: xml)


class Bridge:
    def __init__(self, doms, pools=(), nets=()):
        self.calls = 0
        self.conn = NS(getLibVersion=lambda: 9000000, getVersion=lambda: 7002000, getHostname=lambda: "evil",
                       getCapabilities=lambda: CAPS_XML,
                       getDomainCapabilities=lambda *a: "<domainCapabilities/>",
                       listAllDomains=lambda flags: doms, listAllNetworks=lambda flags: list(nets),
                       listAllStoragePools=lambda flags: list(pools), listAllSecrets=lambda flags: [])

    def call(self, what, fn, *args):
        self.calls += 1
        return fn(*args)


def _xml(name, disks=1):
    return (f"<domain type='kvm'><name>{name}</name><devices>"
            + "<disk type='file'><source file='/v/a'/><target dev='vda'/></disk>" * disks + "</devices></domain>")


def test_a_million_domains_is_one_clear_error_and_no_per_domain_call():
    one = _dom("d", _xml("d"))
    bridge, errors = Bridge([one] * 10 ** 6), {}
    out = gather_libvirt(bridge, errors, HostCaps(), "hv-evil")
    assert "domains" not in out                              # not judged on a truncated list
    msg = errors["domains"]
    assert "hv-evil" in msg and "1000000 domains" in msg and "cap of 2000" in msg and "max_domains" in msg
    assert bridge.calls < 20                                 # no call per listed domain


def test_under_the_caps_everything_is_read():
    doms = [_dom(f"d{i}", _xml(f"d{i}")) for i in range(5)]
    out = gather_libvirt(Bridge(doms), errors := {}, HostCaps(max_domains=5), "hv")
    assert [d["name"] for d in out["domains"]] == [f"d{i}" for i in range(5)] and "domains" not in errors


def test_caps_on_disks_xml_size_pools_and_host_bytes():
    doms = [_dom("many", _xml("many", disks=40)), _dom("big", _xml("big") + " " * 5000), _dom("ok", _xml("ok"))]
    pools = [NS(name=lambda: "p", isActive=lambda: True, XMLDesc=lambda f: "<pool/>")] * 3
    errors: dict = {}
    out = gather_libvirt(Bridge(doms, pools), errors, HostCaps(max_disks=32, max_xml_bytes=4000, max_pools=2), "hv")
    assert "40 disks, more than the cap of 32" in errors["domain:many"] and "max_disks" in errors["domain:many"]
    assert "cap of 4000" in errors["domain:big"] and "max_xml_bytes" in errors["domain:big"]
    got = {d["name"]: d["xml"] for d in out["domains"]}
    assert got["many"] is None and got["big"] is None and got["ok"]
    assert "pools" not in out and "3 storage pools" in errors["pools"] and "max_pools" in errors["pools"]
    # all of one host's XML: past max_host_xml_bytes the domain list is refused whole
    errors = {}
    out = gather_libvirt(Bridge([_dom(f"d{i}", _xml(f"d{i}")) for i in range(50)]), errors,
                         HostCaps(max_host_xml_bytes=1000), "hv-flood")
    assert "domains" not in out and "hv-flood" in errors["domains"] and "max_host_xml_bytes" in errors["domains"]


def test_caps_are_configurable_in_the_inventory(tmp_path):
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.c]\nhosts = ["a"]\nmax_domains = 50000\n')
    inv.chmod(0o600)
    assert caps_from(load_file(inv)["c"]).max_domains == 50000
    inv.write_text('[clusters.c]\nhosts = ["a"]\nmax_domains = -1\n')
    with pytest.raises(InventoryError, match="max_domains must be a positive whole number"):
        load_file(inv)
