"""Storage access facts: cluster file systems' stack, QEMU's write access, libvirt secrets.

Gathering helpers (what the host's SECOND exec asks: `stat -L` of writable images and their
directories, QEMU's uid/gids) and pure parsers of the raw record into HostFacts fields.

Raw record (see preflight.facts.raw):
  shell "cluster_stack"          -> HostFacts.cluster_stack      (fact key "cluster_stack")
  "image_access": {              -> HostFacts.qemu_cred, file_stats (fact key "image_access")
      "user": "libvirt-qemu", "group": "libvirt-qemu", "dynamic_ownership": true,
      "keeps_caps": false,
      "uid": {rc,out,err}, "gid": {...}, "groups": {...}, "group_ent": {...} (qemu.conf group),
      "stats": {"stat_0": {rc,out,err}, ...}}      # `stat -L -c FMT -- PATHS...`
  "write_test": {DIR: {rc,out,err}}  -> HostFacts.write_tests (only with --write-test)
  libvirt "secrets": [{"uuid","usage_type","usage_id","ephemeral","private"}]
                                 -> HostFacts.secrets (fact key "secrets"); never a value
Records without these keys (older recordings) replay with the facts missing: checks say ERROR.
"""

from __future__ import annotations

import posixpath
import re
from typing import Optional

from preflight.facts.models import ClusterStack, FileStat, LibvirtSecret, QemuCredentials, WriteTest
from preflight.facts.mountinfo import SHARED_FS_TYPES

__all__ = ["STAT_FORMAT", "SECRET_USAGE_TYPES", "MAX_SECRETS", "ancestors", "access_paths", "access_keys",
           "parse_cluster_stack", "parse_stat_output", "parse_access_fields", "secret_flags",
           "shared_mountpoints", "parse_write_test_output"]

STAT_FORMAT = "%u:%g:%a:%F:%n"
# virSecretUsageType
SECRET_USAGE_TYPES = {0: "none", 1: "volume", 2: "ceph", 3: "iscsi", 4: "tls", 5: "vtpm"}
MAX_SECRETS = 256
MAX_ACCESS_PATHS = 512


# --- what the second exec asks ------------------------------------------------------------

def ancestors(path: str) -> list:
    """/a/b/c.img -> ['/a/b/c.img', '/a/b', '/a', '/']."""
    path = posixpath.normpath(path)
    out = [path]
    while path != "/":
        path = posixpath.dirname(path)
        out.append(path)
    return out


def _root(xml: str):
    from preflight.facts.xmlsafe import parse_xml_or_none
    return parse_xml_or_none(xml, "domain XML")


def access_paths(libvirt_facts: dict) -> list:
    """Writable file images of running guests (file disks, file-backed pool volumes), in order."""
    vol_paths = {(v.get("pool"), v.get("volume")): v.get("path") for v in libvirt_facts.get("volumes") or ()}
    out: list = []
    for dom in libvirt_facts.get("domains") or ():
        if not dom.get("xml") or not dom.get("active"):
            continue
        root = _root(dom["xml"])
        if root is None:
            continue
        for disk in root.findall("devices/disk"):
            src = disk.find("source")
            if src is None or disk.find("readonly") is not None or \
                    (disk.get("device") or "disk") not in ("disk", "lun"):
                continue
            dtype = disk.get("type") or "file"
            path = src.get("file") if dtype == "file" else \
                vol_paths.get((src.get("pool"), src.get("volume"))) if dtype == "volume" else None
            # a name with a newline would forge `stat` lines for other paths (V9): never asked,
            # so its access stays undecided
            if path and path.startswith("/") and not path.startswith("/dev/") and path not in out \
                    and not any(c in path for c in "\n\r"):
                out.append(path)
    return out[:MAX_ACCESS_PATHS]


def shared_mountpoints(mountinfo_text: str) -> list:
    """Mount points of shared file systems in this host's mountinfo (their ancestors are local)."""
    from preflight.facts.mountinfo import parse_mountinfo
    try:
        mounts = parse_mountinfo(mountinfo_text or "")
    except ValueError:
        return []
    return sorted({m.mountpoint for m in mounts if m.fstype in SHARED_FS_TYPES})


