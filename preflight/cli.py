"""The command line: a thin typer layer over preflight.engine. Heavy imports stay lazy so
`preflight --help` is fast and the replay path never needs libvirt."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from preflight import __version__
from preflight.textsafe import one_line

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNDECIDED, EXIT_INTERNAL = 0, 1, 2, 3, 4

EXIT_CODES_HELP = (
    "Exit codes: 0 every migration of every running VM judged, every check decided and nothing "
    "failed; 1 at least one FAIL; 2 usage, inventory, output path or recording error; 3 no FAIL but "
    "no clean bill of health: something could not be decided (ERROR, unreachable host, guests that "
    "could not be listed, checks left out) or nothing was judged (no hypervisor, a single one, no "
    "running VM); 4 internal error (a bug: please report it)."
)

app = typer.Typer(
    name="preflight",
    add_completion=False,
    no_args_is_help=True,
    # plain (click) help: typer's rich help formatting alone imports rich and markdown-it (~0.3 s)
    rich_markup_mode=None,
    help=(
        "Live-migration readiness for KVM/libvirt clusters: can every running VM move to every "
        "other host, and if not, why not?\n\n"
        "preflight connects to each hypervisor over SSH (read-only), gathers its facts once, "
        "judges every VM against every destination (shared storage, CPU, networks, firewall, "
        "host identity) and writes a terminal summary, JSON and a self-contained HTML report.\n\n"
        "Try it without any hypervisor:  preflight check --cluster demo --html report.html\n\n"
        + EXIT_CODES_HELP
    ),
)


class UsageProblem(Exception):
    """A one-line user error (exit 2)."""


def _die(message: str, code: int) -> None:
    from rich.console import Console

    # host text reaches error messages (a banner, a path): one line, escapes shown (V7/V9)
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"preflight: error: {one_line(message)}",
                                                                markup=False)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"preflight {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Live-migration readiness for KVM/libvirt clusters."""


def _split(items: Optional[List[str]]) -> tuple:
    out = []
    for item in items or []:
        out += [p.strip() for p in item.split(",") if p.strip()]
    return tuple(out)


def _registry():
    from preflight.engine.registry import discover

    return discover()


