"""domain.blockers: configurations libvirt or QEMU refuse to live-migrate, whatever the destination."""

from __future__ import annotations

from dataclasses import replace

from preflight.engine.registry import check, failed, passed, undecided
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, QEMU_MIGRATION_C, unparsed, where

_UNMIGRATABLE_SUBSYS = ("pci", "scsi", "scsi_host", "mdev")


def _hostdev_blockers(domain):
    for dev in domain.hostdevs:
        label = f"<hostdev mode='{dev.mode}' type='{dev.type}'> {dev.address or ''}".strip()
        if dev.mode != "subsystem":
            yield failed(f"{label}: libvirt cannot migrate a domain with capabilities-mode host devices",
                         observed=label)
        elif dev.type == "usb":
            yield undecided(f"{label}: libvirt re-attaches USB host devices on the destination, which "
                            "must have the same device; that is not checked yet", observed=label)
        elif dev.type == "pci" and dev.teaming == "transient":
            continue  # QEMU unplugs it for the migration (failover teaming)
        elif dev.type in _UNMIGRATABLE_SUBSYS:
            yield failed(f"{label}: a passed-through {dev.type} device holds state QEMU cannot migrate",
                         observed=label)
        else:
            yield undecided(f"{label}: unknown host device type, cannot tell whether it migrates",
                            observed=label)
    for iface in domain.interfaces:
        if iface.type == "vdpa" or (iface.type == "hostdev" and iface.teaming != "transient"):
            yield failed(f"<interface type='{iface.type}'> {iface.mac or ''}: a passed-through NIC cannot migrate",
                         observed=iface.label)


def _invtsc(domain, host):
    if domain.tsc_frequency:
        return
    cpu = domain.cpu
    passthrough_all = cpu.mode in ("host-passthrough", "maximum") and cpu.migratable == "off" and \
        not any(f.name == "invtsc" and f.policy in ("disable", "forbid") for f in cpu.features)
    if cpu.requires("invtsc") or (passthrough_all and host.cpu_features and "invtsc" in host.cpu_features):
        yield failed("CPU feature invtsc reaches the guest but <clock><timer name='tsc' frequency=...> is not "
                     "set: QEMU blocks migration ('non-migratable CPU device (invtsc flag)')",
                     observed="invtsc enabled, no TSC frequency", expected="<timer name='tsc' frequency='HZ'/>")
    elif passthrough_all and host.cpu_features is None:
        yield undecided(f"{cpu.mode} migratable='off' passes every host CPU feature, and whether "
                        f"{host.name} has invtsc is unknown", observed=f"{cpu.mode} migratable='off'")


def _config_blockers(domain, host):
    yield from _invtsc(domain, host)
    for fs in domain.filesystems:
        if fs.driver == "virtiofs":
            yield failed(f"virtiofs filesystem {fs.target or fs.source}: migration with virtiofs is not supported",
                         observed=f"<filesystem><driver type='virtiofs'/> {fs.target or ''}")
    for shm in domain.shmems:
        if shm.role != "master":
            yield failed(f"shmem {shm.name}: only shmem with role='master' can be migrated",
                         observed=f"<shmem name='{shm.name}' role='{shm.role or 'default'}'>")
    for disk in domain.disks:
        if disk.transient:
            yield failed(f"disk {disk.target} is <transient/>: migration with transient disks is not supported",
                         observed=f"disk {disk.target} <transient/>", disk=disk.target)


@check(
    id="domain.blockers", title="The guest has no device or setting that forbids live migration",
    category="domain", severity=Severity.CRITICAL, scope=Scope.DOMAIN, requires=("domains",),
    verifies="The guest XML has none of the hard blockers libvirt/QEMU enforce: invtsc (required, or "
             "passed through by host-passthrough migratable='off' on an invtsc host) without a fixed "
             "TSC frequency; PCI (without transient teaming), mdev, SCSI or capabilities-mode host "
             "devices; vDPA or hostdev interfaces; virtiofs; shmem not in role master; transient disks. "
             "USB host devices and unknown device types are undecided: USB migrates only if the "
             "destination has the same device.",
    rationale="These make libvirt or QEMU refuse the migration before a byte moves ('cannot migrate "
              "domain: State blocked by non-migratable CPU device (invtsc flag)', 'cannot migrate a "
              "domain with <hostdev mode='subsystem' type='pci'>'), whichever destination is chosen.",
    remediation="invtsc: add `<clock><timer name='tsc' frequency='HZ'/></clock>` with the hosts' common "
                "TSC frequency, or drop the invtsc feature. Host devices, vDPA, virtiofs, transient "
                "disks: detach them before migrating (`virsh detach-device`), or use failover teaming "
                "(`<teaming type='transient'>`) for SR-IOV NICs. shmem: use role='master' on one host.",
    references=(QEMU_MIGRATION_C, LIBVIRT_DOMAIN_XML + "#time-keeping",
                LIBVIRT_DOMAIN_XML + "#host-device-assignment",
                "https://www.qemu.org/docs/master/devel/migration/main.html"),
)
def migration_blockers(ctx):
    problem = unparsed(ctx.domain, ctx.host)
    if problem:
        return problem
    src = where(ctx.host, f"domain XML of {ctx.domain.name}")
    findings = [replace(f, source=src) for f in (*_hostdev_blockers(ctx.domain),
                                                  *_config_blockers(ctx.domain, ctx.host))]
    if not findings:
        return passed("no live-migration blocker in the guest configuration", source=src,
                      observed="no blocking device or setting")
    return findings
