"""Drift between two runs: what a change advisory board asks first on the second change of the month.

Works on two JSON reports (the canonical documents), keyed on the stable result ids
(check/scope/subject[/disk][/item], preflight.model.Result.key) and on (domain, source, destination)
for migrations:
  findings  new       a FAIL/WARN/ERROR/WAIVED result whose id was absent or PASS/SKIP before
            resolved  a FAIL/WARN/ERROR/WAIVED result whose id is PASS/SKIP now, or gone with its subject
            changed   an id that was a finding and still is, with another status (WARN -> FAIL, FAIL -> WAIVED)
  verdicts  changed   the same migration with another verdict; new and gone migrations are counted
  hosts / VMs appeared, gone, and VMs that moved to another host
A pure function of the two documents: `preflight diff OLD NEW` and `check --previous OLD` share it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from preflight.compact import expand_document

FINDING = ("fail", "warn", "error", "waived")


class DriftError(Exception):
    """A file that is not a preflight JSON report (one line, exit 2)."""


def load_report(path: Path) -> tuple:
    """(document, its SHA-256) of a JSON report written by `preflight check --json`."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise DriftError(f"{path}: cannot read the report: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DriftError(f"{path}: not a preflight JSON report (not UTF-8 at byte {exc.start})") from exc
    try:
        doc = expand_document(json.loads(text))       # ids are compared per result: the full form
    except ValueError as exc:
        raise DriftError(f"{path}: not a preflight JSON report ({exc})") from exc
    if not (isinstance(doc, dict) and isinstance(doc.get("run"), dict) and isinstance(doc.get("results"), list)
            and isinstance(doc.get("migrations"), list)):
        raise DriftError(f"{path}: not a preflight JSON report (no run, results and migrations); "
                         f"write one with `preflight check --json FILE`")
    if any(not isinstance(r, dict) or not r.get("id") for r in doc["results"]):
        raise DriftError(f"{path}: its results carry no ids (a report of a preflight before 0.1.0 added "
                         f"them); run the check again to compare with it")
    # the digest `preflight verify` and the HTML carry (reports.integrity.sha256_text): the engine
    # does not import renderers
    return doc, hashlib.sha256(text.encode("utf-8")).hexdigest()


def _results(doc: dict) -> dict:
    return {r["id"]: r for r in doc.get("results") or []}


def _migrations(doc: dict) -> dict:
    return {(m["domain"], m["source"], m["destination"]): m for m in doc.get("migrations") or []}


def _vms(doc: dict) -> dict:
    """domain -> the host it runs on, from the migrations and the disk inventory."""
    out = {m["domain"]: m["source"] for m in doc.get("migrations") or []}
    for d in doc.get("domains") or []:
        out.setdefault(d.get("domain"), d.get("host"))
    out.pop(None, None)
    return out


def _by_base(results) -> dict:
    """check/scope/subject[/disk] -> the worst of those results."""
    from preflight.model import status_rank, subject_key

    out: dict = {}
    for r in results:
        base = (r["check"], r.get("scope"), subject_key(r), r.get("disk"))
        if base not in out or status_rank(r["status"]) > status_rank(out[base]["status"]):
            out[base] = r
    return out


def _brief(r: dict) -> dict:
    out = {"id": r["id"], "check": r["check"], "status": r["status"], "subject": r.get("subject"),
           "message": r.get("message")}
    for key in ("domain", "host", "source", "destination", "disk"):
        if r.get(key) is not None:
            out[key] = r[key]
    return out


