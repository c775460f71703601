"""parse_record/parse_host/parse_pair over a record assembled from recorded real outputs."""

import copy

import pytest

from _fixtures import read
from preflight.facts.parse import HOST_FACT_KEYS, RecordError, parse_host, parse_pair, parse_record
from preflight.facts.raw import FORMAT


def ok(out):
    return {"rc": 0, "out": out, "err": ""}


def compat_shell():
    """issue 10's shell keys, from recorded outputs (tests/fixtures/compat)."""
    none = {"rc": 127, "out": "", "err": "not found"}
    return {"kvm_dev": ok(read("compat/kvm-stat.lab-hv1.txt") + "ids 0:0\n"),
            "smbios_uuid": ok("4C4C4544-0042-3510-8052-B7C04F4B4E31\n"),
            "meminfo": ok(read("compat/proc-meminfo.this-machine.txt")),
            "hugepages": ok(read("compat/hugepages-sysfs.this-machine.txt")),
            "numa_nodes": ok(read("compat/numa-sysfs.this-machine.txt")), "nproc": ok("2\n"),
            "chrony": ok(read("compat/chronyc-tracking.chrony-doc.txt")), "timedatectl": none, "ntpq": none,
            "nft": ok(read("compat/nft-j-ruleset.drop-subnet.lab-hv3.json")), "iptables": none,
            "firewalld_state": none, "firewalld_zones": none, "firewalld_default": none}


def raw_host():
    return {
        "address": "10.251.7.11", "reachable": True, "error": None, "round_trips": 1, "libvirt_calls": 9,
        "shell": {
            "hostname": ok("hv1\n"), "fqdn": ok("hv1.example.org\n"),
            "machine_id": ok("0123456789abcdef0123456789abcdef\n"),
            "mountinfo": ok(read("host/mountinfo.unshare-escapes.txt")),
            "ip_link": ok(read("host/ip-link.netns-bridge.json")),
            "ip_addr": ok(read("host/ip-addr.netns-bridge.json")),
            "qemu_conf": ok(read("host/qemu.conf.debian12-default")),
            "fstab": ok(read("host/fstab.this-machine.txt")),
            "mount_units": ok(read("host/systemctl-list-unit-files-mount.this-machine.txt")),
            "lsblk": ok(read("storage/lsblk.this-machine.json")),
            "disk_by_id": ok(read("storage/ls-l-disk-by-id.pve-blog-excerpt.txt")),
            "disk_by_path": ok(""), "multipath": {"rc": 127, "out": "", "err": "not found"},
            "iscsi_sessions": ok(read("storage/iscsiadm-session-P3.flatcar-issue349.txt")),
            "fc_hosts": ok(""), "qemu_caps": ok(read("storage/qemu-caps-cache-grep.lab-hv1.txt")),
            "cluster_stack": ok(read("storage/cluster-stack.this-machine.txt")),
            "blkid": ok(read("storage/blkid-export.this-machine.txt")),
            **compat_shell(),
        },
        "image_access": {"user": "libvirt-qemu", "group": "libvirt-qemu", "dynamic_ownership": True,
                         "keeps_caps": False,
                         "uid": ok(read("storage/id-u-libvirt-qemu.this-machine.txt")),
                         "gid": ok(read("storage/id-g-libvirt-qemu.this-machine.txt")),
                         "groups": ok(read("storage/id-G-libvirt-qemu.this-machine.txt")),
                         "group_ent": ok(read("storage/getent-group-libvirt-qemu.this-machine.txt")),
                         "stats": {"stat_0": ok(read("storage/stat-image-path.this-machine.txt"))}},
        "chains": {"/srv/vmstore/vm-gluster.qcow2": ok(read("storage/qemu-img-chain1.lab-gluster.json"))},
        "libvirt": {
            "lib_version": 9000000, "hv_version": 7002000, "hostname": "hv1.example.org",
            "capabilities": read("libvirt/capabilities.virt-manager-kvm-x86_64.host-excerpt.xml"),
            "domains": [{"name": "vm-shared", "uuid": "5f0c9a52-3b1e-4c7e-9d7a-0a1b2c3d4e5f",
                         "state": "running", "active": True, "persistent": True,
                         "xml": read("domains/vm-shared.virsh9-test-driver.xml")}],
            "networks": [{"name": "default", "active": True, "persistent": True, "autostart": True,
                          "xml": read("libvirt/network-default.virsh9-test-driver.xml")}],
            "pools": [{"name": "nfsimages", "active": True, "xml": read("storage/pool-netfs.libvirt.xml")}],
            "volumes": [],
            "secrets": [{"uuid": "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f", "usage_type": "ceph",
                         "usage_id": "client.libvirt secret", "ephemeral": False, "private": True}],
        },
        "errors": {},
    }


