"""What each hypervisor is offered by the storage servers, asked FROM that hypervisor:
`showmount -e --no-headers SERVER` (NFS MOUNT protocol export list) and
`iscsi-ls -i INITIATOR -s iscsi://HOST:PORT/` (libiscsi-bin: the targets and LUNs an iSCSI
portal presents to that initiator).

Both run in the pair phase's single probe exec per source host (preflight.facts.pairs), after
the TCP probes, all in parallel, each bounded by coreutils `timeout` (LIST_TIMEOUT); a missing
tool is recorded as "tool absent", never as a failure. Nothing is changed on any server:
showmount asks mountd for its export list; iscsi-ls logs in (discovery, then a normal session
per target to REPORT LUNS/INQUIRY) and logs out.

CHAP: credentials never appear on a command line or in a record. A portal that only
CHAP-protected disks (<auth>) use is not asked at all; its row says "skipped: CHAP-protected
target".

Which initiator name: the one QEMU would use for the disk on the destination -- the disk's
<source><initiator><iqn name=.../> when given, else QEMU's own default
"iqn.2008-11.org.linux-kvm:<domain uuid>" (block/iscsi.c get_initiator_name; libvirt always
passes -uuid) -- so that a target ACL by initiator name answers as it would answer QEMU.

Raw rows (hosts[NAME] keys, absent = not gathered):
  "nfs_showmount": [{"server", "rc", "out", "err"}]
  "iscsi_lists":   [{"host", "port", "initiator", "rc", "out", "err"}
                    | {"host", "port", "initiator", "skipped": "CHAP-protected target"}]
rc 127 with TOOL_ABSENT in err = the tool is not installed; rc 124 = timed out; rc None = the
probe exec itself failed (err says why).

Parsers here are pure (recorded output -> typed facts).
"""

from __future__ import annotations

import json
import re
from typing import Optional

from preflight.facts.models import ToolListing
from preflight.facts.probe_guard import GUARD_CODE, storage_policy
from preflight.facts.xmlsafe import UnsafeXMLError, parse_xml

SHOWMOUNT_KEY = "nfs_showmount"
ISCSI_KEY = "iscsi_lists"
LIST_TIMEOUT = 10
TOOL_ABSENT = "preflight: tool absent"
CHAP_SKIP = "skipped: CHAP-protected target"
QEMU_INITIATOR_PREFIX = "iqn.2008-11.org.linux-kvm"

# $0 = RESOLVE_CODE, $1 = marker, $2 = timeout, $3 = the policy (JSON, preflight.facts.probe_guard),
# $4 = Python interpreters, then (kind, host, port, initiator) quadruples.
# Every listing runs in the background; the output is printed per index in the batched-facts
# layout (MARKER i rc N / out / err / end) once all have finished or timed out. Each server name
# is resolved ONCE, by Python, its address checked against the policy (W8), and the tool is
# given that address: it cannot resolve the name again to somewhere else. rc 126 = not run.
LISTS_SH = r"""M=$1; T=$2; P=$3; PYS=$4; shift 4
d=$(mktemp -d 2>/dev/null) && [ -d "$d" ] || { echo "preflight: mktemp -d failed: nothing listed" >&2; exit 97; }
trap 'rm -rf "$d"' EXIT
py=
for p in $PYS; do if command -v "$p" >/dev/null 2>&1; then py=$p; break; fi; done
run() {
  i=$1; kind=$2; host=$3; port=$4; ini=$5
  tool=showmount; [ "$kind" = iscsi ] && tool=iscsi-ls
  : >"$d/$i.o"
  if ! command -v "$tool" >/dev/null 2>&1; then echo "preflight: tool absent: $tool is not installed" >"$d/$i.e"; echo 127 >"$d/$i.rc"; return; fi
  if ! command -v timeout >/dev/null 2>&1; then echo "preflight: no coreutils timeout to bound $tool; not run" >"$d/$i.e"; echo 126 >"$d/$i.rc"; return; fi
  if [ -z "$py" ]; then echo "preflight: not listed: no python3 to check the address $host resolves to before connecting" >"$d/$i.e"; echo 126 >"$d/$i.rc"; return; fi
  a=$(timeout "$T" "$py" -c "$0" "$host" "$port" "$P" 2>"$d/$i.e") || { echo 126 >"$d/$i.rc"; return; }
  case $kind in
    showmount) timeout "$T" showmount -e --no-headers -- "$a" >"$d/$i.o" 2>"$d/$i.e" </dev/null; echo $? >"$d/$i.rc" ;;
    iscsi) case $a in *:*) hp="[$a]:$port" ;; *) hp="$a:$port" ;; esac
           timeout "$T" iscsi-ls -i "$ini" -s "iscsi://$hp/" >"$d/$i.o" 2>"$d/$i.e" </dev/null; echo $? >"$d/$i.rc" ;;
  esac
}
n=0
while [ $# -ge 4 ]; do
  case $1 in
    showmount|iscsi) run $n "$1" "$2" "$3" "$4" & ;;
    *) echo "unknown kind $1" >"$d/$n.e"; echo 2 >"$d/$n.rc" ;;
  esac
  n=$((n + 1)); shift 4
done
wait
i=0
while [ $i -lt $n ]; do
  printf '%s %s rc %s\n' "$M" "$i" "$(cat "$d/$i.rc" 2>/dev/null || echo 125)"
  printf '%s %s out\n' "$M" "$i"; cat "$d/$i.o" 2>/dev/null
  printf '\n%s %s err\n' "$M" "$i"; cat "$d/$i.e" 2>/dev/null
  printf '\n%s %s end\n' "$M" "$i"
  i=$((i + 1))
done
"""

