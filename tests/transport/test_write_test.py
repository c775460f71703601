"""--write-test: never without the flag; with it, a create-and-delete as QEMU's user that always cleans up.

The default-run test inspects every script gather_host sends; the flag's tests run the real
script over the loopback sshd (tests/transport/conftest.py) and locally with a stand-in runuser."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from types import SimpleNamespace as NS

import pytest

from preflight.facts.gather import gather_host
from preflight.facts.storage_access import parse_write_test_output
from preflight.facts.write_test import TEST_FILE_PREFIX, WRITE_TEST_SCRIPT, run_write_tests, write_test_plan

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures")
WRITE_WORDS = ("runuser", "sudo", "setpriv", "preflight-write-test", "set -C", "touch", " tee ", " dd ")


class RecordingConn:
    """run_script() like Connection, executed locally, every script kept for inspection."""

    name, address = "hv1", "127.0.0.1"

    def __init__(self):
        self.round_trips, self.scripts = 0, []

    def run_script(self, script, timeout=None):
        self.round_trips += 1
        self.scripts.append(script)
        p = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, timeout=120)
        return NS(rc=p.returncode, stdout_bytes=p.stdout, stderr=p.stderr.decode())


class FakeDomain:
    def __init__(self, xml):
        self._x = xml

    def name(self):
        return "vm1"

    def UUIDString(self):
        return "5f0c9a52-0000-0000-0000-000000000001"

    def state(self, flags):
        return [1, 1]

    def isActive(self):
        return 1

    def isPersistent(self):
        return 1

    def XMLDesc(self, flags):
        return self._x


class FakeBridge:
    def __init__(self, conn, call_timeout=None):
        caps = open(os.path.join(FIX, "libvirt", "capabilities.virsh9-test-driver.xml")).read()
        dom = FakeDomain(f"<domain type='kvm'><name>vm1</name><devices><disk type='file'><driver type='raw'/>"
                         f"<source file='{conn.image}'/><target dev='vda'/></disk></devices></domain>")
        self.calls = 0
        self.conn = NS(getLibVersion=lambda: 9000000, getVersion=lambda: 7002000, getHostname=lambda: "hv1",
                       getCapabilities=lambda: caps, getDomainCapabilities=lambda *a: "<domainCapabilities/>",
                       listAllDomains=lambda f: [dom], listAllNetworks=lambda f: [],
                       listAllStoragePools=lambda f: [], listAllSecrets=lambda f: [])

    def open(self):
        pass

    def call(self, what, fn, *args):
        self.calls += 1
        return fn(*args)

    def close(self):
        pass


def test_default_run_issues_no_write_command(tmp_path):
    pytest.importorskip("libvirt")
    image = tmp_path / "vm1.raw"
    image.write_bytes(b"\0" * 1024)
    before = sorted(os.listdir(tmp_path))
    conn = RecordingConn()
    conn.image = str(image)
    entry = gather_host(conn, bridge_factory=FakeBridge)
    assert conn.round_trips == 2 and len(conn.scripts) == 2          # (libvirt is a fake here: no exec)
    assert entry["image_access"]["stats"] and "chains" in entry
    for script in conn.scripts:
        commands = [ln for ln in script.splitlines() if ln.startswith("pf_run ")]
        assert commands
        for word in WRITE_WORDS:
            assert word not in script, (word, script[:300])
        for ln in commands:                     # each fact's argv: only readers (stat, id, qemu-img info, ...)
            assert " > " not in ln and ">>" not in ln.replace("2>/dev/null", "")
    assert sorted(os.listdir(tmp_path)) == before                 # nothing created next to the image


@pytest.fixture
def searchable_dir():
    """A directory every user can reach (pytest's tmp_path is under a 0700 directory)."""
    import shutil
    import tempfile
    from pathlib import Path
    d = tempfile.mkdtemp(prefix="pft-wt-")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d)


def _plan_hosts(shared_dir, user):
    mi = (f"1 0 0:1 / / rw - ext4 /dev/vda1 rw\n"
          f"2 1 0:2 / {shared_dir} rw,relatime - nfs4 nas:/vol0 rw,vers=4.2\n")
    xml = (f"<domain><devices><disk type='file'><source file='{shared_dir}/vm1.qcow2'/><target dev='vda'/>"
           "</disk></devices></domain>")
    return {"src": {"reachable": True, "libvirt": {"domains": [{"name": "vm1", "active": True, "xml": xml}]},
                    "shell": {"mountinfo": {"rc": 0, "out": mi, "err": ""}}},
            "dst": {"reachable": True, "libvirt": {"domains": []}, "errors": {}, "round_trips": 3,
                    "shell": {"mountinfo": {"rc": 0, "out": mi, "err": ""}}, "image_access": {"user": user}}}


def test_plan_only_other_hosts_images_on_shared_mounts(tmp_path):
    hosts = _plan_hosts(str(tmp_path), "root")
    assert write_test_plan(hosts) == {"dst": {str(tmp_path): [f"{tmp_path}/vm1.qcow2"]}}


@pytest.mark.parametrize("user,mode,works", [("root", 0o755, True), ("nobody", 0o755, False),
                                             ("nobody", 0o777, True)])
def test_write_test_over_ssh_creates_and_deletes(conn, searchable_dir, user, mode, works):
    shared = searchable_dir / "vmstore"
    shared.mkdir()
    os.chmod(shared, mode)
    (shared / "vm1.qcow2").write_bytes(b"")
    os.chmod(shared / "vm1.qcow2", 0o666 if works else 0o644)
    hosts = _plan_hosts(str(shared), user)
    run_write_tests({"dst": NS(conn=conn)}, hosts, timeout=30)
    dst = hosts["dst"]
    assert dst["round_trips"] == conn.round_trips == 1                 # one extra exec, only with the flag
    wt = parse_write_test_output(str(shared), user, dst["write_test"][str(shared)])
    assert wt.created is works and wt.removed is works
    assert wt.images_writable == {f"{shared}/vm1.qcow2": works}
    if not works:
        assert "Permission denied" in wt.error
    assert os.listdir(shared) == ["vm1.qcow2"]                        # no test file left behind


