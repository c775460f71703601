"""The raw facts record: what is gathered from hosts, what `--record` writes and what replay reads.

Raw facts are the unparsed outputs (shell command output, libvirt XML), so that a recording
made on real hosts replays through exactly the same parsers as a live run. The record is
plain JSON:

    {
      "format": "preflight-facts/1",
      "cluster": "lab", "recorded": "2026-11-26T03:00:00+00:00", "tool_version": "0.1.0",
      "storage_hosts": ["nas"],
      "hosts": {
        "hv1": {
          "address": "10.251.7.11", "reachable": true, "error": null,
          "round_trips": 1, "libvirt_calls": 9,
          "shell": {KEY: {"rc": 0, "out": "...", "err": ""}, ...},   # keys: SHELL_FACTS
          "libvirt": {
            "lib_version": 9000000, "hv_version": 7002000, "hostname": "hv1",
            "capabilities": "<capabilities>...", "domcapabilities": "<domainCapabilities>...",
            "domains": [{"name": "vm1", "uuid": "...", "state": "running", "active": true,
                         "persistent": true, "xml": "<domain>... (migratable, scrubbed)",
                         "live_xml": "<domain>... (live, flags 0, scrubbed; running guests)"}],
            "networks": [{"name": "default", "active": true, "persistent": true,
                          "autostart": true, "xml": "<network>..."}]
          },
          "errors": {FACT_KEY: "why it could not be gathered"},
          "nfs_probes": [{"server": "nas", "port": 2049, "purpose": "nfs",   # pair phase; absent =
                          "target": "nas", "outcome": "answered",          # not probed
                          "detail": null, "elapsed_ms": 2}],
          "portal_probes": [{"protocol": "iscsi", "target": "nas",          # pair phase; absent =
                             "port": 3260, "outcome": "answered",          # not probed (-> ERROR)
                             "detail": null, "elapsed_ms": 1}],
          "nfs_showmount": [{"server": "nas", "rc": 0,                     # pair phase; absent =
                             "out": "/srv/export (everyone)\n", "err": ""}],  # not gathered
          "iscsi_lists": [{"host": "nas", "port": 3260,                     # pair phase; absent =
                           "initiator": "iqn.2008-11.org.linux-kvm:UUID",   # not gathered
                           "rc": 0, "out": "Target:... Portal:...\nLun:1 ...", "err": ""}]
        }
      },
      "storage_hosts_facts": {                       # absent in older records = not gathered
        "nas": {
          "address": "10.251.7.10", "reachable": true, "error": null, "round_trips": 1,
          "role": "storage",                           # or "hypervisor" (an NFS server named by a mount)
          "shell": {KEY: {"rc": 0, "out": "...", "err": ""}, ...},  # keys: STORAGE_SHELL_FACTS
          "errors": {KEY: "why it could not be gathered"}
        }
      },
      "pairs": [
        {"source": "hv1", "destination": "hv2", "round_trips": 1,
         "cpu": {"vm1": {"result": "identical", "message": null, "compared": "live"}},
         "probes": [{"port": 49152, "purpose": "migration", "target": "hv2",
                     "outcome": "answered", "detail": null, "elapsed_ms": 3}],
         "resolved": "10.251.7.12",
         "errors": {}}
      ]
    }

"live_xml" (cpu.compatible): virDomainGetXMLDesc with flags 0 of every RUNNING domain, scrubbed
like "xml". Its <cpu> is what the guest really runs with and what libvirt's migration cookie
carries to the destination (for a custom check='none' CPU whose features the host lacked: check
'full' and those features disabled; the migratable "xml" shows the configured CPU). A domain
whose live XML failed has "live_xml": null and errors["live_xml:NAME"]; records made before the
key existed lack it: cpu.compatible then compares the configured CPU and says so.
The pair "cpu" verdicts name what they compared ("compared": "live", "configured", or
"source-host" for host-passthrough/maximum guests: the source's domain-capabilities host-model
CPU with the guest's own feature policies); a verdict without "compared" (older records)
compared the configured CPU. Shell "cpuinfo" (first processor of /proc/cpuinfo) fills microcode
and family/model/stepping where capabilities lack them.

"portal_probes" (preflight.facts.portals, storage.portal_reachable): TCP connects FROM this
hypervisor to every server named by any guest's <disk type='network'> in the cluster (iSCSI
portal, Gluster, NBD, Ceph monitors, NFS, ...), at the disk's port or the protocol's default,
made in the pair phase's single probe exec per host. Records made before this key existed (or
with probes disabled) lack it: storage.portal_reachable then says ERROR for every network
disk, never PASS.

"nfs_showmount" and "iscsi_lists" (preflight.facts.listings; nfs.export_allows_host,
storage.iscsi_lun): what the storage servers offer THIS hypervisor when asked from it, run in
that same single probe exec (after the TCP probes, in parallel, each bounded by `timeout`):
`showmount -e --no-headers SERVER` for every NFS server named by a hypervisor's nfs/nfs4 mount or
a protocol='nfs' disk, and `iscsi-ls -i INITIATOR -s iscsi://HOST:PORT/` for every (portal, QEMU
initiator name) of a protocol='iscsi' disk. Rows keep the raw rc/out/err; rc 127 with "preflight:
tool absent" in err = the tool is not installed (not a failure); rc None = the probe exec failed.
A portal used only by disks with <auth> (CHAP) is never asked: its row is {"host", "port",
"initiator", "skipped": "skipped: CHAP-protected target"} -- credentials never reach a command
line or the record. Records without these keys: nfs.export_allows_host says "not gathered" in its
evidence (server-side rules decide; SKIP for servers outside the inventory), storage.iscsi_lun
says ERROR.

"storage_hosts_facts" (preflight.facts.storage_hosts): storage servers (and NFS servers named by
a hypervisor's mount that are inventory hosts) contacted over SSH, shell only, no libvirt:
/etc/exports, /etc/exports.d/*.exports, `exportfs -v`, ganesha.conf and its %includes,
`rpcinfo -p`, addresses. A record without the key was made before this existed: checks
reading it then say ERROR (declared storage host) or "judged from the client side only".

"chains" (storage.shared): the host's SECOND and last exec, run after the libvirt facts because
it needs the domain list: `qemu-img info -f FORMAT --backing-chain -U --output=json -- IMAGE`,
under limits, only for qcow2-family images (files, file pool volumes, unauthenticated nfs/gluster
disks) of running guests whose live XML records no <backingStore> chain (libvirt's chain is used
otherwise; raw, cdrom and floppy images are never probed: preflight.facts.chain_probe), batched
like the shell facts: {IMAGE: {"rc", "out", "err"}}. Recordings of older versions may hold
chains of raw images: they are ignored. The libvirt part also carries
"pools": [{"name", "active", "xml"}] and "volumes": [{"pool", "volume", "path", "error"}] (only
volumes a domain references). Records without these keys replay with the facts missing.

"image_access" (storage.qemu_write_access): gathered in that same SECOND exec (so still at most
3 round trips per host: shell batch, libvirt channel, image batch): QEMU's qemu.conf user/group,
dynamic_ownership, whether clear_emulator_capabilities = 0, and the answers of `id -u/-g/-G USER`,
`getent group GROUP` and `stat -L -c '%u:%g:%a:%F:%n'` of every writable image with its
directories and of every shared mount point with its ancestors (see
preflight.facts.storage_access). "write_test": {DIR: {"rc","out","err"}} exists only when the run
was made with the INTRUSIVE `--write-test` (one more exec per destination, see
preflight.facts.write_test). The libvirt part carries "secrets": [{"uuid", "usage_type",
"usage_id", "ephemeral", "private"}] (never a value). Shell keys "cluster_stack" and "blkid"
feed storage.cluster_fs.

A fact that could not be gathered is absent and named in "errors"; parsers turn that into
HostFacts.fact_errors so that checks needing it say ERROR, never PASS.
"""

