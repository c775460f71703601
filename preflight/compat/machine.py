"""Can the destination's QEMU run this guest at all: its machine type with its emulator and virt
type, the device models it uses, and (for kvm) a KVM device that really is one.

What libvirt does (lab, libvirt 9.0 / QEMU 7.2): the destination libvirtd parses the incoming
XML against its QEMU capabilities and refuses before QEMU starts:
  "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support machine
   type 'pc-q35-7.2'"        (scenario machine_type_missing)
The same capabilities answer virConnectGetDomainCapabilities(emulator, arch, machine, virttype)
on the destination; asked for a combination it lacks, libvirt says
  "the machine 'pc-q35-7.2' is not supported by emulator '/usr/bin/qemu-system-x86_64'",
  "Cannot check QEMU binary /usr/bin/qemu-system-aarch64: No such file or directory",
  "Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'xen'".
So the fact to gather per (destination, guest combination) is that call's answer or its error.

libvirt's capabilities are a cache: with /dev/kvm replaced by something that is not the KVM device
(scenario kvm_unusable) libvirt still offers <domain type='kvm'>, and the incoming QEMU dies:
  "qemu unexpectedly closed the monitor: kvm version too old ... -accel kvm: failed to initialize
   kvm: Inappropriate ioctl for device". Hence the host itself is judged (judge_kvm_device).
"""

from __future__ import annotations

from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.facts.domcaps import DomainCaps
from preflight.facts.guest_needs import GuestNeeds
from preflight.facts.hostcaps import HostCaps
from preflight.facts.kvmdev import KvmDevice

KVM_MAJOR, KVM_MINOR = 10, 232  # misc device 232 (Documentation/admin-guide/devices.txt)


def judge_machine(
    guest: GuestNeeds,
    dst_name: str,
    domcaps: Optional[DomainCaps],
    domcaps_error: Optional[str],
    hostcaps: Optional[HostCaps] = None,
) -> Finding:
    """`domcaps`: the destination's answer to getDomainCapabilities(guest.emulator, guest.arch,
    guest.machine, guest.virt_type); `domcaps_error`: libvirt's error message instead."""
    want = (
        f"{guest.machine} with {guest.emulator or 'the default emulator'} ({guest.virt_type}, {guest.arch})"
    )
    if not guest.machine or not guest.virt_type:
        return undecided(
            f"the machine type or virt type of {guest.name} is unknown", observed=None, expected=want
        )
    if domcaps_error:
        return failed(
            f"{dst_name} cannot run {guest.name}'s {want}: libvirt there says '{domcaps_error}'",
            observed=domcaps_error,
            expected=want,
        )
    if domcaps is None:
        return undecided(f"{dst_name}'s domain capabilities for {want} were not gathered", expected=want)
    problems = []
    if domcaps.machine != guest.machine:
        # libvirt answers with the canonical name; an alias (q35) resolves to the newest version
        problems.append(f"libvirt answered for machine {domcaps.machine}, not {guest.machine}")
    if guest.emulator and domcaps.emulator and domcaps.emulator != guest.emulator:
        problems.append(f"emulator {domcaps.emulator}, not {guest.emulator}")
    if domcaps.domain != guest.virt_type:
        problems.append(f"virt type {domcaps.domain}, not {guest.virt_type}")
    if guest.arch and domcaps.arch and domcaps.arch != guest.arch:
        problems.append(f"arch {domcaps.arch}, not {guest.arch}")
    observed = f"{domcaps.machine} / {domcaps.emulator} / {domcaps.domain} / {domcaps.arch}"
    if problems:
        return failed(
            f"{dst_name} does not offer {guest.name}'s {want}: " + "; ".join(problems),
            observed=observed,
            expected=want,
        )
    if hostcaps is not None:
        g = hostcaps.guest(guest.arch or "x86_64")
        machines = g.machines_for(guest.virt_type) if g else None
        if machines is not None and guest.machine not in {m.name for m in machines} | {
            m.canonical for m in machines if m.canonical
        }:
            return failed(
                f"{dst_name}'s capabilities do not list machine type {guest.machine} for {guest.virt_type}",
                observed=", ".join(sorted(m.name for m in machines))[:300],
                expected=guest.machine,
            )
        deprecated = {m.name for m in (machines or ()) if m.deprecated}
        if guest.machine in deprecated:
            return warned(
                f"{dst_name} offers {guest.machine}, but marks it deprecated",
                observed=observed,
                expected=want,
            )
    return passed(f"{dst_name} offers {want}", observed=observed, expected=want)


