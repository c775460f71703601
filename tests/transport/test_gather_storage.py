"""The second exec (qemu-img backing chains) and the storage pool calls, without a network:
a Connection stand-in runs the batched script with the local sh; real qemu-img on real images."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace as NS

import pytest

from preflight.facts.gather import _gather_pools, chain_targets, gather_image_batch
from preflight.facts.storage_parse import parse_storage_fields

from .local_conn import LocalConn


def dom_xml(*disks):
    return "<domain type='kvm'><name>v</name><devices>" + "".join(disks) + "</devices></domain>"


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_all_chains_in_one_exec_and_parsed(tmp_path):
    base, top = tmp_path / "base.raw", tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(base), "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(top)], check=True)
    missing = tmp_path / "gone.qcow2"
    lv = {"domains": [
        {"name": "a", "active": True, "xml": dom_xml(
            f"<disk type='file'><driver type='qcow2'/><source file='{top}'/><target dev='vda'/></disk>",
            f"<disk type='file'><driver type='qcow2'/><source file='{missing}'/><target dev='vde'/></disk>",
            f"<disk type='file' device='cdrom'><driver type='qcow2'/><source file='{missing}'/>"
            "<target dev='sda'/></disk>",
            "<disk type='volume'><driver type='qcow2'/><source pool='p' volume='v'/><target dev='vdb'/></disk>",
            "<disk type='network'><driver type='qcow2'/><source protocol='nfs' name='/e/x.qcow2'>"
            "<host name='nas'/></source><target dev='vdc'/></disk>",
            "<disk type='network'><driver type='raw'/><source protocol='iscsi' name='iqn/1'>"
            "<host name='nas'/></source><target dev='vdd'/></disk>")},
        {"name": "off", "active": False, "xml": dom_xml(
            "<disk type='file'><source file='/never/asked.qcow2'/><target dev='vda'/></disk>")}],
        "volumes": [{"pool": "p", "volume": "v", "path": str(top)}]}
    targets = chain_targets(lv)
    # cdrom images are never probed, whatever the XML says their format is
    assert targets == [(str(top), "qcow2"), (str(missing), "qcow2"), ("nfs://nas/e/x.qcow2", "qcow2")]
    conn = LocalConn()
    chains, access, why = gather_image_batch(conn, targets[:2], {}, {})
    assert why is None and conn.round_trips == 1 and access == {"stats": {}}
    fields = parse_storage_fields({"chains": chains}, {})
    good, bad = fields["disk_chains"][str(top)], fields["disk_chains"][str(missing)]
    assert good.backing_files == (str(base),) and good.error is None
    assert bad.error and "gone.qcow2" in bad.error


def test_no_images_no_exec():
    conn = LocalConn()
    assert gather_image_batch(conn, [], {}, {}) == ({}, {"stats": {}}, None) and conn.round_trips == 0


class FakePool:
    def __init__(self, name, xml, vols):
        self._n, self._x, self._v = name, xml, vols

    def name(self):
        return self._n

    def isActive(self):
        return 1

    def XMLDesc(self, flags):
        return self._x

    def storageVolLookupByName(self, name):
        if name not in self._v:
            from preflight.transport.errors import TransportError
            raise TransportError("h", f"Storage volume not found: no storage vol with matching name '{name}'")
        return NS(path=lambda: self._v[name])


class FakeBridge:
    def __init__(self, pools):
        self.calls = 0
        self.conn = NS(listAllStoragePools=lambda flags: pools)

    def call(self, what, fn, *args):
        self.calls += 1
        return fn(*args)


def test_pools_and_only_referenced_volumes_are_gathered_with_bounded_calls():
    pools = [FakePool("vmpool", "<pool type='dir'><name>vmpool</name><target><path>/srv</path></target></pool>",
                      {"a.qcow2": "/srv/a.qcow2", "b.qcow2": "/srv/b.qcow2"})]
    out = {"domains": [{"name": "v", "xml": dom_xml(
        "<disk type='volume'><source pool='vmpool' volume='a.qcow2'/><target dev='vda'/></disk>",
        "<disk type='volume'><source pool='vmpool' volume='zz'/><target dev='vdb'/></disk>",
        "<disk type='volume'><source pool='nopool' volume='x'/><target dev='vdc'/></disk>")}]}
    bridge, errors = FakeBridge(pools), {}
    _gather_pools(bridge, out, errors)
    assert errors == {} and [p["name"] for p in out["pools"]] == ["vmpool"]
    vols = {(v["pool"], v["volume"]): v for v in out["volumes"]}
    assert vols[("vmpool", "a.qcow2")]["path"] == "/srv/a.qcow2"
    assert "not found" in vols[("vmpool", "zz")]["error"] and "no storage pool" in vols[("nopool", "x")]["error"]
    assert bridge.calls == 1 + 3 + 2 + 1          # list, 3 per pool, lookup+path, a failed lookup
