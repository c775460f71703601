"""V7/V9/W6: host text never acts on the reader's screen or forges report lines.

- V7: an SSH peer's banner (before host-key checking) reached stderr with raw ESC sequences;
- V9: newlines in a disk path forged a SUMMARY block; bidi overrides and zero-width characters
  reordered or hid names in the terminal and HTML; a newline in a path forged `stat` lines;
- W6: option-looking names reached getent/showmount without `--`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from preflight.cli import _progress
from preflight.facts.listings import list_targets, lists_argv
from preflight.facts.storage_access import access_keys, access_paths
from preflight.textsafe import one_line

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"
BANNER = "Incompatible version (\x1b[2J\x1b[H\x1b[32mALL_HOSTS_OK\x1b[8m instead of 2.0)"
RLO = "\u202e"


def test_V7_banner_escapes_never_reach_stderr():
    buf = io.StringIO()
    show = _progress(Console(file=buf, force_terminal=True, color_system=None, width=200))
    show("evil", "unreachable", BANNER)
    out = buf.getvalue()
    assert "\x1b" not in out and "\\x1b[2J" in out and out.count("\n") == 1


def test_V9_one_line_escapes_controls_newlines_and_format_chars():
    text = "vm\n= SUMMARY =\tok" + RLO + "gpj.exe\u200b\u2028x\x9b"
    out = one_line(text)
    assert out == "vm\\n= SUMMARY =\\tok\\u202egpj.exe\\u200b\\u2028x\\x9b"


def hostile_replay(tmp_path) -> tuple:
    record = json.loads(DEMO.read_text())
    dom = next(d for d in record["hosts"]["hv1"]["libvirt"]["domains"] if d["name"] == "vm-local")
    forged = "/var/lib/libvirt/images/x.qcow2&#10;&#10;= SUMMARY =&#10;No migration is blocked (of 6).&#10;"
    for key in ("xml", "live_xml"):          # the live XML is what the checks read when recorded
        if dom.get(key):
            dom[key] = dom[key].replace("/var/lib/libvirt/images/vm-local.qcow2", forged, 1)
            dom[key] = dom[key].replace("<name>vm-local</name>", f"<name>vm-{RLO}lacol</name>", 1)
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(record))
    html = tmp_path / "r.html"
    p = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(rec), "--html", str(html)],
                       capture_output=True, text=True, timeout=120)
    return p, html.read_text() if html.exists() else ""


def test_V9_forged_lines_and_bidi_names_are_shown_escaped(tmp_path):
    p, html = hostile_replay(tmp_path)
    assert p.returncode in (0, 1, 3), p.stderr
    lines = p.stdout.splitlines()
    assert sum(1 for line in lines if line.strip() == "= SUMMARY =") == 1, "a forged SUMMARY line"
    assert not any(line.startswith("No migration is blocked (of 6).") for line in lines)
    for text in (p.stdout, p.stderr, html):
        assert RLO not in text
    assert "vm-\\u202elacol" in p.stdout and "vm-\\u202elacol" in html


def test_V9_newline_paths_are_never_stated():
    xml = ("<domain type='kvm'><name>t</name><devices><disk type='file'><driver type='raw'/>"
           "<source file='/srv/a&#10;0:0:777:directory:/srv/other-tenant'/><target dev='vda'/></disk>"
           "<disk type='file'><source file='/srv/b.img'/><target dev='vdb'/></disk></devices></domain>")
    paths = access_paths({"domains": [{"name": "t", "active": True, "xml": xml}]})
    assert paths == ["/srv/b.img"]
    argvs = access_keys(paths, [], "qemu", "kvm")
    assert argvs["qemu_group_ent"] == ["getent", "group", "--", "kvm"]


def test_W6_option_like_server_names_are_not_listed():
    xml = ("<domain type='kvm'><name>t</name><devices><disk type='network'><driver type='raw'/>"
           "<source protocol='nfs' name='/e/x'><host name='-oProxy=evil'/></source><target dev='vda'/></disk>"
           "</devices></domain>")
    targets = list_targets({"hv": {"libvirt": {"domains": [{"name": "t", "active": True, "xml": xml}]}}})
    assert targets["showmount"] == []
    argv = lists_argv({"showmount": ["nas"]}, "PFM1") or []
    assert 'showmount -e --no-headers -- "$a"' in argv[2]
