"""storage.qemu_write_access: QEMU's user on the destination may open the guest's writable images;
storage.disk_secrets: the libvirt secrets of authenticated network disks exist on the destination."""

from __future__ import annotations

import posixpath

from preflight.derive.access import (CHOWN_MAY_FAIL, directory_chain, find_secret, fmt_stat, may, on_shared,
                                     writable_file_disks)
from preflight.derive.storage_location import fact_missing
from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, unparsed, where

QEMU_DRIVER_DOC = "https://libvirt.org/drvqemu.html"
SECRET_DOC = "https://libvirt.org/formatsecret.html"
DAC_SRC = "https://gitlab.com/libvirt/libvirt/-/blob/master/src/security/security_dac.c"


def _from_write_test(disk, path, wt, ev):
    ev = dict(ev, source=ev["source"] + f" + --write-test as {wt.user}")
    image_ok = wt.images_writable.get(path)
    if image_ok is False:
        return failed(f"disk {disk.target}: as {wt.user}, {path} is not writable (access(2) W_OK, --write-test)",
                      observed="access W_OK denied", **ev)
    if wt.created:
        return passed(f"disk {disk.target}: --write-test created and removed a file in {wt.directory} as "
                      f"{wt.user}" + (" and the image is writable (access(2))" if image_ok else ""),
                      observed="create+delete ok", **ev)
    if image_ok and "ermission denied" in (wt.error or ""):
        return warned(f"disk {disk.target}: {path} is writable for {wt.user}, but creating a file in "
                      f"{wt.directory} was refused ({wt.error}); QEMU itself does not need that", observed=wt.error, **ev)
    return failed(f"disk {disk.target}: --write-test as {wt.user} in {wt.directory} failed: {wt.error}",
                  observed=wt.error, **ev)


def _judge(disk, path, ctx):
    src, dst = ctx.source, ctx.destination
    sm, dm, why = on_shared(path, src, dst)
    if why:
        return skipped(f"disk {disk.target}: {path}: {why}", disk=disk.target)
    cred = dst.qemu_cred
    ev = dict(disk=disk.target, source=where(src, f"stat -L {path} and its directories") + "; "
              + where(dst, "qemu.conf user/group, id, stat -L of the mount point"))
    if cred is None:
        return undecided(f"disk {disk.target}: the uid/gids QEMU runs as on {dst.name} are unknown: "
                         f"{fact_missing(dst, 'image_access') or 'not gathered'}", **ev)
    ev["expected"] = (f"QEMU on {dst.name} as {cred.user} (uid {cred.uid}, gids {','.join(map(str, cred.groups))}) "
                      "may search every directory and write the image")
    wt = (dst.write_tests or {}).get(posixpath.dirname(posixpath.normpath(path)))
    if wt is not None:
        return _from_write_test(disk, path, wt, ev)
    st = src.file_stats.get(posixpath.normpath(path))
    dirs, dwhy = directory_chain(path, src, dst, dm)
    if st is None or dirs is None:
        return undecided(f"disk {disk.target}: " + (dwhy or f"no stat of {path} on {src.name}: "
                         f"{fact_missing(src, 'image_access') or 'not gathered'}"), **ev)
    ev["observed"] = "; ".join(fmt_stat(s) for s in (st, *dirs))
    blocked = [d.path for d in dirs if not may(d, cred, 1)]
    if blocked:
        return failed(f"disk {disk.target}: QEMU ({cred.user}) on {dst.name} cannot search {', '.join(blocked)}", **ev)
    note = "" if may(dirs[0], cred, 2) else f" ({dirs[0].path} is not writable for it; QEMU does not create files there)"
    now_ok = may(st, cred, 2) and may(st, cred, 4)
    # dynamic_ownership: libvirt chowns the image to QEMU's uid:gid at start (never the mode)
    owned_ok = (cred.uid == 0 and cred.keeps_caps) or st.mode & 0o600 == 0o600
    if not cred.dynamic_ownership:
        if now_ok:
            return passed(f"disk {disk.target}: {path} is read-write for {cred.user} on {dst.name} as owned and "
                          f"moded now (dynamic_ownership = 0: libvirt leaves it so){note}", **ev)
        return failed(f"disk {disk.target}: QEMU ({cred.user}) on {dst.name} may not read and write {path} "
                      "(dynamic_ownership = 0: libvirt does not chown it)", **ev)
    if dm.fstype not in CHOWN_MAY_FAIL:
        if owned_ok:
            return passed(f"disk {disk.target}: libvirt (dynamic_ownership) chowns {path} to {cred.user} at start; "
                          f"its owner bits allow read-write{note}", **ev)
        return failed(f"disk {disk.target}: libvirt (dynamic_ownership) chowns {path} to {cred.user} at start, but "
                      "keeps the mode, whose owner bits lack read-write", **ev)
    if now_ok and owned_ok:
        return passed(f"disk {disk.target}: {path} is read-write for {cred.user} on {dst.name} whether or not "
                      f"libvirt's chown is allowed on this {dm.fstype}{note}", **ev)
    if now_ok or owned_ok:
        how = ("only if libvirt's chown to it is refused (it would keep the mode, whose owner bits lack "
               "read-write)" if now_ok else
               f"only after libvirt chowns it to {cred.user}, which {dm.fstype} may refuse (root_squash: see "
               "nfs.root_squash)")
        return warned(f"disk {disk.target}: {path} is read-write for {cred.user} on {dst.name} {how}", **ev)
    return failed(f"disk {disk.target}: QEMU ({cred.user}) on {dst.name} may not read and write {path}, "
                  "neither as owned now nor after libvirt's chown (which keeps the mode)", **ev)


