"""A recording made by a real gather (sshd + throwaway libvirtd on loopback) matches the published
record schema (reports/schema/record.schema.json), carries when it was recorded, and replays."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

from preflight.engine.pipeline import evaluate, load_recording, parse_time
from preflight.engine.registry import discover
from preflight.engine.runner import Selection
from preflight.facts import record_schema


def test_a_live_recording_matches_the_record_schema(libvirt_lab, defined_domains, tmp_path):
    from jsonschema import Draft202012Validator

    from preflight.facts.collect import CollectOptions, collect

    inv = NS(name="pft", storage_hosts=[], hosts=[
        NS(name="pft-target", address=None, port=None, user=None),
        NS(name="pft-down", address="127.0.0.1", port=1, user=None),
    ])
    opts = CollectOptions(ssh_config=libvirt_lab.ssh_config, known_hosts=libvirt_lab.known_hosts,
                          use_agent=False, libvirt_timeout=60, probe_timeout=2, listener_lifetime=8)
    record = json.loads(json.dumps(collect(inv, opts)))        # as --record writes it
    assert record_schema.errors(record, limit=5) == []
    assert list(Draft202012Validator(record_schema.load_schema()).iter_errors(record)) == []
    assert parse_time(record["recorded"]) is not None
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(record))
    report = evaluate(load_recording(path), discover(), Selection(), cluster="pft", started="t",
                      source=f"replay:{path}")
    assert report.facts_recorded == record["recorded"]
    # one reachable hypervisor and one down: nothing can be judged, and the report says why
    assert "only 1 of 2 hypervisors could be assessed" in report.nothing_judged()
    assert [u.host for u in report.unassessed] == ["pft-down"] and report.exit_code() in (1, 3)
