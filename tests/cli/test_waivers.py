"""Waivers on the demo's real faults: WAIVED stops blocking the exit code, never hides an ERROR or an
unknown verdict; an expired waiver is a FAIL of its own; one that matches nothing is reported."""

import json
from datetime import date
from pathlib import Path

import pytest

from cli_helpers import run_cli
from preflight.engine.waivers import Waiver, WaiverError, apply, from_entries
from preflight.model import Evidence, Result, Status
from preflight.reports import validate
from preflight.compact import expand_document

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"

# the four real faults recorded in the demo, each with the subject glob a CAB would write
DEMO_FAULTS = [("storage.shared", "vm-local"), ("firewall.migration_ports", "*->hv2"),
               ("network.guest_networks", "vm-gluster"), ("domain.blockers", "vm-invtsc")]


def waiver_toml(entries, expires="2099-12-31"):
    out = []
    for i, (check, subject) in enumerate(entries, 1):
        out.append(f'[[waiver]]\ncheck = "{check}"\nsubject = "{subject}"\nreason = "accepted risk {i}"\n'
                   f'approver = "J. Doe (CAB)"\nticket = "CHG-{4700 + i}"\nexpires = {expires}\n')
    return "\n".join(out)


def check(tmp_path, waivers_text, *args, facts=DEMO):
    (tmp_path / "w.toml").write_text(waivers_text)
    proc = run_cli("check", "--replay", facts, "--waivers", tmp_path / "w.toml", "--json", tmp_path / "r.json",
                   "--html", tmp_path / "r.html", *args)
    doc = expand_document(json.loads((tmp_path / "r.json").read_text())) if (tmp_path / "r.json").exists() else None
    if doc is not None:
        validate(doc)
    return proc, doc


def undecided(doc) -> bool:
    return any(r["status"] == "error" for r in doc["results"]) or \
        any(m["verdict"] == "unknown" for m in doc["migrations"])


def test_waiving_every_real_fault_clears_the_exit_code_but_not_the_verdicts(tmp_path):
    proc, doc = check(tmp_path, waiver_toml(DEMO_FAULTS))
    assert proc.returncode == (3 if undecided(doc) else 0), proc.stdout[-2000:] + proc.stderr
    assert doc["run"]["counts"]["fail"] == 0 and doc["run"]["counts"]["waived"] == 6
    waived = [r for r in doc["results"] if r["status"] == "waived"]
    assert {r["waiver"]["status"] for r in waived} == {"fail"}
    local = next(r for r in waived if r["id"] == "storage.shared/migration/vm-local@hv1->hv2/disk=vda")
    assert local["waiver"]["approver"] == "J. Doe (CAB)" and local["waiver"]["ticket"] == "CHG-4701"
    assert local["waiver"]["expires"] == "2099-12-31" and local["waiver"]["reason"] == "accepted risk 1"
    # the migrations would still fail: they stay FAIL, their blockers listed as waived
    blocked = [m for m in doc["migrations"] if m["verdict"] == "fail"]
    assert len(blocked) >= 7 and all(set(m["blockers"]) == set(m["waived"]) for m in blocked)
    assert all(w["state"] == "active" and w["matched"] for w in doc["waivers"])
    assert (f"{len(blocked)} of {len(doc['migrations'])} migrations are blocked (all of them only by waived "
            f"findings") in " ".join(proc.stdout.split())
    html = (tmp_path / "r.html").read_text()
    assert "Waivers: accepted risks" in html and "waived CHG-4701" in html and "was FAIL, CHG-4701" in html


def test_a_partial_waiver_leaves_the_other_faults_failing(tmp_path):
    proc, doc = check(tmp_path, waiver_toml(DEMO_FAULTS[:1]))
    assert proc.returncode == 1
    m = next(m for m in doc["migrations"] if (m["domain"], m["destination"]) == ("vm-local", "hv2"))
    assert m["verdict"] == "fail" and m["waived"] == ["storage.shared"]
    assert "firewall.migration_ports" in m["blockers"]
    assert {r["check"] for r in doc["results"] if r["status"] == "fail"} == {
        "firewall.migration_ports", "network.guest_networks", "domain.blockers"}


