"""Configuration files that decide where preflight connects and what it trusts are refused
when someone else could have written them, the way OpenSSH refuses its own config ("Bad owner
or permissions"): owned by neither the user nor root, or writable by group or others.

An inventory, an ssh_config or a known_hosts file in a shared directory (the current one,
/tmp) would otherwise let another local user pin host keys, redirect addresses or feed a
forged recording to a run the operator starts as root.
"""

from __future__ import annotations

import os
import stat

__all__ = ["UnsafeFileError", "check_private_file"]


class UnsafeFileError(ValueError):
    """A configuration file someone other than the user (or root) can control."""


def check_private_file(path, what: str) -> None:
    """Raise UnsafeFileError (one line) unless `path` is owned by the user or root and not
    writable by group or others. A missing file is not this function's business."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeFileError(f"cannot check {what} {path}: {exc.strerror or exc}") from exc
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise UnsafeFileError(f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {me}) or root: "
                              "refused, as OpenSSH refuses such files (copy it to a file of your own)")
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o022:
        raise UnsafeFileError(f"{what} {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
                              f"refused, as OpenSSH refuses such files (chmod go-w {path})")
