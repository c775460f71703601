"""qemu-img backing chains and libvirt's QEMU capabilities cache. Pure functions."""

from __future__ import annotations

import json
import re

from preflight.facts.models import ChainImage, DiskChain, QemuCaps

__all__ = ["parse_backing_chain", "parse_qemu_caps_grep", "image_url", "CHAIN_FORMATS", "URL_PROTOCOLS"]

# Image formats that can have a backing file. raw (also libvirt's default when the XML names no
# format: libvirt does not probe) cannot.
CHAIN_FORMATS = frozenset({"qcow2", "qcow", "qed", "vmdk", "cow"})
# Network protocols whose images qemu-img is asked about by URL (no <auth>: no secret on a command line).
URL_PROTOCOLS = ("nfs", "gluster")


def image_url(protocol: str, host: str, name: str) -> str:
    """The URL qemu-img opens a network image by, and the key of its chain in the record."""
    return f"{protocol}://{host}/{(name or '').lstrip('/')}"


def parse_backing_chain(path: str, text: str) -> DiskChain:
    """`qemu-img info --backing-chain -U --output=json PATH` -> DiskChain (top image first).
    Raises ValueError on output that is not that JSON."""
    data = json.loads(text)
    if isinstance(data, dict):                 # without --backing-chain qemu-img prints one object
        data = [data]
    if not isinstance(data, list) or not data:
        raise ValueError("qemu-img printed no image")
    images = []
    for item in data:
        if not isinstance(item, dict) or not item.get("filename"):
            raise ValueError(f"qemu-img image without filename: {item!r}"[:200])
        images.append(ChainImage(filename=item["filename"], format=item.get("format"),
                                 backing=item.get("full-backing-filename") or item.get("backing-filename")))
    for upper, lower in zip(images, images[1:]):
        if not upper.backing:
            raise ValueError(f"{upper.filename} has no backing file but qemu-img listed {lower.filename} after it")
    if images[-1].backing:
        raise ValueError(f"chain ends at {images[-1].filename}, which names backing file {images[-1].backing}")
    return DiskChain(path=path, images=tuple(images))


_GREP = re.compile(r"^(?P<file>[^:]+\.xml):\s*(?P<line>.*)$")


def parse_qemu_caps_grep(text: str) -> dict:
    """`grep -H -e '<emulator>' -e '<selfvers>' -e '<version>' -e migration-file-drop-cache
    /var/cache/libvirt/qemu/capabilities/*.xml` -> {emulator: QemuCaps}. A cache file without
    an <emulator> line is ignored (nothing to match a domain against)."""
    files: dict = {}
    for line in text.splitlines():
        m = _GREP.match(line.strip())
        if not m:
            continue
        entry = files.setdefault(m.group("file"), {})
        body = m.group("line")
        for tag in ("emulator", "selfvers", "version"):
            t = re.fullmatch(rf"<{tag}>([^<]*)</{tag}>", body)
            if t:
                entry.setdefault(tag, t.group(1).strip())
        if re.fullmatch(r"<flag name=['\"]migration-file-drop-cache['\"]\s*/>", body):
            entry["drop"] = True
    caps = {}
    for cache_file, e in files.items():
        if not e.get("emulator"):
            continue

        def num(v):
            return int(v) if v and v.isdigit() else None
        caps[e["emulator"]] = QemuCaps(emulator=e["emulator"], libvirt_version=num(e.get("selfvers")),
                                       qemu_version=num(e.get("version")), drop_cache=bool(e.get("drop")),
                                       cache_file=cache_file)
    return caps
