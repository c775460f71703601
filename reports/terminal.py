"""The terminal listing: pve8to9-like sections, the migration matrix, failures with remediation.

Written to the rich Console the caller passes (the CLI passes a stdout console; progress goes
to stderr). Every status is spelled out in words, so the listing reads the same without colour
(NO_COLOR, a pipe, a log file). All report text is passed as rich Text, never as markup, and
control characters are made visible, so a hostile VM name cannot restyle or hijack the terminal.
"""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from preflight.reports._common import (STATUS_LABEL, VERDICT_LABEL, VERDICT_MEANING,
                                       build_view, clean_text, report_document, shorten)

STYLE = {
    "pass": "green", "warn": "yellow", "fail": "bold red", "error": "bold magenta",
    "skip": "dim", "unknown": "bold blue", "info": "cyan", "waived": "cyan",
}
# Wide enough for the longest label ("ERROR:", "UNKNOWN") so the listing lines up.
_LABEL_WIDTH = 7
# A check with more passing (or skipped) results than this lists them on one line.
FOLD_AFTER = 6
# At cluster size a listing stops after this many lines of one kind and says how many it left out
# (they are all in the JSON and the HTML): the summary at the end stays within reach.
LIST_AT_MOST = 12


def _more(console: Console, left: int, what: str, indent: int = 2) -> None:
    if left > 0:
        console.print(_indented(f"... and {left} more {what} (every one is in the JSON and HTML reports)", indent))


def render_terminal(report, console: Optional[Console] = None, json_sha256: Optional[str] = None,
                    doc: Optional[dict] = None) -> None:
    """Print the run to `console` (a stdout Console by default); `json_sha256`, the digest of the JSON
    report written (or embedded in the HTML), goes into the summary. `doc`: report_document(report),
    when the caller has it already (it is the costly part at cluster size)."""
    console = console or Console()
    view = build_view(report_document(report) if doc is None else doc)
    view["json_sha256"] = json_sha256
    _header(console, view)
    _hosts(console, view)
    _checks(console, view)
    _matrix(console, view)
    _disks(console, view)
    _blockers(console, view)
    _waivers(console, view)
    if view["drift"]:
        _section(console, "CHANGES SINCE THE PREVIOUS RUN")
        drift_lines(console, view["drift"])
    _summary(console, view)


# --------------------------------------------------------------------------------------------

def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _t(value) -> Text:
    return Text(clean_text(value))


def _indented(text, n: int):
    """Text whose wrapped lines keep the indent (long remediations, long observations)."""
    return Padding(text if isinstance(text, Text) else _t(text), (0, 0, 0, n), expand=False)


def _section(console: Console, title: str) -> None:
    console.print()
    console.print(Text(f"= {title} =", style="bold"))
    console.print()


def _status_line(status: str, *parts) -> Text:
    label = STATUS_LABEL.get(status, VERDICT_LABEL.get(status, status.upper()))
    line = Text(f"{label}:".ljust(_LABEL_WIDTH + 1), style=STYLE.get(status, ""))
    line.append(" ")
    for part in parts:
        if isinstance(part, Text):
            line.append_text(part)
        else:
            line.append(clean_text(part))
    return line


def _header(console: Console, view: dict) -> None:
    source = ("replay of " + view["source"][len("replay:"):]) if view["source_kind"] == "replay" \
        else "live"
    console.print(Text(f"preflight {clean_text(view['tool']['version'])}: live-migration readiness "
                       f"of cluster {clean_text(view['cluster'])}", style="bold"))
    when = f"{view['started']} .. {view['finished']}"
    if view["duration"]:
        when += f" ({view['duration']})"
    facts = source
    if view["source_kind"] == "replay":
        facts += ", recorded " + (view["facts_recorded"]
                                  or "at an unknown time (the recording has no timestamp)")
    console.print(_t(f"Run: {when}; facts: {facts}"))
    for label, text in view["meta"]["lines"]:
        console.print(_t(f"{label}: {text}"))
    sel = view["selection"]
    if sel.get("only"):
        console.print(_t("Only checks: " + ", ".join(sel["only"])))
    if sel.get("skip"):
        console.print(_t("Skipped by request: " + ", ".join(sel["skip"])))
    if view["nothing_judged"]:
        # the headline comes first as well as last: an empty run is never read as a clean one
        console.print(Text("NOTHING JUDGED: ", style=STYLE["error"]).append(_t(view["sentence"])))
    for u in view["unassessed"]:
        console.print(_status_line("error", u["line"]))


