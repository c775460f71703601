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
    auth_secret_by: Optional[str] = None    # "uuid" or "usage": how <auth><secret> names the secret
    auth_secret_type: Optional[str] = None  # <secret type=...>: ceph, iscsi, ...
    empty: bool = False              # a cdrom/floppy drive with no medium
    transient: bool = False          # <transient/>: libvirt refuses to migrate such a domain
    # <backingStore> chain from the live XML: None = the XML says nothing (inactive XML, old
    # libvirt); () = libvirt recorded that the chain ends here; else the backing files in order.
    backing: Optional[tuple] = None  # tuple[str]: backing file paths/labels, top's backing first
    initiator: Optional[str] = None  # iSCSI: <source><initiator><iqn name=...>; None = QEMU's default

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
    check: Optional[str] = None      # none, partial, full (libvirt fills it in; live XML: full once verified)
    model: Optional[str] = None
    fallback: Optional[str] = None
    vendor: Optional[str] = None
    features: tuple = ()             # tuple[CpuFeature]
    xml: Optional[str] = None        # the <cpu> element as text, for compareHypervisorCPU
    migratable: Optional[str] = None  # host-passthrough/maximum migratable='on'/'off'

    def requires(self, feature: str) -> bool:
        return any(f.name == feature and f.policy in ("require", "force") for f in self.features)

    @property
    def disabled(self) -> tuple:
        """Features the definition turns off (policy disable/forbid), in document order."""
        return tuple(f.name for f in self.features if f.policy in ("disable", "forbid"))

    @property
    def summary(self) -> str:
        """'qemu64 -pni -svm', 'host-passthrough', 'kvm64 +vme ... (23 features)' for evidence."""
        if self.mode in ("host-passthrough", "maximum"):
            head = self.mode
        else:
            head = self.model or self.mode or "?"
        marks = [("-" if f.policy in ("disable", "forbid") else "+") + f.name for f in self.features]
        if len(marks) <= 8:
            return " ".join([head] + marks)
        # long host-model expansions: the count of added ones, the disabled ones by name
        off = [m for m in marks if m.startswith("-")]
        shown = " ".join(off[:8]) + (f" (+{len(off) - 8} more disabled)" if len(off) > 8 else "")
        return f"{head} +{len(marks) - len(off)} features" + (f" {shown}" if off else "")


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
    # The CPU the running guest really has: the <cpu> of its live XML (virDomainGetXMLDesc
    # flags 0), which is what libvirt's migration cookie carries to the destination. None when
    # the guest is not running or the live XML was not gathered/parsed (then live_cpu_note says why).
    live_cpu: Optional[GuestCpu] = None
    live_cpu_note: Optional[str] = None
    live_xml: Optional[str] = None   # the live XML itself, secrets scrubbed (<backingStore> chains)
    filesystems: tuple = ()          # tuple[Filesystem]
    shmems: tuple = ()               # tuple[Shmem]
    error: Optional[str] = None      # set when this domain's XML could not be parsed: judge nothing
    emulator: Optional[str] = None   # <devices><emulator>: whose QEMU capabilities apply
    nvram: Optional[str] = None      # <os><nvram> file (UEFI variables); None = no NVRAM file
    nvram_template: Optional[str] = None
    tpms: tuple = ()                 # tuple[Tpm]
    # what the guest asks of a host (machine type, emulator, arch, NICs, memory, huge pages, ...):
    # preflight.facts.guest_needs.GuestNeeds of the same XML; None = it could not be read (needs_error)
    needs: Optional["GuestNeeds"] = None  # noqa: F821 - defined in preflight.facts.guest_needs
    needs_error: Optional[str] = None


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
    cpu_microcode: Optional[int] = None       # revision: capabilities <microcode version>, else /proc/cpuinfo
    cpu_signature: Optional[tuple] = None     # (family, model, stepping): capabilities <signature>/cpuinfo
    cpu_model_name: Optional[str] = None      # /proc/cpuinfo "model name" (evidence only)
    libvirt_version: Optional[str] = None     # "9.0.0"
    qemu_version: Optional[str] = None        # "7.2.0"
    domains: tuple = ()                       # tuple[Domain]
    mounts: tuple = ()                        # tuple[Mount]
    interfaces: dict = field(default_factory=dict)   # name -> NetInterface
    networks: dict = field(default_factory=dict)     # name -> LibvirtNetwork
    migration_ports: tuple = (49152, 49215)   # qemu.conf migration_port_min/max
    fstab: tuple = ()                         # tuple[preflight.facts.fstab.FstabEntry]
    mount_units: tuple = ()                   # ((unit, state, mount point), ...) systemd unit files
    qemu_user: Optional[str] = None           # qemu.conf user (or the package's built-in default)
    qemu_group: Optional[str] = None
    qemu_user_from: Optional[str] = None      # where qemu_user was read
    dynamic_ownership: Optional[bool] = None
    nfs_probes: Optional[tuple] = None        # ((server, port, purpose, target, outcome, detail), ...); None = not probed
    portal_probes: Optional[tuple] = None     # network-disk servers: ((target, port, protocol, outcome, detail), ...); None = not probed
    nfs_showmount: Optional[dict] = None      # server (lower case) -> ToolListing (showmount -e from this host); None = not gathered
    iscsi_lists: Optional[dict] = None        # (host lower, port, initiator) -> ToolListing (iscsi-ls -s); None = not gathered
    fact_errors: dict = field(default_factory=dict)  # fact key -> why it is missing
    round_trips: int = 0
    libvirt_calls: int = 0
    # storage: disk resolution, cache mode, block identity
    block: Optional["BlockFacts"] = None      # None = not gathered (fact key "block")
    qemu_caps: dict = field(default_factory=dict)    # emulator path -> QemuCaps (fact key "qemu_caps")
    pools: dict = field(default_factory=dict)        # pool name -> StoragePool (fact key "pools")
    volumes: dict = field(default_factory=dict)      # (pool, volume) -> PoolVolume (fact key "pools")
    disk_chains: dict = field(default_factory=dict)  # image path/URL -> DiskChain (fact key "chains")
    # storage: cluster file systems, QEMU's write access, network-disk secrets
    cluster_stack: Optional["ClusterStack"] = None   # fact key "cluster_stack"
    qemu_cred: Optional["QemuCredentials"] = None    # fact key "image_access" (2nd exec: id/getent)
    file_stats: dict = field(default_factory=dict)   # path -> FileStat (fact key "image_access")
    write_tests: Optional[dict] = None               # directory -> WriteTest; None = not run (--write-test)
    secrets: Optional[tuple] = None                  # tuple[LibvirtSecret]; fact key "secrets"
    fs_ids: Optional[dict] = None                    # blkid: device -> (TYPE, UUID); fact key "blkid"
    # host compatibility: issue 10 (preflight.facts.compat_facts.CompatFacts; keys kvm_device, memory, ...)
    compat: Optional["CompatFacts"] = None  # noqa: F821 - defined in preflight.facts.compat_facts
    # libvirt capabilities beyond the CPU: emulators and machine types per arch and domain type,
    # security models, page sizes (preflight.facts.hostcaps.HostCaps; fact key "capabilities")
    hostcaps: Optional["HostCaps"] = None  # noqa: F821 - defined in preflight.facts.hostcaps

    def domain(self, name: str) -> Optional[Domain]:
        return next((d for d in self.domains if d.name == name), None)


