import io

import pytest
from rich.console import Console

from preflight.reports import render_terminal
from report_factory import HOSTILE


def _render(report, width=120):
    console = Console(record=True, width=width, no_color=True, force_terminal=False,
                      file=io.StringIO(), color_system=None)
    render_terminal(report, console)
    return console.export_text()


@pytest.fixture
def text(report):
    return _render(report)


def test_sections_in_order(text):
    order = ["= HOSTS =", "= CHECKS: HOST =", "= CHECKS: CPU =", "= MIGRATION MATRIX =",
             "= WHAT BLOCKS MIGRATIONS =", "= SUMMARY ="]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)


def test_closing_totals_line(text):
    assert text.rstrip().splitlines()[-1] == \
        "TOTAL: 13 / PASSED: 4 / WARNINGS: 1 / FAILURES: 4 / ERRORS: 2 / SKIPPED: 2"


def test_status_lines_are_words_not_colours(text):
    assert "ERROR:   hv4 unreachable: ssh: connect to host 10.0.0.14 port 22: Connection timed out" in text
    assert "PASS:    hv1 reachable: libvirt 9.0.0, QEMU 7.2.0, 3 VMs, 3 round trips" in text
    assert "  FAIL:    db01: hv1 -> hv2: hv2 lacks avx512f, avx512dq used by db01" in text
    assert "  WARN:    web01: hv1 -> hv2: bridge br-dmz exists but is down on hv2" in text
    assert "  SKIP:    app01: hv2 -> hv1: VM has no disk (PXE boot)" in text
    assert "\x1b[" not in text


def test_failures_carry_evidence_and_remediation(text):
    blockers = text[text.index("= WHAT BLOCKS MIGRATIONS ="):]
    assert "FAIL:    storage.shared_disks: Every disk is on storage the destination can reach [critical]" in blockers
    assert "observed: /var/lib/libvirt/images/db01.qcow2 on ext4 (local)" in blockers
    assert "where: hv1: /proc/self/mountinfo" in blockers
    assert "remediation: Move the disk to the shared NFS pool" in blockers
    assert "blocks 3 migration(s):" in blockers
    assert "ERROR:   host hv4 unreachable" in blockers


def test_matrix_table(text):
    matrix = text[text.index("= MIGRATION MATRIX ="):text.index("= WHAT BLOCKS MIGRATIONS =")]
    for header in ("to hv1", "to hv2", "to hv3", "to hv4 (unreachable)"):
        assert header in matrix
    for verdict in ("PASS", "WARN", "FAIL", "UNKNOWN", "—"):
        assert verdict in matrix
    for check_id in ("cpu.model_compatible", "storage.shared_disks", "host.libvirt_version",
                     "network.bridges_present", "memory.destination_free"):
        assert check_id in matrix
    db01 = [line for line in matrix.splitlines() if "db01" in line][0]
    assert db01.split("│")[3].strip() == "—"     # VM | on | to hv1: the current host
    assert db01.split("│")[4].strip() == "FAIL"  # to hv2


def test_summary_sentence_and_exit_code(text):
    summary = " ".join(text[text.index("= SUMMARY ="):].split())
    assert "5 of 12 migrations are blocked" in summary
    assert "Exit code 1: at least one check failed" in summary


def test_hostile_names_cannot_restyle_or_escape_the_terminal(report):
    from dataclasses import replace

    report.results[0] = replace(report.results[0], message="[bold red]fake[/] \x1b[2J cleared")
    text = _render(report)
    assert "[bold red]fake[/]" in text  # shown literally, not interpreted as markup
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert HOSTILE in text  # plain text in a terminal: nothing to escape


def test_secret_evidence_is_masked(report):
    from dataclasses import replace

    from preflight.model import Evidence

    r = next(r for r in report.results if r.disk == "vda")
    report.results[report.results.index(r)] = replace(
        r, evidence=Evidence(observed="x", source="hv1", details={"password": "hunter2"}))
    text = _render(report)
    assert "hunter2" not in text


def test_many_passes_are_folded(report):
    from preflight.model import Result, Status

    for i in range(10):
        report.results.append(Result(check="domain.no_host_devices", status=Status.PASS,
                                     subject=f"vm{i:02d}", message="no host devices", host="hv1"))
    text = _render(report)
    assert "PASS:    11 subjects: " in text
    assert "vm09: no host devices" not in text


def test_folded_passes_name_each_subject_once(report):
    from preflight.model import Result, Status

    for i in range(12):   # four kinds of identity for each of three pairs
        report.results.append(Result(check="host.identity", status=Status.PASS, subject=f"hv1 -> hv{2 + i % 3}",
                                     message=f"identity {i // 3} differs", host="hv1"))
    line = next(ln for ln in _render(report, width=400).splitlines() if "12 results" in ln)
    assert "12 results on 3 subjects: " in line
    assert line.count("hv1 -> hv2") == 1 and line.count("hv1 -> hv4") == 1


def test_narrow_console_still_renders(report):
    text = _render(report, width=60)
    assert "TOTAL: 13" in text


def test_narrow_console_lists_the_matrix(report):
    text = _render(report, width=60)
    matrix = text[text.index("= MIGRATION MATRIX ="):text.index("= WHAT BLOCKS MIGRATIONS =")]
    assert "db01 (on hv1):" in matrix
    assert "FAIL: -> hv2: cpu.model_compatible, storage.shared_disks" in " ".join(matrix.split())
    assert "UNKNOWN: -> hv4: host.libvirt_version" in matrix
    assert "PASS:    -> hv1" in matrix


def test_no_colour_output_to_a_pipe(report, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=120))  # not a tty, NO_COLOR set
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "FAILURES: 4" in text and "FAIL:    storage.shared_disks" in text
