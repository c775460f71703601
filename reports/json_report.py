"""The canonical JSON report: RunReport.to_dict(), secrets masked, keys sorted, indented.

Canonical means the same document gives the same bytes, so its SHA-256 names it (reports.integrity):
keys sorted, two-space indent, UTF-8 without escapes, "\n" at the end; numbers as Python writes them
(integers in full, floats as the shortest text that reads back to the same IEEE-754 double: 0.1,
5.0, 1e-05), and NaN/Infinity (not JSON) as the strings "NaN", "Infinity", "-Infinity".

jsonschema is a test dependency only: `validate` imports it when called, never at import time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Optional

from preflight.compact import compact_document
from preflight.reports._common import json_default, report_document
from preflight.textsafe import json_invisible_escaped

SCHEMA_FILE = "report.schema.json"


def render_json(report, full: bool = False, doc: Optional[dict] = None) -> str:
    """The run as stable JSON text (same run, same bytes), ending with a newline. Its results in the
    compact form (preflight.compact: a verdict repeated for many subjects is one group), or with
    `full` one object per result. `doc`: report_document(report), when the caller has it already."""
    doc = report_document(report) if doc is None else doc
    return to_json_text(doc if full else compact_document(doc))


def to_json_text(doc: dict) -> str:
    try:
        return _dumps(doc)
    except ValueError:   # a NaN or an infinity somewhere in the evidence: rare, so found only then
        return _dumps(_finite(doc))


# The long lists of a report are written one item per line (each item itself on that one line):
# at cluster size an indented item is a dozen lines of indentation, and one line per result or
# migration is what `grep` and `jq -c` users expect. The rest is indented as before.
LINE_ARRAYS = ("results", "migrations", "domains")


def _dumps(doc) -> str:
    opts = dict(sort_keys=True, ensure_ascii=False, allow_nan=False, default=json_default)
    if not isinstance(doc, dict):
        return json_invisible_escaped(json.dumps(doc, indent=2, **opts)) + "\n"
    long = {k: doc[k] for k in LINE_ARRAYS if isinstance(doc.get(k), list) and doc[k]}
    text = json.dumps({k: ([] if k in long else v) for k, v in doc.items()}, indent=2, **opts)
    for key, items in long.items():
        # a top-level key is the only line that starts with exactly two spaces and a quote
        # (strings hold no raw newline in JSON)
        stub = f'\n  {json.dumps(key, ensure_ascii=False)}: []'
        assert text.count(stub) == 1
        lines = ",\n    ".join(json.dumps(item, separators=(", ", ": "), **opts) for item in items)
        text = text.replace(stub, stub[:-1] + "\n    " + lines + "\n  ]")
    # host text keeps its letters but never a bidi override, zero-width or C1 control raw (issue 7)
    return json_invisible_escaped(text) + "\n"


def _finite(value):
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("preflight.reports").joinpath("schema", SCHEMA_FILE).read_text("utf-8")


def load_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the report document; a fresh copy each call."""
    return json.loads(_schema_text())


def validate(doc: dict) -> None:
    """Raise jsonschema.ValidationError if `doc` is not a valid report document.

    The error raised is the most relevant one; `validation_errors` lists them all.
    """
    import jsonschema

    errors = validation_errors(doc)
    if errors:
        raise jsonschema.exceptions.best_match(errors)


def validation_errors(doc: dict) -> list:
    """Every schema violation of `doc` (empty when valid), ordered by their place in it."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    return sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
