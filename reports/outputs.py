"""Where the reports and the recording go: checked before anything is gathered, written all or none.

    outputs = Outputs()
    outputs.add("--json", "report.json")          # checked now: a temporary file is created beside it
    outputs.add("--record", "facts.json", private=True)
    ...gather...
    outputs.write({"--record": text})              # right after the gather
    outputs.write({"--json": json_text, "--html": html_text})
    outputs.discard()                              # always (finally): removes what was not written

A path is one of
  "-"                 standard output (at most one output may use it)
  a regular file, or a path that does not exist yet
                      written to a temporary file in the same directory, fsynced, then renamed over the
                      path (readers see the old file or the whole new one). A symlink is followed: the
                      file it points to is replaced, the link stays. A replaced file keeps its mode (and
                      its owner where we may); a new file gets 0666 & ~umask, the recording 0600 & ~umask
                      (it holds every guest's XML).
  a character device or a FIFO (also /dev/stdout, /proc/self/fd/N)
                      written through, never replaced: `--json /dev/null` leaves /dev/null a device.
  a file in a directory we may not create files in, but which we may write
                      written through in place (not atomically), as a shell redirection would.
A directory, a block device (a disk: never written) or a socket is refused.

All or none: the texts of one `write` go to their temporary files first (where a full disk shows),
then to the streams, and only then are the temporary files renamed into place. If anything fails,
no temporary file is renamed; should a rename itself fail, the files already renamed in that set are
removed again, so no report claims a run whose other outputs are missing. What was written to a
stream cannot be taken back: the exit status (2) says the set is incomplete.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Optional


class OutputError(OSError):
    """One line naming the option, the path and what is wrong (exit code 2). An OSError, as what
    write_atomically always raised."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)      # the portable way; single-threaded at this point
    os.umask(mask)
    return mask


def _through_proc(path: str) -> bool:
    """Does the path lead through /proc/*/fd or /dev/fd (like /dev/stdout)? Then it names an open
    file of some process (a pipe, a terminal, the file the shell redirected to): write into it."""
    cur = os.path.abspath(path)
    for _ in range(40):
        if cur.startswith(("/proc/", "/dev/fd/")):
            return True
        try:
            link = os.readlink(cur)
        except OSError:
            return False
        cur = os.path.normpath(os.path.join(os.path.dirname(cur), link))
    return False


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


@dataclass
class Target:
    option: str                      # "--json", "--html", "--record"
    path: str                        # as given ("-" for standard output)
    kind: str                        # "stdout", "stream" (written through) or "file" (atomic replace)
    final: Optional[str] = None      # "file": the real path the temporary file is renamed onto
    tmp: Optional[str] = None        # "file": the temporary file, created when the target is planned
    fd: Optional[int] = None
    mode: int = 0o644
    owner: Optional[tuple] = None    # (uid, gid) of the file replaced
    truncate: bool = False           # "stream" on a regular file (written in place)
    done: bool = False

    @property
    def shown(self) -> str:
        return "standard output" if self.kind == "stdout" else self.path

    def fail(self, what: str) -> OutputError:
        return OutputError(f"{self.option} {self.path}: {what}")


def plan(option: str, path, private: bool = False) -> Target:
    """Check `path` as an output and prepare it (see the module docstring); OutputError if unusable."""
    path = os.fspath(path)
    if path == "-":
        return Target(option, path, "stdout")
    if not path:
        raise OutputError(f"{option}: empty path (use - for standard output)")
    target = Target(option, path, "file")
    try:
        st = os.stat(path)               # follows symlinks: what would be written is what counts
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise target.fail(f"cannot write: {_why(exc)}") from exc
    if st is not None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise target.fail("is a directory; name a file")
        if stat.S_ISBLK(mode):
            raise target.fail("is a block device; preflight never writes a report onto a disk")
        if stat.S_ISSOCK(mode):
            raise target.fail("is a socket; name a file, a FIFO or - for standard output")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or (_through_proc(path) and not stat.S_ISREG(mode)):
            return _stream(target)
        if not stat.S_ISREG(mode):
            raise target.fail("is not a regular file, a FIFO or a character device")
        if _through_proc(path):
            return _stream(target, truncate=True)
    final = os.path.realpath(path)       # a symlink stays; the file it points to is replaced
    directory = os.path.dirname(final) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(final)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        if st is not None and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) \
                and os.access(path, os.W_OK):
            return _stream(target, truncate=True)   # may write the file, not create one beside it
        where = "" if os.path.isdir(directory) else f" (no directory {directory})"
        raise target.fail(f"cannot write: {_why(exc)}{where}") from exc
    target.final, target.tmp, target.fd = final, tmp, fd
    if st is not None:
        target.mode, target.owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    else:
        target.mode = (0o600 if private else 0o666) & ~current_umask()
    return target


