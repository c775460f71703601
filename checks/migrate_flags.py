"""The static dry-run of the migration the operator plans (`--migrate-flags`): what libvirt's begin and
prepare phases would refuse for those flags, replayed from the facts without touching the VM.

domain.migrate_flags   flag combinations and the QEMU/libvirt capabilities they need (per migration)
storage.copy_storage   with --copy-storage-*: which disks libvirt copies, and whether the destination can
                       take each copy (per disk)

The rules and their wording are libvirt's (src/qemu/qemu_migration.c qemuMigrationSrcBeginPhase,
qemuMigrationAnyCopyDisk, qemuMigrationDstPrecreateDisk; src/qemu/qemu_migration_params.c flag map;
src/libvirt-domain.c). A combination whose rule preflight does not know is undecided, never a pass.
"""

from __future__ import annotations

import posixpath
import re

from preflight.derive.source import where
from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
from preflight.model import Scope, Severity

from ._common import LIBVIRT_MIGRATION, QEMU_MIGRATION_C, unparsed
from ._storage import copied, path_verdict

QEMU_MIGRATION_PARAMS_C = "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_migration_params.c"
LIBVIRT_DOMAIN_C = "https://gitlab.com/libvirt/libvirt/-/blob/master/src/libvirt-domain.c"
VIRSH_MIGRATE = "https://libvirt.org/manpages/virsh.html#migrate"

NO_FLAGS = "no --migrate-flags given: the other checks judge a plain `virsh migrate --live`"

# (rule id, condition over the flag set, libvirt's message, where libvirt says it)
_REFUSALS = (
    ("exclusive_copy", lambda f: "copy-storage-all" in f and "copy-storage-inc" in f,
     "Flags 'VIR_MIGRATE_NON_SHARED_DISK' and 'VIR_MIGRATE_NON_SHARED_INC' are mutually exclusive",
     "libvirt-domain.c virDomainMigrate*: VIR_EXCLUSIVE_FLAGS"),
    ("exclusive_live_offline", lambda f: "offline" in f and "live" in f,
     "Options --live and --offline are mutually exclusive", "virsh migrate"),
    ("tunnelled_p2p", lambda f: "tunnelled" in f and "p2p" not in f,
     "cannot perform tunnelled migration without using peer2peer flag", "libvirt-domain.c virDomainMigrate"),
    ("postcopy_live", lambda f: "postcopy" in f and ("live" not in f or "suspend" in f),
     "post-copy migration is not supported with non-live or paused migration",
     "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("postcopy_tunnelled", lambda f: "postcopy" in f and "tunnelled" in f,
     "post-copy is not supported with tunnelled migration", "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("offline_storage", lambda f: "offline" in f and f.copy_storage,
     "offline migration cannot handle non-shared storage", "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("offline_persistent", lambda f: "offline" in f and "persistent" not in f,
     "offline migration must be specified with the persistent flag set",
     "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("offline_tunnelled", lambda f: "offline" in f and "tunnelled" in f,
     "tunnelled offline migration does not make sense", "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("zerocopy_parallel", lambda f: "zerocopy" in f and "parallel" not in f,
     "zero-copy is only available for parallel migration", "qemu_migration.c qemuMigrationSrcBeginPhase"),
    ("storage_tunnelled", lambda f: f.copy_storage and "tunnelled" in f,
     "migration of non-shared storage is not supported with tunnelled migration and this QEMU",
     "qemu_migration.c qemuMigrationSrcBeginPhase"),
)

# combinations whose rule preflight has not replayed: undecided (fail closed)
_NOT_REPLAYED = (
    ("parallel_tunnelled", lambda f: "parallel" in f and "tunnelled" in f,
     "--parallel with --tunnelled: tunnelled migration carries one stream through libvirtd; whether this "
     "libvirt accepts multifd channels with it is not replayed"),
    ("postcopy_after", lambda f: "postcopy-after-precopy" in f and "postcopy" not in f,
     "--postcopy-after-precopy without --postcopy: virsh's handling is not replayed"),
    ("sync_writes", lambda f: "copy-storage-synchronous-writes" in f and not f.copy_storage,
     "--copy-storage-synchronous-writes without --copy-storage-*: not replayed"),
    ("rdma", lambda f: "rdma-pin-all" in f,
     "--rdma-pin-all needs an rdma:// migration URI and RDMA hardware, which preflight does not gather"),
    ("tls", lambda f: "tls" in f,
     "--tls needs QEMU's migration TLS certificates (qemu.conf migrate_tls_x509_cert_dir) on both hosts, "
     "which this check does not judge"),
)

