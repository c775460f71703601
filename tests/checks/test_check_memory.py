"""memory.capacity and host.time_sync on recorded real outputs (tests/fixtures/compat): this machine's
/proc/meminfo, sysfs huge page pools and NUMA nodes, chronyc tracking from chrony's docs and a blog."""

from dataclasses import replace
from pathlib import Path

from factories import as_list, cluster, host, migration, statuses

from preflight.checks.host import time_sync
from preflight.checks.memory import capacity
from preflight.engine.context import HostContext
from preflight.facts.compat_facts import CompatFacts
from preflight.facts.domain_xml import parse_domain_xml
from preflight.facts.hugepages import HugepagePool, parse_hugepages
from preflight.facts.meminfo import parse_meminfo
from preflight.facts.numa import parse_sysfs_nodes
from preflight.facts.timesync import parse_chrony_tracking, parse_timedatectl_show

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compat"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


MEM = parse_meminfo(read("proc-meminfo.this-machine.txt"))
FACTS = CompatFacts(meminfo=MEM, hugepages=parse_hugepages(read("hugepages-sysfs.this-machine.txt")),
                    numa=parse_sysfs_nodes(read("numa-sysfs.this-machine.txt")), host_cpus=2)


def guest(fixture: str):
    return parse_domain_xml(read(fixture), name=fixture.split(".")[0], active=True, state="running")


def by_item(produced) -> dict:
    return {f.item: f for f in as_list(produced)}


def test_a_small_guest_fits_this_machine():
    res = by_item(capacity(migration(guest("vm-q35.lab-migratable.xml"), dst=host("hv2", compat=FACTS))))
    assert {k: f.status.value for k, f in res.items()} == {"memory": "pass", "vcpus": "pass", "numa": "pass"}
    assert res["memory"].source.startswith("hv2:")


def test_memory_short_warns_since_libvirt_does_not_check_and_qemu_allocates_lazily():
    dom = guest("vm-q35.lab-migratable.xml")
    huge = replace(dom, needs=replace(dom.needs, memory_kib=MEM.total_kib * 2))
    f = by_item(capacity(migration(huge, dst=host("hv2", compat=FACTS))))["memory"]
    assert f.status.value == "warn" and "OOM killer" in f.message


def test_huge_pages_short_fail_and_enough_pass():
    """libvirt's example guest backed by huge pages on this machine's empty pools: QEMU fails."""
    dom = guest("hugepages-numa-nodeset.libvirt.xml")
    f = by_item(capacity(migration(dom, dst=host("hv2", compat=FACTS))))["memory"]
    assert f.status.value == "fail" and "huge pages" in f.message
    sizes = {hp.size_kib or MEM.hugepage_size_kib for hp in dom.needs.hugepages}     # 2 MiB and 1 GiB
    roomy = replace(FACTS, hugepages=tuple(HugepagePool(size, None, nr=n, free=n, reserved=0)
                                           for size in sizes for n in [dom.needs.memory_kib // size + 1]))
    assert by_item(capacity(migration(dom, dst=host("hv2", compat=roomy))))["memory"].status.value == "pass"


def test_more_vcpus_than_host_cpus_warn_and_unread_facts_are_error():
    dom = guest("vm-q35.lab-migratable.xml")
    wide = replace(dom, needs=replace(dom.needs, vcpus=8))
    assert by_item(capacity(migration(wide, dst=host("hv2", compat=FACTS))))["vcpus"].status.value == "warn"
    assert statuses(capacity(migration(dom, dst=host("hv2")))) == ["error"]
    assert statuses(capacity(migration(replace(dom, needs=None), dst=host("hv2", compat=FACTS)))) == ["error"]


def on(compat):
    h = host("hv1", compat=compat)
    return HostContext(cluster(h), h)


def test_time_sync_from_chrony_and_timedatectl_and_nothing_readable_is_error():
    good = CompatFacts(chrony=parse_chrony_tracking(read("chronyc-tracking.chrony-doc.txt")))
    assert statuses(time_sync(on(good))) == ["pass"]
    bad = CompatFacts(chrony=parse_chrony_tracking(read("chronyc-tracking-unsynchronised.liaosirui-blog.txt")))
    [f] = as_list(time_sync(on(bad)))
    assert f.status.value == "warn" and "not synchronised" in f.message
    td = CompatFacts(timedatectl=parse_timedatectl_show("NTP=yes\nNTPSynchronized=no\n"))
    assert statuses(time_sync(on(td))) == ["warn"]
    # nothing read at all is undecided
    assert statuses(time_sync(on(CompatFacts()))) == ["error"]
    # the lab: no chronyc, no ntpq, timedatectl without systemd: seen to have no time service
    [f] = as_list(time_sync(on(CompatFacts(time_tools_absent=True))))
    assert f.status.value == "warn" and "no time service" in f.message


def test_no_time_service_is_told_from_the_recorded_outputs():
    from preflight.facts.compat_facts import _no_time_service

    absent = {"rc": 127, "out": "", "err": "timeout: failed to run command 'chronyc': No such file or directory"}
    no_systemd = {"rc": 1, "out": "", "err": "System has not been booted with systemd as init system (PID 1). "
                                           "Can't operate.\nFailed to connect to bus: Host is down"}
    assert _no_time_service({"chrony": absent, "ntpq": absent, "timedatectl": no_systemd})
    assert _no_time_service({"chrony": absent, "ntpq": absent, "timedatectl": absent})
    # chronyd installed but not answering is not "no service": it may be a broken one (ERROR path)
    down = {"rc": 1, "out": "", "err": "506 Cannot talk to daemon"}
    assert not _no_time_service({"chrony": down, "ntpq": absent, "timedatectl": no_systemd})
    # timedatectl failing for another reason (a D-Bus error with systemd running) decides nothing
    dbus = {"rc": 1, "out": "", "err": "Failed to query server: Connection timed out"}
    assert not _no_time_service({"chrony": absent, "ntpq": absent, "timedatectl": dbus})
    assert not _no_time_service({"chrony": None, "ntpq": absent, "timedatectl": absent})
