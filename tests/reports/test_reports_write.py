import os

import pytest

from preflight.reports import write_atomically


def test_writes_whole_file(tmp_path):
    target = tmp_path / "report.html"
    write_atomically(target, "héllo\n")
    assert target.read_text("utf-8") == "héllo\n"
    assert os.listdir(tmp_path) == ["report.html"]
    assert (os.stat(target).st_mode & 0o777) == 0o644


def test_replaces_and_keeps_mode(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_atomically(str(target), "new")
    assert target.read_text() == "new"
    assert (os.stat(target).st_mode & 0o777) == 0o600


def test_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old and whole")

    def boom(*a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    assert target.read_text() == "old and whole"
    assert os.listdir(tmp_path) == ["report.html"]