def _hosts(console: Console, view: dict) -> None:
    _section(console, "HOSTS")
    for h in view["hosts"]:
        if h["state"] == "unusable":
            what = "; ".join(f"{k}: {why}" for k, why in h["missing_facts"].items())
            vms = f"{_n(h.get('domains', 0), 'VM')}" if h["guests_listed"] else "guests could not be listed"
            console.print(_status_line("error", f"{h['name']} reachable over SSH, but libvirt facts are "
                                                f"missing or unusable ({vms}): {what}"))
        elif h["reachable"]:
            facts = (f"libvirt {h.get('libvirt_version') or 'unknown'}, "
                     f"QEMU {h.get('qemu_version') or 'unknown'}, {_n(h.get('domains', 0), 'VM')}, "
                     f"{_n(h['round_trips'], 'round trip')}")
            console.print(_status_line("pass", f"{h['name']} reachable: {facts}"))
            if h.get("error"):
                console.print(_t(f"        note: {h['error']}"))
        else:
            console.print(_status_line("error", f"{h['name']} unreachable: "
                                                f"{h.get('error') or 'no reason recorded'}"))


def _checks(console: Console, view: dict) -> None:
    category = None
    for c in view["checks"]:
        meta = c["meta"]
        if meta.get("category") != category:
            category = meta.get("category")
            _section(console, f"CHECKS: {str(category or 'other').upper()}")
        sev = f" [{meta['severity']}]" if meta.get("severity") else ""
        console.print(Text(f"{clean_text(meta['id'])}: {clean_text(meta['title'])}{sev}",
                           style="bold"))
        if not c["results"]:
            console.print(_t("  (no result)"))
        quiet = [r for r in c["results"] if r["status"] in ("pass", "skip")]
        fold = len(quiet) > FOLD_AFTER
        shown: dict = {}
        for r in c["results"]:
            if fold and r["status"] in ("pass", "skip"):
                continue
            shown[r["status"]] = shown.get(r["status"], 0) + 1
            if shown[r["status"]] > LIST_AT_MOST:
                continue
            console.print(_indented(_status_line(r["status"], f"{r['subject']}: {r['message']}"), 2))
            if r["status"] in ("fail", "error", "warn"):
                for label, value in (("observed", r["observed"]), ("expected", r["expected"]),
                                     ("where", r["where"])):
                    if value not in (None, ""):
                        console.print(_indented(f"{label}: {shorten(clean_text(value), 300)}", 10))
                if r.get("remediation"):
                    console.print(_indented(f"remedy: {clean_text(r['remediation'])}", 10))
        for status, n in shown.items():
            _more(console, n - LIST_AT_MOST, f"{STATUS_LABEL.get(status, status)} results of this check")
        if fold:
            for status in ("pass", "skip"):
                results = [r for r in quiet if r["status"] == status]
                # a check may give several results for one subject (host.identity: one per kind of
                # identity of a pair): each subject is named once
                subjects = list(dict.fromkeys(r["subject"] for r in results))
                if subjects:
                    count = _n(len(subjects), "subject") if len(subjects) == len(results) else \
                        f"{_n(len(results), 'result')} on {_n(len(subjects), 'subject')}"
                    console.print(_indented(_status_line(
                        status, f"{count}: " + shorten(", ".join(subjects), 200)), 2))


