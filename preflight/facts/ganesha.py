"""nfs-ganesha configuration -> typed exports (`preflight.facts.exports.NfsExport`). Pure.

Syntax (ganesha-config(8)): blocks ``NAME { ... }`` nest; parameters ``Key = value[, value]
;``; ``#`` comments to the end of the line; values may be double-quoted; ``%include "file"``
pulls in another file (the gather collects the included files; they are parsed in order).
Names and keywords are case-insensitive.

Export permissions (src/config_samples/export.txt): a CLIENT block's option, else the EXPORT
block's, else EXPORT_DEFAULTS', else the built-in default (Access_Type None, Squash
root_squash, Anonymous_Uid -2 = 65534). The first CLIENT block whose Clients match applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.exports import ANON_ID, ClientRule, NfsExport


class GaneshaError(ValueError):
    pass


@dataclass
class Block:
    name: str
    params: list = field(default_factory=list)     # [(key lower, [values], line)]
    blocks: list = field(default_factory=list)     # [Block]
    line: int = 0

    def get(self, key: str):
        key = key.lower()
        for k, values, _ in reversed(self.params):   # the last assignment wins
            if k == key:
                return values
        return None

    def first(self, key: str) -> Optional[str]:
        values = self.get(key)
        return values[0] if values else None

    def children(self, name: str) -> list:
        return [b for b in self.blocks if b.name.lower() == name.lower()]


_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}=;,])|(%include\b)|([^\s{}=;,"#]+))')


def _tokens(text: str):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip():
                raise GaneshaError(f"line {line}: cannot read what follows")
            return
        line += text.count("\n", pos, m.start(0) + len(m.group(0)) - len(m.group(0).lstrip()))
        pos = m.end()
        if m.group(1):
            continue
        if m.group(2):
            yield "str", m.group(2)[1:-1].replace('\\"', '"'), line
        elif m.group(3):
            yield m.group(3), m.group(3), line
        elif m.group(4):
            yield "include", m.group(4), line
        else:
            yield "word", m.group(5), line
        line += m.group(0).lstrip().count("\n")


_KNOWN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def _shown(token: str) -> str:
    """A token for an error message. File contents are never echoed (V3: a root-read file's
    first line reached every report): a keyword-like word is named, anything else only measured."""
    if token in ("{", "}", "=", ";", ","):
        return repr(token)
    if _KNOWN_WORD.fullmatch(token or "") and not re.search(r"(?i)key|secret|pass", token):
        return repr(token)
    return f"a {len(token)}-character token"


def parse_config(text: str) -> Block:
    """The whole file as a root Block (includes are listed as params named %include)."""
    root = Block("<root>")
    stack = [root]
    toks = list(_tokens(text or ""))
    i = 0
    while i < len(toks):
        kind, value, line = toks[i]
        if kind == "}":
            if len(stack) == 1:
                raise GaneshaError(f"line {line}: '}}' without an open block")
            stack.pop()
            i += 1
        elif kind == "include":
            if i + 1 >= len(toks):
                raise GaneshaError(f"line {line}: %include without a file")
            stack[-1].params.append(("%include", [toks[i + 1][1]], line))
            i += 2
        elif kind in ("word", "str") and i + 1 < len(toks) and toks[i + 1][0] == "{":
            block = Block(value, line=line)
            stack[-1].blocks.append(block)
            stack.append(block)
            i += 2
        elif kind in ("word", "str") and i + 1 < len(toks) and toks[i + 1][0] == "=":
            values, j = [], i + 2
            while j < len(toks) and toks[j][0] not in (";", "}"):
                if toks[j][0] in ("word", "str"):
                    values.append(toks[j][1])
                elif toks[j][0] == "{" or toks[j][0] == "=":
                    raise GaneshaError(f"line {toks[j][2]}: unexpected {toks[j][1]!r} in {_shown(value)}")
                j += 1
            stack[-1].params.append((value.lower(), values, line))
            i = j + 1 if j < len(toks) and toks[j][0] == ";" else j
        else:
            raise GaneshaError(f"line {line}: unexpected {_shown(value)}")
    if len(stack) != 1:
        raise GaneshaError(f"block {stack[-1].name} (line {stack[-1].line}) is not closed")
    return root


def includes(text: str) -> list:
    """Files named by %include, in order."""
    return [values[0] for key, values, _ in parse_config(text).params if key == "%include"]


_ACCESS = {"rw": "rw", "ro": "ro", "none": "none", "mdonly": "mdonly", "mdonly_ro": "mdonly_ro"}
_SQUASH = {"root": "root", "root_squash": "root", "rootsquash": "root",
           "all": "all", "all_squash": "all", "allsquash": "all",
           "no_root_squash": "none", "none": "none", "noidsquash": "none",
           "root_id_squash": "root_id", "rootidsquash": "root_id", "root_id": "root_id"}


def _perm(blocks: list, key: str, table: dict, default):
    for b in blocks:
        value = b.first(key)
        if value is not None:
            low = value.lower()
            if low not in table:
                raise GaneshaError(f"line {b.line}: unknown {key} {_shown(value)}")
            return table[low]
    return default


def _anon(blocks: list, key: str) -> int:
    for b in blocks:
        value = b.first(key)
        if value is not None:
            number = int(value, 0)
            return ANON_ID if number == -2 else number & 0xFFFFFFFF if number < 0 else number
    return ANON_ID


def _rule(spec: str, chain: list, where: str) -> ClientRule:
    return ClientRule(spec=spec, access=_perm(chain, "access_type", _ACCESS, "none"),
                      squash=_perm(chain, "squash", _SQUASH, "root"),
                      anonuid=_anon(chain, "anonymous_uid"), anongid=_anon(chain, "anonymous_gid"),
                      options=tuple(f"{k}={','.join(v)}" for b in chain[:1] for k, v, _ in b.params),
                      where=where)


def parse_ganesha(texts, source: str = "/etc/ganesha/ganesha.conf") -> tuple:
    """ganesha.conf (plus the text of included files, as (name, text) pairs or one string)
    -> tuple[NfsExport]."""
    if isinstance(texts, str):
        texts = [(source, texts)]
    roots = [(name, parse_config(text)) for name, text in texts]
    defaults = [b for _, r in roots for b in r.children("EXPORT_DEFAULTS")]
    exports = []
    for name, root in roots:
        for exp in root.children("EXPORT"):
            where = f"{name}:{exp.line}"
            path = exp.first("path")
            if not path:
                raise GaneshaError(f"{where}: EXPORT without Path")
            chain = [exp] + defaults
            rules = []
            for client in exp.children("CLIENT"):
                for spec in client.get("clients") or ():
                    rules.append(_rule(spec.strip(), [client] + chain, f"{name}:{client.line}"))
            export_id = exp.first("export_id")
            exports.append(NfsExport(
                path=path, rules=tuple(rules), server="ganesha", pseudo=exp.first("pseudo"),
                fallback=_rule("*", chain, where),
                protocols=tuple(p.lstrip("vV").lower() for p in (exp.get("protocols") or
                                                                 next((d.get("protocols") for d in defaults
                                                                       if d.get("protocols")), None) or ())),
                export_id=int(export_id) if export_id and export_id.isdigit() else None, where=where))
    return tuple(exports)