@dataclass(frozen=True)
class ToolListing:
    """A storage server's answer to a listing tool run FROM a hypervisor (pair phase):
    `showmount -e` (exports) or `iscsi-ls -s` (targets and LUNs). See preflight.facts.listings."""

    server: str                      # NFS server as named by the mount/disk, or the portal "host:port"
    status: str                      # listed (tool ran, exit 0), absent, timeout, error, skipped (CHAP)
    command: str = ""
    detail: Optional[str] = None     # stderr / why not run
    exports: tuple = ()              # showmount: ((path, (group, ...)), ...)
    targets: dict = field(default_factory=dict)   # iscsi-ls: iqn -> ((lun, type), ...)


@dataclass(frozen=True)
class CpuVerdict:
    """The destination libvirt's compareHypervisorCPU answer for one source guest."""

    result: Optional[str]            # identical, superset, incompatible, or None when the call failed
    message: Optional[str] = None    # libvirt's error text (incompatible or failure)
    # which definition was compared (preflight.facts.cpu_defs): "live" (the guest's live <cpu>),
    # "configured" (the migratable XML's; recordings without the live XML), "source-host"
    # (host-passthrough/maximum: the source's host-model CPU with the guest's own features)
    compared: str = "configured"
    missing: tuple = ()              # features libvirt says the destination does not provide


