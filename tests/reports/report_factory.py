"""A RunReport built in code: three reachable hosts and one unreachable, every status and verdict.

Used by the renderer tests and to produce the sample HTML (python tests/reports/report_factory.py OUT).
"""

from __future__ import annotations

import sys

from preflight.model import Evidence, HostSummary, Migration, Result, RunReport, Status, Verdict

HOSTILE = "<script>alert(1)</script>"

CHECKS = [
    {
        "id": "host.libvirt_version", "title": "libvirt and QEMU versions are compatible",
        "category": "host", "severity": "high", "scope": "pair",
        "remediation": "Upgrade libvirt and QEMU on the destination to at least the source's version "
                       "(apt install libvirt-daemon-system qemu-system-x86).",
        "rationale": "A destination with an older QEMU may not accept the machine type or device state "
                     "of a VM started on a newer one.",
        "verifies": "The destination runs a libvirt and QEMU at least as new as the source.",
        "references": ["https://libvirt.org/migration.html"], "origin": "built-in",
    },
    {
        "id": "cpu.model_compatible", "title": "Destination CPU offers every feature the VM uses",
        "category": "cpu", "severity": "critical", "scope": "migration",
        "remediation": "Give the VM a CPU model every host supports (e.g. <cpu mode='custom'><model>"
                       "Haswell-noTSX</model></cpu>), or keep it on hosts with the same CPU generation.",
        "rationale": "A VM cannot continue on a CPU that lacks an instruction it was already using.",
        "verifies": "virConnectCompareCPU of the VM's CPU definition on the destination.",
        "references": ["https://libvirt.org/formatdomain.html#cpu-model-and-topology",
                       "javascript:alert(2)"], "origin": "built-in",
    },
    {
        "id": "storage.shared_disks", "title": "Every disk is on storage the destination can reach",
        "category": "storage", "severity": "critical", "scope": "migration",
        "remediation": "Move the disk to the shared NFS pool, or migrate with --copy-storage-all "
                       "during a maintenance window.",
        "rationale": "Without shared storage live migration must copy the disk as well.",
        "verifies": "Each disk's path is on a filesystem mounted identically on both hosts.",
        "references": [], "origin": "built-in",
    },
    {
        "id": "network.bridges_present", "title": "Every bridge the VM uses exists on the destination",
        "category": "network", "severity": "high", "scope": "migration",
        "remediation": "Create the bridge on the destination with the same name.",
        "rationale": "libvirt refuses to start the incoming VM when a bridge is missing.",
        "verifies": "ip -j link on the destination lists the bridges of the VM's interfaces.",
        "references": [], "origin": "built-in",
    },
    {
        "id": "domain.no_host_devices", "title": "VM has no passed-through host devices",
        "category": "domain", "severity": "medium", "scope": "domain",
        "remediation": "Detach the PCI/USB host device before migrating.",
        "rationale": "A device passed through from the host cannot move with the VM.",
        "verifies": "The domain XML has no <hostdev> element.",
        "references": [], "origin": "built-in",
    },
    {
        "id": "memory.destination_free", "title": "Destination has enough free memory",
        "category": "memory", "severity": "medium", "scope": "migration",
        "remediation": "Free memory on the destination or pick another host.",
        "rationale": "An incoming VM that does not fit is refused or triggers the OOM killer.",
        "verifies": "MemAvailable on the destination is above the VM's current memory plus 10%.",
        "references": [], "origin": "plugin acme",
    },
]


def _r(check, status, subject, message, host=None, observed=None, expected=None, source=None,
       details=None, **kw):
    return Result(check=check, status=Status(status), subject=subject, message=message, host=host,
                  evidence=Evidence(observed=observed, expected=expected, source=source,
                                    details=details or {}), **kw)


