"""The per-domain disk inventory in the three outputs: JSON `domains`, the HTML Disks section and
the terminal DISKS section."""

import copy
import io
import json
import re

import pytest
from rich.console import Console

from preflight.reports import render_html, render_json, render_terminal
from preflight.reports._common import build_view, report_document
from report_factory import HOSTILE, WWID

jsonschema = pytest.importorskip("jsonschema")
from preflight.reports.json_report import validate, validation_errors  # noqa: E402


@pytest.fixture
def doc(report):
    return json.loads(render_json(report))


@pytest.fixture
def html(report):
    return render_html(report)


def _disks_section(html: str) -> str:
    start = html.index('<section id="disks">')
    return html[start:html.index("</section>", start)].replace("<wbr>", "")  # line-break hints in paths


# --- JSON -----------------------------------------------------------------------------------------

def test_domains_are_in_the_canonical_json_and_validate(doc):
    validate(doc)
    assert [d["domain"] for d in doc["domains"]] == ["db01", "web01", HOSTILE, "app01"]
    vda = doc["domains"][1]["disks"][0]
    assert vda["kind"] == "file on nfs4 nas:/vol0"
    assert [(d["host"], d["verdict"]) for d in vda["destinations"]] == \
        [("hv2", "pass"), ("hv3", "fail"), ("hv4", "unknown")]


@pytest.mark.parametrize("path, bad", [
    (("disks", 0, "destinations", 0, "verdict"), "ok"),          # not a disk verdict
    (("disks", 0, "destinations", 0, "verdict"), "error"),       # a status, not a verdict
    (("disks", 0, "destinations", 0, "results", 0, "status"), "unknown"),  # a verdict, not a status
    (("disks", 0, "identity", "state"), "present"),
    (("disks", 0, "destinations", 0, "results"), []),            # a decided verdict with no result behind it
    (("disks", 0, "kind"), ""),
])
def test_schema_rejects_a_wrong_disk_entry(doc, path, bad):
    broken = copy.deepcopy(doc)
    node = broken["domains"][1]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert validation_errors(broken)


def test_schema_rejects_unknown_keys_and_keeps_old_reports_valid(doc):
    broken = copy.deepcopy(doc)
    broken["domains"][0]["disks"][0]["password"] = "x"
    assert validation_errors(broken)
    old = copy.deepcopy(doc)
    del old["domains"]
    assert not validation_errors(old)


# --- HTML -----------------------------------------------------------------------------------------

def test_disks_section_sits_after_the_verdict_sections_and_before_hosts_and_is_in_the_toc(html):
    order = [html.index('id="undecided"'), html.index('<section id="disks">'), html.index('<section id="hosts">')]
    assert order == sorted(order)
    assert '<a href="#disks">Disks</a>' in html


def test_disks_section_shows_kind_identities_and_verdicts(html):
    sec = _disks_section(html)
    assert "Running on hv1" in sec and "Running on hv2" in sec
    assert "<caption>db01" in sec
    assert "file on nfs4 nas:/vol0" in sec and "local file on ext4" in sec
    assert "block multipath iSCSI LUN" in sec
    assert f"WWID {WWID}" in sec
    # one column per destination, the source host not among them
    head = re.search(r"<caption>web01.*?</thead>", sec, re.S).group(0)
    assert re.findall(r'<th scope="col">On (hv\d)</th>', head) == ["hv2", "hv3", "hv4"]
    assert "On hv1 (source)" in head
    # verdict badges in the matrix's style, symbols included for black-and-white print
    assert 'class="dv-fail"><span class="badge v-fail"><span class="sym" aria-hidden="true">✗</span> FAIL' in sec
    assert 'class="dv-pass"><span class="badge v-pass"><span class="sym" aria-hidden="true">✓</span> PASS' in sec
    assert 'class="dv-unknown"><span class="badge v-unknown"><span class="sym" aria-hidden="true">?</span> UNKNOWN' in sec
    assert 'class="badge s-skip"><span class="sym" aria-hidden="true">–</span> N/A' in sec
    # a LUN missing on the destination is called absent, with the reason behind the verdict
    assert '<span class="ident-absent">absent:</span>' in sec
    assert "LUN absent on hv3" in sec
    # the backing file is listed under its disk
    assert "debian12.qcow2" in sec


def test_disks_section_escapes_hostile_names(html):
    sec = _disks_section(html)
    assert HOSTILE not in sec
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sec
    assert len(re.findall(r"<script\b", html)) == 1


def test_disk_counts_in_the_view(report):
    disks = build_view(report_document(report))["disks"]
    assert disks["domain_count"] == 4 and disks["disk_count"] == 5
    assert disks["counts"] == {"pass": 2, "warn": 0, "fail": 4, "unknown": 5, "skip": 2}
    web = next(d for d in disks["groups"][0]["domains"] if d["domain"] == "web01")
    assert web["worst"] == "fail"


def test_report_without_inventory_says_so(report):
    report.domains = []
    sec = _disks_section(render_html(report))
    assert "No disk inventory in this report" in sec


# --- terminal -------------------------------------------------------------------------------------

def _render(report, width=120):
    console = Console(record=True, width=width, no_color=True, force_terminal=False,
                      file=io.StringIO(), color_system=None)
    render_terminal(report, console)
    return console.export_text()


def test_terminal_disks_section_is_compact_and_ordered(report):
    text = _render(report)
    assert text.index("= MIGRATION MATRIX =") < text.index("= DISKS =") < text.index("= WHAT BLOCKS MIGRATIONS =")
    sec = text[text.index("= DISKS ="):text.index("= WHAT BLOCKS MIGRATIONS =")]
    assert "web01 (on hv1) vda: file on nfs4 nas:/vol0 [nfs4 nas:/vol0 at /mnt/vms]" in sec
    assert "FAIL:    -> hv3 (storage.shared_disks): ext4 /dev/sda2 at /" in sec
    assert "PASS:    -> hv2: same storage" in sec
    assert "N/A:     -> hv2, hv3: nothing to share" in sec
    assert "UNKNOWN: -> hv3 (no storage check judged disk vda against hv3): ext4" in sec  # no result
    assert "FAIL:    -> hv3 (storage.shared_disks): absent: /dev/mapper/mpatha" in sec
    assert "\x1b" not in sec and HOSTILE in sec                           # plain text, not markup


def test_unreadable_domain_xml_is_shown_as_an_error_row(report):
    report.domains = [{"domain": "vm9", "host": "hv2", "error": "XML <broken>", "disks": []}]
    sec = _disks_section(render_html(report))
    assert "the domain XML could not be read: XML &lt;broken&gt;" in sec
    assert "no disks" not in sec
    assert "vm9 (on hv2): domain XML unreadable: XML <broken>" in _render(report)
