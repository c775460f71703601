"""Run the real command line in a subprocess, as a user would (shared by the CLI tests)."""

import subprocess
import sys


def run_cli(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "preflight", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)