def make_report() -> RunReport:
    hosts = [
        HostSummary(name="hv1", reachable=True, round_trips=3, libvirt_calls=12, pair_round_trips=2,
                    address="10.0.0.11", hostname="hv1.lab.example", libvirt_version="9.0.0",
                    qemu_version="7.2.0", domains=3),
        HostSummary(name="hv2", reachable=True, round_trips=3, libvirt_calls=8, pair_round_trips=2,
                    address="10.0.0.12", hostname="hv2.lab.example", libvirt_version="9.0.0",
                    qemu_version="7.2.0", domains=1),
        HostSummary(name="hv3", reachable=True, round_trips=4, libvirt_calls=8, pair_round_trips=2,
                    address="10.0.0.13", hostname="hv3.lab.example", libvirt_version="8.0.0",
                    qemu_version="6.2.0", domains=0),
        HostSummary(name="hv4", reachable=False,
                    error="ssh: connect to host 10.0.0.14 port 22: Connection timed out",
                    address="10.0.0.14"),
    ]
    results = [
        _r("host.libvirt_version", "pass", "hv1 -> hv2", "hv2 runs libvirt 9.0.0 / QEMU 7.2.0",
           host="hv1", observed="9.0.0 / 7.2.0", expected=">= 9.0.0 / 7.2.0",
           source="hv2: virsh version"),
        _r("host.libvirt_version", "fail", "hv1 -> hv3",
           "hv3 runs QEMU 6.2.0, older than the source's 7.2.0",
           host="hv1", observed="libvirt 8.0.0 / QEMU 6.2.0", expected=">= libvirt 9.0.0 / QEMU 7.2.0",
           source="hv3: virsh version"),
        _r("host.libvirt_version", "error", "hv1 -> hv4", "hv4 could not be reached",
           host="hv1", source="hv4: ssh", details={"error": "Connection timed out"}),
        _r("cpu.model_compatible", "pass", "web01: hv1 -> hv2", "CPU identical", host="hv1",
           observed="identical", expected="identical or superset",
           source="hv2: virConnectCompareCPU", domain="web01"),
        _r("cpu.model_compatible", "fail", "db01: hv1 -> hv2",
           "hv2 lacks avx512f, avx512dq used by db01", host="hv1",
           observed="host-model Icelake-Server; missing: avx512f, avx512dq",
           expected="all features of the VM's CPU present",
           source="hv2: virConnectCompareCPU",
           details={"missing_features": ["avx512f", "avx512dq"], "vm_cpu_mode": "host-model",
                    "cpu_xml": "<cpu mode='host-model'>\n  <model>Icelake-Server</model>\n"
                               "  <feature policy='require' name='avx512f'/>\n</cpu>"},
           domain="db01"),
        _r("cpu.model_compatible", "fail", HOSTILE + ": hv1 -> hv2",
           "hv2 lacks pdpe1gb used by " + HOSTILE, host="hv1",
           observed="pdpe1gb missing", expected="pdpe1gb", source="hv2: virConnectCompareCPU",
           domain=HOSTILE),
        _r("storage.shared_disks", "fail", "db01: hv1 -> hv2",
           "disk vda is on local storage /var/lib/libvirt/images", host="hv1",
           observed="/var/lib/libvirt/images/db01.qcow2 on ext4 (local)",
           expected="a filesystem mounted on both hosts (nfs, ceph, gluster)",
           source="hv1: /proc/self/mountinfo", domain="db01", disk="vda",
           details={"vnc_password": "hunter2", "storage_secret": "c2VjcmV0",
                    "passwd": "letmein", "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
                    "keymap": "en-us", "pool": "default",
                    "remediation": "virsh blockcopy db01 vda /mnt/vms/db01.qcow2 --pivot"}),
        _r("storage.shared_disks", "pass", "web01: hv1 -> hv2", "all disks on NFS share /mnt/vms",
           host="hv1", observed="/mnt/vms (nfs4)", expected="shared filesystem",
           source="hv1: /proc/self/mountinfo", domain="web01"),
        _r("storage.shared_disks", "skip", "app01: hv2 -> hv1", "VM has no disk (PXE boot)",
           host="hv2", domain="app01"),
        _r("network.bridges_present", "warn", "web01: hv1 -> hv2",
           "bridge br-dmz exists but is down on hv2", host="hv1",
           observed="br-dmz state DOWN", expected="br-dmz state UP", source="hv2: ip -j link",
           domain="web01"),
        _r("domain.no_host_devices", "pass", "web01", "no host devices", host="hv1",
           observed="0 hostdev", expected="0 hostdev", source="hv1: virsh dumpxml web01",
           domain="web01"),
        _r("domain.no_host_devices", "skip", "app01", "not applicable", host="hv2", domain="app01"),
        _r("memory.destination_free", "error", "app01: hv2 -> hv3",
           "could not read /proc/meminfo on hv3", host="hv2",
           source="hv3: cat /proc/meminfo", details={"exit_status": 1, "stderr": "Permission denied"},
           domain="app01"),
    ]
    # results that concern a migration or a host pair carry source and destination
    fixed = []
    for r in results:
        pair = r.subject.rsplit(": ", 1)[-1]
        if " -> " in pair:
            src, dst = pair.split(" -> ")
            r = Result(**{**r.__dict__, "source": src, "destination": dst})
        fixed.append(r)

    def m(domain, src, dst, verdict, blockers=(), undecided=(), warnings=(), reasons=()):
        return Migration(domain=domain, source=src, destination=dst, verdict=Verdict(verdict),
                         blockers=tuple(blockers), undecided=tuple(undecided),
                         warnings=tuple(warnings), reasons=tuple(reasons))

    migrations = [
        m("web01", "hv1", "hv2", "warn", warnings=["network.bridges_present"],
          reasons=["network.bridges_present (warning): bridge br-dmz exists but is down on hv2"]),
        m("web01", "hv1", "hv3", "fail", blockers=["host.libvirt_version"],
          reasons=["host.libvirt_version: hv3 runs QEMU 6.2.0, older than the source's 7.2.0"]),
        m("web01", "hv1", "hv4", "unknown", undecided=["host.reachable"],
          reasons=["destination hv4 could not be checked: ssh: connect to host 10.0.0.14 port 22: "
                   "Connection timed out"]),
        m("db01", "hv1", "hv2", "fail", blockers=["cpu.model_compatible", "storage.shared_disks"],
          reasons=["cpu.model_compatible: hv2 lacks avx512f, avx512dq used by db01",
                   "storage.shared_disks: disk vda is on local storage /var/lib/libvirt/images"]),
        m("db01", "hv1", "hv3", "fail", blockers=["host.libvirt_version"]),
        m("db01", "hv1", "hv4", "unknown", undecided=["host.libvirt_version"]),
        m(HOSTILE, "hv1", "hv2", "fail", blockers=["cpu.model_compatible"]),
        m(HOSTILE, "hv1", "hv3", "fail", blockers=["host.libvirt_version"]),
        m(HOSTILE, "hv1", "hv4", "unknown", undecided=["host.libvirt_version"]),
        m("app01", "hv2", "hv1", "pass"),
        m("app01", "hv2", "hv3", "unknown", undecided=["memory.destination_free"],
          reasons=["memory.destination_free: could not read /proc/meminfo on hv3"]),
        m("app01", "hv2", "hv4", "unknown", undecided=["host.libvirt_version"]),
    ]
    return RunReport(cluster="lab-east", started="2026-11-26T02:50:01Z",
                     finished="2026-11-26T02:50:09Z", tool_version="0.1.0", hosts=hosts,
                     results=fixed, migrations=migrations, checks=CHECKS,
                     selection={"only": [], "skip": ["nfs.mount_options"]}, source="live",
                     domains=make_domains())


