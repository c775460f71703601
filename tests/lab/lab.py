"""The lab: real libvirtd + QEMU/KVM hypervisors in network namespaces on this machine.

The lab is the oracle the checks are judged against: a verdict is right when it agrees with
what a real ``virsh migrate --live`` does between these hosts.

Topology (defaults; every name sits behind PREFLIGHT_LAB_PREFIX, default ``pfl``)::

    root ns: bridge pfl-br0 10.251.7.1/24
      +-- veth pfl-v-hv1 -- netns pfl-hv1 (eth0 10.251.7.11, br0, br-app; sshd, libvirtd)
      +-- veth pfl-v-hv2 -- netns pfl-hv2 (eth0 10.251.7.12, br0, br-app; sshd, libvirtd)
      +-- veth pfl-v-hv3 -- netns pfl-hv3 (eth0 10.251.7.13, br0, br-app; sshd, libvirtd)
      +-- veth pfl-v-nas -- netns pfl-nas (eth0 10.251.7.20; sshd, glusterd, ganesha+rpcbind, tgtd)

Each host's daemons are started by one boot script run through ``ip netns exec NS unshare --uts``,
so they share that host's mount namespace (own /run, own libvirt dirs, own /root/.ssh) and
its UTS hostname.  Everything later is done through the host's own sshd, like an operator would.

Usage (from the repository root)::

    python -m tests.lab.lab up|down|status|oracle|apply SCENARIO|revert SCENARIO
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

PREFIX = os.environ.get("PREFLIGHT_LAB_PREFIX", "pfl")
SUBNET = os.environ.get("PREFLIGHT_LAB_SUBNET", "10.251.7")
LAB_DIR = Path(os.environ.get("PREFLIGHT_LAB_DIR", "/tmp/preflight-lab"))

HYPERVISORS = ("hv1", "hv2", "hv3")
STORAGE = "nas"
HOSTS = HYPERVISORS + (STORAGE,)
HOST_OCTET = {"hv1": 11, "hv2": 12, "hv3": 13, "nas": 20}

GLUSTER_MOUNT = "/srv/vmstore"
GUEST_BRIDGES = ("br0", "br-app")   # br-app exists so bridge_missing can remove it on one host
LOCAL_IMAGES = "/var/lib/libvirt/images"
IMAGE_SIZE = "64M"
MNT_PORT = 20048      # ganesha's mountd, pinned (NFS_CORE_PARAM MNT_Port)
SSH_TIMEOUT = 60
MIGRATE_TIMEOUT = 90
RETURN_PORT = 49300   # outside 49152-49215, so a firewalled home can still take its guest back
MARKER = ".preflight-lab"   # down() only deletes a state dir that carries this file

# Per-host directories that get a private copy bind-mounted over the system one.
HV_PRIVATE_DIRS = ("etc/libvirt", "var/lib/libvirt", "var/log/libvirt", "var/cache/libvirt",
                   "var/log/glusterfs", "srv")
NAS_PRIVATE_DIRS = ("var/lib/glusterd", "var/log/glusterfs", "var/lib/nfs", "var/log/ganesha")


def check_settings() -> None:
    """Interface names are limited to 15 characters ("PREFIX-v-nas"), and the subnet must be
    three octets of a private /24 that only the lab uses."""
    if not (1 <= len(PREFIX) <= 9 and PREFIX.replace("-", "").isalnum()):
        raise LabError(f"PREFLIGHT_LAB_PREFIX={PREFIX!r}: use 1-9 letters/digits")
    octets = SUBNET.split(".")
    if len(octets) != 3 or not all(o.isdigit() and 0 <= int(o) <= 255 for o in octets):
        raise LabError(f"PREFLIGHT_LAB_SUBNET={SUBNET!r}: expected three octets like 10.251.7")


def ns_name(host: str) -> str:
    return f"{PREFIX}-{host}"


def address(host: str) -> str:
    return f"{SUBNET}.{HOST_OCTET[host]}"


def bridge_name() -> str:
    return f"{PREFIX}-br0"


def iqn() -> str:
    return f"iqn.2026-11.lab.{PREFIX}:vmstore"


def stable_uuid(*parts: str) -> uuid.UUID:
    """Deterministic per-lab UUIDs: reruns give the same identities, distinct per host."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "preflight-lab:" + ":".join((PREFIX,) + parts))


# ---------------------------------------------------------------------------------------------
# Data about the lab


@dataclass
class Guest:
    name: str
    home: str            # the hypervisor it runs on in the clean lab
    disk: str            # "gluster" | "nfs" | "iscsi" | "local" | "none"
    bridges: tuple = ("br0",)
    invtsc: bool = False
    cache: str = "none"  # the disk's <driver cache>
    cdrom: str = ""      # a read-only ISO at this path on `home`, attached as an IDE cdrom
    cpu: str = "qemu64"  # "qemu64" | "host-model" | "host-passthrough": see cpu_xml()
    machine: str = "pc"  # <os><type machine=...>: libvirt expands it (pc -> pc-i440fx-7.2)
    mtu: int = 0         # <mtu size=...> on every NIC (0: none, the tap takes the bridge's MTU)


# Every hypervisor runs both CPUs of issue 6: qemu64 with check='none' (libvirt starts it with
# the features KVM here lacks disabled) and host-model (expanded when the guest starts). The two
# disk-less guests exist for that: hv2 and hv3 have one shared-storage guest each.
GUESTS = (
    Guest("vm-gluster", "hv1", "gluster", bridges=("br0", "br-app")),
    Guest("vm-local", "hv1", "local", cpu="host-model"),
    Guest("vm-nfs", "hv2", "nfs"),
    Guest("vm-hostmodel", "hv2", "none", cpu="host-model"),
    Guest("vm-iscsi", "hv3", "iscsi", cpu="host-model"),
    Guest("vm-qemu64", "hv3", "none"),
)
INVTSC_GUEST = Guest("vm-invtsc", "hv3", "none", invtsc=True)
# Extra guests that exist only while their scenario is applied (like vm-invtsc).
# vm-overlay: qcow2 overlay on the gluster mount whose backing file is in hv1's private
# /var/lib/libvirt/images (a bind mount only hv1's namespace has: absent on hv2/hv3).
OVERLAY_GUEST = Guest("vm-overlay", "hv1", "overlay_local")
# vm-cdrom: gluster disk plus a read-only cdrom ISO that exists only in hv1's private images dir.
CDROM_GUEST = Guest("vm-cdrom", "hv1", "gluster", cdrom=f"{LOCAL_IMAGES}/vm-cdrom.iso")
# vm-writeback: gluster disk with cache='writeback' (safe only with migration-file-drop-cache).
WRITEBACK_GUEST = Guest("vm-writeback", "hv1", "gluster", cache="writeback")
# vm-pool: a volume disk of the dir pool POOL_NAME (target /srv/vmstore), defined on POOL_HOSTS only.
POOL_NAME = "vmstore"
POOL_HOSTS = ("hv1", "hv2")
POOL_GUEST = Guest("vm-pool", "hv1", "pool")


@dataclass
class LabInfo:
    prefix: str
    subnet: str
    lab_dir: str
    ssh_config: str
    known_hosts: str
    identity: str
    inventory: str
    lab_json: str
    hosts: dict                    # short name -> address
    hypervisors: list
    storage_hosts: list
    guests: dict                   # guest name -> home hypervisor
    domain_type: str               # "kvm" or "qemu" (TCG fallback)
    nfs_export: str
    iscsi_iqn: str
    timings: dict = field(default_factory=dict)


def lab_info(domain_type: str | None = None, timings: dict | None = None) -> LabInfo:
    return LabInfo(
        prefix=PREFIX, subnet=SUBNET, lab_dir=str(LAB_DIR),
        ssh_config=str(LAB_DIR / "ssh_config"), known_hosts=str(LAB_DIR / "known_hosts"),
        identity=str(LAB_DIR / "id_ed25519"), inventory=str(LAB_DIR / "inventory.toml"),
        lab_json=str(LAB_DIR / "lab.json"),
        hosts={h: address(h) for h in HOSTS}, hypervisors=list(HYPERVISORS),
        storage_hosts=[STORAGE], guests={g.name: g.home for g in GUESTS},
        domain_type=domain_type or kvm_domain_type(),
        nfs_export=str(LAB_DIR / "nas" / "export"), iscsi_iqn=iqn(), timings=timings or {},
    )


# ---------------------------------------------------------------------------------------------
# Small process helpers


class LabError(RuntimeError):
    pass


