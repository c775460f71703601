"""domain.migrate_flags and storage.copy_storage on the recorded lab facts (the demo), with the flags an
operator plans: libvirt's begin-phase refusals quoted, capabilities by version, storage copies judged per
disk, and the storage checks that a planned copy changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from preflight.engine.pipeline import evaluate, load_recording, now
from preflight.engine.registry import discover
from preflight.engine.runner import Selection
from preflight.facts.models import StoragePool
from preflight.plan.flags import FlagsError, parse

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"


@pytest.fixture(scope="module")
def record():
    return load_recording(DEMO)


@pytest.fixture(scope="module")
def registry():
    return discover()


def run(record, registry, flags, only=("domain.migrate_flags", "storage.copy_storage", "storage.shared",
                                       "storage.cache_mode")):
    report = evaluate(record, registry, Selection(only=only), cluster="lab", started=now(), source="replay",
                      migrate_flags=parse(flags) if flags is not None else None)
    return report


def results(report, check, dom=None, dst=None):
    return [r for r in report.results if r.check == check and (dom is None or r.domain == dom)
            and (dst is None or r.destination == dst)]


def test_parse_implies_live_and_refuses_unknown_names():
    assert parse(["copy-storage-all,persistent"]).names == {"live", "copy-storage-all", "persistent"}
    assert parse(["--offline", "persistent"]).names == {"offline", "persistent"}
    assert parse(["p2p tunneled"]).virsh_options == ["--live", "--p2p", "--tunnelled"]
    with pytest.raises(FlagsError, match="'--bogus' is not a virsh migrate option"):
        parse(["--bogus"])


def test_without_flags_both_checks_skip(record, registry):
    report = run(record, registry, None)
    for check in ("domain.migrate_flags", "storage.copy_storage"):
        assert {r.status.value for r in results(report, check)} == {"skip"}
    # and storage.shared keeps refusing the local disk
    assert {r.status.value for r in results(report, "storage.shared", "vm-local")} == {"fail"}


@pytest.mark.parametrize("flags, words", [
    ("tunnelled", "cannot perform tunnelled migration without using peer2peer flag"),
    ("p2p,tunnelled,postcopy", "post-copy is not supported with tunnelled migration"),
    ("postcopy,suspend", "post-copy migration is not supported with non-live or paused migration"),
    ("offline", "offline migration must be specified with the persistent flag set"),
    ("offline,persistent,copy-storage-inc", "offline migration cannot handle non-shared storage"),
    ("offline,persistent,p2p,tunnelled", "tunnelled offline migration does not make sense"),
    ("zerocopy", "zero-copy is only available for parallel migration"),
    ("p2p,tunnelled,copy-storage-all", "migration of non-shared storage is not supported with tunnelled"),
    ("copy-storage-all,copy-storage-inc", "are mutually exclusive"),
    ("live,offline,persistent", "Options --live and --offline are mutually exclusive"),
])
def test_refused_combinations_fail_every_migration_with_libvirts_words(record, registry, flags, words):
    report = run(record, registry, flags, only=("domain.migrate_flags",))
    rs = results(report, "domain.migrate_flags")
    assert rs and {r.domain for r in rs} == {m.domain for m in report.migrations}
    for m in report.migrations:
        mine = [r for r in rs if (r.domain, r.destination) == (m.domain, m.destination)]
        assert any(r.status.value == "fail" and words in r.message for r in mine), mine
        assert "domain.migrate_flags" in m.blockers


def test_accepted_flags_pass_and_unknowns_are_undecided(record, registry):
    ok = run(record, registry, "persistent,undefinesource,auto-converge,compressed", only=("domain.migrate_flags",))
    assert {r.status.value for r in results(ok, "domain.migrate_flags")} == {"pass"}
    transient = run(record, registry, "undefinesource", only=("domain.migrate_flags",))
    assert {r.status.value for r in results(transient, "domain.migrate_flags")} == {"warn"}
    post = run(record, registry, "postcopy", only=("domain.migrate_flags",))
    rs = results(post, "domain.migrate_flags", "vm-nfs", "hv1")
    # QEMU 7.2 has postcopy-ram; userfaultfd is not gathered: undecided, never pass
    assert [r.status.value for r in rs] == ["error"] and "userfaultfd" in rs[0].message
    assert all(m.verdict.value in ("unknown", "fail") for m in post.migrations)
    for flags in ("p2p", "tls", "parallel,p2p,tunnelled"):
        rs = results(run(record, registry, flags, only=("domain.migrate_flags",)), "domain.migrate_flags", "vm-nfs")
        assert "error" in {r.status.value for r in rs} and "pass" not in {r.status.value for r in rs}, flags


def test_old_qemu_lacks_the_capability(record, registry):
    report = run(record, registry, "parallel", only=("domain.migrate_flags",))
    # the same pair with an older destination QEMU, judged directly
    from preflight.checks.migrate_flags import _capability_findings
    from preflight.facts.parse import parse_record

    facts = parse_record(record)
    src, dst = facts.hosts["hv2"], replace(facts.hosts["hv1"], qemu_version="3.1.0")

    class Ctx:
        source, destination = src, dst
    found = _capability_findings(parse("parallel"), Ctx)
    assert [f.status.value for f in found] == ["fail"] and "multifd" in found[0].message
    assert "QEMU 3.1.0" in found[0].message and "hv1" in found[0].message
    assert {r.status.value for r in results(report, "domain.migrate_flags")} == {"pass"}   # lab QEMU 7.2


def test_copy_storage_judges_each_copied_disk(record, registry):
    report = run(record, registry, "copy-storage-all")
    by = {(r.domain, r.destination): r for r in results(report, "storage.copy_storage")}
    local = by[("vm-local", "hv3")]
    assert local.status.value == "fail" and "no storage pool with matching target path" in local.message
    assert "/var/lib/libvirt/images" in local.message
    assert by[("vm-gluster", "hv3")].status.value == "fail" and "Block node is read-only" in \
        by[("vm-gluster", "hv3")].message
    assert by[("vm-nfs", "hv1")].status.value == "warn" and by[("vm-iscsi", "hv1")].status.value == "warn"
    assert by[("vm-hostmodel", "hv1")].status.value == "pass"            # no disk
    # storage.shared passes the copied disks; storage.cache_mode skips them
    assert {r.status.value for r in results(report, "storage.shared", "vm-local")} == {"pass"}
    assert {r.status.value for r in results(report, "storage.cache_mode", "vm-local")} == {"skip"}


def test_a_pool_on_the_destination_lets_the_local_copy_pass(record, registry):
    import json

    from preflight.facts.parse import parse_record
    from preflight.checks.migrate_flags import _copy_finding

    facts = parse_record(json.loads(json.dumps(record)))
    src, dst = facts.hosts["hv1"], facts.hosts["hv3"]
    dom = src.domain("vm-local")
    pool = StoragePool("images", "dir", active=True, target_path="/var/lib/libvirt/images/")
    flags = parse("copy-storage-all")

    class Ctx:
        source, destination, domain, cluster = src, replace(dst, pools={"images": pool}), dom, facts
    f = _copy_finding(dom.disks[0], flags, Ctx)
    assert f.status.value == "pass" and "pool images" in f.message
    Ctx.destination = replace(dst, pools={"images": replace(pool, active=False)})
    assert _copy_finding(dom.disks[0], flags, Ctx).status.value == "fail"
    Ctx.destination = replace(dst, fact_errors={**dst.fact_errors, "pools": "virsh pool-list failed"})
    assert _copy_finding(dom.disks[0], flags, Ctx).status.value == "error"
    readonly = replace(dom.disks[0], readonly=True)
    assert "does not copy" in _copy_finding(readonly, flags, Ctx).message


def test_copy_storage_inc_keeps_the_backing_chain_judged(record, registry):
    report = run(record, registry, "copy-storage-inc")
    shared = results(report, "storage.shared", "vm-local", "hv2")
    assert shared[0].status.value == "pass" and "copy-storage-inc" in shared[0].message