def _matrix(console: Console, view: dict) -> None:
    _section(console, "MIGRATION MATRIX")
    matrix = view["matrix"]
    if not matrix["groups"]:
        console.print(_t(view["sentence"] if view["nothing_judged"] else "No migrations were evaluated."))
        return
    table = Table(box=box.SQUARE, show_lines=True, header_style="bold", expand=False)
    rows = []
    for g in matrix["groups"]:
        for row in g["rows"]:
            rows.append([_t(row["domain"]), _t(g["source"])]
                        + [_matrix_cell(c) for c in row["cells"]])
        if g["unassessed"]:
            rows.append([Text("(guests not listed)", style=STYLE["error"]), _t(g["source"])]
                        + [Text("—") if d["name"] == g["source"]
                           else Text("not assessed", style=STYLE["error"]) for d in matrix["destinations"]])
    # Keep check ids whole when the table fits; otherwise let rich fold them.
    widths = [max((len(line) for r in rows for line in r[i + 2].plain.splitlines()), default=7)
              for i in range(len(matrix["destinations"]))]
    fits = sum(widths) + 3 * (len(widths) + 2) + 12 + 4 <= console.width
    if not fits and 16 * len(widths) + 30 > console.width:
        _matrix_as_list(console, matrix)  # too many hosts for a readable table at this width
        return
    table.add_column("VM", overflow="fold", min_width=8)
    table.add_column("on", overflow="fold")
    for d, width in zip(matrix["destinations"], widths):
        name = clean_text(d["name"]) + ("" if d["reachable"] else " (unreachable)")
        table.add_column("to " + name, overflow="fold", min_width=width if fits else None)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    console.print(_t("Legend: " + "; ".join(f"{VERDICT_LABEL[k]} = {VERDICT_MEANING[k]}"
                                             for k in VERDICT_LABEL)
                     + "; — = current host. A cell lists the checks behind its verdict."))
    _not_assessed(console, view)


def _not_assessed(console: Console, view: dict) -> None:
    for g in view["matrix"]["groups"]:
        if g["unassessed"]:
            console.print(_status_line("error", g["unassessed"]))


def _matrix_as_list(console: Console, matrix: dict) -> None:
    rows = sum(len(g["rows"]) for g in matrix["groups"])
    # a large cluster lists the guests that cannot go everywhere, up to LIST_AT_MOST per source host
    only_not_pass = rows > 4 * LIST_AT_MOST
    passing = 0
    for g in matrix["groups"]:
        if g["unassessed"]:
            console.print(Text(f"(guests on {clean_text(g['source'])}):", style="bold"))
            console.print(_indented(_status_line("error", g["unassessed"]), 2))
        listed = 0
        for row in g["rows"]:
            if only_not_pass:
                if row["worst"] == "pass":
                    passing += 1
                    continue
                listed += 1
                if listed > LIST_AT_MOST:
                    continue
            console.print(Text(f"{clean_text(row['domain'])} (on {clean_text(g['source'])}):", style="bold"))
            for c in row["cells"]:
                if c["kind"] == "self":
                    continue
                if c["kind"] == "none":
                    console.print(_indented(f"-> {c['destination']}: not evaluated", 2))
                    continue
                ids = [b["check"] for kind in ("blockers", "undecided", "warnings") for b in c[kind]]
                line = _status_line(c["verdict"], f"-> {c['destination']}"
                                    + (f": {', '.join(ids)}" if ids else ""))
                console.print(_indented(line, 2))
        if only_not_pass:
            _more(console, listed - LIST_AT_MOST, f"guests on {clean_text(g['source'])} that cannot go everywhere",
                  0)
    if only_not_pass:
        console.print(_t(f"{passing} guest(s) can live-migrate to every other host (not listed)."))


def _matrix_cell(c: dict) -> Text:
    if c["kind"] == "self":
        return Text("—")
    if c["kind"] == "none":
        return Text("not evaluated", style="dim")
    cell = Text(c["label"], style=STYLE.get(c["verdict"], ""))
    # ids are listed under the verdict they explain; a mixed cell says which is which
    for kind, prefix, own in (("blockers", "blocked: ", "fail"), ("undecided", "undecided: ", "unknown"),
                              ("warnings", "warning: ", "warn")):
        for b in c[kind]:
            cell.append("\n" + ("" if c["verdict"] == own else prefix) + clean_text(b["check"]))
            if b.get("waived"):
                cell.append(f" (waived {clean_text(b.get('ticket') or '')})".replace(" )", ")"), style=STYLE["skip"])
    return cell


_DISK_STATUS = {"fail": ("fail",), "unknown": ("error",), "warn": ("warn",)}


