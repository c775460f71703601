"""The scale lab: N lightweight namespace hypervisors (sshd + libvirtd + defined domains each).

Separate from the 3-host lab (tests/lab/lab.py, whose helpers it reuses): its own names
(``PREFIX + "x-"``: netns ``pfyx-sh001``, veths ``pfyxv001``, bridge ``pfyx-br``), its own /24
(PREFLIGHT_SCALE_LAB_SUBNET, default the lab subnet with the second octet + 1, e.g. 10.252.67) and
its own state dir (``$PREFLIGHT_LAB_DIR-scale``), so both labs can be up at once.

Each host is a network namespace with its own UTS hostname, /etc/hosts, /etc/machine-id (also over
/var/lib/dbus/machine-id), host key, libvirtd (own host_uuid, own /etc/libvirt, /run,
/var/lib/libvirt, /var/cache/libvirt) and Debian's default dot files over /root/.bashrc and
/root/.profile.  Domains are defined (their XML written into the host's /etc/libvirt/qemu before
libvirtd starts), never started: no QEMU runs.  QEMU's capabilities are probed once, on the first
host, and that cache is copied to every other host before it boots (a probe costs ~4.5 s of CPU).
Hosts boot in parallel batches.

    python -m tests.lab.scale_lab up [N] | down | status
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import lab
from tests.lab.lab import LabError, log, run, stable_uuid, write

SPREFIX = lab.PREFIX + "x"
LAB_DIR = Path(str(lab.LAB_DIR) + "-scale")
DOMAINS_PER_HOST = 2
FIRST_OCTET = 10        # host i (1-based) has address SUBNET.(9 + i)
MAX_HOSTS = 240
BOOT_BATCH = 8          # hosts booting at once (2 cores shared by many engineers)
PRIVATE_DIRS = ("etc/libvirt", "var/lib/libvirt", "var/log/libvirt", "var/cache/libvirt")
CAPS_DIR = "var/cache/libvirt/qemu/capabilities"


def scale_subnet() -> str:
    env = os.environ.get("PREFLIGHT_SCALE_LAB_SUBNET")
    if env:
        return env
    a, b, c = lab.SUBNET.split(".")
    return f"{a}.{(int(b) + 1) % 256}.{c}"


SUBNET = scale_subnet()


def host_name(i: int) -> str:
    return f"sh{i:03d}"


def ns_name(host: str) -> str:
    return f"{SPREFIX}-{host}"


def veth_name(host: str) -> str:
    return f"{SPREFIX}v{host[2:]}"


def bridge_name() -> str:
    return f"{SPREFIX}-br"


def address(host: str) -> str:
    return f"{SUBNET}.{FIRST_OCTET - 1 + int(host[2:])}"


def hosts_of(n: int) -> list:
    return [host_name(i) for i in range(1, n + 1)]


def domain_name(host: str, k: int) -> str:
    return f"vm-{host}-{k}"


# ---------------------------------------------------------------------------------------------
# Tear-down


def namespaces() -> list:
    out = run(["ip", "netns", "list"], check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(SPREFIX + "-")]


def down() -> float:
    """Remove the scale lab (and whatever an earlier run left).  Safe to run twice."""
    t0 = time.monotonic()
    nss = namespaces()
    lab.kill_namespace_processes(nss)
    if nss:
        run(["ip", "-force", "-batch", "-"], check=False,
            input="".join(f"netns del {ns}\n" for ns in nss), timeout=300)
    for link in Path("/sys/class/net").iterdir():
        if link.name.startswith(SPREFIX + "v") or link.name == bridge_name():
            run(["ip", "link", "del", link.name], check=False)
    netns_etc = Path("/etc/netns")
    if netns_etc.is_dir():
        for d in netns_etc.glob(f"{SPREFIX}-*"):
            shutil.rmtree(d, ignore_errors=True)
        with contextlib.suppress(OSError):
            netns_etc.rmdir()
    lab.unmount_under(LAB_DIR)
    if (LAB_DIR / lab.MARKER).exists():
        shutil.rmtree(LAB_DIR, ignore_errors=True)
    took = time.monotonic() - t0
    log(f"scale lab down in {took:.1f}s ({len(nss)} namespaces)")
    return took


# ---------------------------------------------------------------------------------------------
# Files


def write_ssh_material(hosts: list) -> None:
    lab.keygen(LAB_DIR / "id_ed25519", f"{SPREFIX}-lab")

    def hostkey(host):
        key = LAB_DIR / host / "ssh_host_ed25519_key"
        key.parent.mkdir(parents=True, exist_ok=True)
        lab.keygen(key, f"{host}@{SPREFIX}-lab")
        pub = key.with_suffix(".pub").read_text().split()
        return f"{host},{address(host)} {pub[0]} {pub[1]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        known = list(pool.map(hostkey, hosts))
    write(LAB_DIR / "known_hosts", "\n".join(known) + "\n")
    write(LAB_DIR / "ssh_config", "".join(
        f"Host {h}\n  HostName {address(h)}\n  User root\n  IdentityFile {LAB_DIR / 'id_ed25519'}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {LAB_DIR / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n\n" for h in hosts))
    root_ssh = LAB_DIR / "root-ssh"
    root_ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy(LAB_DIR / "id_ed25519.pub", root_ssh / "authorized_keys")
    (root_ssh / "authorized_keys").chmod(0o600)


def write_inventory(hosts: list) -> Path:
    return write(LAB_DIR / "inventory.toml",
                 "[clusters.scale]\n"
                 f"hosts = [{', '.join(json.dumps(h) for h in hosts)}]\n"
                 f"ssh_config = {json.dumps(str(LAB_DIR / 'ssh_config'))}\n"
                 f"known_hosts = {json.dumps(str(LAB_DIR / 'known_hosts'))}\n"
                 'user = "root"\n')


def domain_xml(host: str, k: int, domain_type: str) -> str:
    name = domain_name(host, k)
    mac = lab.guest_mac(name, 0)
    return f"""<domain type='{domain_type}'>
  <name>{name}</name>
  <uuid>{stable_uuid('scale-guest', name)}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'><mac address='{mac}'/><source bridge='br0'/><model type='virtio'/></interface>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def prepare_host(host: str, hosts_file: str, domain_type: str, etc_libvirt: Path) -> None:
    """Files of one host: /etc/netns overrides, private libvirt dirs with the domains, sshd_config."""
    d = Path("/etc/netns") / ns_name(host)
    write(d / "hosts", hosts_file)
    write(d / "hostname", host + "\n")
    write(d / "machine-id", stable_uuid("scale-machine-id", host).hex + "\n", mode=0o444)
    h = LAB_DIR / host
    for p in PRIVATE_DIRS:
        (h / "fs" / p).mkdir(parents=True, exist_ok=True)
    etc = h / "fs/etc/libvirt"
    shutil.rmtree(etc)
    shutil.copytree(etc_libvirt, etc, symlinks=True)
    write(etc / "libvirtd.conf",
          lab.LIBVIRTD_CONF.format(host_uuid=stable_uuid("scale-libvirt-host", host)))
    for k in range(1, DOMAINS_PER_HOST + 1):
        write(etc / "qemu" / f"{domain_name(host, k)}.xml", domain_xml(host, k, domain_type))
    write(h / "sshd_config", sshd_config(host))
    write(h / "boot.sh", boot_script(host), mode=0o755)