def _shim(tmp_path, body):
    b = tmp_path / "bin"
    b.mkdir()
    (b / "runuser").write_text("#!/bin/sh\n# runuser -u USER -- CMD...\nshift 3\n" + body + 'exec "$@"\n')
    os.chmod(b / "runuser", 0o755)
    return dict(os.environ, PATH=f"{b}:{os.environ['PATH']}")


def test_cleanup_when_the_users_remove_fails(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    env = _shim(tmp_path, 'case "$1" in rm) echo "rm: simulated failure" >&2; exit 1;; esac\n')
    p = subprocess.run(["sh", "-c", WRITE_TEST_SCRIPT, "x", "nobody", str(d), TEST_FILE_PREFIX + "t1"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert "created" in p.stdout and "error removing as nobody: rm: simulated failure" in p.stdout
    assert "left behind" in p.stdout and os.listdir(d) == []


def test_cleanup_when_interrupted(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    env = _shim(tmp_path, 'case "$1" in rm) sleep 30;; esac\n')
    p = subprocess.Popen(["sh", "-c", WRITE_TEST_SCRIPT, "x", "nobody", str(d), TEST_FILE_PREFIX + "t2"],
                         stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 10
    while not os.listdir(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(d) == [TEST_FILE_PREFIX + "t2"]
    os.killpg(p.pid, signal.SIGTERM)                                  # our own process group, by its id
    out, _ = p.communicate(timeout=30)
    assert os.listdir(d) == [] and "created" in out


def test_flag_is_plumbed_cli_to_collect(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import preflight.engine.pipeline as pipeline
    import preflight.facts.collect as collect_mod
    from preflight.cli import app
    seen = {}

    def fake_collect(cluster, opts, progress=None):
        seen["write_test"] = opts.write_test
        return {"format": "preflight-facts/1", "cluster": "lab", "hosts": {}, "pairs": []}
    monkeypatch.setattr(collect_mod, "collect", fake_collect)
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.lab]\nhosts = ["hv1"]\n')
    for args, want in (([], False), (["--write-test"], True)):
        CliRunner().invoke(app, ["check", "--cluster", "lab", "--inventory", str(inv), "--quiet", *args])
        assert seen.pop("write_test") is want
    assert pipeline.GatherOptions().write_test is False and collect_mod.CollectOptions().write_test is False


SECRET_XML = """<secret ephemeral='no' private='yes'>
  <uuid>6b1c3a52-7a7e-4c11-9a52-5f7470667431</uuid>
  <description>pft test secret</description>
  <usage type='ceph'><name>client.pft secret</name></usage>
</secret>"""


def test_real_libvirt_secret_identity_gathered_value_never(libvirt_lab, conn):
    """A real libvirtd holding a secret with a value: the record has its uuid/usage, never the value."""
    import json

    from preflight.transport.libvirt_bridge import LibvirtBridge
    from preflight.transport.ssh import HostTarget, SshContext
    value = b"pftSecretValueAQB1234=="
    with SshContext(libvirt_lab.settings()) as ctx:
        b = LibvirtBridge(ctx.connect(HostTarget("pft-target")), call_timeout=60).open()
        try:
            sec = b.call("secretDefineXML", b.conn.secretDefineXML, SECRET_XML, 0)
            b.call("secret.setValue", sec.setValue, value, 0)
            entry = gather_host(conn, libvirt_timeout=60)
            b.call("secret.undefine", sec.undefine)
            del sec
        finally:
            b.close()
    found = [s for s in entry["libvirt"]["secrets"] if s["uuid"] == "6b1c3a52-7a7e-4c11-9a52-5f7470667431"]
    assert found == [{"uuid": "6b1c3a52-7a7e-4c11-9a52-5f7470667431", "usage_type": "ceph",
                      "usage_id": "client.pft secret", "ephemeral": False, "private": True}]
    dumped = json.dumps(entry)
    assert value.decode() not in dumped and "pft test secret" not in dumped
    import base64
    assert base64.b64encode(value).decode() not in dumped


def test_write_test_refuses_a_replay():
    from typer.testing import CliRunner

    from preflight.cli import app
    res = CliRunner().invoke(app, ["check", "--write-test", "--quiet"])           # demo = a recording
    assert res.exit_code == 2 and "--write-test acts on live hosts" in res.output


def test_cleanup_on_failure_over_ssh(conn, searchable_dir):
    """Over the loopback sshd: the user's rm fails (a stand-in runuser), the script removes the file."""
    from preflight.facts.gather import build_facts_script, parse_facts_output
    d = searchable_dir / "vmstore"
    d.mkdir()
    env = _shim(searchable_dir, 'case "$1" in rm) echo "rm: simulated failure" >&2; exit 1;; esac\n')
    keys = {"wt_0": ["env", f"PATH={env['PATH']}", "sh", "-c", WRITE_TEST_SCRIPT, "x", "nobody", str(d),
                     TEST_FILE_PREFIX + "t3"]}
    res = conn.run_script(build_facts_script(keys, "PFMtest"), timeout=30)
    got, missing = parse_facts_output(res.stdout_bytes, "PFMtest", keys)
    wt = parse_write_test_output(str(d), "nobody", got["wt_0"])
    assert wt.created and not wt.removed and "simulated failure" in wt.error and "left behind" in wt.error
    assert os.listdir(d) == []
