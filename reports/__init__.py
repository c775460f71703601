"""Renderers: one per output format, all over the one run model (preflight.model.RunReport).

JSON is canonical; HTML and the terminal listing derive from the same document
(`_common.report_document`), with secret-looking evidence values masked by one shared helper.
"""

from __future__ import annotations

if __name__ != "preflight.reports":
    # This directory sits at the repository's top level and pyproject installs it as preflight.reports.
    # Imported as bare `reports` (the repository root on sys.path) every module would exist twice, and
    # a test would call other functions than the ones a run uses.
    raise ImportError("import preflight.reports, not reports (the repository root is on sys.path)")

from preflight.reports._common import MASK, is_secret_key, mask_secrets
from preflight.reports.html import render_html
from preflight.reports.json_report import render_json, validate
from preflight.reports.outputs import OutputError, Outputs, write_one
from preflight.reports.terminal import render_terminal

__all__ = ["render_json", "render_html", "render_terminal", "write_atomically", "validate",
           "mask_secrets", "is_secret_key", "MASK", "Outputs", "OutputError"]


def write_atomically(path, text: str, encoding: str = "utf-8", private: bool = False) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never half.

    A temporary file in the same directory is written, fsynced and renamed over `path` (atomic on
    POSIX); a replaced file keeps its mode, a new one gets 0666 & ~umask (0600 & ~umask if `private`).
    A FIFO, a character device (/dev/null) or /dev/stdout is written through, never replaced; a symlink
    is followed. "-" is standard output. Raises OSError (OutputError) with a one-line message.
    See preflight.reports.outputs.
    """
    if encoding.lower().replace("-", "") != "utf8":
        raise ValueError("reports are written as UTF-8")
    write_one(path, text, private=private, option="output")
