"""Writing the outputs (issue 6): '-' is standard output; a FIFO, a character device or a symlink is
written through, never replaced; a new file takes the mode the umask allows (the recording 0600);
a set of outputs is written all or none.

Never a real device node: the "device" case pretends a regular file in tmp_path is a character
device by patching os.stat where preflight.reports.outputs looks; written through then means the
same inode, written in place."""

import os
import stat
import threading

import pytest

from preflight.reports import write_atomically


def _outputs():
    from preflight.reports import outputs
    return outputs


@pytest.fixture
def umask():
    def use(mask):
        old = os.umask(mask)
        masks.append(old)
    masks = []
    yield use
    for old in reversed(masks):        # the first saved is the one the test started with
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_hole_new_file_is_always_0644(tmp_path, umask):
    umask(0o027)
    write_atomically(tmp_path / "r.json", "{}\n")
    assert mode(tmp_path / "r.json") == 0o640
    umask(0o002)
    write_atomically(tmp_path / "r2.json", "{}\n")
    assert mode(tmp_path / "r2.json") == 0o664


def test_a_recording_is_created_0600(tmp_path, umask):
    umask(0o002)
    write_atomically(tmp_path / "facts.json", "{}\n", private=True)
    assert mode(tmp_path / "facts.json") == 0o600


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o077)
    target = tmp_path / "r.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_atomically(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o644


def test_hole_symlink_is_replaced_by_a_file(tmp_path):
    real = tmp_path / "reports" / "latest.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "r.json"
    link.symlink_to(real)
    write_atomically(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new\n"
    dangling = tmp_path / "d.json"
    dangling.symlink_to(tmp_path / "reports" / "not-yet.json")
    write_atomically(dangling, "x\n")
    assert dangling.is_symlink() and (tmp_path / "reports" / "not-yet.json").read_text() == "x\n"


def test_hole_fifo_is_replaced_by_a_file(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_atomically(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def pretend(monkeypatch, path, kind):
    """os.stat of `path` (only) says it is a device of `kind` (stat.S_IFCHR / S_IFBLK)."""
    real_stat = os.stat

    def fake(p, *a, **kw):
        st = real_stat(p, *a, **kw)
        if os.fspath(p) == os.fspath(path):
            values = list(st)
            values[0] = kind | 0o666
            return os.stat_result(values)
        return st

    monkeypatch.setattr(os, "stat", fake)


def test_hole_device_is_replaced_by_a_file(tmp_path, monkeypatch):
    """`--json /dev/null` as root replaced /dev/null with a regular file. A character device is now
    written through: the inode stays, nothing is renamed over it."""
    dev = tmp_path / "null-lookalike"
    dev.write_text("")
    inode = os.stat(dev).st_ino
    pretend(monkeypatch, dev, stat.S_IFCHR)
    write_atomically(dev, "written through\n")
    assert os.stat(dev).st_ino == inode
    assert dev.read_text() == "written through\n"
    assert sorted(os.listdir(tmp_path)) == ["null-lookalike"]


def test_a_block_device_is_never_written(tmp_path, monkeypatch):
    disk = tmp_path / "sda-lookalike"
    disk.write_text("partition table")
    pretend(monkeypatch, disk, stat.S_IFBLK)
    with pytest.raises(_outputs().OutputError, match="is a block device; preflight never writes a report"):
        write_atomically(disk, "x")
    assert disk.read_text() == "partition table"


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(_outputs().OutputError, match="is a directory"):
        write_atomically(tmp_path, "x")


def test_dash_is_standard_output(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomically("-", "to stdout\n")
    assert capfd.readouterr().out == "to stdout\n"
    assert os.listdir(tmp_path) == []


def test_two_outputs_cannot_share_standard_output_or_a_file(tmp_path):
    outs = _outputs().Outputs()
    outs.add("--json", "-")
    with pytest.raises(_outputs().OutputError, match="--json and --html both name standard output"):
        outs.add("--html", "-")
    outs.add("--record", tmp_path / "a.json")
    (tmp_path / "link.json").symlink_to(tmp_path / "a.json")
    with pytest.raises(_outputs().OutputError, match="--record and --html name the same file"):
        outs.add("--html", tmp_path / "link.json")
    outs.discard()
    assert os.listdir(tmp_path) == ["link.json"]


def test_paths_are_checked_when_planned_and_nothing_is_left_behind(tmp_path):
    outs = _outputs().Outputs()
    outs.add("--json", tmp_path / "ok.json")
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]        # its temporary file, beside it
    with pytest.raises(_outputs().OutputError,
                       match=r"--html .*missing-dir/r.html: cannot write: No such file or directory"):
        outs.add("--html", tmp_path / "missing-dir" / "r.html")
    outs.discard()
    assert os.listdir(tmp_path) == []


def test_hole_one_failed_write_leaves_the_others_claiming_a_complete_run(tmp_path, monkeypatch):
    """If writing one output fails, none of the set is renamed into place."""
    (tmp_path / "old.html").write_text("old html")
    outs = _outputs().Outputs()
    outs.add("--json", tmp_path / "r.json")
    outs.add("--html", tmp_path / "old.html")
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(_outputs().os, "fsync", fsync)
    with pytest.raises(_outputs().OutputError, match=r"--html .*old.html: cannot write: No space left"):
        outs.write({"--json": '{"exit_code": 1}\n', "--html": "<html>"})
    assert sorted(os.listdir(tmp_path)) == ["old.html"]          # no r.json, no temporary files
    assert (tmp_path / "old.html").read_text() == "old html"


def test_a_failed_rename_takes_back_the_ones_before_it(tmp_path, monkeypatch):
    outs = _outputs().Outputs()
    outs.add("--json", tmp_path / "r.json")
    outs.add("--html", tmp_path / "r.html")
    real_replace = os.replace
    calls = []

    def replace(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real_replace(a, b)

    monkeypatch.setattr(_outputs().os, "replace", replace)
    with pytest.raises(_outputs().OutputError, match=r"cannot write: Input/output error; removed .*r.json"):
        outs.write({"--json": "{}\n", "--html": "<html>"})
    assert os.listdir(tmp_path) == []


def test_a_file_we_may_write_in_a_directory_we_may_not_is_written_in_place(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("old, longer than the new text")
    inode = os.stat(target).st_ino

    def no_tempfile(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_outputs().tempfile, "mkstemp", no_tempfile)
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n" and os.stat(target).st_ino == inode
