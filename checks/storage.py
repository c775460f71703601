"""storage.shared: every disk, backing file, NVRAM file and TPM state of a guest is reachable, as
the same bytes, from the destination. storage.cache_mode: libvirt's disk cache-mode rule."""

from __future__ import annotations

from preflight.derive.storage_location import actual_storage, fact_missing
from preflight.engine.registry import check, failed, passed, skipped, undecided
from preflight.facts.mountinfo import CLUSTER_FS_TYPES, SHARED_FS_TYPES, find_mount
from preflight.facts.qemu_img import URL_PROTOCOLS, image_url
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, LIBVIRT_MIGRATION, QEMU_MIGRATION_C, unparsed, where
from ._storage import (block_verdict, chain_findings, copied, network_verdict, nvram_verdict, path_verdict, skipped_disk, tpm_verdict,
                       volume_findings)

__all__ = ["shared_storage", "cache_mode", "LIBVIRT_CACHE_REFUSAL"]

LIBVIRT_CACHE_REFUSAL = "Migration may lead to data corruption if disks use cache other than none or directsync"
# libvirt's virFileIsClusterFS also counts CephFS and GlusterFS's FUSE client as coherent cluster file
# systems (measured in the lab on libvirt 9.0.0: a cache='writeback' disk on fuse.glusterfs live-migrates
# although the source QEMU lacks migration-file-drop-cache). Older libvirt knew only GFS2/OCFS2: there the
# drop-cache rule still applies (fail closed).
COHERENT_FS_SINCE = {"ceph": 9000000, "fuse.glusterfs": 9000000}


def _disk_findings(disk, ctx) -> list:
    what = f"disk {disk.target}"
    flags = ctx.cluster.migrate_flags
    if copied(disk, flags):
        # qemuMigrationSrcIsSafe: "Disks which are migrated by qemu are safe too"; storage.copy_storage
        # judges whether the destination can take the copy. copy-storage-inc copies the top image only.
        head = passed(f"{what}: copied by the planned --{'copy-storage-all' if 'copy-storage-all' in flags else 'copy-storage-inc'} "
                      f"(libvirt does not require it shared; see storage.copy_storage)", disk=disk.target,
                      observed=disk.label)
        if "copy-storage-all" in flags or disk.type != "file":
            return [head]
        return [head, *chain_findings(disk, disk.path, ctx)]     # the backing chain stays where it is
    if disk.empty:
        return [skipped(f"{disk.device} {disk.target} is empty: nothing to share", disk=disk.target)]
    if disk.type == "network":
        head = network_verdict(disk, ctx)
        asked = disk.protocol in URL_PROTOCOLS and disk.hosts and not disk.has_auth   # qemu-img by URL
        image = image_url(disk.protocol, disk.hosts[0].name, disk.name) if asked else disk.label
        return [head, *chain_findings(disk, image, ctx)]      # else libvirt's <backingStore>; qcow2 unknown: ERROR
    if disk.type in ("file", "dir"):
        head = path_verdict(disk.path, ctx, what, disk.target, readonly=disk.readonly)
        return [head] if disk.type == "dir" else [head, *chain_findings(disk, disk.path, ctx)]
    if disk.type == "block":
        return [block_verdict(disk.path, ctx, f"{what} ({disk.device})", disk.target)]
    if disk.type == "volume":
        return volume_findings(disk, ctx)
    if disk.type == "nvme":
        return [failed(f"{what}: an NVMe disk is host-local (libvirt: unsafe)", observed=disk.label, disk=disk.target)]
    return [undecided(f"{what}: {disk.type} disk {disk.label}: preflight cannot prove the destination sees "
                      "the same storage", observed=disk.label, disk=disk.target)]


