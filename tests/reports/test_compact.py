"""The compact form of the JSON results (preflight.compact) loses nothing: expanded it is the full form,
result for result and in order, whatever the names hold; both forms follow the schema; and the consumers
of the JSON (diff, verify, JUnit) read it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from preflight.compact import compact_document, compact_results, expand_document, expand_results, template_of
from preflight.reports.json_report import validation_errors

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "preflight", "check", "--quiet", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_the_demos_compact_json_expands_to_its_full_json(tmp_path):
    _run(tmp_path, "--json", str(tmp_path / "c.json"))
    _run(tmp_path, "--json", str(tmp_path / "f.json"), "--full-results")
    compact, full = (json.loads((tmp_path / n).read_text()) for n in ("c.json", "f.json"))
    assert compact["run"]["results_form"] == "compact" and "results_form" not in full["run"]
    assert len(compact["results"]) < len(full["results"]) / 2
    assert (tmp_path / "c.json").stat().st_size < (tmp_path / "f.json").stat().st_size
    assert validation_errors(compact) == [] and validation_errors(full) == []
    expanded = expand_document(compact)
    for key in ("results", "migrations", "domains", "hosts", "checks", "counts", "waivers"):
        assert expanded[key] == full[key], key
    assert expand_document(full) is full
    assert expand_document(compact_document(full)) == full


def _result(host, domain, dst, message, **extra):
    r = {"check": "storage.shared", "status": "pass", "host": host, "domain": domain, "source": host,
         "destination": dst, "subject": f"{domain}: {host} -> {dst}", "message": message,
         "id": f"storage.shared/migration/{domain}@{host}->{dst}", "scope": "migration", "severity": "high",
         "evidence": {"observed": [f"{dst}:/srv", 3, None, True], "source": f"{host}: /proc/self/mountinfo"}}
    r.update(extra)
    return r


def test_hostile_names_round_trip_exactly():
    names = ["hv1", "{host}", "{{x}}", "a}b{c", "host", "source", "vm", "d{0}", "x" * 300, "é\u202e"]
    results = []
    for h in names:
        for j, d in enumerate(names):
            if h != d:
                dom = f"vm-{h}-{j}"
                results.append(_result(h, dom, d, f"disk of {dom} on {h} is seen by {d} as {{literal}} {d}"))
    results.insert(7, {"check": "host.identity", "status": "fail", "host": "hv1", "subject": "hv1",
                       "message": "x", "evidence": {}})
    compact = compact_results(results)
    assert len(compact) < len(results) / 3
    assert expand_results(compact) == results
    assert json.loads(json.dumps(compact)) == compact


def test_a_result_whose_template_would_not_give_it_back_is_kept_whole():
    # "hv1" is also inside the placeholder text "{source}"'s neighbour: a name equal to a placeholder name
    odd = _result("source", "domain", "destination", "source domain destination {source}")
    made = template_of(odd)
    if made is not None:
        fields, tmpl = made
        assert expand_results(compact_results([odd, odd])) == [odd, odd]
    assert expand_results(compact_results([odd])) == [odd]


def test_diff_verify_and_junit_read_the_compact_form(tmp_path):
    _run(tmp_path, "--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html"),
         "--junit", str(tmp_path / "a.xml"))
    _run(tmp_path, "--json", str(tmp_path / "b.json"), "--full-results")
    diff = subprocess.run([sys.executable, "-m", "preflight", "diff", str(tmp_path / "a.json"),
                           str(tmp_path / "b.json"), "--json", str(tmp_path / "d.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert diff.returncode == 0, diff.stdout + diff.stderr        # same facts: nothing changed
    drift = json.loads((tmp_path / "d.json").read_text())
    assert drift["counts"]["new"] == drift["counts"]["resolved"] == 0
    verify = subprocess.run([sys.executable, "-m", "preflight", "verify", str(tmp_path / "a.html"),
                             str(tmp_path / "a.json")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    xml = (tmp_path / "a.xml").read_text()
    full = json.loads((tmp_path / "b.json").read_text())
    assert xml.count("<testcase ") >= len({(r["check"], r["id"].split("/")[2]) for r in full["results"]})


def test_the_schemas_rules_hold_for_a_groups_template_too(tmp_path):
    _run(tmp_path, "--json", str(tmp_path / "c.json"))
    doc = json.loads((tmp_path / "c.json").read_text())
    assert validation_errors(doc) == []
    group = next(m["group"] for m in doc["migrations"] if "group" in m and m["group"]["template"]["verdict"] == "fail")
    group["template"]["blockers"] = []          # a blocked migration must say what blocks it
    assert validation_errors(doc)
    assert doc["subject_names"] and all(isinstance(i, int) for row in group["subjects"] for i in row)
