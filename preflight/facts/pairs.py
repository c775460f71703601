"""The pair phase: facts about (source, destination) host pairs, after all hosts are gathered.

(a) CPU: for each running source domain and each destination, the destination libvirt's
    verdict (compareHypervisorCPU with VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE, so an
    incompatible CPU comes back with libvirt's missing-features message) on the CPU the
    migration hands over: the guest's LIVE <cpu> (what libvirt's migration cookie carries,
    disabled features included), the configured one only when the live XML was not gathered,
    and for host-passthrough/maximum guests the source's host-model CPU (see
    preflight.facts.cpu_defs). Identical definitions are compared once per destination, over
    the destination's one libvirt connection.
(b) Network: a bounded TCP probe FROM each source TO each destination's migration port and
    ssh port, connecting to the destination's libvirt hostname as the SOURCE resolves it (the
    source libvirtd opens the migration data connection to that name). A port with no
    listener would look "refused" even when the firewall allows it, so each destination
    first runs a short-lived listener (one exec; python3, else socat) on a free port of its
    migration range; it changes nothing persistent and exits after the expected
    connections or LISTENER_LIFETIME seconds. It binds the LOWEST free port of the range,
    the very port libvirt's allocator would hand the next incoming migration (a firewall that
    opens only part of the range must not pass on an untested port). Each source then probes all destinations in ONE
    exec (in parallel, each connect bounded) that also records `getent hosts NAME`.

(c) Storage servers, in that same per-source exec: the NFS servers' ports (nfs_targets) and
    every TCP server named by a guest's <disk type='network'> anywhere in the cluster
    (portal_targets: iSCSI portals, Gluster, NBD, Ceph monitors, ...), since any hypervisor
    may become any guest's destination.
    Still in that exec, after the probes: `showmount -e` of every NFS server and `iscsi-ls -s`
    of every iSCSI portal the guests use, as seen from this host (preflight.facts.listings).

Round trips: every destination 1 (listener), every source 1 (probes) -- reported per host as
"pair_round_trips"; in the pair records the source's shared exec is charged to its first pair.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from preflight.facts.cpu_defs import guest_compare_target
from preflight.facts.gather import build_facts_script, parse_facts_output
from preflight.facts.listings import ISCSI_KEY, LIST_TIMEOUT, SHOWMOUNT_KEY, lists_argv, rows_from_output
from preflight.transport.errors import TransportError

__all__ = ["run_pairs", "migration_port_range", "LISTENER_CODE", "PROBE_CODE"]

DEFAULT_MIGRATION_PORTS = (49152, 49215)
PROBE_TIMEOUT = 5.0
LISTENER_LIFETIME = 15

# Runs on the destination: bind the LOWEST free port of [lo, hi] (dual stack when possible),
# the port libvirt would give the next incoming migration; a migration starting meanwhile
# simply gets the next one, as libvirt's allocator skips ports in use,
# print READY PORT, accept up to N connections (closing each at once), exit after N or LIFE s.
LISTENER_CODE = r"""
import select, socket, sys, time
lo, hi, n, life = (int(a) for a in sys.argv[1:5])
s = None
for fam, host in ((getattr(socket, "AF_INET6", None), "::"), (socket.AF_INET, "0.0.0.0")):
    if fam is None:
        continue
    for port in range(lo, hi + 1):
        try:
            x = socket.socket(fam, socket.SOCK_STREAM)
        except OSError:
            break
        try:
            if fam != socket.AF_INET:
                x.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            # as QEMU does: a port in TIME_WAIT is free for a new listener, a listening one is not
            x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            x.bind((host, port))
            x.listen(128)
            s = x
            break
        except OSError:
            x.close()
    if s is not None:
        break
if s is None:
    print("FAIL no free port in %d-%d" % (lo, hi), flush=True)
    sys.exit(2)
print("READY %d" % port, flush=True)
end = time.monotonic() + life
got = 0
while got < n:
    left = end - time.monotonic()
    if left <= 0:
        break
    r, _, _ = select.select([s], [], [], left)
    if r:
        c, a = s.accept()
        c.close()
        got += 1
        peer = a[0][7:] if a[0].startswith("::ffff:") else a[0]
        print("ACCEPT %s" % peer, flush=True)
