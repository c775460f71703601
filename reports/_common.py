"""What all three renderers share: secret masking, text hygiene and the derived view.

Every renderer starts from ``report_document(report)``: the canonical ``RunReport.to_dict()``
with secret-looking evidence values masked. The HTML and terminal renderers then read
``build_view(doc)``, a plain dict of what to show (summary sentence, matrix, blockers,
hosts, checks), so the two human formats cannot drift apart in what they claim.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable, Optional

from preflight.model import status_rank, worst_status, worst_verdict
from preflight.scrub import MASK, mask_text, may_hold_secret   # the one mask and text scrubber of record and reports
from preflight.textsafe import visible

# Key words that mark a value as a secret. Matched against the *words* of a key
# ("ssh_private_key", "vncPassword", "X-Auth-Token"), so "keymap" or "passthrough" stay visible.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "secrets", "key", "keys",
    "token", "tokens", "credential", "credentials", "apikey", "privatekey", "psk",
})
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "privatekey")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: Any) -> bool:
    """True if a mapping key names something that must never be shown (password, key, ...)."""
    if not isinstance(key, str):
        return False
    return _secret_word_in(key)


@lru_cache(maxsize=8192)     # a report has a few hundred distinct keys, asked millions of times
def _secret_word_in(key: str) -> bool:
    for word in _WORD_SPLIT.split(key):
        w = word.lower()
        if not w:
            continue
        if w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES):
            return True
    return False


def mask_secrets(value: Any) -> Any:
    """Return a copy of ``value`` where every value under a secret-looking key is masked.

    Last line of defence only: facts are scrubbed before they become evidence. Applied
    recursively to dicts and lists; None and empty values stay as they are (nothing to hide,
    and "not set" is itself useful evidence).
    """
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if is_secret_key(k) and v not in (None, "", [], {}):
                out[k] = MASK
            elif type(v) is str:        # the common case, without a call per value
                out[k] = mask_text(v) if may_hold_secret(v) else v
            elif type(v) in _PLAIN:
                out[k] = v
            else:
                out[k] = mask_secrets(v)
        return out
    if kind is list or kind is tuple or isinstance(value, (dict, list, tuple)):
        if kind is not list and kind is not tuple:      # a dict or list subclass: the general way
            if isinstance(value, dict):
                return {k: (MASK if is_secret_key(k) and v not in (None, "", [], {}) else mask_secrets(v))
                        for k, v in value.items()}
        return [mask_secrets(v) for v in value]
    return mask_text(value)


_PLAIN = (int, float, bool, type(None))


def report_document(report) -> dict:
    """The canonical JSON document of a run, secrets masked. All renderers start here."""
    return mask_secrets(report.to_dict())


def clean_text(value: Any) -> str:
    """A printable one-piece string: control characters (terminal escapes), newlines and tabs
    (forged report lines), bidi and zero-width characters (spoofed names) made visible. A
    structured value keeps the newlines of its own JSON layout (its strings are JSON-escaped)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return visible(value)
    return visible(format_value(value), newlines=True)


def format_value(value: Any) -> str:
    """Evidence values as short human text: scalars as-is, lists joined, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=json_default)


def json_default(value: Any) -> Any:
    """For values a check put in evidence that json cannot encode (sets, enums, paths)."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if hasattr(value, "value") and isinstance(value.value, (str, int)):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def is_long(text: str, limit: int = 160) -> bool:
    return len(text) > limit or "\n" in text


def shorten(text: str, limit: int = 110) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# the view
# --------------------------------------------------------------------------------------------

STATUSES = ("pass", "warn", "fail", "error", "skip", "waived")
VERDICTS = ("pass", "warn", "fail", "unknown")
SEVERITIES = ("critical", "high", "medium", "low")

STATUS_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "skip": "SKIP",
                "waived": "WAIVED"}