def access_keys(paths: list, mountpoints: list, user: Optional[str], group: Optional[str]) -> dict:
    """Fact keys -> argv of the second exec's access part (stat + QEMU's ids). Reads only."""
    keys: dict = {}
    if user:
        name = user[1:] if user.startswith("+") else user
        keys["qemu_uid"] = ["id", "-u", "--", name]
        keys["qemu_gid"] = ["id", "-g", "--", name]
        keys["qemu_groups"] = ["id", "-G", "--", name]
        if group and not group.startswith("+"):
            keys["qemu_group_ent"] = ["getent", "group", "--", group]
    for i, p in enumerate(paths):
        keys[f"stat_{i}"] = ["stat", "-L", "-c", STAT_FORMAT, "--", *ancestors(p)]
    seen = []
    for mp in mountpoints:
        seen += [a for a in ancestors(mp) if a not in seen]
    if seen:
        keys["stat_mounts"] = ["stat", "-L", "-c", STAT_FORMAT, "--", *seen]
    return keys


# --- parsers ------------------------------------------------------------------------------

def parse_cluster_stack(text: str) -> ClusterStack:
    readable, procs, units, ocfs2, o2cb = False, [], {}, None, []
    for line in (text or "").splitlines():
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if word == "proc" and rest in ("readable", "hidden"):
            readable = rest == "readable"
        elif word == "proc" and rest:
            procs.append(rest)
        elif word == "unit":
            unit, _, state = rest.partition(" ")
            if unit != "-":
                units[unit] = state.strip() or "unknown"
        elif word == "ocfs2_stack":
            ocfs2 = rest or None
        elif word == "o2cb_cluster" and rest:
            o2cb.append(rest)
    return ClusterStack(proc_readable=readable, processes=tuple(sorted(set(procs))), units=units,
                        ocfs2_stack=ocfs2, o2cb_clusters=tuple(o2cb))


_STAT_LINE = re.compile(r"^(\d+):(\d+):([0-7]{1,4}):([^:]+):(/.*)$")


def parse_stat_output(text: str) -> dict:
    """`stat -L -c '%u:%g:%a:%F:%n'` lines -> {path: FileStat}."""
    out = {}
    for line in (text or "").splitlines():
        m = _STAT_LINE.match(line)
        if m:
            out[m.group(5)] = FileStat(path=m.group(5), uid=int(m.group(1)), gid=int(m.group(2)),
                                       mode=int(m.group(3), 8), kind=m.group(4))
    return out


def _int_of(res) -> Optional[int]:
    if not res or res.get("rc") != 0:
        return None
    text = (res.get("out") or "").strip()
    return int(text) if text.isdigit() else None


def _credentials(acc: dict, errors: dict) -> Optional[QemuCredentials]:
    user = acc.get("user")
    if not user:
        errors["image_access"] = acc.get("why") or "the user QEMU runs as is unknown (qemu.conf)"
        return None
    uid, primary = _int_of(acc.get("uid")), _int_of(acc.get("gid"))
    if uid is None or primary is None:
        res = acc.get("uid") or {}
        errors["image_access"] = (f"`id -u {user}` failed on the host (rc {res.get('rc')}: "
                                  f"{' '.join((res.get('err') or '').split())[:200]})")
        return None
    groups_res = acc.get("groups") or {}
    groups = [int(g) for g in (groups_res.get("out") or "").split() if g.isdigit()] \
        if groups_res.get("rc") == 0 else [primary]
    group, gid = acc.get("group"), primary
    if group:
        if group.startswith("+") and group[1:].isdigit():
            gid = int(group[1:])
        else:
            ent = acc.get("group_ent") or {}
            fields = (ent.get("out") or "").strip().split(":")
            if ent.get("rc") != 0 or len(fields) < 3 or not fields[2].isdigit():
                errors["image_access"] = f"qemu.conf group {group!r} does not resolve on the host (getent group)"
                return None
            gid = int(fields[2])
    return QemuCredentials(user=user, uid=uid, gid=gid, groups=tuple(sorted({gid, *groups})), group=group,
                           dynamic_ownership=bool(acc.get("dynamic_ownership", True)),
                           keeps_caps=bool(acc.get("keeps_caps", False)))


_WT = re.compile(r"^(created|removed|access|error) ?(\S*) ?(.*)$")


