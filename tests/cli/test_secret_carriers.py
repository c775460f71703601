"""V4/W4: a corpus of secret carriers goes through the gather-side scrubber into a recording, is
replayed, and no marker reaches the re-recorded facts, the JSON, the HTML or the terminal. One
scrubber (preflight.scrub) and one mask everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from preflight.facts.ganesha import parse_ganesha
from preflight.facts.gather import scrub_domain_xml, scrub_shell_fact
from preflight.reports import MASK as REPORT_MASK
from preflight.scrub import MASK, mask_text, scrub_ganesha

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"

# marker -> where it hides. Every marker is a made-up secret; none may appear in any output.
DOMAIN_CARRIERS = {
    "CEPHKEYAQB": "<qemu:arg value='file=rbd:pool/img:id=admin:key=CEPHKEYAQB:conf=/etc/ceph.conf'/>",
    "AWSSECRETVALUE": "<qemu:env name='AWS_SECRET_ACCESS_KEY' value='AWSSECRETVALUE'/>",
    "PLAINVALUEENV": "<qemu:env name='SOMETHING' value='PLAINVALUEENV'/>",
}
OUTSIDE_DEVICES = {
    "OEMROOTPW": "<sysinfo type='smbios'><oemStrings><entry>io.systemd.credential:passwd.plaintext-password.root"
                 "=OEMROOTPW</entry></oemStrings></sysinfo>",
    "KICKSTARTPW": "<os><type arch='x86_64'>hvm</type><cmdline>console=ttyS0 inst.rootpw=KICKSTARTPW</cmdline></os>",
    "DESCRTOKEN": "<description>db admin login: DESCRTOKEN</description>",
    "METATOKEN": "<metadata><app:x xmlns:app='urn:x'>api token METATOKEN</app:x></metadata>",
}
DISK_CARRIERS = {
    "AMZSIGVALUE": "<disk type='network' device='cdrom'><driver name='qemu' type='raw'/>"
                   "<source protocol='https' name='/iso/x.iso?X-Amz-Signature=AMZSIGVALUE&amp;token=TOKVALUE'>"
                   "<host name='s3.example' port='443'/></source><target dev='sdz' bus='sata'/><readonly/></disk>",
    "QUERYATTRVALUE": "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                      "<source protocol='http' name='/img' query='sig=QUERYATTRVALUE'><host name='web'/></source>"
                      "<target dev='vdz' bus='virtio'/></disk>",
    "RBDNAMEKEY": "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                  "<source protocol='rbd' name='pool/img:id=admin:key=RBDNAMEKEY'><host name='mon'/></source>"
                  "<target dev='vdy' bus='virtio'/></disk>",
    "URLUSERPW": "<disk type='network' device='cdrom'><driver name='qemu' type='raw'/>"
                 "<source protocol='ftp' name='/x.iso'><host name='u:URLUSERPW@ftp'/></source>"
                 "<target dev='sdy' bus='sata'/><readonly/></disk>",
    "VNCPW": "<graphics type='vnc' port='-1' passwd='VNCPW'/>",
}
FSTAB = ("//nas/share /mnt/s cifs username=bob%CIFSPASS,vers=3.0 0 0\n"
         "//nas/b /mnt/b cifs password=a,,ESCAPEDTAIL,uid=0 0 0\n")
GANESHA = ('EXPORT { Export_Id = 1; Path = /e; Pseudo = /e;\n'
           ' FSAL { Name = RGW; User_Id = "u"; Access_Key_Id = "AKID"; Secret_Access_Key = "GANESHASECRET"; }\n}\n')
MARKERS = [*DOMAIN_CARRIERS, *OUTSIDE_DEVICES, *DISK_CARRIERS, "TOKVALUE", "CIFSPASS", "ESCAPEDTAIL",
           "GANESHASECRET"]


def hostile_xml(xml: str) -> str:
    # the live XML's root also carries id="N": declare the namespace whatever follows the type
    xml = xml.replace('<domain type="kvm"', "<domain xmlns:qemu="
                      "'http://libvirt.org/schemas/domain/qemu/1.0' type='kvm'", 1)
    xml = xml.replace("</devices>", "".join(DISK_CARRIERS.values()) + "</devices>" +
                      "".join(v for k, v in OUTSIDE_DEVICES.items() if k != "KICKSTARTPW") +
                      "<qemu:commandline><qemu:arg value='-drive'/>" + "".join(DOMAIN_CARRIERS.values()) +
                      "</qemu:commandline>", 1)
    return xml.replace("<boot dev=\"hd\"/>", "<boot dev=\"hd\"/><cmdline>inst.rootpw=KICKSTARTPW</cmdline>", 1)


def test_V4_one_mask():
    assert REPORT_MASK == MASK


def test_V4_corpus_never_reaches_record_json_html_terminal(tmp_path):
    record = json.loads(DEMO.read_text())
    hv = record["hosts"]["hv1"]
    dom = hv["libvirt"]["domains"][0]
    dom["xml"] = scrub_domain_xml(hostile_xml(dom["xml"]))             # what gather_libvirt stores
    if dom.get("live_xml"):
        dom["live_xml"] = scrub_domain_xml(hostile_xml(dom["live_xml"]))
    hv["shell"]["fstab"]["out"] += scrub_shell_fact("fstab", FSTAB)
    stored = json.dumps(record)
    leaked = [m for m in MARKERS if m in stored]
    assert not leaked, f"reached the recording: {leaked}"
    # the replay side scrubs again (recordings made by older versions) and renders all three
    dom["xml"] = hostile_xml(json.loads(DEMO.read_text())["hosts"]["hv1"]["libvirt"]["domains"][0]["xml"])
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(record))
    out = {n: tmp_path / n for n in ("again.json", "r.json", "r.html")}
    p = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(rec), "--record",
                        str(out["again.json"]), "--json", str(out["r.json"]), "--html", str(out["r.html"]),
                        ], capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1, 3), p.stderr
    texts = {"terminal": p.stdout + p.stderr, **{n: f.read_text() for n, f in out.items() if n != "again.json"}}
    for name, text in texts.items():
        leaked = [m for m in MARKERS if m in text]
        assert not leaked, f"reached the {name}: {leaked}"
    assert "vm-gluster" in texts["r.json"]                       # the hostile guest is still judged


def test_V4_ganesha_scrubbed_by_token_still_parses():
    """W4: the line scrubber ate the `;`, and every NFS check on that server was ERROR."""
    scrubbed = scrub_ganesha(GANESHA)
    assert "GANESHASECRET" not in scrubbed and "AKID" not in scrubbed
    conf = parse_ganesha(scrubbed)
    assert conf is not None


def test_V4_free_text_urls_and_keys():
    text = "https://u:pw@s3/x.iso?X-Amz-Signature=abc&Expires=1 rbd:p/i:id=a:key=AQBkey password=p,,q,o=1"
    out = mask_text(text)
    for secret in ("u:pw", "abc", "AQBkey", "p,,q"):
        assert secret not in out
    assert "https://" in out and "s3/x.iso" in out and "o=1" in out


ISCSI_SESSIONS = ("Target: iqn.2026-01.example:t1 (non-flash)\n\tCurrent Portal: 10.0.0.5:3260,1\n"
                  "\t\tusername: chapuser\n\t\tpassword: ISCSICHAPPW\n\t\tusername_in: <empty>\n")
QEMU_CONF = 'vnc_password = "QEMUCONFVNCPW"\nspice_password = "QEMUCONFSPICE"\n'


def test_replay_of_an_unscrubbed_recording_rescrubs_it_for_record_json_html_terminal(tmp_path):
    """A recording made by an older version (or edited) that still holds secrets: --replay
    --record must not carry them into the NEW recording, nor into any report (issue 7)."""
    record = json.loads(DEMO.read_text())
    hv = record["hosts"]["hv1"]
    dom = hv["libvirt"]["domains"][0]
    dom["xml"] = hostile_xml(dom["xml"])                               # NOT scrubbed: an old recording
    if dom.get("live_xml"):
        dom["live_xml"] = hostile_xml(dom["live_xml"])
    hv["shell"]["fstab"]["out"] += FSTAB
    hv["shell"]["iscsi_sessions"] = {"rc": 0, "out": ISCSI_SESSIONS, "err": ""}
    hv["shell"]["qemu_conf"]["out"] += QEMU_CONF
    nas = record["storage_hosts_facts"]["nas"]["shell"]
    nas["ganesha_conf"] = {"rc": 0, "out": GANESHA, "err": ""}
    markers = MARKERS + ["ISCSICHAPPW", "QEMUCONFVNCPW", "QEMUCONFSPICE"]
    rec = tmp_path / "old.json"
    rec.write_text(json.dumps(record))
    assert all(m in rec.read_text() for m in markers)                 # the carriers are really there
    out = {n: tmp_path / n for n in ("again.json", "r.json", "r.html")}
    p = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(rec), "--record",
                        str(out["again.json"]), "--json", str(out["r.json"]), "--html", str(out["r.html"])],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1, 3), p.stderr
    texts = {"terminal": p.stdout + p.stderr, **{n: f.read_text() for n, f in out.items()}}
    for name, text in texts.items():
        leaked = [m for m in markers if m in text]
        assert not leaked, f"reached the {name}: {leaked}"
    again = json.loads(texts["again.json"])
    assert "vm-gluster" in texts["r.json"] and again["hosts"]["hv1"]["libvirt"]["domains"][0]["xml"]


def test_json_report_writes_bidi_zero_width_and_c1_escaped(tmp_path):
    """A host-chosen name with a bidi override, a zero-width space or a C1 CSI: the JSON report
    keeps the exact string for a JSON reader but never the raw character (cat/less of the file)."""
    record = json.loads(DEMO.read_text())
    hv = record["hosts"]["hv1"]
    hostile = "vm\u202egnp.exe\u200b\x9b31m\u2066"
    for dom in hv["libvirt"]["domains"][:1]:
        old = dom["name"]
        dom["name"] = hostile
        for key in ("xml", "live_xml"):
            if dom.get(key):
                dom[key] = dom[key].replace(f"<name>{old}</name>", f"<name>{hostile}</name>", 1)
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(record))
    report = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(rec), "--json", str(report)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1, 3), p.stderr
    text = report.read_text(encoding="utf-8")
    for ch in "\u202e\u200b\x9b\u2066":
        assert ch not in text, repr(ch)
    assert "\\u202e" in text and hostile in json.dumps(json.loads(text), ensure_ascii=False)