print("DONE %d" % got, flush=True)
"""

# Runs on the source: JSON {"timeout": T, "targets": [{"host","port"}...]} -> JSON results.
PROBE_CODE = r"""
import errno, json, socket, sys, threading, time
spec = json.loads(sys.argv[1])
T = float(spec["timeout"])
res = [None] * len(spec["targets"])
def probe(i, t):
    t0 = time.monotonic()
    host, port = t["host"], int(t["port"])
    outcome, detail, addr = "error", None, None
    try:
        info = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as e:
        res[i] = {"outcome": "error", "detail": "cannot resolve %s: %s" % (host, e.strerror),
                  "address": None, "elapsed_ms": int((time.monotonic() - t0) * 1000)}
        return
    fam, _, _, _, sa = info[0]
    addr = sa[0]
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(T)
    try:
        s.connect(sa)
        outcome = "answered"
    except socket.timeout:
        outcome, detail = "timeout", "no answer from %s:%d within %gs (packets silently dropped?)" % (addr, port, T)
    except ConnectionRefusedError:
        outcome, detail = "refused", "%s:%d refused the connection" % (addr, port)
    except OSError as e:
        unreach = (errno.EHOSTUNREACH, errno.ENETUNREACH, getattr(errno, "EHOSTDOWN", -1))
        outcome = "unreachable" if e.errno in unreach else "error"
        detail = "%s:%d: %s" % (addr, port, e.strerror or e)
    finally:
        s.close()
    res[i] = {"outcome": outcome, "detail": detail, "address": addr,
              "elapsed_ms": int((time.monotonic() - t0) * 1000)}
ths = [threading.Thread(target=probe, args=(i, t), daemon=True) for i, t in enumerate(spec["targets"])]
for t in ths: t.start()
for t in ths: t.join(T + 5)
print(json.dumps(res))
"""

PYTHONS = ("python3", "/usr/libexec/platform-python")

# $0 = PROBE_CODE, $1 = JSON spec, $2 = timeout, $3 = interpreters, then host port pairs.
# Without a Python, bash's /dev/tcp under coreutils `timeout` does the probes in parallel and
# prints "PFB index rc elapsed_ms stderr" lines.
_PROBE_SH = r"""for p in $3; do
  if command -v "$p" >/dev/null 2>&1; then exec "$p" -c "$0" "$@"; fi
done
if ! command -v bash >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then
  echo "neither python3 nor bash+timeout on this host" >&2; exit 127
