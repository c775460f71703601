"""preflight.facts.timesync on public chronyc outputs (chrony's own documentation, two hosts'
captures) and this machine's timedatectl (no systemd here: its failure)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from _fixtures import read
from preflight.facts.timesync import (
    TimeSyncError,
    parse_chrony_tracking,
    parse_ntpq_peers,
    parse_timedatectl_show,
)


def test_chrony_doc_example_slow_clock():
    t = parse_chrony_tracking(read("compat/chronyc-tracking.chrony-doc.txt"))
    assert t.reference_id == "CB00710F" and t.reference_name == "foo.example.net" and t.stratum == 3
    assert t.system_time_s == pytest.approx(-6.523e-6)  # "slow of NTP time": behind
    assert t.frequency_ppm == pytest.approx(-3.225) and t.synchronised
    assert t.error_bound_s == pytest.approx(6.523e-6 + 0.001100737 + 0.5 * 0.013639022)


def test_fast_clock():
    t = parse_chrony_tracking(read("compat/chronyc-tracking.josina1234-docs.txt"))
    assert t.system_time_s == pytest.approx(3.4e-8) and t.frequency_ppm == pytest.approx(11.621)


def test_unsynchronised():
    t = parse_chrony_tracking(read("compat/chronyc-tracking-unsynchronised.liaosirui-blog.txt"))
    assert not t.synchronised and t.reference_id == "00000000" and t.leap_status == "Not synchronised"


def test_timedatectl_without_systemd_is_not_parsed_as_a_state():
    with pytest.raises(TimeSyncError):
        parse_timedatectl_show(read("compat/timedatectl-show.this-machine.stderr"))


def test_timedatectl_properties():
    # systemd's documented property names (timedatectl(1) `show`); no systemd runs here to record one
    s = parse_timedatectl_show("Timezone=UTC\nLocalRTC=no\nCanNTP=yes\nNTP=yes\nNTPSynchronized=no\n")
    assert s.ntp is True and s.synchronized is False and s.timezone == "UTC"


@pytest.mark.parametrize("text", ["", "506 Cannot talk to daemon", "chronyc: command not found"])
def test_not_tracking(text):
    with pytest.raises(TimeSyncError):
        parse_chrony_tracking(text)


@given(st.floats(0, 1000, allow_nan=False), st.sampled_from(["fast", "slow"]))
def test_offset_sign_property(value, word):
    text = (
        "Reference ID    : 0A000001 (ntp)\nStratum         : 2\n"
        f"System time     : {value:.9f} seconds {word} of NTP time\nLeap status     : Normal\n"
    )
    t = parse_chrony_tracking(text)
    assert t.system_time_s == pytest.approx(value if word == "fast" else -value, abs=1e-9)


def test_ntpq_table_refuses_other_text():
    with pytest.raises(TimeSyncError):
        parse_ntpq_peers("No association ID's returned")
