import copy
import json

import pytest

jsonschema = pytest.importorskip("jsonschema")

from preflight.model import Evidence, Result, Status  # noqa: E402
from preflight.reports import render_json, validate  # noqa: E402
from preflight.reports.json_report import load_schema, validation_errors  # noqa: E402
from preflight.compact import expand_document  # noqa: E402


def _doc(report):
    return expand_document(json.loads(render_json(report)))     # the full form: one object per result


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_rendered_json_validates(report):
    doc = _doc(report)
    validate(doc)
    assert doc["schema_version"] == "1"
    assert doc["run"]["counts"] == {"pass": 4, "warn": 1, "fail": 4, "error": 2, "skip": 2, "waived": 0}
    assert doc["run"]["exit_code"] == 1


def test_the_canonical_dict_validates_too(report):
    validate(report.to_dict())


def test_json_is_stable_sorted_and_indented(report):
    a, b = render_json(report), render_json(report)
    assert a == b
    assert a.endswith("\n")
    assert a.startswith('{\n  "checks": [')  # keys sorted, two-space indent
    doc = json.loads(a)
    assert list(doc) == sorted(doc)


@pytest.mark.parametrize("mutate", [
    lambda d: d["results"][0].__setitem__("status", "passed"),
    lambda d: d["results"][0].__setitem__("status", "PASS"),
    lambda d: d["migrations"][0].__setitem__("verdict", "ok"),
    lambda d: d["results"][0].pop("message"),
    lambda d: d["results"][0].pop("evidence"),
    lambda d: d["hosts"][0].pop("reachable"),
    lambda d: d["hosts"][0].__setitem__("round_trips", "3"),
    lambda d: d.pop("schema_version"),
    lambda d: d.__setitem__("schema_version", "2"),
    lambda d: d.pop("migrations"),
    lambda d: d["run"].pop("cluster"),
    lambda d: d["tool"].pop("version"),
    lambda d: d["run"]["counts"].pop("error"),
    lambda d: d["checks"][0].__setitem__("severity", "severe"),
    lambda d: d["checks"][0].pop("remediation"),
    lambda d: d["results"][0].__setitem__("check", "Not An Id"),
    lambda d: d["results"][0].__setitem__("surprise", 1),
    lambda d: d.__setitem__("surprise", 1),
], ids=["status-passed", "status-upper", "verdict-ok", "no-message", "no-evidence",
        "host-no-reachable", "round-trips-string", "no-schema-version", "schema-version-2",
        "no-migrations", "no-cluster", "no-tool-version", "no-error-count", "bad-severity",
        "no-remediation", "bad-check-id", "extra-result-key", "extra-top-level-key"])
def test_wrong_documents_do_not_validate(report, mutate):
    doc = _doc(report)
    bad = copy.deepcopy(doc)
    mutate(bad)
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    assert validation_errors(bad)


def test_semantic_rules(report):
    doc = _doc(report)
    blocked = next(m for m in doc["migrations"] if m["verdict"] == "fail")
    blocked["blockers"] = []  # a blocked migration must say what blocks it
    assert validation_errors(doc)

    doc = _doc(report)
    ok = next(m for m in doc["migrations"] if m["verdict"] == "pass")
    ok["blockers"] = ["cpu.model_compatible"]  # a passing migration cannot have a blocker
    assert validation_errors(doc)

    doc = _doc(report)
    down = next(h for h in doc["hosts"] if not h["reachable"])
    down["error"] = None  # an unreachable host must say why
    assert validation_errors(doc)


def test_secret_keys_are_masked_in_json(report):
    text = render_json(report)
    for secret in ("hunter2", "c2VjcmV0", "letmein", "BEGIN OPENSSH PRIVATE KEY"):
        assert secret not in text
    ev = next(r for r in json.loads(text)["results"] if r.get("disk") == "vda")["evidence"]
    assert ev["vnc_password"] == ev["passwd"] == ev["storage_secret"] == ev["ssh_private_key"] == "[masked]"
    assert ev["keymap"] == "en-us" and ev["pool"] == "default"  # not secrets: left alone


def test_evidence_values_json_cannot_encode_are_rendered(report):
    report.results.append(Result(check="domain.no_host_devices", status=Status.PASS, subject="x",
                                 message="m", host="hv1",
                                 evidence=Evidence(observed={"b", "a"}, details={"st": Status.WARN})))
    doc = json.loads(render_json(report))
    assert doc["results"][-1]["evidence"] == {"observed": ["a", "b"], "st": "warn"}


def test_jsonschema_is_not_imported_at_runtime():
    import subprocess
    import sys

    code = ("import sys; import preflight.reports; "
            "assert 'jsonschema' not in sys.modules, 'jsonschema imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True)