# QEMU migration capabilities the flags require (qemu_migration_params.c qemuMigrationParamsFlagMap), with
# the QEMU release that has the capability under that name, and on which side(s) it must be
_CAPS = (
    ("postcopy", "postcopy-ram", (2, 6, 0), ("source", "destination")),
    ("parallel", "multifd", (4, 0, 0), ("source", "destination")),
    ("zerocopy", "zero-copy-send", (7, 1, 0), ("source",)),
)
_LIBVIRT_SINCE = {"parallel": (5, 2, 0), "zerocopy": (8, 5, 0), "postcopy": (1, 3, 3), "tls": (3, 6, 0)}


def _version(text):
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    return tuple(int(x or 0) for x in m.groups()) if m else None


def _v(t) -> str:
    return ".".join(map(str, t))


def _capability_findings(flags, ctx) -> list:
    out = []
    hosts = {"source": ctx.source, "destination": ctx.destination}
    for flag, cap, since, sides in _CAPS:
        if flag not in flags:
            continue
        for side in sides:
            host = hosts[side]
            have = _version(host.qemu_version)
            src = where(host, "QEMU version (virConnectGetVersion)")
            if have is None:
                out.append(undecided(f"--{flag} needs QEMU's '{cap}' migration capability on {host.name}, whose "
                                     f"QEMU version is unknown", source=src, item=f"{flag}@{side}"))
            elif have < since:
                out.append(failed(f"--{flag}: QEMU {host.qemu_version} on {host.name} has no '{cap}' migration "
                                  f"capability (QEMU {_v(since)}+); libvirt: \"Migration option '{cap}' is not "
                                  f"supported by QEMU binary\"", observed=f"QEMU {host.qemu_version}",
                                  expected=f"QEMU >= {_v(since)}", source=src, item=f"{flag}@{side}"))
    for flag, since in _LIBVIRT_SINCE.items():
        if flag in flags:
            for host in (ctx.source, ctx.destination):
                have = _version(host.libvirt_version)
                if have is not None and have < since:
                    out.append(failed(f"--{flag}: libvirt {host.libvirt_version} on {host.name} predates the flag "
                                      f"(libvirt {_v(since)})", observed=f"libvirt {host.libvirt_version}",
                                      expected=f"libvirt >= {_v(since)}", item=f"{flag}-libvirt@{host.name}"))
    if "postcopy" in flags:
        # QEMU refuses the post-copy capability at migrate-set-capabilities without userfaultfd
        # (migration/postcopy-ram.c postcopy_ram_supported_by_host): not gathered
        out.append(undecided(f"--postcopy: QEMU enables 'postcopy-ram' only where the kernel's userfaultfd is "
                             f"usable by QEMU's user on {ctx.source.name} and {ctx.destination.name} "
                             f"(vm.unprivileged_userfaultfd or /dev/userfaultfd); preflight does not gather it",
                             item="postcopy-userfaultfd"))
    return out


