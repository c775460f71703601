"""What the HTML page adds to the shared view so it stays small and readable at any cluster size.

``build_view`` (reports._common) says what is true of every migration and result; this module only
folds it for a person: VMs whose matrix rows are identical become one row, results whose evidence is
identical become one entry with its subjects, each host gets a "can it be drained, and where to"
line, and passing or skipped results are counted with a sample of their evidence (the JSON report is
the full record). Nothing here decides a verdict: it regroups what the view already holds.
"""

from __future__ import annotations

from typing import Iterable

from preflight.reports._common import VERDICTS

# Sizes above which the page shows samples or compact forms (the JSON lists everything).
QUIET_GROUPS = 12          # passing/skipped result groups shown per check
QUIET_SUBJECTS = 8         # subjects named per passing/skipped group
SUBJECTS_INLINE = 8        # subjects shown before the rest is folded
FULL_GROUPS = 20           # result groups of one check with a full evidence table; the others in a compact one
DISK_TABLE_LIMIT = 30      # up to this many VMs, one disk table per VM; above, disks grouped alike

_RANK = {v: i for i, v in enumerate(("fail", "unknown", "warn", "pass"))}
_OK = ("pass", "warn")


def html_view(view: dict) -> dict:
    """The HTML-only groupings of a build_view() dict (which it does not change)."""
    matrix = grouped_matrix(view["matrix"])
    return {
        "matrix": matrix,
        "drain": drain(view),
        "disk_groups": disk_groups(view["disks"]) if view["disks"]["domain_count"] > DISK_TABLE_LIMIT else None,
        "vm_total": sum(g["vm_count"] for g in matrix["groups"]),
    }


# ---- results with the same evidence ---------------------------------------------------------------

def _evidence_key(r: dict) -> tuple:
    return (r["status"], r.get("message"), r.get("observed"), r.get("expected"), str(r.get("where")),
            r.get("remediation"), tuple(r.get("other") or ()), r.get("check"),
            str((r.get("waiver") or {}).get("ticket")), str((r.get("waiver") or {}).get("status")))


def subject_label(r: dict) -> str:
    return r.get("subject") or "" if not r.get("where_text") else f"{r.get('subject') or ''} ({r['where_text']})"


def group_results(results: Iterable[dict], limit: int = 0, subjects: int = 0) -> dict:
    """{groups: [{r, count, subjects, more}], shown, total, hidden}: results whose status, message and
    evidence are identical shown once with all their subjects. `limit` caps the groups and `subjects`
    the names per group (0: no cap); what is left out is counted in `hidden` and `more`."""
    groups: dict = {}
    total = 0
    for r in results:
        total += 1
        g = groups.get(_evidence_key(r))
        if g is None:
            groups[_evidence_key(r)] = g = {"r": r, "labels": []}
        g["labels"].append(subject_label(r))
    out, shown = [], 0
    for g in groups.values():
        if limit and len(out) >= limit:
            break
        labels = g["labels"]
        keep = labels[:subjects] if subjects else labels
        out.append({"r": g["r"], "count": len(labels), "subjects": keep, "more": len(labels) - len(keep)})
        shown += len(labels)
    return {"groups": out, "total": total, "shown": shown, "hidden": total - shown}


def quiet_summary(results: list) -> dict:
    """Passing and skipped results of one check, counted, with a sample of their evidence."""
    return group_results(results, limit=QUIET_GROUPS, subjects=QUIET_SUBJECTS)


def group_affected(affected: list) -> list:
    """build_view's [{domain, source, destinations}] regrouped as [{source, destinations, domains}]:
    the VMs of one host blocked towards the same hosts read as one line."""
    grouped: dict = {}
    for a in affected:
        grouped.setdefault((a["source"], tuple(a["destinations"])), []).append(a["domain"])
    return [{"source": s, "destinations": list(d), "domains": doms} for (s, d), doms in grouped.items()]


# ---- the matrix, VMs with identical rows as one ---------------------------------------------------

def _cell_key(c: dict) -> tuple:
    if c["kind"] != "verdict":
        return (c["kind"],)
    return (c["verdict"], tuple((b["check"], b.get("waived"), b.get("ticket")) for b in c["blockers"]),
            tuple(b["check"] for b in c["undecided"]), tuple(b["check"] for b in c["warnings"]))


def _common(items_per_member: list) -> list:
    """The reason lines of one cell across a group's members: a reason shared by all is kept, one
    that differs between the VMs is replaced by a pointer to the per-check evidence."""
    first = items_per_member[0]
    out = []
    for j, item in enumerate(first):
        reasons = {m[j]["reason"] for m in items_per_member}
        out.append(dict(item, reason=item["reason"] if len(reasons) == 1 else "", varies=len(reasons) > 1))
    return out