@dataclass(frozen=True)
class PortProbe:
    """A TCP connect from the source host to a port of the destination."""

    port: int
    purpose: str                     # migration, libvirt, ssh
    target: str                      # the address or name the source connected to
    outcome: str                     # answered, refused, timeout, unreachable, error
    detail: Optional[str] = None
    elapsed_ms: Optional[int] = None
    # migration port only: did the destination's test listener see this probe's nonce (None: it
    # cannot tell, e.g. the socat fallback or an old recording), and why no listener covered the
    # probe (it never started, or exited early) -- then 'refused' may only mean nothing listened
    confirmed: Optional[bool] = None
    listener: Optional[str] = None


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
class StorageHostFacts:
    """A storage server (NFS) contacted over SSH, shell facts only (see facts.storage_hosts)."""

    name: str
    reachable: bool = True
    error: Optional[str] = None
    address: Optional[str] = None
    hostname: Optional[str] = None
    fqdn: Optional[str] = None
    addresses: tuple = ()                        # "10.0.0.5/24", ... (ip addr, loopback left out)
    exports: tuple = ()                          # tuple[preflight.facts.exports.NfsExport]
    exports_from: tuple = ()                     # which files/commands the exports were read from
    rpc_services: tuple = ()                     # rpcinfo -p: ((program, version, proto, port), ...)
    fact_errors: dict = field(default_factory=dict)   # "exports" -> why they are unknown


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    hosts: dict                                  # name -> HostFacts (inventory order)
    pairs: dict                                  # (source, destination) -> PairFacts
    storage_hosts: tuple = ()
    storage: Optional[dict] = None               # name -> StorageHostFacts; None = not gathered
    # the migration the operator plans (--migrate-flags): preflight.plan.flags.MigrateFlags; None = none
    # given (the checks then judge a plain `virsh migrate --live`)
    migrate_flags: Optional[object] = None

    @property
    def hypervisors(self) -> list:
        return list(self.hosts.values())


# --- storage ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Tpm:
    """One <tpm>: backend emulator (swtpm, state in a host directory) or passthrough."""

    model: Optional[str] = None
    backend: str = "emulator"        # emulator, passthrough, external
    version: Optional[str] = None
    state_path: Optional[str] = None  # <source type='dir' path=...> or the default swtpm state dir
    persistent_state: bool = False


@dataclass(frozen=True)
class ChainImage:
    """One image of a `qemu-img info --backing-chain` answer."""

    filename: str
    format: Optional[str] = None
    backing: Optional[str] = None    # full-backing-filename (what QEMU opens), else backing-filename


@dataclass(frozen=True)
class DiskChain:
    """The backing chain of one disk image as qemu-img saw it on the host; `error` when it failed."""

    path: str
    images: tuple = ()               # tuple[ChainImage], top first
    error: Optional[str] = None

    @property
    def backing_files(self) -> tuple:
        return tuple(i.filename for i in self.images[1:])


@dataclass(frozen=True)
class QemuCaps:
    """Flags libvirt recorded for one QEMU binary (its capabilities cache)."""

    emulator: str
    libvirt_version: Optional[int] = None   # <selfvers>: the libvirt that probed
    qemu_version: Optional[int] = None      # <version>: 7002022 = 7.2.22
    drop_cache: bool = False                # <flag name='migration-file-drop-cache'/>
    cache_file: Optional[str] = None


@dataclass(frozen=True)
class StoragePool:
    name: str
    type: str                        # dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi, mpath, gluster, rbd, zfs, vstorage
    active: bool = True
    target_path: Optional[str] = None
    source_hosts: tuple = ()         # host names (ports dropped)
    source_dir: Optional[str] = None
    source_name: Optional[str] = None
    source_devices: tuple = ()       # <device path=...>
    source_adapter: Optional[str] = None
    source_format: Optional[str] = None

    @property
    def source_identity(self) -> tuple:
        """What must be equal for two hosts' pools to be the same storage."""
        return (self.type, tuple(sorted(h.lower() for h in self.source_hosts)), self.source_dir,
                self.source_name, tuple(sorted(self.source_devices)), self.source_adapter)


@dataclass(frozen=True)
class PoolVolume:
    pool: str
    volume: str
    path: Optional[str] = None       # virStorageVolGetPath: file, block device or network URL
    error: Optional[str] = None


