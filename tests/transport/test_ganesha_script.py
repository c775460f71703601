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
