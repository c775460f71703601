"""SSH transport against a real loopback sshd (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import time

import paramiko
import pytest

from preflight.transport.errors import (AuthFailed, CommandTimeout, ConnectFailed, HostKeyChanged,
                                        HostKeyUnknown, TransportError)
from preflight.transport.ssh import (Connection, HostTarget, ResolvedHost, SshConfigFile, SshContext,
                                     fingerprint_sha256, hostkey_name)


def _fp(pub_path: str) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[1]


HOSTILE = ["a b", "it's", '"dq"', "$(touch /tmp/pft-pwned)", "`touch /tmp/pft-pwned2`", "x\ny",
           "*", ";", "&&", "$HOME", "\\", "-n", "tab\there", "ünïcode", "'", '"', "!"]


def test_hostile_arguments_are_quoted(conn):
    res = conn.run(["printf", "%s\\n"] + HOSTILE)
    assert res.rc == 0, res.stderr
    assert res.stdout == "".join(a + "\n" for a in HOSTILE)
    assert not os.path.exists("/tmp/pft-pwned") and not os.path.exists("/tmp/pft-pwned2")


def test_string_argv_is_refused(conn):
    with pytest.raises(TypeError):
        conn.run("echo hi")


def test_sudo_prefix_for_non_root():
    res = ResolvedHost("h", "127.0.0.1", 22, "ops", (), None, None)
    c = Connection("h", res, transport=None, command_timeout=5)
    assert c.command_line(["cat", "/etc/x y"]) == "sudo -n -- cat '/etc/x y'"
    root = Connection("h", ResolvedHost("h", "127.0.0.1", 22, "root", (), None, None), None, command_timeout=5)
    assert root.command_line(["cat", "/etc/x"]) == "cat /etc/x"


def test_nonzero_rc_and_stderr(conn):
    res = conn.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (res.rc, res.stdout, res.stderr) == (7, "out\n", "err\n")
    assert not res.ok and res.elapsed > 0


def test_large_stdout_and_stderr_at_once(conn):
    # both streams several MB, written concurrently: reading only one would deadlock
    script = ("head -c 4000000 /dev/zero | tr '\\0' o & "
              "head -c 5000000 /dev/zero | tr '\\0' e >&2 & wait")
    t0 = time.monotonic()
    res = conn.run(["sh", "-c", script], timeout=60)
    assert res.rc == 0
    assert len(res.stdout_bytes) == 4_000_000 and set(res.stdout) == {"o"}
    assert len(res.stderr_bytes) == 5_000_000 and set(res.stderr) == {"e"}
    assert time.monotonic() - t0 < 30


def test_stdin_is_delivered(conn):
    data = "line1\n" + "x" * 2_000_000 + "\nend\n"
    res = conn.run(["wc", "-c"], stdin=data)
    assert res.stdout.strip() == str(len(data))


def test_command_timeout_closes_channel_and_connection_survives(conn):
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as ei:
        conn.run(["sleep", "30"], timeout=1)
    assert time.monotonic() - t0 < 5
    msg = str(ei.value)
    assert "pft-target" in msg and "1 s" in msg and "\n" not in msg
    assert conn.run(["true"]).rc == 0


def test_round_trips_counted(ctx):
    c = ctx.connect(HostTarget("pft-target"))
    assert c.round_trips == 0
    c.run(["true"])
    c.run_script("echo a\necho b\n")
    assert c.round_trips == 2


def test_run_script_is_one_exec(conn):
    res = conn.run_script("x=1\necho $((x+1))\necho 'q' >&2\nexit 3\n")
    assert (res.rc, res.stdout, res.stderr) == (3, "2\n", "q\n")


def test_unknown_host_key(sshd_lab, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with SshContext(sshd_lab.settings(known_hosts=str(kh))) as ctx:
        with pytest.raises(HostKeyUnknown) as ei:
            ctx.connect(HostTarget("pft-target"))
    msg = str(ei.value)
    fp = _fp(os.path.join(sshd_lab.dir, "host_ed25519.pub"))
    assert fp in msg and ei.value.fingerprint == fp
    assert "pft-target" in msg and "127.0.0.1" in msg
    assert f"ssh-keyscan -p {sshd_lab.port} 127.0.0.1 >> {kh}" in msg
    assert "--trust-new-host-keys" in msg and "\n" not in msg
    assert kh.read_text() == ""                                  # nothing trusted silently


def test_changed_host_key_is_never_accepted(sshd_lab, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    ktype, b64 = (other.with_suffix(".pub")).read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd_lab.port} {ktype} {b64}\n")
    for trust in (False, True):
        with SshContext(sshd_lab.settings(known_hosts=str(kh), trust_new_host_keys=trust)) as ctx:
            with pytest.raises(HostKeyChanged) as ei:
                ctx.connect(HostTarget("pft-target"))
        msg = str(ei.value)
        assert "CHANGED" in msg and _fp(os.path.join(sshd_lab.dir, "host_ed25519.pub")) in msg
        assert _fp(str(other.with_suffix(".pub"))) in msg            # the old, expected one too
    assert kh.read_text().count("\n") == 1


def test_trust_new_host_keys_adds_the_key(sshd_lab, tmp_path):
    kh = tmp_path / "sub" / "known_hosts"
    with SshContext(sshd_lab.settings(known_hosts=str(kh), trust_new_host_keys=True)) as ctx:
        assert ctx.connect(HostTarget("pft-target")).run(["true"]).rc == 0
    assert kh.read_text() == sshd_lab.known_hosts_line()
    with SshContext(sshd_lab.settings(known_hosts=str(kh))) as ctx:    # strict again: now known
        assert ctx.connect(HostTarget("pft-target")).run(["true"]).rc == 0


def test_proxyjump_through_the_same_sshd(ctx):
    c = ctx.connect(HostTarget("pft-behind"))
    assert c.via is not None and c.via.name == "pft-jump"
    assert c.run(["echo", "through"]).stdout == "through\n"
    c2 = ctx.connect(HostTarget("pft-behind"))
    assert c2.via is c.via                                         # one jump connection, shared
    jump = c.via
    ctx.close()
    assert not c.transport.is_active() and not jump.transport.is_active()


def test_inventory_overrides_win(sshd_lab):
    s = sshd_lab.settings(identity_files=(sshd_lab.client_key,))
    with SshContext(s) as ctx:
        # pft-target's ssh_config says port N; the inventory says port 1 -> it is used
        with pytest.raises(ConnectFailed) as ei:
            ctx.connect(HostTarget("pft-target", port=1))
        assert "127.0.0.1:1" in str(ei.value)
        # a name unknown to ssh_config, everything from the inventory
        c = ctx.connect(HostTarget("pft-inv-only", address="127.0.0.1", port=sshd_lab.port, user="root"))
        assert c.run(["whoami"]).stdout.strip() == "root"


def test_auth_failed(sshd_lab, tmp_path):
    wrong = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    settings = sshd_lab.settings(ssh_config=os.devnull, identity_files=(str(wrong),))
    with SshContext(settings) as ctx:
        with pytest.raises(AuthFailed) as ei:
            ctx.connect(HostTarget("pft-target", address="127.0.0.1", port=sshd_lab.port, user="root"))
    msg = str(ei.value)
    assert "no key accepted" in msg and msg.startswith("pft-target") and "\n" not in msg


def test_connect_refused_is_one_clear_line(sshd_lab):
    with SshContext(sshd_lab.settings()) as ctx:
        with pytest.raises(ConnectFailed) as ei:
            ctx.connect(HostTarget("pft-closed", address="127.0.0.1", port=1))
    assert isinstance(ei.value, TransportError)
    assert str(ei.value).startswith("pft-closed:") and "\n" not in str(ei.value)


def test_parsed_once(sshd_lab, monkeypatch):
    calls = {"cfg": 0}
    orig = paramiko.SSHConfig.from_path

    def counting(path):
        calls["cfg"] += 1
        return orig(path)

    monkeypatch.setattr(paramiko.SSHConfig, "from_path", staticmethod(counting))
    with SshContext(sshd_lab.settings()) as ctx:
        for _ in range(3):
            ctx.connect(HostTarget("pft-target")).run(["true"])
    assert calls["cfg"] == 1


def test_connections_really_close(ctx):
    c = ctx.connect(HostTarget("pft-target"))
    c.run(["true"])
    c.close()
    assert not c.transport.is_active()
    with pytest.raises(TransportError):
        c.run(["true"])


def test_helpers():
    assert hostkey_name("10.0.0.1", 22) == "10.0.0.1"
    assert hostkey_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    cfg = SshConfigFile(os.devnull)
    r = cfg.resolve("hv9", address="10.9.9.9", port=2200, user="ops")
    assert (r.address, r.port, r.user) == ("10.9.9.9", 2200, "ops")
    assert cfg.resolve("hv9").address == "hv9" and cfg.resolve("hv9").port == 22
    key = paramiko.Ed25519Key(data=bytes.fromhex(
        "0000000b7373682d6564323535313900000020" + "11" * 32))
    assert fingerprint_sha256(key).startswith("SHA256:") and not fingerprint_sha256(key).endswith("=")


def test_user_known_hosts_file_from_ssh_config(sshd_lab, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host pft-ukh\n  HostName 127.0.0.1\n  Port {sshd_lab.port}\n  User root\n"
                   f"  IdentityFile {sshd_lab.client_key}\n  UserKnownHostsFile {sshd_lab.known_hosts}\n"
                   "  StrictHostKeyChecking no\n")
    with SshContext(sshd_lab.settings(ssh_config=str(cfg), known_hosts=None)) as ctx:
        assert ctx.connect(HostTarget("pft-ukh")).run(["true"]).rc == 0
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    cfg.write_text(cfg.read_text().replace(sshd_lab.known_hosts, str(empty)))
    with SshContext(sshd_lab.settings(ssh_config=str(cfg), known_hosts=None)) as ctx:
        with pytest.raises(HostKeyUnknown) as ei:        # StrictHostKeyChecking no does not loosen us
            ctx.connect(HostTarget("pft-ukh"))
    assert str(empty) in str(ei.value)


def test_connect_timeout_when_syn_is_dropped(sshd_lab):
    import socket
    full = socket.socket()                      # a full accept queue drops SYNs: like a DROP rule
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    filler = socket.create_connection(full.getsockname())
    port = full.getsockname()[1]
    try:
        with SshContext(sshd_lab.settings(connect_timeout=1)) as ctx:
            t0 = time.monotonic()
            with pytest.raises(TransportError) as ei:
                ctx.connect(HostTarget("pft-dropped", address="127.0.0.1", port=port))
            assert time.monotonic() - t0 < 5
    finally:
        filler.close()
        full.close()
    from preflight.transport.errors import ConnectTimeout
    assert isinstance(ei.value, ConnectTimeout) and "timed out" in str(ei.value)


def test_handshake_timeout_when_no_banner(sshd_lab):
    import socket
    import threading
    silent = socket.socket()                    # accepts, never says anything
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    try:
        with SshContext(sshd_lab.settings(connect_timeout=1)) as ctx:
            t0 = time.monotonic()
            with pytest.raises(ConnectFailed) as ei:
                ctx.connect(HostTarget("pft-silent", address="127.0.0.1", port=silent.getsockname()[1]))
            assert time.monotonic() - t0 < 6
    finally:
        for c, _ in held:
            c.close()
        silent.close()
    assert str(ei.value).startswith("pft-silent:") and "handshake" in str(ei.value)