# $1 name, $2 port, $3 policy JSON -> the address to use on stdout, or why not on stderr (rc 3/4).
RESOLVE_CODE = GUARD_CODE + r"""
import json, socket, sys
name, port, allow = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
try:
    info = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM)
except socket.gaierror as e:
    sys.stderr.write("cannot resolve %s: %s\n" % (name, e.strerror))
    sys.exit(4)
addr = info[0][4][0]
why = refuse(addr, allow)
if why:
    sys.stderr.write("not listed: %s resolves to %s here; %s\n" % (name, addr, why))
    sys.exit(3)
print(addr)
"""

_NAME_OK = re.compile(r"^[A-Za-z0-9_.:\[\]][A-Za-z0-9_.:\[\]-]*$")      # never a leading '-' (W6)


def _portal(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def qemu_initiator(disk_initiator: Optional[str], domain_uuid: Optional[str], domain_name: Optional[str]):
    """The iSCSI initiator name QEMU uses for a disk (see the module docstring)."""
    if disk_initiator:
        return disk_initiator
    name = domain_uuid or domain_name
    return f"{QEMU_INITIATOR_PREFIX}:{name}" if name else QEMU_INITIATOR_PREFIX


def list_targets(hosts_raw: dict) -> dict:
    """{"showmount": [server, ...], "iscsi": [{"host", "port", "initiator", "chap"}]} for every
    NFS server named by a hypervisor's nfs/nfs4 mount or an NFS network disk, and every
    (portal, initiator) of every iSCSI network disk, of every hypervisor in the raw record.
    "chap" is True when every disk using that (portal, initiator) has <auth>: it is not asked."""
    from preflight.facts.mountinfo import nfs_mount_servers

    servers: set = set()
    iscsi: dict = {}
    for entry in (hosts_raw or {}).values():
        servers |= nfs_mount_servers((((entry or {}).get("shell") or {}).get("mountinfo") or {}).get("out"))
        for dom in (((entry or {}).get("libvirt") or {}).get("domains") or ()):
            xml = dom.get("xml")
            if not xml:
                continue
            try:
                root = parse_xml(xml, "domain XML")
            except UnsafeXMLError:
                continue
            uuid = (root.findtext("uuid") or "").strip() or None
            for disk in root.findall("./devices/disk[@type='network']"):
                src = disk.find("source")
                if src is None:
                    continue
                protocol = (src.get("protocol") or "").lower()
                hosts = [h for h in src.findall("host") if (h.get("transport") or "tcp").lower() != "unix"
                         and (h.get("name") or "").strip()]
                if protocol == "nfs":
                    servers.update(h.get("name").strip() for h in hosts)
                elif protocol == "iscsi":
                    auth = disk.find("auth") is not None or src.find("auth") is not None
                    iqn = src.find("initiator/iqn")
                    initiator = qemu_initiator(iqn.get("name") if iqn is not None else None, uuid,
                                               (root.findtext("name") or "").strip() or None)
                    for h in hosts:
                        try:
                            port = int(h.get("port") or 3260)
                        except ValueError:
                            continue
                        key = (h.get("name").strip(), port, initiator)
                        iscsi[key] = iscsi.get(key, True) and auth
    servers = {s for s in servers if _NAME_OK.match(s)}
    return {"showmount": sorted(servers),
            "iscsi": [{"host": h, "port": p, "initiator": i, "chap": chap}
                      for (h, p, i), chap in sorted(iscsi.items()) if _NAME_OK.match(h) and _NAME_OK.match(i)]}


def lists_argv(targets: dict, marker: str, timeout: int = LIST_TIMEOUT, policy: Optional[dict] = None,
               pythons=("python3", "/usr/libexec/platform-python")) -> Optional[list]:
    """The argv of the listing fact (None when there is nothing to list), and the index order:
    showmount servers first, then the iSCSI rows that are not CHAP-skipped. `policy`: where the
    servers may be (preflight.facts.probe_guard.storage_policy; default: no special address)."""
    args = []
    for server in targets.get("showmount") or ():
        args += ["showmount", server, "111", "-"]
    for t in targets.get("iscsi") or ():
        if not t.get("chap"):
            args += ["iscsi", t["host"].strip("[]"), str(int(t["port"])), t["initiator"]]
    if not args:
        return None
    return ["sh", "-c", LISTS_SH, RESOLVE_CODE, marker, str(int(timeout)),
            json.dumps(policy or storage_policy(())), " ".join(pythons)] + args

LISTS_FIXED_ARGS = 8          # argv entries before the quadruples


def rows_from_output(targets: dict, parsed: dict, error: Optional[str]) -> tuple:
    """(showmount rows, iscsi rows) for the raw record from the parsed listing output
    ({index: {"rc","out","err"}}), or with `error` on every row when the exec failed."""
    results = iter(range(10 ** 9))
    show, isc = [], []

    def take():
        i = str(next(results))
        if error is not None:
            return {"rc": None, "out": "", "err": error}
        got = parsed.get(i)
        if got is None:
            return {"rc": None, "out": "", "err": "no output for this listing (the exec stopped before it)"}
        return {"rc": got["rc"], "out": got["out"], "err": got["err"]}

    for server in targets.get("showmount") or ():
        show.append({"server": server, **take()})
    for t in targets.get("iscsi") or ():
        row = {"host": t["host"], "port": t["port"], "initiator": t["initiator"]}
        if t.get("chap"):
            row["skipped"] = CHAP_SKIP
        else:
            row.update(take())
        isc.append(row)
    return show, isc


# --- pure parsers ---------------------------------------------------------------------------

def parse_showmount(out: str) -> tuple:
    """`showmount -e [--no-headers]` stdout -> ((path, (group, ...)), ...). Groups are the
    comma-separated client list showmount prints after the path ("(everyone)" = no list)."""
    rows = []
    for line in (out or "").splitlines():
        line = line.rstrip()
        if not line.strip() or line.startswith("Export list for "):
            continue
        if not line.startswith("/"):
            raise ValueError(f"unexpected showmount line: {line[:120]!r}")
        parts = line.rsplit(None, 1)
        if len(parts) == 1:
            rows.append((parts[0], ()))
            continue
        path, groups = parts
        rows.append((path.rstrip(), tuple(g for g in groups.split(",") if g)))
    return tuple(rows)


_TARGET = re.compile(r"^Target:(\S+)\s+Portal:(\S+)")
_LUN = re.compile(r"^Lun:(\d+)\s+Type:(.*)$")


def parse_iscsi_ls(out: str) -> dict:
    """`iscsi-ls -s` stdout -> {iqn: ((lun, type), ...)} in the order listed."""
    targets: dict = {}
    current = None
    for line in (out or "").splitlines():
        line = line.strip()
        if not line:
            continue
        m = _TARGET.match(line)
        if m:
            current = m.group(1)
            targets.setdefault(current, [])
            continue
        m = _LUN.match(line)
        if m and current is not None:
            targets[current].append((int(m.group(1)), m.group(2).strip()))
            continue
        raise ValueError(f"unexpected iscsi-ls line: {line[:120]!r}")
    return {k: tuple(v) for k, v in targets.items()}


def _status(row: dict) -> tuple:
    """(status, detail) of one raw listing row."""
    if row.get("skipped"):
        return "skipped", row["skipped"]
    rc, err = row.get("rc"), " ".join((row.get("err") or "").split())
    if rc is None:
        return "error", err or "not run"
    if rc == 127 and TOOL_ABSENT in err:
        return "absent", err
    if rc == 124:
        return "timeout", f"no answer within {LIST_TIMEOUT} s" + (f" ({err})" if err else "")
    if rc == 0:
        return "listed", err or None
    return "error", f"exit {rc}" + (f": {err[:300]}" if err else "")


def parse_listing_rows(raw_host: dict) -> dict:
    """HostFacts fields nfs_showmount / iscsi_lists from the raw rows (absent key = None =
    not gathered; the checks then say so)."""
    fields: dict = {}
    rows = raw_host.get(SHOWMOUNT_KEY)
    if rows is not None:
        views = {}
        for r in rows:
            status, detail = _status(r)
            exports = ()
            if r.get("out"):
                try:
                    exports = parse_showmount(r["out"])
                except ValueError as exc:
                    status, detail = "error", f"unparsable showmount output: {exc}"
            server = str(r.get("server") or "")
            views[server.lower()] = ToolListing(server=server, status=status, detail=detail, exports=exports,
                                                command=f"showmount -e --no-headers {server}")
        fields["nfs_showmount"] = views
    rows = raw_host.get(ISCSI_KEY)
    if rows is not None:
        lists = {}
        for r in rows:
            status, detail = _status(r)
            targets = {}
            if r.get("out"):
                try:
                    targets = parse_iscsi_ls(r["out"])
                except ValueError as exc:
                    status, detail = "error", f"unparsable iscsi-ls output: {exc}"
            host, initiator = str(r.get("host") or ""), str(r.get("initiator") or "")
            try:
                port = int(r.get("port") or 3260)
            except (TypeError, ValueError):
                port = 0
            lists[(host.lower(), port, initiator)] = ToolListing(
                server=_portal(host, port), status=status, detail=detail, targets=targets,
                command=f"iscsi-ls -i {initiator} -s iscsi://{_portal(host, port)}/")
        fields["iscsi_lists"] = lists
    return fields
