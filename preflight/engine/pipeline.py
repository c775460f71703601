"""One `preflight check` from inventory to run model: gather (or replay) -> parse -> check -> matrix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from preflight import __version__
from preflight.engine.disks import build_disk_inventory
from preflight.engine.matrix import build_matrix, mark_waived
from preflight.engine.registry import Registry
from preflight.engine.runner import Selection, run_checks, select
from preflight.inventory import Cluster
from preflight.facts.keys import CORE_FACT_KEYS
from preflight.model import HostSummary, RunReport, Unassessed


class ReplayError(Exception):
    """A recorded facts file cannot be used (one line, exit code 2)."""


@dataclass(frozen=True)
class GatherOptions:
    trust_new_host_keys: bool = False
    parallel: int = 16
    pair_probes: bool = True
    write_test: bool = False      # INTRUSIVE: create+delete a file as QEMU's user (preflight.facts.write_test)
    deadline: Optional[float] = 900.0   # the whole live gather (--deadline); preflight.facts.budget


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


MAX_RECORDING_MB = 256      # a 100-host cluster with 50 guests each records well under 100 MiB


def max_recording_bytes() -> int:
    """The size limit of a recording: 256 MiB, or $PREFLIGHT_MAX_RECORDING_MB."""
    import os

    raw = os.environ.get("PREFLIGHT_MAX_RECORDING_MB", "")
    try:
        mb = int(raw) if raw.strip() else MAX_RECORDING_MB
    except ValueError:
        raise ReplayError(f"PREFLIGHT_MAX_RECORDING_MB={raw!r}: not a whole number of MiB") from None
    return max(1, mb) * 1024 * 1024


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def load_recording(path: Path) -> dict:
    """A recording made with --record, read within a size bound and checked against
    reports/schema/record.schema.json before any parser sees it: whatever is wrong with it is one
    ReplayError line naming the file and the key."""
    from preflight.facts import record_schema
    from preflight.facts.raw import FORMAT

    limit = max_recording_bytes()
    try:
        with open(path, "rb") as fh:        # bounded: --replay /dev/zero must not eat the memory
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read the recording: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise ReplayError(f"{path}: larger than {limit // (1024 * 1024)} MiB, more than a recording "
                          f"preflight reads (set PREFLIGHT_MAX_RECORDING_MB to allow more)")
    hint = "make one with `preflight check --record FILE`"
    try:
        record = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ReplayError(f"{path}: not a facts recording (JSON nested too deeply); {hint}") from None
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{path}: not a JSON facts recording (not UTF-8: {exc.reason} at byte "
                          f"{exc.start}); {hint}") from exc
    except ValueError as exc:
        raise ReplayError(f"{path}: not a JSON facts recording ({exc}); {hint}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ReplayError(f"{path}: not a preflight facts recording (expected \"format\": \"{FORMAT}\"); "
                          f"{hint}")
    problem = record_schema.problem(record)
    if problem is None and record.get("recorded") is not None and parse_time(record["recorded"]) is None:
        problem = ("recorded: must be an ISO 8601 date-time with its UTC offset, "
                   "e.g. 2026-11-26T03:00:00+00:00")
    if problem is not None:
        raise ReplayError(f"{path}: {problem}: not a recording preflight can use "
                          f"(see reports/schema/{record_schema.SCHEMA_FILE})")
    # scrubbed again as gathering scrubs: an older version's recording may carry what today's
    # scrubber removes, into a new --record or a report (issue 7)
    from preflight.scrub import scrub_record
    return scrub_record(record)


def parse_time(text) -> Optional[datetime]:
    """An ISO 8601 date-time with its offset (Z accepted), or None."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def gather(cluster: Cluster, options: GatherOptions, progress: Optional[Callable] = None) -> dict:
    """Live facts from the cluster's hosts (imports the SSH/libvirt stack only here)."""
    from dataclasses import replace

    from preflight.facts.collect import CollectOptions, collect

    # Cluster-wide user/port apply to every host that does not override them; None lets the
    # ssh_config decide.
    hosts = tuple(replace(h, user=h.user or cluster.user, port=h.port or cluster.port)
                  for h in cluster.hosts)
    opts = CollectOptions(
        ssh_config=str(cluster.ssh_config) if cluster.ssh_config else None,
        known_hosts=str(cluster.known_hosts) if cluster.known_hosts else None,
        trust_new_host_keys=options.trust_new_host_keys,
        connect_timeout=cluster.connect_timeout,
        command_timeout=cluster.command_timeout,
        libvirt_timeout=min(cluster.command_timeout, 60.0),
        identity_files=(str(cluster.identity_file),) if cluster.identity_file else (),
        workers=options.parallel,
        probes=options.pair_probes,
        write_test=options.write_test,
        deadline=options.deadline,
    )
    from preflight.inventory import InventoryError
    from preflight.transport.errors import ConfigError

    try:
        return collect(replace(cluster, hosts=hosts), opts, progress=progress)
    except ConfigError as exc:  # an unreadable ssh_config/known_hosts is an inventory problem
        raise InventoryError(str(exc)) from exc