def grouped_matrix(matrix: dict) -> dict:
    """The matrix with VMs whose cells are identical (same verdict and same check ids towards every
    destination) merged into one row naming them all; worst rows first within each source host."""
    groups = []
    for g in matrix["groups"]:
        by_key: dict = {}
        for row in g["rows"]:
            by_key.setdefault(tuple(_cell_key(c) for c in row["cells"]), []).append(row)
        rows = []
        for members in by_key.values():
            cells = []
            for i, c in enumerate(members[0]["cells"]):
                if c["kind"] != "verdict" or len(members) == 1:
                    cells.append(c)
                    continue
                cells.append(dict(c, **{k: _common([m["cells"][i][k] for m in members])
                                        for k in ("blockers", "undecided", "warnings")}))
            rows.append({"domains": [m["domain"] for m in members], "cells": cells,
                         "worst": members[0]["worst"] or "unknown"})   # no verdict at all is no pass
        rows.sort(key=lambda r: (_RANK.get(r["worst"], 9), r["domains"][0]))
        groups.append(dict(g, rows=rows, vm_count=len(g["rows"]),
                           all_pass=sum(len(r["domains"]) for r in rows if r["worst"] == "pass")))
    return dict(matrix, groups=groups)


# ---- can each host be drained, and where to -------------------------------------------------------

def drain(view: dict) -> list:
    """Per host: can every VM running on it live-migrate somewhere (judged per VM, one at a time: the
    memory check sees each move alone, not the sum of a whole drain), which hosts take all of them,
    and which VMs cannot move."""
    by_source = {g["source"]: g for g in view["matrix"]["groups"]}
    names = [d["name"] for d in view["matrix"]["destinations"]]
    out = []
    for h in view["hosts"]:
        g = by_source.get(h["name"])
        row = {"host": h["name"], "reachable": h["reachable"], "vms": 0, "state": "pass",
               "take_all": [], "takes": [], "stuck": [], "undecided": [], "why": ""}
        if g is not None and g.get("unassessed"):
            row.update(state="unknown", why=g["unassessed"])
            out.append(row)
            continue
        if g is None:
            row["why"] = ("no running VM: nothing to drain" if h.get("guests_listed", h["reachable"])
                          else "guests not listed")
            if not h.get("guests_listed", h["reachable"]):
                row["state"] = "unknown"
            out.append(row)
            continue
        takes = {n: 0 for n in names if n != h["name"]}
        causes: dict = {}
        for r in g["rows"]:
            cells = [c for c in r["cells"] if c["kind"] == "verdict"]
            ok = [c["destination"] for c in cells if c["verdict"] in _OK]
            for d in ok:
                takes[d] = takes.get(d, 0) + 1
            if ok:
                continue
            if not cells or any(c["verdict"] != "fail" for c in cells):   # undecided, or not evaluated
                row["undecided"].append(r["domain"])
            else:
                row["stuck"].append(r["domain"])
                for c in cells:
                    for b in c["blockers"]:
                        causes[b["check"]] = causes.get(b["check"], 0) + 1
        row["vms"] = len(g["rows"])
        row["take_all"] = [d for d, n in takes.items() if n == row["vms"]]
        row["takes"] = sorted(((d, n) for d, n in takes.items() if 0 < n < row["vms"]), key=lambda x: (-x[1], x[0]))
        row["none"] = [d for d, n in takes.items() if n == 0]
        row["causes"] = sorted(causes, key=lambda c: -causes[c])
        row["state"] = "fail" if row["stuck"] else "unknown" if row["undecided"] else "pass"
        out.append(row)
    return out


def drain_counts(rows: list) -> dict:
    return {v: sum(1 for r in rows if r["state"] == v) for v in VERDICTS}


# ---- disks, alike disks as one row ----------------------------------------------------------------

def _ident_key(ident) -> tuple:
    return (None,) if ident is None else (ident.get("state"), ident.get("text"))


def disk_groups(disks: dict) -> list:
    """[{host, rows}] where a row is the disks of one source host on the same storage (kind and
    identity) with the same outcome towards every destination, destinations grouped by outcome."""
    out = []
    for g in disks["groups"]:
        rows: dict = {}
        for d in g["domains"]:
            if d.get("error"):
                rows.setdefault(("error", d["error"]), {"error": d["error"], "members": [], "outcomes": []})
                rows[("error", d["error"])]["members"].append(d["domain"])
                continue
            for k in d["disks"]:
                key = (k.get("kind"), _ident_key(k.get("identity")),
                       tuple((c["host"], c["verdict"], _ident_key(c.get("identity"))) for c in k["cells"]))
                row = rows.get(key)
                if row is None:
                    outcomes: dict = {}
                    for c in k["cells"]:
                        o = outcomes.setdefault((c["verdict"], _ident_key(c.get("identity"))),
                                                {"verdict": c["verdict"], "label": c["label"],
                                                 "identity": c.get("identity"), "hosts": [],
                                                 "reason": c.get("reason")})
                        o["hosts"].append(c["host"])
                    row = rows[key] = {"error": None, "kind": k.get("kind"), "identity": k.get("identity"),
                                       "worst": k.get("worst"), "members": [],
                                       "outcomes": sorted(outcomes.values(),
                                                          key=lambda o: _RANK.get(o["verdict"], 9))}
                row["members"].append(f"{d['domain']} {k.get('target')}")
        out.append({"host": g["host"], "rows": sorted(rows.values(),
                                                      key=lambda r: (_RANK.get(r.get("worst") or "unknown", 9)))})
    return out