def _family(machine: str) -> str:
    """pc-q35-7.2 -> pc-q35; pc-i440fx-rhel7.6.0 -> pc-i440fx (for naming the nearest offers)."""
    parts = machine.split("-")
    return "-".join(parts[:-1]) if len(parts) > 1 else machine


def judge_machine_offered(guest: GuestNeeds, dst_name: str, hostcaps: Optional[HostCaps]) -> Finding:
    """The destination's host capabilities (virConnectGetCapabilities, built from the same QEMU
    capabilities libvirt validates an incoming definition against) offer the guest's arch and
    virt type with the guest's emulator, and list its exact machine type for it.

    libvirt on the destination validates the incoming XML against the emulator's QEMU capabilities
    and refuses (src/qemu/qemu_validate.c, qemuValidateDomainDef: virQEMUCapsIsArchSupported,
    virQEMUCapsIsVirtTypeSupported, virQEMUCapsIsMachineSupported): "Emulator '%s' does not
    support arch / virt type / machine type '%s'" (lab machine_type_missing). Capabilities describe the emulator libvirt found for each arch only:
    a guest naming another binary cannot be judged from them (ERROR)."""
    want = f"{guest.machine} with {guest.emulator or 'the default emulator'} ({guest.virt_type}, {guest.arch})"
    if not guest.machine or not guest.virt_type or not guest.arch:
        return undecided(f"the machine type, virt type or arch of {guest.name} is unknown",
                         observed=f"{guest.machine} / {guest.virt_type} / {guest.arch}", expected=want)
    if hostcaps is None:
        return undecided(f"{dst_name}'s capabilities (its emulators and machine types) were not read",
                         expected=want)
    arch = hostcaps.guest(guest.arch)
    offered_arches = sorted({g.arch for g in hostcaps.guests if g.os_type == "hvm"})
    if arch is None:
        return failed(f"{dst_name} offers no hvm guests of arch {guest.arch} (it offers "
                      f"{', '.join(offered_arches) or 'none'}): {guest.name} cannot start there",
                      observed=", ".join(offered_arches) or "no hvm guest", expected=want)
    machines = arch.machines_for(guest.virt_type)
    emulator = arch.emulator_for(guest.virt_type)
    if machines is None:
        types = sorted(d.type for d in arch.domains)
        return failed(f"{dst_name} does not offer virt type {guest.virt_type} for {guest.arch} (it offers "
                      f"{', '.join(types) or 'none'}): libvirt refuses ('Emulator ... does not support "
                      f"virt type {guest.virt_type}')", observed=", ".join(types) or "none", expected=want)
    if guest.emulator and emulator and guest.emulator != emulator:
        return undecided(f"{guest.name} runs emulator {guest.emulator}; {dst_name}'s capabilities describe "
                         f"{emulator} for {guest.arch} {guest.virt_type} only, so whether {guest.emulator} "
                         f"exists there with machine {guest.machine} is unknown",
                         observed=emulator, expected=want)
    names = {m.name for m in machines} | {m.canonical for m in machines if m.canonical}
    observed = f"{emulator}: {len(machines)} machine types"
    if guest.machine not in names:
        near = sorted(n for n in names if _family(n) == _family(guest.machine))
        return failed(f"{dst_name}'s {emulator or 'emulator'} does not offer machine type {guest.machine} for "
                      f"{guest.virt_type}: libvirt there refuses {guest.name} ('Emulator ... does not support "
                      f"machine type {guest.machine}')"
                      + (f"; it offers {', '.join(near[-6:])}" if near else ""),
                      observed=f"{emulator}: " + (", ".join(near[-6:]) if near else
                                                  ", ".join(sorted(names))[:300]),
                      expected=want)
    if any(m.deprecated and guest.machine in (m.name, m.canonical) for m in machines):
        return warned(f"{dst_name} offers {guest.machine}, but marks it deprecated (a later QEMU drops it)",
                      observed=observed, expected=want)
    return passed(f"{dst_name} offers {want}", observed=observed, expected=want)


