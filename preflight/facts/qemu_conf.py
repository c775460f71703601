"""/etc/libvirt/qemu.conf: the settings a migration depends on (libvirt's virconf syntax)."""

from __future__ import annotations

import re

DEFAULT_MIGRATION_PORTS = (49152, 49215)

_SETTING = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


class QemuConfError(ValueError):
    pass


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def parse_qemu_conf(text: str, prefix: str = "migration_") -> dict:
    """Scalar settings whose name starts with `prefix`: name -> int or str.

    Only the settings asked for are kept: qemu.conf also holds secrets (vnc_password,
    spice_password, ...) that must never reach a fact or a report.
    """
    settings = {}
    for raw in (text or "").splitlines():
        match = _SETTING.match(_strip_comment(raw))
        if not match or not match.group(1).startswith(prefix):
            continue
        name, value = match.group(1), match.group(2)
        if value.startswith("["):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            settings[name] = value[1:-1]
        else:
            try:
                settings[name] = int(value, 0)
            except ValueError:
                settings[name] = value
    return settings


def migration_ports(text: str) -> tuple:
    """(min, max) of the ports QEMU listens on for incoming migrations; libvirt's defaults if unset."""
    settings = parse_qemu_conf(text)
    low = settings.get("migration_port_min", DEFAULT_MIGRATION_PORTS[0])
    high = settings.get("migration_port_max", DEFAULT_MIGRATION_PORTS[1])
    if not isinstance(low, int) or not isinstance(high, int):
        raise QemuConfError(f"migration_port_min/max are not integers: {low!r}, {high!r}")
    if not (0 < low <= high <= 65535):
        raise QemuConfError(f"invalid migration port range {low}-{high}")
    return (low, high)


_TEMPLATE_DEFAULT = re.compile(r'^#(user|group|dynamic_ownership)\s*=\s*"?([^"\s]*)"?\s*$')


def qemu_identity(text: str) -> dict:
    """Who QEMU runs as: {"user", "group", "dynamic_ownership", "user_from"}.

    An active ``user =`` setting wins; otherwise the packaged qemu.conf's commented
    template line (``#user = "libvirt-qemu"``, generated from the build's qemu_user) names the
    built-in default. Missing both: None (the caller must not guess)."""
    text = text or ""
    active = {}
    for raw in text.splitlines():
        match = _SETTING.match(_strip_comment(raw))
        if match and match.group(1) in ("user", "group", "dynamic_ownership"):
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            active[match.group(1)] = value
    template = {}
    for raw in text.splitlines():
        match = _TEMPLATE_DEFAULT.match(raw.strip())
        if match:
            template.setdefault(match.group(1), match.group(2))
    user = active.get("user") or template.get("user")
    group = active.get("group") or template.get("group")
    dyn = active.get("dynamic_ownership", template.get("dynamic_ownership", "1"))
    return {"user": user, "group": group,
            "user_from": ("qemu.conf user" if "user" in active else
                          "qemu.conf commented default (the package's built-in user)" if user else None),
            "dynamic_ownership": str(dyn).strip() not in ("0",)}


def is_root_user(user) -> bool:
    return str(user).strip() in ("root", "+0", "0")
