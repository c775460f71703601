"""Collect the raw facts record of a cluster: hosts in parallel, then the pair phase.

    record = collect(inventory, CollectOptions(ssh_config="~/.ssh/config"), progress=print_progress)

`inventory` needs only: `.name` (cluster name), `.hosts` (sequence of objects with `name`,
`address`, `port`, `user`; None = as ssh_config says) and optionally `.storage_hosts`
(names, copied into the record). A plain list of host specs also works. `options` may be a
`CollectOptions`, any object with some of its attribute names, or a dict.

Every SSH connection and libvirt bridge is closed before collect() returns, also on errors
and Ctrl-C.
"""

from __future__ import annotations

import datetime as _dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Callable, Optional, Protocol, Sequence

from preflight.facts.caps import DEFAULT_CAPS, HostCaps, caps_from
from preflight.facts.budget import DEFAULT_DEADLINE_S, HOST_BUDGET_S, Watchdog
from preflight.facts.gather import gather_host, unreachable_entry
from preflight.facts.raw import FORMAT
from preflight.facts.storage_hosts import finish_storage_hosts, nfs_probe_targets, start_storage_hosts
from preflight.facts.portals import network_disk_targets
from preflight.facts.listings import list_targets
from preflight.facts.pairs import LISTENER_LIFETIME
from preflight.transport.errors import TransportError
from preflight.transport.ssh import HostTarget, SshContext, SshSettings

__all__ = ["collect", "CollectOptions", "HostSpec", "ClusterSpec", "ProgressCallback"]


class HostSpec(Protocol):
    name: str
    address: Optional[str]
    port: Optional[int]
    user: Optional[str]


class ClusterSpec(Protocol):
    name: str
    hosts: Sequence[HostSpec]


# progress(host, stage, info): stage in connect, facts, libvirt, gathered, unreachable, pairs, done
ProgressCallback = Callable[[str, str, Optional[str]], None]


@dataclass
class CollectOptions:
    ssh_config: Optional[str] = None          # None: ~/.ssh/config when it exists
    known_hosts: Optional[str] = None         # None: ~/.ssh/known_hosts
    trust_new_host_keys: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 60.0             # the batched shell facts exec
    libvirt_timeout: float = 30.0             # every single libvirt call
    keepalive_interval: int = 15
    identity_files: tuple = ()
    use_agent: bool = True
    workers: int = 16
    pairs: bool = True                        # run the pair phase at all
    cpu_compare: bool = True
    probes: bool = True
    probe_timeout: float = 5.0
    listener_lifetime: int = LISTENER_LIFETIME
    write_test: bool = False                  # INTRUSIVE opt-in (--write-test): see preflight.facts.write_test
    deadline: Optional[float] = DEFAULT_DEADLINE_S   # the whole run (--deadline); None/0: none
    host_budget: float = HOST_BUDGET_S        # one host's gather after its connect
    caps: Optional[HostCaps] = None           # what one host may hand back; None: the cluster's (inventory)

    @classmethod
    def coerce(cls, options) -> "CollectOptions":
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        get = options.get if isinstance(options, dict) else (lambda k, d: getattr(options, k, d))
        kw = {}
        for f in fields(cls):
            value = get(f.name, None)
            if value is not None:
                kw[f.name] = tuple(value) if f.name == "identity_files" else value
        return cls(**kw)

    def ssh_settings(self) -> SshSettings:
        return SshSettings(ssh_config=self.ssh_config, known_hosts=self.known_hosts,
                           trust_new_host_keys=self.trust_new_host_keys,
                           connect_timeout=self.connect_timeout, command_timeout=self.command_timeout,
                           keepalive_interval=self.keepalive_interval,
                           identity_files=tuple(self.identity_files), use_agent=self.use_agent)


class _Session:
    def __init__(self, name: str):
        self.name = name
        self.conn = None
        self.bridge = None

    def close(self) -> None:
        if self.bridge is not None:
            try:
                self.bridge.close()
            except Exception:
                pass
            self.bridge = None
        if self.conn is not None:
            self.conn.close()