NFS_MOUNT = {"fstype": "nfs4", "source": "nas:/vol0", "mountpoint": "/mnt/vms", "root": "/",
             "readonly": False, "server": "nas", "export": "/vol0"}
EXT4_MOUNT = {"fstype": "ext4", "source": "/dev/sda2", "mountpoint": "/", "root": "/", "readonly": False}
WWID = "6001405aaaabbbbccccddddeeeeffff0"


def _ident(state, text, **kw):
    return {"state": state, "text": text, **kw}


def _dest(host, identity, verdict, reason, results):
    return {"host": host, "identity": identity, "verdict": verdict, "reason": reason,
            "results": [{"check": c, "status": s} for c, s in results]}


def _disk(target, source, kind, identity, destinations, *, type="file", device="disk", fmt="qcow2",
          backing=(), backing_note=None):
    return {"target": target, "device": device, "type": type, "source": source, "format": fmt,
            "cache": "none", "readonly": False, "shareable": False, "kind": kind, "identity": identity,
            "backing": list(backing), "backing_note": backing_note, "destinations": destinations}


def make_domains() -> list:
    """The disk inventory of the same run (preflight.engine.disks shape)."""
    nfs = _ident("found", "nfs4 nas:/vol0 at /mnt/vms", mount=NFS_MOUNT)
    unreachable = _ident("unknown", "hv4 could not be reached")
    down = ("unknown", "destination hv4 could not be checked: ssh: connect to host 10.0.0.14 port 22: "
                       "Connection timed out")
    web_vda = _disk("vda", "/mnt/vms/web01.qcow2", "file on nfs4 nas:/vol0", nfs, [
        _dest("hv2", nfs, "pass", "storage.shared_disks: all disks on NFS share /mnt/vms",
              [("storage.shared_disks", "pass")]),
        _dest("hv3", _ident("found", "ext4 /dev/sda2 at /", mount=EXT4_MOUNT), "fail",
              "storage.shared_disks: nas:/vol0 is not mounted at /mnt/vms on hv3",
              [("storage.shared_disks", "fail")]),
        _dest("hv4", unreachable, *down, []),
    ], backing=[{"path": "/mnt/vms/base/debian12.qcow2", "depth": 1, "identity": nfs,
                 "destinations": {"hv2": nfs, "hv3": _ident("found", "ext4 /dev/sda2 at /", mount=EXT4_MOUNT),
                                  "hv4": unreachable}}])
    web_cd = _disk("sda", "(no medium)", "empty cdrom drive", _ident("found", "no medium: nothing to share"), [
        _dest(h, _ident("found", "no medium: nothing to share"), "skip",
              "storage.shared_disks: cdrom sda is empty: nothing to share", [("storage.shared_disks", "skip")])
        for h in ("hv2", "hv3")] + [_dest("hv4", unreachable, *down, [])], device="cdrom", fmt="raw")
    local = _ident("found", "ext4 /dev/sda2 at /var/lib/libvirt",
                   mount={**EXT4_MOUNT, "mountpoint": "/var/lib/libvirt"})
    db_vda = _disk("vda", "/var/lib/libvirt/images/db01.qcow2", "local file on ext4", local, [
        _dest("hv2", local, "fail", "storage.shared_disks: disk vda is on local storage /var/lib/libvirt/images",
              [("storage.shared_disks", "fail")]),
        _dest("hv3", local, "unknown", "no storage check judged disk vda against hv3", []),
        _dest("hv4", unreachable, *down, []),
    ])
    lun = _ident("found", f"WWID {WWID} (dm-0, via multipath map)",
                 lun={"by": "wwid", "id": WWID, "device": "dm-0", "via": "multipath map"})
    app_vdb = _disk("vdb", "/dev/mapper/mpatha", "block multipath iSCSI LUN", lun, [
        _dest("hv1", lun, "pass", "storage.shared_disks: the same LUN on both hosts", [("storage.shared_disks", "pass")]),
        _dest("hv3", _ident("absent", "/dev/mapper/mpatha does not exist on hv3 (no multipath map of that name); "
                                      f"no device with WWID {WWID}"), "fail",
              "storage.shared_disks: LUN absent on hv3", [("storage.shared_disks", "fail")]),
        _dest("hv4", unreachable, *down, []),
    ], type="block", fmt="raw")
    hostile = _disk(HOSTILE, "/mnt/vms/" + HOSTILE + ".qcow2", "file on nfs4 nas:/vol0", nfs, [
        _dest("hv2", _ident("found", HOSTILE), "fail", "storage.shared_disks: " + HOSTILE,
              [("storage.shared_disks", "fail")]),
    ])
    return [
        {"domain": "db01", "host": "hv1", "error": None, "disks": [db_vda]},
        {"domain": "web01", "host": "hv1", "error": None, "disks": [web_vda, web_cd]},
        {"domain": HOSTILE, "host": "hv1", "error": None, "disks": [hostile]},
        {"domain": "app01", "host": "hv2", "error": None, "disks": [app_vdb]},
    ]


if __name__ == "__main__":
    from preflight.reports import render_html, write_atomically

    write_atomically(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sample-report.html",
                     render_html(make_report()))
