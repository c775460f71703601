"""The command line's outputs and options (issue 6): output paths checked before anything is
gathered, '-' for standard output, special files written through, the umask honoured, a replay
reporting under its own cluster name and recording time, contradictory options refused."""

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from preflight.reports import validate
from preflight.compact import expand_document

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"


def run(*args, cwd=None, env=None, umask=None):
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("preflight: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "demo-facts.json"
    shutil.copy(DEMO, path)
    return path


# --- every output path is checked before anything is gathered ------------------------------------

def test_hole_output_paths_checked_only_after_the_gather(tmp_path):
    """A live cluster whose host would take the gather's time: the bad --html path must stop the run
    before any connection, and leave no JSON (which would claim exit code 1)."""
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.lab]\nhosts = [{ name = "hv1", address = "127.0.0.1", port = 1 }]\n')
    env = dict(os.environ, HOME=str(tmp_path))
    proc = run("check", "--cluster", "lab", "--inventory", str(inv), "--json", "ok.json",
               "--html", "missing-dir/r.html", cwd=tmp_path, env=env)
    one_line_error(proc, "--html missing-dir/r.html: cannot write: No such file or directory")
    assert "connecting" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["inv.toml"]


def test_hole_replay_reads_the_recording_before_checking_outputs(tmp_path):
    proc = run("check", "--replay", str(tmp_path / "no-such-recording.json"),
               "--json", str(tmp_path / "ok.json"), "--html", str(tmp_path / "missing-dir" / "r.html"))
    one_line_error(proc, "--html", "missing-dir/r.html: cannot write")
    assert os.listdir(tmp_path) == []


def test_an_output_may_not_overwrite_the_recording_being_replayed(recording):
    one_line_error(run("check", "--replay", str(recording), "--json", str(recording)),
                   "would overwrite the recording being replayed")
    assert json.loads(recording.read_text())["format"] == "preflight-facts/1"


# --- '-' is standard output -----------------------------------------------------------------------

def test_hole_json_dash_writes_a_file_named_dash(tmp_path):
    proc = run("check", "--json", "-", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)           # stdout is the JSON report and nothing else
    validate(doc)
    assert doc["run"]["exit_code"] == 1
    assert "= SUMMARY =" in proc.stderr and "TOTAL:" in proc.stderr     # the summary moved to stderr
    assert os.listdir(tmp_path) == []


def test_html_and_record_dash(tmp_path, recording):
    proc = run("check", "--html", "-", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout.startswith("<!DOCTYPE html>") and proc.stderr == ""
    proc = run("check", "--replay", str(recording), "--record", "-", "--json", str(tmp_path / "r.json"))
    assert json.loads(proc.stdout) == json.loads(recording.read_text())
    assert "TOTAL:" in proc.stderr and "wrote standard output" in proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["run"]["exit_code"] == proc.returncode == 1


def test_only_one_output_on_standard_output(tmp_path):
    one_line_error(run("check", "--json", "-", "--html", "-", cwd=tmp_path),
                   "--json and --html both name standard output")


def test_dev_stdout_is_written_through(tmp_path):
    proc = run("check", "--json", "/dev/stdout", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["run"]["exit_code"] == 1


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    proc = run("check", "--json", str(fifo), "--quiet")
    reader.join(timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(got[0])["run"]["exit_code"] == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --- modes ---------------------------------------------------------------------------------------

def test_hole_new_reports_ignore_the_umask_and_the_recording_is_world_readable(tmp_path):
    proc = run("check", "--json", "r.json", "--html", "r.html", "--record", "facts.json", "--quiet",
               cwd=tmp_path, umask=0o027)
    assert proc.returncode == 1, proc.stderr
    modes = {n: stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in ("r.json", "r.html", "facts.json")}
    assert modes == {"r.json": 0o640, "r.html": 0o640, "facts.json": 0o600}


# --- a replay keeps its cluster name and says when its facts were recorded -----------------------

def test_hole_replay_with_another_cluster_name(recording):
    one_line_error(run("check", "--replay", str(recording), "--cluster", "prod"),
                   "--cluster prod is not the cluster the recording", "('lab')")


def test_replay_reports_the_recorded_cluster_and_time(recording, tmp_path):
    recorded = json.loads(recording.read_text())["recorded"]
    for extra in ((), ("--cluster", "lab")):
        proc = run("check", "--replay", str(recording), "--json", str(tmp_path / "r.json"),
                   "--html", str(tmp_path / "r.html"), *extra)
        assert proc.returncode == 1, proc.stderr
        doc = json.loads((tmp_path / "r.json").read_text())
        assert doc["run"]["cluster"] == "lab" and doc["run"]["facts_recorded"] == recorded
        assert "of cluster lab" in proc.stdout and f"recorded {recorded}" in " ".join(proc.stdout.split())
        html = (tmp_path / "r.html").read_text()
        assert "<h1>Cluster lab</h1>" in html and f"<b>Facts recorded:</b> {recorded}" in html


def test_the_demo_reports_the_cluster_its_facts_come_from(tmp_path):
    proc = run("check", "--json", str(tmp_path / "r.json"), "--quiet")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["cluster"] == "lab" and doc["run"]["facts_recorded"]


def test_a_recording_without_timestamp_says_so(tmp_path):
    record = json.loads(DEMO.read_text())
    del record["recorded"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(record))
    proc = run("check", "--replay", str(path))
    assert "recorded at an unknown time" in " ".join(proc.stdout.split())


# --- contradictory options -----------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (("--only", "cpu", "--skip", "cpu"), "--only cpu and --skip cpu contradict each other"),
    (("--only", "storage.shared", "--skip", "storage"),
     "--only storage.shared and --skip storage contradict"),
    (("--only", "cpu.compatible", "--skip", "cpu"), "--only cpu.compatible and --skip cpu contradict"),
    (("--skip", "host,storage,cpu,domain,network,firewall,memory,nfs"), "--only/--skip leave no check to run"),
])
def test_hole_contradictory_only_and_skip(args, needle):
    one_line_error(run("check", *args), needle)


def test_narrowing_a_category_is_not_a_contradiction(tmp_path):
    proc = run("check", "--only", "storage", "--skip", "storage.cache_mode", "--quiet",
               "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stderr
    ran = {r["check"] for r in expand_document(json.loads((tmp_path / "r.json").read_text()))["results"]}
    assert "storage.shared" in ran and "storage.cache_mode" not in ran