def sshd_config(host: str) -> str:
    h = LAB_DIR / host
    return (f"ListenAddress {address(host)}\nPort 22\n"
            f"HostKey {h / 'ssh_host_ed25519_key'}\nPidFile {h / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {LAB_DIR / 'root-ssh' / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nAcceptEnv LANG LC_*\n")


def boot_script(host: str) -> str:
    h = LAB_DIR / host
    lines = [
        "set -eu",
        f"hostname {host}",
        "ip link set lo up",
        f"ip addr add {address(host)}/24 dev eth0",
        "ip link set eth0 up",
        "ip link add br0 type bridge && ip link set br0 up",
        "mount -t tmpfs -o mode=0755 lab-run /run",
        "mkdir -p /run/sshd /run/lock /run/libvirt",
    ]
    lines += [f"mount --bind {h / 'fs' / d} /{d}" for d in PRIVATE_DIRS]
    lines += [
        "for f in bashrc profile; do [ ! -e /root/.$f ] || "
        "mount --bind /usr/share/base-files/dot.$f /root/.$f; done",
        "if [ -e /var/lib/dbus/machine-id ]; then mount --bind /etc/machine-id "
        "/var/lib/dbus/machine-id; fi",
        "sysctl -qw net.ipv4.tcp_syn_retries=3",
        f"/usr/sbin/sshd -f {h / 'sshd_config'}",
        # libvirtd --daemon returns once the daemon has initialised its drivers
        "t0=$(date +%s%N)",
        f"/usr/sbin/libvirtd --daemon --pid-file={h / 'libvirtd.pid'}",
        f"echo $(( ($(date +%s%N) - t0) / 1000000 )) > {h / 'libvirtd_start_ms'}",
    ]
    return "\n".join(lines) + "\n"