@check(
    id="domain.migrate_flags", title="libvirt accepts the planned migration flags (--migrate-flags)",
    category="domain", severity=Severity.HIGH, scope=Scope.MIGRATION, requires=("domains",),
    verifies="With --migrate-flags: the flag combination is one libvirt's begin phase accepts (copy-storage-all "
             "with copy-storage-inc, live with offline, tunnelled without p2p, post-copy non-live/paused or "
             "tunnelled, offline with copy-storage/tunnelled or without persistent, zero-copy without "
             "parallel, copy-storage with tunnelled are refused), and the QEMU and libvirt of both hosts "
             "have the capabilities the flags need (post-copy: postcopy-ram, QEMU 2.6; parallel: multifd, "
             "QEMU 4.0, libvirt 5.2; zero-copy: zero-copy-send, QEMU 7.1, libvirt 8.5). Combinations whose "
             "rule is not replayed (parallel with tunnelled, TLS certificates, RDMA, post-copy's "
             "userfaultfd, the source libvirtd's own connection with --p2p) are undecided. --undefinesource without --persistent is a warning. Without "
             "--migrate-flags it is skipped.",
    rationale="libvirt refuses these before a byte moves, with the messages quoted; a capability missing on "
              "one side fails when libvirt sets the migration capabilities on the source or destination QEMU "
              "('Migration option ... is not supported by QEMU binary'). A change window planned around "
              "flags libvirt will refuse is a window lost.",
    remediation="Drop or change the refused flag (the message names it): tunnelled needs --p2p; post-copy "
                "needs --live and no --tunnelled; offline migration needs --persistent and no storage copy or "
                "tunnel; zero-copy needs --parallel; copying storage cannot be tunnelled. Upgrade QEMU/libvirt "
                "where a capability is missing.",
    references=(QEMU_MIGRATION_C, QEMU_MIGRATION_PARAMS_C, LIBVIRT_DOMAIN_C, VIRSH_MIGRATE),
)
def migrate_flags(ctx):
    flags = ctx.cluster.migrate_flags
    if flags is None:
        return skipped(NO_FLAGS)
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    planned = f"virsh migrate {flags.text()}"
    out = [failed(f"{planned}: libvirt refuses it: \"{msg}\" ({origin})", observed=planned, expected="accepted",
                  item=rule) for rule, cond, msg, origin in _REFUSALS if cond(flags)]
    out += [undecided(f"{planned}: {why}", observed=planned, item=rule)
            for rule, cond, why in _NOT_REPLAYED if cond(flags)]
    out += _capability_findings(flags, ctx)
    if "p2p" in flags:
        # measured on the lab: the source libvirtd could not open the destination URI ("End of file while
        # reading data: : Input/output error") although the operator's own connection works
        out.append(undecided(f"{planned}: with --p2p {ctx.source.name}'s libvirtd opens {ctx.destination.name}'s "
                             f"URI itself, with its own credentials (root's SSH key and known_hosts on "
                             f"{ctx.source.name}); preflight does not test that connection", item="p2p_credentials"))
    if "undefinesource" in flags and "persistent" not in flags and "offline" not in flags:
        out.append(warned(f"{planned}: --undefinesource without --persistent removes {ctx.domain.name}'s "
                          f"definition from {ctx.source.name} and leaves it transient on {ctx.destination.name}: "
                          "it is gone after its next shutdown", observed=planned, item="undefine_transient"))
    return out or passed(f"{planned}: libvirt's begin phase accepts these flags and both hosts have what they "
                         "need", observed=planned)


# --- storage copy -----------------------------------------------------------------------------


def _pool_for(host, directory):
    return next((p for p in (host.pools or {}).values()
                 if p.active and p.target_path and posixpath.normpath(p.target_path) == directory), None)


