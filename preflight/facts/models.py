"""Typed facts: what parsers produce from raw recorded outputs and what checks read.

Everything here is plain data (frozen dataclasses, tuples, dicts), built only by the pure
parsers in `preflight.facts.parse`, and never touches a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


# --- guests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DiskHost:
    name: str
    port: Optional[int] = None
    transport: Optional[str] = None
    socket: Optional[str] = None     # transport='unix': the socket path (name is then the socket path too)


@dataclass(frozen=True)
class Disk:
    """One <disk> of a domain.

    `type` is libvirt's disk type (file, block, network, volume, dir, nvme, vhostuser);
    `path` is the file or block path for file/block/dir disks; network disks carry
    `protocol`, `name` (export path / IQN/LUN / pool/image) and `hosts`; volume disks carry
    `pool` and `volume`.
    """

    target: str                      # vda, sda, hdc, ...
    device: str = "disk"             # disk, cdrom, floppy, lun
    type: str = "file"
    path: Optional[str] = None
    protocol: Optional[str] = None
    name: Optional[str] = None
    hosts: tuple = ()                # tuple[DiskHost]
    pool: Optional[str] = None
    volume: Optional[str] = None
    driver: Optional[str] = None     # driver name (qemu)
    format: Optional[str] = None     # driver type (raw, qcow2)
    cache: Optional[str] = None      # None means the hypervisor default
    readonly: bool = False
    shareable: bool = False
    has_auth: bool = False           # an <auth> element exists (secret usage/uuid, never its value)
    auth_secret: Optional[str] = None  # the secret's uuid or usage name, never its value
    empty: bool = False              # a cdrom/floppy drive with no medium
    transient: bool = False          # <transient/>: libvirt refuses to migrate such a domain

    @property
    def label(self) -> str:
        if self.path:
            return self.path
        if self.protocol:
            host = self.hosts[0].name if self.hosts else "?"
            return f"{self.protocol}://{host}/{self.name or ''}"
        if self.pool:
            return f"pool {self.pool} volume {self.volume}"
        return "(no source)"


@dataclass(frozen=True)
class GuestInterface:
    type: str                        # bridge, network, direct, user, ethernet, vhostuser, hostdev
    source: Optional[str] = None     # bridge name, network name or direct source dev
    mac: Optional[str] = None
    model: Optional[str] = None
    target_dev: Optional[str] = None
    portgroup: Optional[str] = None
    mode: Optional[str] = None       # for direct: bridge, vepa, passthrough, private
    virtualport: Optional[str] = None  # <virtualport type=...>: openvswitch, 802.1Qbg, 802.1Qbh, midonet
    teaming: Optional[str] = None    # <teaming type=...>: persistent, transient

    @property
    def label(self) -> str:
        return f"{self.type} {self.source or '?'}" + (f" ({self.mac})" if self.mac else "")


@dataclass(frozen=True)
class HostDevice:
    mode: str                        # subsystem or capabilities
    type: str                        # pci, usb, scsi, mdev, ...
    address: Optional[str] = None    # e.g. 0000:03:00.0 or bus/device
    teaming: Optional[str] = None    # <teaming type='transient'> lets QEMU unplug it during migration


@dataclass(frozen=True)
class CpuFeature:
    name: str
    policy: str                      # require, force, optional, disable, forbid


@dataclass(frozen=True)
class GuestCpu:
    mode: Optional[str] = None       # custom, host-model, host-passthrough, maximum
    match: Optional[str] = None
    model: Optional[str] = None
    fallback: Optional[str] = None
    vendor: Optional[str] = None
    features: tuple = ()             # tuple[CpuFeature]
    xml: Optional[str] = None        # the <cpu> element as text, for compareHypervisorCPU
    migratable: Optional[str] = None  # host-passthrough/maximum migratable='on'/'off'

    def requires(self, feature: str) -> bool:
        return any(f.name == feature and f.policy in ("require", "force") for f in self.features)


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: Optional[str] = None
    active: bool = False
    persistent: bool = True
    state: Optional[str] = None      # running, paused, shutoff, ...
    type: Optional[str] = None       # kvm, qemu
    memory_kib: Optional[int] = None
    vcpus: Optional[int] = None
    machine: Optional[str] = None
    cpu: GuestCpu = field(default_factory=GuestCpu)
    tsc_frequency: Optional[int] = None   # <clock><timer name='tsc' frequency='...'/>
    disks: tuple = ()                # tuple[Disk]
    interfaces: tuple = ()           # tuple[GuestInterface]
    hostdevs: tuple = ()             # tuple[HostDevice]
    xml: Optional[str] = None        # migratable XML with secrets scrubbed
    filesystems: tuple = ()          # tuple[Filesystem]
    shmems: tuple = ()               # tuple[Shmem]
    error: Optional[str] = None      # set when this domain's XML could not be parsed: judge nothing


@dataclass(frozen=True)
class Filesystem:
    """One <filesystem> (host directory shared into the guest)."""

    driver: Optional[str] = None     # virtiofs, path, handle, loop, nbd, ... (None = hypervisor default)
    source: Optional[str] = None
    target: Optional[str] = None


@dataclass(frozen=True)
class Shmem:
    """One <shmem> (ivshmem) device."""

    name: str
    role: Optional[str] = None       # master, peer, or None (libvirt default: not master)
    model: Optional[str] = None


# --- hosts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    major_minor: str
    root: str
    mountpoint: str
    options: tuple                   # per-mount options: rw, noatime, ...
    fstype: str
    source: str
    super_options: tuple             # per-superblock options: vers=4.2, soft, addr=...

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True)
class NetInterface:
    name: str
    kind: Optional[str] = None       # bridge, veth, bond, vlan, ... (ip -d linkinfo kind); None = physical/unknown
    up: bool = False
    master: Optional[str] = None
    mtu: Optional[int] = None
    addresses: tuple = ()            # "10.0.0.1/24", ...
    operstate: Optional[str] = None  # UP, DOWN, UNKNOWN, LOWERLAYERDOWN (ip operstate)
    slave_kind: Optional[str] = None  # linkinfo info_slave_kind: bridge, openvswitch, bond


@dataclass(frozen=True)
class LibvirtNetwork:
    name: str
    active: bool
    bridge: Optional[str] = None
    forward: Optional[str] = None    # nat, route, bridge, open, None (isolated) ...
    persistent: bool = True
    autostart: bool = False


@dataclass(frozen=True)
class HostFacts:
    name: str                                 # the inventory name
    reachable: bool = True
    error: Optional[str] = None               # why the host could not be reached
    address: Optional[str] = None
    hostname: Optional[str] = None            # `hostname` as the host says it
    fqdn: Optional[str] = None                # `hostname -f`, or None when it cannot be resolved
    libvirt_hostname: Optional[str] = None    # virConnectGetHostname: what libvirt migrates to
    machine_id: Optional[str] = None
    host_uuid: Optional[str] = None           # libvirt capabilities <host><uuid>
    arch: Optional[str] = None
    cpu_vendor: Optional[str] = None
    cpu_model: Optional[str] = None
    cpu_features: Optional[tuple] = None      # host CPU feature names from capabilities; None = unknown
    libvirt_version: Optional[str] = None     # "9.0.0"
    qemu_version: Optional[str] = None        # "7.2.0"
    domains: tuple = ()                       # tuple[Domain]
    mounts: tuple = ()                        # tuple[Mount]
    interfaces: dict = field(default_factory=dict)   # name -> NetInterface
    networks: dict = field(default_factory=dict)     # name -> LibvirtNetwork
    migration_ports: tuple = (49152, 49215)   # qemu.conf migration_port_min/max
    fact_errors: dict = field(default_factory=dict)  # fact key -> why it is missing
    round_trips: int = 0
    libvirt_calls: int = 0

    def domain(self, name: str) -> Optional[Domain]:
        return next((d for d in self.domains if d.name == name), None)


@dataclass(frozen=True)
class CpuVerdict:
    """The destination libvirt's compareHypervisorCPU answer for one source guest."""

    result: Optional[str]            # identical, superset, incompatible, or None when the call failed
    message: Optional[str] = None    # libvirt's error text (incompatible or failure)


@dataclass(frozen=True)
class PortProbe:
    """A TCP connect from the source host to a port of the destination."""

    port: int
    purpose: str                     # migration, libvirt, ssh
    target: str                      # the address or name the source connected to
    outcome: str                     # answered, refused, timeout, unreachable, error
    detail: Optional[str] = None
    elapsed_ms: Optional[int] = None


@dataclass(frozen=True)
class PairFacts:
    source: str
    destination: str
    cpu: dict = field(default_factory=dict)      # domain name -> CpuVerdict
    probes: tuple = ()                           # tuple[PortProbe]
    resolved: Optional[str] = None               # how the source resolves the destination's libvirt hostname
    fact_errors: dict = field(default_factory=dict)
    round_trips: int = 0


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    hosts: dict                                  # name -> HostFacts (inventory order)
    pairs: dict                                  # (source, destination) -> PairFacts
    storage_hosts: tuple = ()

    @property
    def hypervisors(self) -> list:
        return list(self.hosts.values())
