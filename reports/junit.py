"""JUnit XML for pipelines (Jenkins, GitLab): the run as test results a CI server counts and shows.

One <testsuite> per check category plus one for the migration verdicts:
  - per check and subject (host, domain@host, source->destination, domain@source->destination) one
    <testcase classname="preflight.CHECK" name="SUBJECT">: its worst result decides: FAIL -> <failure>,
    ERROR -> <error>, only SKIP -> <skipped>, WAIVED -> <skipped> naming the waiver; WARN passes with
    the warning in <system-out>. Several results about one subject (per disk, per NIC) are one case,
    every one of them listed in its text.
  - per migration one <testcase classname="preflight.migration" name="domain@source->destination">:
    fail -> <failure> naming the blockers, unknown -> <error> (undecided is never green), blocked only
    by waived findings -> <skipped>.
<properties> carry the run id, the cluster and the SHA-256 of the JSON report it was derived from.
Validated in the tests against the JUnit schema of Jenkins' xunit plugin (tests/fixtures/junit/).
"""

from __future__ import annotations

import json
import re
from typing import Optional

from lxml import etree as ET   # building XML only; nothing is parsed here (parsing: facts.xmlsafe)

from preflight.model import subject_key, worst_status
from preflight.reports._common import clean_text, format_value, mask_secrets, report_document
from preflight.reports.integrity import sha256_text

def render_junit(report, json_text: Optional[str] = None) -> str:
    """The run as JUnit XML text (UTF-8, ending with a newline), derived from its JSON document."""
    if json_text is None:
        from preflight.reports.json_report import to_json_text

        json_text = to_json_text(report_document(report))
    return junit_from_json(json_text)


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _t(value) -> str:
    """Text XML 1.0 can carry: control characters shown as \\xNN (clean_text), never dropped, and
    whatever XML still cannot hold (a lone surrogate, U+FFFE) as \\uNNNN."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", clean_text(value))


def _detail(r: dict) -> str:
    ev = r.get("evidence") or {}
    lines = [f"{r['status'].upper()}: {r.get('subject')}: {r.get('message')}"]
    for label, key in (("observed", "observed"), ("expected", "expected"), ("where", "source"),
                       ("remedy", "remediation")):
        if ev.get(key) not in (None, ""):
            lines.append(f"  {label}: {format_value(ev[key])}")
    if r.get("waiver"):
        w = r["waiver"]
        lines.append(f"  waived: {w.get('ticket')} by {w.get('approver')} until {w.get('expires')}: {w.get('reason')}")
    lines.append(f"  id: {r.get('id')}")
    return "\n".join(lines)


def junit_from_json(json_text: str) -> str:
    from preflight.compact import expand_document

    doc = mask_secrets(expand_document(json.loads(json_text)))
    run = doc["run"]
    category = {c["id"]: c.get("category") or c["id"].split(".")[0] for c in doc.get("checks") or []}
    cases: dict = {}
    for r in doc["results"]:
        cases.setdefault((r["check"], subject_key(r)), []).append(r)
    suites: dict = {}
    for (check, subject), rs in cases.items():
        suites.setdefault(category.get(check, check.split(".")[0]), []).append(_check_case(check, subject, rs))
    suites["migration"] = [_migration_case(m) for m in doc.get("migrations") or []]

    root = ET.Element("testsuites", name=_t(f"preflight {run.get('cluster')} {run.get('id') or ''}".strip()))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for name, testcases in suites.items():
        suite = ET.SubElement(root, "testsuite", name=f"preflight.{_t(name)}", timestamp=_t(run.get("started")),
                              hostname=_t((run.get("operator") or {}).get("host") or ""))
        props = ET.SubElement(suite, "properties")
        for key, value in (("run_id", run.get("id")), ("cluster", run.get("cluster")),
                           ("json_sha256", sha256_text(json_text)), ("source", run.get("source")),
                           ("exit_code", run.get("exit_code"))):
            ET.SubElement(props, "property", name=key, value=_t("" if value is None else value))
        counts = {"failures": 0, "errors": 0, "skipped": 0}
        for case, outcome in testcases:
            suite.append(case)
            if outcome in counts:
                counts[outcome] += 1
        suite.set("tests", str(len(testcases)))
        for key, n in counts.items():
            suite.set(key, str(n))
        suite.set("time", "0")
        totals["tests"] += len(testcases)
        totals["failures"] += counts["failures"]
        totals["errors"] += counts["errors"]
    for key, n in totals.items():
        root.set(key, str(n))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def _check_case(check: str, subject: str, rs: list) -> tuple:
    worst = worst_status(r["status"] for r in rs)
    case = ET.Element("testcase", classname=f"preflight.{_t(check)}", name=_t(subject), time="0")
    text = "\n".join(_detail(r) for r in rs)
    first = next(r for r in rs if r["status"] == worst)
    if worst == "fail":
        ET.SubElement(case, "failure", type=_t(check), message=_t(first["message"])).text = _t(text)
        return case, "failures"
    if worst == "error":
        ET.SubElement(case, "error", type=_t(check), message=_t(first["message"])).text = _t(text)
        return case, "errors"
    if worst == "waived":
        w = first.get("waiver") or {}
        ET.SubElement(case, "skipped", type="waived", message=_t(
            f"waived by {w.get('ticket')} ({w.get('approver')}, until {w.get('expires')}): {first['message']}"
        )).text = _t(text)
        return case, "skipped"
    if worst == "skip":
        ET.SubElement(case, "skipped", message=_t(first["message"]))
        return case, "skipped"
    if worst == "warn":
        ET.SubElement(case, "system-out").text = _t(text)
    return case, "passed"


def _migration_case(m: dict) -> tuple:
    name = f"{m['domain']}@{m['source']}->{m['destination']}"
    case = ET.Element("testcase", classname="preflight.migration", name=_t(name), time="0")
    reasons = "\n".join(m.get("reasons") or [])
    blockers, waived = m.get("blockers") or [], set(m.get("waived") or [])
    if m["verdict"] == "fail" and set(blockers) <= waived:
        ET.SubElement(case, "skipped", type="waived", message=_t(
            f"blocked only by waived findings: {', '.join(blockers)}")).text = _t(reasons)
        return case, "skipped"
    if m["verdict"] == "fail":
        ET.SubElement(case, "failure", type="migration", message=_t(
            f"blocked by {', '.join(b for b in blockers if b not in waived)}")).text = _t(reasons)
        return case, "failures"
    if m["verdict"] == "unknown":
        ET.SubElement(case, "error", type="migration", message=_t(
            f"could not be decided: {', '.join(m.get('undecided') or []) or 'no reason recorded'}")).text = _t(reasons)
        return case, "errors"
    if m["verdict"] == "warn":
        ET.SubElement(case, "system-out").text = _t(reasons)
    return case, "passed"
