"""A real sshd on loopback (and, when available, a throwaway libvirtd) for transport tests.

Everything runs in one private mount namespace (`unshare --mount`, private propagation):
 - Debian's default dot.bashrc/dot.profile are bind-mounted over /root/.bashrc and
   /root/.profile, so this machine's pyenv init does not add ~0.3 s to every exec;
 - private copies are bind-mounted over /run/libvirt /var/lib/libvirt /etc/libvirt
   /var/cache/libvirt /var/log/libvirt, and a libvirtd started there (qemu.conf as in the lab
   cookbook, no autostarted networks), reached by the bridge through this sshd.
The namespace dies with its processes; both are stopped by PID. Names are prefixed `pft`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

SSHD = "/usr/sbin/sshd"
LIBVIRTD = "/usr/sbin/libvirtd"

QEMU_CONF = """user = "root"
group = "root"
security_driver = "none"
namespaces = [ ]
stdio_handler = "file"
cgroup_controllers = [ ]
vnc_password = "pft-not-a-real-password"
migration_port_min = 49152
"""

SETUP = r"""
set -e
T="$1"
mount --bind /usr/share/base-files/dot.bashrc /root/.bashrc 2>/dev/null || true
mount --bind /usr/share/base-files/dot.profile /root/.profile 2>/dev/null || true
mkdir -p /run/sshd
if [ -n "$PFT_LIBVIRT" ]; then
  for d in run:/run/libvirt lib:/var/lib/libvirt etc:/etc/libvirt cache:/var/cache/libvirt log:/var/log/libvirt; do
    src="$T/libvirt-${d%%:*}"; dst="${d#*:}"
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
  done
  /usr/sbin/libvirtd --daemon --pid-file "$T/libvirtd.pid" || echo "pft: libvirtd failed to start" >&2
fi
exec /usr/sbin/sshd -D -e -f "$T/sshd_config"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pft", "-f", path],
                   check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub") as fh:
        return fh.read().strip()


@dataclass
class SshdLab:
    dir: str
    port: int
    host_pub: str              # "ssh-ed25519 AAAA... pft"
    client_key: str
    known_hosts: str           # has the sshd's key for [127.0.0.1]:port
    ssh_config: str            # Host pft-target, pft-jump, pft-behind (ProxyJump pft-jump)
    pid: int
    libvirtd_pid: int = 0
    libvirt_error: str = ""

    def settings(self, **kw):
        from preflight.transport.ssh import SshSettings
        kw.setdefault("ssh_config", self.ssh_config)
        kw.setdefault("known_hosts", self.known_hosts)
        kw.setdefault("use_agent", False)
        kw.setdefault("connect_timeout", 10)
        kw.setdefault("command_timeout", 30)
        return SshSettings(**kw)

    def known_hosts_line(self) -> str:
        ktype, b64 = self.host_pub.split()[:2]
        return f"[127.0.0.1]:{self.port} {ktype} {b64}\n"


def _prepare_libvirt(d: str) -> None:
    for sub in ("run", "lib", "cache", "log"):
        os.makedirs(os.path.join(d, f"libvirt-{sub}"), exist_ok=True)
    etc = os.path.join(d, "libvirt-etc")
    shutil.copytree("/etc/libvirt", etc, symlinks=True)
    autostart = os.path.join(etc, "qemu", "networks", "autostart")
    if os.path.isdir(autostart):
        shutil.rmtree(autostart)
    with open(os.path.join(etc, "qemu.conf"), "w") as fh:
        fh.write(QEMU_CONF)
    with open(os.path.join(etc, "libvirtd.conf"), "a") as fh:
        fh.write('\nhost_uuid = "8f0c1a52-7a7e-4c11-9a52-5f7470667431"\n'
                 'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')


@pytest.fixture(scope="session")
def sshd_lab():
    if os.geteuid() != 0 or not os.path.exists(SSHD) or not shutil.which("unshare"):
        pytest.skip("needs root, openssh-server and unshare")
    d = tempfile.mkdtemp(prefix="pft-sshd-")
    os.chmod(d, 0o755)
    port = _free_port()
    host_pub = _keygen(os.path.join(d, "host_ed25519"))
    client_pub = _keygen(os.path.join(d, "client_ed25519"))
    with open(os.path.join(d, "authorized_keys"), "w") as fh:
        fh.write(client_pub + "\n")
    with open(os.path.join(d, "sshd_config"), "w") as fh:
        fh.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