def boot(host: str) -> None:
    h = LAB_DIR / host
    with open(h / "boot.log", "w") as logf:
        p = subprocess.run(["ip", "netns", "exec", ns_name(host), "unshare", "--uts",
                            "sh", str(h / "boot.sh")], stdin=subprocess.DEVNULL, stdout=logf,
                           stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise LabError(f"{host}: boot script failed:\n{(h / 'boot.log').read_text()}")


def ssh(host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run(["ssh", "-F", str(LAB_DIR / "ssh_config"), "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", host, command], timeout=timeout)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def libvirtd_pid(host: str) -> int:
    return int((LAB_DIR / host / "libvirtd.pid").read_text().split()[0])


# ---------------------------------------------------------------------------------------------
# up


def up(n: int = 200, batch: int = BOOT_BATCH) -> dict:
    """Bring up N hosts from whatever state; returns figures (timings, libvirtd RSS/start-up)."""
    lab.check_settings()
    if not 1 <= n <= MAX_HOSTS:
        raise LabError(f"scale lab: N={n}: use 1-{MAX_HOSTS} hosts")
    t0 = time.monotonic()
    figures = {"hosts": n, "cleanup_s": round(down(), 1)}
    if LAB_DIR.exists() and any(LAB_DIR.iterdir()):
        raise LabError(f"{LAB_DIR} exists, is not empty and was not made by the lab: not using it")
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    LAB_DIR.chmod(0o755)
    (LAB_DIR / lab.MARKER).write_text("made by tests/lab/scale_lab.py; removed by its down()\n")
    hosts = hosts_of(n)
    domain_type = lab.kvm_domain_type()

    t = time.monotonic()
    write_ssh_material(hosts)
    write_inventory(hosts)
    for f in ("hosts", "hostname", "machine-id"):
        if not Path("/etc", f).exists():
            Path("/etc", f).touch()
    hosts_file = ("127.0.0.1\tlocalhost\n" + "".join(f"{address(h)}\t{h}\n" for h in hosts)
                  + "::1\tlocalhost ip6-localhost ip6-loopback\n")
    # one clean copy of /etc/libvirt (no domains, no default NAT network) copied to every host
    template = LAB_DIR / "etc-libvirt"
    shutil.copytree("/etc/libvirt", template, symlinks=True)
    shutil.rmtree(template / "qemu/networks/autostart", ignore_errors=True)
    for f in (template / "qemu").glob("*.xml"):
        f.unlink()
    write(template / "qemu.conf", lab.QEMU_CONF)
    for host in hosts:
        prepare_host(host, hosts_file, domain_type, template)
    figures["files_s"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    br = bridge_name()
    cmds = [f"link add {br} type bridge", f"addr add {SUBNET}.1/24 dev {br}", f"link set {br} up"]
    for host in hosts:
        cmds += [f"netns add {ns_name(host)}",
                 f"link add {veth_name(host)} type veth peer name eth0 netns {ns_name(host)}",
                 f"link set {veth_name(host)} master {br} up"]
    run(["ip", "-batch", "-"], input="\n".join(cmds) + "\n", timeout=300)
    figures["network_s"] = round(time.monotonic() - t, 1)

    # the first host probes QEMU's capabilities; the others start from its cache
    t = time.monotonic()
    boot(hosts[0])
    lab.wait_for(f"sshd on {hosts[0]}", lambda: lab.tcp_open(address(hosts[0]), 22), 20)
    ssh(hosts[0], "virsh -q domcapabilities >/dev/null", timeout=120)
    caps = LAB_DIR / hosts[0] / "fs" / CAPS_DIR
    for host in hosts[1:]:
        shutil.copytree(caps, LAB_DIR / host / "fs" / CAPS_DIR, dirs_exist_ok=True)
    figures["caps_probe_s"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    with ThreadPoolExecutor(max_workers=batch) as pool:
        list(pool.map(boot, hosts[1:]))
    for host in hosts:
        lab.wait_for(f"sshd on {host}", lambda h=host: lab.tcp_open(address(h), 22), 20, 0.05)
    figures["boot_s"] = round(time.monotonic() - t, 1)
    figures["boot_batch"] = batch

    starts = sorted(int((LAB_DIR / h / "libvirtd_start_ms").read_text()) for h in hosts[1:]) or [0]
    rss = sorted(rss_kib(libvirtd_pid(h)) for h in hosts)
    figures["libvirtd_start_ms"] = {"median": starts[len(starts) // 2], "max": starts[-1],
                                    "first_host_with_probe": int(
                                        (LAB_DIR / hosts[0] / "libvirtd_start_ms").read_text())}
    figures["libvirtd_rss_mib"] = {"median": round(rss[len(rss) // 2] / 1024, 1),
                                   "max": round(rss[-1] / 1024, 1),
                                   "total": round(sum(rss) / 1024, 1)}
    figures["total_s"] = round(time.monotonic() - t0, 1)
    info = {"prefix": SPREFIX, "subnet": SUBNET, "lab_dir": str(LAB_DIR),
            "inventory": str(LAB_DIR / "inventory.toml"), "cluster": "scale",
            "ssh_config": str(LAB_DIR / "ssh_config"), "known_hosts": str(LAB_DIR / "known_hosts"),
            "hosts": {h: address(h) for h in hosts},
            "domains": {domain_name(h, k): h for h in hosts for k in range(1, DOMAINS_PER_HOST + 1)},
            "machine_ids": {h: stable_uuid("scale-machine-id", h).hex for h in hosts},
            "host_uuids": {h: str(stable_uuid("scale-libvirt-host", h)) for h in hosts},
            "figures": figures}
    write(LAB_DIR / "lab.json", json.dumps(info, indent=2) + "\n")
    log(f"scale lab up: {figures}")
    return info


def status() -> dict:
    nss = namespaces()
    return {"namespaces": len(nss), "lab_dir": str(LAB_DIR), "exists": LAB_DIR.exists()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="the scale lab of N namespace hypervisors")
    ap.add_argument("action", choices=("up", "down", "status"))
    ap.add_argument("n", nargs="?", type=int, default=200)
    ap.add_argument("--batch", type=int, default=BOOT_BATCH)
    args = ap.parse_args(argv)
    if args.action == "up":
        print(json.dumps(up(args.n, args.batch)["figures"], indent=2))
    elif args.action == "down":
        down()
    else:
        print(json.dumps(status(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
