"""Who ran a check, from where, with which command line and on which inputs: the run metadata every
output carries (JSON `run.id`, `run.operator`, `run.command`, `run.inventory`, `run.recording`,
`run.options`), so a change advisory board can tell which facts a verdict rests on.

Nothing here touches the network: the operator's host is the local host name (no DNS lookup).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional


def file_sha256(path) -> Optional[str]:
    """SHA-256 (hex) of a file's bytes, or None when it cannot be read (the report then says so)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def file_ref(path) -> dict:
    """{"path", "sha256"} of an input file: the path as given, the digest of what was read."""
    return {"path": str(path), "sha256": file_sha256(path)}


def new_run_id(started: Optional[str] = None) -> str:
    """`20261202T140740Z-3f9a1c2b`: when it started (sorts by time) plus 32 random bits, so two runs
    in the same second differ. Every output of one run carries the same id."""
    try:
        when = datetime.fromisoformat(str(started).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        when = datetime.now(timezone.utc)
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def operator() -> dict:
    """{"user", "host"} of whoever runs preflight; "sudo_user" too when it runs under sudo."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):      # no passwd entry for the uid and no $USER: say so, do not guess
        user = f"uid {os.getuid()}"
    out = {"user": user, "host": socket.gethostname() or "unknown"}
    sudo = os.environ.get("SUDO_USER")
    if sudo and sudo != user:
        out["sudo_user"] = sudo
    return out


@dataclass(frozen=True)
class Provenance:
    """What the CLI knows about a run before any fact is gathered."""

    run_id: str
    operator: dict
    command: tuple                      # argv as typed, the program name first
    inventory: Optional[dict] = None    # file_ref of the inventory the cluster came from
    recording: Optional[dict] = None    # file_ref of the recording replayed (plus its own metadata)
    # the options that change verdicts (--only/--skip are in run.selection): write_test, waivers,
    # previous; options that only change speed or output (--parallel, --html) are not listed
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"id": self.run_id, "operator": dict(self.operator), "command": list(self.command),
                "inventory": self.inventory, "recording": self.recording, "options": dict(self.options)}


def recording_ref(path, record: dict) -> dict:
    """The replayed recording: its file and digest, and what it says about itself (when and on which
    cluster its facts were gathered, by which preflight version)."""
    ref = file_ref(path)
    for key, field_name in (("cluster", "cluster"), ("recorded", "recorded"), ("tool_version", "tool_version")):
        value = record.get(field_name)
        ref[key] = value if isinstance(value, str) else None
    return ref


def command_line(argv) -> tuple:
    """argv with the program shown as `preflight` (not the venv's full path)."""
    argv = list(argv)
    if argv:
        argv[0] = Path(argv[0]).name or "preflight"
        if argv[0] in ("__main__.py", "-m", "-c"):
            argv[0] = "preflight"
    return tuple(argv)
