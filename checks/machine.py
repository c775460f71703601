"""host.kvm_device: a kvm guest's destination really has a KVM device QEMU's user can open.

libvirt's QEMU capabilities are a cache: with /dev/kvm no longer the KVM device it still offers
<domain type='kvm'> and the incoming QEMU dies (lab kvm_unusable). So the host itself is judged:
`stat -L /dev/kvm` in the host's one shell batch (preflight.facts.compat_facts).
"""

from __future__ import annotations

from preflight.compat.machine import judge_kvm_device
from preflight.engine.registry import Finding, check
from preflight.model import Scope, Severity

from ._common import unparsed, where


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
