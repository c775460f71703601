"""Which network-disk servers the pair phase probes, and how recorded rows are read back."""

from preflight.facts.portals import network_disk_targets, parse_portal_probes, ports_for
from preflight.facts.storage_hosts import parse_host_storage_fields

XML = """<domain type='kvm'><name>{name}</name><devices>
<disk type='network' device='disk'><source protocol='iscsi' name='iqn.x:t/1'><host name='nas' port='3260'/></source><target dev='vda'/></disk>
<disk type='network' device='disk'><source protocol='rbd' name='pool/img'><host name='mon1'/><host name='mon2' port='6789'/></source><target dev='vdb'/></disk>
<disk type='network' device='disk'><source protocol='nbd'><host transport='unix' socket='/run/n.sock'/></source><target dev='vdc'/></disk>
<disk type='network' device='disk'><source protocol='gluster' name='vol0/x.qcow2'><host name='gl1'/></source><target dev='vdd'/></disk>
<disk type='file' device='disk'><source file='/srv/x.qcow2'/><target dev='vde'/></disk>
</devices></domain>"""


def test_targets_from_every_guest_of_every_host_deduplicated():
    hosts = {"hv1": {"libvirt": {"domains": [{"name": "a", "xml": XML.format(name="a")}]}},
             "hv2": {"libvirt": {"domains": [{"name": "b", "xml": XML.format(name="b")},
                                             {"name": "bad", "xml": "<domain"}]}},
             "hv3": {"reachable": False}}
    t = network_disk_targets(hosts)
    assert {(x["target"], x["port"], x["protocol"]) for x in t} == {
        ("nas", 3260, "iscsi"), ("mon1", 3300, "rbd"), ("mon1", 6789, "rbd"), ("mon2", 6789, "rbd"),
        ("gl1", 24007, "gluster")}
    assert len(t) == 5


def test_ports_for_defaults():
    assert ports_for("iscsi", None) == (3260,) and ports_for("iscsi", "3261") == (3261,)
    assert ports_for("tftp", None) == () and ports_for("rbd", None) == (3300, 6789)


def test_record_rows_parse_and_absent_key_means_not_probed():
    assert parse_portal_probes({}) is None
    rows = parse_portal_probes({"portal_probes": [{"protocol": "iscsi", "target": "nas", "port": 3260,
                                                   "outcome": "refused", "detail": "x"}]})
    assert rows == (("nas", 3260, "iscsi", "refused", "x"),)
    assert "portal_probes" not in parse_host_storage_fields({"shell": {}}, {})
    assert parse_host_storage_fields({"shell": {}, "portal_probes": []}, {})["portal_probes"] == ()