def _copy_finding(disk, flags, ctx):
    what = f"disk {disk.target}"
    kind = "--copy-storage-all" if "copy-storage-all" in flags else "--copy-storage-inc"
    if not copied(disk, flags):
        why = "shareable" if disk.shareable else "read-only" if disk.readonly else "empty"
        return passed(f"{what} is {why}: libvirt does not copy it", disk=disk.target)
    dst = ctx.destination
    if disk.type == "file":
        here = path_verdict(disk.path, ctx, what, disk.target, readonly=disk.readonly)
        if here.status.value == "pass":
            # measured on the lab (libvirt 9.0, QEMU 7.2, a GlusterFS FUSE mount): the destination QEMU holds
            # the shared image inactive and refuses to export it for the copy
            return failed(f"{what}: {disk.path} is on storage shared with {dst.name} and {kind} copies every "
                          f"non-shareable writable disk (qemuMigrationAnyCopyDisk): the destination QEMU cannot "
                          f"export its own (inactive) open of the same image for the copy (QEMU: "
                          f"\"'block-export-add': Block node is read-only\"); name only the local disks with "
                          f"--migrate-disks, or drop the storage copy",
                          observed=here.message, expected="only local disks copied", disk=disk.target)
        if "pools" in (dst.fact_errors or {}):
            return undecided(f"{what}: {dst.name}'s storage pools are unknown ({dst.fact_errors['pools']}); "
                             f"libvirt creates the copy's file in the pool whose target is its directory",
                             disk=disk.target)
        directory = posixpath.dirname(posixpath.normpath(disk.path))
        pool = _pool_for(dst, directory)
        src = where(dst, "virConnectListAllStoragePools")
        if pool is None:
            return failed(f"{what}: {dst.name} has no active storage pool with target {directory}, so libvirt "
                          f"cannot create the copy of {disk.path} there: \"no storage pool with matching target "
                          f"path '{directory}'\" (qemuMigrationDstPrecreateDisk), unless the file already exists "
                          f"there", observed="no such pool", expected=f"an active pool with target {directory}",
                          source=src, disk=disk.target)
        return passed(f"{what}: libvirt creates the copy of {disk.path} in {dst.name}'s pool {pool.name} "
                      f"({directory})", observed=f"pool {pool.name}", source=src, disk=disk.target)
    if disk.type == "volume":
        pool = (dst.pools or {}).get(disk.pool)
        if "pools" in (dst.fact_errors or {}):
            return undecided(f"{what}: {dst.name}'s storage pools are unknown", disk=disk.target)
        if pool is None or not pool.active:
            return failed(f"{what}: {dst.name} has no active pool {disk.pool!r} to create the copy of volume "
                          f"{disk.volume} in (qemuMigrationDstPrecreateDisk looks the pool up by name)",
                          observed="no such pool", expected=f"pool {disk.pool}", disk=disk.target)
        return passed(f"{what}: libvirt creates volume {disk.volume} in {dst.name}'s pool {disk.pool}",
                      disk=disk.target)
    if disk.type == "network":
        # measured on the lab (libvirt 9.0, QEMU 7.2): completes; QEMU mirrors the disk into the destination's
        # NBD export of the same NFS file / iSCSI LUN, i.e. every byte is copied onto itself
        return warned(f"{what}: a network disk ({disk.label}) names the same server from every host, yet {kind} "
                      f"copies it (qemuMigrationAnyCopyDisk): the whole disk crosses the network to be written "
                      f"onto itself; name only the local disks with --migrate-disks",
                      observed=disk.label, expected="only local disks copied", disk=disk.target)
    return undecided(f"{what}: a {disk.type} disk with {kind}: libvirt mirrors it only onto an existing device "
                     f"of the same path on {dst.name} (\"cannot precreate storage for disk type '{disk.type}'\"), "
                     "which this check does not judge", observed=disk.label, disk=disk.target)


@check(
    id="storage.copy_storage", title="The disks a planned --copy-storage-* copies can be copied to the destination",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "mounts", "pools"),
    verifies="With --migrate-flags copy-storage-all or copy-storage-inc, per disk libvirt would copy (every disk "
             "not <shareable/>, not read-only and with a source: qemuMigrationAnyCopyDisk's default): a local "
             "file disk needs an active pool on the destination whose target path is the image's directory "
             "(libvirt precreates the copy there: 'no storage pool with matching target path'); a volume disk "
             "needs the pool of that name; a file disk already on storage shared with the destination is refused "
             "by the destination QEMU (a FAIL: 'Block node is read-only'); a network disk is copied onto itself "
             "(a WARN: it completes, sending the whole disk). Block and other disks are undecided. Skipped "
             "without a --copy-storage-* flag.",
    rationale="Storage migration copies the disks over NBD into images the destination libvirt creates "
              "first; where it cannot create them the migration fails in the prepare phase, and copying a "
              "shared image onto itself destroys what the guest wrote.",
    remediation="Define a storage pool on the destination for the image's directory (`virsh pool-define-as "
                "images dir --target /var/lib/libvirt/images && virsh pool-start images`), or pre-create the "
                "image there; pass `--migrate-disks vda,...` naming only the local disks when others are shared.",
    references=(QEMU_MIGRATION_C, LIBVIRT_MIGRATION, VIRSH_MIGRATE, "https://libvirt.org/storage.html"),
)
def copy_storage(ctx):
    flags = ctx.cluster.migrate_flags
    if flags is None or not flags.copy_storage:
        return skipped("no --copy-storage-* planned (storage.shared judges the migration without a storage copy)")
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    findings = [_copy_finding(d, flags, ctx) for d in ctx.domain.disks]
    return findings or passed("the domain has no disks to copy")
