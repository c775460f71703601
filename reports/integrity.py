"""What ties a forwarded HTML report to its run: digests embedded in the page, and `preflight verify`.

The JSON text is canonical (reports.json_report.to_json_text: sorted keys, fixed number format), so
its SHA-256 names the record. The HTML page is rendered from that very text (parsed back, so nothing
the JSON does not say can reach the page) and carries, in <meta> elements,
  preflight-run-id       the run id
  preflight-json-sha256  the SHA-256 of the JSON text (also shown on the page)
  preflight-html-sha256  the SHA-256 of the page itself, computed with this value set to 64 zeros.
`verify` recomputes the page's digest, compares the JSON's digest with the one the page carries, and
renders the page again from the JSON: identical only if the page says exactly what the JSON says.

A digest proves that nothing changed since the report was written, not who wrote it: whoever edits
both files can recompute both digests. For authorship sign the JSON (`ssh-keygen -Y sign`, gpg).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ZEROS = "0" * 64
HTML_DIGEST_META = "preflight-html-sha256"
JSON_DIGEST_META = "preflight-json-sha256"
RUN_ID_META = "preflight-run-id"
_META = re.compile(r'<meta name="(preflight-[a-z0-9-]+)" content="([^"]*)">')


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal_html(html: str) -> str:
    """Put the page's own digest into its preflight-html-sha256 meta element (rendered as zeros)."""
    placeholder = f'<meta name="{HTML_DIGEST_META}" content="{ZEROS}">'
    if html.count(placeholder) != 1:
        raise ValueError("the HTML template must hold exactly one html-sha256 placeholder")
    return html.replace(placeholder, f'<meta name="{HTML_DIGEST_META}" content="{sha256_text(html)}">')


def embedded(html: str) -> dict:
    """The preflight-* meta values of a page (the first of each name; they sit in <head>)."""
    head = html[: html.find("</head>")] if "</head>" in html else html[:65536]
    out: dict = {}
    for name, value in _META.findall(head):
        out.setdefault(name, value)
    return out


class VerifyError(Exception):
    """A file cannot be verified at all (unreadable, not a preflight report): exit 2."""


@dataclass
class Verification:
    lines: list = field(default_factory=list)     # (ok: bool|None, text): None = a note
    ok: bool = True

    def check(self, ok: bool, text: str) -> None:
        self.lines.append((ok, text))
        self.ok = self.ok and ok

    def note(self, text: str) -> None:
        self.lines.append((None, text))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise VerifyError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise VerifyError(f"{path}: not a preflight {what} (not UTF-8 at byte {exc.start})") from exc


def verify(html_path: Path, json_path: Optional[Path] = None) -> Verification:
    """Check an HTML report on its own, and against its JSON when given."""
    from preflight import __version__

    html = _read(html_path, "HTML report")
    meta = embedded(html)
    sealed = meta.get(HTML_DIGEST_META)
    if not sealed or not re.fullmatch(r"[0-9a-f]{64}", sealed) or JSON_DIGEST_META not in meta:
        raise VerifyError(f"{html_path}: carries no preflight integrity digest (not a preflight HTML report, "
                          f"or one written before preflight 0.1.0 sealed its reports)")
    out = Verification()
    own = sha256_text(html.replace(f'<meta name="{HTML_DIGEST_META}" content="{sealed}">',
                                   f'<meta name="{HTML_DIGEST_META}" content="{ZEROS}">', 1))
    out.check(own == sealed, f"{html_path}: " + (
        "unchanged since it was written (its content matches the SHA-256 it carries)" if own == sealed else
        f"CHANGED after it was written: its content hashes to {own}, it carries {sealed}"))
    run_id, json_digest = meta.get(RUN_ID_META) or "?", meta[JSON_DIGEST_META]
    out.note(f"run {run_id}; the JSON of this run has SHA-256 {json_digest}")
    if json_path is None:
        out.note("give the JSON report too to check that the page says what the JSON says")
        return out
    text = _read(json_path, "JSON report")
    digest = sha256_text(text)
    out.check(digest == json_digest, f"{json_path}: " + (
        "is the JSON this page was rendered from (SHA-256 matches)" if digest == json_digest else
        f"is NOT the JSON this page was rendered from, or was CHANGED: it hashes to {digest}"))
    try:
        doc = json.loads(text)
    except ValueError as exc:
        out.check(False, f"{json_path}: not JSON ({exc})")
        return out
    version = ((doc.get("tool") or {}).get("version")) if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or "run" not in doc:
        out.check(False, f"{json_path}: not a preflight JSON report")
        return out
    if (doc.get("run") or {}).get("id") != meta.get(RUN_ID_META):
        out.check(False, f"{json_path}: belongs to run {(doc.get('run') or {}).get('id')}, the page to {run_id}")
    if version != __version__:
        out.note(f"not rendered again: the report was made by preflight {version}, this is {__version__} "
                 f"(the digests above still hold)")
        return out
    from preflight.reports.html import html_from_json

    again = html_from_json(text)
    out.check(again == html, f"{html_path}: " + (
        "says exactly what the JSON says (rendered again from it: identical)" if again == html else
        "does NOT say what the JSON says (rendered again from the JSON, the page differs" + _first_difference(
            html, again) + ")"))
    return out


def _first_difference(page: str, rendered: str) -> str:
    """'; first at line 412: the page has '8 of 10 …', the JSON gives '7 of 10 …''"""
    for n, (a, b) in enumerate(zip(page.splitlines(), rendered.splitlines()), 1):
        if a != b:
            at = next(i for i, (x, y) in enumerate(zip(a + "\0", b + "\0")) if x != y)
            start = max(0, at - 30)
            return f"; first at line {n}: the page has {a[start:at + 40]!r}, the JSON gives {b[start:at + 40]!r}"
    return "; one of them is longer"