def evaluate(record: dict, registry: Registry, selection: Selection, *, cluster: str,
             started: str, source: str, provenance: Optional[dict] = None,
             waivers: Optional[list] = None, migrate_flags=None) -> RunReport:
    from dataclasses import replace

    from preflight.facts.parse import parse_record

    facts = parse_record(record)
    if migrate_flags is not None:           # the planned migration (--migrate-flags, preflight.plan.flags)
        facts = replace(facts, migrate_flags=migrate_flags)
    selected, left_out = select(registry, selection)
    results = run_checks(facts, selected)
    migrations = build_matrix(facts, selected, left_out, results)
    domains = build_disk_inventory(facts, results)   # what really happens, before any waiver
    checks = [s.metadata() for s in selected]
    waiver_states = []
    if waivers:
        from preflight.engine import waivers as waiving

        today = (parse_time(started) or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        results, waiver_states = waiving.apply(waivers, results, today)
        migrations = mark_waived(migrations, results, selected)
        checks += [dict(c) for c in waiving.CHECKS]
    return RunReport(
        cluster=cluster,
        started=started,
        finished=now(),
        tool_version=__version__,
        hosts=[_summary(h, record) for h in facts.hypervisors],
        results=results,
        migrations=migrations,
        checks=checks,
        selection={"only": list(selection.only), "skip": list(selection.skip),
                   "left_out": [s.id for s in left_out]},
        source=source,
        domains=domains,
        unassessed=unassessed_sources(facts),
        facts_recorded=record.get("recorded") if isinstance(record.get("recorded"), str) else None,
        provenance=dict(provenance or {}),
        waivers=waiver_states,
    )


def unassessed_sources(facts) -> list:
    """Hypervisors whose guests could not be listed: their migrations cannot be in the matrix."""
    out = []
    for host in facts.hypervisors:
        if not host.reachable:
            out.append(Unassessed(host.name, f"{host.name} unreachable: {host.error}"))
        elif "domains" in host.fact_errors:
            why = host.fact_errors["domains"]
            what = "libvirt did not answer" if why == host.fact_errors.get("libvirt") else \
                "the libvirt domain list failed"
            out.append(Unassessed(host.name, f"{what}: {why}"))
    return out


def _summary(host, record: dict) -> HostSummary:
    raw = (record.get("hosts") or {}).get(host.name) or {}
    pair_rts = sum((p.get("round_trips_by_host") or {}).get(host.name) or 0
                   for p in record.get("pairs") or [])
    return HostSummary(
        name=host.name,
        reachable=host.reachable,
        error=host.error,
        round_trips=int(raw.get("round_trips", host.round_trips) or 0),
        pair_round_trips=int(raw.get("pair_round_trips", pair_rts) or 0),
        libvirt_calls=int(raw.get("libvirt_calls", host.libvirt_calls) or 0),
        address=host.address,
        hostname=host.hostname,
        libvirt_version=host.libvirt_version,
        qemu_version=host.qemu_version,
        domains=len([d for d in host.domains if d.active]),
        missing={k: host.fact_errors[k] for k in CORE_FACT_KEYS if host.reachable and k in host.fact_errors},
    )
