"""HTML report size, sections and opening time in headless Chromium, for JSON reports at hand.

    python benchmarks/cluster_size.py --keep /tmp/pf 10x20 30x30   # makes DIR/NxM/report.json
    python benchmarks/html_report.py /tmp/pf/*/report.json

Per JSON report: the HTML rendered from it (size, render seconds), the bytes of each section, and,
when chromium is installed, the seconds until its load event (and with --print its A4 page count). Prints
figures only (no thresholds).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from cdp import Browser, find_chromium, pdf_page_count  # noqa: E402

from preflight.reports.html import html_from_json  # noqa: E402


def sections(html: str) -> dict:
    marks = [(m.start(), m.group(1)) for m in re.finditer(r'<section id="([a-z]+)"', html)]
    marks.append((len(html), "end"))
    out = {"head": marks[0][0]}
    out.update({name: end - start for (start, name), (end, _) in zip(marks, marks[1:])})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+", help="JSON reports (preflight check --json)")
    ap.add_argument("--no-browser", action="store_true", help="sizes only")
    ap.add_argument("--print", action="store_true", help="also print to PDF and count the A4 pages (slow for big reports)")
    args = ap.parse_args(argv)
    chromium = None if args.no_browser else find_chromium()
    browser = Browser(chromium, timeout=120) if chromium else None
    try:
        with tempfile.TemporaryDirectory(prefix="pf-html-") as tmp:
            for path in args.reports:
                t0 = time.perf_counter()
                html = html_from_json(Path(path).read_text())
                render = time.perf_counter() - t0
                out = Path(tmp) / "report.html"
                out.write_text(html)
                line = f"{path}: HTML {len(html.encode()) / 1e6:.2f} MB, rendered in {render:.1f} s"
                if browser:
                    page = browser.open(out.as_uri())
                    line += f"; Chromium load event after {page.load_seconds:.2f} s"
                    if args.print:
                        line += f", printed {pdf_page_count(page.print_pdf())} A4 pages"
                print(line, flush=True)
                print("   " + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sections(html).items()), flush=True)
    finally:
        if browser:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
