"""NFS server export tables -> typed exports, and "does this export let that client in?".

Pure functions: no I/O. Two server kinds share one model (`NfsExport` with ordered
`ClientRule`s); nfs-ganesha's config is parsed in `preflight.facts.ganesha`.

knfsd (exports(5), nfs-utils):
- ``/path [-defaults] client(opts) client ...``; ``#`` comments; ``\\`` continues a line;
  a path with spaces is double-quoted or octal-escaped (``\\040``); ``-opts`` after the path
  are defaults for the clients after them on that line; a client without ``(opts)`` gets
  the defaults; a line with no client exports to everyone (``*``) with the defaults.
- Defaults: ro, root_squash, anonuid/anongid 65534 (exportfs chooses 65534 unless set).
- Several rules matching one client: the first of this list wins, whatever their order on
  the line: single host, IP network, wildcard, netgroup, anonymous (``*``); within one
  kind, the first on the line.
- ``exportfs -v`` prints the live table as ``PATH<TAB>CLIENT(OPTS)`` (a long path is
  followed by a newline and the client on the next, indented, line; ``<world>`` = ``*``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Optional

ANON_ID = 65534
_OCTAL = re.compile(r"\\([0-7]{3})")

# knfsd precedence of client kinds (exports(5), "Machine Name Formats")
KIND_ORDER = ("host", "network", "wildcard", "netgroup", "anonymous")


class ExportsError(ValueError):
    pass


@dataclass(frozen=True)
class ClientRule:
    """Who (spec) gets what (access, squash) on one export."""

    spec: str                        # hv1, 10.0.0.0/24, *.example.org, @group, *
    access: str = "ro"               # rw, ro, none (ganesha also: mdonly, mdonly_ro)
    squash: str = "root"             # root (root_squash), all (all_squash), none, root_id
    anonuid: int = ANON_ID
    anongid: int = ANON_ID
    options: tuple = ()              # the options as written, for evidence
    where: str = ""                  # "/etc/exports:3"

    @property
    def kind(self) -> str:
        return client_kind(self.spec)


@dataclass(frozen=True)
class NfsExport:
    path: str
    rules: tuple = ()                # tuple[ClientRule], in the order they were written
    server: str = "knfsd"            # knfsd or ganesha
    pseudo: Optional[str] = None     # ganesha's NFSv4 pseudo path; knfsd: None
    fallback: Optional[ClientRule] = None   # ganesha: the EXPORT block's own permissions
    fsid_root: bool = False          # knfsd fsid=0/fsid=root: the NFSv4 pseudo root
    protocols: tuple = ()            # ganesha Protocols (e.g. ("3", "4")); () = server default
    export_id: Optional[int] = None
    where: str = ""


@dataclass(frozen=True)
class Admission:
    """The answer for one client: which rule applies (None = not admitted)."""

    rule: Optional[ClientRule]
    matched_by: Optional[str] = None     # "address 10.0.0.2", "name hv2.example.org"
    undecided: Optional[str] = None      # set when it cannot be decided (netgroups, bad spec)

    @property
    def writable(self) -> bool:
        return self.rule is not None and self.rule.access == "rw"


# --- knfsd /etc/exports ---------------------------------------------------------------

def _strip_comment(line: str) -> str:
    quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            quote = not quote
        elif ch == "#" and not quote:
            return line[:i]
    return line


def _logical_lines(text: str):
    """(line number, joined line) with comments removed and backslash continuations joined."""
    buf, start = "", None
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if start is None:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf, start = "", None
    if buf.strip():
        yield start, buf.strip()


def _split_path(line: str) -> tuple:
    if line.startswith('"'):
        end = line.find('"', 1)
        if end < 0:
            raise ExportsError("unterminated quoted path")
        return line[1:end], line[end + 1:]
    path, _, rest = line.partition(" ")
    if "\t" in path:
        path, _, more = path.partition("\t")
        rest = more + " " + rest
    return path, rest


def unescape(path: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), path)


def knfsd_rule(spec: str, options: Iterable[str], where: str = "") -> ClientRule:
    """A client rule from knfsd options (later options override earlier ones)."""
    options = tuple(o.strip() for o in options if o.strip())
    access, root_squash, all_squash, anonuid, anongid = "ro", True, False, ANON_ID, ANON_ID
    for opt in options:
        key, _, value = opt.partition("=")
        if opt in ("rw", "ro"):
            access = opt
        elif opt in ("root_squash", "no_root_squash"):
            root_squash = opt == "root_squash"
        elif opt in ("all_squash", "no_all_squash"):
            all_squash = opt == "all_squash"
        elif key in ("anonuid", "anongid"):
            try:
                number = int(value)
            except ValueError:
                raise ExportsError(f"{where}: {opt} is not a number") from None
            if key == "anonuid":
                anonuid = number
            else:
                anongid = number
    squash = "all" if all_squash else ("root" if root_squash else "none")
    return ClientRule(spec=spec or "*", access=access, squash=squash, anonuid=anonuid, anongid=anongid,
                      options=options, where=where)


_CLIENT = re.compile(r"^([^()\s]*)(?:\(([^)]*)\))?$")


def parse_exports(text: str, source: str = "/etc/exports") -> tuple:
    """An exports(5) file -> tuple[NfsExport], one per line (merge with `merge_exports`)."""
    exports = []
    for number, line in _logical_lines(text):
        where = f"{source}:{number}"
        path, rest = _split_path(line)
        path = unescape(path)
        if not path.startswith("/"):
            raise ExportsError(f"{where}: export path {path!r} is not absolute")
        defaults: list = []
        rules = []
        fsid_root = False
        for token in rest.split():
            if token.startswith("-"):
                defaults = defaults + token[1:].split(",")
                continue
            m = _CLIENT.match(token)
            if not m:
                raise ExportsError(f"{where}: cannot read client {token!r}")
            spec, opts = m.group(1), m.group(2)
            options = defaults + (opts.split(",") if opts is not None else [])
            rules.append(knfsd_rule(spec or "*", options, where))
        if not rules:
            rules.append(knfsd_rule("*", defaults, where))
        fsid_root = any(o in ("fsid=0", "fsid=root") for r in rules for o in r.options)
        exports.append(NfsExport(path=path, rules=tuple(rules), fsid_root=fsid_root, where=where))
    return tuple(exports)


def parse_exports_dir(text: str) -> tuple:
    """The concatenation printed by the storage-host gather: ``# preflight-file: PATH`` lines
    separate the files of /etc/exports.d/*.exports."""
    exports, name, chunk = [], "/etc/exports.d", []
    for line in (text or "").splitlines():
        if line.startswith("# preflight-file: "):
            if chunk:
                exports += parse_exports("\n".join(chunk), name)
            name, chunk = line[len("# preflight-file: "):].strip(), []
        else:
            chunk.append(line)
    if chunk:
        exports += parse_exports("\n".join(chunk), name)
    return tuple(exports)


def parse_exportfs_v(text: str) -> tuple:
    """``exportfs -v`` (the live export table) -> tuple[NfsExport], one per output entry."""
    exports = []
    pending = None
    for number, raw in enumerate((text or "").splitlines(), 1):
        if not raw.strip():
            continue
        where = f"exportfs -v:{number}"
        if raw[0] in " \t":
            if pending is None:
                raise ExportsError(f"{where}: client line without a path")
            path, client = pending, raw.strip()
        else:
            parts = raw.split(None, 1)
            if len(parts) == 1:
                pending = unescape(parts[0])
                continue
            path, client = unescape(parts[0]), parts[1].strip()
        pending = None
        m = _CLIENT.match(client)
        if not m:
            raise ExportsError(f"{where}: cannot read client {client!r}")
        spec = "*" if m.group(1) in ("<world>", "") else m.group(1)
        rule = knfsd_rule(spec, (m.group(2) or "").split(","), where)
        exports.append(NfsExport(path=path, rules=(rule,), where=where,
                                 fsid_root=any(o in ("fsid=0", "fsid=root") for o in rule.options)))
    if pending is not None:
        raise ExportsError(f"exportfs -v: path {pending!r} has no client line (truncated?)")
    return tuple(exports)


def merge_exports(exports: Iterable[NfsExport]) -> tuple:
    """One NfsExport per path, rules concatenated in reading order (as exportfs merges)."""
    merged: dict = {}
    for exp in exports:
        key = (exp.server, exp.path.rstrip("/") or "/")
        if key in merged:
            old = merged[key]
            merged[key] = NfsExport(path=old.path, rules=old.rules + exp.rules, server=old.server,
                                    pseudo=old.pseudo, fallback=old.fallback,
                                    fsid_root=old.fsid_root or exp.fsid_root, protocols=old.protocols,
                                    export_id=old.export_id, where=old.where + ", " + exp.where)
        else:
            merged[key] = exp
    return tuple(merged.values())


# --- matching -----------------------------------------------------------------------------

def client_kind(spec: str) -> str:
    spec = spec.strip()
    if spec in ("*", "", "<world>"):
        return "anonymous"
    if spec.startswith("@"):
        return "netgroup"
    if "/" in spec:
        return "network"
    if any(c in spec for c in "*?["):
        return "wildcard"
    return "host"


def _ip(text):
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


def spec_matches(spec: str, names: Iterable[str], address: Optional[str]) -> Optional[str]:
    """How `spec` matches the client (a reason string), "" when it does not, None when it
    cannot be decided here (netgroups, malformed networks)."""
    kind = client_kind(spec)
    names = [n.lower().rstrip(".") for n in names if n]
    addr = _ip(address) if address else None
    if kind == "anonymous":
        return "everyone (*)"
    if kind == "netgroup":
        return None
    if kind == "network":
        try:
            net = ipaddress.ip_network(spec, strict=False)
        except ValueError:
            return None
        return f"address {address} in {spec}" if addr is not None and addr.version == net.version \
            and addr in net else ""
    if kind == "wildcard":
        hit = next((n for n in names if fnmatch.fnmatchcase(n, spec.lower())), None)
        return f"name {hit} matches {spec}" if hit else ""
    spec_ip = _ip(spec)
    if spec_ip is not None:
        return f"address {address}" if addr is not None and addr == spec_ip else ""
    low = spec.lower().rstrip(".")
    for n in names:
        if n == low or (("." not in low) and n.split(".")[0] == low):
            return f"name {n} (as {spec}; the server must resolve it to the client's address)"
    return ""


def admit(export: NfsExport, names: Iterable[str], address: Optional[str]) -> Admission:
    """Which rule of `export` applies to a client known by `names` connecting from `address`."""
    names = tuple(names)
    if export.server == "ganesha":
        for rule in export.rules:               # first applicable CLIENT block wins
            how = spec_matches(rule.spec, names, address)
            if how is None:
                return Admission(None, undecided=f"{rule.where}: client {rule.spec} (a netgroup or "
                                 "unreadable spec) comes first and cannot be evaluated here")
            if how:
                return Admission(rule, how)
        if export.fallback is not None and export.fallback.access != "none":
            return Admission(export.fallback, "the EXPORT block's own permissions (no CLIENT block matched)")
        return Admission(None)
    for kind in KIND_ORDER:                     # knfsd: precedence by kind, then line order
        for rule in export.rules:
            if rule.kind != kind:
                continue
            how = spec_matches(rule.spec, names, address)
            if how is None:
                return Admission(None, undecided=f"{rule.where}: client {rule.spec} (a netgroup or "
                                 "unreadable spec) may apply and cannot be evaluated here")
            if how:
                return Admission(rule, how)
    return Admission(None)


def _within(path: str, top: str) -> bool:
    top = top.rstrip("/") or "/"
    return top == "/" or path == top or path.startswith(top + "/")


def covering_export(exports: Iterable[NfsExport], path: str, nfs_version: Optional[str] = None):
    """The export a client reaches by `path` (the mount's export path or a network disk's
    name): the deepest export containing it. NFSv4 paths are also tried as pseudo paths
    (ganesha Pseudo, knfsd below the fsid=0 root). Returns (export, path on the server) or
    (None, None)."""
    path = "/" + path.strip("/")
    exports = tuple(exports)
    v4 = nfs_version is None or str(nfs_version).startswith("4")
    v3 = nfs_version is None or not str(nfs_version).startswith("4")
    candidates = []
    for exp in exports:
        if v3 or exp.server == "knfsd":
            if _within(path, exp.path):
                candidates.append((len(exp.path.rstrip("/")), exp, path))
        if v4 and exp.pseudo and _within(path, exp.pseudo):
            rest = path[len(exp.pseudo.rstrip("/")):]
            candidates.append((len(exp.pseudo.rstrip("/")), exp, exp.path.rstrip("/") + rest))
    if not candidates and v4:
        for root in (e for e in exports if e.fsid_root):
            real = root.path.rstrip("/") + path
            for exp in exports:
                if _within(real, exp.path):
                    candidates.append((len(exp.path.rstrip("/")), exp, real))
    if not candidates:
        return None, None
    best = max(candidates, key=lambda c: c[0])
    return best[1], best[2]
