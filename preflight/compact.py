"""The compact form of a JSON report's results: a verdict repeated for thousands of subjects is one
group, its subjects listed, instead of thousands of objects.

A result names its subject in its fields (host, domain, source, destination) and usually again in
its id, subject, message and evidence ("no disk of vm7 uses <auth>"). The compact form writes each
result as a *template* (the result with those names replaced by ``{host}``, ``{domain}``,
``{source}``, ``{destination}``; literal braces doubled, as in ``str.format``) and groups the
results that have the same template:

    {"group": {"fields": ["domain", "source", "destination"],
               "template": {"check": "storage.disk_secrets", "status": "skip", "host": "{source}",
                            "message": "no disk of {domain} uses <auth>", "domain": "{domain}", ...},
               "subjects": [[4, 0, 1], ...],
               "at": [17, ...]}}

A row holds the subject's names as indices into the document's ``subject_names`` (a row may also hold
the names themselves). ``at`` is where each result stands in the full list, so `expand` gives back
exactly the full results, in order. The migrations and the disk inventory (`domains`) are compacted
the same way. A result is templated only when formatting its template with its own names gives back every
one of its strings exactly (checked for every string, every result); any other result is written as it
is, so the compact form loses nothing. Both forms are described by reports/schema/report.schema.json;
``run.results_form`` says which one a document uses (absent: full, as before this form existed).

Pure functions over JSON-ready dicts: the engine (drift), the renderers and the CLI share them.
"""

from __future__ import annotations

import json
from typing import Any

FIELDS = ("domain", "source", "destination", "host")    # placeholder names, the most specific first
FORM_KEY = "results_form"
NAMES_KEY = "subject_names"       # the compact document's names, which group rows index
GROUPED = ("results", "migrations", "domains")    # the lists the compact form groups
# a group of fewer results than this is written as those results: nothing to gain
MIN_GROUP = 2


class _Mismatch(Exception):
    """A string whose template does not give it back: the result is written in full."""


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _template_str(text: str, names: list, values: dict) -> str:
    if "{" not in text and "}" not in text:
        for _, _, raw in names:
            if raw in text:
                break
        else:
            return text                     # nothing to replace, nothing to escape: the common case
    out = _esc(text)
    for key, escaped, _raw in names:
        if escaped in out:
            out = out.replace(escaped, "{" + key + "}")
    try:
        back = out.format_map(values)
    except (KeyError, ValueError, IndexError, AttributeError):
        raise _Mismatch from None
    if back != text:
        raise _Mismatch
    return out


_SCALARS = (int, float, bool, type(None))
# keys whose values are a vocabulary (check ids, statuses, scopes, severities, verdicts), never a name:
# kept literally (they hold no brace), not searched for names
_LITERAL = frozenset({"check", "status", "scope", "severity", "verdict"})


