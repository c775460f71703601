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
    first runs a test listener (one exec; python3, else socat) on a free port of its
    migration range. It binds the LOWEST free port of the range, the very port libvirt's
    allocator would hand the next incoming migration (a firewall that opens only part of the
    range must not pass on an untested port), and it lives until every source has probed:
    the controller closes its stdin then and it exits at once (LISTENER_LIFETIME is only a
    safety net), so nothing is left running and no later run finds that port taken. Each
    probe sends a per-pair nonce that the listener reports back, so a connection that was
    answered by something else (the name leads to another host) is not taken for success.
    Each source probes all destinations in ONE exec (in parallel, each connect bounded)
    that also records `getent hosts NAME`.

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
from preflight.facts.probe_guard import GUARD_CODE, host_policy, is_literal, refusal, storage_policy
from preflight.facts.listings import ISCSI_KEY, LIST_TIMEOUT, LISTS_FIXED_ARGS, SHOWMOUNT_KEY, lists_argv, rows_from_output
from preflight.transport.errors import TransportError

__all__ = ["run_pairs", "migration_port_range", "LISTENER_CODE", "PROBE_CODE"]

DEFAULT_MIGRATION_PORTS = (49152, 49215)
PROBE_TIMEOUT = 5.0
# A safety net only: the controller closes each listener as soon as every probe is done.
LISTENER_LIFETIME = 120

# Runs on the destination: bind the LOWEST free port of [lo, hi] (dual stack when possible),
# the port libvirt would give the next incoming migration; print READY PORT. Every connection
# is read for the probe's nonce line (at most 64 bytes, 2 s) and reported as ACCEPT PEER NONCE,
# so the controller knows WHICH source reached THIS listener. The listener lives until its
# stdin reaches EOF (the controller is done, or the SSH connection died) and never longer than
# LIFE seconds: no count of expected connections, so a stray or missing connection of one pair
# can neither end it early for the others nor keep it (and the port) alive after the run.
LISTENER_CODE = r"""
import os, re, select, socket, sys, time
lo, hi, life = (int(a) for a in sys.argv[1:4])
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
conns, got, stdin_open, drain_until = {}, 0, True, None
def report(c):
    global got
    peer, buf, _ = conns.pop(c)
    c.close()
    m = re.match(rb"[A-Za-z0-9]{1,40}", buf)
    print("ACCEPT %s %s" % (peer, m.group(0).decode() if m else "-"), flush=True)
    got += 1
while True:
    now = time.monotonic()
    if now >= end or (drain_until is not None and (not conns or now >= drain_until)):
        break
    watch = [s] + list(conns) + ([0] if stdin_open else [])
    r, _, _ = select.select(watch, [], [], min(end - now, 0.5))
    if 0 in r:
        if not os.read(0, 512):
            stdin_open, drain_until = False, time.monotonic() + 1.0
    if s in r:
        c, a = s.accept()
        c.setblocking(False)
        conns[c] = [a[0][7:] if a[0].startswith("::ffff:") else a[0], b"", time.monotonic()]
    for c in [c for c in r if c in conns]:
        try:
            data = c.recv(64)
        except OSError:
            data = b""
        conns[c][1] += data
        if not data or b"\n" in conns[c][1] or len(conns[c][1]) >= 64:
            report(c)
    for c in [c for c, v in conns.items() if time.monotonic() - v[2] > 2.0]:
        report(c)
for c in list(conns):
    report(c)
print("DONE %d" % got, flush=True)
"""

# Runs on the source: JSON {"timeout": T, "targets": [{"host","port","nonce","allow"}...]} -> JSON
# results. Each resolved address is checked against the target's policy (preflight.facts.probe_guard)
# before the connect.
PROBE_CODE = GUARD_CODE + r"""
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
    why = refuse(addr, t.get("allow") or {"own": [], "of": host})
    if why is not None:   # W8: never connect where host data points outside the policy
        res[i] = {"outcome": "not_probed", "detail": "not probed: %s resolves to %s here; %s" % (host, addr, why),
                  "address": addr, "elapsed_ms": int((time.monotonic() - t0) * 1000)}
        return
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(T)
    try:
        s.connect(sa)
        outcome = "answered"
        if t.get("nonce"):
            try:   # tells the destination's test listener which probe reached it
                s.sendall((t["nonce"] + "\n").encode())
            except OSError:
                pass
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

# $0 = PROBE_CODE, $1 = JSON spec, $2 = timeout, $3 = interpreters, then host port nonce triples
# (nonce "-" when the target has no test listener).
# Without a Python, bash's /dev/tcp under coreutils `timeout` does the probes in parallel and
# prints "PFB index rc elapsed_ms stderr" lines.
_PROBE_SH = r"""for p in $3; do
  if command -v "$p" >/dev/null 2>&1; then exec "$p" -c "$0" "$@"; fi
