"""Build typed facts in code for check tests: small defaults, override what the test is about."""

from __future__ import annotations

from preflight.engine.context import DomainContext, MigrationContext, PairContext
from preflight.facts.models import (BlockDevice, BlockFacts, ChainImage, ClusterFacts, CpuFeature,
                                    CpuVerdict, Disk, DiskChain, DiskHost, Domain, GuestCpu, GuestInterface,
                                    HostDevice, HostFacts, LibvirtNetwork, Mount, MultipathMap, NetInterface,
                                    PairFacts, PoolVolume, PortProbe, QemuCaps, StoragePool, Tpm)

_ids = iter(range(100, 100000))


def mount(mountpoint: str, fstype: str = "ext4", source: str = "/dev/sda1", *, ro: bool = False,
          root: str = "/") -> Mount:
    return Mount(mount_id=next(_ids), parent_id=1, major_minor="0:1", root=root, mountpoint=mountpoint,
                 options=("ro" if ro else "rw", "relatime"), fstype=fstype, source=source,
                 super_options=("rw",))


ROOT = mount("/", "ext4", "/dev/vda1")
NFS = mount("/srv/vmstore", "nfs4", "nas:/vol0")


def file_disk(path: str = "/srv/vmstore/vm1.qcow2", target: str = "vda", **kw) -> Disk:
    kw.setdefault("backing", ())          # a running guest's live XML: <backingStore/> (chain ends here)
    kw.setdefault("format", "qcow2")
    return Disk(target=target, type="file", path=path, **kw)


def block_disk(path: str, target: str = "vdb", **kw) -> Disk:
    kw.setdefault("format", "raw")
    return Disk(target=target, type="block", path=path, **kw)


def volume_disk(pool: str = "vmpool", volume: str = "vm1.qcow2", target: str = "vdc", **kw) -> Disk:
    kw.setdefault("backing", ())
    kw.setdefault("format", "qcow2")
    return Disk(target=target, type="volume", pool=pool, volume=volume, **kw)


def chain(top: str, *backing: str, error: str = None) -> DiskChain:
    """What `qemu-img info --backing-chain` said about `top` (filenames top first)."""
    files = (top, *backing)
    images = tuple(ChainImage(filename=f, format="qcow2" if i < len(files) - 1 else "raw",
                              backing=files[i + 1] if i < len(files) - 1 else None)
                   for i, f in enumerate(files))
    return DiskChain(path=top, images=() if error else images, error=error)


def lun(kname: str, wwn: str = None, serial: str = None, tran: str = "iscsi", type: str = "disk",
        parent: str = None) -> BlockDevice:
    return BlockDevice(name=kname, kname=kname, path=f"/dev/{kname}", type=type, size="10G", wwn=wwn,
                       serial=serial, tran=tran, parent=parent)


def block_facts(*devices, by_id=None, by_path=None, multipath=None, iscsi=None) -> BlockFacts:
    return BlockFacts(devices={d.kname: d for d in devices}, by_id=dict(by_id or {}),
                      by_path=dict(by_path or {}), multipath=multipath, iscsi=iscsi)


def caps(emulator: str = "/usr/bin/qemu-system-x86_64", drop_cache: bool = True) -> QemuCaps:
    return QemuCaps(emulator=emulator, libvirt_version=9000000, qemu_version=7002022, drop_cache=drop_cache,
                    cache_file="/var/cache/libvirt/qemu/capabilities/x.xml")


def net_disk(protocol: str = "nfs", host: str = "nas", name: str = "/vol0/vm1.qcow2", target: str = "vdb",
             **kw) -> Disk:
    return Disk(target=target, type="network", protocol=protocol, name=name,
                hosts=(DiskHost(name=host, **kw),))


def domain(name: str = "vm1", **kw) -> Domain:
    kw.setdefault("disks", (file_disk(),))
    kw.setdefault("cpu", GuestCpu(mode="custom", model="qemu64"))
    kw.setdefault("emulator", "/usr/bin/qemu-system-x86_64")
    return Domain(name=name, uuid="5f0c9a52-0000-0000-0000-000000000001", active=True,
                  state="running", type="kvm", **kw)


def cpu(mode: str = "custom", model: str = "qemu64", check: str = None, feats: dict = None,
        **features) -> GuestCpu:
    """features as keywords (name=policy), or feats={"arch-capabilities": "disable"} for names
    that are no Python identifiers."""
    features = {**features, **(feats or {})}
    return GuestCpu(mode=mode, model=model, check=check,
                    features=tuple(CpuFeature(n, p) for n, p in features.items()))


