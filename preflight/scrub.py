"""The one secret scrubber: what a host or a guest wrote that must never reach an output.

Used for the recording (domain/network XML, config files, fstab, iSCSI sessions) and, as the
last line of defence, by every renderer (JSON, HTML, terminal) through `mask_text`. One mask
everywhere, so a reader can tell a masked value from a real one in any output.

Secrets are found by STRUCTURE first (the elements and attributes that carry them, whatever
their value looks like) and by key name second. Carriers by structure, from libvirt's domain
XML format (formatdomain.html) and the tools' own syntax:
- <qemu:commandline> <qemu:arg value>/<qemu:env value> (Ceph keys, AWS keys), <qemu:override>
- <sysinfo> <oemStrings> entries (systemd credentials), all other sysinfo entry text
- <os> <cmdline> (inst.rootpw=...), <description>, <title> is kept (a name), <metadata> dropped
- <graphics passwd>, <cookies><cookie>, <launchSecurity> blobs, <auth>/<secret> values
- user-info and query strings of every URL (presigned URLs), network disks' `query` attribute
- `key=`/`secret=`/`password=` in rbd names and option strings, `:key=...` tails
- mount options `password=`, `pass=`, CIFS `username=user%pass`, escaped commas (`,,`)
- `*password*`/`*secret*` keys in key = value configs, ganesha blocks by token (one-line ones too)
"""

from __future__ import annotations

import re
from typing import Any

MASK = "[masked]"

SECRET_WORD = r"(?:password|passwd|passphrase|secret|token|credential|psk|api[_-]?key|private[_-]?key|" \
              r"access[_-]?key|auth[_-]?key|signature)"
# key=value / key: value with a secret-ish key, or ceph's bare `key=` (`:key=AQB...`, `,key=`)
_KV_SECRET = re.compile(r"(?i)((?:\b|_)(?:" + SECRET_WORD + r"[A-Za-z0-9_.-]*|key|keyring|pass|pwd)\s*=\s*)"
                        r"(\"[^\"]*\"|'[^']*'|(?:[^,:;&\s'\"]|,,)+)")
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s?#@]*@)?([^\s?#]*)(\?[^\s#]*)?")
_USER_PASS = re.compile(r"(?<![\w/:@])[^\s/@:'\"]+:[^\s/@'\"]+@(?=[A-Za-z0-9\[])")   # user:pw@host, no scheme
_CONF_LINE = re.compile(r"(?im)^(\s*#?\s*[A-Za-z0-9_.-]*" + SECRET_WORD + r"[A-Za-z0-9_.-]*\s*=\s*)(.*)$")
_MOUNT_OPT = re.compile(r"(?i)(?<![A-Za-z0-9_])((?:password|pass|secret|credentials|token)=)((?:[^,\s]|,,)*)")
_CIFS_USER = re.compile(r"(?i)(?<![A-Za-z0-9_])((?:username|user)=[^,\s%]*%)((?:[^,\s]|,,)*)")
_ISCSI_PASSWORD = re.compile(r"(?im)^(\s*password(?:_in)?\s*:\s*)(?!\*+\s*$|<empty>\s*$)(\S.*)$")

_BARE_OPTION = re.compile(r"-{1,2}[A-Za-z][A-Za-z0-9-]*")    # `-object`: an option name, no value
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# Elements whose whole text is free-form and may carry credentials; the checks never read them.
_DROP_TEXT = frozenset({"description", "cmdline", "entry", "cookie", "dhCert", "session", "hostData",
                        "initarg", "initenv"})
_DROP_ELEMENTS = frozenset({"metadata"})
# Attributes that carry a value (not a reference) of a secret.
_SECRET_ATTRS = frozenset({"passwd", "password", "passphrase", "query", "cookie", "key"})


def mask_text(text: Any) -> Any:
    """Mask secrets inside free text: URL user-info and queries, key=value secrets."""
    if not isinstance(text, str) or not text:
        return text
    if not may_hold_secret(text):
        return text
    text = _USER_PASS.sub(MASK + "@", _URL.sub(_url_repl, text))
    return _KV_SECRET.sub(lambda m: m.group(1) + MASK, text)


def may_hold_secret(text: str) -> bool:
    """False when no pattern of mask_text can match: each needs its literal (a key secret "=",
    a URL's user-info or query "://", a bare user:password@host ":" and "@"). A result id or
    subject ("vm@src->dst") has "@" but no ":": it needs no regular expression."""
    return "=" in text or "://" in text or (":" in text and "@" in text)


def _url_repl(m) -> str:
    scheme, userinfo, rest, query = m.groups()
    return scheme + (MASK + "@" if userinfo else "") + rest + ("?" + MASK if query else "")


def scrub_conf_text(text: str) -> str:
    """`*password*`/`*secret*`/... keys of a key = value config (qemu.conf), commented-out lines
    too (they may still hold a real value). Only the value is masked: a `;` that ends the
    statement survives, so the file still parses (ganesha)."""
    def repl(m):
        value = m.group(2)
        if not value.strip():
            return m.group(0)
        end = re.search(r"\s*;.*$", value)
        return m.group(1) + f'"{MASK}"' + (end.group(0) if end else "")
    return _CONF_LINE.sub(repl, text)