FORMAT = "preflight-facts/1"

# Which cluster-stack daemons run (no pgrep needed: a /proc scan with the shell's own `read`),
# what systemd says of their units (no systemctl -> "unit - no-systemctl"), and the OCFS2 stack
# (/sys/fs/ocfs2/cluster_stack; o2cb clusters online under configfs). Reads only.
CLUSTER_STACK_SCRIPT = r"""
if [ -r /proc/1/comm ]; then echo 'proc readable'; else echo 'proc hidden'; fi
for p in /proc/[0-9]*; do
  c=; read -r c < "$p/comm" 2>/dev/null || continue
  case "$c" in dlm_controld|corosync|pacemakerd|gfs_controld|ocfs2_controld*|o2hb-*) ;; *) continue ;; esac
  # root's only: anyone can name a process corosync (W7); the daemons and o2hb threads run as root
  [ "$(stat -c %u "$p" 2>/dev/null)" = 0 ] && echo "proc $c"
done | sort -u
if command -v systemctl >/dev/null 2>&1; then
  for u in dlm corosync pacemaker o2cb; do printf 'unit %s %s\n' "$u" "$(systemctl is-active "$u" 2>/dev/null | head -n 1)"; done
else echo 'unit - no-systemctl'; fi
if [ -r /sys/fs/ocfs2/cluster_stack ]; then printf 'ocfs2_stack %s\n' "$(cat /sys/fs/ocfs2/cluster_stack)"; fi
for c in /sys/kernel/config/cluster/*; do [ -d "$c" ] && printf 'o2cb_cluster %s\n' "${c##*/}"; done
exit 0
"""

