"""Which guest images qemu-img may be asked about, and how, when libvirt's chain is missing.

A guest controls the bytes of its raw disks and ISOs: a qcow2 header written into them names
any file or any `json:{... nbd ...}` server as its "backing file", and a format-probing
`qemu-img info` run as root then opens that file or connects to that server. So:
- the backing chain comes from libvirt itself first: the live XML's <backingStore> chain that
  libvirt built when it opened the disks (Disk.backing). qemu-img is asked only when the live
  XML records no chain (old libvirt, network disks libvirt cannot traverse);
- only formats that can have a backing file (qcow2, qed, vmdk, ...) as the XML names them;
  raw (or no format: libvirt does not probe either), cdrom and floppy images are never probed;
- `-f FORMAT` from the domain XML (no probing), `-U` (no lock taken), `--` before the name;
- absolute local paths only (no relative names, no `json:`/`proto:` names, no newlines), or the
  nfs/gluster URL of an auth-less network disk built from validated parts (QEMU on this host
  already opens that server);
- under an address-space and CPU limit (like OpenStack's `prlimit --as=1G --cpu=30`), and the
  facts script's `timeout`.
"""

from __future__ import annotations

import re
from typing import Optional

from preflight.facts.qemu_img import CHAIN_FORMATS, URL_PROTOCOLS, image_url
from preflight.facts.xmlsafe import parse_xml_or_none

__all__ = ["chain_targets", "qemu_img_argv", "QEMU_IMG_AS_BYTES", "QEMU_IMG_CPU_S", "safe_local_path"]

QEMU_IMG_AS_BYTES = 1 << 30        # address space, as OpenStack's qemu-img calls (CVE-2015-5162)
QEMU_IMG_CPU_S = 30
# prlimit when util-linux has it, else the shell's ulimit (dash and bash know -v and -t); the
# limits apply to the exec'd qemu-img only.
_LIMITED = ("if command -v prlimit >/dev/null 2>&1; then "
            f"exec prlimit --as={QEMU_IMG_AS_BYTES} --cpu={QEMU_IMG_CPU_S} -- \"$@\"; fi; "
            f"ulimit -v {QEMU_IMG_AS_BYTES // 1024} 2>/dev/null; ulimit -t {QEMU_IMG_CPU_S} 2>/dev/null; "
            "exec \"$@\"")
_HOST_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\]")
_NAME_OK = re.compile(r"/[A-Za-z0-9._+@/-]{1,4095}")


def safe_local_path(path: Optional[str]) -> bool:
    """An absolute local path qemu-img cannot take for an option, a protocol or a JSON spec."""
    return bool(path) and path.startswith("/") and not any(c in path for c in "\n\r\0")


def qemu_img_argv(target: str, fmt: str) -> list:
    """The argv of one chain query: limits, no probing, no lock, end of options before the name."""
    return ["sh", "-c", _LIMITED, "qemu-img", "qemu-img", "info", "-f", fmt, "--backing-chain", "-U",
            "--output=json", "--", target]


def _live_disks(dom: dict) -> dict:
    """target dev -> <disk> element of the live XML (None: no live XML)."""
    root = parse_xml_or_none(dom.get("live_xml"), "live domain XML")
    if root is None:
        return {}
    disks = [d for d in root.findall("devices/disk") if d.find("target") is not None]
    return {d.find("target").get("dev"): d for d in disks}


def _network_url(src, disk, fmt) -> Optional[str]:
    if fmt not in CHAIN_FORMATS or disk.find("auth") is not None or src.find("auth") is not None \
            or src.get("protocol") not in URL_PROTOCOLS:
        return None
    host, name = src.find("host"), src.get("name") or ""
    if host is None or not _HOST_OK.fullmatch(host.get("name") or "") or host.get("port") \
            or not _NAME_OK.fullmatch("/" + name.lstrip("/")):
        return None
    return image_url(src.get("protocol"), host.get("name"), name)


def chain_targets(libvirt_facts: dict) -> list:
    """[(target, format)] of the images of running guests whose chain libvirt did not record.
    File disks and file-backed volumes by absolute path; nfs/gluster disks without <auth> by URL."""
    vol_paths = {(v.get("pool"), v.get("volume")): v.get("path") for v in libvirt_facts.get("volumes") or ()}
    targets: list = []
    for dom in libvirt_facts.get("domains") or ():
        if not dom.get("active"):                   # only running guests are judged
            continue
        root = parse_xml_or_none(dom.get("xml"), "domain XML")
        if root is None:
            continue
        live = _live_disks(dom)
        for disk in root.findall("devices/disk"):
            src, drv, tgt = disk.find("source"), disk.find("driver"), disk.find("target")
            fmt = drv.get("type") if drv is not None else None
            device = disk.get("device") or "disk"
            if src is None or fmt not in CHAIN_FORMATS or device in ("cdrom", "floppy"):
                continue
            live_disk = live.get(tgt.get("dev")) if tgt is not None else None
            if live_disk is not None and live_disk.find("backingStore") is not None:
                continue                            # libvirt's own chain is used
            dtype = disk.get("type") or "file"
            target = None
            if dtype == "file":
                target = src.get("file")
            elif dtype == "volume":
                target = vol_paths.get((src.get("pool"), src.get("volume")))
                if target and target.startswith("/dev/"):
                    target = None
            elif dtype == "network":
                target = _network_url(src, disk, fmt)
            if target and (dtype == "network" or safe_local_path(target)) \
                    and (target, fmt) not in targets:
                targets.append((target, fmt))
    return targets