def compare(old: dict, new: dict, old_ref: dict) -> dict:
    """The drift from `old` to `new` (two report documents); `old_ref` names the old one
    ({"path", "sha256"}) and is kept with the old run's id, time and cluster."""
    orun, nrun = old.get("run") or {}, new.get("run") or {}
    ores, nres = _results(old), _results(new)
    omig, nmig = _migrations(old), _migrations(new)
    ohosts = [h["name"] for h in old.get("hosts") or []]
    nhosts = [h["name"] for h in new.get("hosts") or []]
    ovms, nvms = _vms(old), _vms(new)
    gone_subject = set(ohosts) - set(nhosts), set(ovms) - set(nvms)

    new_findings, resolved, changed = [], [], []

    def judge(before, after, now_missing_why=None):
        """One finding's story from its result before to its result after (either may be None)."""
        if after is not None and after["status"] in FINDING:
            if before is None or before["status"] not in FINDING:
                new_findings.append({**_brief(after), "was": before["status"] if before else None})
            elif before["status"] != after["status"]:
                changed.append({**_brief(after), "was": before["status"]})
        elif before is not None and before["status"] in FINDING:
            resolved.append({**_brief(before), "now": after["status"] if after else now_missing_why})

    for rid in nres.keys() & ores.keys():
        judge(ores[rid], nres[rid])
    # An id on one side only may still be the same finding: a check that could not decide names no
    # item (network.guest_networks/migration/vm@a->b instead of .../nic=MAC). Such ids are paired on
    # check, scope, subject and disk, each side by its worst result.
    only_old = _by_base(ores[i] for i in ores.keys() - nres.keys())
    only_new = _by_base(nres[i] for i in nres.keys() - ores.keys())
    for base in only_old.keys() & only_new.keys():
        judge(only_old[base], only_new[base])
    for base in only_new.keys() - only_old.keys():
        judge(None, only_new[base])
    for base in only_old.keys() - only_new.keys():
        r = only_old[base]
        gone = "gone: its host is no longer in the report" if (
            r.get("host") in gone_subject[0] or r.get("destination") in gone_subject[0]) else \
            "gone: its VM is no longer running there" if r.get("domain") in gone_subject[1] or (
                r.get("domain") and nvms.get(r["domain"]) not in (None, r.get("source") or r.get("host"))) else \
            "gone: no longer judged"
        judge(r, None, gone)

    verdicts = [{"domain": k[0], "source": k[1], "destination": k[2], "was": omig[k]["verdict"],
                 "now": m["verdict"], "blockers": m.get("blockers") or [], "undecided": m.get("undecided") or []}
                for k, m in nmig.items() if k in omig and omig[k]["verdict"] != m["verdict"]]
    moved = sorted((d, ovms[d], nvms[d]) for d in set(ovms) & set(nvms) if ovms[d] != nvms[d])
    out = {
        "previous": {**old_ref, "run_id": orun.get("id"), "started": orun.get("started"),
                     "cluster": orun.get("cluster"), "tool_version": (old.get("tool") or {}).get("version")},
        "same_cluster": orun.get("cluster") == nrun.get("cluster"),
        "findings": {"new": sorted(new_findings, key=_order), "resolved": sorted(resolved, key=_order),
                     "changed": sorted(changed, key=_order)},
        "verdicts": {"changed": sorted(verdicts, key=lambda v: (v["domain"], v["source"], v["destination"])),
                     "new": len(set(nmig) - set(omig)), "gone": len(set(omig) - set(nmig))},
        "hosts": {"appeared": [h for h in nhosts if h not in ohosts], "gone": [h for h in ohosts if h not in nhosts]},
        "vms": {"appeared": [{"domain": d, "host": nvms[d]} for d in sorted(set(nvms) - set(ovms))],
                "gone": [{"domain": d, "host": ovms[d]} for d in sorted(set(ovms) - set(nvms))],
                "moved": [{"domain": d, "from": a, "to": b} for d, a, b in moved]},
    }
    out["counts"] = {"new": len(new_findings), "resolved": len(resolved), "changed": len(changed),
                     "verdicts_changed": len(verdicts), "hosts_appeared": len(out["hosts"]["appeared"]),
                     "hosts_gone": len(out["hosts"]["gone"]), "vms_appeared": len(out["vms"]["appeared"]),
                     "vms_gone": len(out["vms"]["gone"]), "vms_moved": len(moved)}
    out["changed"] = any(out["counts"].values()) or bool(out["verdicts"]["new"] or out["verdicts"]["gone"])
    return out


_SEVERITY = {"fail": 0, "error": 1, "warn": 2, "waived": 3}


def _order(item: dict) -> tuple:
    return (_SEVERITY.get(item["status"], 9), item["check"], item["id"])