@check(
    id="storage.shared", title="Every disk is on storage the destination sees as the same bytes",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION,
    requires=("domains", "mounts"),
    verifies="Per disk, backing file, NVRAM file and TPM state: a file image (also cdrom/floppy images and "
             "every file of its qcow2 backing chain, from the live XML's <backingStore> libvirt built, else "
             "qemu-img -f FORMAT; raw and ISO images are never probed) lives on a file "
             "system libvirt treats as shared, and the destination has the same share (same type, server, "
             "export) mounted at the same mount point, writable if the disk is; network disks do not point at "
             "the source host itself; block disks resolve to the same LUN (multipath WWID, WWN or serial) "
             "under the same path on both hosts; pool volumes resolve through the pool, which the destination "
             "must define with the same source; a local NVRAM file is a warning (libvirt does not copy it); "
             "swtpm state is local by design. Anything that cannot be resolved is undecided.",
    rationale="Live migration copies memory, not disks: the destination QEMU opens every disk and backing "
              "file by the same path. Local storage makes libvirt refuse ('Migration without shared storage "
              "is unsafe'); a missing mount or backing file makes QEMU fail on the destination; a different "
              "share, LUN or pool behind the same name lets the migration 'succeed' onto the wrong bytes.",
    remediation="Put the disk image and its backing files on shared storage mounted identically on every host "
                "(e.g. `mount -t nfs4 nas:/vol0 /srv/vmstore` via /etc/fstab on all hypervisors), or move the "
                "disk to a network disk (NFS/iSCSI/RBD) that names a server reachable from all hosts; for block "
                "disks present the same LUN on every host under a stable name (/dev/disk/by-id/wwn-..., "
                "/dev/mapper/<alias> with the same multipath alias); define storage pools with the same name and "
                "source on every host (`virsh pool-dumpxml P` | `virsh pool-define`). Rebase a qcow2 onto a "
                "shared base with `qemu-img rebase`. For a one-off move of local disks use "
                "`virsh migrate --copy-storage-all`.",
    references=(LIBVIRT_MIGRATION, LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms",
                "https://gitlab.com/libvirt/libvirt/-/blob/master/src/util/virfile.c",
                "https://libvirt.org/storage.html", "https://libvirt.org/kbase/backing_chains.html"),
)
def shared_storage(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    dom = ctx.domain
    findings = [f for disk in dom.disks for f in _disk_findings(disk, ctx)]
    if dom.nvram:
        findings.append(nvram_verdict(dom, ctx))
    findings.extend(tpm_verdict(t, ctx) for t in dom.tpms)
    return findings or passed("the domain has no disks, NVRAM or TPM state", observed="no <disk> elements")


def _version(n: int) -> str:
    return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"


def _cache_finding(disk, ctx):
    """One disk judged as the source libvirt's qemuMigrationSrcIsSafe judges it."""
    host, dom = ctx.host, ctx.domain
    if disk.empty or disk.readonly:
        return skipped_disk(disk, "empty or read-only: libvirt skips it")
    if copied(disk, ctx.cluster.migrate_flags):
        return skipped_disk(disk, "copied by the planned --copy-storage-*: libvirt skips the cache rule for "
                                  "disks QEMU migrates")
    kind, path, why = actual_storage(disk, host)
    coherent = None
    if kind is None:
        return undecided(f"disk {disk.target}: cannot resolve it: {why}", disk=disk.target)
    if kind == "network":
        return passed(f"disk {disk.target}: network disk, exempt from the cache rule", disk=disk.target,
                      observed=f"cache={disk.cache or 'default'}")
    if kind == "nvme":
        return skipped_disk(disk, "NVMe: refused as non-shared storage (storage.shared)")
    if kind == "file":
        m = find_mount(host.mounts, path)
        if m is None:
            return undecided(f"disk {disk.target}: no mount found for {path}", disk=disk.target)
        if m.fstype not in SHARED_FS_TYPES:
            return skipped_disk(disk, f"{path} is on local {m.fstype}: libvirt refuses it as non-shared storage "
                                      "first (storage.shared)")
        if m.fstype in CLUSTER_FS_TYPES:
            return passed(f"disk {disk.target}: {path} is on the cluster file system {m.fstype}, safe with any "
                          "cache mode", disk=disk.target, observed=f"cache={disk.cache or 'default'}")
        if m.fstype in COHERENT_FS_SINCE:
            coherent = m.fstype
    ev = dict(disk=disk.target, observed=f"cache={disk.cache or 'default (writeback)'}",
              expected="cache=none or directsync, or a QEMU that drops the page cache on migration")
    if disk.shareable or disk.cache in ("none", "directsync"):
        return passed(f"disk {disk.target}: " + ("shareable" if disk.shareable else f"cache={disk.cache}"),
                      source=where(host, "domain XML <driver cache>"), **ev)
    missing = fact_missing(host, "qemu_caps")
    caps = host.qemu_caps.get(dom.emulator) if dom.emulator else None
    if caps is None:
        why = missing or (f"no capabilities cache entry for {dom.emulator}" if dom.emulator
                          else "the domain XML names no <emulator>")
        return undecided(f"disk {disk.target}: cache={disk.cache or 'default'}; whether QEMU can drop the page "
                         f"cache on migration is unknown: {why}", **ev)
    ev["source"] = where(host, f"{caps.cache_file} (libvirt QEMU capabilities cache)")
    if coherent and (caps.libvirt_version or 0) >= COHERENT_FS_SINCE[coherent]:
        return passed(f"disk {disk.target}: cache={disk.cache or 'default'} on {coherent}, which libvirt "
                      f"{_version(caps.libvirt_version)} treats as a coherent cluster file system (virFileIsClusterFS): "
                      "safe with any cache mode", **ev)
    if caps.drop_cache:
        return passed(f"disk {disk.target}: cache={disk.cache or 'default'}, allowed because {dom.emulator} "
                      "drops the page cache on migration (libvirt capability migration-file-drop-cache)", **ev)
    return failed(f"disk {disk.target}: libvirt refuses: \"{LIBVIRT_CACHE_REFUSAL}\" ({dom.emulator} lacks "
                  "migration-file-drop-cache)", **ev)


@check(
    id="storage.cache_mode", title="Disk cache modes are ones libvirt accepts for live migration",
    category="storage", severity=Severity.CRITICAL, scope=Scope.DOMAIN,
    requires=("domains", "mounts"),
    verifies="Per writable, non-empty disk, the rule of the source libvirt (qemuMigrationSrcIsSafe): network "
             "disks, shareable disks, cache none/directsync and files on a cluster file system (GFS2, OCFS2; "
             "with libvirt 9.0 or newer also GlusterFS FUSE and CephFS) are safe; any other cache mode (the default included) is safe only if the guest's QEMU has the "
             "migration-file-drop-cache capability in libvirt's QEMU capabilities cache "
             "(/var/cache/libvirt/qemu/capabilities). Disks on local storage are left to storage.shared.",
    rationale="With a host page cache in front of a disk, the destination could read stale data, so libvirt "
              "refuses such a migration ('Migration may lead to data corruption if disks use cache other than "
              "none or directsync') unless QEMU can drop the cache when it hands the disk over.",
    remediation="Set `<driver name='qemu' cache='none'/>` (or directsync) on the disk (`virsh edit`, takes effect "
                "at the next cold boot), or upgrade QEMU/libvirt so that libvirt detects migration-file-drop-cache "
                "(QEMU >= 4.0); only if you know the storage is coherent, `virsh migrate --unsafe`.",
    references=(QEMU_MIGRATION_C, "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_capabilities.c",
                LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms"),
)
def cache_mode(ctx):
    problem = unparsed(ctx.domain, ctx.host)
    if problem:
        return problem
    if not ctx.domain.disks:
        return skipped("the domain has no disks")
    return [_cache_finding(disk, ctx) for disk in ctx.domain.disks]
