"""Drain plan: where every running VM of one host can go, in what order, and the commands to move it.

Input: the run model of a `preflight check` (its migration matrix: the engine's verdicts, never
re-judged here) and the parsed facts (memory, CPUs, the guests' sizes). Output: a DrainPlan.

Rules (fail closed):

* A destination is a candidate for a VM only when the matrix says PASS for that migration (WARN
  too with ``accept_warnings``). FAIL names its blocking checks; UNKNOWN its undecided ones.
* Capacity counts what the plan already put there. Memory: the destination's MemAvailable less the
  guests planned onto it first (preflight.compat.capacity.judge_memory with ``incoming_kib``; huge
  pages: the free pages of the guest's size less the planned ones). CPUs: the vCPUs of the guests
  running there plus those planned must stay within ``vcpu_ratio`` x its CPUs (``nproc --all``),
  and a guest with more vCPUs than the host has CPUs is not placed there. Unknown capacity (a
  fact not gathered) is said, and no VM is placed on it.
* Order: small first (memory, then vCPUs, then name); how quiet a guest is (its dirty rate) is
  not in the facts of a check run, so the plan says so instead of guessing.
* Placement is greedy in that order: of the candidates with room, the one with the most memory
  left afterwards (spreads the load), ties by name.
* Time per move: from the convergence forecast (preflight.plan.forecast) only when its inputs
  (the guest's dirty rate, the pair's bandwidth) are known; otherwise unknown, and the total is
  unknown as soon as one move's time is.
* Commands: ``virsh -c SRC migrate --live --persistent --undefinesource DOMAIN DST`` with the
  inventory's connection options (qemu+ssh URIs, shell-quoted).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from typing import Optional
from urllib.parse import quote

from preflight.compat.capacity import OVERHEAD_KIB, judge_hugepages, judge_memory
from preflight.facts.guest_needs import GuestNeeds, parse_guest_needs
from preflight.model import Status

DEFAULT_VCPU_RATIO = 4.0      # OpenStack Nova's initial_cpu_allocation_ratio (since Stein): 4.0
MIGRATE_FLAGS = ("--live", "--persistent", "--undefinesource")
UNKNOWN_TIME = ("unknown: the forecast needs the guest's dirty rate and the pair's bandwidth, which a "
                "check run does not measure")


class DrainError(ValueError):
    """The plan cannot be made for this host (one line, usage error)."""


@dataclass(frozen=True)
class Connection:
    """How to reach one host's libvirt from where the commands are run."""
    host: str                      # the inventory name
    address: str                   # what the URI names (inventory address, else the name)
    user: Optional[str] = None
    port: Optional[int] = None
    keyfile: Optional[str] = None

    def uri(self) -> str:
        addr = self.address
        if ":" in addr and not addr.startswith("["):
            addr = f"[{addr}]"     # an IPv6 literal
        who = f"{quote(self.user, safe='')}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        query = f"?keyfile={quote(self.keyfile, safe='/')}" if self.keyfile else ""
        return f"qemu+ssh://{who}{addr}{port}/system{query}"


@dataclass
class Capacity:
    """One destination's room as the plan fills it."""
    host: str
    available_kib: Optional[int]
    total_kib: Optional[int]
    cpus: Optional[int]
    vcpus_running: Optional[int]
    memory_unknown: Optional[str] = None      # why MemAvailable is not known
    cpus_unknown: Optional[str] = None
    planned_kib: int = 0
    planned_vcpus: int = 0
    planned_hugepages: dict = field(default_factory=dict)   # page size kB -> pages
    placed: list = field(default_factory=list)

    def to_dict(self, ratio: float) -> dict:
        return {
            "host": self.host,
            "memory_available_kib": self.available_kib,
            "memory_total_kib": self.total_kib,
            "memory_planned_kib": self.planned_kib,
            "memory_left_kib": (None if self.available_kib is None else
                                self.available_kib - self.planned_kib - OVERHEAD_KIB * len(self.placed)),
            "memory_unknown": self.memory_unknown,
            "cpus": self.cpus,
            "vcpus_running": self.vcpus_running,
            "vcpus_planned": self.planned_vcpus,
            "vcpu_limit": None if self.cpus is None else self.cpus * ratio,
            "cpus_unknown": self.cpus_unknown,
            "placed": list(self.placed),
        }


