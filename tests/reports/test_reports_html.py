import re

import pytest
from markupsafe import escape

from preflight.reports import render_html
from report_factory import HOSTILE


@pytest.fixture
def html(report):
    return render_html(report)


def test_is_a_complete_document(html):
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    assert html.rstrip().endswith("</html>")


def test_hostile_strings_are_escaped(html):
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the only <script> is the page's own print helper
    assert len(re.findall(r"<script\b", html)) == 1
    # a reference that is not http(s) is shown as text, never as a link
    assert 'href="javascript:' not in html
    assert "javascript:alert(2)" in html


def test_remediation_html_is_escaped(html):
    assert "&lt;cpu mode=&#39;custom&#39;&gt;" in html
    assert "<cpu mode='custom'>" not in html


def test_no_external_assets(html):
    lowered = html.lower()
    assert not re.search(r"""\bsrc\s*=\s*["']?\s*(https?:)?//""", lowered)
    assert not re.search(r"<link\b[^>]*>", lowered)  # no stylesheets, icons or fonts at all
    assert not re.search(r"@import", lowered)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", lowered)
    assert "<style>" in lowered  # styles are inline


def test_header_summary(html, report):
    assert "lab-east" in html
    assert "5 of 12 migrations are blocked" in html
    assert "5 could not be decided" in html
    assert "1 host could not be reached: hv4" in html
    assert "Exit code 1:" in html
    assert "preflight 0.1.0" in html
    assert "gathered live from the hosts" in html
    # summary comes before the details; what blocks, then where each host can go, then the matrix
    assert html.index("5 of 12 migrations") < html.index('id="blockers"') < html.index('id="drain"') \
        < html.index('id="matrix"') < html.index('id="hosts"') < html.index('id="checks"') \
        < html.index('id="glossary"')


def test_replay_source_is_stated(report):
    report.source = "replay:/srv/recordings/lab.json"
    html = render_html(report)
    assert "replayed from a recording (/srv/recordings/lab.json)" in html


def _matrix(html):
    html = html.replace("<wbr>", "")  # line-break opportunities inside check ids
    return html[html.index('<table class="matrix">'):html.index("</table>", html.index('<table class="matrix">'))]


def _cell(matrix, domain, dest_index):
    """The dest_index-th cell of the row of `domain` (0 = first destination column)."""
    # VMs with identical rows share one (reports.html_view.grouped_matrix): the row that names it
    row = matrix[matrix.rindex('<th scope="row" class="dom">', 0, matrix.index(f'<span class="vm">{domain}</span>')):]
    row = row[:row.index("</tr>")]
    return re.findall(r"<td class=\"cell[^\"]*\".*?</td>", row, re.S)[dest_index]


def test_check_ids_wrap_at_dots_only(html):
    assert "<code>cpu.<wbr>model_<wbr>compatible</code>" in html


def test_matrix_cells_carry_verdicts_and_blockers(html):
    m = _matrix(html)
    for verdict in ("PASS", "WARN", "FAIL", "UNKNOWN"):
        assert verdict in m
    # db01 on hv1: columns hv1, hv2, hv3, hv4
    assert "—" in _cell(m, "db01", 0) and "c-self" in _cell(m, "db01", 0)
    to_hv2 = _cell(m, "db01", 1)
    assert "c-fail" in to_hv2 and "FAIL" in to_hv2
    assert "cpu.model_compatible" in to_hv2 and "storage.shared_disks" in to_hv2
    assert "hv2 lacks avx512f, avx512dq used by db01" in to_hv2
    to_hv4 = _cell(m, "db01", 3)
    assert "UNKNOWN" in to_hv4 and "host.libvirt_version" in to_hv4
    web_hv2 = _cell(m, "web01", 1)
    assert "WARN" in web_hv2 and "network.bridges_present" in web_hv2
    app_hv1 = _cell(m, "app01", 0)
    assert "PASS" in app_hv1 and "c-pass" in app_hv1
    assert "memory.destination_free" in _cell(m, "app01", 2)
    assert "Running on hv1" in m and "Running on hv2" in m
    assert "unreachable" in m  # the hv4 column is marked


