"""known_hosts read the way OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").

paramiko's HostKeys differs from OpenSSH where it matters for `--trust-new-host-keys`: it
reads one file, matches no wildcard, and crashes on markers. A host OpenSSH knows must not
look "new" to preflight (a new key would then be accepted for it). So:
- every file OpenSSH consults: the user files (ssh_config UserKnownHostsFile, default
  ~/.ssh/known_hosts ~/.ssh/known_hosts2) and the global ones (GlobalKnownHostsFile, default
  /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2), unless the inventory names one file: then only it;
- host patterns: comma lists, `*` and `?`, negation `!`, `[host]:port`, hashed `|1|salt|hash`;
- `@revoked` keys are refused whatever else says; `@cert-authority` lines mark the host as known
  (preflight does not verify host certificates, so such a host is never trusted on first contact);
- key types paramiko cannot load are still compared byte for byte;
- lines that cannot be read are skipped, as OpenSSH does, never a crash.
A new key is appended (hashed when HashKnownHosts is yes) to the first user file, only once
the connection has authenticated (see SshContext), in a file created 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from preflight.filesafe import UnsafeFileError, check_private_file
from preflight.transport.errors import ConfigError

__all__ = ["KnownKey", "KnownHostsSet", "USER_FILES", "GLOBAL_FILES"]

USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


@dataclass(frozen=True)
class KnownKey:
    """A key from a known_hosts line: compared by its wire bytes, like OpenSSH."""
    ktype: str
    blob: bytes
    source: str = ""

    def get_name(self) -> str:
        return self.ktype

    def asbytes(self) -> bytes:
        return self.blob


@dataclass
class _Line:
    patterns: tuple
    key: KnownKey
    marker: Optional[str] = None


def _match_hashed(pattern: str, name: str) -> bool:
    try:
        _, magic, salt, digest = pattern.split("|", 3)
        if magic != "1":
            return False
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, binascii.Error):
        return False


@lru_cache(maxsize=1024)
def _glob(pattern: str):
    """OpenSSH match_pattern: only `*` and `?` are special (`[host]:port` is literal), no case."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()),
                      re.S)


def _matches(patterns: tuple, name: str) -> bool:
    """OpenSSH match_hostname: any positive pattern matches and no negated one does."""
    found = False
    for pat in patterns:
        negated = pat.startswith("!")
        pat = pat[1:] if negated else pat
        hit = _match_hashed(pat, name) if pat.startswith("|") else _glob(pat).fullmatch(name.lower()) is not None
        if hit and negated:
            return False
        found = found or hit
    return found


def parse_line(text: str, source: str = "") -> Optional[_Line]:
    parts = text.split()
    if not parts or parts[0].startswith("#"):
        return None
    marker = None
    if parts[0].startswith("@"):
        marker, parts = parts[0].lower(), parts[1:]
        if marker not in ("@cert-authority", "@revoked"):
            return None
    if len(parts) < 3:
        return None
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    return _Line(patterns=tuple(p for p in parts[0].split(",") if p), key=KnownKey(parts[1], blob, source),
                 marker=marker)


def hashed_name(name: str) -> str:
    salt = os.urandom(20)
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


@dataclass
class KnownHostsSet:
    """The known_hosts files of one host lookup, parsed once each; thread-safe."""
    files: tuple                       # read, in order
    write_to: Optional[str]            # where a trusted new key goes (first user file)
    hash_names: bool = False
    _lines: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def path(self) -> str:
        return self.write_to or (self.files[0] if self.files else "~/.ssh/known_hosts")

    def __post_init__(self):
        for path in self.files:
            if not os.path.exists(path):
                continue
            try:
                check_private_file(path, "known_hosts")
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for text in fh:
                        line = parse_line(text, path)
                        if line is not None:
                            self._lines.append(line)
            except UnsafeFileError as exc:
                raise ConfigError("-", str(exc)) from exc
            except OSError as exc:
                raise ConfigError("-", f"cannot read known_hosts {path}: {exc}") from exc

    def lookup(self, name: str) -> dict:
        """{key type: KnownKey} of the plain entries matching `name` (the first per type)."""
        with self._lock:
            out: dict = {}
            for line in self._lines:
                if line.marker is None and _matches(line.patterns, name):
                    out.setdefault(line.key.ktype, line.key)
            return out

    def revoked(self, name: str, key) -> bool:
        with self._lock:
            return any(line.marker == "@revoked" and line.key.blob == key.asbytes() for line in self._lines)

    def has_authority(self, name: str) -> bool:
        """A @cert-authority line covers `name`: OpenSSH knows the host through a CA."""
        with self._lock:
            return any(line.marker == "@cert-authority" and _matches(line.patterns, name) for line in self._lines)

    def add(self, name: str, key) -> None:
        """Record `key` for `name` in memory and append it to the first user file (created 0600)."""
        if not self.write_to:
            raise ConfigError("-", "no known_hosts file to store a new host key in (UserKnownHostsFile none)")
        shown = hashed_name(name) if self.hash_names else name
        with self._lock:
            self._lines.append(_Line(patterns=(name,), key=KnownKey(key.get_name(), key.asbytes(), self.write_to)))
            directory = os.path.dirname(self.write_to)
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(self.write_to, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(f"{shown} {key.get_name()} {base64.b64encode(key.asbytes()).decode()}\n")


def split_paths(value) -> Optional[list]:
    """An ssh_config file list (UserKnownHostsFile a b) -> expanded paths; [] for `none`."""
    if not value:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(value)
    words = value.split()
    if [w.lower() for w in words] == ["none"]:
        return []
    return [os.path.expanduser(w) for w in words]