@dataclass
class Move:
    order: int
    domain: str
    memory_kib: Optional[int]
    vcpus: Optional[int]
    destination: str
    candidates: list                       # destinations the matrix allows
    command: str
    argv: list
    estimate_s: Optional[float] = None
    estimate: str = UNKNOWN_TIME
    warnings: list = field(default_factory=list)    # check ids that WARNed (accept_warnings)
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"order": self.order, "domain": self.domain, "memory_kib": self.memory_kib,
                "vcpus": self.vcpus, "destination": self.destination, "candidates": list(self.candidates),
                "command": self.command, "argv": list(self.argv), "estimate_s": self.estimate_s,
                "estimate": self.estimate, "warnings": list(self.warnings), "notes": list(self.notes)}


@dataclass
class Refusal:
    """A VM that can go nowhere, with why per destination."""
    domain: str
    memory_kib: Optional[int]
    vcpus: Optional[int]
    destinations: list                     # [{destination, verdict, blockers, undecided, warnings, reason}]

    @property
    def blocking_checks(self) -> list:
        out = []
        for d in self.destinations:
            for cid in d.get("blockers", []) + d.get("undecided", []):
                if cid not in out:
                    out.append(cid)
        return out

    def to_dict(self) -> dict:
        return {"domain": self.domain, "memory_kib": self.memory_kib, "vcpus": self.vcpus,
                "blocking_checks": self.blocking_checks, "destinations": list(self.destinations)}