@app.command()
def check(
    cluster: Optional[str] = typer.Option(
        None, "--cluster", "-c", metavar="NAME",
        help="Cluster from the inventory (default: demo, built in: recorded lab facts, no hypervisor "
             "needed). With --replay it may be left out; given, it must be the recording's cluster."),
    inventory: Optional[Path] = typer.Option(
        None, "--inventory", "-i", metavar="FILE",
        help="Inventory TOML. Default: $PREFLIGHT_INVENTORY, ./preflight.toml, "
             "~/.config/preflight/inventory.toml."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE",
                                        help="Write the self-contained HTML report (CAB evidence); "
                                             "- for standard output."),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="FILE",
                                            help="Write the JSON report (schema: reports/schema); "
                                                 "- for standard output."),
    junit: Optional[Path] = typer.Option(
        None, "--junit", metavar="FILE",
        help="Write JUnit XML for CI servers: a testcase per check and subject (failure for FAIL, error for "
             "ERROR, skipped for SKIP/WAIVED) and one per migration (unknown is an error); - for standard output."),
    only: Optional[List[str]] = typer.Option(
        None, "--only", metavar="ID|CATEGORY",
        help="Run only these checks or categories (repeat or comma-separate). Verdicts that other "
             "checks bear on become 'unknown', never 'pass'."),
    skip: Optional[List[str]] = typer.Option(
        None, "--skip", metavar="ID|CATEGORY",
        help="Leave out these checks or categories (skipping everything an --only item names is a "
             "usage error)."),
    record: Optional[Path] = typer.Option(
        None, "--record", metavar="FILE",
        help="Also save the raw facts gathered (secrets scrubbed; a new file is created 0600: it holds "
             "every guest's XML) so the run can be replayed; - for standard output."),
    replay: Optional[Path] = typer.Option(
        None, "--replay", metavar="FILE",
        help="Check from a recording made with --record instead of connecting to hosts."),
    trust_new_host_keys: bool = typer.Option(
        False, "--trust-new-host-keys",
        help="Accept and save SSH host keys of hosts not yet in known_hosts (first contact only; "
             "a changed key is never accepted). Off by default: verify fingerprints instead."),
    parallel: int = typer.Option(16, "--parallel", min=1, max=256,
                                 help="Hosts gathered at once."),
    deadline: float = typer.Option(
        900.0, "--deadline", metavar="SECONDS", min=1.0,
        help="Stop gathering after this long (default 900 = 15 min): hosts not done by then are "
             "reported with the reason and their migrations are unknown. Each host's gather also has "
             "its own budget of 300 s."),
    write_test: bool = typer.Option(
        False, "--write-test",
        help="INTRUSIVE: on every destination, create and delete an empty file "
             "(.preflight-write-test-<random>) as QEMU's user in each shared directory holding a guest's "
             "writable image, to prove write access (storage.qemu_write_access). One extra exec per host; "
             "the file is always removed. Off by default: preflight is read-only."),
    waivers: Optional[Path] = typer.Option(
        None, "--waivers", metavar="FILE",
        help="Accepted risks (TOML [[waiver]]: check, subject, reason, approver, ticket, expires): a FAIL or "
             "WARN they match shows as WAIVED and no longer sets the exit code; an ERROR is never waived; an "
             "expired waiver is a FAIL. Replaces the cluster's own `waivers`."),
    previous: Optional[Path] = typer.Option(
        None, "--previous", metavar="OLD.json",
        help="A JSON report of an earlier run of the same cluster: every output also says what changed "
             "since (new and resolved findings, changed verdicts, hosts and VMs that appeared or went)."),
    migrate_flags: Optional[List[str]] = typer.Option(
        None, "--migrate-flags", metavar="FLAGS",
        help="The virsh migrate options you plan (comma-separated, e.g. copy-storage-all,persistent or "
             "p2p,tunnelled,postcopy; live is implied unless offline): what libvirt would refuse for them is "
             "replayed from the facts (domain.migrate_flags, storage.copy_storage)."),
    new_host: Optional[str] = typer.Option(
        None, "--new-host", metavar="HOST",
        help="Onboarding: judge HOST (an inventory host of any cluster, or an address / ssh alias) with the "
             "cluster, in both directions, and say whether it is fit to join (with the blocking checks). "
             "With a recording HOST must be one of its hosts."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no terminal summary."),
    full_results: bool = typer.Option(
        False, "--full-results",
        help="Write one JSON object per result instead of the compact form (a verdict repeated for many "
             "subjects as one group with its subjects; schema: reports/schema, preflight.compact)."),
) -> None:
    """Check that every running VM can live-migrate to every other host of a cluster.

    Read-only: preflight runs commands that inspect hosts and asks libvirt questions; it changes
    nothing on any host (unless --write-test, which creates and deletes one test file per directory).
    Every output path is checked before anything is gathered. When --json, --html or --record is -,
    the terminal summary goes to standard error instead of standard output.
    """
    from rich.console import Console

    from preflight.engine import provenance as prov
    from preflight.engine.pipeline import GatherOptions, ReplayError, evaluate, gather, load_recording, now
    from preflight.engine.registry import RegistryError
    from preflight.engine.runner import Selection
    from preflight.engine.drift import DriftError
    from preflight.engine.waivers import WaiverError
    from preflight.inventory import DEMO_CLUSTER, InventoryError, load
    from preflight.reports import OutputError, Outputs

    err = Console(stderr=True, highlight=False)
    outputs = Outputs()
    try:
        registry = _registry()
        selection = Selection(only=_split(only), skip=_split(skip))
        unknown = selection.unknown_items(registry)
        if unknown:
            raise UsageProblem(f"--only/--skip: no check or category {unknown[0]!r}; "
                               f"`preflight checks` lists them")
        contradiction = selection.contradiction(registry)
        if contradiction:
            raise UsageProblem(contradiction)
        if write_test and replay is not None:
            raise UsageProblem("--write-test acts on live hosts; it cannot be combined with --replay")
        flags = _migrate_flags(migrate_flags)
        # Every output is checked (its temporary file created) before anything is gathered.
        for option, path, private in (("--record", record, True), ("--json", json_out, False),
                                      ("--html", html, False), ("--junit", junit, False)):
            if path is not None:
                outputs.add(option, path, private=private)
        before = _load_previous(previous)          # refused before anything is gathered
        started = now()
        inventory_ref = recording_ref = None
        if replay is not None:
            outputs.refuse_overwriting(replay, f"the recording being replayed ({replay})")
            record_data, source = load_recording(replay), f"replay:{replay}"
            name = _replay_name(record_data, replay, cluster)
            recording_ref = prov.recording_ref(replay, record_data)
            waiver_list, waiver_ref = _load_waivers(waivers, None, registry)
        else:
            spec = load(cluster or DEMO_CLUSTER, str(inventory) if inventory else None)
            inventory_ref = prov.file_ref(spec.source) if spec.source != "<built-in>" else None
            waiver_list, waiver_ref = _load_waivers(waivers, spec, registry)   # refused before any gather
            if spec.replay is not None:
                if write_test:
                    raise UsageProblem(f"--write-test acts on live hosts; cluster {spec.name!r} is a recording")
                outputs.refuse_overwriting(spec.replay, f"the recording cluster {spec.name!r} replays")
                record_data, source = load_recording(spec.replay), f"replay:{spec.replay.name}"
                recording_ref = prov.recording_ref(spec.replay, record_data)
                # the report names the cluster the facts come from (the demo's are the lab's)
                name = record_data.get("cluster") or spec.name
            else:
                if new_host is not None:
                    spec = _with_new_host(spec, new_host, str(inventory) if inventory else None)
                progress = None if quiet else _progress(err)
                record_data = gather(spec, GatherOptions(trust_new_host_keys=trust_new_host_keys,
                                                         parallel=parallel, write_test=write_test,
                                                         deadline=deadline), progress)
                source, name = "live", spec.name
        if record is not None:
            # written as soon as it exists: the facts are worth keeping even if judging them fails
            outputs.write({"--record": _dump(record_data)})
        options = {"write_test": write_test}
        if flags is not None:
            options["migrate_flags"] = flags.virsh_options
        if waiver_ref is not None:
            options["waivers"] = waiver_ref
        if before is not None:
            options["previous"] = {"path": str(previous), "sha256": before[1], "run_id": before[0]["run"].get("id")}
        meta = prov.Provenance(
            run_id=prov.new_run_id(started), operator=prov.operator(), command=prov.command_line(sys.argv),
            inventory=inventory_ref, recording=recording_ref, options=options)
        report = evaluate(record_data, registry, selection, cluster=name, started=started, source=source,
                          provenance=meta.to_dict(), waivers=waiver_list, migrate_flags=flags)
        if before is not None:
            _add_drift(report, before, previous)
        if new_host is not None:
            _onboarding(report, new_host, quiet, err)
        written = _emit(report, outputs, quiet, full_results)
    except (InventoryError, ReplayError, RegistryError, UsageProblem, OutputError, WaiverError,
            DriftError) as exc:
        outputs.discard()
        _die(str(exc), EXIT_USAGE)
        return
    finally:
        outputs.discard()
    if not quiet:
        for shown in written:
            err.print(f"wrote {one_line(shown)}", markup=False)
    raise typer.Exit(report.exit_code())