@check(
    id="storage.qemu_write_access", title="QEMU's user on the destination may open the guest's writable images",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "mounts"),
    verifies="Per writable file image on shared storage (file disks, file-backed pool volumes): the user QEMU "
             "runs as on the destination (qemu.conf user/group, else the package default; uid, gid and "
             "supplementary groups from `id`/`getent` there) may search every directory on the way (the part at "
             "and above the mount point as the destination stats it, the shared part as the source stats it) "
             "and read and write the image by POSIX owner/group/other bits, judged WITHOUT writing. With "
             "dynamic_ownership = 1 libvirt chowns the image to that user at start (not the mode), so the "
             "owner bits decide; on NFS/CIFS that chown may be refused (root_squash), so there both the current "
             "and the post-chown permissions must allow it, else WARN (one of them) or FAIL (neither). A root QEMU is judged "
             "like any uid unless clear_emulator_capabilities = 0. With `preflight check --write-test` "
             "(intrusive, opt-in) the real outcome of a create-and-delete as QEMU's user in the image's "
             "directory, plus access(2) on the image, is the verdict. POSIX ACLs are not read.",
    rationale="The destination QEMU opens every disk itself, as its own unprivileged user: an image or a "
              "directory on the way that this uid cannot use makes the incoming guest fail to start ('Could not "
              "open ...: Permission denied') after memory transfer began; uids differing between hosts on shared "
              "storage make this per-destination.",
    remediation="Give QEMU's user the same uid/gid on every hypervisor (qemu.conf `user`/`group`; Debian "
                "`libvirt-qemu`), own the images by it (`chown libvirt-qemu:libvirt-qemu IMG; chmod 0600 IMG`) or "
                "keep dynamic_ownership = 1 on file systems that allow root's chown, and let it search the path "
                "(`chmod o+x` or group ownership of each directory).",
    references=(QEMU_DRIVER_DOC, DAC_SRC, "https://man7.org/linux/man-pages/man7/path_resolution.7.html"),
)
def qemu_write_access(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = [undecided(f"disk {d.target}: cannot resolve it: {why}", disk=d.target) if path is None
             else _judge(d, path, ctx) for d, path, why in writable_file_disks(ctx.domain, ctx.source)]
    return found or skipped(f"{ctx.domain.name} has no writable file image")


def _secret_finding(disk, dst):
    ref = disk.auth_secret
    ev = dict(disk=disk.target, observed=None, source=where(dst, "virConnectListAllSecrets (uuid, usage only)"),
              expected=f"a libvirt secret with {disk.auth_secret_by or 'uuid or usage'} {ref}"
                       + (f" (type {disk.auth_secret_type})" if disk.auth_secret_type else ""))
    if not ref:
        return undecided(f"disk {disk.target}: its <auth> names no secret", **ev)
    if dst.secrets is None:
        return undecided(f"disk {disk.target}: the secrets of {dst.name} are unknown: "
                         f"{fact_missing(dst, 'secrets') or 'not gathered'}", **ev)
    hits = find_secret(disk, dst.secrets)
    ev["observed"] = f"{dst.name}: " + (", ".join(f"{s.uuid} ({s.usage_type} {s.usage_id})" for s in hits)
                                        or f"{len(dst.secrets)} secrets, none matching")
    if not hits:
        if fact_missing(dst, "secrets") or any(s.uuid == "?" for s in dst.secrets):
            return undecided(f"disk {disk.target}: secret {ref} not in the partial secret list of {dst.name}: "
                             f"{fact_missing(dst, 'secrets') or 'some secrets could not be read'}", **ev)
        return failed(f"disk {disk.target}: {dst.name} has no libvirt secret {ref} for the {disk.protocol} disk "
                      f"{disk.label}: QEMU there cannot authenticate", **ev)
    s = hits[0]
    if s.ephemeral:
        return warned(f"disk {disk.target}: secret {s.uuid} on {dst.name} is ephemeral: it lives only in "
                      "libvirtd's memory and is gone after a libvirtd restart", **ev)
    tail = "; it is private (its value cannot be read back through libvirt: keep a copy elsewhere)" \
        if s.private else ""
    return passed(f"disk {disk.target}: secret {s.uuid} ({s.usage_type} {s.usage_id}) is defined on {dst.name}{tail}",
                  **ev)


@check(
    id="storage.disk_secrets", title="Authenticated network disks find their libvirt secret on the destination",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains",),
    verifies="Per disk with <auth> (RBD cephx, iSCSI CHAP, ...): the libvirt secret it references by uuid, or by "
             "usage name and type, is defined on the destination (virConnectListAllSecrets: uuid, usage type "
             "and id, ephemeral/private flags only; secret values are never read). An ephemeral secret is a "
             "warning; a private one is noted.",
    rationale="The destination libvirt looks the secret up when it starts the incoming QEMU; without it the "
              "migration fails ('no secret with matching uuid' / usage) after it began, and the guest stays on "
              "the source.",
    remediation="Define the secret on every hypervisor with the same uuid and usage (`virsh secret-define "
                "secret.xml` with `<uuid>` and `<usage type='ceph'><name>...`), then `virsh secret-set-value "
                "UUID --file KEYFILE` (or --interactive); prefer non-ephemeral secrets.",
    references=(SECRET_DOC, LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms"),
)
def disk_secrets(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = [_secret_finding(d, ctx.destination) for d in ctx.domain.disks if d.has_auth and not d.empty]
    return found or skipped(f"no disk of {ctx.domain.name} uses <auth>")