def _stream(target: Target, truncate: bool = False) -> Target:
    if not os.access(target.path, os.W_OK):
        raise target.fail("cannot write: permission denied")
    target.kind, target.truncate = "stream", truncate
    return target


@dataclass
class Outputs:
    targets: dict = field(default_factory=dict)      # option -> Target

    def add(self, option: str, path, private: bool = False) -> Target:
        target = plan(option, path, private=private)
        try:
            for other in self.targets.values():
                if target.kind == other.kind == "stdout":
                    raise OutputError(f"{other.option} and {option} both name standard output (-); "
                                      f"only one output can go there")
                if target.kind != "stdout" and other.kind != "stdout" and _same(target, other):
                    raise OutputError(f"{other.option} and {option} name the same file {target.path}")
        except OutputError:
            _drop(target)
            raise
        self.targets[option] = target
        return target

    def refuse_overwriting(self, path, what: str) -> None:
        """An output must not replace the file being read (the recording being replayed)."""
        if path is None:
            return
        real = os.path.realpath(os.fspath(path))
        for t in self.targets.values():
            if t.kind != "stdout" and (t.final == real or os.path.realpath(t.path) == real):
                raise OutputError(f"{t.option} {t.path}: would overwrite {what}; write the output elsewhere")

    @property
    def uses_stdout(self) -> bool:
        return any(t.kind == "stdout" for t in self.targets.values())

    def write(self, texts: dict) -> list:
        """Write {option: text} all or none (see the module docstring); the targets written, in order."""
        chosen = [self.targets[o] for o in texts if o in self.targets]
        try:
            for t in chosen:
                if t.kind == "file":
                    _fill(t, texts[t.option])
            for t in chosen:
                if t.kind != "file":
                    _pour(t, texts[t.option])
        except OutputError:
            self.discard()
            raise
        renamed = []
        for t in chosen:
            if t.kind != "file":
                continue
            try:
                os.replace(t.tmp, t.final)
            except OSError as exc:
                for r in renamed:           # no report may claim a run whose others are missing
                    try:
                        os.unlink(r.final)
                    except OSError:
                        pass
                self.discard()
                gone = f"; removed {', '.join(r.path for r in renamed)} again" if renamed else ""
                raise t.fail(f"cannot write: {_why(exc)}{gone}") from exc
            t.tmp, t.done = None, True
            renamed.append(t)
            _fsync_dir(os.path.dirname(t.final))
        for t in chosen:
            t.done = True
        return chosen

    def discard(self) -> None:
        """Remove every temporary file not renamed into place (safe to call more than once)."""
        for t in self.targets.values():
            _drop(t)


def _same(a: Target, b: Target) -> bool:
    if a.final and b.final:
        return a.final == b.final
    try:
        return os.path.samefile(a.path, b.path)
    except OSError:
        return os.path.realpath(a.path) == os.path.realpath(b.path)


def _drop(t: Target) -> None:
    if t.fd is not None:
        try:
            os.close(t.fd)
        except OSError:
            pass
        t.fd = None
    if t.tmp is not None:
        try:
            os.unlink(t.tmp)
        except OSError:
            pass
        t.tmp = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fill(t: Target, text: str) -> None:
    """The whole text into the target's temporary file, fsynced, with the mode it will keep."""
    try:
        _write_all(t.fd, text.encode("utf-8"))
        os.fsync(t.fd)
        if t.owner is not None and hasattr(os, "fchown"):
            try:
                os.fchown(t.fd, *t.owner)           # root replacing another user's file keeps it theirs
            except OSError:
                pass
        os.fchmod(t.fd, t.mode)
    except OSError as exc:
        raise t.fail(f"cannot write: {_why(exc)}") from exc
    finally:
        try:
            os.close(t.fd)
        except OSError:
            pass
        t.fd = None


def _pour(t: Target, text: str) -> None:
    """Write through: standard output, a FIFO, a character device, or a file in place."""
    data = text.encode("utf-8")
    if t.kind == "stdout":
        try:
            sys.stdout.flush()
            _write_all(sys.stdout.fileno(), data)
        except BrokenPipeError as exc:
            # the reader went away: silence the interpreter's own flush at exit, then say so once
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            raise OutputError(f"{t.option} -: standard output was closed before the report was written") \
                from exc
        except OSError as exc:
            raise t.fail(f"cannot write to standard output: {_why(exc)}") from exc
        return
    flags = os.O_WRONLY | (os.O_TRUNC if t.truncate else 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(t.path, flags)
    except OSError as exc:
        raise t.fail(f"cannot write: {_why(exc)}") from exc
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise t.fail(f"cannot write: {_why(exc)}") from exc
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself is done
    finally:
        os.close(dir_fd)


def write_one(path, text: str, private: bool = False, option: str = "output") -> None:
    """One output written as above (the engine of preflight.reports.write_atomically)."""
    outputs = Outputs()
    try:
        outputs.add(option, path, private=private)
        outputs.write({option: text})
    finally:
        outputs.discard()