def _gather_one(ctx: SshContext, spec, opts: CollectOptions, progress, watchdog=None) -> tuple:
    from preflight.transport.libvirt_bridge import LibvirtBridge

    session = _Session(spec.name)
    target = HostTarget(spec.name, getattr(spec, "address", None), getattr(spec, "port", None),
                        getattr(spec, "user", None))
    if progress:
        progress(spec.name, "connect", None)
    t0 = time.monotonic()
    try:
        address = ctx.resolve(target).address
    except Exception:                                   # noqa: BLE001
        address = target.address
    try:
        session.conn = ctx.connect(target)
    except TransportError as exc:
        if progress:
            progress(spec.name, "unreachable", str(exc))
        return session, unreachable_entry(address, str(exc))
    except Exception as exc:                            # noqa: BLE001 - a host never crashes the run
        if progress:
            progress(spec.name, "unreachable", str(exc))
        return session, unreachable_entry(address, f"{spec.name}: {type(exc).__name__}: {exc}")
    t1 = time.monotonic()
    handle = None
    if watchdog is not None:
        watchdog.adopt(session.conn)
        handle = watchdog.watch(session.conn, opts.host_budget,
                                f"the gather did not finish within its budget of {opts.host_budget:g} s "
                                "(a slow or overloaded host); what was still missing was abandoned")
    bridge = LibvirtBridge(session.conn, call_timeout=opts.libvirt_timeout)
    try:
        entry = gather_host(session.conn, bridge=bridge, libvirt_timeout=opts.libvirt_timeout,
                            shell_timeout=opts.command_timeout, progress=progress,
                            caps=opts.caps or DEFAULT_CAPS)
    finally:
        if handle is not None:
            watchdog.release(handle)
    if session.conn.abort_reason:
        entry["errors"]["budget"] = session.conn.abort_reason
    if bridge.conn is not None:
        session.bridge = bridge
    else:
        bridge.close()
    entry["timing"] = {"connect_s": round(t1 - t0, 4), "gather_s": round(time.monotonic() - t1, 4)}
    return session, entry


def _safe(progress):
    """A progress callback that raises must not cost a host its facts."""
    if progress is None:
        return None

    def call(host, stage, info=None):
        try:
            progress(host, stage, info)
        except Exception:                               # noqa: BLE001
            pass
    return call


def collect(cluster_inventory, options=None, progress: Optional[ProgressCallback] = None) -> dict:
    """Gather every host (bounded parallelism), then the pair phase; return the raw record."""
    opts = CollectOptions.coerce(options)
    if opts.caps is None:
        from dataclasses import replace
        opts = replace(opts, caps=caps_from(cluster_inventory if not isinstance(cluster_inventory, (list, tuple))
                                            else None))
    progress = _safe(progress)
    if isinstance(cluster_inventory, (list, tuple)):
        cluster_name, specs, storage, storage_specs = "cluster", list(cluster_inventory), [], []
    else:
        cluster_name = getattr(cluster_inventory, "name", "cluster")
        specs = list(cluster_inventory.hosts)
        storage_specs = list(getattr(cluster_inventory, "storage_hosts", None) or [])
        storage = [getattr(s, "name", s) for s in storage_specs]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate host names in the inventory")

    from preflight import __version__
    record = {"format": FORMAT, "cluster": cluster_name,
              "recorded": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
              "tool_version": __version__, "storage_hosts": storage, "hosts": {}, "pairs": []}
    ctx = SshContext(opts.ssh_settings())
    watchdog = Watchdog(opts.deadline)
    ctx.on_connect = watchdog.adopt          # the run deadline covers every connection, jumps too
    sessions: dict = {}
    try:
        entries: dict = {}
        with ThreadPoolExecutor(max_workers=max(1, min(opts.workers, len(specs) + len(storage_specs) or 1)),
                                thread_name_prefix="gather") as pool:
            storage_futures = start_storage_hosts(pool, ctx, storage_specs, opts, progress)
            futures = {spec.name: pool.submit(_gather_one, ctx, spec, opts, progress, watchdog) for spec in specs}
            for name, fut in futures.items():
                try:
                    session, entry = fut.result()
                except Exception as exc:                # noqa: BLE001
                    session, entry = None, unreachable_entry(None, f"{name}: {type(exc).__name__}: {exc}")
                sessions[name] = session
                entries[name] = entry
        record["hosts"] = {name: entries[name] for name in names}       # inventory order
        if watchdog.expired:
            record["deadline_passed"] = watchdog.deadline_s
        if opts.write_test and not watchdog.expired:   # only on explicit request: creates and removes a file
            from preflight.facts.write_test import run_write_tests
            run_write_tests(sessions, record["hosts"], timeout=opts.command_timeout, workers=opts.workers,
                            progress=progress)
        record["storage_hosts_facts"] = finish_storage_hosts(storage_futures, sessions, record["hosts"],
                                                             opts, progress)
        if watchdog.expired:
            record["deadline_passed"] = watchdog.deadline_s
        if opts.pairs and not watchdog.expired and sum(1 for e in entries.values() if e.get("reachable")) > 1:
            from preflight.facts.pairs import run_pairs
            if progress:
                progress("*", "pairs", None)
            record["pairs"] = run_pairs(sessions, record["hosts"], probe_timeout=opts.probe_timeout,
                                        listener_lifetime=opts.listener_lifetime, workers=opts.workers,
                                        cpu=opts.cpu_compare, probes=opts.probes, progress=progress,
                                        nfs_targets=nfs_probe_targets(record),
                                        portal_targets=network_disk_targets(record["hosts"]),
                                        list_targets=list_targets(record["hosts"]),
                                        probe_networks=tuple(getattr(cluster_inventory, "probe_networks", ()) or ()))
        if watchdog.expired:
            record["deadline_passed"] = watchdog.deadline_s
    finally:
        watchdog.close()
        for session in sessions.values():
            if session is not None:
                session.close()
        ctx.close()
    if progress:
        progress("*", "done", None)
    return record
