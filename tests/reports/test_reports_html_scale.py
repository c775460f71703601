"""The HTML at cluster size: alike rows and alike evidence shown once with every subject, the drain
table, the compact disk layout, a size that does not grow with every VM, and the printed header."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape

from preflight.compact import expand_document
from preflight.model import Migration, Verdict
from preflight.reports import render_html
from preflight.reports._common import build_view, report_document
from preflight.reports.html_view import drain, group_results

ROOT = Path(__file__).resolve().parents[2]


def _drain(report):
    return {d["host"]: d for d in drain(build_view(report_document(report)))}


def test_drain_of_the_factory_cluster(report):
    d = _drain(report)
    # hv1: web01 can go to hv2 (WARN); db01 and the hostile VM have no PASS/WARN host, only UNKNOWN
    assert d["hv1"]["state"] == "unknown" and d["hv1"]["vms"] == 3 and d["hv1"]["stuck"] == []
    assert sorted(d["hv1"]["undecided"]) == sorted(["db01", "<script>alert(1)</script>"])
    assert d["hv1"]["take_all"] == [] and d["hv1"]["takes"] == [("hv2", 1)]
    # hv2: its one VM can go to hv1
    assert d["hv2"]["state"] == "pass" and d["hv2"]["take_all"] == ["hv1"]
    assert d["hv3"]["vms"] == 0 and d["hv3"]["state"] == "pass" and "nothing to drain" in d["hv3"]["why"]
    assert d["hv4"]["state"] == "unknown" and d["hv4"]["why"] == "guests not listed"   # unreachable


def test_a_vm_blocked_everywhere_makes_its_host_not_drainable(report):
    report.migrations = [m for m in report.migrations if not (m.domain == "db01" and m.destination == "hv4")]
    report.migrations.append(Migration(domain="db01", source="hv1", destination="hv4", verdict=Verdict.FAIL,
                                       blockers=("host.libvirt_version",)))
    d = _drain(report)["hv1"]
    assert d["state"] == "fail" and d["stuck"] == ["db01"]
    assert set(d["causes"]) == {"cpu.model_compatible", "storage.shared_disks", "host.libvirt_version"}
    html = render_html(report)
    row = re.search(r'<tr class="f dr-fail">.*?</tr>', html[html.index('id="drain"'):], re.S).group(0)
    assert "NO" in row and "db01" in row and 'href="#block-host.libvirt_version"' in row


def test_results_with_identical_evidence_are_one_group_naming_every_subject():
    base = {"status": "fail", "message": "m", "observed": "o", "expected": "e", "where": "w",
            "remediation": None, "other": [], "check": "c", "where_text": ""}
    rs = [dict(base, subject=f"vm{i}") for i in range(30)] + [dict(base, subject="odd", observed="x")]
    g = group_results(rs)
    assert [x["count"] for x in g["groups"]] == [30, 1] and g["hidden"] == 0
    assert g["groups"][0]["subjects"] == [f"vm{i}" for i in range(30)]
    capped = group_results(rs, limit=1, subjects=5)
    assert capped["hidden"] == 1 and capped["groups"][0]["more"] == 25


def test_printed_header_cannot_break_out_of_the_style_element(report):
    report.cluster = 'x"}; @import url(http://evil/); </style><script>alert(3)</script>'
    html = render_html(report)
    style = html[html.index("<style>"):html.index("</style>")]
    header = re.search(r"@top-left \{ content: (\"[^\"]*\");", style).group(1)
    # every character that could end the string, the rule or the element, or read as a URL, escaped
    assert not re.search(r"[<>}{;()@/]", header[1:-1]) and r"\3c " in header and r"\22 " in header
    assert len(re.findall(r"<script\b", html)) == 1 and "@import" not in style and "url(" not in style


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    """Replays of two synthetic clusters built from the demo's recorded facts (benchmarks/cluster_size.py):
    5 hosts with 5 and with 10 VMs each."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from cluster_size import DEMO, synthesize
    finally:
        sys.path.pop(0)
    demo = json.loads(DEMO.read_text())
    out = {}
    for vms in (5, 10):
        here = tmp_path_factory.mktemp(f"c{vms}")
        (here / "facts.json").write_text(json.dumps(synthesize(demo, 5, vms)))
        proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(here / "facts.json"),
                               "--quiet", "--json", str(here / "r.json"), "--html", str(here / "r.html")],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode in (0, 1, 3), proc.stderr
        out[vms] = (expand_document(json.loads((here / "r.json").read_text())), (here / "r.html").read_text())
    return out


