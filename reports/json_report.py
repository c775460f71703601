"""The canonical JSON report: RunReport.to_dict(), secrets masked, keys sorted, indented.

jsonschema is a test dependency only: `validate` imports it when called, never at import time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from preflight.reports._common import json_default, report_document

SCHEMA_FILE = "report.schema.json"


def render_json(report) -> str:
    """The run as stable JSON text (same run, same bytes), ending with a newline."""
    return to_json_text(report_document(report))


def to_json_text(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=json_default) + "\n"


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