def test_full_host():
    h = parse_host("hv1", raw_host())
    assert h.reachable and h.fact_errors == {}
    assert (h.hostname, h.fqdn, h.libvirt_hostname) == ("hv1", "hv1.example.org", "hv1.example.org")
    assert (h.libvirt_version, h.qemu_version) == ("9.0.0", "7.2.0")
    assert h.host_uuid == "39303242-3334-3636-3341-3745ffffffff" and h.cpu_model == "Opteron_G4"
    assert h.migration_ports == (49152, 49215)
    assert h.interfaces["br0"].kind == "bridge" and "10.251.99.1/24" in h.interfaces["br0"].addresses
    assert h.networks["default"].active and h.domain("vm-shared").disks[0].path.endswith("vm-shared.qcow2")
    assert any(m.mountpoint.endswith("/vm store") for m in h.mounts)
    assert (h.round_trips, h.libvirt_calls, h.address) == (1, 9, "10.251.7.11")
    assert h.cluster_stack.proc_readable and h.fs_ids["/dev/loop0"][0] == "ext4"
    assert (h.qemu_cred.uid, h.qemu_cred.gid) == (64055, 64055) and h.secrets[0].usage_type == "ceph"


def test_unreachable_host_has_every_fact_missing():
    h = parse_host("hv3", {"address": "10.0.0.3", "reachable": False, "error": "Connection refused",
                           "shell": {}, "libvirt": {}, "errors": {}})
    assert not h.reachable and h.error == "Connection refused"
    assert set(HOST_FACT_KEYS) <= set(h.fact_errors) and h.mounts == () and h.domains == ()


@pytest.mark.parametrize("shell_key,fact", [("mountinfo", "mounts"), ("ip_link", "interfaces"),
                                            ("qemu_conf", "qemu_conf"), ("machine_id", "machine_id")])
def test_missing_shell_fact_is_named_never_silently_empty(shell_key, fact):
    raw = raw_host()
    del raw["shell"][shell_key]
    raw["errors"][shell_key] = "no output for this fact (the batched script stopped before it)"
    h = parse_host("hv1", raw)
    assert fact in h.fact_errors and "stopped" in h.fact_errors[fact]


def test_failed_command_and_unparsable_output():
    raw = raw_host()
    raw["shell"]["mountinfo"] = {"rc": 1, "out": "", "err": "cat: /proc/self/mountinfo: Permission denied"}
    raw["shell"]["ip_link"] = ok("Error: garbage")
    raw["shell"]["fqdn"] = {"rc": 1, "out": "", "err": "hostname: Name or service not known"}
    h = parse_host("hv1", raw)
    assert "Permission denied" in h.fact_errors["mounts"] and h.mounts == ()
    assert "interfaces" in h.fact_errors and h.interfaces == {}
    assert h.fqdn is None and "Name or service not known" in h.fact_errors["fqdn"]


def test_libvirt_gaps():
    raw = raw_host()
    lv = raw["libvirt"]
    del lv["capabilities"], lv["networks"], lv["hostname"]
    raw["errors"].update({"capabilities": "getCapabilities: timed out", "hostname": "getHostname failed"})
    lv["domains"].append({"name": "broken", "active": True, "xml": None})
    lv["domains"].append({"name": "evil", "active": True,
                          "xml": "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/shadow'>]><domain>&x;</domain>"})
    h = parse_host("hv1", raw)
    assert h.fact_errors["capabilities"] == "getCapabilities: timed out" and h.host_uuid is None
    assert "networks" in h.fact_errors and h.libvirt_hostname is None
    assert h.fact_errors["libvirt"] == "getHostname failed"
    assert "hostname" not in h.fact_errors             # the shell hostname was fine
    assert h.domain("broken").error and "domain:broken" in h.fact_errors
    assert "DOCTYPE" in h.domain("evil").error and h.domain("vm-shared").error is None


