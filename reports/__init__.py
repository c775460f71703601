"""Renderers: one per output format, all over the one run model (preflight.model.RunReport).

JSON is canonical; HTML and the terminal listing derive from the same document
(`_common.report_document`), with secret-looking evidence values masked by one shared helper.
"""

from __future__ import annotations

import os
import stat
import tempfile

from preflight.reports._common import MASK, is_secret_key, mask_secrets
from preflight.reports.html import render_html
from preflight.reports.json_report import render_json, validate
from preflight.reports.terminal import render_terminal

__all__ = ["render_json", "render_html", "render_terminal", "write_atomically", "validate",
           "mask_secrets", "is_secret_key", "MASK"]


def write_atomically(path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never half.

    Writes a temporary file in the same directory, fsyncs it, renames it over `path`
    (atomic on POSIX) and fsyncs the directory. A replaced file keeps its mode; a new one is 0644.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)  # keep the mode of the file replaced
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself is done
    finally:
        os.close(dir_fd)
