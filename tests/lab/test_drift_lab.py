"""Drift on two real runs of the lab: clean, then with the Gluster mount gone from one hypervisor
(the mount_missing scenario). Two live checks (a few seconds), no migration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab


def check(lab, tmp_path, name, *extra):
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "lab", "--inventory",
                           str(lab.inventory), "--json", str(tmp_path / f"{name}.json"), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1, 3) and "Traceback" not in proc.stderr, proc.stderr
    from preflight.compact import expand_document

    return proc, expand_document(json.loads((tmp_path / f"{name}.json").read_text()))


def test_drift_of_a_clean_run_and_a_missing_mount(lab, scenario, tmp_path):
    _, clean = check(lab, tmp_path, "clean")
    with scenario("mount_missing"):
        proc, fault = check(lab, tmp_path, "fault", "--previous", str(tmp_path / "clean.json"),
                            "--html", str(tmp_path / "fault.html"))
    d = fault["drift"]
    assert d["previous"]["run_id"] == clean["run"]["id"] and d["same_cluster"]
    gone_to = L.MOUNT_MISSING_HOST
    new = [f for f in d["findings"]["new"] if f["status"] == "fail"]
    # the FAIL that names the cause is new: vm-gluster's disk is not on the same share on hv3
    assert any(f["check"] == "storage.shared" and f["domain"] == "vm-gluster" and f["destination"] == gone_to
               and f.get("disk") == "vda" for f in new), new
    # and the verdict that changed because of it
    changed = {(v["domain"], v["source"], v["destination"]): v for v in d["verdicts"]["changed"]}
    v = changed[("vm-gluster", "hv1", gone_to)]
    assert (v["was"], v["now"]) == ("pass", "fail") and "storage.shared" in v["blockers"]
    # nothing appeared or went: same hosts, same guests
    assert not any(d["hosts"].values()) and not any(d["vms"].values())
    assert d["verdicts"]["new"] == d["verdicts"]["gone"] == 0
    # no finding of the clean run was resolved by unmounting a share
    assert not d["findings"]["resolved"], d["findings"]["resolved"]
    # the standalone diff of the two files says the same and exits 1; the other way round the fault
    # is resolved
    diff = subprocess.run([sys.executable, "-m", "preflight", "diff", str(tmp_path / "clean.json"),
                           str(tmp_path / "fault.json"), "--json", str(tmp_path / "d.json")],
                          capture_output=True, text=True, timeout=120)
    assert diff.returncode == 1 and json.loads((tmp_path / "d.json").read_text())["findings"] == d["findings"]
    back = subprocess.run([sys.executable, "-m", "preflight", "diff", str(tmp_path / "fault.json"),
                           str(tmp_path / "clean.json"), "--json", str(tmp_path / "back.json")],
                          capture_output=True, text=True, timeout=120)
    assert back.returncode == 1, back.stderr
    resolved = json.loads((tmp_path / "back.json").read_text())["findings"]["resolved"]
    assert any(f["check"] == "storage.shared" and f["destination"] == gone_to and f["now"] == "pass"
               for f in resolved), resolved
    assert "CHANGES SINCE THE PREVIOUS RUN" in proc.stdout