BLKID_SCRIPT = r"""
set --
while read -r dev mp fs rest; do
  case "$fs" in gfs2|ocfs2) set -- "$@" "$dev" ;; esac
done < /proc/self/mounts
[ $# -gt 0 ] || exit 0
exec blkid -o export "$@"
"""

# Shell facts gathered from every hypervisor in one batched exec. key -> argv.
SHELL_FACTS = {
    "hostname": ["hostname"],
    "fqdn": ["hostname", "-f"],
    "machine_id": ["cat", "/etc/machine-id"],
    "mountinfo": ["cat", "/proc/self/mountinfo"],
    "fstab": ["cat", "/etc/fstab"],
    "ip_link": ["ip", "-j", "-d", "link", "show"],
    "ip_addr": ["ip", "-j", "addr", "show"],
    "qemu_conf": ["cat", "/etc/libvirt/qemu.conf"],
    "nft": ["nft", "-j", "list", "ruleset"],
    "iptables": ["iptables-save"],
    "os_release": ["cat", "/etc/os-release"],
    # the first processor's block: microcode, family/model/stepping where libvirt's capabilities
    # lack <signature> (cpu.compatible, host-passthrough guests), and the model name as evidence
    "cpuinfo": ["sed", "-n", "1,/^$/p", "/proc/cpuinfo"],
    # systemd mount/automount unit FILES (fstab-generated ones show as "generated"); a mount
    # made by hand has none. rc 127 = no systemctl (no systemd): then fstab/autofs only.
    "mount_units": ["systemctl", "list-unit-files", "--type=mount,automount", "--no-legend", "--no-pager"],
    # block storage identity (storage.block_identity): rc 127 = tool not installed
    # (MAJ:MIN, FSTYPE, UUID: storage.cluster_fs maps a mount's major:minor to its file-system UUID)
    "lsblk": ["lsblk", "-J", "-o", "NAME,KNAME,PATH,MAJ:MIN,TYPE,SIZE,WWN,SERIAL,VENDOR,MODEL,TRAN,HCTL,FSTYPE,UUID"],
    "disk_by_id": ["ls", "-l", "/dev/disk/by-id"],
    "disk_by_path": ["ls", "-l", "/dev/disk/by-path"],
    "multipath": ["multipath", "-ll"],
    "iscsi_sessions": ["iscsiadm", "-m", "session", "-P", "3"],
    "fc_hosts": ["sh", "-c", "for f in /sys/class/fc_host/*/port_state; do "
                             "[ -r \"$f\" ] && printf '%s %s\\n' \"$f\" \"$(cat \"$f\")\"; done; exit 0"],
    # libvirt's QEMU capabilities cache (storage.cache_mode): the migration-file-drop-cache flag
    "qemu_caps": ["sh", "-c", "grep -H -e '<emulator>' -e '<selfvers>' -e '<version>' "
                              "-e 'migration-file-drop-cache' /var/cache/libvirt/qemu/capabilities/*.xml"],
    # cluster stack of GFS2/OCFS2 (storage.cluster_fs): see CLUSTER_STACK_SCRIPT
    "cluster_stack": ["sh", "-c", CLUSTER_STACK_SCRIPT],
    # file-system UUID and type of the devices holding MOUNTED GFS2/OCFS2 file systems only (no
    # probing of idle or dead SAN paths), by libblkid: lsblk's FSTYPE/UUID come from udev and are
    # empty where udev is absent. No cluster fs mounted: empty output; rc 127 = no blkid.
    "blkid": ["sh", "-c", BLKID_SCRIPT],
}

# issue 10, host compatibility (KVM device, memory, NUMA, time sync, firewalld): same batch
from preflight.facts.compat_facts import COMPAT_SHELL_FACTS  # noqa: E402 - after the table it extends

SHELL_FACTS.update(COMPAT_SHELL_FACTS)