def test_blockers_section_has_evidence_and_remediation(html, report):
    section = html[html.index('id="blockers"'):html.index('id="hosts"')]
    for check in report.checks:
        has_fail = any(r.check == check["id"] and r.status.value == "fail" for r in report.results)
        assert (f'id="block-{check["id"]}"' in section) == has_fail
    assert "Move the disk to the shared NFS pool" in section
    assert "Upgrade libvirt and QEMU on the destination" in section
    assert "/var/lib/libvirt/images/db01.qcow2 on ext4 (local)" in section  # observed
    assert "a filesystem mounted on both hosts" in section                   # expected
    assert "hv1: /proc/self/mountinfo" in section                            # where observed
    assert "Blocks 3 migrations" in section
    # most severe first
    assert section.index("cpu.model_compatible") < section.index('id="block-host.libvirt_version"')


def test_hosts_section(html):
    section = html[html.index('id="hosts"'):html.index('id="checks"')]
    assert "Connection timed out" in section
    assert "9.0.0" in section and "6.2.0" in section
    assert "hv1.lab.example" in section


def test_every_check_and_result_is_shown(html, report):
    section = html[html.index('id="checks"'):html.index('id="glossary"')]
    blockers = html[html.index('id="blockers"'):html.index('id="drain"')]
    undecided = html[html.index('id="undecided"'):html.index('id="disks"')]
    for check in report.checks:
        assert f'id="check-{check["id"]}"' in section
        assert str(escape(check["verifies"])) in section
    for r in report.results:
        # a FAIL's evidence is under what blocks, an ERROR's under what could not be decided (once, not
        # twice); the check's card links there
        where = {"fail": blockers, "error": undecided}.get(r.status.value, section)
        assert str(escape(r.message)) in where, r
        if r.status.value == "fail":
            assert f'href="#block-{r.check}"' in section
        if r.status.value == "error":
            assert f'href="#undecided-{r.check}"' in section
    assert "https://libvirt.org/migration.html" in section


def test_glossary(html):
    section = html[html.index('id="glossary"'):]
    for term in ("Live migration", "Shared storage", "PASS", "WARN", "FAIL", "ERROR", "SKIP", "UNKNOWN"):
        assert term in section


def test_secret_evidence_values_are_masked(html):
    for secret in ("hunter2", "c2VjcmV0", "letmein", "BEGIN OPENSSH PRIVATE KEY"):
        assert secret not in html
    assert "[masked]" in html
    assert "en-us" in html  # keymap is not a secret


def test_long_evidence_is_folded(html):
    assert "<details" in html
    assert "&lt;cpu mode=&#39;host-model&#39;&gt;" in html  # the cpu_xml detail, escaped, in a <pre>


def test_report_without_migrations_or_results(report):
    report.results, report.migrations = [], []
    html = render_html(report)
    # no migration is no clean bill of health (issue 6): the headline says nothing was judged
    assert "No migration was judged: no VM is running on any hypervisor" in html
    assert 'class="headline o-unknown"' in html and report.exit_code() == 3
    assert "nothing is known to block a migration" in html


def test_result_of_a_check_without_metadata_is_not_dropped(report):
    from preflight.model import Result, Status

    report.results.append(Result(check="plugin.mystery", status=Status.FAIL, subject="hv2",
                                 message="mystery failure", host="hv2"))
    html = render_html(report)
    assert "plugin.mystery" in html and "mystery failure" in html


def test_minimal_check_metadata_renders(report):
    report.checks = [{"id": c["id"], "title": c["title"]} for c in report.checks]
    html = render_html(report)
    assert "No remediation recorded for this check." in html


