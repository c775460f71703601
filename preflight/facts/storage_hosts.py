"""Storage servers: gathered over SSH (shell only, no libvirt) and parsed into StorageHostFacts.

Who is contacted: the inventory's `storage_hosts` (in the same thread pool as the
hypervisors), and any NFS server named by a hypervisor's mount or NFS network disk that is
itself an inventory hypervisor (its open SSH session is reused). Each gets ONE batched exec
of STORAGE_SHELL_FACTS (`preflight.facts.gather.gather_shell`); nothing is changed on it.

Also here: the parsing of the hypervisor-side facts the storage hygiene checks read
(fstab, systemd mount units, QEMU's user), called from `preflight.facts.parse`.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Optional

from preflight.facts.exports import ExportsError, merge_exports, parse_exportfs_v, parse_exports, \
    parse_exports_dir
from preflight.facts.fstab import FstabError, parse_fstab, parse_unit_files
from preflight.facts.ganesha import GaneshaError, parse_ganesha
from preflight.facts.models import StorageHostFacts
from preflight.facts.portals import parse_portal_probes
from preflight.facts.listings import parse_listing_rows
from preflight.facts.qemu_conf import qemu_identity

RAW_KEY = "storage_hosts_facts"
_FILE_MARK = "# preflight-file: "

# The running nfs-ganesha's config: only a ganesha.nfsd running as root from a binary of that
# name, in THIS host's network namespace (one in another namespace serves other addresses:
# containers, or several lab hosts on one machine), and only root-owned regular files, each
# read up to GANESHA_MAX_BYTES. Anyone can start a process NAMED ganesha.nfsd with `-f` naming
# any file: that must neither make root read it nor fake the export table.
GANESHA_MAX_BYTES = 1 << 20
GANESHA_SCRIPT = r"""
f=${1:-/etc/ganesha/ganesha.conf}; run=no; me=$(readlink /proc/self/ns/net 2>/dev/null)
for p in /proc/[0-9]*; do
  [ -r "$p/cmdline" ] || continue
  set -f; set -- $(tr '\000' ' ' < "$p/cmdline" 2>/dev/null); set +f
  case "${1:-}" in *ganesha.nfsd) ;; *) continue ;; esac
  case "$(readlink "$p/exe" 2>/dev/null)" in */ganesha.nfsd) ;; *) continue ;; esac
  [ "$(stat -c %u "$p" 2>/dev/null)" = 0 ] || continue
  [ "$(stat -L -c %u:%F "$p/exe" 2>/dev/null)" = "0:regular file" ] || continue
  [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$me" ] || continue
  run=yes
  while [ $# -gt 1 ]; do [ "$1" = -f ] && f=$2; shift; done
done
printf '# preflight-ganesha-running: %s\n' "$run"
pf_file() {
  if [ "$(stat -L -c %u:%F -- "$1" 2>/dev/null)" != "0:regular file" ]; then
    printf '# preflight-skipped: %s (not a root-owned regular file)\n' "$1"; return
  fi
  printf '# preflight-file: %s\n' "$1"; head -c @CAP@ -- "$1"; echo
}
[ -f "$f" ] || exit 0
pf_file "$f"
[ "$(stat -L -c %u:%F -- "$f" 2>/dev/null)" = "0:regular file" ] || exit 0
head -c @CAP@ -- "$f" | sed -n 's/^[[:space:]]*%include[[:space:]]*"\{0,1\}\([^";[:space:]]*\).*/\1/p' | while read -r i; do
  pf_file "$i"
done
exit 0
""".replace("@CAP@", str(GANESHA_MAX_BYTES))


# One batched exec per storage host. The sh -c snippets only read; their output separates
# files by "# preflight-file: PATH" lines (a comment in both exports(5) and ganesha syntax).
STORAGE_SHELL_FACTS = {
    "hostname": ["hostname"],
    "fqdn": ["hostname", "-f"],
    "ip_addr": ["ip", "-j", "addr", "show"],
    "exports": ["cat", "/etc/exports"],
    "exports_d": ["sh", "-c", 'for f in /etc/exports.d/*.exports; do [ -f "$f" ] || continue; '
                  f'printf "{_FILE_MARK}%s\\n" "$f"; cat "$f"; echo; done; exit 0'],
    "exportfs": ["exportfs", "-v"],
    # The config the RUNNING ganesha.nfsd reads (its -f argument; default
    # /etc/ganesha/ganesha.conf), then each file it %includes (one level).
    "ganesha_conf": ["sh", "-c", GANESHA_SCRIPT],
    "rpcinfo": ["rpcinfo", "-p"],
}

_NOT_FOUND = (127,)


def _spec_name(spec) -> str:
    return getattr(spec, "name", spec)


def storage_entry(conn, *, role: str = "storage", timeout: Optional[float] = None) -> dict:
    """The raw record entry of one storage host from an open SSH Connection (one exec)."""
    from preflight.facts.gather import gather_shell
    from preflight.scrub import scrub_ganesha

    shell, errors = gather_shell(conn, STORAGE_SHELL_FACTS, timeout)
    if "ganesha_conf" in shell:
        shell["ganesha_conf"]["out"] = scrub_ganesha(shell["ganesha_conf"]["out"])
    return {"address": conn.address, "reachable": True, "error": None, "round_trips": 1,
            "role": role, "shell": shell, "errors": errors}


def gather_storage_one(ctx, spec, opts, progress=None) -> tuple:
    """(connection or None, raw entry) for one inventory storage host. Never raises."""
    from preflight.facts.gather import unreachable_entry
    from preflight.transport.ssh import HostTarget

    name = _spec_name(spec)
    target = HostTarget(name, getattr(spec, "address", None), getattr(spec, "port", None),
                        getattr(spec, "user", None))
    if progress:
        progress(name, "connect", "storage host")
    t0 = time.monotonic()
    try:
        conn = ctx.connect(target)
    except Exception as exc:                            # noqa: BLE001 - a host never crashes the run
        if progress:
            progress(name, "unreachable", str(exc))
        entry = unreachable_entry(getattr(spec, "address", None), f"{name}: {exc}")
        entry["role"] = "storage"
        return None, entry
    try:
        entry = storage_entry(conn, timeout=opts.command_timeout)
    except Exception as exc:                            # noqa: BLE001
        entry = {"address": conn.address, "reachable": True, "error": None, "round_trips": 1,
                 "role": "storage", "shell": {}, "errors": {k: f"{type(exc).__name__}: {exc}"
                                                            for k in STORAGE_SHELL_FACTS}}
    entry["timing"] = {"gather_s": round(time.monotonic() - t0, 4)}
    if progress:
        progress(name, "gathered", "storage host")
    return conn, entry


def nfs_servers_named(hosts_raw: dict) -> set:
    """Server names/addresses (lower case) that hypervisors' NFS mounts and NFS network disks name."""
    from preflight.facts.mountinfo import nfs_mount_servers

    servers = set()
    for entry in hosts_raw.values():
        servers |= nfs_mount_servers(((entry.get("shell") or {}).get("mountinfo") or {}).get("out"),
                                     with_addresses=True)
        for dom in (entry.get("libvirt") or {}).get("domains") or ():
            xml = dom.get("xml") or ""
            if "protocol='nfs'" in xml or 'protocol="nfs"' in xml:
                try:
                    from preflight.facts.domain_xml import parse_domain_xml
                    parsed = parse_domain_xml(xml, name=dom.get("name") or "?")
                except Exception:                       # noqa: BLE001 - parse errors are reported elsewhere
                    continue
                for disk in parsed.disks:
                    if disk.protocol == "nfs":
                        servers.update(h.name.lower() for h in disk.hosts if h.name)
    return servers


def hypervisors_serving_nfs(hosts_raw: dict, exclude: set) -> list:
    """Inventory hypervisors named (by inventory name, hostname or address) as an NFS server."""
    named = nfs_servers_named(hosts_raw)
    found = []
    for name, entry in hosts_raw.items():
        if name in exclude or not entry.get("reachable"):
            continue
        ids = {name.lower(), str(entry.get("address") or "").lower()}
        for key in ("hostname", "fqdn"):
            out = ((entry.get("shell") or {}).get(key) or {}).get("out") or ""
            if out.strip():
                ids.add(out.strip().splitlines()[0].lower())
        if ids & named:
            found.append(name)
    return found


# --- parsing ---------------------------------------------------------------------------------

def _out(raw: dict, key: str):
    """(stdout, rc, err) of a shell fact, or (None, None, why) when not gathered."""
    res = (raw.get("shell") or {}).get(key)
    if res is None:
        return None, None, (raw.get("errors") or {}).get(key) or "not gathered"
    return res.get("out") or "", res.get("rc"), (res.get("err") or "").strip()


def _missing_file(rc, err) -> bool:
    return rc == 1 and "No such file" in (err or "")


def _addresses(text: str) -> tuple:
    import json
    addrs = []
    for link in json.loads(text or "[]"):
        for info in link.get("addr_info") or ():
            local = info.get("local")
            if not local:
                continue
            ip = ipaddress.ip_address(local.split("%")[0])
            if ip.is_loopback:
                continue
            addrs.append(f"{local}/{info.get('prefixlen', 32 if ip.version == 4 else 128)}")
    return tuple(addrs)


def _split_files(text: str) -> list:
    files, name, chunk = [], None, []
    for line in (text or "").splitlines():
        if line.startswith(_FILE_MARK):
            if name is not None:
                files.append((name, "\n".join(chunk)))
            name, chunk = line[len(_FILE_MARK):].strip(), []
        else:
            chunk.append(line)
    if name is not None:
        files.append((name, "\n".join(chunk)))
    return files


def parse_storage_host(name: str, raw: dict) -> StorageHostFacts:
    raw = raw or {}
    if not raw.get("reachable", False):
        why = raw.get("error") or "host was not reached"
        return StorageHostFacts(name=name, reachable=False, error=why, address=raw.get("address"),
                                fact_errors={"exports": f"storage host unreachable: {why}"})
    errors: dict = {}
    fields: dict = {}
    for key in ("hostname", "fqdn"):
        out, rc, _ = _out(raw, key)
        if rc == 0 and out.strip():
            fields[key] = out.strip().splitlines()[0]
    out, rc, err = _out(raw, "ip_addr")
    if rc == 0:
        try:
            fields["addresses"] = _addresses(out)
        except ValueError as exc:
            errors["addresses"] = f"could not parse ip addr: {exc}"
    else:
        errors["addresses"] = f"`ip -j addr show`: {err or 'not gathered'}"

    exports, sources, problems = [], [], []
    # knfsd: the live table (exportfs -v) when the command exists, else the files.
    live, rc_live, err_live = _out(raw, "exportfs")
    etc, rc_etc, err_etc = _out(raw, "exports")
    etc_d, rc_d, err_d = _out(raw, "exports_d")
    try:
        if rc_live == 0 and live.strip():
            exports += parse_exportfs_v(live)
            sources.append("exportfs -v")
        else:
            if rc_etc == 0:
                exports += parse_exports(etc, "/etc/exports")
                sources.append("/etc/exports")
            elif rc_etc is None or not _missing_file(rc_etc, err_etc):
                problems.append(f"/etc/exports: {err_etc or f'exit {rc_etc}'}")
            if rc_d == 0:
                exports += parse_exports_dir(etc_d)
                if etc_d.strip():
                    sources.append("/etc/exports.d/*.exports")
            else:
                problems.append(f"/etc/exports.d: {err_d or f'exit {rc_d}'}")
    except ExportsError as exc:
        problems.append(f"could not parse the knfsd exports: {exc}")
    conf, rc_g, err_g = _out(raw, "ganesha_conf")
    if rc_g == 0 and conf.strip() and "# preflight-ganesha-running: " not in conf:
        problems.append("the ganesha config was recorded by an older preflight that read "
                        "/etc/ganesha/ganesha.conf without asking which file the running ganesha.nfsd "
                        "uses: re-record")
    elif rc_g == 0:
        running = "# preflight-ganesha-running: yes" in conf
        # an %include preflight refused to read leaves the export table incomplete: undecided
        problems += [f"{line[len('# preflight-skipped: '):].strip()} was not read"
                     for line in conf.splitlines() if line.startswith("# preflight-skipped: ")]
        texts = _split_files(conf)
        knfsd_found = bool(exports)
        if texts and (running or not knfsd_found):
            try:
                exports += parse_ganesha(texts)
                sources.append(texts[0][0] + (f" (+{len(texts) - 1} %include)" if len(texts) > 1 else "")
                               + ("" if running else " (ganesha.nfsd not running)"))
            except (GaneshaError, ValueError) as exc:
                problems.append(f"could not parse {texts[0][0]}: {exc}")
            if running and knfsd_found:
                exports = [e for e in exports if e.server == "ganesha"]
                sources = [x for x in sources if x.startswith(texts[0][0])]
                sources.append("knfsd exports ignored: ganesha.nfsd is running")
        elif texts:
            sources.append(f"{texts[0][0]} ignored: ganesha.nfsd not running")
    else:
        problems.append(f"ganesha config: {err_g or f'exit {rc_g}'}")
    if problems:
        errors["exports"] = "; ".join(problems)[:500]
    elif not sources:
        errors["exports"] = ("no NFS export configuration found (no /etc/exports, exports.d, "
                             "exportfs or /etc/ganesha/ganesha.conf)")
    servers = {e.server for e in exports}
    if len(servers) > 1 and "exports" not in errors:
        errors["exports"] = ("both knfsd exports and an nfs-ganesha config exist: cannot tell which "
                             "one serves port 2049")
    rpc, rc_r, _ = _out(raw, "rpcinfo")
    rpc_services = ()
    if rc_r == 0:
        rows = []
        for line in rpc.splitlines()[1:]:
            f = line.split()
            if len(f) >= 4 and f[0].isdigit():
                rows.append((f[4] if len(f) > 4 else f[0], f[1], f[2], int(f[3])))
        rpc_services = tuple(rows)
    return StorageHostFacts(name=name, reachable=True, address=raw.get("address"),
                            exports=merge_exports(exports), exports_from=tuple(sources),
                            rpc_services=rpc_services, fact_errors=errors, **fields)


def parse_storage_hosts(record: dict) -> Optional[dict]:
    """name -> StorageHostFacts; None when the record predates storage-host gathering."""
    raw = record.get(RAW_KEY)
    if raw is None:
        return None
    return {name: parse_storage_host(name, entry) for name, entry in raw.items()}


def parse_host_storage_fields(raw_host: dict, errors: dict) -> dict:
    """Hypervisor facts for the mount hygiene / NFS checks: fstab, mount_units, qemu_user."""
    fields: dict = {}
    out, rc, err = _out(raw_host, "fstab")
    if out is None:
        errors["fstab"] = f"`cat /etc/fstab` was not gathered: {err}"
    elif rc == 0 or _missing_file(rc, err):
        try:
            fields["fstab"] = parse_fstab(out if rc == 0 else "")
        except FstabError as exc:
            errors["fstab"] = str(exc)
    else:
        errors["fstab"] = f"`cat /etc/fstab` exited {rc}: {err[:300]}"
    out, rc, err = _out(raw_host, "mount_units")
    if out is None:
        errors["mount_units"] = f"systemd mount units were not gathered: {err}"
    elif rc == 0:
        fields["mount_units"] = parse_unit_files(out)
    elif rc in _NOT_FOUND:
        fields["mount_units"] = ()          # no systemctl: no systemd units can exist
    else:
        errors["mount_units"] = f"`systemctl list-unit-files` exited {rc}: {err[:300]}"
    probes = parse_nfs_probes(raw_host)
    if probes is not None:              # None (the default) = not probed: the check says so
        fields["nfs_probes"] = probes
    portals = parse_portal_probes(raw_host)
    if portals is not None:             # None (the default) = not probed: storage.portal_reachable says ERROR
        fields["portal_probes"] = portals
    # showmount -e / iscsi-ls -s from this host (pair phase); absent keys = not gathered (None)
    fields.update(parse_listing_rows(raw_host))
    out, rc, err = _out(raw_host, "qemu_conf")
    if out is not None and rc == 0:
        ident = qemu_identity(out)
        if ident["user"]:
            fields.update(qemu_user=ident["user"], qemu_group=ident["group"],
                          qemu_user_from=ident["user_from"], dynamic_ownership=ident["dynamic_ownership"])
        else:
            errors["qemu_user"] = ("qemu.conf sets no `user` and has no commented default line: the "
                                   "built-in user of this libvirt build is unknown")
    else:
        errors["qemu_user"] = f"/etc/libvirt/qemu.conf unavailable: {err or rc}"
    return fields


# --- called from preflight.facts.collect -------------------------------------------------------

def start_storage_hosts(pool, ctx, specs, opts, progress=None) -> dict:
    """Submit every inventory storage host to the gather pool (beside the hypervisors)."""
    return {_spec_name(spec): pool.submit(gather_storage_one, ctx, spec, opts, progress) for spec in specs}


def finish_storage_hosts(futures: dict, sessions: dict, hosts_raw: dict, opts, progress=None) -> dict:
    """Wait for the storage hosts, close their connections, then run the storage exec on any
    hypervisor that a mount or NFS disk names as its NFS server (reusing its session)."""
    from preflight.facts.gather import unreachable_entry

    out: dict = {}
    for name, fut in futures.items():
        conn = None
        try:
            conn, entry = fut.result()
        except Exception as exc:                        # noqa: BLE001
            entry = unreachable_entry(None, f"{name}: {type(exc).__name__}: {exc}")
            entry["role"] = "storage"
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:                       # noqa: BLE001
                    pass
        out[name] = entry
    for name in hypervisors_serving_nfs(hosts_raw, exclude=set(out)):
        session = sessions.get(name)
        if session is None or session.conn is None:
            continue
        try:
            out[name] = storage_entry(session.conn, role="hypervisor", timeout=opts.command_timeout)
            hosts_raw[name]["round_trips"] = (hosts_raw[name].get("round_trips") or 0) + 1
        except Exception as exc:                        # noqa: BLE001
            out[name] = {"address": hosts_raw[name].get("address"), "reachable": True, "error": None,
                         "round_trips": 1, "role": "hypervisor", "shell": {},
                         "errors": {k: f"{type(exc).__name__}: {exc}" for k in STORAGE_SHELL_FACTS}}
    return out


def nfs_probe_targets(record: dict) -> dict:
    """{storage host: {"target", "ports"}} for the pair phase's probes from each hypervisor:
    NFS 2049, and for NFSv3 clients (QEMU's own NFS client is v3) rpcbind 111 and mountd's TCP
    port as the server's `rpcinfo -p` lists it. The target is the name the hypervisors' mounts
    or disks use for that server when one matches, else its address."""
    named = nfs_servers_named(record.get("hosts") or {})
    targets = {}
    for name, entry in (record.get(RAW_KEY) or {}).items():
        if not entry.get("reachable"):
            continue
        sh = parse_storage_host(name, entry)
        if not sh.exports:
            continue
        ids = [name.lower()] + [x.lower() for x in (sh.hostname, sh.fqdn, sh.address) if x] + \
            [a.split("/")[0] for a in sh.addresses]
        target = next((i for i in ids if i in named), None) or sh.address or name
        ports = [(2049, "nfs"), (111, "rpcbind")]
        mountd = sorted({port for prog, _, proto, port in sh.rpc_services if prog == "mountd" and proto == "tcp"})
        ports += [(p, "mountd") for p in mountd[:1]]
        # W8: probed only on the addresses this inventory storage host has
        own = [a for a in [entry.get("address"), sh.address] + [a.split("/")[0] for a in sh.addresses] if a]
        targets[name] = {"target": target, "ports": ports, "own": list(dict.fromkeys(own))}
    return targets


def parse_nfs_probes(raw_host: dict):
    """hosts[...]["nfs_probes"] -> ((server, port, purpose, target, outcome, detail), ...) or None."""
    rows = raw_host.get("nfs_probes")
    if rows is None:
        return None
    return tuple((r.get("server"), int(r.get("port") or 0), r.get("purpose"), r.get("target"),
                  r.get("outcome") or "error", r.get("detail")) for r in rows)
