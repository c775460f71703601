"""`preflight verify`: the HTML carries its own digest and the JSON's; one changed character fails."""

import json

import pytest

from cli_helpers import run_cli

from preflight.reports.integrity import embedded, sha256_text
from preflight.reports.json_report import to_json_text
from preflight.compact import expand_document


run = run_cli


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify")
    proc = run("check", "--cluster", "demo", "--json", str(out / "r.json"), "--html", str(out / "r.html"))
    assert proc.returncode == 1, proc.stderr
    return out, proc


def copies(reports, tmp_path):
    out, _ = reports
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    html.write_bytes((out / "r.html").read_bytes())
    js.write_bytes((out / "r.json").read_bytes())
    return html, js


def test_untouched_reports_verify(reports, tmp_path):
    html, js = copies(reports, tmp_path)
    proc = run("verify", str(html), str(js))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("verified")
    assert "says exactly what the JSON says" in proc.stdout
    alone = run("verify", str(html))
    assert alone.returncode == 0 and "give the JSON report too" in alone.stdout


def test_the_digests_are_those_of_the_files(reports):
    out, proc = reports
    text = (out / "r.json").read_text()
    meta = embedded((out / "r.html").read_text())
    assert meta["preflight-json-sha256"] == sha256_text(text)
    assert meta["preflight-run-id"] == json.loads(text)["run"]["id"]
    # the terminal summary names the same digest and run
    flat = " ".join(proc.stdout.split())
    assert sha256_text(text) in flat and json.loads(text)["run"]["id"] in flat


def _change_one_character(text: str, old: str, new: str) -> str:
    assert len(old) == len(new) and sum(a != b for a, b in zip(old, new)) == 1 and old in text
    return text.replace(old, new, 1)


def _headline(js) -> tuple:
    doc = expand_document(json.loads(js.read_text()))
    blocked = sum(m["verdict"] == "fail" for m in doc["migrations"])
    return f"{blocked} of {len(doc['migrations'])} migrations", f"{blocked - 1} of {len(doc['migrations'])} migrations"


def test_one_changed_character_of_the_html_content_fails(reports, tmp_path):
    html, js = copies(reports, tmp_path)
    old, new = _headline(js)
    html.write_text(_change_one_character(html.read_text(), old, new))
    for args in ((str(html), str(js)), (str(html),)):
        proc = run("verify", *args)
        assert proc.returncode == 1, proc.stdout
        assert "CHANGED after it was written" in proc.stdout and "NOT verified" in proc.stdout
    both = run("verify", str(html), str(js))
    assert "does NOT say what the JSON says" in both.stdout and new in both.stdout


def test_a_changed_character_with_a_recomputed_page_digest_still_fails_against_the_json(reports, tmp_path):
    """Whoever edits the page and recomputes its own digest is caught by rendering the JSON again."""
    from preflight.reports.integrity import ZEROS, seal_html

    html, js = copies(reports, tmp_path)
    text = html.read_text()
    sealed = embedded(text)["preflight-html-sha256"]
    edited = _change_one_character(text.replace(sealed, ZEROS), "storage.shared", "storage.sharee")
    html.write_text(seal_html(edited))
    assert run("verify", str(html)).returncode == 0             # the page alone cannot tell
    proc = run("verify", str(html), str(js))
    assert proc.returncode == 1 and "does NOT say what the JSON says" in proc.stdout


def test_one_changed_character_of_the_json_fails(reports, tmp_path):
    html, js = copies(reports, tmp_path)
    js.write_text(_change_one_character(js.read_text(), '"verdict": "pass"', '"verdict": "pasS"'))
    proc = run("verify", str(html), str(js))
    assert proc.returncode == 1
    assert "is NOT the JSON this page was rendered from" in proc.stdout


def test_the_json_of_another_run_fails(reports, tmp_path):
    html, _ = copies(reports, tmp_path)
    other = tmp_path / "other.json"
    run("check", "--cluster", "demo", "--quiet", "--json", str(other))
    proc = run("verify", str(html), str(other))
    assert proc.returncode == 1 and "belongs to run" in proc.stdout


@pytest.mark.parametrize("content", ["<html><body>hello</body></html>", "\xff\xfe"])
def test_a_page_that_is_no_preflight_report_is_one_line_exit_2(tmp_path, content):
    page = tmp_path / "x.html"
    page.write_bytes(content.encode("latin-1"))
    proc = run("verify", str(page))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    missing = run("verify", str(tmp_path / "nope.html"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_canonical_json_is_a_fixpoint_and_writes_non_finite_numbers_as_strings():
    doc = {"b": [1.5, 0.1, 5.0, 1e-05, 10**20], "a": {"z": float("nan"), "y": float("-inf")}, "é": "ü"}
    text = to_json_text(doc)
    assert text.index('"a"') < text.index('"b"') < text.index('"é"') and "ü" in text
    assert '"NaN"' in text and '"-Infinity"' in text and "1e-05" in text and "100000000000000000000" in text
    assert to_json_text(json.loads(text)) == text
