"""Is a raw facts recording one preflight can read? Checked before any parser touches it.

The published schema is ``reports/schema/record.schema.json`` (JSON Schema draft 2020-12). It types
every key the parsers read and allows unknown keys everywhere, so recordings made by newer versions
(more facts) still replay, while a hand-edited or truncated one is refused with the key named:

    facts.json: hosts.hv1: must be an object, not a string

This module validates with a small validator of its own instead of the jsonschema package: the
schema uses a handful of keywords (``SUPPORTED``), the check runs on every replay, and a runtime
dependency (jsonschema with its compiled rpds backend) for ~100 lines was not worth it. The tests
validate the same schema with jsonschema itself and require both to agree; a keyword outside the
subset makes ``check_schema`` fail, so the schema cannot silently grow rules this validator skips.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Optional

SCHEMA_FILE = "record.schema.json"
SUPPORTED = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum",
                       "const", "minimum", "minLength", "$ref"})
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "$comment", "default",
                         "examples"})
# Real recordings nest 7 levels (hosts.hv1.image_access.stats.stat_0.rc); refusing anything much
# deeper keeps every later reader (parsers, --record's json.dumps) far from Python's recursion limit.
MAX_DEPTH = 32

_TYPES = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "true or false", "null": "null"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def schema_path():
    """Where the published schema is, found without importing preflight.reports (and jinja2)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("preflight.reports")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - broken install
        raise FileNotFoundError("preflight.reports is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "schema" / SCHEMA_FILE


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return schema_path().read_text(encoding="utf-8")


def load_schema() -> dict:
    """The record schema; a fresh copy each call."""
    return json.loads(_schema_text())


def check_schema(schema: dict) -> None:
    """Raise ValueError if the schema uses a keyword this validator does not implement."""
    stack = [("#", schema)]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a schema must be an object")
        unknown = set(node) - SUPPORTED - ANNOTATIONS
        if unknown:
            raise ValueError(f"{where}: keyword(s) {sorted(unknown)} are not implemented by "
                             f"preflight.facts.record_schema")
        for key in ("properties", "$defs"):
            stack += [(f"{where}/{key}/{k}", v) for k, v in (node.get(key) or {}).items()]
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                stack.append((f"{where}/{key}", node[key]))


def path_text(path) -> str:
    """hosts.hv1.libvirt.domains[0].xml; odd keys quoted: hosts["hv1.example.org"].shell."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "(top level)"


def too_deep(doc: Any, limit: int = MAX_DEPTH) -> Optional[list]:
    """The path of the first value nested deeper than `limit`, or None (iterative: no recursion)."""
    stack = [(doc, [], 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > limit:
            return path
        if isinstance(node, dict):
            stack += [(v, path + [str(k)], depth + 1) for k, v in node.items()
                      if isinstance(v, (dict, list))]
        elif isinstance(node, list):
            stack += [(v, path + [i], depth + 1) for i, v in enumerate(node) if isinstance(v, (dict, list))]
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is(value: Any, name: str) -> bool:
    kind = _kind(value)
    if name == "integer":
        return kind == "integer" or (kind == "number" and float(value).is_integer())
    if name == "number":
        return kind in ("integer", "number")
    return kind == name


def _resolve(root: dict, ref: str) -> dict:
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"unsupported $ref {ref!r}: only #/$defs/NAME")
    return root["$defs"][ref[len("#/$defs/"):]]


def errors(doc: Any, schema: Optional[dict] = None, limit: int = 1) -> list:
    """Up to `limit` problems as (path list, message), in document order; [] when valid."""
    root = schema if schema is not None else _checked_schema()
    found: list = []
    _validate(doc, root, root, [], found, limit)
    return found


@lru_cache(maxsize=1)
def _checked_schema() -> dict:
    schema = load_schema()
    check_schema(schema)
    return schema


def _validate(value: Any, node: dict, root: dict, path: list, found: list, limit: int) -> None:
    if len(found) >= limit:
        return
    while "$ref" in node:
        node = _resolve(root, node["$ref"])

    def fail(message: str) -> None:
        found.append((list(path), message))

    if "type" in node:
        names = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_is(value, n) for n in names):
            wanted = " or ".join(_TYPES.get(n, n) for n in names)
            fail(f"must be {wanted}, not {_TYPES.get(_kind(value), _kind(value))}")
            return
    if "const" in node and value != node["const"]:
        fail(f"must be {json.dumps(node['const'])}")
        return
    if "enum" in node and value not in node["enum"]:
        fail("must be one of " + ", ".join(json.dumps(v) for v in node["enum"]))
        return
    if "minimum" in node and _kind(value) in ("integer", "number") and value < node["minimum"]:
        fail(f"must be at least {node['minimum']}, not {value}")
        return
    if "minLength" in node and isinstance(value, str) and len(value) < node["minLength"]:
        fail("must not be empty" if node["minLength"] == 1
             else f"must have at least {node['minLength']} characters")
        return
    if isinstance(value, dict):
        for key in node.get("required") or ():
            if key not in value:
                found.append((path + [key], "is missing (a required key)"))
                if len(found) >= limit:
                    return
        props = node.get("properties") or {}
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            sub = props.get(key)
            if sub is None:
                if extra is False:
                    found.append((path + [key], "is not a key this format has"))
                elif isinstance(extra, dict):
                    _validate(item, extra, root, path + [key], found, limit)
            else:
                _validate(item, sub, root, path + [key], found, limit)
            if len(found) >= limit:
                return
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            _validate(item, node["items"], root, path + [i], found, limit)
            if len(found) >= limit:
                return


def problem(record: Any) -> Optional[str]:
    """One line naming the key and what is wrong with it, or None if the record is usable."""
    deep = too_deep(record)
    if deep is not None:
        shown = path_text(deep[:8]) + ("…" if len(deep) > 8 else "")
        return f"{shown}: nested deeper than {MAX_DEPTH} levels"
    found = errors(record)
    if not found:
        return None
    path, message = found[0]
    return f"{path_text(path)}: {message}"