def bridge(name: str = "br0", kind: str = "bridge", up: bool = True) -> NetInterface:
    return NetInterface(name=name, kind=kind, up=up, mtu=1500, operstate="UP" if up else "DOWN")


def host(name: str, **kw) -> HostFacts:
    n = name[-1]
    kw.setdefault("mounts", (ROOT, NFS))
    kw.setdefault("interfaces", {"lo": NetInterface("lo", up=True), "eth0": NetInterface("eth0", up=True),
                                 "br0": bridge()})
    kw.setdefault("networks", {"default": LibvirtNetwork("default", active=True, bridge="virbr0",
                                                         forward="nat")})
    kw.setdefault("host_uuid", f"00000000-0000-0000-0000-00000000000{n}")
    kw.setdefault("libvirt_hostname", f"{name}.example.org")
    kw.setdefault("machine_id", f"{n * 32}")
    kw.setdefault("cpu_vendor", "Intel")
    kw.setdefault("cpu_model", "Skylake-Client-IBRS")
    kw.setdefault("cpu_features", ("ds", "vmx", "invtsc"))
    kw.setdefault("domains", ())
    kw.setdefault("qemu_caps", {"/usr/bin/qemu-system-x86_64": caps()})
    kw.setdefault("block", block_facts(lun("vda", serial="local-boot", tran=None)))
    kw.setdefault("libvirt_version", "9.0.0")
    kw.setdefault("qemu_version", "7.2.0")
    return HostFacts(name=name, address=f"10.0.0.{n}", hostname=name, **kw)


def pair(source: str = "hv1", destination: str = "hv2", **kw) -> PairFacts:
    kw.setdefault("cpu", {"vm1": CpuVerdict("identical")})
    kw.setdefault("probes", (PortProbe(49152, "migration", destination, "answered", elapsed_ms=1),))
    return PairFacts(source=source, destination=destination, resolved="10.0.0.2", **kw)


def probe(outcome: str, port: int = 49152, detail=None, confirmed=None, listener=None) -> PortProbe:
    return PortProbe(port, "migration", "hv2", outcome, detail=detail, elapsed_ms=3, confirmed=confirmed,
                     listener=listener)


def cluster(*hosts, pairs=()) -> ClusterFacts:
    return ClusterFacts(name="test", hosts={h.name: h for h in hosts},
                        pairs={(p.source, p.destination): p for p in pairs})


def migration(dom: Domain = None, src: HostFacts = None, dst: HostFacts = None,
              pr: PairFacts = None, no_pair: bool = False) -> MigrationContext:
    dom = dom or domain()
    src = src or host("hv1", domains=(dom,))
    dst = dst or host("hv2")
    pr = None if no_pair else (pr or pair(src.name, dst.name))
    return MigrationContext(cluster(src, dst, pairs=[pr] if pr else []), src, dst, dom, pr)


def on_host(dom: Domain, h: HostFacts = None) -> DomainContext:
    h = h or host("hv1", domains=(dom,))
    return DomainContext(cluster(h), h, dom)


def pair_ctx(src: HostFacts = None, dst: HostFacts = None, pr: PairFacts = None,
             no_pair: bool = False) -> PairContext:
    src, dst = src or host("hv1"), dst or host("hv2")
    pr = None if no_pair else (pr or pair(src.name, dst.name))
    return PairContext(cluster(src, dst, pairs=[pr] if pr else []), src, dst, pr)


def as_list(produced) -> list:
    from preflight.engine.registry import Finding

    return [produced] if isinstance(produced, Finding) else list(produced)


def statuses(produced) -> list:
    return [f.status.value for f in as_list(produced)]


# Re-exported for tests
__all__ = ["mount", "file_disk", "net_disk", "domain", "cpu", "bridge", "host", "pair", "probe",
           "cluster", "migration", "on_host", "pair_ctx", "as_list", "statuses", "ROOT", "NFS",
           "GuestInterface", "HostDevice", "CpuVerdict", "Disk", "DiskHost",
           "block_disk", "volume_disk", "chain", "lun", "block_facts", "caps", "MultipathMap",
           "PoolVolume", "StoragePool", "Tpm"]


def run_spec(func, facts: ClusterFacts) -> list:
    """Run one check through the real runner (which turns missing `requires` facts into ERROR)."""
    from preflight.engine.runner import run_checks

    return run_checks(facts, [func.__preflight_check__])
