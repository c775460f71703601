"""Network-disk servers: which TCP endpoints each hypervisor must reach for the guests'
``<disk type='network'>`` disks (iSCSI portals, Gluster volfile servers, NBD servers, Ceph
monitors, NFS servers, ...), and how their probe results are stored in the raw record.

The pair phase (preflight.facts.pairs) probes EVERY such endpoint of EVERY guest in the cluster
from EVERY hypervisor, in the same single probe exec per source that already carries the
migration-port probes (no extra round trip), and records the rows under
``hosts[NAME]["portal_probes"]``. Any hypervisor may become a guest's destination, so each one's
own view of each server is what storage.portal_reachable judges.

Record rows: ``{"protocol", "target", "port", "outcome", "detail", "elapsed_ms"}`` with outcome
one of answered / refused / timeout / unreachable / error / not_probed (refused by the probe policy,
preflight.facts.probe_guard: nothing was sent). The key is absent when no probes ran
(probes disabled, pair phase skipped, or a recording made before this existed): the check then
says ERROR, never PASS.
"""

from __future__ import annotations

from typing import Optional

from preflight.facts.xmlsafe import UnsafeXMLError, parse_xml

RAW_KEY = "portal_probes"

# TCP port(s) a QEMU block driver connects to when the disk's <host> gives no port.
# Ceph: msgr2 (3300) and legacy v1 (6789); a client needs either.
DEFAULT_PORTS = {
    "iscsi": (3260,),
    "gluster": (24007,),
    "nbd": (10809,),
    "rbd": (3300, 6789),
    "nfs": (2049,),
    "sheepdog": (7000,),
    "http": (80,),
    "https": (443,),
    "ftp": (21,),
    "ftps": (990,),
    "ssh": (22,),
    "vxhs": (9999,),
}


def ports_for(protocol: Optional[str], port) -> tuple:
    """The TCP port(s) to probe for one disk host: its own port, else the protocol default
    (() when there is none: such a host cannot be judged)."""
    if port:
        try:
            return (int(port),)
        except (TypeError, ValueError):
            return ()
    return DEFAULT_PORTS.get((protocol or "").lower(), ())


def network_disk_targets(hosts_raw: dict) -> list:
    """[{"protocol", "target", "port"}] for every TCP host of every network disk of every guest
    in the raw record's hypervisors (deduplicated on (target, port), sorted). Unparsable domain
    XML is skipped here: the checks report that domain as ERROR anyway."""
    seen: dict = {}
    for entry in (hosts_raw or {}).values():
        for dom in ((entry or {}).get("libvirt") or {}).get("domains") or ():
            xml = dom.get("xml")
            if not xml:
                continue
            try:
                root = parse_xml(xml, "domain XML")
            except UnsafeXMLError:
                continue
            for disk in root.findall("./devices/disk[@type='network']"):
                src = disk.find("source")
                if src is None:
                    continue
                protocol = (src.get("protocol") or "").lower()
                for h in src.findall("host"):
                    if (h.get("transport") or "tcp").lower() == "unix":
                        continue
                    name = (h.get("name") or "").strip()
                    if not name:
                        continue
                    for port in ports_for(protocol, h.get("port")):
                        seen.setdefault((name, port), protocol)
    return [{"protocol": proto, "target": name, "port": port}
            for (name, port), proto in sorted(seen.items())]


def parse_portal_probes(raw_host: dict):
    """hosts[...]["portal_probes"] -> ((target, port, protocol, outcome, detail), ...) or None
    (None = not probed)."""
    rows = raw_host.get(RAW_KEY)
    if rows is None:
        return None
    out = []
    for r in rows:
        try:
            port = int(r.get("port") or 0)
        except (TypeError, ValueError):
            port = 0
        out.append((str(r.get("target") or ""), port, r.get("protocol"), r.get("outcome") or "error",
                    r.get("detail")))
    return tuple(out)
