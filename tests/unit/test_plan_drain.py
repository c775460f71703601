"""The drain plan on recorded facts (the demo: the lab recorded with its faults), and on the same facts with
one destination's memory, CPUs or facts changed: placements follow the engine's matrix, capacity counts
what the plan already put there, unknown capacity places nothing, commands parse back to their argv."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from preflight.engine.pipeline import evaluate, load_recording, now
from preflight.engine.registry import discover
from preflight.engine.runner import Selection
from preflight.facts.meminfo import MemInfo
from preflight.facts.parse import parse_record
from preflight.inventory import Cluster, HostSpec
from preflight.plan.drain import Connection, DrainError, build_plan, command_for, connections

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"
SCHEMA = json.loads(resources.files("preflight.reports").joinpath("schema", "drain.schema.json").read_text())


@pytest.fixture(scope="module")
def demo():
    record = load_recording(DEMO)
    report = evaluate(record, discover(), Selection(), cluster="lab", started=now(), source="replay:demo")
    return report, parse_record(record)


def plan_for(demo, host, facts=None, **kw):
    report, base = demo
    facts = facts or base
    conns, notes = connections(facts, None)
    return build_plan(report, facts, host, conns, notes=notes, **kw)


def with_host(facts, name, **changes):
    hosts = dict(facts.hosts)
    hosts[name] = replace(hosts[name], **changes)
    return replace(facts, hosts=hosts)


def with_memory(facts, name, available_kib):
    host = facts.hosts[name]
    values = dict(host.compat.meminfo.values, MemAvailable=available_kib)
    return with_host(facts, name, compat=replace(host.compat, meminfo=MemInfo(values)))


def verdicts(report, host):
    return {(m.domain, m.destination): m for m in report.migrations if m.source == host}


def test_every_move_goes_where_the_matrix_passes_and_refusals_name_the_blockers(demo):
    report, facts = demo
    for host in ("hv1", "hv2", "hv3"):
        plan = plan_for(demo, host)
        doc = plan.to_dict()
        jsonschema.validate(doc, SCHEMA)
        matrix = verdicts(report, host)
        running = {d.name for d in facts.hosts[host].domains if d.active}
        assert {m.domain for m in plan.moves} | {r.domain for r in plan.refused} == running
        for m in plan.moves:
            assert matrix[(m.domain, m.destination)].verdict.value == "pass"
            assert set(m.candidates) == {d for (dom, d), v in matrix.items()
                                         if dom == m.domain and v.verdict.value == "pass"}
        for r in plan.refused:
            # no destination passes, and every check the matrix names as a blocker is named
            assert all(v.verdict.value != "pass" for (dom, _), v in matrix.items() if dom == r.domain)
            expected = {c for (dom, _), v in matrix.items() if dom == r.domain for c in v.blockers + v.undecided}
            assert set(r.blocking_checks) == expected and expected
        assert plan.exit_code() == (1 if plan.refused else 0)


def test_demo_hv3_invtsc_is_refused_with_its_blocker_and_the_rest_placed_on_hv1(demo):
    plan = plan_for(demo, "hv3")
    assert [m.domain for m in plan.moves] == ["vm-iscsi", "vm-qemu64"]    # same size: by name
    assert {m.destination for m in plan.moves} == {"hv1"}     # hv2's firewall rejects the migration port
    (refused,) = plan.refused
    assert refused.domain == "vm-invtsc" and "domain.blockers" in refused.blocking_checks
    hv1 = next(c for c in plan.to_dict()["capacity"] if c["host"] == "hv1")
    assert hv1["placed"] == ["vm-iscsi", "vm-qemu64"] and hv1["memory_planned_kib"] == 2 * 131072


def test_memory_counts_what_the_plan_already_put_there(demo):
    _, facts = demo
    # room on hv1 for one 128 MiB guest plus QEMU's 256 MiB, not for two
    small = with_memory(facts, "hv1", 131072 + 262144 + 100_000)
    plan = plan_for(demo, "hv3", small)
    assert [m.domain for m in plan.moves] == ["vm-iscsi"]
    refused = {r.domain: r for r in plan.refused}
    row = next(d for d in refused["vm-qemu64"].destinations if d["destination"] == "hv1")
    assert row["verdict"] == "pass" and row["capacity"].startswith("no memory")
    assert "planned" in row["capacity"] or "available" in row["capacity"]
    jsonschema.validate(plan.to_dict(), SCHEMA)


def test_unknown_memory_places_nothing_and_says_why(demo):
    _, facts = demo
    unknown = with_host(facts, "hv1", compat=None, fact_errors={"memory": "`cat /proc/meminfo` was not gathered"})
    plan = plan_for(demo, "hv3", unknown)
    assert plan.moves == []
    refused = {r.domain: r for r in plan.refused}
    row = next(d for d in refused["vm-iscsi"].destinations if d["destination"] == "hv1")
    assert row["verdict"] == "pass" and row["capacity"].startswith("memory unknown")
    assert refused["vm-iscsi"].blocking_checks == ["firewall.migration_ports"]   # hv2's; hv1's room is unknown
    cap = next(c for c in plan.to_dict()["capacity"] if c["host"] == "hv1")
    assert "not gathered" in cap["memory_unknown"]


def test_vcpu_ratio_limits_the_destination(demo):
    # hv1 runs 2 guests of 1 vCPU on 2 CPUs: at ratio 1.5 one more fits (3 <= 3), not two
    plan = plan_for(demo, "hv3", vcpu_ratio=1.5)
    assert [m.domain for m in plan.moves] == ["vm-iscsi"]
    row = next(d for d in plan.refused[-1].destinations if d["destination"] == "hv1")
    assert row["capacity"].startswith("no CPUs")


def test_spreads_over_destinations_with_the_most_memory_left(demo):
    report, facts = demo
    # hv2's guests may go to hv1 and hv3: the first to the roomier one, then the other has more left
    tilted = with_memory(with_memory(facts, "hv1", 10_000_000), "hv3", 10_200_000)
    plan = plan_for(demo, "hv2", tilted)
    assert [(m.domain, m.destination) for m in plan.moves] == [("vm-hostmodel", "hv3"), ("vm-nfs", "hv1")]


def test_unknown_host_is_a_drain_error(demo):
    with pytest.raises(DrainError, match="no hypervisor of that name"):
        plan_for(demo, "hv9")


def test_commands_quote_and_carry_the_inventory_connection_options(demo):
    _, facts = demo
    cluster = Cluster("c", hosts=(HostSpec("hv1", address="fd00::11", port=2222, user="ops"), HostSpec("hv2"),
                                  HostSpec("hv3")),
                      user="root", identity_file=Path("/keys/id ed"), ssh_config=Path("/etc/lab/ssh_config"))
    conns, notes = connections(facts, cluster)
    assert conns["hv1"].uri() == "qemu+ssh://ops@[fd00::11]:2222/system?keyfile=/keys/id%20ed"
    assert conns["hv2"].uri() == "qemu+ssh://root@hv2/system?keyfile=/keys/id%20ed"
    assert any("ssh_config" in n for n in notes)
    argv = command_for("vm it's", conns["hv1"], conns["hv2"])
    assert argv[:4] == ["virsh", "-c", conns["hv1"].uri(), "migrate"]
    assert argv[-2:] == ["vm it's", conns["hv2"].uri()]
    assert shlex.split(shlex.join(argv)) == argv
    assert "--domain" in command_for("-odd", conns["hv1"], conns["hv2"])
    assert Connection("h", "h").uri() == "qemu+ssh://h/system"


def test_cli_plan_json_and_errors(tmp_path):
    from tests.cli.cli_helpers import run_cli

    out = tmp_path / "plan.json"
    proc = run_cli("plan", "--drain", "hv3", "--json", out)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert "vm-invtsc" in proc.stdout and "domain.blockers" in proc.stdout
    for m in doc["moves"]:
        assert m["command"] in proc.stdout
    bad = run_cli("plan", "--drain", "nosuch")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "nosuch" in bad.stderr
    stdout = run_cli("plan", "--drain", "hv2", "--json", "-")
    assert stdout.returncode == 0, stdout.stderr
    assert json.loads(stdout.stdout)["complete"] is True and "DRAIN PLAN" in stdout.stderr


def test_the_plan_judges_the_flags_its_commands_carry(demo):
    from preflight.engine.pipeline import evaluate, load_recording, now
    from preflight.engine.registry import discover
    from preflight.engine.runner import Selection
    from preflight.plan.drain import plan_flags
    from preflight.plan.flags import parse

    _, facts = demo
    record = load_recording(DEMO)
    flags = plan_flags(parse("tunnelled"))
    report = evaluate(record, discover(), Selection(), cluster="lab", started=now(), source="replay:demo",
                      migrate_flags=flags)
    conns, _ = connections(facts, None)
    plan = build_plan(report, facts, "hv2", conns, flags=flags)
    # tunnelled without p2p: libvirt refuses every migration, so nothing is placed, and the check is named
    assert plan.moves == [] and all("domain.migrate_flags" in r.blocking_checks for r in plan.refused)
    ok = plan_flags(parse("auto-converge"))
    report = evaluate(record, discover(), Selection(), cluster="lab", started=now(), source="replay:demo",
                      migrate_flags=ok)
    plan = build_plan(report, facts, "hv2", conns, flags=ok)
    assert plan.moves and all(m.argv[4:8] == ["--live", "--persistent", "--undefinesource", "--auto-converge"]
                              for m in plan.moves)
    assert plan.to_dict()["policy"]["migrate_flags"] == ok.virsh_options


def test_an_unreachable_host_cannot_be_planned_and_is_no_destination():
    import copy

    from preflight.engine.pipeline import evaluate, load_recording, now
    from preflight.engine.registry import discover
    from preflight.engine.runner import Selection

    record = copy.deepcopy(load_recording(DEMO))
    record["hosts"]["hv1"].update(reachable=False, error="connection timed out")
    report = evaluate(record, discover(), Selection(), cluster="lab", started=now(), source="replay:demo")
    facts = parse_record(record)
    conns, _ = connections(facts, None)
    down = build_plan(report, facts, "hv1", conns)
    assert down.exit_code() == 3 and "unreachable" in down.to_dict()["undecided"] and not down.moves
    jsonschema.validate(down.to_dict(), SCHEMA)
    plan = build_plan(report, facts, "hv3", conns)
    assert all(m.destination != "hv1" for m in plan.moves)
    for r in plan.refused:
        row = next(d for d in r.destinations if d["destination"] == "hv1")
        assert row["verdict"] == "unknown" and "host.reachable" in row["undecided"]
    assert "hv1" not in {c["host"] for c in plan.to_dict()["capacity"]}


def test_html_page_says_what_the_json_says_and_escapes_host_text(demo, tmp_path):
    from preflight.reports.drain_html import render_drain_html
    from tests.cli.cli_helpers import run_cli

    doc = plan_for(demo, "hv3").to_dict()
    hostile = json.loads(json.dumps(doc))
    hostile["moves"][0]["domain"] = "<script>x</script>\u202e"
    page = render_drain_html(hostile)
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page and "\u202e" not in page
    out, page_file = tmp_path / "p.json", tmp_path / "p.html"
    proc = run_cli("plan", "--drain", "hv3", "--json", out, "--html", page_file, "-q")
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    written, page = json.loads(out.read_text()), page_file.read_text()
    for m in written["moves"]:
        assert m["domain"] in page and m["destination"] in page
        assert m["command"].replace("'", "&#39;") in page
    for r in written["refused"]:
        assert r["domain"] in page and all(c in page for c in r["blocking_checks"])
