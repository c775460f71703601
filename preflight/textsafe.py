"""Host text made visible: what a host or a tenant wrote never acts on the reader's screen.

Control characters (terminal escapes, newlines that start forged report lines) and Unicode
format characters (bidi overrides and isolates that reorder a name, zero-width characters
that hide a difference, line/paragraph separators) are shown escaped: `\\x1b`, `\\n`,
`\\u202e`. Used for everything printed to stderr, for single-line report fields, and (format
characters only: autoescape handles markup) in the HTML.
"""

from __future__ import annotations

import re
import sys
import unicodedata

__all__ = ["visible", "visible_format_chars", "one_line", "json_invisible_escaped"]


# The format-character ranges (categories Cf, Zl, Zp above U+007F) of one Unicode version, so that
# importing this module does not walk all 1.1 million code points (0.3 s, every start-up); any other
# version of the database computes them (tests/unit/test_startup.py checks the table against it).
_KNOWN_VERSION = "14.0.0"
_KNOWN_RANGES = ((0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F),
                 (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E),
                 (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
                 (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                 (0xE0001, 0xE0001), (0xE0020, 0xE007F))


def format_ranges() -> list:
    """[(first, last)] code point ranges of the format characters, computed from unicodedata."""
    ranges, start, prev = [], None, None
    for cp in range(0x80, sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) in ("Cf", "Zl", "Zp"):
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    ranges.append((start, prev))
    return ranges


def _format_class() -> str:
    ranges = _KNOWN_RANGES if unicodedata.unidata_version == _KNOWN_VERSION else format_ranges()
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b != a else "") for a, b in ranges)


_FORMAT = _format_class()
_ONE_LINE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_FORMAT}]")
_BLOCK = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_FORMAT}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """`text` with controls and format characters escaped; `newlines=True` keeps \\n and \\t
    (a multi-line block the tool itself laid out)."""
    return (_BLOCK if newlines else _ONE_LINE).sub(_escape, text or "")


def one_line(text) -> str:
    """One printable line (stderr, progress, error messages)."""
    return visible(str(text) if text is not None else "")


def visible_format_chars(text: str) -> str:
    """Only the format characters (bidi, zero-width) and C0/C1 controls but \\n and \\t escaped:
    for HTML, where markup is escaped by autoescape and newlines are plain whitespace."""
    return _BLOCK.sub(_escape, text)


_JSON_INVISIBLE = re.compile(f"[\\x7f-\\x9f{_FORMAT}]")


def _json_escape(m) -> str:
    cp = ord(m.group())
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    cp -= 0x10000                                  # JSON spells astral characters as a surrogate pair
    return f"\\u{0xd800 + (cp >> 10):04x}\\u{0xdc00 + (cp & 0x3ff):04x}"


def json_invisible_escaped(text: str) -> str:
    """JSON text with DEL, C1 controls and format characters written as \\uXXXX escapes (valid
    only on JSON text: those characters can occur only inside its strings)."""
    return _JSON_INVISIBLE.sub(_json_escape, text)