def test_large_cluster_renders_quickly():
    import time

    from preflight.model import HostSummary, Migration, Result, RunReport, Status, Verdict

    hosts = [HostSummary(name=f"hv{i:02d}", reachable=True, round_trips=3) for i in range(12)]
    results, migrations = [], []
    for h in hosts:
        for d in range(20):
            dom = f"{h.name}-vm{d:02d}"
            for dst in hosts:
                if dst is h:
                    continue
                fail = (d + len(dst.name)) % 7 == 0
                results.append(Result(check="cpu.model_compatible",
                                      status=Status.FAIL if fail else Status.PASS,
                                      subject=f"{dom}: {h.name} -> {dst.name}", message="m",
                                      host=h.name, domain=dom, source=h.name, destination=dst.name))
                migrations.append(Migration(domain=dom, source=h.name, destination=dst.name,
                                            verdict=Verdict.FAIL if fail else Verdict.PASS,
                                            blockers=("cpu.model_compatible",) if fail else ()))
    report = RunReport(cluster="big", started="2026-01-01T00:00:00Z", finished="2026-01-01T00:01:00Z",
                       tool_version="0.1.0", hosts=hosts, results=results, migrations=migrations,
                       checks=[{"id": "cpu.model_compatible", "title": "CPU", "category": "cpu",
                                "severity": "critical", "scope": "migration", "remediation": "r"}])
    t = time.monotonic()
    html = render_html(report)
    assert time.monotonic() - t < 10
    # VMs with the same verdicts share a row: on each host those failing everywhere, and the others
    rows = 12 * 2
    assert html.count('class="cell c-') == rows * 12    # every row x every host
    assert html.count('class="cell c-self"') == rows   # its own host shown as "—"
    matrix = html[html.index('id="matrix"'):html.index('id="waivers"' if 'id="waivers"' in html else 'id="disks"')]
    for h in hosts:                                     # every VM named in the matrix
        for d in range(20):
            assert f'<span class="vm">{h.name}-<wbr>vm{d:02d}</span>' in matrix


def test_matrix_reason_lines_come_from_the_migration(html):
    m = _matrix(html)
    web_hv4 = _cell(m, "web01", 3)
    assert "host.reachable" in web_hv4 and "destination hv4 could not be checked" in web_hv4
    web_hv2 = _cell(m, "web01", 1)
    assert "bridge br-dmz exists but is down on hv2" in web_hv2
    assert "(warning)" not in web_hv2  # the id prefix of the reason line is not repeated


def test_remediation_copied_into_evidence_is_shown_once(report):
    from dataclasses import replace

    from preflight.model import Evidence

    remedy = next(c for c in report.checks if c["id"] == "host.libvirt_version")["remediation"]
    i = next(i for i, r in enumerate(report.results)
             if r.check == "host.libvirt_version" and r.status.value == "fail")
    r = report.results[i]
    report.results[i] = replace(r, evidence=Evidence(r.evidence.observed, r.evidence.expected,
                                                     r.evidence.source, {"remediation": remedy}))
    html = render_html(report)
    assert "<dt>remediation</dt>" not in html
    # once in "What blocks migrations", once in the check's card
    assert html.count(str(escape(remedy))) == 2


def test_result_specific_remedy_is_shown_with_the_result(html):
    assert "Remedy for this finding" in html
    assert "virsh blockcopy db01 vda /mnt/vms/db01.qcow2 --pivot" in html


def test_long_affected_lists_are_folded(report):
    from preflight.model import Migration, Verdict

    for i in range(20):
        report.migrations.append(Migration(domain=f"vm{i:02d}", source="hv2", destination="hv3",
                                           verdict=Verdict.FAIL, blockers=("host.libvirt_version",)))
    html = render_html(report)
    assert "Blocks 23 migrations" in html
    # the 20 VMs of hv2 blocked towards hv3 read as one line: 12 named, the others folded, not dropped
    line = re.search(r'<li class="f"><strong>vm00, vm01.*?</li>', html, re.S).group(0)
    assert "<summary>and 8 more VMs</summary>vm12, " in line and "vm19" in line
    assert "</strong> <span class=\"muted\">on hv2</span> → hv3" in line
