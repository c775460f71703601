"""How evidence names where an observation came from."""

from __future__ import annotations


def where(host, what: str) -> str:
    """Evidence source: 'hv2: /proc/self/mountinfo'."""
    return f"{host.name}: {what}"