def test_an_expired_waiver_waives_nothing_and_fails_itself(tmp_path):
    text = waiver_toml(DEMO_FAULTS[1:]) + "\n" + waiver_toml(DEMO_FAULTS[:1], expires="2020-01-31").replace(
        "CHG-4701", "CHG-0001")
    proc, doc = check(tmp_path, text)
    assert proc.returncode == 1
    fails = [r for r in doc["results"] if r["status"] == "fail"]
    assert {r["check"] for r in fails} == {"storage.shared", "waiver.expired"}
    expired = next(r for r in fails if r["check"] == "waiver.expired")
    assert "CHG-0001" in expired["message"] and "expired on 2020-01-31" in expired["message"]
    assert "2 findings it named count again" in expired["message"]
    state = next(w for w in doc["waivers"] if w["ticket"] == "CHG-0001")
    assert state["state"] == "expired" and len(state["matched"]) == 2
    assert "EXPIRED" in proc.stdout


def test_an_unmatched_waiver_is_reported(tmp_path):
    text = waiver_toml(DEMO_FAULTS + [("cpu.compatible", "vm-nfs"), ("storage.shared", "no-such-vm")])
    proc, doc = check(tmp_path, text)
    assert proc.returncode == (3 if undecided(doc) else 0)   # a WARN: the waivers file is wrong, not the cluster
    warns = {r["subject"]: r["message"] for r in doc["results"] if r["check"] == "waiver.unmatched"}
    assert set(warns) == {"waiver 5 (CHG-4705)", "waiver 6 (CHG-4706)"}
    assert "pass now: the risk it accepted is gone" in warns["waiver 5 (CHG-4705)"]
    assert "matches no result of this run" in warns["waiver 6 (CHG-4706)"]
    assert [w["state"] for w in doc["waivers"]][-2:] == ["unmatched", "unmatched"]


def test_a_waiver_never_hides_an_error(tmp_path):
    facts = json.loads(DEMO.read_text())
    facts["hosts"]["hv3"]["shell"]["ip_link"] = {"rc": 1, "out": "", "err": "ip: permission denied"}
    (tmp_path / "f.json").write_text(json.dumps(facts))
    proc, doc = check(tmp_path, waiver_toml(DEMO_FAULTS + [("network.*", "*")]), facts=tmp_path / "f.json")
    errors = [r for r in doc["results"] if r["status"] == "error"]
    network = [r for r in errors if r["check"].startswith("network.")]
    assert network and {r["check"] for r in network} == {"network.guest_networks", "network.mtu"}
    # the demo's hosts have no time service: the advisory clock check WARNs, it is no ERROR
    assert [r for r in errors if r not in network] == []
    state = doc["waivers"][-1]
    assert set(state["refused"]) == {r["id"] for r in network}
    assert proc.returncode == 3                              # undecided, never a clean bill
    assert any(m["verdict"] == "unknown" for m in doc["migrations"])


def test_a_waiver_cannot_clear_an_unknown_verdict(tmp_path):
    """--only leaves checks out: their verdicts are unknown; there is no result a waiver could take."""
    proc, doc = check(tmp_path, waiver_toml([("storage.shared", "vm-local"), ("cpu.*", "*")]),
                      "--only", "storage.shared")
    assert proc.returncode == 3
    assert all(m["verdict"] in ("unknown", "fail") for m in doc["migrations"])


def test_the_clusters_waivers_key_file_and_inline_and_the_option_replaces_it(tmp_path):
    (tmp_path / "facts.json").write_bytes(DEMO.read_bytes())
    (tmp_path / "mine.toml").write_text(waiver_toml(DEMO_FAULTS))
    inline = waiver_toml(DEMO_FAULTS).replace("[[waiver]]", "[[clusters.inl.waivers]]")
    (tmp_path / "inv.toml").write_text('[clusters.byfile]\nreplay = "facts.json"\nwaivers = "mine.toml"\n\n'
                                       '[clusters.inl]\nreplay = "facts.json"\n\n' + inline)
    for name in ("byfile", "inl"):
        proc = run_cli("check", "--inventory", tmp_path / "inv.toml", "--cluster", name, "--quiet",
                       "--json", tmp_path / f"{name}.json")
        doc = expand_document(json.loads((tmp_path / f"{name}.json").read_text()))
        assert proc.returncode == (3 if undecided(doc) else 0) and doc["run"]["counts"]["waived"] == 6, proc.stderr
        assert doc["run"]["options"]["waivers"]["sha256"]
    (tmp_path / "none.toml").write_text(waiver_toml(DEMO_FAULTS[:1]))
    proc = run_cli("check", "--inventory", tmp_path / "inv.toml", "--cluster", "byfile", "--quiet",
                   "--waivers", tmp_path / "none.toml", "--json", tmp_path / "o.json")
    assert proc.returncode == 1
    assert json.loads((tmp_path / "o.json").read_text())["run"]["options"]["waivers"]["path"].endswith("none.toml")