def parse_write_test_output(directory: str, user: str, res: dict) -> WriteTest:
    """The write-test script's lines: `created`, `removed`, `access ok|denied IMAGE`, `error TEXT`."""
    created = removed = False
    errors, access = [], {}
    for line in (res.get("out") or "").splitlines():
        if line == "created":
            created = True
        elif line == "removed":
            removed = True
        elif line.startswith("access "):
            _, verdict, image = line.split(" ", 2) if line.count(" ") >= 2 else (line, "", "")
            if image:
                access[image] = verdict == "ok"
        elif line.startswith("error "):
            errors.append(line[6:])
    err = " ".join((res.get("err") or "").split())
    if res.get("rc") not in (0, None) and not errors:
        errors.append(f"exited {res.get('rc')}" + (f": {err[:300]}" if err else ""))
    elif err and not created:
        errors.append(err[:300])
    return WriteTest(directory=directory, user=user, created=created, removed=removed,
                     error="; ".join(errors) or None, images_writable=access)


def parse_blkid_export(text: str) -> dict:
    """`blkid -o export` (blank-line separated KEY=value blocks) -> {DEVNAME: (TYPE, UUID)}."""
    out, cur = {}, {}
    for line in (text or "").splitlines() + [""]:
        line = line.strip()
        if not line:
            if cur.get("DEVNAME"):
                out[cur["DEVNAME"]] = (cur.get("TYPE"), (cur.get("UUID") or "").lower() or None)
            cur = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            cur[key] = value.replace("\\ ", " ")
    return out


def parse_access_fields(raw_host: dict, errors: dict) -> dict:
    """cluster_stack, blkid, qemu_cred + file_stats, write_tests, secrets from one host's raw entry."""
    fields: dict = {}
    raw_errors = raw_host.get("errors") or {}
    res = (raw_host.get("shell") or {}).get("blkid")
    if res is None:
        errors["blkid"] = raw_errors.get("blkid") or "`blkid -o export` was not gathered"
    elif res.get("rc") in (0, 2):
        fields["fs_ids"] = parse_blkid_export(res.get("out") or "")
    else:
        errors["blkid"] = f"`blkid -o export` exited {res.get('rc')}: {' '.join((res.get('err') or '').split())[:200]}"
    res = (raw_host.get("shell") or {}).get("cluster_stack")
    if res is None:
        errors["cluster_stack"] = raw_errors.get("cluster_stack") or "the cluster stack was not gathered"
    elif res.get("rc") != 0:
        errors["cluster_stack"] = f"cluster stack probe exited {res.get('rc')}: {(res.get('err') or '')[:200]}"
    else:
        fields["cluster_stack"] = parse_cluster_stack(res.get("out") or "")
    acc = raw_host.get("image_access")
    if acc is None:
        errors["image_access"] = raw_errors.get("image_access") or \
            "ownership and modes of images and QEMU's uid/gids were not gathered"
    else:
        cred = _credentials(acc, errors)
        if cred is not None:
            fields["qemu_cred"] = cred
        stats: dict = {}
        for res in (acc.get("stats") or {}).values():
            stats.update(parse_stat_output(res.get("out") or ""))
        fields["file_stats"] = stats
    wt = raw_host.get("write_test")
    if wt is not None:
        user = (acc or {}).get("user") or "?"
        fields["write_tests"] = {d: parse_write_test_output(d, user, r) for d, r in wt.items()}
    lv = raw_host.get("libvirt") if isinstance(raw_host.get("libvirt"), dict) else {}
    if lv.get("secrets") is None:
        errors["secrets"] = raw_errors.get("secrets") or "the libvirt secret list was not gathered"
    else:
        fields["secrets"] = tuple(
            LibvirtSecret(uuid=s.get("uuid") or "?", usage_type=s.get("usage_type"), usage_id=s.get("usage_id"),
                          ephemeral=s.get("ephemeral"), private=s.get("private"))
            for s in lv["secrets"] if isinstance(s, dict))
        if lv.get("secrets_truncated"):
            errors["secrets"] = f"more than {MAX_SECRETS} secrets: the list was cut short"
    return fields


def secret_flags(xml: str) -> tuple:
    """(ephemeral, private) from a secret's XML root attributes; nothing else is kept."""
    root = _root(xml or "")
    if root is None:
        return None, None

    def yes(name):
        v = root.get(name)
        return None if v is None else v.strip().lower() == "yes"
    return yes("ephemeral"), yes("private")