def _with_new_host(spec, name: str, inventory):
    """The cluster with HOST added (the inventory's definition of it, else HOST as the address)."""
    from dataclasses import replace

    from preflight.inventory import HostSpec, list_clusters, load

    if name in spec.host_names():
        raise UsageProblem(f"--new-host {name}: already a host of cluster {spec.name!r}; name a host "
                           f"that is not yet in it")
    found = None
    try:
        for other in list_clusters(inventory):
            try:
                hosts = load(other, inventory).hosts
            except Exception:  # noqa: BLE001 - another cluster's problem is not this run's
                continue
            found = found or next((h for h in hosts if h.name == name), None)
    except Exception:  # noqa: BLE001 - no inventory listing: HOST is then an address or ssh alias
        found = None
    return replace(spec, hosts=tuple(spec.hosts) + (found or HostSpec(name=name, address=name),))


def _onboarding(report, name: str, quiet: bool, err) -> None:
    from preflight.engine.onboarding import onboarding_lines, onboarding_view

    if name not in [h.name for h in report.hosts]:
        raise UsageProblem(f"--new-host {name}: not a host of these facts "
                           f"({', '.join(h.name for h in report.hosts)})")
    if not quiet:
        for line in onboarding_lines(onboarding_view(report, name)):
            err.print(one_line(line), markup=False)