def test_the_page_does_not_grow_with_every_vm(clusters):
    (doc6, html6), (doc12, html12) = clusters[5], clusters[10]
    assert len(doc12["migrations"]) == 2 * len(doc6["migrations"])
    growth = len(html12) / len(html6)
    print(f"HTML {len(html6) / 1e3:.0f} kB at 5x5, {len(html12) / 1e3:.0f} kB at 5x10 ({growth:.2f}x)")
    assert growth < 1.5      # every result listed, as before, gave 2x


def test_every_vm_and_every_failing_result_is_in_the_page(clusters):
    for doc, html in clusters.values():
        flat = html.replace("<wbr>", "")
        matrix = flat[flat.index('id="matrix"'):flat.index('id="disks"')]
        for dom in {m["domain"] for m in doc["migrations"]}:
            assert f'<span class="vm">{escape(dom)}</span>' in matrix, dom
        blockers = flat[flat.index('id="blockers"'):flat.index('id="drain"')]
        for r in doc["results"]:
            if r["status"] == "fail":
                assert str(escape(r["subject"])) in blockers, r["id"]
                assert str(escape(r["evidence"]["observed"])) in blockers, r["id"]


def test_many_vms_give_the_compact_disk_layout(clusters):
    doc, html = clusters[10]
    assert len(doc["domains"]) > 30
    flat = html.replace("<wbr>", "")
    disks = flat[flat.index('<section id="disks">'):flat.index('<section id="hosts">')]
    assert '<table class="disks diskgroups">' in disks and "<caption>" not in disks
    for item in doc["domains"]:
        for disk in item["disks"]:
            assert f"{escape(item['domain'])} {escape(disk['target'])}" in disks
    doc6, html6 = clusters[5]
    assert len(doc6["domains"]) <= 30 and "diskgroups" not in html6     # one table per VM, as before


def test_a_vm_with_no_judged_migration_is_undecided_never_movable(report):
    from preflight.reports.html_view import grouped_matrix

    view = build_view(report_document(report))
    g = next(g for g in view["matrix"]["groups"] if g["source"] == "hv2")
    g["rows"][0]["cells"] = [dict(c, kind="none") if c["kind"] == "verdict" else c for c in g["rows"][0]["cells"]]
    g["rows"][0]["worst"] = None
    d = {x["host"]: x for x in drain(view)}["hv2"]
    assert d["state"] == "unknown" and d["undecided"] == ["app01"] and d["take_all"] == []
    row = next(x for x in grouped_matrix(view["matrix"])["groups"] if x["source"] == "hv2")["rows"][0]
    assert row["worst"] == "unknown"        # not folded away with the passing rows when printed


def test_many_kinds_of_evidence_are_all_in_the_page_in_a_compact_table(report):
    from preflight.model import Evidence, Result, Status
    from preflight.reports.html_view import FULL_GROUPS

    n = FULL_GROUPS + 10
    for i in range(n):
        report.results.append(Result(check="storage.shared_disks", status=Status.FAIL, subject=f"vm{i:02d}: hv1 -> hv2",
                                     message=f"disk vda of vm{i:02d} is on local storage", host="hv1",
                                     domain=f"vm{i:02d}", source="hv1", destination="hv2",
                                     evidence=Evidence(f"/images/vm{i:02d}.qcow2 on ext4", "a shared file system",
                                                       "hv1: /proc/self/mountinfo")))
    html = render_html(report)
    card = html[html.index('id="block-storage.shared_disks"'):html.index('id="drain"')]
    assert "more results with their own evidence" in card and '<table class="results compact">' in card
    for i in range(n):
        assert f"vm{i:02d}: hv1 -&gt; hv2" in card and f"/images/vm{i:02d}.qcow2 on ext4" in card