class ScenarioUnavailable(LabError):
    """The scenario cannot exist on this machine (e.g. invtsc under TCG)."""


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, timeout=120, input=None) -> subprocess.CompletedProcess:
    """Run a local command (list or shell string), capturing output."""
    shell = isinstance(cmd, str)
    p = subprocess.run(cmd, shell=shell, input=input, text=True, capture_output=True,
                       timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise LabError(f"command failed ({p.returncode}): {cmd}\n{p.stdout}{p.stderr}")
    return p


def ssh(host: str, command: str, check=True, timeout=SSH_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a shell command on a lab host through that host's own sshd."""
    cmd = ["ssh", "-F", str(LAB_DIR / "ssh_config"), "-o", "BatchMode=yes",
           "-o", "ConnectTimeout=10", host, command]
    try:
        p = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{host}: timed out after {timeout}s: {command}") from e
    if check and p.returncode != 0:
        raise LabError(f"{host}: failed ({p.returncode}): {command}\n{p.stdout}{p.stderr}")
    return p


def netns_exec(host: str, command: str, check=True) -> subprocess.CompletedProcess:
    """Network-only operations (links, nftables) need no ssh: enter the netns directly."""
    return run(["ip", "netns", "exec", ns_name(host), "sh", "-c", command], check=check)


def wait_for(what: str, predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - we retry until the deadline, then report it
            last_exc = exc
        time.sleep(interval)
    raise LabError(f"timed out after {timeout}s waiting for {what}: {last_exc}")


def tcp_open(addr: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((addr, port)) == 0


def kvm_domain_type() -> str:
    """'kvm' when /dev/kvm can be opened read-write, else TCG ('qemu').
    PREFLIGHT_LAB_TCG=1 forces TCG (to test the fallback on a KVM machine)."""
    if os.environ.get("PREFLIGHT_LAB_TCG") == "1":
        return "qemu"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
        return "kvm"
    except OSError:
        return "qemu"


@contextlib.contextmanager
def exclusive_use(wait_s: float = 1800):
    """Hold the lab (this prefix) for a whole test session: a second pytest session on the same
    machine waits here instead of tearing down the lab under the first one's feet."""
    lock_path = LAB_DIR.parent / f".{LAB_DIR.name}.lock"
    with open(lock_path, "w") as f:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"the lab is held by another session ({lock_path})") from None
                time.sleep(1)
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Tear-down (also the first step of bring-up)


def lab_namespaces() -> list:
    out = run(["ip", "netns", "list"], check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX + "-")]


def namespace_pids(ns: str) -> list:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace_processes(namespaces: list) -> None:
    """SIGTERM everything living in our namespaces, then SIGKILL survivors (ganesha, tgtd ignore
    SIGTERM).  Only PIDs that `ip netns pids` reports for our own namespaces are touched."""
    def signal_all(sig):
        hit = False
        for ns in namespaces:
            for pid in namespace_pids(ns):
                try:
                    os.kill(pid, sig)
                    hit = True
                except ProcessLookupError:
                    pass
        return hit

    if not signal_all(signal.SIGTERM):
        return
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(namespace_pids(ns) for ns in namespaces):
        time.sleep(0.2)
    for _ in range(20):
        if not signal_all(signal.SIGKILL):
            return
        time.sleep(0.25)
    left = {ns: namespace_pids(ns) for ns in namespaces}
    log(f"warning: processes survive SIGKILL (D state?): {left}")


def unmount_under(path: Path) -> None:
    """Lazily unmount anything the root namespace still has mounted under the state dir."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for mp in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run(["umount", "-l", mp], check=False)


def down(remove_state: bool = True) -> None:
    """Tear the lab down.  Safe to run twice and on a half-built lab."""
    t0 = time.monotonic()
    namespaces = lab_namespaces()
    kill_namespace_processes(namespaces)
    for ns in namespaces:
        run(["ip", "netns", "del", ns], check=False)
    for host in HOSTS:   # veths normally die with their namespace; be sure
        if Path(f"/sys/class/net/{PREFIX}-v-{host}").exists():
            run(["ip", "link", "del", f"{PREFIX}-v-{host}"], check=False)
    if Path(f"/sys/class/net/{bridge_name()}").exists():
        run(["ip", "link", "del", bridge_name()], check=False)
    netns_etc = Path("/etc/netns")
    if netns_etc.is_dir():
        for d in netns_etc.glob(f"{PREFIX}-*"):
            shutil.rmtree(d, ignore_errors=True)
        with contextlib.suppress(OSError):   # only if nobody else keeps files there
            netns_etc.rmdir()
    unmount_under(LAB_DIR)
    if remove_state and (LAB_DIR / MARKER).exists():   # never rmtree a directory we did not make
        shutil.rmtree(LAB_DIR, ignore_errors=True)
    log(f"down in {time.monotonic() - t0:.1f}s")


# ---------------------------------------------------------------------------------------------
# Bring-up: files


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def keygen(path: Path, comment: str) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def write_ssh_material() -> None:
    """Lab client key, host keys, known_hosts and ssh_config, for outside and inside the lab."""
    keygen(LAB_DIR / "id_ed25519", f"{PREFIX}-lab")
    known = []
    for host in HOSTS:
        key = LAB_DIR / host / "ssh_host_ed25519_key"
        key.parent.mkdir(parents=True, exist_ok=True)
        keygen(key, f"{host}@{PREFIX}-lab")
        pub = key.with_suffix(".pub").read_text().split()
        known.append(f"{host},{address(host)} {pub[0]} {pub[1]}")
    write(LAB_DIR / "known_hosts", "\n".join(known) + "\n")

    def host_block(host, hostname, identity, known_hosts):
        return (f"Host {host}\n  HostName {hostname}\n  User root\n  IdentityFile {identity}\n"
                f"  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n"
                f"  StrictHostKeyChecking yes\n")

    write(LAB_DIR / "ssh_config", "\n".join(
        host_block(h, address(h), LAB_DIR / "id_ed25519", LAB_DIR / "known_hosts")
        for h in HOSTS))

    # root's ~/.ssh inside every lab host (bind-mounted there; the real /root/.ssh is untouched).
    root_ssh = LAB_DIR / "root-ssh"
    root_ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy(LAB_DIR / "id_ed25519", root_ssh / "id_ed25519")
    shutil.copy(LAB_DIR / "id_ed25519.pub", root_ssh / "id_ed25519.pub")
    shutil.copy(LAB_DIR / "id_ed25519.pub", root_ssh / "authorized_keys")
    shutil.copy(LAB_DIR / "known_hosts", root_ssh / "known_hosts")
    write(root_ssh / "config", "\n".join(
        host_block(h, h, "/root/.ssh/id_ed25519", "/root/.ssh/known_hosts") for h in HOSTS),
        mode=0o600)
    for f in root_ssh.iterdir():
        f.chmod(0o600 if not f.name.endswith(".pub") else 0o644)


def write_inventory() -> None:
    write(LAB_DIR / "inventory.toml",
          "[clusters.lab]\n"
          f"hosts = [{', '.join(json.dumps(h) for h in HYPERVISORS)}]\n"
          f"storage_hosts = [{json.dumps(STORAGE)}]\n"
          f"ssh_config = {json.dumps(str(LAB_DIR / 'ssh_config'))}\n"
          f"known_hosts = {json.dumps(str(LAB_DIR / 'known_hosts'))}\n"
          'user = "root"\n')


def write_netns_etc(host: str) -> None:
    """/etc/netns/NS/* is bind-mounted over /etc/* by `ip netns exec` (only for existing files)."""
    d = Path("/etc/netns") / ns_name(host)
    hosts = "127.0.0.1\tlocalhost\n"
    hosts += "".join(f"{address(h)}\t{h}\n" for h in HOSTS)
    hosts += "::1\tlocalhost ip6-localhost ip6-loopback\n"
    write(d / "hosts", hosts)
    write(d / "hostname", host + "\n")
    write(d / "machine-id", stable_uuid("machine-id", host).hex + "\n", mode=0o444)
    files = ["hosts", "hostname", "machine-id"]
    if host in HYPERVISORS:
        # Like a real hypervisor, the shared mount is persistent configuration, not a hand mount.
        write(d / "fstab", f"nas:/vol0 {GLUSTER_MOUNT} glusterfs defaults,_netdev 0 0\n")
        files.append("fstab")
    for f in files:
        if not Path("/etc", f).exists():   # ip netns exec needs a target to bind over
            Path("/etc", f).touch()


def sshd_config(host: str) -> str:
    h = LAB_DIR / host
    return (f"ListenAddress {address(host)}\nPort 22\n"
            f"HostKey {h / 'ssh_host_ed25519_key'}\nPidFile {h / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "AcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n")


LIBVIRTD_CONF = """\
# preflight lab: one libvirtd per lab host, reached over qemu+ssh through the unix socket only
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "{host_uuid}"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

QEMU_CONF = """\
# preflight lab: no systemd, no cgroups, no virtlogd, no per-VM namespaces inside netns hosts
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
stdio_handler = "file"
cgroup_controllers = []
"""


def prepare_hv_files(host: str) -> None:
    root = LAB_DIR / host / "fs"
    for d in HV_PRIVATE_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    etc_libvirt = root / "etc/libvirt"
    shutil.rmtree(etc_libvirt)
    shutil.copytree("/etc/libvirt", etc_libvirt, symlinks=True)
    # no default NAT network: it would need dnsmasq and iptables, and real hypervisors use bridges
    shutil.rmtree(etc_libvirt / "qemu/networks/autostart", ignore_errors=True)
    for f in (etc_libvirt / "qemu").glob("*.xml"):
        f.unlink()   # no domains defined before the lab defines them
    write(etc_libvirt / "libvirtd.conf",
          LIBVIRTD_CONF.format(host_uuid=stable_uuid("libvirt-host", host)))
    write(etc_libvirt / "qemu.conf", QEMU_CONF)
    (root / "var/lib/libvirt/images").mkdir(parents=True, exist_ok=True)
    (root / "srv/vmstore").mkdir(parents=True, exist_ok=True)
    write(LAB_DIR / host / "sshd_config", sshd_config(host))


def common_boot_lines(host: str, private_dirs) -> list:
    """Shell lines every host's boot script starts with: identity, private dirs, root's home."""
    h = LAB_DIR / host
    lines = [
        "set -eu",
        f"hostname {host}",
        # own /run: pid files, sockets and /run/sshd of the host's daemons never collide
        "mount -t tmpfs -o mode=0755 lab-run /run",
        "mkdir -p /run/sshd /run/lock /run/libvirt /run/gluster /run/ganesha /run/tgtd",
    ]
    for d in private_dirs:
        lines.append(f"mkdir -p /{d} && mount --bind {h / 'fs' / d} /{d}")
    lines += [
        "[ -d /root/.ssh ] || mkdir -m 0700 /root/.ssh",   # an empty mount point on a fresh box
        f"mount --bind {LAB_DIR / 'root-ssh'} /root/.ssh",
        # real hypervisors have Debian's default dot files, not this machine's pyenv setup
        "for f in bashrc profile; do [ ! -e /root/.$f ] || "
        "mount --bind /usr/share/base-files/dot.$f /root/.$f; done",
        "if [ -e /var/lib/dbus/machine-id ]; then mount --bind /etc/machine-id "
        "/var/lib/dbus/machine-id; fi",
        # a silently dropped connect then fails in ~15 s instead of ~130 s
        "sysctl -qw net.ipv4.tcp_syn_retries=3",
    ]
    return lines


def boot_script_hv(host: str) -> str:
    h = LAB_DIR / host
    lines = common_boot_lines(host, HV_PRIVATE_DIRS) + [
        f"/usr/sbin/libvirtd --daemon --pid-file={h / 'libvirtd.pid'}",
        f"/usr/sbin/sshd -f {h / 'sshd_config'}",
    ]
    return "\n".join(lines) + "\n"


def ganesha_conf(access: str = "Access_Type = RW;", squash: str = "No_Root_Squash",
                 clients: str = "") -> str:
    """The nas export.  Scenarios rewrite it with other access/squash/CLIENT blocks; the clean
    lab is ganesha_conf() with the defaults.  mountd is pinned to MNT_PORT so that a restarted
    ganesha listens where `rpcinfo -p` said it would.  Attr_Expiration_Time = 0: scenarios change
    the export's files behind ganesha's back (chmod/chown on the backing dir); a cached mode would
    make ganesha answer ACCESS with the old one."""
    export = LAB_DIR / "nas" / "export"
    return f"""\
NFS_CORE_PARAM {{
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    MNT_Port = {MNT_PORT};
}}
NFSV4 {{
    Graceless = true;
}}
EXPORT {{
    Export_Id = 1;
    Path = "{export}";
    Pseudo = "/export";
    {access}
    Squash = {squash};
    SecType = "sys";
    Protocols = 3, 4;
    Transports = TCP;
    Attr_Expiration_Time = 0;
    FSAL {{ Name = VFS; }}{clients}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""


def prepare_nas_files() -> None:
    n = LAB_DIR / "nas"
    for d in NAS_PRIVATE_DIRS:
        (n / "fs" / d).mkdir(parents=True, exist_ok=True)
    for d in ("bricks/vol0", "bricks/vol1", "export", "iscsi"):
        (n / d).mkdir(parents=True, exist_ok=True)
    (n / "export").chmod(0o777)
    write(n / "ganesha.conf", ganesha_conf())
    write(n / "sshd_config", sshd_config("nas"))


def boot_script_nas() -> str:
    n = LAB_DIR / "nas"
    lines = common_boot_lines("nas", NAS_PRIVATE_DIRS) + [
        "/usr/sbin/rpcbind -w",
        f"/usr/sbin/glusterd -p {n / 'glusterd.pid'}",
        f"/usr/bin/ganesha.nfsd -f {n / 'ganesha.conf'} -L {n / 'ganesha.log'} "
        f"-p {n / 'ganesha.pid'} -N NIV_EVENT",
        "/usr/sbin/tgtd",
        f"/usr/sbin/sshd -f {n / 'sshd_config'}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Bring-up: network and hosts


def make_network() -> None:
    br = bridge_name()
    run(["ip", "link", "add", br, "type", "bridge"])
    run(["ip", "addr", "add", f"{SUBNET}.1/24", "dev", br])
    run(["ip", "link", "set", br, "up"])
    for host in HOSTS:
        ns, veth = ns_name(host), f"{PREFIX}-v-{host}"
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", veth, "master", br, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{address(host)}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        if host in HYPERVISORS:
            for b in GUEST_BRIDGES:
                add_guest_bridge(host, b)


def add_guest_bridge(host: str, bridge: str) -> None:
    """A bare Linux bridge inside the host's netns; guests' taps attach to it."""
    ns = ns_name(host)
    run(["ip", "-n", ns, "link", "add", bridge, "type", "bridge"])
    run(["ip", "-n", ns, "link", "set", bridge, "up"])


def boot_host(host: str, script: str) -> None:
    """Run the host's boot script in its netns and a new UTS namespace.  The daemons it starts
    keep the mount namespace `ip netns exec` made alive; output goes to a file (daemons keep
    inherited pipes open)."""
    path = write(LAB_DIR / host / "boot.sh", script, mode=0o755)
    with open(LAB_DIR / host / "boot.log", "w") as logf:
        p = subprocess.run(["ip", "netns", "exec", ns_name(host), "unshare", "--uts",
                            "sh", str(path)], stdin=subprocess.DEVNULL, stdout=logf,
                           stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise LabError(f"{host}: boot script failed:\n{(LAB_DIR / host / 'boot.log').read_text()}")


def wait_ssh(host: str) -> None:
    wait_for(f"sshd on {host}", lambda: tcp_open(address(host), 22), 20)
    wait_for(f"ssh login on {host}",
             lambda: ssh(host, "hostname", timeout=15).stdout.strip() == host, 20, 0.5)


def setup_gluster() -> None:
    n = LAB_DIR / "nas"
    wait_for("glusterd", lambda: ssh("nas", "gluster --mode=script pool list",
                                     check=False).returncode == 0, 30, 0.5)
    for vol in ("vol0", "vol1"):
        ssh("nas", f"gluster --mode=script volume create {vol} nas:{n / 'bricks' / vol} force"
                   f" && gluster --mode=script volume start {vol}")
    for vol in ("vol0", "vol1"):   # a FUSE mount succeeds before the brick is up; I/O would not
        wait_for(f"gluster {vol} brick online",
                 lambda v=vol: "<status>1</status>" in ssh(
                     "nas", f"gluster --mode=script volume status {v} --xml", check=False).stdout,
                 30, 0.3)


def mount_gluster(host: str, volume: str = "vol0") -> None:
    """FUSE-mount through the host's own sshd, so the mount lives in that host's namespace."""
    ssh(host, f"mkdir -p {GLUSTER_MOUNT} && mount -t glusterfs nas:/{volume} {GLUSTER_MOUNT}"
              f" && grep -q ' {GLUSTER_MOUNT} fuse.glusterfs ' /proc/mounts")


def setup_iscsi() -> None:
    lun = LAB_DIR / "nas" / "iscsi" / "lun1.img"
    run(["truncate", "-s", IMAGE_SIZE, str(lun)])
    wait_for("tgtd", lambda: ssh("nas", "tgtadm --lld iscsi --mode target --op show",
                                 check=False).returncode == 0, 20, 0.3)
    ssh("nas", f"tgtadm --lld iscsi --op new --mode target --tid 1 -T {iqn()}"
               f" && tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b {lun}"
               " && tgtadm --lld iscsi --op bind --mode target --tid 1 -I ALL")


def setup_nfs_image() -> None:
    img = LAB_DIR / "nas" / "export" / "vm-nfs.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), IMAGE_SIZE])
    img.chmod(0o666)
    # QEMU's NFS client registers nothing with rpcbind, but NFSv3 MOUNT needs ganesha registered
    wait_for("ganesha export", lambda: ssh("nas", "showmount -e localhost",
                                           check=False).stdout.count(str(img.parent)) > 0, 30, 0.5)


# ---------------------------------------------------------------------------------------------
# Guests


def guest_mac(guest: str, index: int) -> str:
    h = stable_uuid("mac", guest, str(index)).bytes
    return "52:54:00:%02x:%02x:%02x" % (h[0], h[1], index)


def disk_xml(g: Guest) -> str:
    if g.disk == "none":
        return ""
    if g.disk == "pool":
        source, dtype, fmt = f"<source pool='{POOL_NAME}' volume='{g.name}.qcow2'/>", "volume", "qcow2"
    elif g.disk in ("gluster", "overlay_local"):
        source, dtype, fmt = f"<source file='{GLUSTER_MOUNT}/{g.name}.qcow2'/>", "file", "qcow2"
    elif g.disk == "local":
        source, dtype, fmt = f"<source file='{LOCAL_IMAGES}/{g.name}.qcow2'/>", "file", "qcow2"
    elif g.disk == "nfs":
        path = LAB_DIR / "nas" / "export" / f"{g.name}.qcow2"
        source, dtype, fmt = (f"<source protocol='nfs' name='{path}'><host name='nas'/></source>",
                              "network", "qcow2")
    elif g.disk == "iscsi":
        source, dtype, fmt = (f"<source protocol='iscsi' name='{iqn()}/1'>"
                              "<host name='nas' port='3260'/></source>", "network", "raw")
    else:
        raise ValueError(g.disk)
    cdrom = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
             f"<source file='{g.cdrom}'/><target dev='hdc' bus='ide'/><readonly/></disk>"
             if g.cdrom else "")
    return (f"<disk type='{dtype}' device='disk'><driver name='qemu' type='{fmt}' cache='{g.cache}'/>"
            f"{source}<target dev='vda' bus='virtio'/></disk>{cdrom}")


# KVM on this nested machine kind does not offer pni (SSE3) to guests although /proc/cpuinfo
# lists it, and qemu64 also wants AMD's svm: with check='none' libvirt starts the guest anyway,
# with both disabled (its live XML says so; the migratable XML shows qemu64 as configured).
# host-model and host-passthrough abort under this nested KVM ("failed to set MSR 0x10a")
# unless the arch-capabilities MSR is kept from the guest.
NO_ARCH_CAPS = "<feature policy='disable' name='arch-capabilities'/>"


def cpu_xml(g: Guest) -> str:
    extra = "<feature policy='require' name='invtsc'/>" if g.invtsc else ""
    if g.cpu == "qemu64":
        return ("<cpu mode='custom' match='exact' check='none'>"
                f"<model fallback='forbid'>qemu64</model>{extra}</cpu>")
    if g.cpu in ("host-model", "host-passthrough"):
        return f"<cpu mode='{g.cpu}'>{NO_ARCH_CAPS}{extra}</cpu>"
    raise ValueError(g.cpu)


def domain_xml(g: Guest, domain_type: str) -> str:
    nics = "".join(
        f"<interface type='bridge'><mac address='{guest_mac(g.name, i)}'/>"
        f"<source bridge='{b}'/><model type='virtio'/>"
        + (f"<mtu size='{g.mtu}'/>" if g.mtu else "") + "</interface>"
        for i, b in enumerate(g.bridges))
    return f"""<domain type='{domain_type}'>
  <name>{g.name}</name>
  <uuid>{stable_uuid('guest', g.name)}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{g.machine}'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  {cpu_xml(g)}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disk_xml(g)}
    {nics}
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def create_guest_disk(g: Guest) -> None:
    if g.disk in ("gluster", "pool"):   # through the FUSE mount, so gluster sets its gfid xattrs
        ssh(g.home, f"qemu-img create -q -f qcow2 {GLUSTER_MOUNT}/{g.name}.qcow2 {IMAGE_SIZE}")
    elif g.disk == "local":
        ssh(g.home, f"mkdir -p {LOCAL_IMAGES} && "
                    f"qemu-img create -q -f qcow2 {LOCAL_IMAGES}/{g.name}.qcow2 {IMAGE_SIZE}")
    elif g.disk == "overlay_local":   # base in home's private dir, overlay on the shared mount
        base = f"{LOCAL_IMAGES}/{g.name}-base.qcow2"
        ssh(g.home, f"mkdir -p {LOCAL_IMAGES} && qemu-img create -q -f qcow2 {base} {IMAGE_SIZE} && "
                    f"qemu-img create -q -f qcow2 -b {base} -F qcow2 {GLUSTER_MOUNT}/{g.name}.qcow2")
    if g.cdrom:
        ssh(g.home, f"mkdir -p $(dirname {g.cdrom}) && truncate -s 1M {g.cdrom}")


def define_and_start(g: Guest, domain_type: str) -> None:
    xml = write(LAB_DIR / g.home / "guests" / f"{g.name}.xml", domain_xml(g, domain_type))
    ssh(g.home, f"virsh -q define {xml} >/dev/null && virsh -q start {g.name} >/dev/null")


def running_guests(host: str) -> list:
    out = ssh(host, "virsh -q list --name").stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def where_running() -> dict:
    """guest -> hypervisor, for every running guest."""
    return {dom: host for host in HYPERVISORS for dom in running_guests(host)}


def write_lab_json(info: LabInfo) -> None:
    data = asdict(info)
    data["namespaces"] = {h: ns_name(h) for h in HOSTS}
    data["running"] = where_running()
    data["guest_details"] = {g.name: {"home": g.home, "disk": g.disk, "bridges": list(g.bridges),
                                      "cpu": g.cpu}
                             for g in GUESTS}
    write(LAB_DIR / "lab.json", json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# up


def warm_libvirtd(host: str) -> None:
    """Wait until the host's libvirtd answers and has probed QEMU (domcapabilities forces it)."""
    wait_for(f"libvirtd on {host}",
             lambda: ssh(host, "virsh -q uri", check=False).returncode == 0, 30, 0.5)
    ssh(host, "virsh -q domcapabilities >/dev/null", timeout=120)


def up() -> LabInfo:
    """Bring the lab up from whatever state (an earlier run's leftovers are removed first)."""
    check_settings()
    timings = {}
    t0 = time.monotonic()
    down()
    timings["cleanup_s"] = round(time.monotonic() - t0, 1)
    domain_type = kvm_domain_type()
    if domain_type != "kvm":
        log("warning: /dev/kvm unusable, guests use TCG (type='qemu')")
    if LAB_DIR.exists() and any(LAB_DIR.iterdir()) and not (LAB_DIR / MARKER).exists():
        raise LabError(f"{LAB_DIR} exists, is not empty and was not made by the lab: not using it")
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    LAB_DIR.chmod(0o755)
    (LAB_DIR / MARKER).write_text("made by tests/lab/lab.py; removed by its down()\n")

    t = time.monotonic()
    # the forecast's dirty-memory guest kernel (tests/lab/dirty_guest.py): built once per bring-up,
    # started only by the forecast's own test and benchmark
    from tests.lab import dirty_guest
    dirty_guest.build_kernel()
    write_ssh_material()
    write_inventory()
    for host in HOSTS:
        write_netns_etc(host)
    for host in HYPERVISORS:
        prepare_hv_files(host)
    prepare_nas_files()
    make_network()
    boot_host("nas", boot_script_nas())
    for host in HYPERVISORS:
        boot_host(host, boot_script_hv(host))
    for host in HOSTS:
        wait_ssh(host)
    timings["hosts_s"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    # A fresh libvirtd probes QEMU's capabilities (~4.5 s) on first use: let the three probes
    # run while the storage is being set up instead of one after another at the first guest start.
    with ThreadPoolExecutor(max_workers=len(HYPERVISORS)) as pool:
        probes = [pool.submit(warm_libvirtd, host) for host in HYPERVISORS]
        setup_gluster()
        for host in HYPERVISORS:
            mount_gluster(host)
        setup_iscsi()
        setup_nfs_image()
        timings["storage_s"] = round(time.monotonic() - t, 1)
        for probe in probes:
            probe.result()
    timings["libvirt_ready_s"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    for g in GUESTS:
        create_guest_disk(g)
        define_and_start(g, domain_type)
    timings["guests_s"] = round(time.monotonic() - t, 1)
    timings["total_s"] = round(time.monotonic() - t0, 1)

    info = lab_info(domain_type, timings)
    write_lab_json(info)
    log(f"up: {timings}")
    return info


def status() -> dict:
    """Which hosts answer and what runs where (does not change anything)."""
    result = {}
    for host in HOSTS:
        entry = {"address": address(host), "namespace": ns_name(host),
                 "netns": ns_name(host) in lab_namespaces()}
        try:
            entry["hostname"] = ssh(host, "hostname", timeout=10).stdout.strip()
            if host in HYPERVISORS:
                entry["guests"] = running_guests(host)
                entry["vmstore"] = ssh(host, f"grep ' {GLUSTER_MOUNT} ' /proc/mounts",
                                       check=False).stdout.split()[0:3]
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            entry["error"] = str(exc).splitlines()[0]
        result[host] = entry
    return result


# ---------------------------------------------------------------------------------------------
# The oracle: real live migrations


def migrate(dom: str, src: str, dst: str, migrate_uri: str | None = None) -> tuple:
    """Run a real `virsh migrate --live` ON the source host, through its sshd.
    Returns (ok, message)."""
    cmd = f"timeout -k 5 {MIGRATE_TIMEOUT} virsh migrate --live --verbose {dom} qemu+ssh://{dst}/system"
    if migrate_uri:
        cmd += f" --migrateuri {migrate_uri}"
    try:
        p = ssh(src, cmd + " 2>&1", check=False, timeout=MIGRATE_TIMEOUT + 20)
    except LabError as exc:
        return False, str(exc)
    text = " ".join(p.stdout.replace("\r", "\n").split())
    if p.returncode == 124:
        text = f"timed out after {MIGRATE_TIMEOUT}s: {text}"
    # virsh's error may span lines (QEMU's own stderr is quoted in it): keep all from "error:" on
    start = text.find("error:")
    message = text[start:] if start >= 0 else text
    return p.returncode == 0, message


def move_home(dom: str, now: str, home: str) -> None:
    """Bring a guest back.  If the plain way fails (e.g. home's firewall rejects the default
    migration ports), ask home to listen on a port outside that range."""
    hooks = [RETURN_HOOKS[n][1:] for n in ACTIVE if n in RETURN_HOOKS and RETURN_HOOKS[n][0] == home]
    for undo, _ in hooks:
        undo()
    try:
        _move_home(dom, now, home)
    finally:
        for _, redo in hooks:
            redo()


def _move_home(dom: str, now: str, home: str) -> None:
    ok, msg = migrate(dom, now, home)
    if not ok:
        ok, msg = migrate(dom, now, home, migrate_uri=f"tcp://{home}:{RETURN_PORT}")
    if not ok:
        raise LabError(f"cannot move {dom} back from {now} to {home}: {msg}")


def restore_layout(layout: dict) -> None:
    """Migrate every guest that is not on its layout host back there."""
    now = where_running()
    for dom, home in layout.items():
        if dom in now and now[dom] != home:
            move_home(dom, now[dom], home)


def oracle(scenario_name: str | None = None) -> dict:
    """For every running guest and every OTHER hypervisor, really live-migrate it and record
    (domain, source, destination) -> (ok, message); guests that moved are moved back.
    With scenario_name, that scenario is applied first and reverted afterwards."""
    try:
        if scenario_name:
            apply(scenario_name)
        layout = where_running()
        results = {}
        focus = oracle_focus()
        for dom, src in sorted(layout.items()):
            for dst in HYPERVISORS:
                if dst == src or (focus and not focus(dom, src, dst)):
                    continue
                ok, msg = migrate(dom, src, dst)
                results[(dom, src, dst)] = (ok, msg)
                if ok:
                    move_home(dom, dst, src)
        restore_layout(layout)
        return results
    finally:
        if scenario_name:
            revert(scenario_name)


def format_table(results: dict) -> str:
    rows = [("domain", "source", "dest", "ok", "message")]
    for (dom, src, dst), (ok, msg) in sorted(results.items()):
        rows.append((dom, src, dst, "yes" if ok else "NO", msg[:160]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4]
                     for r in rows)


# ---------------------------------------------------------------------------------------------
# Scenarios: each apply() injects one real fault, revert() restores the clean lab exactly.


BRIDGE_MISSING_HOST = "hv3"       # br-app removed here; vm-gluster (hv1) has a NIC on br-app
FIREWALL_HOST = "hv2"             # rejects tcp 49152-49215 (libvirt's migration ports)
# Every lab firewall matches `ct state new`, as real rulesets do: a bare `tcp dport 49152-49215` rule
# also hits the replies to the host's OWN outgoing connections whose ephemeral port falls in that range
# (1 in ~440), which once made a probe from hv2 time out in CI.
MOUNT_MISSING_HOST = "hv3"        # /srv/vmstore (gluster vol0) unmounted (or vol1 mounted) here
NFT_TABLE = f"{PREFIX}_lab"


def _noop() -> None:
    pass


def bridge_missing_apply() -> None:
    netns_exec(BRIDGE_MISSING_HOST, "ip link del br-app 2>/dev/null || true")


def bridge_missing_revert() -> None:
    if netns_exec(BRIDGE_MISSING_HOST, "ip link show br-app", check=False).returncode != 0:
        add_guest_bridge(BRIDGE_MISSING_HOST, "br-app")


def firewall_reject_apply() -> None:
    firewall_reject_revert()
    ruleset = (f"table inet {NFT_TABLE} {{\n chain input {{\n"
               "  type filter hook input priority 0; policy accept;\n"
               "  ct state new tcp dport 49152-49215 reject with tcp reset\n }\n}\n")
    run(["ip", "netns", "exec", ns_name(FIREWALL_HOST), "nft", "-f", "-"], input=ruleset)


def firewall_reject_revert() -> None:
    netns_exec(FIREWALL_HOST, f"nft delete table inet {NFT_TABLE} 2>/dev/null || true")


def mount_missing_apply() -> None:
    ssh(MOUNT_MISSING_HOST, f"if grep -q ' {GLUSTER_MOUNT} ' /proc/mounts; then "
                            f"umount {GLUSTER_MOUNT}; fi")


def mount_missing_revert() -> None:
    if ssh(MOUNT_MISSING_HOST, f"grep -q ' {GLUSTER_MOUNT} ' /proc/mounts",
           check=False).returncode != 0:
        mount_gluster(MOUNT_MISSING_HOST)


def different_share_apply() -> None:
    """Same path, other share: hv3 mounts gluster vol1 (which lacks the images) at /srv/vmstore."""
    mounted = ssh(MOUNT_MISSING_HOST, f"grep ' {GLUSTER_MOUNT} ' /proc/mounts", check=False)
    if "nas:/vol1 " in mounted.stdout:
        return
    mount_missing_apply()
    mount_gluster(MOUNT_MISSING_HOST, "vol1")


def different_share_revert() -> None:
    mounted = ssh(MOUNT_MISSING_HOST, f"grep ' {GLUSTER_MOUNT} ' /proc/mounts", check=False)
    if "nas:/vol0 " not in mounted.stdout:
        mount_missing_apply()
        mount_gluster(MOUNT_MISSING_HOST, "vol0")


def invtsc_apply() -> None:
    g = INVTSC_GUEST
    if g.name in where_running():
        return
    domain_type = kvm_domain_type()
    try:
        define_and_start(g, domain_type)
    except LabError as exc:
        invtsc_revert()
        if domain_type != "kvm":   # TCG cannot offer invtsc: the scenario does not exist here
            raise ScenarioUnavailable(f"invtsc needs KVM; under TCG: {exc}") from exc
        raise LabError(f"KVM here does not start a guest that requires invtsc: {exc}") from exc


def invtsc_revert() -> None:
    for host in HYPERVISORS:
        ssh(host, f"virsh -q destroy {INVTSC_GUEST.name} >/dev/null 2>&1; "
                  f"virsh -q undefine {INVTSC_GUEST.name} >/dev/null 2>&1; true")


NFS_DENIED_HOST = "hv3"           # the nas export stops admitting hv3 (or admits it read-only)
NAS_FIREWALL_HOST = "hv3"         # nas rejects TCP 2049 from this hypervisor
READONLY_MOUNT_HOST = "hv3"       # gluster vol0 mounted read-only at /srv/vmstore here
ISCSI_BLOCKED_HOST = "hv1"        # nas rejects TCP 3260 (the iSCSI portal) from this hypervisor
NAS_NFT_TABLE = f"{PREFIX}_nas"


def ganesha_pid() -> int:
    return int((LAB_DIR / "nas" / "ganesha.pid").read_text().split()[0])


def set_ganesha_export(conf: str) -> None:
    """Rewrite nas's ganesha.conf and make the running ganesha reload its exports (SIGHUP, by
    the PID in its own pid file; the guest on the export keeps its connection)."""
    path = LAB_DIR / "nas" / "ganesha.conf"
    if path.read_text() == conf:
        return
    logf = LAB_DIR / "nas" / "ganesha.log"
    done = "Reread exports complete"
    before = logf.read_text(errors="replace").count(done) if logf.exists() else 0
    write(path, conf)
    os.kill(ganesha_pid(), signal.SIGHUP)
    # the reload runs in ganesha's signal thread; it logs when the new export list is in place
    # (showmount cannot tell: ganesha lists only the exports the asking client may use)
    wait_for("ganesha export reload", lambda: logf.read_text(errors="replace").count(done) > before,
             30, 0.2)


def nfs_clients_block(*entries) -> str:
    return "".join(f"\n    CLIENT {{ Clients = {', '.join(address(h) for h in hosts)}; "
                   f"Access_Type = {access}; }}" for hosts, access in entries)


def nfs_export_denies_host_apply() -> None:
    admitted = [h for h in HYPERVISORS if h != NFS_DENIED_HOST]
    set_ganesha_export(ganesha_conf(access="Access_Type = None;",
                                    clients=nfs_clients_block((admitted, "RW"))))


def nfs_export_readonly_apply() -> None:
    admitted = [h for h in HYPERVISORS if h != NFS_DENIED_HOST]
    set_ganesha_export(ganesha_conf(access="Access_Type = None;",
                                    clients=nfs_clients_block(([NFS_DENIED_HOST], "RO"),
                                                              (admitted, "RW"))))


def nfs_image() -> Path:
    return LAB_DIR / "nas" / "export" / "vm-nfs.qcow2"


def nfs_root_squash_apply() -> None:
    """Root squashed; QEMU runs as root (qemu.conf) and the image is root's, mode 0644."""
    os.chown(nfs_image(), 0, 0)
    nfs_image().chmod(0o644)
    set_ganesha_export(ganesha_conf(squash="Root_Squash"))


def nfs_export_revert() -> None:
    set_ganesha_export(ganesha_conf())
    if nfs_image().exists():
        nfs_image().chmod(0o666)


def nas_reject(host: str, port: int) -> None:
    nas_reject_revert()
    ruleset = (f"table inet {NAS_NFT_TABLE} {{\n chain input {{\n"
               "  type filter hook input priority 0; policy accept;\n"
               f"  ip saddr {address(host)} tcp dport {port} reject with tcp reset\n }}\n}}\n")
    run(["ip", "netns", "exec", ns_name(STORAGE), "nft", "-f", "-"], input=ruleset)


def nas_reject_revert() -> None:
    netns_exec(STORAGE, f"nft delete table inet {NAS_NFT_TABLE} 2>/dev/null || true")


def nfs_port_blocked_apply() -> None:
    nas_reject(NAS_FIREWALL_HOST, 2049)


def iscsi_portal_blocked_apply() -> None:
    nas_reject(ISCSI_BLOCKED_HOST, 3260)


def _vmstore_mount(host: str) -> list:
    line = ssh(host, f"grep ' {GLUSTER_MOUNT} ' /proc/mounts", check=False).stdout.split()
    return line


def readonly_mount_apply() -> None:
    m = _vmstore_mount(READONLY_MOUNT_HOST)
    if m and "ro" in m[3].split(","):
        return
    mount_missing_apply_on(READONLY_MOUNT_HOST)
    ssh(READONLY_MOUNT_HOST, f"mkdir -p {GLUSTER_MOUNT} && mount -t glusterfs -o ro nas:/vol0 "
                             f"{GLUSTER_MOUNT} && grep -q ' {GLUSTER_MOUNT} fuse.glusterfs ro' /proc/mounts")


def readonly_mount_revert() -> None:
    m = _vmstore_mount(READONLY_MOUNT_HOST)
    if m and m[0] == "nas:/vol0" and "rw" in m[3].split(","):
        return
    mount_missing_apply_on(READONLY_MOUNT_HOST)
    mount_gluster(READONLY_MOUNT_HOST)


def mount_missing_apply_on(host: str) -> None:
    ssh(host, f"while grep -q ' {GLUSTER_MOUNT} ' /proc/mounts; do umount {GLUSTER_MOUNT} || exit 1; done")


# source_readonly: a read-only bind mount stacked over hv1's /srv/vmstore while vm-gluster runs
# there. The running QEMU keeps the read-write file it opened through the mount below; the
# kernel refuses to remount a mount with open writers read-only, so stacking is how such a
# mount shows up for real (an admin's `mount -o remount,ro` of a fresh bind, a lazily replaced
# mount). hv1's mountinfo now says ro; the destination's mount is untouched.
SOURCE_READONLY_HOST = "hv1"


def _top_vmstore_options(host: str) -> list:
    """Mount options of the LAST (visible) /srv/vmstore entry of host's mountinfo."""
    rows = [ln.split() for ln in ssh(host, "cat /proc/self/mountinfo").stdout.splitlines()]
    tops = [r for r in rows if len(r) > 5 and r[4] == GLUSTER_MOUNT]
    return tops[-1][5].split(",") if tops else []


def source_readonly_apply() -> None:
    if "ro" in _top_vmstore_options(SOURCE_READONLY_HOST):
        return
    ssh(SOURCE_READONLY_HOST, f"mount --bind {GLUSTER_MOUNT} {GLUSTER_MOUNT} && "
                              f"mount -o remount,bind,ro {GLUSTER_MOUNT}")
    if "ro" not in _top_vmstore_options(SOURCE_READONLY_HOST):
        source_readonly_revert()
        raise LabError(f"{SOURCE_READONLY_HOST}: the read-only bind over {GLUSTER_MOUNT} did not take")


def source_readonly_revert() -> None:
    for _ in range(3):
        if "ro" not in _top_vmstore_options(SOURCE_READONLY_HOST):
            return
        ssh(SOURCE_READONLY_HOST, f"umount {GLUSTER_MOUNT}")
    raise LabError(f"{SOURCE_READONLY_HOST}: {GLUSTER_MOUNT} is still read-only")


# firewall_one_source: hv2 rejects the whole migration range from hv1, and every port but the
# lowest from everyone else. hv1 -> hv2 fails; hv3 -> hv2 migrates on 49152, the lowest free
# port libvirt hands out, but ONLY if nothing else (a test listener left over by preflight,
# or one moved to 49153 because an earlier one still held 49152) is on it.
FIREWALL_ONE_SOURCE = ("hv1", "hv2")      # (rejected source, destination)


def firewall_one_source_apply() -> None:
    firewall_one_source_revert()
    src, dst = FIREWALL_ONE_SOURCE
    ruleset = (f"table inet {NFT_TABLE} {{\n chain input {{\n"
               "  type filter hook input priority 0; policy accept;\n"
               f"  ip saddr {address(src)} ct state new tcp dport 49152-49215 reject with tcp reset\n"
               "  ct state new tcp dport 49153-49215 reject with tcp reset\n }\n}\n")
    run(["ip", "netns", "exec", ns_name(dst), "nft", "-f", "-"], input=ruleset)


def firewall_one_source_revert() -> None:
    netns_exec(FIREWALL_ONE_SOURCE[1], f"nft delete table inet {NFT_TABLE} 2>/dev/null || true")


def listening_ports(host: str, lo: int = 49152, hi: int = 49215) -> list:
    """TCP ports of [lo, hi] something listens on in host's namespace."""
    out = netns_exec(host, "ss -Hltn").stdout
    ports = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3].rsplit(":", 1)[-1].isdigit():
            port = int(parts[3].rsplit(":", 1)[-1])
            if lo <= port <= hi:
                ports.append(port)
    return sorted(ports)


def extra_guest_apply(g: Guest) -> None:
    """Create, define and start an extra guest on its home (idempotent)."""
    if g.name in where_running():
        return
    extra_guest_revert(g)
    try:
        create_guest_disk(g)
        define_and_start(g, kvm_domain_type())
    except LabError:
        extra_guest_revert(g)
        raise


def extra_guest_revert(g: Guest) -> None:
    """Destroy + undefine it wherever it is, and delete its images (idempotent)."""
    for host in HYPERVISORS:
        ssh(host, f"virsh -q destroy {g.name} >/dev/null 2>&1; "
                  f"virsh -q undefine {g.name} >/dev/null 2>&1; true")
    files = [f"{GLUSTER_MOUNT}/{g.name}.qcow2", f"{LOCAL_IMAGES}/{g.name}-base.qcow2"]
    if g.cdrom:
        files.append(g.cdrom)
    ssh(g.home, "rm -f " + " ".join(files), check=False)


def backing_local_apply() -> None:
    extra_guest_apply(OVERLAY_GUEST)


def backing_local_revert() -> None:
    extra_guest_revert(OVERLAY_GUEST)


def cdrom_local_apply() -> None:
    extra_guest_apply(CDROM_GUEST)


def cdrom_local_revert() -> None:
    extra_guest_revert(CDROM_GUEST)


def cache_writeback_apply() -> None:
    extra_guest_apply(WRITEBACK_GUEST)


def cache_writeback_revert() -> None:
    extra_guest_revert(WRITEBACK_GUEST)


# cache_writeback_nodrop: the SOURCE libvirtd believes its QEMU lacks migration-file-drop-cache.
# libvirt keeps a running domain's QEMU capabilities in its status XML (/run/libvirt/qemu/DOM.xml,
# <qemuCaps>), taken from the capabilities cache when the domain STARTED; qemuMigrationSrcIsSafe
# asks those.  So: edit the cache, restart libvirtd (it keeps a cache file whose binary ctimes,
# libvirt version, kernel and microcode still match: the content itself is not checked), THEN
# start the guest.  Revert restores the file and restarts libvirtd again (guests keep running).
DROP_CACHE_FLAG = "<flag name='migration-file-drop-cache'/>"
CAPS_SUBDIR = "var/cache/libvirt/qemu/capabilities"


def _caps_files(host: str) -> list:
    return sorted((LAB_DIR / host / "fs" / CAPS_SUBDIR).glob("*.xml"))


def _caps_backup(host: str) -> Path:
    return LAB_DIR / host / "caps-backup"


def restart_libvirtd(host: str) -> None:
    """SIGTERM the host's libvirtd (by the PID in its own pid file), start it again in the host's
    namespaces (through its sshd) and wait until it answers.  Running guests keep running."""
    pidf = LAB_DIR / host / "libvirtd.pid"
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pidf.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)

        def gone():
            try:
                state = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                return True
            return "\nState:\tZ" in state     # a zombie waiting for PID 1 is gone too
        wait_for(f"libvirtd {pid} on {host} to exit", gone, 30, 0.1)
    ssh(host, f"/usr/sbin/libvirtd --daemon --pid-file={pidf} </dev/null >/dev/null 2>&1")
    wait_for(f"libvirtd on {host}",
             lambda: ssh(host, "virsh -q uri", check=False).returncode == 0, 30, 0.3)
    ssh(host, "virsh -q domcapabilities >/dev/null", timeout=120)


def _strip_drop_cache(host: str) -> None:
    for f in _caps_files(host):
        text = f.read_text()
        if DROP_CACHE_FLAG in text:
            f.write_text("".join(line for line in text.splitlines(True) if DROP_CACHE_FLAG not in line))


def cache_writeback_nodrop_apply() -> None:
    host, g = WRITEBACK_GUEST.home, WRITEBACK_GUEST
    backup = _caps_backup(host)
    if not backup.exists():
        files = _caps_files(host)
        if not any(DROP_CACHE_FLAG in f.read_text() for f in files):
            raise LabError(f"{host}: no capabilities cache entry has {DROP_CACHE_FLAG}")
        extra_guest_revert(g)   # it must start AFTER libvirtd reloads the edited cache
        tmp = backup.with_name(backup.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in files:
            shutil.copy2(f, tmp / f.name)
        tmp.rename(backup)
    # libvirtd keeps a cache file whose binary ctimes/versions/kernel/microcode match; once in a
    # while here it re-probed anyway right after a restart (the file then has the flag again):
    # edit and restart until the reloaded cache lacks the flag.
    for attempt in range(3):
        if not any(DROP_CACHE_FLAG in f.read_text() for f in _caps_files(host)) and attempt:
            break
        _strip_drop_cache(host)
        time.sleep(1)
        restart_libvirtd(host)
    else:
        if any(DROP_CACHE_FLAG in f.read_text() for f in _caps_files(host)):
            raise LabError(f"{host}: libvirtd re-probed QEMU (restoring {DROP_CACHE_FLAG}) on every restart")
    if g.name not in where_running():
        extra_guest_apply(g)
    # what the source libvirt really asks: the running domain's own capabilities (status XML)
    status = ssh(host, f"cat /run/libvirt/qemu/{g.name}.xml").stdout
    if DROP_CACHE_FLAG in status:
        raise LabError(f"{host}: {g.name} started with {DROP_CACHE_FLAG} despite the edited cache")


def cache_writeback_nodrop_revert() -> None:
    host = WRITEBACK_GUEST.home
    extra_guest_revert(WRITEBACK_GUEST)
    backup = _caps_backup(host)
    if backup.exists():
        for f in backup.glob("*.xml"):
            shutil.copy2(f, LAB_DIR / host / "fs" / CAPS_SUBDIR / f.name)
        restart_libvirtd(host)
        shutil.rmtree(backup)


# cpu_feature_missing: CPU_FAULT_HOST's libvirtd believes its KVM lacks one CPU feature F that
# host-model guests (and the host-passthrough extra guest) use and qemu64 guests do not: F's
# property in the kvm <hostCPU> of its QEMU capabilities cache is set to false (backup first),
# libvirtd restarted by PID. domcapabilities and compareHypervisorCPU there then lack F. The
# silicon is the same, so real migrations still succeed: libvirt's destination check of the
# live CPU asks QEMU, which enables F (preflight is stricter by design, see STRICTER_BY_DESIGN).
# F is picked at apply time among features this machine's KVM really offers; it is written to
# CPU_FAULT_HOST/cpu-feature. A failed edit restores the host.
CPU_FAULT_HOST = "hv3"
PASSTHROUGH_GUEST = Guest("vm-passthrough", "hv1", "none", cpu="host-passthrough")
CPU_FEATURE_CANDIDATES = ("clzero", "gfni", "umip", "clwb", "clflushopt", "xsaveerptr", "osvw",
                          "misalignsse", "3dnowprefetch", "arat", "tsc_adjust", "avx2", "aes")


def _cpu_fault_backup() -> Path:
    return LAB_DIR / CPU_FAULT_HOST / "caps-backup-cpu"


def _cpu_feature_file() -> Path:
    return LAB_DIR / CPU_FAULT_HOST / "cpu-feature"


def cpu_missing_feature() -> str:
    """The feature cpu_feature_missing took away (while it is applied)."""
    return _cpu_feature_file().read_text().strip()


def _host_model_required(host: str) -> set:
    out = ssh(host, "virsh -q domcapabilities").stdout
    mode = out.split("<mode name='host-model'", 1)[-1].split("</mode>", 1)[0]
    return {line.split("name='", 1)[1].split("'", 1)[0] for line in mode.splitlines()
            if "<feature policy='require'" in line}


def _live_cpu_features(host: str, dom: str) -> set:
    out = ssh(host, f"virsh -q dumpxml {dom}").stdout
    cpu = out.split("<cpu", 1)[-1].split("</cpu>", 1)[0]
    return {line.split("name='", 1)[1].split("'", 1)[0] for line in cpu.splitlines() if "<feature " in line}


def _kvm_prop(feature: str, value: str) -> str:
    return f"<property name='{feature}' type='boolean' value='{value}'"


def _set_kvm_feature(files, feature: str, value: str) -> bool:
    """Set `feature` in the kvm <hostCPU> block of the cache files; True if any file changed."""
    changed = False
    for f in files:
        text = f.read_text()
        head, sep, rest = text.partition("<hostCPU type='kvm'")
        if not sep:
            continue
        block, end, tail = rest.partition("</hostCPU>")
        other = "false" if value == "true" else "true"
        new = block.replace(_kvm_prop(feature, other), _kvm_prop(feature, value))
        if new != block:
            f.write_text(head + sep + new + end + tail)
            changed = True
    return changed


def cpu_feature_missing_apply() -> None:
    host = CPU_FAULT_HOST
    backup = _cpu_fault_backup()
    if not backup.exists():
        offered = _host_model_required(host)
        qemu64 = set().union(*(_live_cpu_features(g.home, g.name) for g in GUESTS
                               if g.cpu == "qemu64" and g.home == host))
        files = _caps_files(host)
        cache = "".join(f.read_text().partition("<hostCPU type='kvm'")[2].partition("</hostCPU>")[0]
                        for f in files)
        feature = next((f for f in CPU_FEATURE_CANDIDATES
                        if f in offered and f not in qemu64 and _kvm_prop(f, "true") in cache), None)
        if feature is None:
            raise LabError(f"{host}: none of {', '.join(CPU_FEATURE_CANDIDATES)} is offered by KVM here "
                           "and absent from the qemu64 guests' CPU: cpu_feature_missing cannot be built")
        tmp = backup.with_name(backup.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in files:
            shutil.copy2(f, tmp / f.name)
        tmp.rename(backup)
        write(_cpu_feature_file(), feature + "\n")
    feature = cpu_missing_feature()
    try:
        # libvirtd keeps a cache whose binaries/kernel/microcode match; it re-probed once in a
        # while right after a restart here: edit and restart until the host-model lacks F
        for _ in range(3):
            _set_kvm_feature(_caps_files(host), feature, "false")
            time.sleep(1)
            restart_libvirtd(host)
            if feature not in _host_model_required(host):
                break
        else:
            raise LabError(f"{host}: libvirtd re-probed QEMU (restoring {feature}) on every restart")
        extra_guest_apply(PASSTHROUGH_GUEST)
    except Exception:
        cpu_feature_missing_revert()
        raise


def cpu_feature_missing_revert() -> None:
    extra_guest_revert(PASSTHROUGH_GUEST)
    backup = _cpu_fault_backup()
    if backup.exists():
        for f in backup.glob("*.xml"):
            shutil.copy2(f, LAB_DIR / CPU_FAULT_HOST / "fs" / CAPS_SUBDIR / f.name)
        restart_libvirtd(CPU_FAULT_HOST)
        shutil.rmtree(backup)
    _cpu_feature_file().unlink(missing_ok=True)


def pool_missing_apply() -> None:
    if POOL_GUEST.name in where_running():
        return
    pool_missing_revert()
    create_guest_disk(POOL_GUEST)
    for host in POOL_HOSTS:
        ssh(host, f"virsh -q pool-define-as {POOL_NAME} dir --target {GLUSTER_MOUNT} >/dev/null && "
                  f"virsh -q pool-start {POOL_NAME} >/dev/null && virsh -q pool-refresh {POOL_NAME} >/dev/null")
    try:
        define_and_start(POOL_GUEST, kvm_domain_type())
    except LabError:
        pool_missing_revert()
        raise


def pool_missing_revert() -> None:
    extra_guest_revert(POOL_GUEST)
    for host in HYPERVISORS:
        ssh(host, f"virsh -q pool-destroy {POOL_NAME} >/dev/null 2>&1; "
                  f"virsh -q pool-undefine {POOL_NAME} >/dev/null 2>&1; true")


# ---------------------------------------------------------------------------------------------
# Host compatibility scenarios (issue 10). Each fault sits on one destination (or one pair);
# ORACLE_FOCUS names the pairs the oracle migrates while it is applied.


def _restart_until(host: str, edit, done, what: str) -> None:
    """Edit host's files, restart its libvirtd, until `done()`: libvirtd once in a while re-probed
    QEMU right after a restart here (cpu_feature_missing, cache_writeback_nodrop)."""
    for _ in range(3):
        edit()
        time.sleep(1)
        restart_libvirtd(host)
        if done():
            return
    raise LabError(f"{host}: {what} did not take after three libvirtd restarts")


def _backup_caps(host: str, backup: Path) -> None:
    if backup.exists():
        return
    tmp = backup.with_name(backup.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for f in _caps_files(host):
        shutil.copy2(f, tmp / f.name)
    tmp.rename(backup)


def _restore_caps(host: str, backup: Path) -> None:
    if backup.exists():
        for f in backup.glob("*.xml"):
            shutil.copy2(f, LAB_DIR / host / "fs" / CAPS_SUBDIR / f.name)
        restart_libvirtd(host)
        shutil.rmtree(backup)


# machine_type_missing: the extra guest vm-q35 (machine 'q35', which libvirt expands to the
# versioned pc-q35-X.Y when it is defined) runs on hv1; MACHINE_FAULT_HOST's libvirt believes its
# QEMU lacks that versioned machine type: its <machine> entries (kvm and tcg, alias q35 included)
# are deleted from that host's QEMU capabilities cache (backup in HOST/caps-backup-machine/) and
# libvirtd is restarted by PID until `virsh domcapabilities --machine NAME` refuses it.
MACHINE_FAULT_HOST = "hv3"
Q35_GUEST = Guest("vm-q35", "hv1", "none", machine="q35")


def _machine_backup() -> Path:
    return LAB_DIR / MACHINE_FAULT_HOST / "caps-backup-machine"


def guest_machine(host: str, dom: str) -> str:
    """The versioned machine type a running guest has (its live XML's <os><type machine>)."""
    out = ssh(host, f"virsh -q dumpxml {dom}").stdout
    return out.split(" machine='", 1)[1].split("'", 1)[0]


def _domcaps_has_machine(host: str, machine: str) -> bool:
    return ssh(host, f"virsh -q domcapabilities --machine {machine} >/dev/null 2>&1",
               check=False).returncode == 0


def machine_type_missing_apply() -> None:
    extra_guest_apply(Q35_GUEST)
    host, machine = MACHINE_FAULT_HOST, guest_machine(Q35_GUEST.home, Q35_GUEST.name)
    if not machine.startswith("pc-q35-"):
        raise LabError(f"{Q35_GUEST.name} runs with machine {machine!r}, expected pc-q35-X.Y")
    _backup_caps(host, _machine_backup())

    def edit():
        for f in _caps_files(host):
            lines = f.read_text().splitlines(True)
            kept = [ln for ln in lines if not (ln.lstrip().startswith("<machine ")
                                               and f" name='{machine}'" in ln)]
            if kept != lines:
                f.write_text("".join(kept))
    try:
        _restart_until(host, edit, lambda: not _domcaps_has_machine(host, machine),
                       f"removing machine {machine} from the QEMU capabilities cache")
    except Exception:
        machine_type_missing_revert()
        raise


def machine_type_missing_revert() -> None:
    extra_guest_revert(Q35_GUEST)
    _restore_caps(MACHINE_FAULT_HOST, _machine_backup())


# host_uuid_clone: UUID_CLONE[1]'s libvirtd gets UUID_CLONE[0]'s host_uuid (libvirtd.conf, as a
# cloned host's SMBIOS UUID would give it), restarted by PID. Revert writes the lab's own again.
UUID_CLONE = ("hv2", "hv3")     # (original, clone)


def _libvirtd_conf(host: str) -> Path:
    return LAB_DIR / host / "fs" / "etc/libvirt/libvirtd.conf"


def host_uuid(host: str) -> str:
    out = ssh(host, "virsh -q capabilities").stdout
    return out.split("<uuid>", 1)[1].split("</uuid>", 1)[0].strip()


def host_uuid_clone_apply() -> None:
    orig, clone = UUID_CLONE
    want = str(stable_uuid("libvirt-host", orig))
    if host_uuid(clone) == want:
        return
    write(_libvirtd_conf(clone), LIBVIRTD_CONF.format(host_uuid=want))
    try:
        _restart_until(clone, lambda: None, lambda: host_uuid(clone) == want,
                       f"host_uuid {want}")
    except Exception:
        host_uuid_clone_revert()
        raise


def host_uuid_clone_revert() -> None:
    clone = UUID_CLONE[1]
    own = str(stable_uuid("libvirt-host", clone))
    if _libvirtd_conf(clone).read_text() != LIBVIRTD_CONF.format(host_uuid=own):
        write(_libvirtd_conf(clone), LIBVIRTD_CONF.format(host_uuid=own))
        restart_libvirtd(clone)


# Names. Each host's /etc/hosts is the /etc/netns/PREFIX-HOST/hosts file `ip netns exec` bound
# over /etc/hosts when the host booted: it is rewritten IN PLACE through the host's sshd (a new
# file, e.g. `sed -i`, would leave the host's bind mount on the old inode). The lab's original is
# kept in HOST/hosts-backup. libvirt (virGetHostname, src/util/virutil.c) hands back as the
# migration URI host: migration_host from qemu.conf if set; else gethostname() if it contains a
# dot or starts with "localhost"; else the canonical name getaddrinfo(AI_CANONNAME) gives for it
# on the DESTINATION, unless that is missing or starts with "localhost" (then the short name).
# The destination refuses only a result starting with "localhost"; the SOURCE libvirtd resolves
# the name with its own resolver and tries every address in turn (virNetSocketNewConnectTCP).
NAME_HOST = "hv2"                 # the destination whose names the scenarios change
NAME_FQDN = "hv2.lab.example"     # the canonical name those scenarios give it
NAME_LOOPBACK_SOURCE = "hv1"      # migration_name_loopback: resolves NAME_FQDN to 127.0.1.1


def _hosts_backup(host: str) -> Path:
    return LAB_DIR / host / "hosts-backup"


def read_hosts(host: str) -> str:
    return ssh(host, "cat /etc/hosts").stdout


def _write_hosts(host: str, text: str) -> None:
    """Rewrite host's /etc/hosts in place (same inode), keeping the lab's original once."""
    backup = _hosts_backup(host)
    if not backup.exists():
        write(backup, read_hosts(host))
    if read_hosts(host) != text:
        subprocess.run(["ssh", "-F", str(LAB_DIR / "ssh_config"), "-o", "BatchMode=yes", host,
                        "cat > /etc/hosts"], input=text, text=True, check=True, timeout=SSH_TIMEOUT,
                       capture_output=True)
    if read_hosts(host) != text:
        raise LabError(f"{host}: /etc/hosts did not take the new content")


def _restore_hosts(*hosts: str) -> None:
    for host in hosts:
        backup = _hosts_backup(host)
        if backup.exists():
            _write_hosts(host, backup.read_text())
            backup.unlink()


def _hosts_lines(host: str) -> list:
    """The lab's original /etc/hosts of `host` as lines (from the backup while one exists)."""
    backup = _hosts_backup(host)
    return (backup.read_text() if backup.exists() else read_hosts(host)).splitlines(True)


def libvirt_hostname(host: str) -> str:
    """virConnectGetHostname on host: the same virGetHostname() the migration Prepare calls."""
    return ssh(host, "virsh -q hostname").stdout.strip()


def _with_fqdn(lines: list) -> list:
    """NAME_HOST's own line as 'ADDR NAME_FQDN NAME_HOST' (canonical name first)."""
    own = f"{address(NAME_HOST)}\t{NAME_HOST}\n"
    return [f"{address(NAME_HOST)}\t{NAME_FQDN} {NAME_HOST}\n" if ln == own else ln for ln in lines]


# hosts_alias_localhost: NAME_HOST's own name aliased on the localhost line of its own /etc/hosts
# ("127.0.0.1 localhost hv2", a common cloud-image/installer leftover). getaddrinfo's canonical
# name for hv2 is then "localhost", which libvirt discards: it hands back the short name, which
# the sources resolve to the real address. Really migrates.
def hosts_alias_localhost_apply() -> None:
    lines = _hosts_lines(NAME_HOST)
    lines = [ln.rstrip("\n") + f" {NAME_HOST}\n" if ln.split()[:2] == ["127.0.0.1", "localhost"]
             and NAME_HOST not in ln.split() else ln for ln in lines]
    _write_hosts(NAME_HOST, "".join(lines))
    if libvirt_hostname(NAME_HOST) != NAME_HOST:
        raise LabError(f"{NAME_HOST}: libvirt hostname is {libvirt_hostname(NAME_HOST)!r}")


# hosts_alias_fqdn: Debian's installer layout on NAME_HOST: "127.0.1.1 hv2.lab.example hv2" in
# its own /etc/hosts, before its real line. The canonical name is now NAME_FQDN, so libvirt hands
# back tcp:hv2.lab.example:PORT, a name no source can resolve here (no DNS): the source fails.
def hosts_alias_fqdn_apply() -> None:
    lines = [ln for ln in _hosts_lines(NAME_HOST) if NAME_FQDN not in ln]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("127.0.0.1")) + 1
    lines.insert(at, f"127.0.1.1\t{NAME_FQDN} {NAME_HOST}\n")
    _write_hosts(NAME_HOST, "".join(lines))
    if libvirt_hostname(NAME_HOST) != NAME_FQDN:
        raise LabError(f"{NAME_HOST}: libvirt hostname is {libvirt_hostname(NAME_HOST)!r}, not {NAME_FQDN}")


# migration_name_loopback: NAME_HOST's canonical name is NAME_FQDN on its real address (its own
# /etc/hosts and hv3's say so), but NAME_LOOPBACK_SOURCE's /etc/hosts has a stale
# "127.0.1.1 hv2.lab.example" (copied from an installer's file) and no other address for it. ssh
# to "hv2" still works from there; the migration connection goes to the source's own loopback.
def migration_name_loopback_apply() -> None:
    for host in HYPERVISORS:
        if host == NAME_LOOPBACK_SOURCE:
            lines = [ln for ln in _hosts_lines(host) if NAME_FQDN not in ln]
            lines.insert(1, f"127.0.1.1\t{NAME_FQDN}\n")
        else:
            lines = _with_fqdn(_hosts_lines(host))
        _write_hosts(host, "".join(lines))
    if libvirt_hostname(NAME_HOST) != NAME_FQDN:
        raise LabError(f"{NAME_HOST}: libvirt hostname is {libvirt_hostname(NAME_HOST)!r}, not {NAME_FQDN}")


def names_revert() -> None:
    _restore_hosts(*HYPERVISORS)


# bridge_mtu_smaller: MTU_HOST's br-app gets MTU MTU_SMALL (the sources' br-app: 1500). vm-gluster
# (a NIC on br-app, no <mtu>: its tap takes the bridge's MTU) and the extra guest vm-mtu (NIC on
# br-app with <mtu size='1500'/>) both really migrate: libvirt sets the new tap's MTU (from the
# bridge, or the <mtu>) and checks nothing. The guest keeps sending 1500-byte frames into a
# 1400-byte bridge: network.mtu WARNs (the migration itself works).
MTU_HOST = "hv3"
MTU_SMALL = 1400
MTU_GUEST = Guest("vm-mtu", "hv1", "none", bridges=("br-app",), mtu=1500)


def bridge_mtu_smaller_apply() -> None:
    extra_guest_apply(MTU_GUEST)
    netns_exec(MTU_HOST, f"ip link set br-app mtu {MTU_SMALL}")


def bridge_mtu_smaller_revert() -> None:
    extra_guest_revert(MTU_GUEST)
    netns_exec(MTU_HOST, "ip link set br-app mtu 1500")


# firewall_drop_subnet: DROP_HOST silently drops the migration range from one source SUBNET (a
# /30 that holds hv1's address only): `ip saddr 10.x.y.8/30 tcp dport 49152-49215 drop`. With
# tcp_syn_retries=3 the source gives up after ~15 s ("Connection timed out"). hv2 still migrates.
DROP_HOST = "hv3"
DROP_SOURCE = "hv1"


def drop_subnet() -> str:
    octet = HOST_OCTET[DROP_SOURCE] & ~3
    return f"{SUBNET}.{octet}/30"


def firewall_drop_subnet_apply() -> None:
    firewall_drop_subnet_revert()
    ruleset = (f"table inet {NFT_TABLE} {{\n chain input {{\n"
               "  type filter hook input priority 0; policy accept;\n"
               f"  ip saddr {drop_subnet()} ct state new tcp dport 49152-49215 drop\n }}\n}}\n")
    run(["ip", "netns", "exec", ns_name(DROP_HOST), "nft", "-f", "-"], input=ruleset)


def firewall_drop_subnet_revert() -> None:
    netns_exec(DROP_HOST, f"nft delete table inet {NFT_TABLE} 2>/dev/null || true")


# kvm_unusable: inside KVM_HOST's own mount namespace only (through its sshd), an empty regular
# file of the state dir is bind-mounted over /dev/kvm. Nothing is written to any device node and
# the machine's /dev/kvm (and every other namespace's) is untouched: the apply checks that. The
# host's running guests keep the KVM fd they opened; libvirt's cached capabilities still offer
# <domain type='kvm'>; a new QEMU there (an incoming migration) fails "kvm version too old".
KVM_HOST = "hv3"


def _not_kvm() -> Path:
    return LAB_DIR / KVM_HOST / "not-kvm"


def _kvm_kind(host: str | None) -> str:
    cmd = "stat -c '%F %t:%T' /dev/kvm"
    return (ssh(host, cmd, check=False) if host else run(cmd, check=False)).stdout.strip()


def kvm_unusable_apply() -> None:
    if kvm_domain_type() != "kvm":
        raise ScenarioUnavailable("kvm_unusable needs KVM guests (TCG lab)")
    if _kvm_kind(KVM_HOST).startswith("regular"):
        return
    write(_not_kvm(), "", mode=0o600)
    ssh(KVM_HOST, f"mount --bind {_not_kvm()} /dev/kvm")
    if not _kvm_kind(KVM_HOST).startswith("regular"):
        kvm_unusable_revert()
        raise LabError(f"{KVM_HOST}: the bind mount over /dev/kvm did not take")
    if not _kvm_kind(None).startswith("character special"):   # must never happen: undo at once
        kvm_unusable_revert()
        raise LabError("the machine's own /dev/kvm changed: reverted")


def kvm_unusable_revert() -> None:
    for _ in range(3):
        if not _kvm_kind(KVM_HOST).startswith("regular"):
            break
        ssh(KVM_HOST, "umount /dev/kvm", check=False)
    else:
        raise LabError(f"{KVM_HOST}: /dev/kvm is still covered")
    _not_kvm().unlink(missing_ok=True)


def _into(*destinations):
    return lambda dom, src, dst: dst in destinations


# scenario -> which (domain, source, destination) the oracle migrates while it is applied: the
# pairs its fault can touch (all others behave as in clean). PREFLIGHT_LAB_FULL_ORACLE=1 migrates
# every pair anyway.
ORACLE_FOCUS = {
    "machine_type_missing": _into(MACHINE_FAULT_HOST),
    "host_uuid_clone": lambda dom, src, dst: {src, dst} == set(UUID_CLONE),
    "hosts_alias_localhost": _into(NAME_HOST),
    "hosts_alias_fqdn": _into(NAME_HOST),
    "migration_name_loopback": _into(NAME_HOST),
    "bridge_mtu_smaller": lambda dom, src, dst: dst == MTU_HOST and src == "hv1",
    "firewall_drop_subnet": _into(DROP_HOST),
    "kvm_unusable": _into(KVM_HOST),
}


def oracle_focus():
    """The pair filter for the scenarios applied now, or None (every pair)."""
    if os.environ.get("PREFLIGHT_LAB_FULL_ORACLE") == "1" or not ACTIVE:
        return None
    if not all(n in ORACLE_FOCUS for n in ACTIVE):
        return None
    return lambda dom, src, dst: any(ORACLE_FOCUS[n](dom, src, dst) for n in ACTIVE)


SCENARIOS = {
    "clean": (_noop, _noop),
    "bridge_missing": (bridge_missing_apply, bridge_missing_revert),
    "firewall_reject": (firewall_reject_apply, firewall_reject_revert),
    "mount_missing": (mount_missing_apply, mount_missing_revert),
    "invtsc": (invtsc_apply, invtsc_revert),
    "different_share": (different_share_apply, different_share_revert),
    "nfs_export_denies_host": (nfs_export_denies_host_apply, nfs_export_revert),
    "nfs_export_readonly": (nfs_export_readonly_apply, nfs_export_revert),
    "nfs_root_squash": (nfs_root_squash_apply, nfs_export_revert),
    "nfs_port_blocked": (nfs_port_blocked_apply, nas_reject_revert),
    "readonly_mount": (readonly_mount_apply, readonly_mount_revert),
    "iscsi_portal_blocked": (iscsi_portal_blocked_apply, nas_reject_revert),
    "backing_local": (backing_local_apply, backing_local_revert),
    "cdrom_local": (cdrom_local_apply, cdrom_local_revert),
    "cache_writeback": (cache_writeback_apply, cache_writeback_revert),
    "cache_writeback_nodrop": (cache_writeback_nodrop_apply, cache_writeback_nodrop_revert),
    "pool_missing": (pool_missing_apply, pool_missing_revert),
    "source_readonly": (source_readonly_apply, source_readonly_revert),
    "firewall_one_source": (firewall_one_source_apply, firewall_one_source_revert),
    "cpu_feature_missing": (cpu_feature_missing_apply, cpu_feature_missing_revert),
    "machine_type_missing": (machine_type_missing_apply, machine_type_missing_revert),
    "host_uuid_clone": (host_uuid_clone_apply, host_uuid_clone_revert),
    "hosts_alias_localhost": (hosts_alias_localhost_apply, names_revert),
    "hosts_alias_fqdn": (hosts_alias_fqdn_apply, names_revert),
    "migration_name_loopback": (migration_name_loopback_apply, names_revert),
    "bridge_mtu_smaller": (bridge_mtu_smaller_apply, bridge_mtu_smaller_revert),
    "firewall_drop_subnet": (firewall_drop_subnet_apply, firewall_drop_subnet_revert),
    "kvm_unusable": (kvm_unusable_apply, kvm_unusable_revert),
}

# A guest whose way home crosses its own fault (source_readonly: home's mount is read-only)
# goes home with the fault lifted for that one migration: (home, undo, redo) around move_home.
RETURN_HOOKS = {
    "source_readonly": (SOURCE_READONLY_HOST, source_readonly_revert, source_readonly_apply),
}
ACTIVE: list = []      # scenarios applied now (apply/revert keep it), for the oracle's return hooks

# What a real migration says for each fault, as (domain, source, destination) -> essential words.
EXPECTED_FAILURES = {
    "bridge_missing": {("vm-gluster", "hv1", BRIDGE_MISSING_HOST): ("br-app", "no such device")},
    # every guest that can migrate at all, from another host to the firewalled one
    "firewall_reject": {(g.name, g.home, FIREWALL_HOST): ("connection refused",)
                        for g in GUESTS if g.home != FIREWALL_HOST and g.disk != "local"},
    "mount_missing": {("vm-gluster", "hv1", MOUNT_MISSING_HOST): ("vm-gluster.qcow2",
                                                                  "no such file")},
    "different_share": {("vm-gluster", "hv1", MOUNT_MISSING_HOST): ("vm-gluster.qcow2",
                                                                    "no such file")},
    "invtsc": {("vm-invtsc", INVTSC_GUEST.home, d): ("invtsc",)
               for d in HYPERVISORS if d != INVTSC_GUEST.home},
    # libnfs: "Failed to mount nfs share: mount_cb: RPC error: Mount failed with error
    # MNT3ERR_ACCES(13) Permission denied(13)"
    "nfs_export_denies_host": {("vm-nfs", "hv2", NFS_DENIED_HOST): ("nfs share", "permission denied")},
    # libnfs: "open call failed with "NFS: ACCESS denied. Required access rw-. Allowed access r--""
    "nfs_export_readonly": {("vm-nfs", "hv2", NFS_DENIED_HOST): ("access denied", "rw-")},
    # root squashed, QEMU runs as root, image root:root 0644: the same ACCESS refusal everywhere
    "nfs_root_squash": {("vm-nfs", "hv2", d): ("access denied", "rw-") for d in HYPERVISORS if d != "hv2"},
    # libnfs: "Failed to mount nfs share: nfs_service failed"
    "nfs_port_blocked": {("vm-nfs", "hv2", NAS_FIREWALL_HOST): ("failed to mount nfs share",)},
    # fails only at the very end ('cont' on the destination); the guest resumes on the source
    "readonly_mount": {("vm-gluster", "hv1", READONLY_MOUNT_HOST): ("vm-gluster.qcow2",
                                                                    "read-only file system")},
    # "iSCSI: Failed to connect to LUN : iscsi_service failed with : ..."
    "iscsi_portal_blocked": {("vm-iscsi", "hv3", ISCSI_BLOCKED_HOST): ("iscsi", "failed to connect to lun")},
    # the destination libvirtd probes the chain itself: "Cannot access backing file
    # '/var/lib/libvirt/images/vm-overlay-base.qcow2' of storage file '/srv/vmstore/vm-overlay.qcow2'
    # (as uid:0, gid:0): No such file or directory"
    "backing_local": {(OVERLAY_GUEST.name, "hv1", d): ("backing file", "vm-overlay-base.qcow2", "no such file")
                      for d in HYPERVISORS if d != "hv1"},
    # readonly disks pass the source's safety check; the destination libvirtd then says
    # "Cannot access storage file '/var/lib/libvirt/images/vm-cdrom.iso': No such file or directory"
    "cdrom_local": {(CDROM_GUEST.name, "hv1", d): ("vm-cdrom.iso", "no such file")
                    for d in HYPERVISORS if d != "hv1"},
    # "Storage pool not found: no storage pool with matching name 'vmstore'" (hv1->hv2 migrates)
    "pool_missing": {(POOL_GUEST.name, "hv1", d): ("storage pool not found", POOL_NAME)
                     for d in HYPERVISORS if d not in POOL_HOSTS},
    "firewall_one_source": {(g.name, *FIREWALL_ONE_SOURCE): ("connection refused",) for g in GUESTS
                            if g.home == FIREWALL_ONE_SOURCE[0] and g.disk != "local"},
    # issue 10 (host compatibility); the oracle migrates ORACLE_FOCUS's pairs only.
    # "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support machine
    # type 'pc-q35-7.2'" (the destination libvirtd parses the incoming XML against its capabilities)
    "machine_type_missing": {(Q35_GUEST.name, Q35_GUEST.home, MACHINE_FAULT_HOST):
                             ("does not support machine type", "pc-q35-")},
    # "internal error: Attempt to migrate guest to the same host 03ffc6e2-..." both ways
    "host_uuid_clone": {(g.name, g.home, d): ("same host", str(stable_uuid("libvirt-host", UUID_CLONE[0])))
                        for g in GUESTS for d in UUID_CLONE if g.home in UUID_CLONE and d != g.home},
    # the destination hands back tcp:hv2.lab.example:49152; no source can resolve it: "Unable to
    # resolve address 'hv2.lab.example' service '49152': Temporary failure in name resolution"
    "hosts_alias_fqdn": {(g.name, g.home, NAME_HOST): ("unable to resolve address", NAME_FQDN)
                         for g in GUESTS if g.home != NAME_HOST and g.disk != "local"},
    # "unable to connect to server at 'hv2.lab.example:49152': Connection refused" (hv1's loopback)
    "migration_name_loopback": {(g.name, g.home, NAME_HOST): (NAME_FQDN, "connection refused")
                                for g in GUESTS if g.home == NAME_LOOPBACK_SOURCE and g.disk != "local"},
    # dropped, not rejected: "unable to connect to server at 'hv3:49152': Connection timed out"
    "firewall_drop_subnet": {(g.name, g.home, DROP_HOST): ("connection timed out",)
                             for g in GUESTS if g.home == DROP_SOURCE and g.disk != "local"},
    # libvirt's cached capabilities still offer kvm; QEMU: "qemu unexpectedly closed the monitor: kvm
    # version too old ... -accel kvm: failed to initialize kvm: Inappropriate ioctl for device"
    "kvm_unusable": {(g.name, g.home, KVM_HOST): ("failed to initialize kvm",)
                     for g in GUESTS if g.home != KVM_HOST and g.disk != "local"},
}

# Scenarios whose extra guest really migrates everywhere (preflight must say pass/warn for it).
EXPECTED_SUCCESSES = {
    # QEMU has migration-file-drop-cache: libvirt allows cache='writeback'
    "cache_writeback": {(WRITEBACK_GUEST.name, "hv1", d) for d in HYPERVISORS if d != "hv1"},
    # the flag removed from the source's capabilities cache (and the guest started after that):
    # libvirt 9.0's virFileIsClusterFS counts GlusterFS FUSE mounts as coherent, so the cache rule
    # does not apply and the migration still succeeds (no "data corruption" refusal here)
    "cache_writeback_nodrop": {(WRITEBACK_GUEST.name, "hv1", d) for d in HYPERVISORS if d != "hv1"},
    # the guest keeps the read-write file it opened; the destinations' mounts are read-write
    "source_readonly": {("vm-gluster", SOURCE_READONLY_HOST, d) for d in HYPERVISORS if d != SOURCE_READONLY_HOST},
    # the other sources still reach the lowest port of the range
    "firewall_one_source": {(g.name, g.home, FIREWALL_ONE_SOURCE[1]) for g in GUESTS
                            if g.home not in FIREWALL_ONE_SOURCE and g.disk != "local"},
    # hv3's libvirt believes KVM lacks F, but QEMU there enables F: libvirt's check of the
    # incoming live CPU (check='full') passes, and host-passthrough is not checked at all
    "cpu_feature_missing": {(PASSTHROUGH_GUEST.name, "hv1", d) for d in HYPERVISORS if d != "hv1"}
    | {(g.name, g.home, CPU_FAULT_HOST) for g in GUESTS if g.cpu == "host-model" and g.disk != "local"
       and g.home != CPU_FAULT_HOST},
    # issue 10: the destination's own name on its localhost line: libvirt discards the canonical
    # name "localhost" and hands back the short name, which the sources resolve correctly
    "hosts_alias_localhost": {(g.name, g.home, NAME_HOST) for g in GUESTS
                              if g.home != NAME_HOST and g.disk != "local"},
    # the other source resolves hv2.lab.example to hv2's real address
    "migration_name_loopback": {(g.name, g.home, NAME_HOST) for g in GUESTS
                                if g.home not in (NAME_HOST, NAME_LOOPBACK_SOURCE) and g.disk != "local"},
    # libvirt sets the new tap's MTU (the bridge's, or <mtu>) and checks nothing
    "bridge_mtu_smaller": {("vm-gluster", "hv1", MTU_HOST), (MTU_GUEST.name, MTU_GUEST.home, MTU_HOST)},
    # the subnet holds hv1 only
    "firewall_drop_subnet": {(g.name, g.home, DROP_HOST) for g in GUESTS
                             if g.home not in (DROP_HOST, DROP_SOURCE) and g.disk != "local"},
}

# Pairs whose real migration SUCCEEDS but where preflight must FAIL, by design, and the only
# checks allowed to block them. Here: the destination's libvirt says it cannot provide a CPU
# feature the guest uses; the real migration still works only because the lab's "different"
# CPU is the same silicon (a real host whose KVM lacks F would lose it under the guest, or
# refuse it). test_e2e holds these pairs to exactly these blockers; all others must agree.
STRICTER_BY_DESIGN = {
    "cpu_feature_missing": {pair: ("cpu.compatible",) for pair in EXPECTED_SUCCESSES["cpu_feature_missing"]
                            if pair[2] == CPU_FAULT_HOST},
}


def apply(name: str) -> None:
    SCENARIOS[name][0]()
    if name not in ACTIVE:
        ACTIVE.append(name)


def revert(name: str) -> None:
    """Undo the fault, then move any guest that a migration left elsewhere back home."""
    SCENARIOS[name][1]()
    if name in ACTIVE:
        ACTIVE.remove(name)
    restore_layout({g.name: g.home for g in GUESTS})


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab.lab", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("up", "down", "status", "apply", "revert", "oracle"))
    ap.add_argument("scenario", nargs="?", choices=sorted(SCENARIOS))
    args = ap.parse_args(argv)
    if args.action in ("apply", "revert") and not args.scenario:
        ap.error(f"{args.action} needs a scenario")
    if args.action == "up":
        print(json.dumps(asdict(up()), indent=2))
    elif args.action == "down":
        down()
    elif args.action == "status":
        print(json.dumps(status(), indent=2))
    elif args.action == "apply":
        apply(args.scenario)
    elif args.action == "revert":
        revert(args.scenario)
    elif args.action == "oracle":
        t = time.monotonic()
        results = oracle(args.scenario)
        print(format_table(results))
        print(f"({len(results)} migrations tried in {time.monotonic() - t:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
