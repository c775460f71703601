"""The drain plan (`preflight plan --drain HOST --html FILE`) as a small self-contained page, rendered from
the plan's JSON form only (reports/schema/drain.schema.json), with its own template (templates/drain.html.j2)
so the main report's template is untouched. Host text is escaped and its format characters made visible,
as in the main report."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from preflight.textsafe import visible_format_chars


def _visible(value):
    if isinstance(value, Markup):
        return Markup(visible_format_chars(str(value)))
    return visible_format_chars(value) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def _template():
    env = Environment(loader=PackageLoader("preflight.reports", "templates"),
                      autoescape=select_autoescape(default_for_string=True, default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=_visible)
    return env.get_template("drain.html.j2")


def render_drain_html(doc: dict) -> str:
    return _template().render(doc=doc)
