"""A stand-in for preflight.transport.ssh.Connection that runs scripts with the local sh, counted."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace as NS


class LocalConn:
    """run_script() like preflight.transport.ssh.Connection, counted, executed here."""

    def __init__(self):
        self.round_trips = 0

    def run_script(self, script, timeout=None):
        self.round_trips += 1
        p = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, timeout=60)
        return NS(rc=p.returncode, stdout_bytes=p.stdout, stderr=p.stderr.decode())