@dataclass(frozen=True)
class BlockDevice:
    """One node of `lsblk -J` (flattened: partitions and holders included)."""

    name: str
    kname: Optional[str] = None
    path: Optional[str] = None
    type: Optional[str] = None       # disk, part, mpath, lvm, rom, loop, ...
    size: Optional[str] = None
    wwn: Optional[str] = None
    serial: Optional[str] = None
    vendor: Optional[str] = None
    model: Optional[str] = None
    tran: Optional[str] = None       # iscsi, fc, sas, sata, nvme, usb, ...
    hctl: Optional[str] = None
    parent: Optional[str] = None     # kname of the device this one sits on (lsblk children)
    maj_min: Optional[str] = None    # "253:3": what mountinfo's major:minor column names
    fstype: Optional[str] = None     # file-system signature (libblkid): gfs2, ocfs2, ext4, ...
    uuid: Optional[str] = None       # file-system UUID (libblkid)


@dataclass(frozen=True)
class MultipathMap:
    name: str                        # alias (mpatha) or the WWID when no alias is used
    wwid: str
    dm: Optional[str] = None         # dm-6
    vendor_product: Optional[str] = None
    size: Optional[str] = None
    paths: tuple = ()                # path device names (sdc, sdg, ...)


@dataclass(frozen=True)
class IscsiSession:
    target: str
    portal: Optional[str] = None     # current portal ip:port
    state: Optional[str] = None      # LOGGED_IN, FAILED, FREE
    disks: tuple = ()                # tuple[(lun, device name)]


@dataclass(frozen=True)
class BlockFacts:
    """The host's block-device inventory: who is which LUN."""

    devices: dict = field(default_factory=dict)     # kname -> BlockDevice
    by_id: dict = field(default_factory=dict)       # link name in /dev/disk/by-id -> kname
    by_path: dict = field(default_factory=dict)     # link name in /dev/disk/by-path -> kname
    multipath: Optional[dict] = None                # name -> MultipathMap; None = multipath not installed
    iscsi: Optional[tuple] = None                   # tuple[IscsiSession]; None = iscsiadm not installed
    fc_ports: dict = field(default_factory=dict)    # fc host -> port_state
    errors: dict = field(default_factory=dict)      # part (lsblk, by-id, ...) -> why it is missing


@dataclass(frozen=True)
class ClusterStack:
    """Which cluster-stack daemons run on a host (a /proc scan, `systemctl is-active`, sysfs)."""

    proc_readable: bool = False      # False: other processes are hidden (hidepid): cannot tell
    processes: tuple = ()            # names seen running among dlm_controld, corosync, pacemakerd, ...
    units: dict = field(default_factory=dict)   # unit -> `systemctl is-active` word; {} = no systemctl
    ocfs2_stack: Optional[str] = None    # /sys/fs/ocfs2/cluster_stack: o2cb, pcmk; None = ocfs2 not loaded
    o2cb_clusters: tuple = ()        # /sys/kernel/config/cluster/*: clusters the o2cb stack has online


@dataclass(frozen=True)
class QemuCredentials:
    """The uid, gid and supplementary groups QEMU gets on a host (libvirt: virGetGroupList)."""

    user: str
    uid: int
    gid: int                         # qemu.conf group (what libvirt sets), else the user's primary group
    groups: tuple = ()               # supplementary gids of the user, gid included
    group: Optional[str] = None
    dynamic_ownership: bool = True
    keeps_caps: bool = False         # root QEMU with clear_emulator_capabilities = 0 (CAP_DAC_OVERRIDE kept)


@dataclass(frozen=True)
class FileStat:
    """`stat -L` of one path: numeric owner, group and permission bits."""

    path: str
    uid: int
    gid: int
    mode: int                        # permission bits (0o755)
    kind: str                        # regular file, directory, block special file, ...


@dataclass(frozen=True)
class WriteTest:
    """--write-test: a file created and removed as QEMU's user in `directory` (intrusive, opt-in)."""

    directory: str
    user: str
    created: bool = False
    removed: bool = False
    error: Optional[str] = None
    images_writable: dict = field(default_factory=dict)   # image -> True/False (access(2) W_OK as the user)


@dataclass(frozen=True)
class LibvirtSecret:
    """A libvirt secret's identity. Its value is never gathered (virSecretGetValue is never called)."""

    uuid: str
    usage_type: Optional[str] = None     # ceph, iscsi, volume, tls, vtpm, none
    usage_id: Optional[str] = None
    ephemeral: Optional[bool] = None
    private: Optional[bool] = None