def _migrate_flags(items):
    """--migrate-flags as preflight.plan.flags.MigrateFlags, None when not given."""
    if not items:
        return None
    from preflight.plan.flags import FlagsError, parse

    try:
        return parse(items)
    except FlagsError as exc:
        raise UsageProblem(str(exc)) from None


def _load_previous(path: Optional[Path]):
    if path is None:
        return None
    from preflight.engine.drift import load_report

    return load_report(path)


def _add_drift(report, before: tuple, path: Path) -> None:
    """Compare the run with the --previous report (the same cluster only: another's is a usage error)."""
    from preflight.engine.drift import compare
    from preflight.reports._common import report_document

    old, digest = before
    if old["run"].get("cluster") != report.cluster:
        raise UsageProblem(f"--previous {path}: a report of cluster {old['run'].get('cluster')!r}, this run is of "
                           f"{report.cluster!r}; compare two clusters with `preflight diff` instead")
    report.drift = compare(old, report_document(report), {"path": str(path), "sha256": digest})


def _load_waivers(path: Optional[Path], spec, registry) -> tuple:
    """(waivers, their file reference for the run metadata) from --waivers, else the cluster's key."""
    from preflight.engine import provenance as prov
    from preflight.engine import waivers as waiving

    known = {s.id for s in registry.all()}
    if path is not None:
        return waiving.load_file(path, known), prov.file_ref(path)
    own = getattr(spec, "waivers", None)
    if isinstance(own, list):
        return waiving.from_entries(own, f"{spec.source}: cluster {spec.name!r}", known), \
            {**prov.file_ref(spec.source), "inline": True}
    if own is not None:
        return waiving.load_file(own, known), prov.file_ref(own)
    return [], None


def _replay_name(record_data: dict, replay: Path, cluster: Optional[str]) -> str:
    """A replay reports under the cluster its facts were recorded on; --cluster may only confirm it."""
    recorded = record_data.get("cluster")
    if cluster is not None and recorded and cluster != recorded:
        raise UsageProblem(f"--cluster {cluster} is not the cluster the recording {replay} was made on "
                           f"({recorded!r}); leave --cluster out to replay it")
    return recorded or cluster or replay.stem


_STAGES = {"connect": "connecting", "facts": "gathering shell facts", "libvirt": "asking libvirt",
           "gathered": "facts gathered", "unreachable": "UNREACHABLE", "pairs": "checking host pairs",
           "done": "all facts gathered", "write-test": "INTRUSIVE write test (--write-test)"}


def _progress(console):
    """Progress lines on stderr, so stdout stays clean for the summary."""

    def show(host: str, stage: str, info=None) -> None:
        what = _STAGES.get(stage, stage)
        where = "cluster" if host == "*" else host
        tail = f": {info}" if info and stage == "unreachable" else ""
        # an SSH banner reaches `info` before the host key is checked: escapes shown, one line (V7)
        console.print(one_line(f"… {where}: {what}{tail}"), markup=False, highlight=False)

    return show


