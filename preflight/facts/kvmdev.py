"""Whether the KVM device is really there: `stat -L -c '%F|%t:%T|%a|%U|%G' /dev/kvm` and
/sys/class/misc/kvm/dev ("10:232"). libvirt's cached QEMU capabilities can still offer
<domain type='kvm'> after /dev/kvm stopped being the KVM device (the lab's kvm_unusable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class KvmDevice:
    exists: bool
    kind: Optional[str] = None  # 'character special file', 'regular empty file', ...
    major: Optional[int] = None
    minor: Optional[int] = None
    mode: Optional[str] = None  # octal permission bits as stat prints them ("660")
    owner: Optional[str] = None
    group: Optional[str] = None
    misc_dev: Optional[str] = None  # /sys/class/misc/kvm/dev: "10:232" when kvm is loaded

    @property
    def is_char_device(self) -> bool:
        return self.kind == "character special file"


def parse_kvm_stat(stat_line: Optional[str], misc_dev: Optional[str] = None) -> KvmDevice:
    """`stat` line (None or 'missing' when stat failed: no /dev/kvm) and the sysfs dev file."""
    misc = misc_dev.strip() if misc_dev and misc_dev.strip() else None
    if stat_line is None or not stat_line.strip() or stat_line.strip() == "missing":
        return KvmDevice(exists=False, misc_dev=misc)
    parts = stat_line.strip().split("|")
    if len(parts) != 5:
        raise ValueError(f"not a stat -c '%F|%t:%T|%a|%U|%G' line: {stat_line.strip()[:80]!r}")
    kind, dev, mode, owner, group = parts
    major, _, minor = dev.partition(":")
    try:
        maj, mnr = int(major, 16), int(minor, 16)
    except ValueError:
        maj = mnr = None
    return KvmDevice(
        exists=True, kind=kind, major=maj, minor=mnr, mode=mode, owner=owner, group=group, misc_dev=misc
    )