# guest device -> (domcaps device, enum name)
_DEVICE_ENUMS = {
    "disk bus": ("disk", "bus"),
    "video model": ("video", "modelType"),
    "TPM model": ("tpm", "model"),
    "TPM backend": ("tpm", "backendModel"),
}


def judge_devices(guest: GuestNeeds, dst_name: str, domcaps: Optional[DomainCaps]) -> list:
    """Every disk bus, video model and TPM model/backend the guest uses is in the destination's
    domain capabilities for the guest's machine type. NIC models are not listed in domain
    capabilities (libvirt only lists <interface> backend types): they are left to the
    machine/emulator check and said so. Enums libvirt does not list are 'cannot decide'."""
    if domcaps is None:
        return [undecided(f"{dst_name}'s domain capabilities for {guest.name} were not gathered")]
    wanted = []
    for target, bus, device in guest.disk_buses:
        if bus:
            wanted.append(("disk bus", bus, f"{device} {target}"))
    for m in guest.video_models:
        wanted.append(("video model", m, "video"))
    for model, backend in guest.tpm_models:
        wanted.append(("TPM model", model, "tpm"))
        if backend:
            wanted.append(("TPM backend", backend, "tpm"))
    out = []
    for kind, value, what in wanted:
        dev_name, enum = _DEVICE_ENUMS[kind]
        dev = domcaps.device(dev_name)
        values = dev.values(enum) if dev is not None else None
        exp = f"{kind} {value}"
        if dev is not None and not dev.supported:
            out.append(
                failed(
                    f"{dst_name} does not support {dev_name} devices at all for {domcaps.machine}; "
                    f"{guest.name} has {what} ({exp})",
                    observed=f"<{dev_name} supported='no'>",
                    expected=exp,
                    device=what,
                )
            )
        elif values is None:
            out.append(
                undecided(
                    f"{dst_name}'s domain capabilities do not list {kind}s; cannot tell whether "
                    f"{guest.name}'s {what} ({value}) is offered",
                    expected=exp,
                    device=what,
                )
            )
        elif value not in values:
            out.append(
                failed(
                    f"{dst_name} does not offer {kind} {value} for {domcaps.machine} "
                    f"({guest.name}'s {what}); it offers {', '.join(values) or 'none'}",
                    observed=", ".join(values),
                    expected=exp,
                    device=what,
                )
            )
        else:
            out.append(
                passed(
                    f"{dst_name} offers {kind} {value} ({what})",
                    observed=", ".join(values),
                    expected=exp,
                    device=what,
                )
            )
    if guest.nics:
        models = sorted({n.model or "default" for n in guest.nics})
        out.append(
            passed(
                f"NIC models ({', '.join(models)}) are not in domain capabilities; they come with "
                f"the machine type and emulator judged above",
                observed=", ".join(models),
            )
        )
    return out


