"""host.kvm_device and domain.machine_type: can the destination's QEMU run this guest at all.

libvirt's QEMU capabilities are a cache: with /dev/kvm no longer the KVM device it still offers
<domain type='kvm'> and the incoming QEMU dies (lab kvm_unusable). So the host itself is judged:
`stat -L /dev/kvm` in the host's one shell batch (preflight.facts.compat_facts).
"""

from __future__ import annotations

from preflight.compat.machine import judge_kvm_device, judge_machine_offered
from preflight.engine.registry import Finding, check, undecided
from preflight.model import Scope, Severity

from ._common import guest_needs, unparsed, where


def _can_open(ids, mode, cred):
    """Whether QEMU's uid/groups may open /dev/kvm read-write; None when unknown."""
    if cred is None or ids is None or not mode:
        return None
    if cred.uid == 0:
        return True
    bits = int(mode, 8)
    uid, gid = ids
    if cred.uid == uid:
        return bits & 0o600 == 0o600
    if gid == cred.gid or gid in cred.groups:
        return bits & 0o060 == 0o060
    return bits & 0o006 == 0o006


@check(
    id="host.kvm_device", title="A kvm guest's destination has a working KVM device QEMU can open",
    category="host", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "kvm_device"),
    verifies="For a guest of domain type kvm: the destination's /dev/kvm exists, is the character "
             "device 10:232 (the numbers of /sys/class/misc/kvm/dev) and QEMU's user (qemu.conf "
             "user, its groups) may open it read-write. Other domain types need no KVM device.",
    rationale="The incoming QEMU opens /dev/kvm when it starts. libvirt's cached capabilities keep "
              "offering kvm after the device stopped working (module unloaded, node replaced), so "
              "the migration starts and fails with 'failed to initialize kvm' (lab kvm_unusable: "
              "'Inappropriate ioctl for device').",
    remediation="On the destination load the KVM module (`modprobe kvm_intel` or `kvm_amd`), make sure "
                "virtualization is enabled in the firmware, restore /dev/kvm as the character device "
                "10:232 (udev: `udevadm trigger -c add /dev/kvm`) with group kvm mode 0660, and put "
                "QEMU's user in that group; then restart libvirtd so its capabilities are probed again.",
    references=("https://libvirt.org/formatdomain.html#element-and-attribute-overview",
                "https://www.kernel.org/doc/html/latest/virt/kvm/api.html"),
)
def kvm_device(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    dst = ctx.destination
    compat = dst.compat
    dev = compat.kvm if compat else None
    can = _can_open(compat.kvm_ids if compat else None, dev.mode if dev else None, dst.qemu_cred)
    f = judge_kvm_device(dst.name, dev, ctx.domain.type, can)
    return Finding(f.status, f.message, observed=f.observed, expected=f.expected,
                   source=where(dst, "stat -L /dev/kvm; /sys/class/misc/kvm/dev"),
                   details={"virt_type": ctx.domain.type, "qemu_user": getattr(dst.qemu_cred, "user", None)})


@check(
    id="domain.machine_type", title="The destination's QEMU offers the guest's machine type and emulator",
    category="domain", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "capabilities"),
    verifies="The destination's libvirt capabilities (virConnectGetCapabilities <guest> entries, built "
             "from its QEMU capabilities) offer the guest's arch and domain type with the guest's "
             "<emulator>, and list the guest's exact versioned machine type (pc-i440fx-7.2, "
             "pc-q35-8.2, ...) or an alias of it for that emulator. A guest naming another emulator "
             "than the one libvirt lists there cannot be judged (ERROR); a deprecated machine type WARNs.",
    rationale="The destination libvirtd validates the incoming definition against its QEMU "
              "capabilities before QEMU starts and refuses (qemu_validate.c, qemuValidateDomainDef): "
              "'Emulator '/usr/bin/qemu-system-x86_64' does not support machine type 'pc-q35-7.2'' "
              "(lab machine_type_missing). The machine type is the guest's ABI: it must exist there "
              "exactly, a newer version of the same family does not do. Older QEMU on the "
              "destination, or a distribution build with other machine types (pc-q35-rhel9.2.0), "
              "are the usual causes.",
    remediation="Upgrade QEMU on the destination to a version that still has the guest's machine type "
                "(`qemu-system-x86_64 -machine help` lists them; `virsh capabilities` shows what libvirt "
                "sees, restart libvirtd after an upgrade), or migrate only between hosts of the same "
                "QEMU build. Changing a guest's machine type needs a cold restart (`virsh edit`) and "
                "changes its virtual hardware.",
    references=("https://libvirt.org/formatcaps.html", "https://libvirt.org/formatdomain.html#bios-bootloader",
                "https://www.qemu.org/docs/master/about/deprecated.html",
                "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_validate.c"),
)
def machine_type(ctx):
    needs, problem = guest_needs(ctx)
    if problem:
        return problem
    dst = ctx.destination
    src = where(dst, "capabilities <guest><arch><machine>")
    if dst.hostcaps is None:
        return undecided(f"{dst.name}'s capabilities were not parsed for emulators and machine types",
                         source=src)
    f = judge_machine_offered(needs, dst.name, dst.hostcaps)
    return Finding(f.status, f.message, observed=f.observed, expected=f.expected, source=src,
                   details={"machine": needs.machine, "emulator": needs.emulator,
                            "virt_type": needs.virt_type, "arch": needs.arch})