fi
T=$2; shift 3; i=0
while [ $# -ge 2 ]; do
  ( s=$(date +%s%N); e=$(timeout "$T" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1); rc=$?
    echo "PFB $i $rc $(( ($(date +%s%N) - s) / 1000000 )) $(printf %s "$e" | tr '\n' ' ')" ) &
  i=$((i + 1)); shift 2
done
wait
"""


def _fallback_rows(out: str, targets: list) -> list:
    rows = [None] * len(targets)
    for line in out.splitlines():
        parts = line.split(" ", 4)
        if len(parts) < 4 or parts[0] != "PFB":
            continue
        i, rc, ms = int(parts[1]), int(parts[2]), int(parts[3])
        err = parts[4].strip() if len(parts) > 4 else ""
        t = targets[i]
        where = f"{t['host']}:{t['port']}"
        low = err.lower()
        if rc == 0:
            outcome, detail = "answered", None
        elif rc == 124:
            outcome, detail = "timeout", f"no answer from {where} (packets silently dropped?)"
        elif "refused" in low:
            outcome, detail = "refused", f"{where} refused the connection"
        elif "no route" in low or "unreachable" in low:
            outcome, detail = "unreachable", f"{where}: {err}"
        else:
            outcome, detail = "error", f"{where}: {err or 'rc %d' % rc}"
        rows[i] = {"outcome": outcome, "detail": detail, "address": None, "elapsed_ms": ms}
    return rows

_SOCAT_LISTENER = ('p=$1; life=$4; '
                   'for py in $5; do '
                   'if command -v "$py" >/dev/null 2>&1; then exec "$py" -c "$0" "$@"; fi; done; '
                   'if command -v socat >/dev/null 2>&1; then '
                   'timeout "$life" socat -T 2 TCP-LISTEN:"$p",reuseaddr,fork SYSTEM:true & pid=$!; sleep 0.3; '
                   'if kill -0 $pid 2>/dev/null; then echo "READY $p"; wait $pid; echo "DONE ?"; exit 0; fi; '
                   'echo "FAIL socat could not listen on port $p"; exit 2; fi; '
                   'echo "FAIL neither python3 nor socat on this host" ; exit 127')


def migration_port_range(qemu_conf: Optional[str]) -> tuple:
    lo, hi = DEFAULT_MIGRATION_PORTS
    if qemu_conf:
        m = re.search(r"(?m)^\s*migration_port_min\s*=\s*(\d+)", qemu_conf)
        if m:
            lo = int(m.group(1))
        m = re.search(r"(?m)^\s*migration_port_max\s*=\s*(\d+)", qemu_conf)
        if m:
            hi = int(m.group(1))
    return lo, max(lo, hi)


# --- (a) CPU ------------------------------------------------------------------------------

def _compare_on_destination(dname: str, bridge, sources: dict) -> dict:
    """{source: {domain: {"result", "message", "compared"}}} for one destination (one thread).

    sources: {source name: {"domains": [raw domain entries], "domcapabilities": xml or None}}.
    Only running guests are judged. What is compared per guest is decided by
    preflight.facts.cpu_defs.guest_compare_target (the live <cpu>; for host-passthrough/maximum
    the source's host-model CPU); identical definitions cost one call per destination."""
    import libvirt
    flags = getattr(libvirt, "VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE", 1)
    names = {1: "identical", 2: "superset", 0: "incompatible"}
    cache: dict = {}
    out: dict = {}
    for sname, src in sources.items():
        verdicts = out.setdefault(sname, {})
        for dom in src.get("domains") or ():
            if not dom.get("active"):
                continue
            target = guest_compare_target(dom, src.get("domcapabilities"))
            name = dom.get("name", "?")
            if target.cpu_xml is None:
                verdicts[name] = {"result": None, "message": target.why, "compared": target.compared}
                continue
            if target.key not in cache:
                try:
                    code = bridge.call("compareHypervisorCPU", bridge.conn.compareHypervisorCPU,
                                       None, target.arch, target.machine, target.virttype, target.cpu_xml,
                                       flags)
                    cache[target.key] = {"result": names.get(code, str(code)), "message": None}
                except TransportError as exc:
                    text = str(exc)
                    code = getattr(exc, "code", None)
                    if code == getattr(libvirt, "VIR_ERR_CPU_INCOMPATIBLE", 91):
                        cache[target.key] = {"result": "incompatible",
                                             "message": text.split("failed: ", 1)[-1]}
                    else:
                        cache[target.key] = {"result": None, "message": text}
            verdicts[name] = dict(cache[target.key], compared=target.compared)
    return out


# --- (b) probes ---------------------------------------------------------------------------

class _Listener:
    def __init__(self, name: str):
        self.name = name
        self.channel = None
        self.port: Optional[int] = None
        self.error: Optional[str] = None
        self.accepted: list = []
        self._buf = b""

    def start(self, conn, lo: int, hi: int, expected: int, lifetime: int, ready_timeout: float = 10.0,
              pythons=PYTHONS):
        try:
            self.channel = conn.open_channel(["sh", "-c", _SOCAT_LISTENER, LISTENER_CODE, str(lo), str(hi),
                                              str(expected), str(lifetime), " ".join(pythons)], sudo=False)
        except TransportError as exc:
            self.error = f"cannot start the test listener: {exc}"
            return
        deadline = time.monotonic() + ready_timeout
        self.channel.settimeout(0.5)
        while time.monotonic() < deadline:
            line = self._line()
            if line is None:
                if self.channel.exit_status_ready() and not self.channel.recv_ready():
                    err = self.channel.recv_stderr(4096).decode("utf-8", "replace") if self.channel.recv_stderr_ready() else ""
                    self.error = f"test listener exited ({self.channel.recv_exit_status()}) {' '.join(err.split())}".strip()
                    return
                continue
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return
            if line.startswith("FAIL"):
                self.error = f"test listener: {line[5:]}"
                return
        self.error = f"test listener did not start within {ready_timeout:g} s"

    def _line(self) -> Optional[str]:
        while b"\n" not in self._buf:
            try:
                data = self.channel.recv(4096)
            except Exception:
                return None
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()

    def finish(self, wait: float = 2.0) -> None:
        if self.channel is None:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            line = self._line()
            if line is None:
                if self.channel.closed or self.channel.eof_received:
                    break
                continue
            if line.startswith("ACCEPT "):
                self.accepted.append(line.split()[1])
            elif line.startswith("DONE"):
                break
        try:
            self.channel.close()
        except Exception:
            pass


def _probe_from_source(conn, destinations: list, timeout: float, pythons=PYTHONS,
                       lists: Optional[dict] = None, listed: Optional[dict] = None) -> tuple:
    """ONE exec on the source: getent hosts for each destination name + all TCP probes, then
    (when `lists` is given, see preflight.facts.listings.list_targets) the showmount / iscsi-ls
    listings, in parallel and bounded, AFTER the probes (the test listeners are short-lived).
    destinations: [{"name", "target", "ports": [(port, purpose)]}]. Returns
    (resolved {target: ip|None}, resolve_notes {target: why}, results {(dest, port, purpose): dict}, error);
    the listing rows go to listed["nfs_showmount"] / listed["iscsi_lists"]."""
    names = sorted({d["target"] for d in destinations})
    facts = {f"resolve_{i}": ["getent", "hosts", n] for i, n in enumerate(names)}
    targets = []
    index = []
    for d in destinations:
        for port, purpose in d["ports"]:
            targets.append({"host": d["target"], "port": port})
            index.append((d["name"], port, purpose))
    facts["probe"] = ["sh", "-c", _PROBE_SH, PROBE_CODE, json.dumps({"timeout": timeout, "targets": targets}),
                      str(int(max(1, round(timeout)))), " ".join(pythons)]
    for t in targets:
        facts["probe"] += [t["host"], str(t["port"])]
    marker = "PFP" + secrets.token_hex(10)
    list_marker = "PFL" + secrets.token_hex(10)
    list_argv = lists_argv(lists, list_marker, LIST_TIMEOUT) if lists is not None else None
    if list_argv is not None:
        facts["lists"] = list_argv
    extra = LIST_TIMEOUT + 5 if list_argv is not None else 0

    def keep_lists(parsed_lists: dict, why: Optional[str]):
        if lists is not None and listed is not None:
            listed[SHOWMOUNT_KEY], listed[ISCSI_KEY] = rows_from_output(lists, parsed_lists, why)

    try:
        res = conn.run_script(build_facts_script(facts, marker, per_command_timeout=int(timeout + 15)),
                              timeout=timeout + 30 + extra, sudo=False)
    except TransportError as exc:
        keep_lists({}, f"probe exec failed: {exc}")
        return {}, {}, {}, f"probe exec failed: {exc}"
    parsed, errors = parse_facts_output(res.stdout_bytes, marker, facts.keys())
    if list_argv is not None:
        lf = parsed.get("lists")
        if lf is None:
            keep_lists({}, f"listing did not run on {conn.name}: {errors.get('lists') or 'no output'}")
        else:
            n = len(list_argv[6:]) // 3
            got, _ = parse_facts_output(lf["out"].encode(), list_marker, [str(i) for i in range(n)])
            for row in got.values():
                if row["rc"] == 124 and row["err"].startswith("timed out after"):
                    row["err"] = ""
            why = None if got or lf["rc"] == 0 else \
                f"listing script failed on {conn.name} (rc {lf['rc']}): {' '.join(lf['err'].split())[:300]}"
            keep_lists(got, why)
    elif lists is not None:
        keep_lists({}, None)
    resolved, notes = {}, {}
    for i, n in enumerate(names):
        f = parsed.get(f"resolve_{i}")
        if f and f["rc"] == 0 and f["out"].split():
            resolved[n] = f["out"].split()[0]
        else:
            resolved[n] = None
            rc = f["rc"] if f else "?"
            notes[n] = f"`getent hosts {n}` on {conn.name} found nothing (rc {rc})"
    results = {}
    p = parsed.get("probe")
    if not p or p["rc"] != 0:
        why = (p["err"].strip() if p else errors.get("probe")) or f"rc {p['rc'] if p else '?'}"
        return resolved, notes, {}, f"probe script failed on {conn.name}: {' '.join(why.split())[:300]}"
    if p["out"].startswith("PFB") or "\nPFB " in p["out"] or not p["out"].strip():
        rows = _fallback_rows(p["out"], targets)
    else:
        try:
            rows = json.loads(p["out"])
        except ValueError:
            return resolved, notes, {}, f"probe script printed no JSON on {conn.name}"
    for key, row in zip(index, rows):
        results[key] = row or {"outcome": "error", "detail": "probe did not finish", "address": None,
                               "elapsed_ms": None}
    return resolved, notes, results, None


# --- the phase ------------------------------------------------------------------------------

def run_pairs(sessions: dict, hosts: dict, *, probe_timeout: float = PROBE_TIMEOUT,
              listener_lifetime: int = LISTENER_LIFETIME, workers: int = 16,
              cpu: bool = True, probes: bool = True, progress: Optional[Callable] = None,
              nfs_targets: Optional[dict] = None, portal_targets: Optional[list] = None,
              list_targets: Optional[dict] = None) -> list:
    """sessions: name -> object with .conn (open Connection or None) and .bridge (open
    LibvirtBridge or None); hosts: name -> raw host entry (updated in place with
    "pair_round_trips" and "pair_libvirt_calls"). Returns the raw "pairs" list.

    nfs_targets: {storage host: {"target": name or address, "ports": [(port, purpose)]}}
    (see preflight.facts.storage_hosts.nfs_probe_targets): probed from every source in the
    same exec as the migration ports; results go to hosts[source]["nfs_probes"].

    portal_targets: [{"protocol", "target", "port"}] -- every TCP server named by a guest's
    <disk type='network'> in the cluster (see preflight.facts.portals.network_disk_targets):
    also probed from every source in that same exec; results go to
    hosts[source]["portal_probes"]. Neither adds a round trip.

    list_targets: {"showmount": [server], "iscsi": [{"host","port","initiator","chap"}]} (see
    preflight.facts.listings.list_targets): `showmount -e` and `iscsi-ls -s` run FROM every
    source in that same exec, after the probes; rows go to hosts[source]["nfs_showmount"] and
    hosts[source]["iscsi_lists"]. No round trip either."""
    names = [n for n in hosts if hosts[n].get("reachable") and sessions.get(n) is not None
             and sessions[n].conn is not None]
    before_rt = {n: sessions[n].conn.round_trips for n in names}
    before_lv = {n: (sessions[n].bridge.calls if sessions[n].bridge else 0) for n in names}
    pairs = {(s, d): {"source": s, "destination": d, "round_trips": 0, "cpu": {}, "probes": [],
                      "resolved": None, "errors": {}}
             for s in names for d in names if s != d}
    if not pairs:
        return []

    def note(host, stage, info=None):
        if progress:
            progress(host, stage, info)

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(names))), thread_name_prefix="pairs-net")
    cpu_pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(names))), thread_name_prefix="pairs-cpu")
    try:
        # (a) CPU verdicts, one thread per destination
        cpu_futures = {}
        if cpu:
            for d in names:
                bridge = sessions[d].bridge
                sources = {s: {"domains": hosts[s].get("libvirt", {}).get("domains", []),
                               "domcapabilities": hosts[s].get("libvirt", {}).get("domcapabilities")}
                           for s in names if s != d}
                if bridge is None or bridge.conn is None:
                    why = hosts[d].get("errors", {}).get("libvirt", "libvirt is not connected")
                    for s in sources:
                        pairs[(s, d)]["errors"]["cpu"] = f"destination libvirt unavailable: {why}"
                    continue
                cpu_futures[d] = cpu_pool.submit(_compare_on_destination, d, bridge, sources)

        # (b) listeners on every destination, then one probe exec per source
        if probes:
            listeners = {}
            plan = {}
            for d in names:
                lo, hi = migration_port_range(hosts[d].get("shell", {}).get("qemu_conf", {}).get("out"))
                target = (hosts[d].get("libvirt", {}).get("hostname")
                          or (hosts[d].get("shell", {}).get("hostname", {}).get("out") or "").strip()
                          or hosts[d].get("address") or d)
                plan[d] = {"lo": lo, "hi": hi, "target": target, "ssh_port": sessions[d].conn.port}
                listeners[d] = _Listener(d)
            note("*", "pairs", f"starting {len(listeners)} test listeners")
            list(pool.map(lambda d: listeners[d].start(sessions[d].conn, plan[d]["lo"], plan[d]["hi"],
                                                        len(names) - 1, listener_lifetime), names))

            def source_job(s):
                dests = []
                for d in names:
                    if d == s:
                        continue
                    mport = listeners[d].port or plan[d]["lo"]
                    dests.append({"name": d, "target": plan[d]["target"],
                                  "ports": [(mport, "migration"), (plan[d]["ssh_port"], "ssh")]})
                # storage servers ride the same exec: NFS servers' ports, network-disk portals
                for server, spec in (nfs_targets or {}).items():
                    dests.append({"name": ("nfs", server), "target": spec["target"], "ports": list(spec["ports"])})
                for t in portal_targets or ():
                    dests.append({"name": ("portal", t["target"]), "target": t["target"],
                                  "ports": [(t["port"], t["protocol"])]})
                listed: dict = {}
                got = _probe_from_source(sessions[s].conn, dests, probe_timeout, lists=list_targets,
                                         listed=listed)
                return s, got, listed

            note("*", "pairs", "probing")
            for s, (resolved, notes, results, error), listed in pool.map(source_job, names):
                hosts[s].update(listed)
                if nfs_targets is not None:
                    hosts[s]["nfs_probes"] = [
                        {"server": server, "port": port, "purpose": purpose, "target": spec["target"],
                         "outcome": "error" if error else results.get((("nfs", server), port, purpose), {}).get(
                             "outcome", "error"),
                         "detail": error or results.get((("nfs", server), port, purpose), {}).get("detail"),
                         "elapsed_ms": results.get((("nfs", server), port, purpose), {}).get("elapsed_ms")}
                        for server, spec in nfs_targets.items() for port, purpose in spec["ports"]]
                if portal_targets is not None:
                    hosts[s]["portal_probes"] = []
                    for t in portal_targets:
                        row = results.get((("portal", t["target"]), t["port"], t["protocol"]), {})
                        hosts[s]["portal_probes"].append(
                            {"protocol": t["protocol"], "target": t["target"], "port": t["port"],
                             "outcome": "error" if error else row.get("outcome", "error"),
                             "detail": error or row.get("detail"), "elapsed_ms": row.get("elapsed_ms")})
                first = True
                for d in names:
                    if d == s:
                        continue
                    pair = pairs[(s, d)]
                    if first:
                        pair["round_trips"] += 1
                        first = False
                    tgt = plan[d]["target"]
                    pair["resolved"] = resolved.get(tgt)
                    if tgt in notes:
                        pair["errors"]["resolved"] = notes[tgt]
                    if error:
                        pair["errors"]["probes"] = error
                        continue
                    for port, purpose in ((listeners[d].port or plan[d]["lo"], "migration"),
                                          (plan[d]["ssh_port"], "ssh")):
                        row = results.get((d, port, purpose), {})
                        detail = row.get("detail")
                        if purpose == "migration" and listeners[d].error:
                            detail = f"{detail or ''} (no test listener ran on {d}: {listeners[d].error}; "\
                                     "'refused' may only mean nothing listened)".strip()
                            pair["errors"]["migration_listener"] = listeners[d].error
                        pair["probes"].append({"port": port, "purpose": purpose, "target": tgt,
                                               "outcome": row.get("outcome", "error"), "detail": detail,
                                               "elapsed_ms": row.get("elapsed_ms")})
            for lst in listeners.values():
                lst.finish()

        for d, fut in cpu_futures.items():
            try:
                verdicts = fut.result()
            except Exception as exc:                               # noqa: BLE001
                for s in names:
                    if s != d:
                        pairs[(s, d)]["errors"]["cpu"] = f"{type(exc).__name__}: {exc}"
                continue
            for s, v in verdicts.items():
                pairs[(s, d)]["cpu"] = v
    finally:
        pool.shutdown(wait=True)
        cpu_pool.shutdown(wait=True)

    for n in names:
        hosts[n]["pair_round_trips"] = sessions[n].conn.round_trips - before_rt[n]
        hosts[n]["pair_libvirt_calls"] = (sessions[n].bridge.calls if sessions[n].bridge else 0) - before_lv[n]
    return [pairs[(s, d)] for s in names for d in names if s != d]