def judge_kvm_device(
    dst_name: str,
    dev: Optional[KvmDevice],
    virt_type: Optional[str],
    qemu_user_can_open: Optional[bool] = None,
) -> Finding:
    """For a kvm guest: /dev/kvm exists, is the KVM character device (10:232, the same numbers
    as /sys/class/misc/kvm/dev) and QEMU's user can open it read-write."""
    if virt_type != "kvm":
        return passed(f"virt type {virt_type}: no KVM device needed", observed=virt_type)
    expected = "character device 10:232 that QEMU's user can open read-write"
    if dev is None:
        return undecided(f"/dev/kvm on {dst_name} was not examined", expected=expected)
    if not dev.exists:
        return failed(
            f"{dst_name} has no /dev/kvm: a kvm guest cannot start there (kvm module not loaded, "
            "or virtualization disabled)",
            observed="missing",
            expected=expected,
        )
    observed = f"{dev.kind} {dev.major}:{dev.minor} mode {dev.mode} {dev.owner}:{dev.group}"
    if not dev.is_char_device or (dev.major, dev.minor) != (KVM_MAJOR, KVM_MINOR):
        return failed(
            f"{dst_name}'s /dev/kvm is not the KVM device ({dev.kind}"
            + (f" {dev.major}:{dev.minor}" if dev.major is not None else "")
            + "); libvirt's cached "
            "capabilities may still offer kvm, but QEMU fails to initialize it",
            observed=observed,
            expected=expected,
        )
    if dev.misc_dev and dev.misc_dev != f"{KVM_MAJOR}:{KVM_MINOR}":
        return failed(
            f"{dst_name}: /sys/class/misc/kvm/dev says {dev.misc_dev}, /dev/kvm is {dev.major}:{dev.minor}",
            observed=observed,
            expected=expected,
        )
    if qemu_user_can_open is False:
        return failed(
            f"QEMU's user on {dst_name} cannot open /dev/kvm ({dev.mode} {dev.owner}:{dev.group})",
            observed=observed,
            expected=expected,
        )
    if qemu_user_can_open is None:
        return undecided(
            f"{dst_name}'s /dev/kvm is the KVM device, but whether QEMU's user can open it was not tested",
            observed=observed,
            expected=expected,
        )
    return passed(
        f"{dst_name}'s /dev/kvm is the KVM device and QEMU's user can open it",
        observed=observed,
        expected=expected,
    )


def judge_lock_and_security(
    src_name: str,
    dst_name: str,
    src_caps: Optional[HostCaps],
    dst_caps: Optional[HostCaps],
    src_lock: Optional[str],
    dst_lock: Optional[str],
) -> list:
    """The same security driver (capabilities' first <secmodel>: selinux, apparmor, none) and the
    same lock manager on both ends. `src_lock`/`dst_lock`: qemu.conf's lock_manager, "nop" when
    qemu.conf sets none (libvirt's default plugin), None when qemu.conf could not be read.

    libvirt's destination refuses a different lock driver while parsing the migration cookie
    (src/qemu/qemu_migration_cookie.c): "Source host lock driver %s different from target %s", and
    "Missing %s lock state for migration cookie" when the source sent none. A different security
    driver relabels (or does not label) the guest's resources on arrival."""
    out = []
    s = src_caps.security_driver if src_caps else None
    d = dst_caps.security_driver if dst_caps else None
    if s is None or d is None:
        out.append(undecided("a host's security driver is unknown", observed=f"{s} / {d}"))
    elif s != d:
        out.append(
            failed(
                f"{src_name} confines guests with {s}, {dst_name} with {d}: the guest's labels do "
                f"not carry over",
                observed=f"{s} / {d}",
                expected="the same security driver",
            )
        )
    else:
        out.append(passed(f"both use security driver {s}", observed=f"{s} / {d}"))
    if src_lock is None or dst_lock is None:
        out.append(
            undecided(
                "a host's lock manager is unknown (qemu.conf not read)", observed=f"{src_lock} / {dst_lock}"
            )
        )
    elif src_lock != dst_lock:
        out.append(
            failed(
                f"{src_name} uses lock manager {src_lock}, {dst_name} {dst_lock}: libvirt refuses "
                f"('Source host lock driver {src_lock} different from target {dst_lock}')",
                observed=f"{src_lock} / {dst_lock}",
                expected="the same lock_manager",
            )
        )
    else:
        out.append(passed(f"both use lock manager {src_lock}", observed=f"{src_lock} / {dst_lock}"))
    return out
