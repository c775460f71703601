"""Small helpers shared by the built-in checks (not a check module: discovery skips _names)."""

from __future__ import annotations

from preflight.derive.source import where
from preflight.engine.registry import undecided

LIBVIRT_MIGRATION = "https://libvirt.org/migration.html"
LIBVIRT_DOMAIN_XML = "https://libvirt.org/formatdomain.html"
QEMU_MIGRATION_C = "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_migration.c"

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6",
                  "ip6-localhost", "ip6-loopback")


def unparsed(domain, host):
    """ERROR finding for a domain whose XML could not be parsed, else None."""
    if domain.error:
        return undecided(f"the domain XML of {domain.name} could not be parsed: {domain.error}",
                         source=where(host, "virDomainGetXMLDesc"))
    return None


def guest_needs(ctx):
    """(GuestNeeds, None) for a migration's guest, or (None, ERROR finding) when its XML or what it
    needs of a host could not be read."""
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return None, problem
    if ctx.domain.needs is None:
        return None, undecided(ctx.domain.needs_error or f"what {ctx.domain.name} needs of a host was not read",
                               source=where(ctx.source, f"domain XML of {ctx.domain.name}"))
    return ctx.domain.needs, None


def is_loopback(name) -> bool:
    """A server name that means "this very host" wherever it is used (for disk servers)."""
    if not name:
        return False
    name = name.strip().lower().rstrip(".").strip("[]")
    return (name in LOOPBACK_NAMES or name.startswith("127.") or name in ("::1", "0:0:0:0:0:0:0:1")
            or name.startswith("localhost."))


def libvirt_refuses_hostname(name) -> bool:
    """libvirt's destination check (qemu_migration.c): STRPREFIX(hostname, "localhost")."""
    return bool(name) and name.strip().startswith("localhost")
