"""X.509 certificates as `openssl x509 -noout -subject -issuer -dates -fingerprint -sha256 -in FILE`
prints them (OpenSSL 1.1 and 3.x), one block per certificate, each block introduced by a
`==> PATH <==` line the gathering script writes (as `tail`/`head` do), and `missing PATH` for
a file that is not there. Never the private keys: only their presence is a fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

# The certificate fact's script: `sh -c CERTS_SH sh FILE...` (never a private key's content).
CERTS_SH = r"""for f in "$@"; do
  if [ -e "$f" ]; then
    echo "==> $f <=="
    openssl x509 -noout -subject -issuer -dates -fingerprint -sha256 -in "$f" 2>&1
  else
    echo "missing $f"
  fi
done"""


class TlsError(ValueError):
    pass


@dataclass(frozen=True)
class Certificate:
    path: str
    present: bool
    subject: Optional[str] = None
    issuer: Optional[str] = None
    not_before: Optional[datetime] = None
    not_after: Optional[datetime] = None
    sha256: Optional[str] = None  # fingerprint, colon-separated upper-case hex
    error: Optional[str] = None  # openssl could not read it

    @property
    def self_signed(self) -> bool:
        return self.subject is not None and self.subject == self.issuer


_DATE = "%b %d %H:%M:%S %Y %Z"


def _date(value: str) -> datetime:
    value = re.sub(r"\s+", " ", value.strip())
    try:
        return datetime.strptime(value, _DATE).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise TlsError(f"certificate date {value!r} is not in openssl's format") from exc


def _dn(value: str) -> str:
    """OpenSSL 3 prints 'CN = x, O = y', 1.1 printed '/CN=x/O=y' or 'CN = x': one spelling."""
    v = value.strip()
    if v.startswith("/"):
        parts = [p for p in v.split("/") if p]
    else:
        parts = [p.strip() for p in re.split(r",\s*(?=[A-Za-z]+\s*=)", v)]
    return ", ".join(re.sub(r"\s*=\s*", "=", p, count=1) for p in parts)


def parse_x509_blocks(text: str) -> tuple:
    certs, cur = [], None

    def close():
        if cur is not None:
            certs.append(Certificate(**cur))

    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"^==> (.+) <==$", line)
        if m:
            close()
            cur = {"path": m.group(1), "present": True}
            continue
        m = re.match(r"^missing (.+)$", line)
        if m:
            close()
            certs.append(Certificate(path=m.group(1), present=False))
            cur = None
            continue
        if cur is None:
            raise TlsError(f"certificate field before any '==> PATH <==' line: {line[:60]!r}")
        key, sep, value = line.partition("=")
        key = key.strip()
        if key == "subject":
            cur["subject"] = _dn(value)
        elif key == "issuer":
            cur["issuer"] = _dn(value)
        elif key == "notBefore":
            cur["not_before"] = _date(value)
        elif key == "notAfter":
            cur["not_after"] = _date(value)
        elif key.lower().startswith("sha256 fingerprint"):
            cur["sha256"] = value.strip().upper()
        elif (
            "unable to load" in line.lower()
            or "could not read" in line.lower()
            or line.startswith("Could not")
        ):
            cur["error"] = line
        elif sep:
            continue
        else:
            cur["error"] = (cur.get("error") or "") + line
    close()
    return tuple(certs)
