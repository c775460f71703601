"""Builders for the NFS / mount-hygiene check tests (beside factories.py, which they reuse)."""

from __future__ import annotations

from dataclasses import replace

from factories import domain, host, mount, pair
from preflight.engine.context import MigrationContext
from preflight.facts.exports import parse_exports
from preflight.facts.fstab import FstabEntry
from preflight.facts.ganesha import parse_ganesha
from preflight.facts.models import ClusterFacts, Mount, NetInterface, StorageHostFacts


def nfs_mount(point="/srv/vmstore", source="nas:/vol0", *, soft=False, vers="4.2", fstype="nfs4",
              clientaddr=None) -> Mount:
    sup = ["rw", f"vers={vers}", "rsize=1048576", "wsize=1048576", "namlen=255",
           "soft" if soft else "hard", "proto=tcp", "timeo=600", "retrans=2", "sec=sys"]
    if clientaddr:
        sup.append(f"clientaddr={clientaddr}")
    sup += ["local_lock=none", "addr=10.0.0.20"]
    return replace(mount(point, fstype, source), super_options=tuple(sup))


def fstab(point="/srv/vmstore", spec="nas:/vol0", fstype="nfs4", options=("hard", "_netdev")):
    return FstabEntry(spec=spec, mountpoint=point, fstype=fstype, options=tuple(options), line=3)


def hv(name, *, mounts=None, addr=None, **kw):
    """A hypervisor with an address on the storage subnet 10.0.0.0/24 and the NFS mount in fstab."""
    n = name[-1]
    ifaces = {"lo": NetInterface("lo", up=True, addresses=("127.0.0.1/8",)),
              "eth0": NetInterface("eth0", up=True, addresses=(addr or f"10.0.0.{n}/24",)),
              "virbr0": NetInterface("virbr0", up=True, addresses=("192.168.122.1/24",))}
    kw.setdefault("fstab", (fstab(),))
    kw.setdefault("qemu_user", "libvirt-qemu")
    kw.setdefault("qemu_group", "libvirt-qemu")
    kw.setdefault("qemu_user_from", "qemu.conf user")
    kw.setdefault("dynamic_ownership", True)
    from factories import ROOT
    return host(name, mounts=mounts if mounts is not None else (ROOT, nfs_mount()), interfaces=ifaces,
                fqdn=f"{name}.example.org", **kw)


def nas(exports_text=None, *, ganesha=None, name="nas", **kw) -> StorageHostFacts:
    if ganesha is not None:
        exports = parse_ganesha(ganesha, "/etc/ganesha/ganesha.conf")
        src = ("/etc/ganesha/ganesha.conf",)
    else:
        exports = parse_exports(exports_text if exports_text is not None else "/vol0 10.0.0.0/24(rw,sync)\n")
        src = ("/etc/exports",)
    kw.setdefault("addresses", ("10.0.0.20/24",))
    return StorageHostFacts(name=name, address="10.0.0.20", hostname=name, fqdn=f"{name}.example.org",
                            exports=exports, exports_from=src, **kw)


def mig(dom=None, src=None, dst=None, storage="default", storage_hosts=("nas",)) -> MigrationContext:
    dom = dom or domain()
    src = src or hv("hv1", domains=(dom,))
    dst = dst or hv("hv2")
    if storage == "default":
        storage = {"nas": nas()}
    pr = pair(src.name, dst.name)
    cluster = ClusterFacts(name="t", hosts={src.name: src, dst.name: dst}, pairs={(src.name, dst.name): pr},
                           storage_hosts=tuple(storage_hosts), storage=storage)
    return MigrationContext(cluster, src, dst, dom, pr)
