"""A recording preflight cannot use is one line naming the file and the key, exit 2 (issue 6): it is
validated against the published schema reports/schema/record.schema.json before any parser reads it,
its size is bounded, and a recording the schema accepts never crashes the run."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight.engine.pipeline import ReplayError, evaluate, load_recording
from preflight.engine.registry import discover
from preflight.engine.runner import Selection

try:                                    # imported softly: the CLI tests also run against older versions
    from preflight.facts import record_schema
except ImportError:                     # pragma: no cover
    record_schema = None

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"
FORMAT = "preflight-facts/1"


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("preflight: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def demo():
    return json.loads(DEMO.read_text())


def test_hole_malformed_recording_is_internal_error(tmp_path):
    """{"hosts": {"hv1": "x"}} ended in `internal error: AttributeError`, exit 4."""
    bad = tmp_path / "rec.json"
    bad.write_text(json.dumps({"format": FORMAT, "hosts": {"hv1": "x"}}))
    one_line_error(run("check", "--replay", str(bad)), str(bad), "hosts.hv1: must be an object, not a string",
                   "record.schema.json")


@pytest.mark.parametrize("mutate, key", [
    (lambda r: r["hosts"]["hv1"].__setitem__("shell", ["not", "a", "map"]), "hosts.hv1.shell"),
    (lambda r: r["hosts"]["hv1"]["shell"].__setitem__("mountinfo", "text"), "hosts.hv1.shell.mountinfo"),
    (lambda r: r["hosts"]["hv1"]["shell"]["mountinfo"].__setitem__("out", 42),
     "hosts.hv1.shell.mountinfo.out"),
    (lambda r: r["hosts"]["hv1"]["libvirt"]["domains"][0].__setitem__("xml", {"x": 1}),
     "hosts.hv1.libvirt.domains[0].xml"),
    (lambda r: r["hosts"]["hv1"].__setitem__("round_trips", "three"), "hosts.hv1.round_trips"),
    (lambda r: r["hosts"]["hv1"].__setitem__("reachable", "yes"), "hosts.hv1.reachable"),
    (lambda r: r["pairs"][0]["probes"][0].pop("port"), "pairs[0].probes[0].port"),
    (lambda r: r["pairs"][0].__setitem__("cpu", ["vm1"]), "pairs[0].cpu"),
    (lambda r: r.__setitem__("pairs", {"hv1": "hv2"}), "pairs"),
    (lambda r: r["storage_hosts_facts"]["nas"].__setitem__("errors", {"exports": 1}),
     "storage_hosts_facts.nas.errors.exports"),
    (lambda r: r.__setitem__("cluster", 7), "cluster"),
])
def test_wrong_types_name_the_key(tmp_path, mutate, key):
    record = demo()
    mutate(record)
    bad = tmp_path / "rec.json"
    bad.write_text(json.dumps(record))
    one_line_error(run("check", "--replay", str(bad)), f"{bad}: {key}: ")


def test_deep_nesting_is_refused(tmp_path):
    record = demo()
    record["hosts"]["hv1"]["extra"] = json.loads("[" * 200 + "]" * 200)
    bad = tmp_path / "deep.json"
    bad.write_text(json.dumps(record))
    one_line_error(run("check", "--replay", str(bad)), "hosts.hv1.extra", "nested deeper than 32 levels")
    # deeper than the JSON decoder itself goes: still one line
    (tmp_path / "deeper.json").write_text("[" * 100000 + "]" * 100000)
    one_line_error(run("check", "--replay", str(tmp_path / "deeper.json")), "nested too deeply")


def test_size_is_bounded(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    record = demo()
    record["padding"] = "x" * (2 * 1024 * 1024)
    big.write_text(json.dumps(record))
    env = dict(os.environ, PREFLIGHT_MAX_RECORDING_MB="1")
    one_line_error(run("check", "--replay", str(big), env=env), str(big), "larger than 1 MiB",
                   "PREFLIGHT_MAX_RECORDING_MB")
    monkeypatch.setenv("PREFLIGHT_MAX_RECORDING_MB", "3")
    assert load_recording(big)["padding"]


def test_not_json_constants_and_timestamps(tmp_path):
    for text, needle in ((f'{{"format": "{FORMAT}", "x": NaN}}', "NaN is not a JSON number"),
                         (f'{{"format": "{FORMAT}", "recorded": "yesterday"}}',
                          "recorded: must be an ISO 8601"),
                         (b"\xff\xfe{}", "not UTF-8")):
        path = tmp_path / "r.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ReplayError, match=needle):
            load_recording(path)


def test_the_demo_and_real_shapes_validate():
    """The schema matches what real recordings contain: the demo (recorded from the lab) is valid,
    for jsonschema itself and for the validator preflight runs."""
    from jsonschema import Draft202012Validator

    schema = record_schema.load_schema()
    Draft202012Validator.check_schema(schema)
    record_schema.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(demo())) == []
    assert record_schema.errors(demo()) == []


def test_unknown_keys_are_allowed_everywhere():
    """Newer recordings carry more facts (e.g. a domain's live_xml): extra keys never refuse one."""
    record = demo()
    # objects keyed by name (host names, command keys, fact keys, guest names) are maps whose every
    # value has the same shape; every other object may carry keys this version does not know
    maps = {"hosts", "shell", "errors", "chains", "stats", "write_test", "storage_hosts_facts", "cpu",
            "round_trips_by_host"}
    stack, extended = [(None, record)], 0
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            stack += list(node.items())
            if key not in maps:
                node["x_future_fact"] = {"anything": [1, "two", None]}
                extended += 1
        elif isinstance(node, list):
            stack += [(None, item) for item in node]
    assert extended > 100
    record["hosts"]["hv1"]["libvirt"]["domains"][0]["live_xml"] = "<domain/>"
    assert record_schema.errors(record) == []
    report = evaluate(record, discover(), Selection(), cluster="lab", started="t", source="replay:x")
    assert report.migrations


def test_a_recording_with_only_its_format_is_valid():
    assert record_schema.errors({"format": FORMAT}) == []


def test_the_validator_refuses_keywords_it_does_not_implement():
    with pytest.raises(ValueError, match=r"oneOf.*not implemented"):
        record_schema.check_schema({"type": "object", "properties": {"a": {"oneOf": []}}})


# --- every wrong type anywhere: refused by the schema, or harmless -------------------------------

def _paths(node, path=()):
    """Every value's path in hv1, in the first pair, in the storage hosts and at the top (lists: their
    first item only), so each kind of key is mutated once."""
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            if path == ("hosts",) and k != "hv1" or path == () and k == "pairs":
                continue
            yield from _paths(v, path + (k,))
        if path == ():
            yield from _paths(node["pairs"][0], ("pairs", 0))
    elif isinstance(node, list) and node:
        yield from _paths(node[0], path + (0,))


WRONG = ("text", 7, None, [], {}, True, -1)


def _mutations():
    record = demo()
    for path in _paths(record):
        if not path:
            continue
        for wrong in WRONG:
            yield path, wrong


def _get(record, path):
    node = record
    for part in path:
        node = node[part]
    return node


def _set(record, path, value):
    node = record
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def test_wrong_types_anywhere_are_refused_or_harmless():
    """Each key of a real recording set to each wrong type: either the schema refuses the recording
    (so the user gets one line naming the key) or the run completes. Never an exception (exit 4)."""
    record, registry = demo(), discover()
    pristine = json.dumps(record, sort_keys=True)
    accepted = refused = 0
    for path, wrong in _mutations():
        original = _get(record, path)
        _set(record, path, copy.deepcopy(wrong))     # in place and put back: a deep copy each is slow
        try:
            if record_schema.problem(record) is not None:
                refused += 1
                continue
            accepted += 1
            try:
                report = evaluate(record, registry, Selection(), cluster="lab", started="t",
                                  source="replay:x")
                report.to_dict()
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{record_schema.path_text(list(path))} = {wrong!r} passes the schema but the "
                            f"run raised {type(exc).__name__}: {exc}")
        finally:
            _set(record, path, original)
    assert json.dumps(record, sort_keys=True) == pristine    # evaluate reads the record, never changes it
    assert refused > 200 and accepted > 50


def test_the_validator_agrees_with_jsonschema():
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(record_schema.load_schema())
    record = demo()
    for i, (path, wrong) in enumerate(_mutations()):
        if i % 5:
            continue
        original = _get(record, path)
        _set(record, path, copy.deepcopy(wrong))
        try:
            ours = record_schema.errors(record)
            assert (not ours) == validator.is_valid(record), (path, wrong, ours)
        finally:
            _set(record, path, original)
