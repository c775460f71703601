"""Is the lab really up?  Each host answers through its own sshd as itself, each libvirtd runs
its guests, the Gluster volume is mounted on every hypervisor."""

from __future__ import annotations

import re

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab


def test_inventory_and_ssh_files(lab):
    text = open(lab.inventory).read()
    assert text == ("[clusters.lab]\n"
                    'hosts = ["hv1", "hv2", "hv3"]\n'
                    'storage_hosts = ["nas"]\n'
                    f'ssh_config = "{lab.ssh_config}"\n'
                    f'known_hosts = "{lab.known_hosts}"\n'
                    'user = "root"\n')
    known = open(lab.known_hosts).read()
    for host, addr in lab.hosts.items():
        assert re.search(rf"^{host},{re.escape(addr)} ssh-ed25519 ", known, re.M)


@pytest.mark.parametrize("host", L.HOSTS)
def test_each_sshd_answers_as_its_own_host(lab, host):
    out = L.ssh(host, "hostname; cat /etc/hostname; ip -4 -o addr show dev eth0; "
                      "sysctl -n net.ipv4.tcp_syn_retries").stdout.split("\n")
    assert out[0] == host and out[1] == host
    assert lab.hosts[host] in out[2]
    assert out[3] == "3"


def test_hosts_are_distinct_machines(lab):
    machine_ids = {h: L.ssh(h, "cat /etc/machine-id").stdout.strip() for h in L.HOSTS}
    assert len(set(machine_ids.values())) == len(L.HOSTS)
    # libvirt refuses to migrate between two hosts with the same host UUID
    uuids = {h: L.ssh(h, "virsh capabilities | grep -m1 -o '<uuid>[^<]*'").stdout.strip()
             for h in L.HYPERVISORS}
    assert len(set(uuids.values())) == len(L.HYPERVISORS), uuids


def test_hosts_ssh_each_other_by_short_name(lab):
    assert L.ssh("hv1", "ssh hv2 hostname").stdout.strip() == "hv2"
    assert L.ssh("hv3", "ssh nas hostname").stdout.strip() == "nas"


def test_each_libvirtd_lists_its_guests(lab):
    for host in L.HYPERVISORS:
        expected = sorted(g for g, home in lab.guests.items() if home == host)
        assert L.running_guests(host) == expected


@pytest.mark.parametrize("host", L.HYPERVISORS)
def test_gluster_mounted_on_every_hypervisor(lab, host):
    line = L.ssh(host, f"grep ' {L.GLUSTER_MOUNT} ' /proc/mounts").stdout.split()
    assert line[:3] == ["nas:/vol0", L.GLUSTER_MOUNT, "fuse.glusterfs"]
    assert "vm-gluster.qcow2" in L.ssh(host, f"ls {L.GLUSTER_MOUNT}").stdout


def test_nas_exports_nfs_and_iscsi(lab):
    assert lab.nfs_export in L.ssh("hv1", "showmount -e nas").stdout
    assert lab.iscsi_iqn in L.ssh("hv3", "iscsi-ls iscsi://nas").stdout


def test_guests_run_the_cpus_of_issue_6(lab):
    """Every hypervisor runs a qemu64 check='none' guest and a host-model one; libvirt verified
    and rewrote their CPUs when they started (live XML), the migratable XML keeps qemu64 as
    configured (or host-model's pre-start expansion)."""
    for host in L.HYPERVISORS:
        assert {g.cpu for g in L.GUESTS if g.home == host} == {"qemu64", "host-model"}, host
    for g in L.GUESTS:
        live = L.ssh(g.home, f"virsh dumpxml {g.name}").stdout
        migratable = L.ssh(g.home, f"virsh dumpxml --migratable {g.name}").stdout
        assert "check='full'" in live, (g.name, live)
        if g.cpu == "qemu64":
            assert "check='none'" in migratable and ">qemu64</model>" in migratable
            assert "<feature policy='disable'" not in migratable.split("<cpu", 1)[1].split("</cpu>")[0]
        else:
            assert "<cpu mode='custom'" in live and "<vendor>" in live
