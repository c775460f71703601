"""/etc/fstab and systemd mount/automount unit names: will a mount come back after a reboot? Pure.

fstab(5): ``SPEC FILE VFSTYPE MNTOPTS [FREQ [PASSNO]]``, ``#`` comments, blank lines; fields
escape space/tab/backslash as octal (``\\040``); SPEC may be ``UUID=``/``LABEL=``/
``PARTUUID=``/``PARTLABEL=`` (resolved only on the host; kept as written here).

systemd unit names escape the mount point: ``/srv/vm-store`` -> ``srv-vm\\x2dstore.mount``,
``/`` -> ``-.mount`` (systemd.unit(5), "String Escaping").
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_OCTAL = re.compile(r"\\([0-7]{3})")
_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")


class FstabError(ValueError):
    pass


@dataclass(frozen=True)
class FstabEntry:
    spec: str                        # nas:/vol0, UUID=..., /dev/sda1
    mountpoint: str
    fstype: str
    options: tuple = ()
    line: int = 0

    @property
    def noauto(self) -> bool:
        return "noauto" in self.options

    @property
    def automount(self) -> bool:
        return "x-systemd.automount" in self.options


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def normpath(path: str) -> str:
    return "/" + posixpath.normpath(path).strip("/") if path.startswith("/") else path


def parse_fstab(text: str) -> tuple:
    """All entries in file order. A line with fewer than 3 fields is an error (mount(8)
    rejects it too): the one line we cannot read may be the share."""
    entries = []
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 3:
            raise FstabError(f"/etc/fstab line {number}: fewer than 3 fields: {raw!r}")
        options = tuple(o for o in (fields[3] if len(fields) > 3 else "defaults").split(",") if o)
        entries.append(FstabEntry(spec=_unescape(fields[0]), mountpoint=normpath(_unescape(fields[1])),
                                  fstype=fields[2], options=options, line=number))
    return tuple(entries)


def unit_to_path(unit: str) -> str:
    """``srv-vm\\x2dstore.mount`` -> ``/srv/vm-store``; ``-.mount`` -> ``/``."""
    stem = unit.rsplit(".", 1)[0]
    if stem == "-":
        return "/"
    return "/" + "/".join(_HEX.sub(lambda m: chr(int(m.group(1), 16)), part) for part in stem.split("-"))


def parse_unit_files(text: str) -> tuple:
    """``systemctl list-unit-files --type=mount,automount --no-legend`` -> ((unit, state, path), ...)."""
    units = []
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields or not fields[0].endswith((".mount", ".automount")):
            continue
        units.append((fields[0], fields[1] if len(fields) > 1 else "", unit_to_path(fields[0])))
    return tuple(units)
