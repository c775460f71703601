"""Run metadata and stable result ids: who ran what, on which inputs, in every output."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from cli_helpers import run_cli

from preflight.reports import validate
from preflight.compact import expand_document

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"


run = run_cli


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def via_inventory(tmp_path_factory):
    """A cluster of the user's inventory that replays a copy of the demo recording."""
    tmp = tmp_path_factory.mktemp("meta")
    (tmp / "facts.json").write_bytes(DEMO.read_bytes())
    (tmp / "inv.toml").write_text('[clusters.prod]\nreplay = "facts.json"\n')
    proc = run("check", "--cluster", "prod", "--inventory", str(tmp / "inv.toml"), "--only", "storage,network",
               "--json", str(tmp / "r.json"), "--html", str(tmp / "r.html"))
    return tmp, proc, expand_document(json.loads((tmp / "r.json").read_text())), (tmp / "r.html").read_text()


def test_json_names_operator_command_inputs_and_their_digests(via_inventory):
    tmp, proc, doc, _ = via_inventory
    validate(doc)
    run_ = doc["run"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", run_["id"])
    assert run_["operator"]["user"] and run_["operator"]["host"]
    assert run_["command"][:4] == ["preflight", "check", "--cluster", "prod"]
    assert run_["inventory"] == {"path": str(tmp / "inv.toml"), "sha256": sha256(tmp / "inv.toml")}
    rec = run_["recording"]
    assert rec["sha256"] == sha256(DEMO) and rec["path"].endswith("facts.json")
    # what the recording says about itself, and how old its facts were when the run started
    facts = json.loads(DEMO.read_text())
    assert (rec["cluster"], rec["recorded"], rec["tool_version"]) == (
        facts["cluster"], facts["recorded"], facts["tool_version"])
    from datetime import datetime

    age = datetime.fromisoformat(run_["started"]) - datetime.fromisoformat(facts["recorded"])
    assert run_["facts_age_s"] == int(age.total_seconds()) > 0
    assert run_["selection"]["only"] == ["storage", "network"] and run_["options"]["write_test"] is False


def test_html_and_terminal_show_the_same_metadata(via_inventory):
    tmp, proc, doc, html = via_inventory
    run_id = doc["run"]["id"]
    for text in (html.replace("<wbr>", ""), proc.stdout):
        assert run_id in text
        assert f"{doc['run']['operator']['user']}@{doc['run']['operator']['host']}" in text
        assert doc["run"]["inventory"]["sha256"] in text
        assert doc["run"]["recording"]["sha256"] in text
        assert "--only storage,network" in text
        assert "old when this run started" in text


def test_replay_without_inventory_has_no_inventory_but_the_recording(tmp_path):
    run("check", "--replay", str(DEMO), "--quiet", "--json", str(tmp_path / "r.json"))
    doc = expand_document(json.loads((tmp_path / "r.json").read_text()))
    assert doc["run"]["inventory"] is None
    assert doc["run"]["recording"]["sha256"] == sha256(DEMO)


def test_every_result_has_a_unique_stable_id_scope_and_severity(tmp_path):
    docs = []
    for name in ("a", "b"):
        run("check", "--cluster", "demo", "--quiet", "--json", str(tmp_path / f"{name}.json"))
        docs.append(expand_document(json.loads((tmp_path / f"{name}.json").read_text())))
    a, b = docs
    ids = [r["id"] for r in a["results"]]
    assert len(ids) == len(set(ids)) == len(a["results"])
    assert ids == [r["id"] for r in b["results"]]            # same facts, same ids
    assert a["run"]["id"] != b["run"]["id"]                  # two runs, two run ids
    severity = {c["id"]: c["severity"] for c in a["checks"]}
    for r in a["results"]:
        assert r["severity"] == severity[r["check"]]
        assert r["id"].startswith(f"{r['check']}/{r['scope']}/") and "[masked]" not in r["id"]
    failing = {r["id"] for r in a["results"] if r["status"] == "fail"}
    assert "storage.shared/migration/vm-local@hv1->hv2/disk=vda" in failing
    assert "firewall.migration_ports/pair/hv1->hv2" in failing
    assert "domain.blockers/domain/vm-invtsc@hv3" in failing
    counts = a["counts"]
    assert counts["results"] == a["run"]["counts"] and sum(counts["migrations"].values()) == len(a["migrations"])
    assert counts["migrations"]["fail"] == sum(m["verdict"] == "fail" for m in a["migrations"])


def test_a_nic_removed_leaves_the_other_nics_ids_alone(tmp_path):
    """Ids of per-NIC results follow the NIC (its MAC), not its position in the domain XML."""
    facts = json.loads(DEMO.read_text())
    dom = next(d for d in facts["hosts"]["hv1"]["libvirt"]["domains"] if "br-app" in d["xml"])
    xml = dom["xml"]
    first = xml.index("<interface")
    dom["xml"] = xml[:first] + xml[xml.index("</interface>", first) + len("</interface>"):]
    assert "br-app" in dom["xml"] and xml.count("<interface") == dom["xml"].count("<interface") + 1
    (tmp_path / "f.json").write_text(json.dumps(facts))
    before, after = (tmp_path / "before.json"), (tmp_path / "after.json")
    run("check", "--replay", str(DEMO), "--quiet", "--json", str(before))
    run("check", "--replay", str(tmp_path / "f.json"), "--quiet", "--json", str(after))

    def nic_results(path):
        return {r["id"]: r["status"] for r in expand_document(json.loads(path.read_text()))["results"]
                if r["check"] == "network.guest_networks" and r["domain"] == "vm-gluster"}

    old, new = nic_results(before), nic_results(after)
    assert len(new) == len(old) - 2                         # one NIC fewer, two destinations
    assert set(new) < set(old) and all(old[i] == new[i] for i in new)
    assert "network.guest_networks/migration/vm-gluster@hv1->hv3/nic=52:54:00:a0:e9:01" in new
