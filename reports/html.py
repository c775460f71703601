"""The HTML report: one self-contained page (inline CSS, no external assets), summary first.

A change advisory board reads and prints it, so every verdict carries what was observed,
what was expected, where it was observed and the remedy. All text goes through Jinja2
autoescaping; secret-looking evidence values are masked before the template sees them.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Optional

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from preflight.reports._common import (DISK_VERDICT_LABEL, DISK_VERDICT_MEANING, DISK_VERDICTS,
                                       EXIT_MEANING, SEVERITIES, STATUS_LABEL, STATUSES,
                                       VERDICT_LABEL, VERDICT_MEANING, VERDICTS, build_view,
                                       format_value, is_long, report_document, shorten)
from preflight.reports.html_view import (FULL_GROUPS, SUBJECTS_INLINE, group_affected, group_results,
                                          html_view, quiet_summary)
from preflight.textsafe import visible_format_chars

TEMPLATE = "report.html.j2"
_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("preflight.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "j2"),
                                     default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_visible,
    )
    env.filters["value"] = format_value
    env.filters["shorten"] = shorten
    env.tests["long"] = is_long
    env.filters["anchor"] = anchor
    env.filters["wrappable"] = wrappable
    env.filters["grouped"] = group_results
    env.filters["quiet"] = quiet_summary
    env.filters["affected_groups"] = group_affected
    env.filters["css_string"] = css_string
    env.tests["safe_url"] = lambda s: isinstance(s, str) and bool(_SAFE_URL.match(s))
    env.globals.update(
        STATUSES=STATUSES, VERDICTS=VERDICTS, SEVERITIES=SEVERITIES, STATUS_LABEL=STATUS_LABEL,
        VERDICT_LABEL=VERDICT_LABEL, VERDICT_MEANING=VERDICT_MEANING, EXIT_MEANING=EXIT_MEANING,
        DISK_VERDICTS=DISK_VERDICTS, DISK_VERDICT_LABEL=DISK_VERDICT_LABEL,
        DISK_VERDICT_MEANING=DISK_VERDICT_MEANING, SUBJECTS_INLINE=SUBJECTS_INLINE, FULL_GROUPS=FULL_GROUPS,
    )
    return env


def _visible(value):
    """Every printed value: bidi overrides/isolates and zero-width characters shown escaped, so
    host text cannot reorder or hide itself or what follows (markup is autoescape's job)."""
    if isinstance(value, Markup):
        return Markup(visible_format_chars(str(value)))
    if isinstance(value, str):
        return visible_format_chars(value)
    return value


def anchor(text: str) -> str:
    """An id attribute value for a check id or host name (escaped again by autoescape)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "x"


def wrappable(text) -> Markup:
    """Escaped text with line-break opportunities after '.', '_', '/' and '-' (check ids, paths),
    so a narrow matrix cell wraps `cpu.model_compatible` at a dot, not in the middle of a word."""
    return Markup(re.sub(r"([._/-])(?=.)", r"\1<wbr>", str(escape(text))))


def css_string(text) -> Markup:
    """A quoted CSS string (for the printed running header): every character outside a small safe
    set as a CSS hex escape, so host text cannot close the string, the rule or the <style> element."""
    out = []
    for ch in str(text):
        out.append(ch if re.match(r"[A-Za-z0-9 _.:,+-]", ch) else f"\\{ord(ch):x} ")
    return Markup('"' + "".join(out) + '"')


def render_html(report, json_text: Optional[str] = None) -> str:
    """The run as one self-contained HTML document, rendered from its canonical JSON text (pass it when
    it is at hand, it is made otherwise) and sealed with the digests reports.integrity checks."""
    if json_text is None:
        from preflight.reports.json_report import to_json_text

        json_text = to_json_text(report_document(report))
    return html_from_json(json_text)


def html_from_json(json_text: str) -> str:
    """The page for a canonical JSON report: the same text gives the same page (`preflight verify`
    renders it again and compares). Parsed back from the text, so the page shows only what the JSON
    holds."""
    from preflight.compact import expand_document
    from preflight.reports.integrity import ZEROS, seal_html, sha256_text

    doc = expand_document(json.loads(json_text))     # compact results read as the full ones
    view = build_view(doc)
    view["integrity"] = {"json_sha256": sha256_text(json_text), "html_placeholder": ZEROS}
    return seal_html(_environment().get_template(TEMPLATE).render(v=view, pv=html_view(view)))
