"""The storage host's ganesha snippet run for real under sh (root: it reads /proc as root does).

Security review V3: any user could start a process NAMED ganesha.nfsd with `-f` naming any file,
and root then `cat`ed that file (and its %includes, /dev/zero included) into the record."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from preflight.facts.storage_hosts import GANESHA_SCRIPT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (reads /proc of other users)")

SECRET = "root:$6$FAKEHASHzqx$abcdefghijklmnop:19000:0:99999:7:::"


def run_script(*args) -> str:
    p = subprocess.run(["sh", "-c", GANESHA_SCRIPT, "sh", *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_a_process_merely_named_ganesha_is_not_trusted(tmp_path):
    shadow = tmp_path / "fake-shadow"
    shadow.write_text(SECRET + "\n")
    spoofers = [
        # an unprivileged user's process
        subprocess.Popen(["runuser", "-u", "nobody", "--", "bash", "-c",
                          f'exec -a /usr/sbin/ganesha.nfsd sh -c "sleep 20; :" -f {shadow}']),
        # root's, but not the ganesha binary
        subprocess.Popen(["bash", "-c", f'exec -a /usr/sbin/ganesha.nfsd sh -c "sleep 20; :" -f {shadow}']),
    ]
    try:
        time.sleep(0.5)
        out = run_script(str(tmp_path / "none.conf"))
    finally:
        for p in spoofers:
            p.kill()
            p.wait()
    assert "# preflight-ganesha-running: no" in out
    assert "FAKEHASH" not in out and str(shadow) not in out


def test_includes_are_read_only_from_root_owned_regular_files_and_bounded(tmp_path):
    tenant = tmp_path / "tenant.conf"
    tenant.write_text("EXPORT { Path = /everything; Access_Type = RW; }\n")
    os.chown(tenant, 65534, 65534)
    big = tmp_path / "big.conf"
    big.write_text("# " + "x" * (3 << 20) + "\n")
    conf = tmp_path / "ganesha.conf"
    conf.write_text(f'%include "/dev/zero"\n%include "{tenant}"\n%include "{big}"\nNFS_CORE_PARAM {{ }}\n')
    t0 = time.monotonic()
    out = run_script(str(conf))
    assert time.monotonic() - t0 < 10
    assert "# preflight-skipped: /dev/zero" in out and f"# preflight-skipped: {tenant}" in out
    assert "/everything" not in out
    assert f"# preflight-file: {big}" in out and len(out) < (1 << 20) + 10_000


def test_V3_a_copied_binary_named_ganesha_is_not_trusted(tmp_path):
    """A user's own copy of any program, named ganesha.nfsd (so /proc/PID/exe ends in it)."""
    shadow = tmp_path / "fake-shadow"
    shadow.write_text(SECRET + "\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.chmod(tmp_path, 0o755)
    fake = bindir / "ganesha.nfsd"
    fake.write_bytes(open("/bin/sleep", "rb").read())
    os.chmod(fake, 0o755)
    os.chown(fake, 65534, 65534)
    spoofer = subprocess.Popen(["runuser", "-u", "nobody", "--", str(fake), "20", "-f", str(shadow)])
    rooted = subprocess.Popen([str(fake), "20", "-f", str(shadow)])      # root runs a user-owned binary
    try:
        time.sleep(0.5)
        out = run_script(str(tmp_path / "none.conf"))
    finally:
        for p in (spoofer, rooted):
            p.kill()
            p.wait()
    assert "# preflight-ganesha-running: no" in out and "FAKEHASH" not in out


def test_V3_parse_errors_never_echo_file_content():
    """The first token of an unparsable root-read file reached the fact error and every report."""
    from preflight.facts.ganesha import GaneshaError, parse_ganesha
    for text in (SECRET + "\n", 'EXPORT { Path = "/x" = ' + SECRET + '; }', "EXPORT { Squash = " + SECRET + "; }"):
        try:
            parse_ganesha(text)
        except (GaneshaError, ValueError) as exc:
            assert "FAKEHASH" not in str(exc) and "root:" not in str(exc), str(exc)


def test_W7_a_process_merely_named_corosync_is_no_cluster_stack():
    from preflight.facts.raw import CLUSTER_STACK_SCRIPT
    name_it = "import ctypes, time; ctypes.CDLL(None).prctl(15, b'corosync'); time.sleep(20)"   # PR_SET_NAME
    spoof = subprocess.Popen(["runuser", "-u", "nobody", "--", "python3", "-c", name_it])
    try:
        time.sleep(0.8)
        named = [p for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/comm")
                 and open(f"/proc/{p}/comm").read().strip() == "corosync" and os.stat(f"/proc/{p}").st_uid == 65534]
        assert named, "the spoofing process did not start"
        out = subprocess.run(["sh", "-c", CLUSTER_STACK_SCRIPT], capture_output=True, text=True, timeout=30).stdout
    finally:
        spoof.kill()
        spoof.wait()
    assert "proc corosync" not in out
