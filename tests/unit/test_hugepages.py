"""preflight.facts.hugepages on this machine's sysfs listing (pools exist but are empty; the
machine is shared, so no pool was resized for a recording)."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.hugepages import HugepagesError, parse_hugepages, pool


def test_this_machine():
    pools = parse_hugepages(read("compat/hugepages-sysfs.this-machine.txt"))
    assert [(p.size_kib, p.node) for p in pools] == [(2048, None), (1048576, None), (2048, 0), (1048576, 0)]
    hw = pool(pools, 2048)
    assert (hw.nr, hw.free, hw.reserved, hw.available) == (0, 0, 0, 0)
    assert pool(pools, 2048, node=0).reserved is None  # nodes have no resv_hugepages
    assert pool(pools, 4) is None


def test_grep_permission_lines_are_ignored():
    text = read("compat/hugepages-sysfs.this-machine.stderr") + read(
        "compat/hugepages-sysfs.this-machine.txt"
    )
    assert len(parse_hugepages(text)) == 4


def test_available_subtracts_reserved():
    line = "/sys/kernel/mm/hugepages/hugepages-2048kB/{}:{}\n"
    pools = parse_hugepages(
        line.format("nr_hugepages", 1024)
        + line.format("free_hugepages", 897)
        + line.format("resv_hugepages", 393)
    )
    assert pools[0].available == 504


@pytest.mark.parametrize(
    "text", ["/proc/meminfo:1\n", "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages:x\n"]
)
def test_malformed(text):
    with pytest.raises(HugepagesError):
        parse_hugepages(text)