def test_no_libvirt_at_all():
    raw = raw_host()
    raw["libvirt"] = None
    raw["errors"]["libvirt"] = "End of file while reading data"
    h = parse_host("hv1", raw)
    for key in ("libvirt", "capabilities", "domains", "networks"):
        assert h.fact_errors[key] == "End of file while reading data"


def test_pair():
    p = parse_pair({"source": "hv1", "destination": "hv2", "round_trips": 1, "resolved": "10.251.7.12",
                    "cpu": {"vm1": {"result": "incompatible", "message": "missing avx2"}},
                    "probes": [{"port": 49152, "purpose": "migration", "target": "hv2",
                                "outcome": "timeout", "detail": None, "elapsed_ms": 3000}],
                    "errors": {}})
    assert p.cpu["vm1"].result == "incompatible" and p.probes[0].outcome == "timeout"
    assert p.fact_errors == {} and p.resolved == "10.251.7.12"
    empty = parse_pair({"source": "hv1", "destination": "hv2", "errors": {"cpu": "libvirt down"}})
    assert empty.fact_errors["cpu"] == "libvirt down"
    assert {"probes", "resolved"} <= set(empty.fact_errors)


def test_record():
    hv2 = copy.deepcopy(raw_host())
    hv2["libvirt"]["hostname"] = "hv2.example.org"
    record = {"format": FORMAT, "cluster": "lab", "storage_hosts": ["nas"],
              "hosts": {"hv1": raw_host(), "hv2": hv2},
              "pairs": [{"source": "hv1", "destination": "hv2", "cpu": {}, "probes": [],
                         "resolved": "10.0.0.2"}]}
    facts = parse_record(record)
    assert list(facts.hosts) == ["hv1", "hv2"] and facts.storage_hosts == ("nas",)
    assert facts.pairs[("hv1", "hv2")].destination == "hv2"
    with pytest.raises(RecordError):
        parse_record({"format": "something-else/9"})


def test_live_cpu_is_parsed_and_its_absence_explained():
    raw = raw_host()
    dom = raw["libvirt"]["domains"][0]
    dom["xml"], dom["name"] = read("domains/cpu-qemu64-check-none.lab-migratable.xml"), "vm-t1"
    h = parse_host("hv1", raw)                                   # a recording made before live_xml
    d = h.domains[0]
    assert d.live_cpu is None and "no live definition" in d.live_cpu_note and h.fact_errors == {}
    dom["live_xml"] = read("domains/cpu-qemu64-check-none.lab-live.xml")
    d = parse_host("hv1", raw).domains[0]
    assert d.live_cpu.check == "full" and d.live_cpu.disabled == ("pni", "svm") and d.live_cpu_note is None
    dom["live_xml"] = None
    raw["errors"]["live_xml:vm-t1"] = "domain is not running"
    d = parse_host("hv1", raw).domains[0]
    assert d.live_cpu is None and d.live_cpu_note == "domain is not running"


def test_host_cpu_revision_from_capabilities_else_cpuinfo():
    raw = raw_host()                                      # libvirt 1.2 capabilities: no <signature>
    h = parse_host("hv1", raw)
    assert h.cpu_signature is None and h.cpu_model_name is None
    raw["shell"]["cpuinfo"] = ok(read("host/cpuinfo.lab-hv1.txt"))
    h = parse_host("hv1", raw)
    assert h.cpu_signature == (25, 17, 1) and h.cpu_microcode == 0x1000065 and h.cpu_model_name
    raw["libvirt"]["capabilities"] = read("libvirt/capabilities.lab-hv1.xml")
    raw["shell"]["cpuinfo"] = ok(read("host/cpuinfo.lab-hv1.txt").replace("stepping\t: 1", "stepping\t: 9"))
    assert parse_host("hv1", raw).cpu_signature == (25, 17, 1)     # libvirt's own <signature> wins


def test_pair_cpu_verdict_names_what_was_compared():
    msg = read("libvirt/hypervisor-cpu-compare-qemu64-migratable.lab-hv2.txt").split("error: ", 2)[-1]
    p = parse_pair({"source": "hv1", "destination": "hv2", "resolved": "x", "probes": [],
                    "cpu": {"a": {"result": "incompatible", "message": msg},           # an older record
                            "b": {"result": "superset", "message": None, "compared": "live"}}})
    assert p.cpu["a"].compared == "configured" and p.cpu["a"].missing == ("pni", "svm")
    assert p.cpu["b"].compared == "live" and p.cpu["b"].missing == ()