done
if ! command -v bash >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then
  echo "neither python3 nor bash+timeout on this host" >&2; exit 127
fi
T=$2; shift 3; i=0
while [ $# -ge 3 ]; do
  if [ "$1" = "-" ]; then echo "PFB $i 125 0 not checked"; i=$((i + 1)); shift 3; continue; fi
  ( s=$(date +%s%N)
    e=$(timeout "$T" bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "%s\n" "$2" >&3' "$1" "$2" "$3" 2>&1); rc=$?
    echo "PFB $i $rc $(( ($(date +%s%N) - s) / 1000000 )) $(printf %s "$e" | tr '\n' ' ')" ) &
  i=$((i + 1)); shift 3
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
        if t.get("refused"):
            outcome, detail = "not_probed", f"not probed: {t['refused']}"
        elif rc == 0:
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

# $0 = LISTENER_CODE, $1 lo, $2 hi, $3 lifetime, $4 interpreters. Without a Python, socat
# listens on the lowest port of the range (it cannot report nonces: probes stay unconfirmed)
# until stdin reaches EOF, like the Python listener.
_SOCAT_LISTENER = ('p=$1; life=$3; '
                   'for py in $4; do '
                   'if command -v "$py" >/dev/null 2>&1; then exec "$py" -c "$0" "$@"; fi; done; '
                   'if command -v socat >/dev/null 2>&1; then '
                   'timeout "$life" socat -T 2 TCP-LISTEN:"$p",reuseaddr,fork SYSTEM:true </dev/null & pid=$!; '
                   'sleep 0.3; '
                   'if kill -0 $pid 2>/dev/null; then echo "READY $p"; cat >/dev/null; kill $pid 2>/dev/null; '
                   'wait $pid; echo "DONE ?"; exit 0; fi; '
                   'echo "FAIL socat could not listen on port $p"; exit 2; fi; '
                   'echo "FAIL neither python3 nor socat on this host" ; exit 127')


def clean_line(text: str, limit: int = 300) -> str:
    """Host text for a one-line message: control characters dropped, whitespace collapsed, capped."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:limit]


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
    """The destination's short-lived test listener (LISTENER_CODE) on one exec channel.

    Lines are read with a byte cap and the caller's deadline checked inside the read loop, so a
    hostile or broken host streaming garbage cannot hang the run or fill memory."""

    MAX_LINE = 256           # a READY/ACCEPT/DONE line is far shorter
    MAX_BYTES = 1 << 20      # everything one listener may send

    def __init__(self, name: str):
        self.name = name
        self.channel = None
        self.port: Optional[int] = None
        self.error: Optional[str] = None     # it never listened: a 'refused' proves nothing then
        self.died: Optional[str] = None      # it stopped listening before the probes were done
        self.accepted: list = []             # [(peer address, nonce or None)]
        self.reported = False                # DONE seen: `accepted` is complete
        self._buf = b""
        self._received = 0

    def start(self, conn, lo: int, hi: int, lifetime: int, ready_timeout: float = 10.0,
              pythons=PYTHONS):
        try:
            self.channel = conn.open_channel(["sh", "-c", _SOCAT_LISTENER, LISTENER_CODE, str(lo), str(hi),
                                              str(lifetime), " ".join(pythons)], sudo=False)
        except TransportError as exc:
            self.error = f"cannot start the test listener: {exc}"
            return
        self.channel.settimeout(0.5)
        line = self._line(time.monotonic() + ready_timeout)
        if line is not None and line.startswith("READY "):
            try:
                port = int(line.split()[1])
            except (IndexError, ValueError):
                port = None
            if port is not None and lo <= port <= hi:
                self.port = port
                return
            if port is not None:   # W8: the sources would probe a port the host chose, not its range
                self.error = f"test listener reported port {port}, outside the migration range {lo}-{hi}"
                self._close()
                return
        if line is not None and line.startswith("FAIL"):
            self.error = f"test listener: {clean_line(line[5:])}"
        elif line is not None:
            self.error = f"test listener printed {clean_line(line)!r} instead of READY"
        elif self.channel.exit_status_ready():
            err = self.channel.recv_stderr(4096).decode("utf-8", "replace") if self.channel.recv_stderr_ready() else ""
            self.error = f"test listener exited ({self.channel.recv_exit_status()}) {clean_line(err)}".strip()
        else:
            self.error = f"test listener did not start within {ready_timeout:g} s"
        self._close()

    def _line(self, deadline: float) -> Optional[str]:
        """The next line, or None at EOF, at the deadline, or past a byte cap."""
        while b"\n" not in self._buf:
            if time.monotonic() >= deadline or len(self._buf) > self.MAX_LINE \
                    or self._received > self.MAX_BYTES:
                return None
            try:
                data = self.channel.recv(4096)
            except Exception:                                  # noqa: BLE001 - socket.timeout: look again
                if self.channel.closed or (self.channel.exit_status_ready() and not self.channel.recv_ready()):
                    return None
                continue
            if not data:
                return None
            self._received += len(data)
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()

    def check_alive(self) -> None:
        """Called after the probes: a listener that already exited may have missed them."""
        if self.channel is not None and self.died is None and self.channel.exit_status_ready():
            self.died = f"the test listener on {self.name} exited before the probes were done"

    def finish(self, wait: float = 5.0) -> None:
        """Close its stdin (the listener then reports what it still holds and exits at once) and
        collect every ACCEPT until DONE."""
        if self.channel is None:
            return
        self.check_alive()
        try:
            self.channel.shutdown_write()
        except Exception:                                      # noqa: BLE001 - already gone
            pass
        deadline = time.monotonic() + wait
        while True:
            line = self._line(deadline)
            if line is None:
                break
            if line.startswith("ACCEPT "):
                parts = line.split()
                nonce = parts[2] if len(parts) > 2 and parts[2] != "-" else None
                self.accepted.append((parts[1] if len(parts) > 1 else "?", nonce))
            elif line.startswith("DONE"):
                # the socat fallback cannot tell nonces ("DONE ?"): its probes stay unconfirmed
                self.reported = not line.endswith("?")
                break
        self._close()

    def confirmed(self, nonce: str) -> Optional[bool]:
        """Did this listener see the probe carrying `nonce`? None when it cannot tell."""
        if not self.reported:
            return None
        return any(n == nonce for _, n in self.accepted)

    def _close(self) -> None:
        try:
            self.channel.close()
        except Exception:                                      # noqa: BLE001
            pass


def _probe_from_source(conn, destinations: list, timeout: float, pythons=PYTHONS,
                       lists: Optional[dict] = None, listed: Optional[dict] = None,
                       policy: Optional[dict] = None) -> tuple:
    """ONE exec on the source: getent hosts for each destination name + all TCP probes, then
    (when `lists` is given, see preflight.facts.listings.list_targets) the showmount / iscsi-ls
    listings, in parallel and bounded, AFTER the probes (the test listeners are short-lived).
    destinations: [{"name", "target", "ports": [(port, purpose[, nonce])]}] (the nonce is sent
    on connect, for the destination's test listener to report). Returns
    (resolved {target: ip|None}, resolve_notes {target: why}, results {(dest, port, purpose): dict}, error);
    the listing rows go to listed["nfs_showmount"] / listed["iscsi_lists"]."""
    names = sorted({d["target"] for d in destinations})
    facts = {f"resolve_{i}": ["getent", "hosts", "--", n] for i, n in enumerate(names)}
    targets = []
    index = []
    for d in destinations:
        for port, purpose, *nonce in d["ports"]:
            targets.append({"host": d["target"], "port": port, "nonce": nonce[0] if nonce else None,
                            "allow": d.get("allow") or {"own": [], "of": str(d["name"])}})
            index.append((d["name"], port, purpose))
    facts["probe"] = ["sh", "-c", _PROBE_SH, PROBE_CODE, json.dumps({"timeout": timeout, "targets": targets}),
                      str(int(max(1, round(timeout)))), " ".join(pythons)]
    for t in targets:
        # the no-Python fallback cannot check what a name resolves to: only a literal address the
        # controller checked here is probed by it (W8)
        t["refused"] = (refusal(t["host"], t["allow"]) if is_literal(t["host"]) else
                        f"{conn.name} has no python3 to check the address {t['host']} resolves to before connecting")
        facts["probe"] += ["-" if t["refused"] else t["host"], str(t["port"]), t["nonce"] or "-"]
    marker = "PFP" + secrets.token_hex(10)
    list_marker = "PFL" + secrets.token_hex(10)
    list_argv = lists_argv(lists, list_marker, LIST_TIMEOUT, policy, pythons) if lists is not None else None
    if list_argv is not None:
        facts["lists"] = list_argv
    extra = LIST_TIMEOUT + 5 if list_argv is not None else 0

    def keep_lists(parsed_lists: dict, why: Optional[str]):
        if lists is not None and listed is not None:
            listed[SHOWMOUNT_KEY], listed[ISCSI_KEY] = rows_from_output(lists, parsed_lists, why)

    try:
        # W9: showmount / iscsi-ls parse what network servers answer: address space limited too
        res = conn.run_script(build_facts_script(facts, marker, per_command_timeout=int(timeout + 15),
                                                 untrusted=frozenset({"lists"})),
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
            n = len(list_argv[LISTS_FIXED_ARGS:]) // 4
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
              list_targets: Optional[dict] = None, probe_networks: tuple = ()) -> list:
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
    hosts[source]["iscsi_lists"]. No round trip either.

    probe_networks: the inventory's CIDRs that servers named only by host data (network disks,
    mounts) must lie in (empty: anything but special addresses); a destination is probed only on
    its own addresses (preflight.facts.probe_guard)."""
    storage = storage_policy(probe_networks)
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
                                                        listener_lifetime), names))
            # one nonce per ordered pair: the destination's listener reports which probe reached it
            nonces = {(s, d): secrets.token_hex(8) for s in names for d in names if s != d}

            def source_job(s):
                dests = []
                for d in names:
                    if d == s:
                        continue
                    mport = listeners[d].port or plan[d]["lo"]
                    dests.append({"name": d, "target": plan[d]["target"], "allow": host_policy(d, hosts[d]),
                                  "ports": [(mport, "migration", nonces[(s, d)]), (plan[d]["ssh_port"], "ssh")]})
                # storage servers ride the same exec: NFS servers' ports, network-disk portals
                for server, spec in (nfs_targets or {}).items():
                    dests.append({"name": ("nfs", server), "target": spec["target"], "ports": list(spec["ports"]),
                                  "allow": {"own": list(spec.get("own") or ()), "of": server}})
                for t in portal_targets or ():
                    dests.append({"name": ("portal", t["target"]), "target": t["target"], "allow": storage,
                                  "ports": [(t["port"], t["protocol"])]})
                listed: dict = {}
                got = _probe_from_source(sessions[s].conn, dests, probe_timeout, lists=list_targets,
                                         listed=listed, policy=storage)
                return s, got, listed

            note("*", "pairs", "probing")
            probed = list(pool.map(source_job, names))
            # Every probe is done: only now may the listeners go (each one serves all sources).
            list(pool.map(lambda lst: lst.finish(), listeners.values()))
            for s, (resolved, notes, results, error), listed in probed:
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
                    lst = listeners[d]
                    for port, purpose in ((lst.port or plan[d]["lo"], "migration"), (plan[d]["ssh_port"], "ssh")):
                        row = results.get((d, port, purpose), {})
                        probe = {"port": port, "purpose": purpose, "target": tgt,
                                 "outcome": row.get("outcome", "error"), "detail": row.get("detail"),
                                 "elapsed_ms": row.get("elapsed_ms")}
                        if purpose == "migration":
                            probe["listener"] = lst.error or lst.died
                            probe["confirmed"] = None if probe["listener"] else lst.confirmed(nonces[(s, d)])
                            if probe["listener"]:
                                pair["errors"]["migration_listener"] = probe["listener"]
                        pair["probes"].append(probe)

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