def _dump(data: dict) -> str:
    import json

    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _emit(report, outputs, quiet: bool, full_results: bool = False) -> list:
    """Render every report first, write them all or none (preflight.reports.outputs), then print the
    terminal summary: on standard error when a report goes to standard output. Returns where the
    reports and the recording went. The HTML is rendered from the JSON text and carries its SHA-256,
    which the terminal summary shows too."""
    from rich.console import Console

    from preflight.reports import render_html, render_json, render_terminal
    from preflight.reports._common import report_document
    from preflight.reports.integrity import sha256_text

    texts, digest, doc = {}, None, report_document(report)     # masked once, for JSON and terminal
    if {"--json", "--html", "--junit"} & set(outputs.targets):
        json_text = render_json(report, full=full_results, doc=doc)
        digest = sha256_text(json_text)
        if "--json" in outputs.targets:
            texts["--json"] = json_text
        if "--html" in outputs.targets:
            texts["--html"] = render_html(report, json_text)
        if "--junit" in outputs.targets:
            from preflight.reports.junit import junit_from_json

            texts["--junit"] = junit_from_json(json_text)
    outputs.write(texts)
    if not quiet:
        render_terminal(report, Console(highlight=False, stderr=outputs.uses_stdout), json_sha256=digest,
                        doc=doc)
    return [t.shown for t in outputs.targets.values() if t.done]


@app.command()
def diff(
    old: Path = typer.Argument(..., metavar="OLD.json", help="The earlier JSON report."),
    new: Path = typer.Argument(..., metavar="NEW.json", help="The later JSON report."),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="FILE",
                                            help="Also write the drift as JSON; - for standard output."),
) -> None:
    """What changed between two JSON reports: new and resolved findings, findings whose status changed,
    migrations whose verdict changed, hosts and VMs that appeared, went or moved (keyed on the stable
    result ids).

    Exit 0 nothing changed, 1 something changed, 2 a file is not a preflight JSON report.
    """
    from rich.console import Console
    from rich.text import Text

    from preflight.engine.drift import DriftError, compare, load_report
    from preflight.reports import OutputError, Outputs
    from preflight.reports._common import drift_view
    from preflight.reports.json_report import to_json_text
    from preflight.reports.terminal import drift_lines

    outputs = Outputs()
    try:
        if json_out is not None:
            outputs.add("--json", json_out)
        (a, a_digest), (b, _) = load_report(old), load_report(new)
        result = compare(a, b, {"path": str(old), "sha256": a_digest})
        result["current"] = {"path": str(new), "run_id": b["run"].get("id"), "started": b["run"].get("started"),
                             "cluster": b["run"].get("cluster")}
        if json_out is not None:
            outputs.write({"--json": to_json_text(result)})
    except (DriftError, OutputError) as exc:
        outputs.discard()
        _die(str(exc), EXIT_USAGE)
        return
    finally:
        outputs.discard()
    out = Console(highlight=False, stderr=outputs.uses_stdout)
    out.print(Text(f"preflight diff: {old} (run {a['run'].get('id')}, {a['run'].get('started')}) -> {new} "
                   f"(run {b['run'].get('id')}, {b['run'].get('started')})", style="bold"))
    drift_lines(out, drift_view(result))
    raise typer.Exit(EXIT_FAIL if result["changed"] else EXIT_OK)


