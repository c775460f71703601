"""Bad input: a one-line error naming the thing and the fix, exit code 2, never a traceback."""

import subprocess
import sys



def run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def one_line_error(proc, needle):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("preflight: error: ")
    assert needle in lines[0]


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("preflight ")


def test_help_teaches_exit_codes():
    proc = run("check", "--help")
    assert proc.returncode == 0
    top = run("--help")
    assert "Exit codes" in top.stdout and "demo" in top.stdout


def test_unknown_cluster(tmp_path):
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.lab]\nhosts = ["hv1"]\n')
    one_line_error(run("check", "--cluster", "prod", "--inventory", str(inv)), "unknown cluster 'prod'")


def test_malformed_inventory(tmp_path):
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.lab\nhosts = ["hv1"]\n')
    one_line_error(run("check", "--cluster", "lab", "--inventory", str(inv)), "malformed TOML")


def test_unknown_key_names_file_and_line(tmp_path):
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.lab]\nhosts = ["hv1"]\nknownhosts = "/x"\n')
    one_line_error(run("check", "--cluster", "lab", "--inventory", str(inv)), f"{inv}:3")


def test_unknown_check_in_only():
    one_line_error(run("check", "--only", "nosuch.check"), "no check or category 'nosuch.check'")


def test_explain_unknown_check():
    one_line_error(run("explain", "nosuch"), "no check 'nosuch'")


def test_bad_recording(tmp_path):
    bad = tmp_path / "rec.json"
    bad.write_text('{"hello": 1}')
    one_line_error(run("check", "--replay", str(bad)), "not a preflight facts recording")


def test_unwritable_report_path(tmp_path):
    proc = run("check", "--cluster", "demo", "--html", str(tmp_path / "no" / "such" / "dir.html"))
    one_line_error(proc, "cannot write")