VERDICT_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN"}
# Disk verdicts (preflight.engine.disks) add "skip": every storage result for it was SKIP.
DISK_VERDICTS = ("pass", "warn", "fail", "unknown", "skip")
DISK_VERDICT_LABEL = {**VERDICT_LABEL, "skip": "N/A"}
DISK_VERDICT_MEANING = {
    "pass": "the destination sees the same storage",
    "warn": "same storage, with a warning",
    "fail": "the destination does not see the same storage (or storage blocks the move)",
    "unknown": "could not be decided, or no storage check judged this disk",
    "skip": "nothing to share (e.g. an empty drive)",
}
VERDICT_MEANING = {
    "pass": "can live-migrate",
    "warn": "can live-migrate, with warnings",
    "fail": "blocked",
    "unknown": "could not be decided",
}
EXIT_MEANING = {
    0: "every migration of every running VM was judged, every check decided and nothing failed "
       "(or only what a valid waiver accepts): all of them can proceed, save those blocked by a waived finding",
    1: "at least one check failed: some migrations are blocked",
    2: "the command was used wrongly (no report is normally written)",
    3: "nothing failed, but the run is not a clean bill of health: something could not be decided "
       "(an ERROR, an unreachable host, guests that could not be listed, an unknown verdict) or no "
       "migration was judged at all",
}
SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}

OBSERVED_KEYS = ("observed", "expected", "source")