@dataclass
class DrainPlan:
    cluster: str
    host: str
    source: str                            # live / replay:...
    run_id: Optional[str]
    moves: list
    refused: list
    capacity: list                         # list[Capacity]
    vcpu_ratio: float
    accept_warnings: bool
    not_running: list = field(default_factory=list)   # defined, inactive domains on the host
    notes: list = field(default_factory=list)
    undecided_host: Optional[str] = None   # why the host's guests could not be listed
    flags: list = field(default_factory=lambda: list(MIGRATE_FLAGS))   # what the commands carry

    @property
    def total_s(self) -> Optional[float]:
        if not self.moves or any(m.estimate_s is None for m in self.moves):
            return None
        return sum(m.estimate_s for m in self.moves)

    def exit_code(self) -> int:
        """0 every running VM placed; 1 some VM can go nowhere; 3 the host's guests are not known."""
        if self.undecided_host:
            return 3
        return 1 if self.refused else 0

    def to_dict(self) -> dict:
        return {
            "kind": "preflight-drain-plan",
            "format": 1,
            "cluster": self.cluster,
            "host": self.host,
            "source": self.source,
            "run_id": self.run_id,
            "complete": self.undecided_host is None and not self.refused,
            "undecided": self.undecided_host,
            "policy": {"vcpu_ratio": self.vcpu_ratio, "accept_warnings": self.accept_warnings,
                       "migrate_flags": list(self.flags), "qemu_overhead_kib": OVERHEAD_KIB},
            "moves": [m.to_dict() for m in self.moves],
            "refused": [r.to_dict() for r in self.refused],
            "not_running": list(self.not_running),
            "capacity": [c.to_dict(self.vcpu_ratio) for c in self.capacity],
            "total_s": self.total_s,
            "total": ("unknown: " + UNKNOWN_TIME.split(": ", 1)[1]) if self.total_s is None and self.moves
            else (f"{self.total_s:.0f} s" if self.moves else "nothing to move"),
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------


def connections(facts, cluster) -> tuple:
    """{host name: Connection} from the inventory's hosts (address, user, port, identity file), for a
    recording without hosts in the inventory from the recorded addresses; plus notes on what a
    libvirt URI cannot carry."""
    notes = []
    specs = {h.name: h for h in (getattr(cluster, "hosts", None) or ())}
    user, port = getattr(cluster, "user", None), getattr(cluster, "port", None)
    keyfile = getattr(cluster, "identity_file", None)
    out = {}
    for host in facts.hypervisors:
        spec = specs.get(host.name)
        if spec is not None:
            out[host.name] = Connection(host.name, spec.address or spec.name, spec.user or user,
                                        spec.port or port, str(keyfile) if keyfile else None)
        else:
            out[host.name] = Connection(host.name, host.address or host.name)
    if not specs:
        notes.append("hosts addressed as recorded (the recording carries no SSH user, port or key): "
                     "ssh's own defaults and ~/.ssh/config apply")
    extra = [f"{k} {getattr(cluster, k)}" for k in ("ssh_config", "known_hosts") if getattr(cluster, k, None)]
    if extra:
        notes.append(f"the inventory's {' and '.join(extra)} cannot be passed in a libvirt qemu+ssh URI (virsh "
                     f"runs the OpenSSH client, which reads ~/.ssh/config and ~/.ssh/known_hosts): run the "
                     f"commands where that configuration is the ssh client's own")
    return out, notes


def plan_flags(given=None):
    """The flags the plan's commands carry and the checks judge: --live --persistent --undefinesource plus
    whatever --migrate-flags adds (offline replaces live)."""
    from preflight.plan.flags import MigrateFlags

    names = set(given.names) if given is not None else {"live"}
    return MigrateFlags(frozenset(names | {"persistent", "undefinesource"}))


def command_for(domain: str, src: Connection, dst: Connection, flags=None) -> list:
    dom = ["--domain", domain] if domain.startswith("-") else [domain]
    options = flags.virsh_options if flags is not None else list(MIGRATE_FLAGS)
    return ["virsh", "-c", src.uri(), "migrate", *options, *dom, dst.uri()]


def _needs(dom) -> tuple:
    """(GuestNeeds or None, why not)."""
    if dom.xml:
        try:
            return parse_guest_needs(dom.xml, dom.name), None
        except ValueError as exc:
            return None, f"its XML could not be read: {exc}"
    if dom.memory_kib is None:
        return None, "its memory size is unknown (no XML)"
    return GuestNeeds(name=dom.name, virt_type=dom.type, arch=None, machine=dom.machine, emulator=None,
                      memory_kib=dom.memory_kib, current_memory_kib=None, vcpus=dom.vcpus,
                      vcpus_current=None), None


def _capacity(host) -> Capacity:
    compat = host.compat
    mem = compat.meminfo if compat else None
    cpus = compat.host_cpus if compat else None
    errors = host.fact_errors or {}
    running = [d for d in host.domains if d.active]
    vcpus = None if any(d.vcpus is None for d in running) else sum(d.vcpus for d in running)
    cap = Capacity(host.name, mem.available_kib if mem else None, mem.total_kib if mem else None, cpus, vcpus)
    if cap.available_kib is None:
        cap.memory_unknown = errors.get("memory") or "MemAvailable was not read"
    if cpus is None:
        cap.cpus_unknown = errors.get("numa") or "the CPU count (nproc --all) was not read"
    elif vcpus is None:
        cap.cpus_unknown = "the vCPU count of a guest running there is unknown"
    return cap


def _room(needs: GuestNeeds, cap: Capacity, host, ratio: float) -> tuple:
    """(fits, reason) for one more guest on `cap`, counting what is planned there already."""
    if needs.hugepages:
        compat = host.compat
        pools = compat.hugepages if compat else None
        if pools is not None and cap.planned_hugepages:
            pools = tuple(replace(p, free=p.free - cap.planned_hugepages.get(p.size_kib, 0))
                          if p.free is not None and p.node is None else p for p in pools)
        f = judge_hugepages(needs, host.name, pools, compat.meminfo if compat else None)
    else:
        f = judge_memory(needs, host.name, (host.compat.meminfo if host.compat else None),
                         incoming_kib=cap.planned_kib + OVERHEAD_KIB * len(cap.placed))
    # a migration onto too little memory is only a warning for the check (libvirt accepts it, the
    # OOM killer acts later); a plan never puts a guest where it does not fit
    if f.status in (Status.FAIL, Status.ERROR) or (f.details or {}).get("short"):
        what = "memory unknown" if f.status is Status.ERROR else "no memory"
        return False, f"{what}: {f.message}"
    n = needs.vcpus
    if n is None:
        return False, f"{needs.name}'s vCPU count is unknown"
    if cap.cpus is None or cap.vcpus_running is None:
        return False, f"CPUs unknown: {cap.cpus_unknown}"
    if n > cap.cpus:
        return False, f"{needs.name} has {n} vCPUs, {host.name} only {cap.cpus} CPUs"
    committed = cap.vcpus_running + cap.planned_vcpus + n
    if committed > cap.cpus * ratio:
        return False, (f"no CPUs: {committed} vCPUs would run on {host.name}'s {cap.cpus} CPUs, more than the "
                       f"allowed ratio {ratio:g}")
    return True, f.message if f.status is Status.WARN else ""


def _left_after(needs: GuestNeeds, cap: Capacity) -> float:
    if cap.available_kib is None:
        return float("-inf")
    return cap.available_kib - cap.planned_kib - (needs.memory_kib or 0) - OVERHEAD_KIB * (len(cap.placed) + 1)


def _size_key(item) -> tuple:
    dom, needs = item
    mem = needs.memory_kib if needs is not None and needs.memory_kib is not None else float("inf")
    vcpus = needs.vcpus if needs is not None and needs.vcpus is not None else float("inf")
    return (mem, vcpus, dom.name)


def build_plan(report, facts, host_name: str, conns: dict, *, vcpu_ratio: float = DEFAULT_VCPU_RATIO,
               accept_warnings: bool = False, notes=(), flags=None) -> DrainPlan:
    hosts = {h.name: h for h in facts.hypervisors}
    if host_name not in hosts:
        names = ", ".join(sorted(hosts)) or "none"
        raise DrainError(f"--drain {host_name}: no hypervisor of that name in cluster {report.cluster!r} "
                         f"(hypervisors: {names})")
    if vcpu_ratio <= 0:
        raise DrainError("--vcpu-ratio must be positive")
    src = hosts[host_name]
    plan = DrainPlan(report.cluster, host_name, report.source, (report.provenance or {}).get("run_id"),
                     [], [], [], vcpu_ratio, accept_warnings, notes=list(notes),
                     flags=list(flags.virsh_options) if flags is not None else list(MIGRATE_FLAGS))
    undecided = next((u.reason for u in report.unassessed if u.host == host_name), None)
    if undecided:
        plan.undecided_host = undecided
        return plan
    plan.not_running = sorted(d.name for d in src.domains if not d.active)
    others = [h for h in facts.hypervisors if h.name != host_name]
    caps = {h.name: _capacity(h) for h in others if h.reachable}
    plan.capacity = [caps[n] for n in sorted(caps)]
    by_migration = {(m.domain, m.destination): m for m in report.migrations if m.source == host_name}
    allowed = {"pass", "warn"} if accept_warnings else {"pass"}
    guests = sorted(((d, _needs(d)[0]) for d in src.domains if d.active), key=_size_key)
    plan.notes.append("order: smallest first (memory, vCPUs, name); how quietly each guest writes its memory "
                      "is not known (no dirty-rate measurement), so it does not reorder them")
    for dom, needs in guests:
        why_needs = None if needs is not None else _needs(dom)[1]
        rows, fits = [], []
        for dst in others:
            m = by_migration.get((dom.name, dst.name))
            row = {"destination": dst.name}
            if m is None:
                row.update(verdict="unknown", blockers=[], undecided=[], warnings=[],
                           reason=f"the check run judged no migration of {dom.name} to {dst.name}")
            else:
                row.update(verdict=m.verdict.value, blockers=list(m.blockers), undecided=list(m.undecided),
                           warnings=list(m.warnings), reason="; ".join(m.reasons[:3]))
            if row["verdict"] in allowed:
                if needs is None:
                    row["reason"] = f"capacity cannot be judged: {dom.name}'s {why_needs}"
                    row["capacity"] = "unknown"
                else:
                    ok, why = _room(needs, caps[dst.name], dst, vcpu_ratio)
                    if ok:
                        fits.append((dst, m, why))
                        row = None
                    else:
                        row["capacity"] = why
                        row["reason"] = why
            elif row["verdict"] == "warn":
                row["reason"] = ("warnings " + ", ".join(row["warnings"]) + " (--accept-warnings places VMs "
                                 "there): " + row["reason"])
            if row is not None:
                rows.append(row)
        if not fits:
            plan.refused.append(Refusal(dom.name, needs.memory_kib if needs else dom.memory_kib,
                                        needs.vcpus if needs else dom.vcpus, rows))
            continue
        dst, m, why = min(fits, key=lambda f: (-_left_after(needs, caps[f[0].name]), f[0].name))
        cap = caps[dst.name]
        argv = command_for(dom.name, conns[host_name], conns[dst.name], flags)
        move = Move(len(plan.moves) + 1, dom.name, needs.memory_kib, needs.vcpus, dst.name,
                    [f[0].name for f in fits], shlex.join(argv), argv,
                    warnings=list(m.warnings) if m else [])
        if why:
            move.notes.append(why)
        if not dom.persistent:
            move.notes.append(f"{dom.name} is transient on {host_name}: --persistent defines it on {dst.name} "
                              f"from its live XML")
        plan.moves.append(move)
        if needs.hugepages:
            for hp in needs.hugepages:
                size = hp.size_kib or (dst.compat.meminfo.hugepage_size_kib if dst.compat and dst.compat.meminfo
                                       else None)
                if size:
                    cap.planned_hugepages[size] = cap.planned_hugepages.get(size, 0) + -(-needs.memory_kib // size)
        else:
            cap.planned_kib += needs.memory_kib or 0
        cap.planned_vcpus += needs.vcpus or 0
        cap.placed.append(dom.name)
    return plan