def _template(value: Any, names: list, values: dict) -> Any:
    kind = type(value)
    if kind is str:
        return _template_str(value, names, values)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: (v if k in _LITERAL and type(v) is str and "{" not in v and "}" not in v else
                    _template_str(v, names, values) if type(v) is str else
                    v if type(v) in _SCALARS else _template(v, names, values)) for k, v in value.items()}
    if kind is list:
        return [_template(v, names, values) for v in value]
    if isinstance(value, str):
        return _template_str(value, names, values)
    if isinstance(value, dict):
        return {k: _template(v, names, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_template(v, names, values) for v in value]
    return value


def _fill(value: Any, values: dict) -> Any:
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def template_of(result: dict):
    """(fields, template) of one full result, or None when it cannot be templated exactly."""
    present = [k for k in FIELDS if isinstance(result.get(k), str) and result[k]]
    values = {k: result[k] for k in present}
    # longest name first, so "vm-hv1-007" is replaced before the "hv1" inside it; one placeholder per
    # distinct name (host and source are usually the same host: "host": "{source}")
    names, seen = [], set()
    for key in sorted(present, key=lambda k: (-len(values[k]), FIELDS.index(k))):
        if values[key] not in seen:
            seen.add(values[key])
            names.append((key, _esc(values[key]), values[key]))
    fields = tuple(k for k in FIELDS if any(k == n for n, _, _ in names))
    try:
        return fields, _template(result, names, {k: values[k] for k in fields})
    except _Mismatch:
        return None


class Names:
    """The document's table of subject names: a group's rows hold their indices (`subject_names`)."""

    def __init__(self):
        self.names: list = []
        self.index: dict = {}

    def __call__(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
        return i


def compact_results(results: list, names: "Names | None" = None) -> list:
    """The compact form of a list of full result (or migration) dicts (see the module docstring); with
    a `names` table the rows hold indices into it instead of the names."""
    groups: dict = {}       # (fields, template JSON) -> [fields, template, subjects, at]
    singles = []            # (index, result) written as they are
    for index, r in enumerate(results):
        made = template_of(r) if isinstance(r, dict) else None
        if made is None:
            singles.append((index, r))
            continue
        fields, tmpl = made
        key = (fields, json.dumps(tmpl, sort_keys=True, ensure_ascii=False, default=str))
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = [fields, tmpl, [], []]
        entry[2].append([names(r[k]) for k in fields] if names is not None else [r[k] for k in fields])
        entry[3].append(index)
    out = []
    for fields, tmpl, subjects, at in groups.values():
        if len(at) < MIN_GROUP:
            singles.append((at[0], results[at[0]]))
            continue
        out.append((at[0], {"group": {"fields": list(fields), "template": tmpl, "subjects": subjects,
                                      "at": at}}))
    out += singles
    out.sort(key=lambda item: item[0])
    return [item for _, item in out]


def is_group(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("group"), dict) and len(entry) == 1


def _name(value, names: list):
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    raise ValueError("a result group's row names no subject (its index is not in subject_names)")


def expand_results(entries: list, names: "list | None" = None) -> list:
    """The full results of a compact (or already full) results list, in their original order; `names`
    is the document's subject_names, which rows of indices refer to."""
    names = names or []
    if not any(is_group(e) for e in entries):
        return list(entries)
    placed = []
    for pos, entry in enumerate(entries):
        if not is_group(entry):
            placed.append((None, pos, entry))
            continue
        g = entry["group"]
        fields, tmpl = g.get("fields") or [], g.get("template")
        subjects, at = g.get("subjects") or [], g.get("at") or []
        if not isinstance(tmpl, dict) or len(at) != len(subjects):
            raise ValueError("a result group without its template, or with subjects and positions "
                             "that do not pair up")
        for row, index in zip(subjects, at):
            if len(row) != len(fields):
                raise ValueError("a result group's subject row does not match its fields")
            placed.append((index, pos, _fill(tmpl, {f: _name(v, names) for f, v in zip(fields, row)})))
    # singles sit between the groups' positions: give each the position it had in the full list
    full_len = len(placed)
    taken = {i for i, _, _ in placed if i is not None}
    free = iter(i for i in range(full_len) if i not in taken)
    ordered = [None] * full_len
    for index, _pos, r in placed:
        if index is None:
            index = next(free)
        if not (0 <= index < full_len) or ordered[index] is not None:
            raise ValueError("result positions of the compact form overlap or run past its end")
        ordered[index] = r
    return ordered


def compact_document(doc: dict) -> dict:
    """A report document (full form) in the compact form; the input is not changed."""
    if (doc.get("run") or {}).get(FORM_KEY) == "compact":
        return doc
    out = dict(doc)
    out["run"] = dict(doc.get("run") or {}, **{FORM_KEY: "compact"})
    names = Names()
    out["results"] = compact_results(doc.get("results") or [], names)
    for key in GROUPED[1:]:
        if isinstance(doc.get(key), list):
            out[key] = compact_results(doc[key], names)
    out[NAMES_KEY] = names.names
    return out


def expand_document(doc: dict) -> dict:
    """A report document in the full form (per-subject results), whichever form it was written in.
    A full document is returned as it is."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        return doc
    run = doc.get("run")
    lists = {k: doc[k] for k in GROUPED if isinstance(doc.get(k), list)}
    if not (isinstance(run, dict) and run.get(FORM_KEY) == "compact") \
            and not any(is_group(e) for items in lists.values() for e in items):
        return doc
    out = {k: v for k, v in doc.items() if k != NAMES_KEY}
    names = doc.get(NAMES_KEY) if isinstance(doc.get(NAMES_KEY), list) else []
    for key, items in lists.items():
        out[key] = expand_results(items, names)
    if isinstance(run, dict):
        out["run"] = {k: v for k, v in run.items() if k != FORM_KEY}
    return out