def _plural(n: int, one: str, many: Optional[str] = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def verdict_sentence(migration_counts: dict, total: int, unreachable: Iterable[str],
                     coverage: Optional[dict] = None, waived_only: int = 0) -> str:
    """The one sentence a CAB member reads first. It says what was judged before what was found:
    nothing judged, and guests that could not be listed, are never passed over in silence."""
    unreachable = list(unreachable)
    coverage = coverage or {}
    unassessed = coverage.get("unassessed") or []
    if coverage.get("nothing_judged"):
        sentence = f"No migration was judged: {coverage['nothing_judged']}."
    elif total == 0:
        sentence = "No migrations were evaluated."
    else:
        blocked = migration_counts.get("fail", 0)
        unknown = migration_counts.get("unknown", 0)
        ok = migration_counts.get("pass", 0)
        warn = migration_counts.get("warn", 0)
        parts = []
        if blocked:
            parts.append(f"{blocked} of {_plural(total, 'migration')} "
                         f"{'is' if blocked == 1 else 'are'} blocked"
                         + (f" ({'all' if waived_only == blocked else waived_only} of them only by waived "
                            f"findings: accepted risks)" if waived_only else ""))
        else:
            parts.append(f"No migration is blocked (of {total})")
        if unknown:
            parts.append(f"{unknown} could not be decided")
        can = ok + warn
        if can:
            tail = f"{can} can proceed"
            if warn:
                tail += f" ({warn} with warnings)"
            parts.append(tail)
        sentence = "; ".join(parts) + "."
    if unassessed and not coverage.get("nothing_judged"):
        sentence += " " + not_assessed_sentence(unassessed, total)
    # an unreachable host is named above (its guests are not assessed, or the reason names it)
    listed = {u["host"] for u in unassessed}
    others = [name for name in unreachable if name not in listed]
    if others and not coverage.get("nothing_judged"):
        sentence += f" {_plural(len(others), 'host')} could not be reached: {', '.join(others)}."
    return sentence


def unassessed_line(item: dict) -> str:
    """'guests on hv3 could not be listed: not assessed (hv3 unreachable: timed out)'"""
    why = item.get("reason") or "no reason recorded"
    return f"guests on {item['host']} could not be listed: not assessed ({why})"


def not_assessed_sentence(unassessed: list, total: int) -> str:
    """What the count of assessed migrations leaves out."""
    names = ", ".join(u["host"] for u in unassessed)
    return (f"Not assessed: the guests on {names}, which could not be listed; "
            f"{'this' if total == 1 else 'these'} {_plural(total, 'migration')} "
            f"{'does' if total == 1 else 'do'} not include theirs.")


def _result_matches_migration(r: dict, m: dict) -> bool:
    """Does result r bear on migration m? Used to find the message behind a blocker id."""
    dom, src, dst = m["domain"], m["source"], m["destination"]
    if r.get("domain") is not None and r.get("domain") != dom:
        return False
    if r.get("destination") is not None:
        return r["destination"] == dst and r.get("source", src) == src
    if r.get("source") is not None:
        return r["source"] == src
    if r.get("domain") == dom:
        return True  # domain scope: about the domain wherever it goes
    return r.get("host") in (src, dst)  # host scope


def _reasons_for(ids: Iterable[str], statuses: tuple, m: dict, by_check: dict) -> list:
    """[{check, reason}] for the ids behind a verdict: the matrix's own reason line for the id
    ("storage.shared: disk on local storage"), else the message of the matching result."""
    lines = list(m.get("reasons") or [])
    out = []
    for cid in ids:
        msg = ""
        for line in lines:
            for prefix in (f"{cid}: ", f"{cid} (warning): "):
                if line.startswith(prefix):
                    msg = line[len(prefix):]
                    break
            if msg:
                break
        if not msg:
            for r in by_check.get(cid, ()):
                if r["status"] in statuses and _result_matches_migration(r, m):
                    msg = r["message"]
                    break
        out.append({"check": cid, "reason": msg})
    return out


def _fallback_reasons(items: list, m: dict) -> list:
    """Give an id without a reason one of the migration's reason lines that names no check
    ("destination hv3 could not be checked: timed out" for host.reachable)."""
    ids = {i["check"] for i in items} | set(m.get("blockers") or []) | set(m.get("undecided") or []) \
        | set(m.get("warnings") or [])
    spare = [line for line in m.get("reasons") or []
             if not any(line.startswith(f"{cid}: ") or line.startswith(f"{cid} (warning): ")
                        for cid in ids)
             and line not in {i["reason"] for i in items}]
    for item in items:
        if not item["reason"] and spare:
            item["reason"] = spare.pop(0)
    return items


def _waived(items: list, m: dict, by_check: dict) -> list:
    """Mark the blockers a waiver accepts for this migration, with the waiver's ticket."""
    waived = set(m.get("waived") or ())
    for item in items:
        item["waived"] = item["check"] in waived
        if item["waived"]:
            item["ticket"] = next((r["waiver"].get("ticket") for r in by_check.get(item["check"], ())
                                   if r["status"] == "waived" and r.get("waiver")
                                   and _result_matches_migration(r, m)), None)
    return items


def waivers_view(doc: dict, checks_meta: dict) -> dict:
    """The waivers applied, each with its waived results (original status kept), and what went wrong
    with the others (expired, unmatched, refusing to hide an ERROR)."""
    waivers = [dict(w) for w in doc.get("waivers") or []]
    by_index: dict = {}
    for r in doc["results"]:
        if r["status"] == "waived" and r.get("waiver"):
            by_index.setdefault(r["waiver"].get("index"), []).append(r)
    for w in waivers:
        w["results"] = [_result_view(r, checks_meta.get(r["check"])) for r in by_index.get(w.get("index"), [])]
        w["line"] = (f"{w.get('ticket')}: {w.get('check')} for {w.get('subject')}"
                     + (f" disk {w['disk']}" if w.get("disk") else "")
                     + f", approved by {w.get('approver')} until {w.get('expires')}: {w.get('reason')}")
    return {"items": waivers, "count": len(waivers),
            "waived": sum(len(w["results"]) for w in waivers),
            "states": {s: sum(1 for w in waivers if w.get("state") == s) for s in ("active", "expired", "unmatched")}}


def _grouped(items: list, key, limit: int = 8) -> list:
    """[{key..., subjects, count, more}] so a hundred alike changes read as one line."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    out = []
    for k, members in groups.items():
        subjects = [m["label"] for m in members]
        out.append({"key": k, "count": len(members), "subjects": subjects[:limit],
                    "more": max(0, len(subjects) - limit), "items": members})
    return out


def drift_view(drift: Optional[dict]) -> Optional[dict]:
    """What changed since the previous run, grouped: findings by (status, check), verdicts by
    (was, now, blockers), so the list stays short at any size."""
    if not drift:
        return None
    from preflight.model import subject_key

    f = {kind: [dict(i, label=subject_key(i) + (f" disk {i['disk']}" if i.get("disk") else ""))
                for i in items] for kind, items in (drift.get("findings") or {}).items()}
    verdicts = [dict(v, label=f"{v['domain']}@{v['source']}->{v['destination']}")
                for v in (drift.get("verdicts") or {}).get("changed") or []]
    prev = drift.get("previous") or {}
    counts = drift.get("counts") or {}
    parts = [f"{counts.get('new', 0)} new finding{'s' if counts.get('new', 0) != 1 else ''}",
             f"{counts.get('resolved', 0)} resolved", f"{counts.get('changed', 0)} changed",
             f"{counts.get('verdicts_changed', 0)} verdict{'s' if counts.get('verdicts_changed', 0) != 1 else ''} "
             f"changed"]
    for key, what in (("hosts_appeared", "host(s) appeared"), ("hosts_gone", "host(s) gone"),
                      ("vms_appeared", "VM(s) appeared"), ("vms_gone", "VM(s) gone"), ("vms_moved", "VM(s) moved")):
        if counts.get(key):
            parts.append(f"{counts[key]} {what}")
    return {
        "previous": prev, "same_cluster": drift.get("same_cluster", True), "anything_changed": bool(drift.get("changed")),
        "sentence": (f"Since run {prev.get('run_id') or '?'} ({prev.get('started') or 'time unknown'}): "
                     + ", ".join(parts) + "." if drift.get("changed") else
                     f"Nothing changed since run {prev.get('run_id') or '?'} ({prev.get('started') or 'time unknown'})."),
        "new": _grouped(f.get("new") or [], lambda i: (i["status"], i["check"])),
        "resolved": _grouped(f.get("resolved") or [], lambda i: (i["status"], i["check"], i.get("now"))),
        "changed": _grouped(f.get("changed") or [], lambda i: (i.get("was"), i["status"], i["check"])),
        "verdicts": _grouped(verdicts, lambda v: (v["was"], v["now"], ", ".join(v["blockers"] or v["undecided"]))),
        "hosts": drift.get("hosts") or {}, "vms": drift.get("vms") or {},
        "migrations_new": (drift.get("verdicts") or {}).get("new", 0),
        "migrations_gone": (drift.get("verdicts") or {}).get("gone", 0),
    }


def build_view(doc: dict) -> dict:
    """Everything the human renderers show, derived from the (masked) canonical document."""
    run = doc["run"]
    hosts = doc["hosts"]
    results = doc["results"]
    migrations = doc["migrations"]
    checks_meta = {c["id"]: c for c in doc.get("checks") or []}

    by_check: dict = {}
    for r in results:
        by_check.setdefault(r["check"], []).append(r)
    # A result whose check is missing from the metadata is still shown, never dropped.
    for cid in by_check:
        if cid not in checks_meta:
            checks_meta[cid] = {"id": cid, "title": cid, "severity": "", "category": cid.split(".")[0],
                                "scope": "", "remediation": "", "rationale": "", "verifies": "",
                                "references": [], "origin": "unknown (no metadata in this report)"}

    host_names = [h["name"] for h in hosts]
    for m in migrations:  # a host seen only in migrations still gets a column
        for name in (m["source"], m["destination"]):
            if name not in host_names:
                host_names.append(name)
    unreachable = [h["name"] for h in hosts if not h["reachable"]]

    mcounts = {v: 0 for v in VERDICTS}
    for m in migrations:
        mcounts[m["verdict"]] = mcounts.get(m["verdict"], 0) + 1

    # ---- matrix: rows = domains grouped by source host, columns = destination hosts
    cells: dict = {}
    domains_by_source: dict = {}
    for m in migrations:
        cells[(m["source"], m["domain"], m["destination"])] = m
        domains_by_source.setdefault(m["source"], [])
        if m["domain"] not in domains_by_source[m["source"]]:
            domains_by_source[m["source"]].append(m["domain"])
    groups = []
    for src in host_names:
        if src not in domains_by_source:
            continue
        rows = []
        for dom in sorted(domains_by_source[src]):
            row_cells = []
            for dst in host_names:
                if dst == src:
                    row_cells.append({"kind": "self", "destination": dst})
                    continue
                m = cells.get((src, dom, dst))
                if m is None:
                    row_cells.append({"kind": "none", "destination": dst})
                    continue
                row_cells.append({
                    "kind": "verdict",
                    "destination": dst,
                    "verdict": m["verdict"],
                    "label": VERDICT_LABEL.get(m["verdict"], m["verdict"].upper()),
                    "blockers": _waived(_fallback_reasons(_reasons_for(m.get("blockers") or [], ("fail", "waived"),
                                                                       m, by_check), m), m, by_check),
                    "undecided": _fallback_reasons(_reasons_for(m.get("undecided") or [], ("error",), m, by_check), m),
                    "warnings": _reasons_for(m.get("warnings") or [], ("warn",), m, by_check),
                })
            worst = worst_verdict(c.get("verdict") for c in row_cells if c["kind"] == "verdict")
            rows.append({"domain": dom, "cells": row_cells, "worst": worst})
        groups.append({"source": src, "rows": rows,
                       "reachable": src not in unreachable, "unassessed": None})
    # A source whose guests could not be listed keeps its place in the matrix, saying so.
    coverage = run.get("coverage") or {}
    unassessed = [dict(u, line=unassessed_line(u)) for u in coverage.get("unassessed") or []]
    for u in unassessed:
        if u["host"] not in host_names:
            host_names.append(u["host"])
    order = {name: i for i, name in enumerate(host_names)}
    for u in unassessed:
        groups = [g for g in groups if g["source"] != u["host"]]
        groups.append({"source": u["host"], "rows": [], "reachable": u["host"] not in unreachable,
                       "unassessed": u["line"]})
    groups.sort(key=lambda g: order.get(g["source"], len(order)))
    matrix = {"destinations": [{"name": n, "reachable": n not in unreachable} for n in host_names],
              "groups": groups}

    # ---- what blocks migrations: failing checks, worst severity first
    blocking = []
    for cid, rs in by_check.items():
        fails = [r for r in rs if r["status"] == "fail"]
        if not fails:
            continue
        affected = [m for m in migrations if cid in (m.get("blockers") or [])]
        meta = checks_meta[cid]
        blocking.append({
            "check": meta,
            "results": [_result_view(r, meta) for r in fails],
            "affected": _group_affected(affected),
            "affected_count": len(affected),
        })
    blocking.sort(key=lambda b: (SEVERITY_ORDER.get(b["check"].get("severity"), 9),
                                 -b["affected_count"], b["check"]["id"]))

    # ---- what could not be decided
    undecided = []
    for cid, rs in by_check.items():
        errs = [r for r in rs if r["status"] == "error"]
        if errs:
            affected = [m for m in migrations if cid in (m.get("undecided") or [])]
            undecided.append({"check": checks_meta[cid],
                              "results": [_result_view(r, checks_meta[cid]) for r in errs],
                              "affected": _group_affected(affected),
                              "affected_count": len(affected)})
    undecided.sort(key=lambda b: b["check"]["id"])
    unknown_migrations = [m for m in migrations if m["verdict"] == "unknown"]

    # ---- hosts, with the domains each one runs
    host_domains: dict = {}
    for m in migrations:
        host_domains.setdefault(m["source"], set()).add(m["domain"])
    for r in results:
        if r.get("domain") and (r.get("source") or r.get("host")):
            host_domains.setdefault(r.get("source") or r.get("host"), set()).add(r["domain"])
    host_rows = []
    for h in hosts:
        row = dict(h)
        row["missing_facts"] = h.get("missing_facts") or {}
        row["guests_listed"] = h.get("guests_listed", h["reachable"])
        row["state"] = ("unreachable" if not h["reachable"] else
                        "unusable" if row["missing_facts"] else "ok")
        row["domain_names"] = sorted(host_domains.get(h["name"], ()))
        host_statuses = [r["status"] for r in results if r.get("host") == h["name"]]
        row["result_counts"] = {s: host_statuses.count(s) for s in STATUSES}
        host_rows.append(row)

    # ---- per check, category order as in the registry, then id
    check_sections = []
    order = list(doc.get("checks") and [c["id"] for c in doc["checks"]] or [])
    order += sorted(cid for cid in checks_meta if cid not in order)
    for cid in order:
        meta = checks_meta[cid]
        rs = sorted(by_check.get(cid, []),
                    key=lambda r: (-status_rank(r["status"]), r.get("subject") or ""))
        counts = {s: sum(1 for r in rs if r["status"] == s) for s in STATUSES}
        check_sections.append({
            "meta": meta,
            "results": [_result_view(r, meta) for r in rs],
            "counts": counts,
            "worst": worst_status(r["status"] for r in rs),
        })

    disks = _disks_view(doc.get("domains") or [], host_names)

    counts = run.get("counts") or {s: sum(1 for r in results if r["status"] == s) for s in STATUSES}
    exit_code = run.get("exit_code")
    waived_only = sum(1 for m in migrations if m["verdict"] == "fail"
                      and set(m.get("blockers") or ()) <= set(m.get("waived") or ()))
    return {
        "doc": doc,
        "cluster": run["cluster"],
        "started": run["started"],
        "finished": run["finished"],
        "duration": _duration(run["started"], run["finished"]),
        "source": run.get("source") or "live",
        "source_kind": "replay" if str(run.get("source", "")).startswith("replay") else "live",
        "selection": run.get("selection") or {},
        "tool": doc["tool"],
        "schema_version": doc.get("schema_version"),
        "counts": counts,
        "total": sum(counts.values()),
        "exit_code": exit_code,
        "exit_meaning": EXIT_MEANING.get(exit_code, "unexpected exit code"),
        "migration_counts": mcounts,
        "migration_total": len(migrations),
        "sentence": verdict_sentence(mcounts, len(migrations), unreachable, coverage, waived_only),
        "overall": "unknown" if coverage.get("nothing_judged") else
                   _overall(dict(mcounts, fail=mcounts.get("fail", 0) - waived_only), counts, unreachable,
                            unassessed, waived_only),
        "nothing_judged": coverage.get("nothing_judged"),
        "unassessed": unassessed,
        "facts_recorded": run.get("facts_recorded"),
        "meta": run_metadata(run),
        "waivers": waivers_view(doc, checks_meta),
        "drift": drift_view(doc.get("drift")),
        "waived_only": waived_only,
        "unreachable": unreachable,
        "matrix": matrix,
        "blocking": blocking,
        "undecided": undecided,
        "unknown_migrations": unknown_migrations,
        "hosts": host_rows,
        "checks": check_sections,
        "disks": disks,
    }


def age_text(seconds) -> Optional[str]:
    """'6 days 9 h', '2 h 5 min', '40 s': how old the facts are, for a person."""
    if seconds is None:
        return None
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{_plural(days, 'day')} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def run_metadata(run: dict) -> dict:
    """Who ran it, the command line, the inputs and their digests, as short lines for a person:
    [(label, text)] in the order a change advisory board asks for them. A report made before the
    metadata existed (or built in code) gives fewer lines, never invented ones."""
    import shlex

    lines = []
    if run.get("id"):
        lines.append(("Run id", run["id"]))
    op = run.get("operator") or {}
    if op:
        who = f"{op.get('user', '?')}@{op.get('host', '?')}"
        if op.get("sudo_user"):
            who += f" (sudo from {op['sudo_user']})"
        lines.append(("Operator", who))
    if run.get("command"):
        lines.append(("Command", " ".join(shlex.quote(str(a)) for a in run["command"])))
    inv = run.get("inventory")
    if inv:
        lines.append(("Inventory", f"{inv.get('path')} (sha256 {inv.get('sha256') or 'unreadable'})"))
    rec = run.get("recording")
    if rec:
        lines.append(("Recording", f"{rec.get('path')} (sha256 {rec.get('sha256') or 'unreadable'})"))
        lines.append(("Recorded", f"{rec.get('recorded') or 'at an unknown time'} on cluster "
                                  f"{rec.get('cluster') or '?'} by preflight {rec.get('tool_version') or '?'}"))
    age = age_text(run.get("facts_age_s"))
    if age is not None and rec:
        lines.append(("Facts age", f"{age} old when this run started"))
    opts = run.get("options") or {}
    sel = run.get("selection") or {}
    changing = []
    if sel.get("only"):
        changing.append("--only " + ",".join(sel["only"]))
    if sel.get("skip"):
        changing.append("--skip " + ",".join(sel["skip"]))
    if opts.get("write_test"):
        changing.append("--write-test (intrusive)")
    for key, flag in (("waivers", "--waivers"), ("previous", "--previous")):
        ref = opts.get(key)
        if ref:
            changing.append(f"{flag} {ref.get('path')} (sha256 {ref.get('sha256') or 'unreadable'})")
    if run.get("id"):
        lines.append(("Verdict options", "; ".join(changing) if changing else "none (all checks, read-only)"))
    return {"lines": lines, "run_id": run.get("id"),
            "operator": lines[1][1] if len(lines) > 1 and lines[1][0] == "Operator" else None}


def _disks_view(domains: list, host_names: list) -> dict:
    """The Disks section: per source host, per domain, one row per disk with one cell per destination
    (columns in inventory order), plus counts of the disk/destination verdicts."""
    counts = {v: 0 for v in DISK_VERDICTS}
    groups: dict = {}
    for item in domains:
        disks = []
        for disk in item.get("disks") or []:
            by_host = {d["host"]: d for d in disk.get("destinations") or []}
            cells = []
            for name in host_names:
                if name == item["host"]:
                    continue
                d = by_host.get(name)
                if d is None:
                    continue
                verdict = d.get("verdict") or "unknown"
                counts[verdict] = counts.get(verdict, 0) + 1
                cells.append({**d, "verdict": verdict,
                              "label": DISK_VERDICT_LABEL.get(verdict, verdict.upper()),
                              "backing": [{"path": b["path"], "identity": (b.get("destinations") or {}).get(name)}
                                          for b in disk.get("backing") or []]})
            cells += [{**d, "label": DISK_VERDICT_LABEL.get(d.get("verdict"), "UNKNOWN"), "backing": []}
                      for h, d in by_host.items() if h not in host_names]
            disks.append({**disk, "cells": cells,
                          "worst": worst_verdict(c["verdict"] for c in cells)})
        destinations = [c["host"] for c in disks[0]["cells"]] if disks else \
            [n for n in host_names if n != item["host"]]
        groups.setdefault(item["host"], []).append({
            "domain": item["domain"], "error": item.get("error"), "disks": disks,
            "destinations": destinations,
            "worst": worst_verdict(d["worst"] for d in disks),
        })
    ordered = [{"host": h, "domains": groups[h]} for h in host_names if h in groups]
    ordered += [{"host": h, "domains": doms} for h, doms in groups.items() if h not in host_names]
    total = sum(counts.values())
    return {"groups": ordered, "counts": counts, "total": total,
            "domain_count": len(domains),
            "disk_count": sum(len(i.get("disks") or []) for i in domains)}


def _overall(mcounts: dict, counts: dict, unreachable: list, unassessed: list = (), waived_only: int = 0) -> str:
    """'fail', 'unknown', 'warn' or 'pass': colour of the headline. `mcounts["fail"]` counts the
    migrations blocked by something not waived; those blocked only by waived findings make it 'warn'."""
    if mcounts.get("fail") or counts.get("fail"):
        return "fail"
    if mcounts.get("unknown") or counts.get("error") or unreachable or unassessed:
        return "unknown"
    if mcounts.get("warn") or counts.get("warn") or waived_only or counts.get("waived"):
        return "warn"
    return "pass"


def _group_affected(migrations: list) -> list:
    """[{domain, source, destinations: [...]}] so a long list of pairs stays readable."""
    grouped: dict = {}
    for m in migrations:
        grouped.setdefault((m["domain"], m["source"]), []).append(m["destination"])
    return [{"domain": d, "source": s, "destinations": sorted(dsts)}
            for (d, s), dsts in sorted(grouped.items())]


def _result_view(r: dict, meta: Optional[dict] = None) -> dict:
    ev = r.get("evidence") or {}
    other = [(k, format_value(v)) for k, v in sorted(ev.items())
             if k not in OBSERVED_KEYS and k != "remediation"]
    # The runner copies the check's remediation into the evidence of every FAIL/WARN/ERROR; it is
    # shown once per check. A remediation particular to this result is shown with the result.
    remedy = ev.get("remediation")
    if remedy is not None and meta is not None and format_value(remedy) == (meta.get("remediation") or ""):
        remedy = None
    return {
        "remediation": format_value(remedy) if remedy is not None else None,
        **r,
        "observed": format_value(ev.get("observed")) if "observed" in ev else None,
        "expected": format_value(ev.get("expected")) if "expected" in ev else None,
        "where": ev.get("source"),
        "other": other,
        "label": STATUS_LABEL.get(r["status"], str(r["status"]).upper()),
        "where_text": _where(r),
    }


def _where(r: dict) -> str:
    """What the result is about (host, pair, disk), as far as the subject does not say it already."""
    subject = r.get("subject") or ""
    parts = []
    if r.get("source") and r.get("destination"):
        if not subject.endswith(f"{r['source']} -> {r['destination']}"):
            parts.append(f"{r['source']} → {r['destination']}")
    elif r.get("host") and r["host"] != subject:
        parts.append(f"on {r['host']}")
    if r.get("disk"):
        parts.append(f"disk {r['disk']}")
    return ", ".join(parts)


def _duration(started: str, finished: str) -> Optional[str]:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
    except ValueError:
        return None
    try:
        seconds = (b - a).total_seconds()
    except TypeError:  # one naive, one aware
        return None
    if seconds < 0:
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"