MaxSessions 30
MaxStartups 30:30:100
LogLevel ERROR
""")
    lab = SshdLab(dir=d, port=port, host_pub=host_pub, client_key=os.path.join(d, "client_ed25519"),
                  known_hosts=os.path.join(d, "known_hosts"), ssh_config=os.path.join(d, "ssh_config"),
                  pid=0)
    with open(lab.known_hosts, "w") as fh:
        fh.write(lab.known_hosts_line())
    with open(lab.ssh_config, "w") as fh:
        for alias, extra in (("pft-target", ""), ("pft-jump", ""), ("pft-behind", "  ProxyJump pft-jump\n")):
            fh.write(f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                     f"  IdentityFile {lab.client_key}\n{extra}")
    env = dict(os.environ)
    want_libvirt = os.path.exists(LIBVIRTD) and os.environ.get("PFT_NO_LIBVIRTD") != "1"
    if want_libvirt:
        try:
            _prepare_libvirt(d)
            env["PFT_LIBVIRT"] = "1"
        except OSError as exc:
            lab.libvirt_error = f"cannot prepare libvirt dirs: {exc}"
    else:
        lab.libvirt_error = "libvirtd not installed"
    log = open(os.path.join(d, "sshd.log"), "w")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP, "pft", d],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    lab.pid = proc.pid
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {open(os.path.join(d, 'sshd.log')).read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("sshd did not listen within 15 s")
        if env.get("PFT_LIBVIRT"):
            pidfile = os.path.join(d, "libvirtd.pid")
            sock = os.path.join(d, "libvirt-run", "libvirt-sock")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (os.path.exists(pidfile) and os.path.exists(sock)):
                time.sleep(0.1)
            if os.path.exists(pidfile):
                try:
                    lab.libvirtd_pid = int(open(pidfile).read().strip())
                except ValueError:
                    pass
            if not os.path.exists(sock):
                lab.libvirt_error = "libvirtd did not create its socket; see " + os.path.join(d, "sshd.log")
        yield lab
    finally:
        for pid in (lab.libvirtd_pid, proc.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if lab.libvirtd_pid:
            for _ in range(100):
                try:
                    os.kill(lab.libvirtd_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(lab.libvirtd_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        log.close()
        if os.environ.get("PFT_KEEP") != "1":
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ctx(sshd_lab):
    from preflight.transport.ssh import SshContext
    c = SshContext(sshd_lab.settings())
    yield c
    c.close()


@pytest.fixture
def conn(ctx):
    from preflight.transport.ssh import HostTarget
    return ctx.connect(HostTarget("pft-target"))


DOMAIN_XML = """<domain type='{virt}'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='forbid'>{model}</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <graphics type='vnc' port='-1' passwd='pftSecr1'/>
  </devices>
</domain>"""


@pytest.fixture(scope="session")
def libvirt_lab(sshd_lab):
    pytest.importorskip("libvirt")
    if sshd_lab.libvirt_error:
        pytest.skip(f"throwaway libvirtd unavailable: {sshd_lab.libvirt_error}")
    return sshd_lab


@pytest.fixture(scope="session")
def defined_domains(libvirt_lab):
    """Persistent (never started) domains in the throwaway libvirtd: pft-vm1 and pft-vm2 with
    a CPU model this host runs (kvm64 when usable), and pft-vm3 with one its domain capabilities mark unusable
    (when there is one). Returns {"compatible": [...], "incompatible": name or None}."""
    import re as _re
    from preflight.transport.libvirt_bridge import LibvirtBridge
    from preflight.transport.ssh import HostTarget, SshContext
    if not os.path.exists("/usr/bin/qemu-system-x86_64"):
        pytest.skip("qemu-system-x86 is not installed")
    virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "qemu"
    with SshContext(libvirt_lab.settings()) as ctx:
        b = LibvirtBridge(ctx.connect(HostTarget("pft-target")), call_timeout=60).open()
        try:
            domcaps = b.call("getDomainCapabilities", b.conn.getDomainCapabilities, None, "x86_64", None, virt, 0)
            usable = _re.findall(r"<model usable='yes'[^>]*>([^<]+)</model>", domcaps)
            unusable = _re.findall(r"<model usable='no'[^>]*>([^<]+)</model>", domcaps)
            good = "kvm64" if "kvm64" in usable else (usable[0] if usable else "qemu64")
            todo = [("pft-vm1", good), ("pft-vm2", good)]
            if unusable:
                todo.append(("pft-vm3", unusable[-1]))
            for name, model in todo:
                dom = b.call("defineXML", b.conn.defineXML, DOMAIN_XML.format(virt=virt, name=name, model=model))
                del dom
        finally:
            b.close()
    return {"compatible": ["pft-vm1", "pft-vm2"], "incompatible": "pft-vm3" if unusable else None}


RUNNING_XML = """<domain type='{virt}'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <memballoon model='none'/>
  </devices>
</domain>"""


@pytest.fixture(scope="session")
def running_domains(defined_domains, libvirt_lab):
    """Two RUNNING transient guests (pft-run1, pft-run2) in the throwaway libvirtd, both with
    issue 6's CPU: <cpu mode='custom' match='exact' check='none'><model>qemu64</model>.
    Where KVM lacks some of qemu64's features (pni and svm on the lab machine) libvirt starts
    them with those disabled: the live XML says so, the migratable one shows qemu64 as configured.
    Destroyed (by name, in that libvirtd) at the end of the session."""
    from preflight.transport.libvirt_bridge import LibvirtBridge
    from preflight.transport.ssh import HostTarget, SshContext
    virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "qemu"
    names = ["pft-run1", "pft-run2"]
    with SshContext(libvirt_lab.settings()) as ctx:
        b = LibvirtBridge(ctx.connect(HostTarget("pft-target")), call_timeout=60).open()
        try:
            for name in names:
                try:
                    dom = b.call("createXML", b.conn.createXML, RUNNING_XML.format(virt=virt, name=name), 0)
                except Exception as exc:                      # noqa: BLE001 - say why, then skip
                    pytest.skip(f"cannot start a guest in the throwaway libvirtd: {exc}")
                del dom
        finally:
            b.close()
    yield names
    with SshContext(libvirt_lab.settings()) as ctx:
        b = LibvirtBridge(ctx.connect(HostTarget("pft-target")), call_timeout=60).open()
        try:
            for name in names:
                try:
                    dom = b.call("lookupByName", b.conn.lookupByName, name)
                    b.call("destroy", dom.destroy)
                    del dom
                except Exception:                             # noqa: BLE001 - already gone
                    pass
        finally:
            b.close()
