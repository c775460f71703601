"""V2/W9: guest-controlled images are never format-probed. A raw disk or an ISO whose first bytes
are a qcow2 header naming any file as its "backing file" is not handed to qemu-img; libvirt's
own <backingStore> chain is used; what is still asked goes with -f, -U, --, limits."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace as NS

import pytest

from preflight.facts.chain_probe import chain_targets, qemu_img_argv, safe_local_path
from preflight.facts.domain_xml import parse_domain_xml
from preflight.facts.gather import gather_image_batch
from preflight.facts.storage_parse import parse_storage_fields

from .local_conn import LocalConn

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


def dom(*disks, live=None):
    xml = "<domain type='kvm'><name>t</name><devices>" + "".join(disks) + "</devices></domain>"
    return {"name": "t", "active": True, "xml": xml,
            "live_xml": None if live is None else
            "<domain type='kvm'><name>t</name><devices>" + "".join(live) + "</devices></domain>"}


def hostile_raw(tmp_path, backing: str) -> str:
    """A 'raw' guest disk whose content starts with a qcow2 header naming `backing`."""
    evil = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", str(evil), "1M"],
                   check=True)
    raw = tmp_path / "guest-raw.img"
    raw.write_bytes(evil.read_bytes() + b"\0" * 65536)
    return str(raw)


@needs_qemu_img
def test_V2_raw_cdrom_floppy_with_qcow2_header_never_probed(tmp_path):
    sentinel = tmp_path / "operator-file"
    sentinel.write_text("root only")
    raw = hostile_raw(tmp_path, str(sentinel))
    lv = {"domains": [dom(
        f"<disk type='file'><driver type='raw'/><source file='{raw}'/><target dev='vda'/></disk>",
        f"<disk type='file'><source file='{raw}'/><target dev='vdb'/></disk>",            # no format: raw
        f"<disk type='file' device='cdrom'><driver type='raw'/><source file='{raw}'/><target dev='sda'/></disk>",
        f"<disk type='file' device='floppy'><source file='{raw}'/><target dev='fda'/></disk>")]}
    assert chain_targets(lv) == []
    # and the check side never believes a chain "found" in a raw image (an old recording's)
    from preflight.derive.storage_location import backing_chain
    d = parse_domain_xml(lv["domains"][0]["xml"], active=True)
    host = NS(name="hv1", disk_chains={raw: NS(error=None, backing_files=(str(sentinel),))})
    for disk in d.disks:
        assert backing_chain(disk, raw, host) == ((), None)


@needs_qemu_img
def test_V2_libvirt_backingstore_chain_used_not_probed(tmp_path):
    top = tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(top), "1M"], check=True)
    disk = f"<disk type='file'><driver type='qcow2'/><source file='{top}'/><target dev='vda'/></disk>"
    live = (f"<disk type='file'><driver type='qcow2'/><source file='{top}' index='2'/><backingStore type='file' "
            "index='1'><format type='raw'/><source file='/var/lib/base.raw'/><backingStore/></backingStore>"
            "<target dev='vda'/></disk>")
    d = dom(disk, live=[live])
    assert chain_targets({"domains": [d]}) == []               # libvirt knows the chain: no exec for it
    parsed = parse_domain_xml(d["xml"], active=True, live_xml=d["live_xml"])
    assert parsed.disks[0].backing == ("/var/lib/base.raw",)
    no_chain = dom(disk, live=[disk])                            # old libvirt: no <backingStore>
    assert chain_targets({"domains": [no_chain]}) == [(str(top), "qcow2")]


def test_V2_relative_protocol_and_option_paths_refused():
    names = ["--help", "json:{\"driver\":\"nbd\",\"server\":{\"host\":\"127.0.0.1\",\"port\":\"1\"}}",
             "nbd://127.0.0.1:1/x", "rel/x.qcow2", "/a\n0:0:777:directory:/srv/x"]
    disks = [f"<disk type='file'><driver type='qcow2'/><source file='{n.replace(chr(10), '&#10;')}'/>"
             f"<target dev='vd{chr(97 + i)}'/></disk>".replace('"', "&quot;") for i, n in enumerate(names)]
    assert chain_targets({"domains": [dom(*disks)]}) == []
    assert not any(safe_local_path(n) for n in names)
    nets = ["<disk type='network'><driver type='qcow2'/><source protocol='nfs' name='/x?a=b'><host name='nas'/>"
            "</source><target dev='vdx'/></disk>",
            "<disk type='network'><driver type='qcow2'/><source protocol='nfs' name='/x'><host name='-oProxy'/>"
            "</source><target dev='vdy'/></disk>"]
    assert chain_targets({"domains": [dom(*nets)]}) == []


def test_V2_argv_no_probe_no_lock_end_of_options_limits():
    argv = qemu_img_argv("/srv/a.qcow2", "qcow2")
    q = argv.index("qemu-img", 4)
    assert argv[q:] == ["qemu-img", "info", "-f", "qcow2", "--backing-chain", "-U", "--output=json", "--",
                        "/srv/a.qcow2"]
    assert "prlimit --as=" in argv[2] and "--cpu=" in argv[2] and "ulimit -v" in argv[2]


@needs_qemu_img
def test_V2_limited_qemu_img_reads_a_real_chain(tmp_path):
    base, top = tmp_path / "b.raw", tmp_path / "t.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(base), "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(top)], check=True)
    conn = LocalConn()
    chains, _access, why = gather_image_batch(conn, [(str(top), "qcow2")], {}, {})
    assert why is None and conn.round_trips == 1
    chain = parse_storage_fields({"chains": chains}, {})["disk_chains"][str(top)]
    assert chain.error is None and chain.backing_files == (str(base),)


@needs_qemu_img
def test_V2_format_from_xml_not_probed(tmp_path):
    """-f from the XML: a raw image with a planted qcow2 header is read as raw. The old argv
    (no -f) probed the guest's bytes, called it qcow2 and opened the backing file it names."""
    sentinel = tmp_path / "s"
    sentinel.write_text("x")
    raw = hostile_raw(tmp_path, str(sentinel))
    old = subprocess.run(["qemu-img", "info", "--backing-chain", "-U", "--output=json", raw],
                         capture_output=True, text=True)
    assert '"format": "qcow2"' in old.stdout                  # the old argv probed the guest's bytes
    new = subprocess.run(qemu_img_argv(raw, "raw"), capture_output=True, text=True)
    assert '"format": "raw"' in new.stdout and str(sentinel) not in new.stdout
