"""preflight.facts.meminfo on this machine's /proc/meminfo and a NUMA node's meminfo."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from _fixtures import read
from preflight.facts.meminfo import MeminfoError, parse_meminfo


def test_proc_meminfo():
    m = parse_meminfo(read("compat/proc-meminfo.this-machine.txt"))
    assert m.total_kib == 24683568 and m.available_kib == 24012516 and m.hugepage_size_kib == 2048
    assert m.get("HugePages_Total") == 0 and m.get("Active(anon)") == 14036


def test_node_meminfo_has_no_memavailable():
    m = parse_meminfo(read("compat/node0-meminfo.this-machine.txt"))
    assert m.node == 0 and m.total_kib == 7300840 and m.available_kib is None and m.free_kib == 6331036


@pytest.mark.parametrize("text", ["", "MemFree: 10 kB\n", "MemTotal: lots\n"])
def test_malformed(text):
    with pytest.raises(MeminfoError):
        parse_meminfo(text)


@given(
    st.dictionaries(st.from_regex(r"[A-Z][A-Za-z_]{2,12}", fullmatch=True), st.integers(0, 2**40), max_size=8)
)
def test_round_trip(values):
    values = {"MemTotal": 1024, **values}
    text = "".join(f"{k}:{' ' * (16 - len(k))}{v} kB\n" for k, v in values.items())
    assert parse_meminfo(text).values == values
