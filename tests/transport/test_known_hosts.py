"""W1/W2: known_hosts as OpenSSH reads it, a new key stored only after authentication, and
configuration files someone else could write refused.

Under --trust-new-host-keys, a host that OpenSSH knows (global file, a later user file, a
wildcard or hashed entry, a CA) looked new to preflight, and ANY key was accepted and saved for
it; @cert-authority/@revoked lines crashed the run; the key was written before authentication."""

from __future__ import annotations

import base64
import os
import subprocess
import threading

import pytest

from preflight.filesafe import UnsafeFileError, check_private_file
from preflight.inventory import InventoryError, load
from preflight.transport.errors import AuthFailed, ConfigError, HostKeyChanged, HostKeyUnknown
from preflight.transport.known_hosts import KnownHostsSet, hashed_name
from preflight.transport.ssh import HostTarget, SshConfigFile, SshContext


def blob(n: int) -> tuple:
    raw = bytes([n]) * 51
    return "ssh-ed25519", base64.b64encode(raw).decode(), raw


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_W1_patterns_hashed_negated_and_port_forms(tmp_path):
    t, b64, raw = blob(1)
    kh = write(tmp_path / "kh", f"*.example.com,!bad.example.com {t} {b64}\n10.0.0.? {t} {b64}\n"
                                f"{hashed_name('hv9')} {t} {b64}\n[10.1.1.1]:2222 {t} {b64}\n")
    s = KnownHostsSet(files=(kh,), write_to=kh)
    assert s.lookup("hv1.example.com")[t].asbytes() == raw
    assert s.lookup("bad.example.com") == {}
    assert s.lookup("10.0.0.7") and not s.lookup("10.0.0.77")
    assert s.lookup("hv9") and not s.lookup("hv8")
    assert s.lookup("[10.1.1.1]:2222") and not s.lookup("[10.1.1.1]:2223") and not s.lookup("1")


def test_W1_markers_do_not_crash_and_mean_something(tmp_path):
    t, b64, raw = blob(2)
    kh = write(tmp_path / "kh", f"@cert-authority *.corp {t} {b64}\n@revoked * {t} {b64}\n"
                                f"@bogus x {t} {b64}\nnot a line\n{t}\n")
    s = KnownHostsSet(files=(kh,), write_to=kh)
    assert s.lookup("a.corp") == {}                    # a CA is not a host key...
    assert s.has_authority("a.corp") and not s.has_authority("a.other")   # ...but the host is known
    assert s.revoked("anything", type("K", (), {"asbytes": lambda self: raw})())


def test_W1_global_and_every_user_file_are_read(tmp_path):
    t, b64, _ = blob(3)
    first = write(tmp_path / "first", "")
    second = write(tmp_path / "second", f"hv2 {t} {b64}\n")
    glob = write(tmp_path / "global", f"hv3 {t} {b64}\n")
    cfg = write(tmp_path / "ssh_config", f"Host *\n  UserKnownHostsFile {first} {second}\n"
                                         f"  GlobalKnownHostsFile {glob}\n  HashKnownHosts yes\n")
    resolved = SshConfigFile(cfg).resolve("hv2")
    assert resolved.known_hosts_files == (first, second) and resolved.global_known_hosts_files == (glob,)
    ctx = SshContext.__new__(SshContext)
    ctx._known_files, ctx._lock = {}, threading.Lock()
    kh = SshContext.known_hosts_for(ctx, resolved)
    assert kh.lookup("hv2") and kh.lookup("hv3") and kh.write_to == first and kh.hash_names


def test_W1_new_key_stored_only_after_authentication(sshd_lab, tmp_path):
    kh = tmp_path / "known_hosts"
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    settings = sshd_lab.settings(known_hosts=str(kh), trust_new_host_keys=True, identity_files=(str(wrong),),
                                 ssh_config=write(tmp_path / "cfg", "Host pft-target\n  HostName 127.0.0.1\n"
                                                  f"  Port {sshd_lab.port}\n  User root\n  IdentityFile {wrong}\n"))
    with SshContext(settings) as ctx:
        with pytest.raises(AuthFailed):
            ctx.connect(HostTarget("pft-target"))
    assert not kh.exists() or kh.read_text() == "", "a key was trusted for a host that did not let us in"


def test_W1_revoked_and_ca_known_hosts_are_never_trusted(sshd_lab, tmp_path):
    ktype, b64 = sshd_lab.host_pub.split()[:2]
    for line, err in ((f"@revoked * {ktype} {b64}\n", HostKeyChanged),
                      (f"@cert-authority [127.0.0.1]:* {ktype} {b64}\n", HostKeyUnknown)):
        kh = write(tmp_path / "kh", line)
        with SshContext(sshd_lab.settings(known_hosts=kh, trust_new_host_keys=True)) as ctx:
            with pytest.raises(err):
                ctx.connect(HostTarget("pft-target"))
        assert open(kh).read() == line


def test_W2_files_others_can_write_are_refused(tmp_path):
    loose = write(tmp_path / "f", "x", mode=0o666)
    with pytest.raises(UnsafeFileError, match="writable by group or others"):
        check_private_file(loose, "ssh_config")
    os.chmod(loose, 0o644)
    os.chown(loose, 65534, 65534)
    with pytest.raises(UnsafeFileError, match="owned by uid 65534"):
        check_private_file(loose, "inventory")
    with pytest.raises(ConfigError):
        SshConfigFile(loose)
    with pytest.raises(ConfigError):
        KnownHostsSet(files=(loose,), write_to=None)
    inv = write(tmp_path / "preflight.toml", '[clusters.prod]\nhosts = ["a"]\n', mode=0o644)
    os.chown(inv, 65534, 65534)
    with pytest.raises(InventoryError, match="owned by uid 65534"):
        load("prod", inv)