@app.command()
def plan(
    drain: str = typer.Option(..., "--drain", metavar="HOST",
                              help="The hypervisor to empty: where each of its running VMs can go."),
    cluster: Optional[str] = typer.Option(None, "--cluster", "-c", metavar="NAME",
                                          help="Cluster from the inventory (default: demo), as for check."),
    inventory: Optional[Path] = typer.Option(None, "--inventory", "-i", metavar="FILE",
                                             help="Inventory TOML (default search as for check)."),
    replay: Optional[Path] = typer.Option(None, "--replay", metavar="FILE",
                                          help="Plan from a recording made with check --record."),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="FILE",
                                            help="Write the plan as JSON (reports/schema/drain.schema.json); "
                                                 "- for standard output."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE",
                                        help="Write the plan as a small self-contained HTML page; - for standard "
                                             "output."),
    vcpu_ratio: float = typer.Option(4.0, "--vcpu-ratio", metavar="R", min=0.01,
                                     help="Allowed vCPUs per host CPU on a destination, counting the guests "
                                          "running there and those the plan moves there (default 4)."),
    accept_warnings: bool = typer.Option(False, "--accept-warnings",
                                         help="Also place VMs where a check WARNs (default: only where "
                                              "every check passes)."),
    trust_new_host_keys: bool = typer.Option(False, "--trust-new-host-keys",
                                             help="As for check: accept host keys on first contact."),
    deadline: float = typer.Option(900.0, "--deadline", metavar="SECONDS", min=1.0,
                                   help="Stop gathering after this long, as for check."),
    migrate_flags: Optional[List[str]] = typer.Option(
        None, "--migrate-flags", metavar="FLAGS",
        help="virsh migrate options to add to the plan's commands (as for check); the plan judges exactly "
             "the flags its commands carry (--live --persistent --undefinesource plus these)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no terminal plan."),
) -> None:
    """Plan the drain of one host: for each of its running VMs the destinations where every check
    passes, placed in order (smallest first) within the destinations' free memory and CPUs counting
    what the plan already put there, with the exact `virsh migrate` commands. Read-only: nothing is
    migrated. Exit 0 every VM placed, 1 some VM can go nowhere, 2 usage, 3 the host's guests are unknown.
    """
    from rich.console import Console

    from preflight.engine.pipeline import GatherOptions, ReplayError, evaluate, gather, load_recording, now
    from preflight.engine.registry import RegistryError
    from preflight.engine.runner import Selection
    from preflight.facts.parse import parse_record
    from preflight.inventory import DEMO_CLUSTER, InventoryError, load
    from preflight.plan.drain import DrainError, build_plan, connections, plan_flags
    from preflight.plan.drain_view import render
    from preflight.reports import OutputError, Outputs
    from preflight.reports.json_report import to_json_text

    err = Console(stderr=True, highlight=False)
    outputs = Outputs()
    try:
        for option, path in (("--json", json_out), ("--html", html)):
            if path is not None:
                outputs.add(option, path)
        registry = _registry()
        flags = plan_flags(_migrate_flags(migrate_flags))
        spec = None
        if replay is not None:
            record, source = load_recording(replay), f"replay:{replay}"
            name = _replay_name(record, replay, cluster)
        else:
            spec = load(cluster or DEMO_CLUSTER, str(inventory) if inventory else None)
            if spec.replay is not None:
                record, source = load_recording(spec.replay), f"replay:{spec.replay.name}"
                name = record.get("cluster") or spec.name
            else:
                record = gather(spec, GatherOptions(trust_new_host_keys=trust_new_host_keys, deadline=deadline),
                                None if quiet else _progress(err))
                source, name = "live", spec.name
        report = evaluate(record, registry, Selection(), cluster=name, started=now(), source=source,
                          migrate_flags=flags)
        facts = parse_record(record)
        conns, notes = connections(facts, spec)
        drain_plan = build_plan(report, facts, drain, conns, vcpu_ratio=vcpu_ratio,
                                accept_warnings=accept_warnings, notes=notes, flags=flags)
        doc = drain_plan.to_dict()
        texts = {"--json": to_json_text(doc)} if json_out is not None else {}
        if html is not None:
            from preflight.reports.drain_html import render_drain_html

            texts["--html"] = render_drain_html(doc)
        outputs.write(texts)
    except (InventoryError, ReplayError, RegistryError, UsageProblem, OutputError, DrainError) as exc:
        outputs.discard()
        _die(str(exc), EXIT_USAGE)
        return
    finally:
        outputs.discard()
    if not quiet:
        render(doc, Console(highlight=False, stderr=outputs.uses_stdout))
    raise typer.Exit(drain_plan.exit_code())