_GANESHA_KEY = re.compile(r"(?i)\b([A-Za-z0-9_]*(?:" + SECRET_WORD + r"|key)[A-Za-z0-9_]*\s*=\s*)"
                          r"(\"(?:[^\"\\]|\\.)*\"|[^;}\s]+)")


def scrub_ganesha(text: str) -> str:
    """ganesha.conf by token: `Secret_Access_Key = "..."` masked wherever it stands (one-line
    blocks too); the `;` and braces stay, so the file still parses."""
    return _GANESHA_KEY.sub(lambda m: m.group(1) + f'"{MASK}"', text)


def scrub_mount_options(text: str) -> str:
    """password=/pass=/secret=/credentials= values and CIFS `username=user%pass` in fstab or
    mountinfo text; `,,` (an escaped comma) does not end a value."""
    text = _MOUNT_OPT.sub(lambda m: m.group(1) + MASK, text)
    return _CIFS_USER.sub(lambda m: m.group(1) + MASK, text)


def scrub_iscsi_sessions(text: str) -> str:
    """iscsiadm prints CHAP passwords as ******** unless asked (-S); mask any that slipped through."""
    return _ISCSI_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


def scrub_shell_fact(key: str, text: str) -> str:
    if key == "iscsi_sessions":
        return scrub_iscsi_sessions(text)
    if key.startswith("ganesha"):
        return scrub_ganesha(text)
    if key == "qemu_conf" or key.endswith("_conf"):
        return scrub_conf_text(text)
    if key in ("fstab", "mountinfo", "mounts"):
        return scrub_mount_options(text)
    return text


def _secret_attr(name: str) -> bool:
    lname = name.lower()
    if lname in _SECRET_ATTRS:
        return True
    return ("passw" in lname or "secret" in lname) and lname not in ("secret", "secrettype") \
        and not lname.endswith(("uuid", "usage", "type", "validto"))


def scrub_tree(root) -> None:
    """Remove secret values from a parsed domain/network XML tree, in place, by structure."""
    from lxml import etree
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            continue
        qname = etree.QName(el)
        tag = qname.localname
        if tag in _DROP_ELEMENTS and el.getparent() is not None:
            el.getparent().remove(el)
            continue
        for name in list(el.attrib):
            if _secret_attr(name):
                el.set(name, MASK)
            elif qname.namespace == QEMU_NS and name == "value":
                if not _BARE_OPTION.fullmatch(el.get(name) or ""):
                    el.set(name, MASK)                 # qemu:arg / qemu:env: any value may be a key
            else:
                el.set(name, mask_text(el.get(name)))  # URLs, rbd `:key=`, option strings
        if el.text and el.text.strip():
            el.text = MASK if (tag in _DROP_TEXT or qname.namespace == QEMU_NS) else mask_text(el.text)


def scrub_xml_text(xml: str, what: str = "XML") -> str:
    """A domain/network XML with its secrets removed. Refuses (UnsafeXMLError) what the safe
    parser refuses: a document that cannot be scrubbed by structure is never stored."""
    from lxml import etree
    from preflight.facts.xmlsafe import parse_xml
    root = parse_xml(xml, what)
    scrub_tree(root)
    return etree.tostring(root, encoding="unicode")


def scrub_record(record: dict) -> dict:
    """A raw facts record (a --replay recording, perhaps made by an older version, or edited)
    scrubbed again, in place, exactly as gathering scrubs: every host's and storage host's shell
    facts, every domain's XML and live XML, every libvirt network's XML. A document that cannot
    be scrubbed by structure is dropped (None) with the reason in the host's errors: its secrets
    can reach neither a new recording nor a report. Returns `record`."""
    from preflight.facts.xmlsafe import UnsafeXMLError

    def shell(entry: dict) -> None:
        for key, value in list(((entry or {}).get("shell") or {}).items()):
            if isinstance(value, dict) and isinstance(value.get("out"), str):
                value["out"] = scrub_shell_fact(key, value["out"])

    def xml_of(holder: dict, key: str, what: str, errors: dict, where: str) -> None:
        text = holder.get(key)
        if not isinstance(text, str) or not text:
            return
        try:
            holder[key] = scrub_xml_text(text, what)
        except (UnsafeXMLError, ValueError) as exc:
            holder[key] = None
            errors[where] = f"the recorded {what} was dropped: it cannot be scrubbed ({exc})"

    for entry in ((record or {}).get("hosts") or {}).values():
        if not isinstance(entry, dict):
            continue
        shell(entry)
        errors = entry.setdefault("errors", {}) if isinstance(entry.get("errors", {}), dict) else {}
        lv = entry.get("libvirt") if isinstance(entry.get("libvirt"), dict) else {}
        for dom in lv.get("domains") or ():
            if isinstance(dom, dict):
                name = dom.get("name") or "?"
                xml_of(dom, "xml", "domain XML", errors, f"domain:{name}")
                xml_of(dom, "live_xml", "live domain XML", errors, f"live_xml:{name}")
        for net in lv.get("networks") or ():
            if isinstance(net, dict):
                xml_of(net, "xml", "network XML", errors, f"network:{net.get('name') or '?'}")
    for entry in ((record or {}).get("storage_hosts_facts") or {}).values():
        if isinstance(entry, dict):
            shell(entry)
    return record