def _disks(console: Console, view: dict) -> None:
    """One line per disk (storage kind and identity on the source), then one per destination whose
    verdict is not PASS/N/A (identity there and the checks behind the verdict); destinations that
    PASS share one line. The full reasons are in WHAT BLOCKS MIGRATIONS and the check listing."""
    disks = view["disks"]
    if not disks["groups"]:
        return
    _section(console, "DISKS")
    for g in disks["groups"]:
        if len(g["domains"]) > LIST_AT_MOST:     # a large cluster: the first guests of each host
            _more(console, len(g["domains"]) - LIST_AT_MOST, f"guests on {clean_text(g['host'])} (disks listed "
                  f"for the first {LIST_AT_MOST})", 0)
        for d in g["domains"][:LIST_AT_MOST]:
            where = f"{clean_text(d['domain'])} (on {clean_text(g['host'])})"
            if d["error"]:
                console.print(_status_line("error", f"{where}: domain XML unreadable: {d['error']}"))
                continue
            for k in d["disks"]:
                console.print(Text(f"{where} {clean_text(k['target'])}: {clean_text(k['kind'])}", style="bold")
                              .append(f" [{shorten(clean_text(_ident_text(k['identity'])), 90)}]", style=""))
                quiet: dict = {}
                for c in k["cells"]:
                    if c["verdict"] in ("pass", "skip"):
                        quiet.setdefault(c["verdict"], []).append(c["host"])
                        continue
                    ids = sorted({r["check"] for r in c.get("results") or ()
                                  if r["status"] in _DISK_STATUS.get(c["verdict"], ())})
                    why = ", ".join(ids) if ids else shorten(clean_text(c.get("reason") or ""), 80)
                    console.print(_indented(_status_line(
                        c["verdict"], f"-> {c['host']}" + (f" ({why})" if why else "")
                                      + f": {shorten(clean_text(_ident_text(c['identity'])), 80)}"), 2))
                for verdict, hosts in quiet.items():
                    label = "N/A" if verdict == "skip" else VERDICT_LABEL[verdict]
                    line = Text(f"{label}:".ljust(_LABEL_WIDTH + 1), style=STYLE.get(verdict, ""))
                    line.append(" -> " + clean_text(", ".join(hosts))
                                + (": nothing to share" if verdict == "skip" else ": same storage"))
                    console.print(_indented(line, 2))


def _ident_text(ident: dict) -> str:
    return ("" if ident["state"] == "found" else f"{ident['state']}: ") + ident["text"]


def _blockers(console: Console, view: dict) -> None:
    if not view["blocking"] and not view["undecided"]:
        return
    _section(console, "WHAT BLOCKS MIGRATIONS")
    if not view["blocking"]:
        console.print(_t("No check failed."))
    for b in view["blocking"]:
        meta = b["check"]
        console.print(_status_line("fail", Text(f"{clean_text(meta['id'])}: {clean_text(meta['title'])}"
                                                f" [{meta.get('severity') or '?'}]", style="bold")))
        if b["affected"]:
            console.print(_t(f"  blocks {b['affected_count']} migration(s):"))
            for a in b["affected"][:LIST_AT_MOST]:
                console.print(_t(f"    {a['domain']} ({a['source']}) -> {', '.join(a['destinations'])}"))
            _more(console, len(b["affected"]) - LIST_AT_MOST, "guests it blocks", 4)
        for r in b["results"][:LIST_AT_MOST]:
            console.print(_indented(f"{r['subject']}: {r['message']}", 2))
            ev = r.get("evidence") or {}
            for label, key in (("observed", "observed"), ("expected", "expected"), ("where", "source")):
                if ev.get(key) not in (None, ""):
                    console.print(_indented(f"{label}: {shorten(clean_text(ev[key]), 300)}", 6))
        _more(console, len(b["results"]) - LIST_AT_MOST, "failing results of this check")
        remedy = meta.get("remediation") or "no remediation recorded"
        console.print(_indented(Text("remediation: ", style="bold").append(clean_text(remedy), style=""), 2))
        console.print()
    if view["undecided"] or view["unreachable"]:
        console.print(Text("Could not be decided (never counted as a pass):", style="bold"))
        for name in view["unreachable"]:
            console.print(_status_line("error", f"host {name} unreachable"))
        for b in view["undecided"]:
            for r in b["results"][:LIST_AT_MOST]:
                console.print(_status_line("error", f"{b['check']['id']}: {r['subject']}: {r['message']}"))
            _more(console, len(b["results"]) - LIST_AT_MOST, f"undecided results of {b['check']['id']}")