@pytest.mark.parametrize("edit, needle", [
    (lambda t: t.replace('approver = "J. Doe (CAB)"\n', ""), "'approver' must be a non-empty string"),
    (lambda t: t.replace("expires = 2099-12-31", 'expires = "soon"'), "'expires' must be a date"),
    (lambda t: t.replace("expires = 2099-12-31\n", ""), "'expires' must be a date"),
    (lambda t: t.replace('"storage.shared"', '"storage.sharde"'), "no check 'storage.sharde'"),
    (lambda t: t + 'owner = "x"\n', "unknown key 'owner'"),
    (lambda t: t.replace("[[waiver]]", "[waiver]"), "must be an array of tables"),
    (lambda t: t + "[[", "malformed TOML"),
])
def test_a_bad_waivers_file_is_one_line_exit_2(tmp_path, edit, needle):
    (tmp_path / "w.toml").write_text(edit(waiver_toml(DEMO_FAULTS[:1])))
    proc = run_cli("check", "--replay", DEMO, "--waivers", tmp_path / "w.toml", "--json", tmp_path / "r.json")
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()


def _r(status, **kw):
    kw.setdefault("check", "storage.shared")
    return Result(status=Status(status), message="m", subject="s", evidence=Evidence(), **kw)


def test_subject_globs_match_host_pair_domain_and_disk():
    w = from_entries([{"check": "storage.*", "subject": "vm1", "disk": "vd[ab]", "reason": "r",
                       "approver": "a", "ticket": "t", "expires": date(2099, 1, 1)}], "x")[0]
    assert w.matches(_r("fail", domain="vm1", host="hv1", source="hv1", destination="hv2", disk="vda"))
    assert not w.matches(_r("fail", domain="vm1", host="hv1", source="hv1", destination="hv2", disk="vdc"))
    assert not w.matches(_r("fail", domain="vm1", host="hv1", source="hv1", destination="hv2"))
    pair = Waiver(1, "x", "firewall.*", "hv1->*", "r", "a", "t", date(2099, 1, 1))
    assert pair.matches(_r("fail", check="firewall.migration_ports", host="hv1", source="hv1", destination="hv2"))
    assert not pair.matches(_r("fail", check="firewall.migration_ports", host="hv2", source="hv2",
                               destination="hv1"))
    host = Waiver(1, "x", "host.*", "hv3", "r", "a", "t", date(2099, 1, 1))
    assert host.matches(_r("warn", check="host.reachable", host="hv3"))


def test_a_waiver_is_valid_through_its_last_day():
    w = Waiver(1, "x", "storage.shared", "*", "r", "a", "t", date(2027, 3, 31))
    r = _r("fail", domain="vm1", host="hv1", source="hv1", destination="hv2")
    on_the_day, _ = apply([w], [r], date(2027, 3, 31))
    assert [x.status for x in on_the_day] == [Status.WAIVED]
    day_after, states = apply([w], [r], date(2027, 4, 1))
    assert [x.status for x in day_after] == [Status.FAIL, Status.FAIL]
    assert day_after[1].check == "waiver.expired" and states[0]["state"] == "expired"


def test_from_entries_refuses_a_waiver_without_an_end_date():
    with pytest.raises(WaiverError, match="without an end date"):
        from_entries([{"check": "x.y", "subject": "*", "reason": "r", "approver": "a", "ticket": "t"}], "f")
