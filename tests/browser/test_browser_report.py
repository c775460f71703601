"""The demo's HTML report in a real browser: headless Chromium (Debian's `chromium` package, installed by
tests/lab/install-deps.sh), driven over the DevTools protocol on a pipe (tests/browser/cdp.py).

What a reader gets: the verdict and the run metadata on the first screen, no script error, nothing
fetched from the network (Chromium runs behind a proxy on a dead port, and every request the page makes
is recorded), and the printed report within 6 A4 pages, each with the running header and page number.
Skipped, with the reason, only where chromium is absent outside CI; in CI (CI=true) it must run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from cdp import Browser, find_chromium, pdf_page_count
from preflight.compact import expand_document

CHROMIUM = find_chromium()
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI is set but no chromium is installed: tests/lab/install-deps.sh installs Debian's "
                        "chromium package, and in CI the browser test must run")
        pytest.skip("chromium is not installed (apt-get install chromium, or tests/lab/install-deps.sh); "
                    "outside CI the browser test is skipped")
    b = Browser(CHROMIUM)
    yield b
    b.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-browser")
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "demo", "--quiet",
                           "--json", str(out / "r.json"), "--html", str(out / "r.html")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1, 3), proc.stderr
    # the JSON is compact by default; the test reads every migration and result as one object each
    return out / "r.html", expand_document(json.loads((out / "r.json").read_text()))


@pytest.fixture(scope="module")
def page(browser, demo):
    return browser.open(demo[0].resolve().as_uri(), width=1280, height=800)


def _first_screen_text(page, selector: str):
    """innerText of the element if it lies wholly inside the 1280x800 viewport, unscrolled, and is the
    element actually drawn at its centre (not hidden or covered); None otherwise."""
    return page.evaluate(f"""(function () {{
        var e = document.querySelector({json.dumps(selector)});
        if (!e) return null;
        var r = e.getBoundingClientRect();
        if (r.top < 0 || r.bottom > window.innerHeight || r.height === 0 || window.scrollY !== 0) return null;
        var at = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 10));
        return (at && e.contains(at)) ? e.innerText : null;
    }})()""")


def test_first_screen_shows_the_verdict_and_the_run_metadata(page, demo):
    _, doc = demo
    blocked = sum(m["verdict"] == "fail" for m in doc["migrations"])
    headline = _first_screen_text(page, ".headline")
    assert headline is not None, "the verdict is not on the first screen"
    assert f"{blocked} of {len(doc['migrations'])} migrations are blocked" in headline
    meta = _first_screen_text(page, "dl.prov")
    assert meta is not None, "the run metadata is not on the first screen"
    run = doc["run"]
    assert run["id"] in meta and f"{run['operator']['user']}@{run['operator']['host']}" in meta
    assert "JSON SHA-256" in meta
    top = _first_screen_text(page, "header.top .meta")
    assert top is not None and doc["run"]["started"] in top


def test_the_script_runs_without_an_error_and_its_search_filters_rows(page, demo):
    assert page.problems() == []
    assert page.evaluate("document.documentElement.getAttribute('data-script')") == "ran"
    assert page.evaluate("document.getElementById('search').hidden") is False
    vm = demo[1]["migrations"][0]["domain"]
    counts = page.evaluate(f"""(function () {{
        var q = document.getElementById('q');
        q.value = {json.dumps(vm)}; q.dispatchEvent(new Event('input'));
        var rows = [...document.querySelectorAll('#matrix tr.f')];
        var shown = rows.filter(function (r) {{ return !r.hidden; }});
        var wrong = shown.filter(function (r) {{ return r.textContent.indexOf({json.dumps(vm)}) < 0; }});
        var out = [rows.length, shown.length, wrong.length];
        q.value = ''; q.dispatchEvent(new Event('input'));
        out.push(rows.filter(function (r) {{ return r.hidden; }}).length);
        return out;
    }})()""")
    total, shown, wrong, hidden_after = counts
    assert 0 < shown < total and wrong == 0 and hidden_after == 0
    assert page.problems() == []


def test_nothing_is_loaded_from_the_network(page, demo):
    html = demo[0].read_text()
    lowered = html.lower()
    assert not re.search(r"""\bsrc\s*=""", lowered)                    # no image, script or frame source
    assert not re.search(r"<link\b", lowered) and "@import" not in lowered
    assert not re.search(r"url\(", lowered)
    # the only href values are in-page anchors and reference links (navigation on a click, never a load)
    for href in re.findall(r"""\bhref\s*=\s*["']([^"']*)""", html):
        assert href.startswith("#") or re.match(r"https?://", href), href
        if not href.startswith("#"):
            assert re.search(r'<a href="' + re.escape(href) + r'" rel="noreferrer noopener">', html)
    assert page.requests() == [demo[0].resolve().as_uri()]


def test_a_page_that_loads_something_is_caught(browser, tmp_path):
    """The control for the test above: the recorder sees a fetch, which the dead proxy fails."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="http://preflight-test.invalid/x.png">'
                   '<script>undefined_function();</script></body></html>')
    page = browser.open(bad.as_uri())
    assert "http://preflight-test.invalid/x.png" in page.requests()
    failed = page.events("Network.loadingFailed")
    assert failed and any("PROXY" in e["params"].get("errorText", "") or "NAME_NOT_RESOLVED" in
                          e["params"].get("errorText", "") for e in failed)
    assert any("undefined_function" in p for p in page.problems())


def test_the_printed_demo_is_at_most_six_a4_pages_with_header_and_page_numbers(page, demo):
    _, doc = demo
    pdf = page.print_pdf()
    pages = pdf_page_count(pdf)
    assert 1 <= pages <= 6, f"the printed demo report has {pages} pages"
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+59[45]\.?\d*\s+84[12]\.?\d*\s*\]", pdf)      # A4 portrait
    # the running header and the page number, as Chromium parsed the @page rule (printed on every page)
    rules = page.evaluate("""[...document.styleSheets].flatMap(function (s) { return [...s.cssRules]; })
        .filter(function (r) { return r.type === CSSRule.PAGE_RULE; }).map(function (r) { return r.cssText; })
        .join('\\n')""")
    header = re.search(r"@top-left\s*\{[^}]*content:\s*\"([^\"]*)\"", rules)
    assert header, rules
    assert doc["run"]["id"] in header.group(1) and doc["run"]["cluster"] in header.group(1)
    assert doc["run"]["started"] in header.group(1)
    assert re.search(r"@bottom-right\s*\{[^}]*counter\(page\)[^}]*counter\(pages\)", rules), rules
    # printed: passing matrix rows and passing/skipped results as counts, the disks and glossary left out
    page.send("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = page.evaluate("""(function () {
            function shown(e) { return getComputedStyle(e).display !== 'none'; }
            var all = [...document.querySelectorAll('#matrix tr.allpass')];
            return {allpass: all.length, allpass_shown: all.filter(shown).length,
                    counts: [...document.querySelectorAll('#matrix .print-only')].filter(shown).length,
                    quiet: document.querySelectorAll('details.quiet').length,
                    disks: shown(document.getElementById('disks')),
                    checksum: shown(document.querySelector('table.checksum'))};
        })()""")
    finally:
        page.send("Emulation.setEmulatedMedia", {"media": ""})
    assert printed["allpass"] and printed["allpass_shown"] == 0 and printed["counts"]
    assert printed["quiet"] and not printed["disks"] and printed["checksum"]