def _waivers(console: Console, view: dict) -> None:
    w = view["waivers"]
    if not w["count"]:
        return
    _section(console, "WAIVERS (ACCEPTED RISKS)")
    for item in w["items"]:
        state = item.get("state")
        status = {"active": "waived", "expired": "fail", "unmatched": "warn"}.get(state, "warn")
        tail = {"active": f"{len(item.get('matched') or [])} waived",
                "expired": f"EXPIRED: {len(item.get('matched') or [])} finding(s) count again",
                "unmatched": "matches no FAIL or WARN"
                             + (f" ({len(item['passing'])} matched result(s) pass now)" if item.get("passing") else "")
                }.get(state, state)
        console.print(_indented(_status_line(status, f"{item['line']} [{tail}]"), 0))
        if item.get("refused"):
            console.print(_indented(f"not hidden: {len(item['refused'])} ERROR result(s) it matches stay ERROR", 9))
        for r in item["results"]:
            console.print(_indented(f"{r['subject']}: {r['message']} (was {r['waiver'].get('status', '?').upper()})",
                                    9))


def _subjects(group: dict) -> str:
    return ", ".join(clean_text(s) for s in group["subjects"]) + (f" and {group['more']} more" if group["more"] else "")


def drift_lines(console: Console, d: dict) -> None:
    """The drift, grouped (shared by `check --previous` and `preflight diff`)."""
    if not d["same_cluster"]:
        console.print(_status_line("warn", f"the previous report is of cluster {d['previous'].get('cluster')}: "
                                           f"two different clusters are compared"))
    console.print(_t(d["sentence"]))
    hosts, vms = d["hosts"], d["vms"]
    for label, names in (("hosts appeared", hosts.get("appeared")), ("hosts gone", hosts.get("gone"))):
        if names:
            console.print(_indented(f"{label}: {', '.join(names)}", 2))
    for label, items in (("VMs appeared", vms.get("appeared")), ("VMs gone", vms.get("gone"))):
        if items:
            console.print(_indented(f"{label}: " + ", ".join(f"{i['domain']} (on {i['host']})" for i in items), 2))
    if vms.get("moved"):
        console.print(_indented("VMs moved: " + ", ".join(f"{i['domain']} {i['from']} -> {i['to']}"
                                                           for i in vms["moved"]), 2))
    for g in d["verdicts"]:
        was, now, why = g["key"]
        console.print(_indented(_status_line(now, f"{g['count']} migration(s) {VERDICT_LABEL.get(was, was)} -> "
                                                  f"{VERDICT_LABEL.get(now, now)}" + (f" ({why})" if why else "")
                                                  + f": {_subjects(g)}"), 2))
    for kind, groups in (("new", d["new"]), ("resolved", d["resolved"]), ("changed", d["changed"])):
        for g in groups:
            if kind == "new":
                status, check = g["key"]
                text = f"new {check} ({g['count']}): {_subjects(g)}"
            elif kind == "resolved":
                status, check, now = g["key"]
                text = f"resolved {check} ({g['count']}, {now} now): {_subjects(g)}"
            else:
                was, status, check = g["key"]
                text = f"{check} {STATUS_LABEL.get(was, was)} -> {STATUS_LABEL.get(status, status)} " \
                       f"({g['count']}): {_subjects(g)}"
            console.print(_indented(_status_line("pass" if kind == "resolved" else status, text), 2))


def _summary(console: Console, view: dict) -> None:
    _section(console, "SUMMARY")
    console.print(Text(clean_text(view["sentence"]), style=STYLE.get(view["overall"], "")))
    console.print(_t(f"Exit code {view['exit_code']}: {view['exit_meaning']}."))
    if view["drift"]:
        console.print(_t(view["drift"]["sentence"]))
    if view["meta"]["run_id"]:
        console.print(_t(f"Run {view['meta']['run_id']}"
                         + (f"; JSON report SHA-256 {view['json_sha256']} (`preflight verify` checks the HTML "
                            f"against it)" if view.get("json_sha256") else "")))
    console.print()
    c = view["counts"]
    parts = [("TOTAL", view["total"], "bold"), ("PASSED", c.get("pass", 0), STYLE["pass"]),
             ("WARNINGS", c.get("warn", 0), STYLE["warn"]), ("FAILURES", c.get("fail", 0), STYLE["fail"]),
             ("ERRORS", c.get("error", 0), STYLE["error"]), ("SKIPPED", c.get("skip", 0), STYLE["skip"])]
    if c.get("waived"):
        parts.append(("WAIVED", c["waived"], STYLE["skip"]))
    line = Text()
    for i, (label, n, style) in enumerate(parts):
        if i:
            line.append(" / ")
        line.append(f"{label}: {n}", style=style if n or label == "TOTAL" else "")
    console.print(line)


__all__ = ["render_terminal"]
