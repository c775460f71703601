"""--junit: valid against the JUnit schema Jenkins reads, and read back by junitparser with the counts
the JSON report implies (failure for FAIL, error for ERROR or an undecided migration, skipped for
SKIP and WAIVED)."""

import json
from pathlib import Path

import junitparser
import pytest
import xmlschema

from cli_helpers import run_cli
from preflight.model import status_rank, subject_key
from preflight.reports.integrity import sha256_text
from preflight.compact import expand_document

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "preflight" / "demo" / "demo-facts.json"
XSD = ROOT / "tests" / "fixtures" / "junit" / "jenkins-xunit-junit-10.xsd"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema10(str(XSD))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The demo's real faults, one of them waived, hv3's interface list unreadable (ERROR), and a
    hostile VM name with control characters and markup."""
    tmp = tmp_path_factory.mktemp("junit")
    facts = json.loads(DEMO.read_text())
    facts["hosts"]["hv3"]["shell"]["ip_link"] = {"rc": 1, "out": "", "err": "ip: \x1b[31mdenied\x07 <&>"}
    (tmp / "f.json").write_text(json.dumps(facts))
    (tmp / "w.toml").write_text('[[waiver]]\ncheck = "storage.shared"\nsubject = "vm-local"\nreason = "r"\n'
                                'approver = "a"\nticket = "CHG-1"\nexpires = 2099-01-01\n')
    proc = run_cli("check", "--replay", tmp / "f.json", "--waivers", tmp / "w.toml", "--quiet",
                   "--junit", tmp / "r.xml", "--json", tmp / "r.json")
    assert proc.returncode == 1, proc.stderr
    return tmp / "r.xml", expand_document(json.loads((tmp / "r.json").read_text())), (tmp / "r.json").read_text()


def expected_counts(doc):
    """What the JUnit must say, computed from the JSON independently of the renderer."""
    worst = {}
    for r in doc["results"]:
        key = (r["check"], subject_key(r))
        worst[key] = max(worst.get(key, "skip"), r["status"], key=status_rank)
    out = {"tests": len(worst) + len(doc["migrations"]), "failures": 0, "errors": 0, "skipped": 0}
    outcome = {"fail": "failures", "error": "errors", "skip": "skipped", "waived": "skipped"}
    for status in worst.values():
        if status in outcome:
            out[outcome[status]] += 1
    for m in doc["migrations"]:
        if m["verdict"] == "fail" and set(m["blockers"]) <= set(m["waived"]):
            out["skipped"] += 1
        elif m["verdict"] == "fail":
            out["failures"] += 1
        elif m["verdict"] == "unknown":
            out["errors"] += 1
    return out


def test_junit_validates_against_the_jenkins_schema(schema, mixed):
    path, _, _ = mixed
    schema.validate(str(path))                 # raises with the first violation


def test_junitparser_reads_it_back_with_the_right_counts(mixed):
    path, doc, json_text = mixed
    xml = junitparser.JUnitXml.fromfile(str(path))
    got = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    kinds = {}
    for suite in xml:
        for case in suite:
            got["tests"] += 1
            outcome = case.result[0].__class__.__name__ if case.result else "passed"
            kinds.setdefault(outcome, []).append((case.classname, case.name))
        for key in got:
            if key != "tests":
                got[key] += int(getattr(suite, key) or 0)
        props = {p.name: p.value for p in suite.properties()}
        assert props["run_id"] == doc["run"]["id"] and props["json_sha256"] == sha256_text(json_text)
    assert got == expected_counts(doc)
    assert (xml.tests, xml.failures, xml.errors) == (got["tests"], got["failures"], got["errors"])
    assert len(kinds["Failure"]) == got["failures"] and len(kinds["Error"]) == got["errors"]
    assert len(kinds["Skipped"]) == got["skipped"]
    # the real faults are failures under the check's name, the undecided ones errors
    assert ("preflight.firewall.migration_ports", "hv1->hv2") in kinds["Failure"]
    assert ("preflight.network.guest_networks", "vm-gluster@hv1->hv3") in kinds["Error"]
    assert ("preflight.migration", "vm-invtsc@hv3->hv1") in kinds["Failure"]
    assert ("preflight.migration", "vm-gluster@hv1->hv3") in kinds["Error"]     # unknown is never green
    assert ("preflight.migration", "vm-nfs@hv2->hv3") in kinds["Error"]
    assert ("preflight.storage.shared", "vm-local@hv1->hv3") in kinds["Skipped"]   # waived


def test_a_case_carries_the_evidence_and_a_waiver_names_its_ticket(mixed):
    path, _, _ = mixed
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = {(c.classname, c.name): c for suite in xml for c in suite}
    fw = cases[("preflight.firewall.migration_ports", "hv1->hv2")].result[0]
    assert "REJECT" in fw.message and "observed: refused" in fw.text and "remedy:" in fw.text
    waived = cases[("preflight.storage.shared", "vm-local@hv1->hv2")].result[0]
    assert waived.type == "waived" and "CHG-1" in waived.message
    # control characters arrive escaped, never raw (XML 1.0 cannot carry them)
    err = cases[("preflight.network.guest_networks", "vm-gluster@hv1->hv3")].result[0]
    assert "\\x1b[31mdenied\\x07 <&>" in err.text and "\x1b" not in path.read_text()


def test_junit_to_standard_output(tmp_path):
    proc = run_cli("check", "--cluster", "demo", "--junit", "-")
    assert proc.returncode == 1 and proc.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "TOTAL:" in proc.stderr       # the summary moves to stderr