@app.command()
def verify(
    html: Path = typer.Argument(..., metavar="REPORT.html", help="An HTML report preflight wrote."),
    json_report: Optional[Path] = typer.Argument(None, metavar="[REPORT.json]",
                                                 help="The JSON report of the same run."),
) -> None:
    """Check that an HTML report is unchanged since preflight wrote it, and, given its JSON, that the
    JSON is the one it was rendered from and that the page says exactly what the JSON says.

    Exit 0 verified, 1 something was changed or does not belong together, 2 a file cannot be read or
    is no preflight report. A digest shows that nothing changed, not who wrote it: sign the JSON for that.
    """
    from rich.console import Console
    from rich.text import Text

    from preflight.reports.integrity import VerifyError
    from preflight.reports.integrity import verify as run_verify

    try:
        outcome = run_verify(html, json_report)
    except VerifyError as exc:
        _die(str(exc), EXIT_USAGE)
        return
    out = Console(highlight=False, soft_wrap=True)
    for ok, line in outcome.lines:
        label = {True: "OK:     ", False: "FAILED: ", None: "note:   "}[ok]
        out.print(Text(label + line, style={True: "green", False: "bold red", None: ""}[ok]))
    out.print(Text("verified" if outcome.ok else "NOT verified", style="bold"))
    raise typer.Exit(EXIT_OK if outcome.ok else EXIT_FAIL)


@app.command("checks")
def list_checks() -> None:
    """List every check (built-in and plugins): id, category, severity, scope, title."""
    from rich.console import Console
    from rich.table import Table

    from preflight.engine.registry import RegistryError

    try:
        registry = _registry()
    except RegistryError as exc:
        _die(str(exc), EXIT_USAGE)
        return
    rows = [(s.id, s.category, s.severity.value, s.scope.value, s.title, s.origin) for s in registry.all()]
    if not sys.stdout.isatty():
        # Piped: whole lines, tab-separated, nothing truncated to a terminal width.
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("id", "category", "severity", "scope", "title", "origin"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console(highlight=False).print(table)


@app.command()
def explain(check_id: str = typer.Argument(..., metavar="ID", help="A check id, e.g. storage.shared")) -> None:
    """Explain one check: what it verifies, why it matters for live migration, how to fix a failure."""
    from rich.console import Console

    from preflight.engine.registry import RegistryError

    try:
        registry = _registry()
    except RegistryError as exc:
        _die(str(exc), EXIT_USAGE)
        return
    spec = registry.get(check_id)
    if spec is None:
        near = [s.id for s in registry.all() if check_id.split(".")[-1] in s.id or s.category == check_id]
        hint = f" (did you mean {', '.join(near)}?)" if near else "; `preflight checks` lists them"
        _die(f"no check {check_id!r}{hint}", EXIT_USAGE)
    out = Console(highlight=False)
    out.print(f"[bold]{spec.id}[/bold] — {spec.title}")
    out.print(f"category {spec.category} · severity {spec.severity.value} · scope {spec.scope.value}"
              f" · {spec.origin}", markup=False)
    for heading, text in (("What it verifies", spec.verifies),
                          ("Why it matters for live migration", spec.rationale),
                          ("How to fix", spec.remediation)):
        out.print(f"\n[bold]{heading}[/bold]")
        out.print(text, markup=False)
    if spec.references:
        out.print("\n[bold]References[/bold]")
        for ref in spec.references:
            out.print(f"  {ref}", markup=False)


@app.command()
def clusters(inventory: Optional[Path] = typer.Option(None, "--inventory", "-i", metavar="FILE",
                                                      help="Inventory TOML (default search as for check).")) -> None:
    """List the clusters the inventory defines (and the built-in demo)."""
    from preflight.inventory import InventoryError, list_clusters

    try:
        found = list_clusters(str(inventory) if inventory else None)
    except InventoryError as exc:
        _die(str(exc), EXIT_USAGE)
        return
    for name, c in sorted(found.items()):
        what = f"replay of {c.replay.name}" if c.replay else f"{len(c.hosts)} hosts"
        typer.echo(f"{name}\t{what}\t{c.source}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("preflight: interrupted\n")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - never a traceback for users
        if os.environ.get("PREFLIGHT_DEBUG"):
            raise
        sys.stderr.write(f"preflight: internal error: {type(exc).__name__}: {exc} "
                         f"(a bug; rerun with PREFLIGHT_DEBUG=1 for the traceback and report it)\n")
        sys.exit(EXIT_INTERNAL)
