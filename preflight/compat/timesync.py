"""Each host's clock is synchronised, and the offsets between hosts are small.

A live migration does not fail on a clock difference; the guest does: its kvmclock is carried
over, and timestamps it takes from the host (RTC base, TSC offsets of a host that jumps later)
move by the difference. Thresholds: one host not synchronised WARNs; two hosts more than
MAX_OFFSET_S apart WARN, more than FAIL_OFFSET_S apart FAIL (a guest sees time jump by that much).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.facts.timesync import ChronyTracking, TimedatectlShow

MAX_SYNC_ERROR_S = 0.1  # chrony's own error bound beyond which "synchronised" is nominal
MAX_OFFSET_S = 0.5
FAIL_OFFSET_S = 5.0


def judge_sync(
    host: str,
    chrony: Optional[ChronyTracking],
    timedatectl: Optional[TimedatectlShow] = None,
    ntpd_synced: Optional[bool] = None,
    tools_absent: bool = False,
) -> Finding:
    """chrony first (it says how well), else timedatectl's NTPSynchronized (the kernel's flag,
    set by any of chrony/ntpd/timesyncd), else ntpd's peer table."""
    if chrony is not None:
        bound = chrony.error_bound_s
        ref = chrony.reference_name or chrony.reference_id
        obs = f"chrony: {chrony.leap_status}, stratum {chrony.stratum}, reference {ref}"
        if chrony.system_time_s is not None:
            obs += f", offset {chrony.system_time_s:+.6f} s"
        if not chrony.synchronised:
            return warned(
                f"{host}'s clock is not synchronised (chrony: {chrony.leap_status})",
                observed=obs,
                expected="synchronised",
                host=host,
            )
        if bound is not None and bound > MAX_SYNC_ERROR_S:
            return warned(
                f"{host}'s clock is synchronised but only within {bound:.3f} s (chrony's bound)",
                observed=obs,
                expected=f"within {MAX_SYNC_ERROR_S} s",
                host=host,
            )
        return passed(
            f"{host}'s clock is synchronised (chrony, within {bound:.6f} s)"
            if bound is not None
            else f"{host}'s clock is synchronised (chrony)",
            observed=obs,
            host=host,
        )
    if timedatectl is not None and timedatectl.synchronized is not None:
        if timedatectl.synchronized:
            return passed(
                f"{host}'s clock is synchronised (timedatectl NTPSynchronized=yes)",
                observed="NTPSynchronized=yes",
                host=host,
            )
        return warned(
            f"{host}'s clock is not synchronised (timedatectl NTPSynchronized=no"
            + (", NTP=no" if timedatectl.ntp is False else "")
            + ")",
            observed="NTPSynchronized=no",
            expected="yes",
            host=host,
        )
    if ntpd_synced is not None:
        return (passed if ntpd_synced else warned)(
            f"{host}'s clock is {'' if ntpd_synced else 'not '}synchronised "
            f"(ntpd has {'a' if ntpd_synced else 'no'} system peer)",
            host=host,
        )
    if tools_absent:
        # Seen, not guessed: chronyc and ntpq are not installed and systemd is not running, so
        # neither chrony, ntpd nor systemd-timesyncd can be keeping this clock.
        return warned(
            f"no time service found on {host}: no chrony, no ntpd, and systemd (timesyncd) not running",
            observed="chronyc, ntpq: command not found; timedatectl: not installed or systemd not init",
            expected="chrony, ntpd or systemd-timesyncd synchronising the clock (another service, "
                     "e.g. ptp4l or openntpd, is not seen by preflight: waive this warning then)",
            host=host,
        )
    return undecided(f"no time-sync state could be read on {host} (chronyc, timedatectl, ntpq)", host=host)


@dataclass(frozen=True)
class ClockSample:
    """One reading of a host's clock: the controller's clock before and after asking (epoch s)
    and what the host said (`date +%s.%N`)."""

    host: str
    before: float
    remote: float
    after: float

    @property
    def offset(self) -> float:
        """Host minus controller, assuming the answer was taken midway."""
        return self.remote - (self.before + self.after) / 2

    @property
    def uncertainty(self) -> float:
        return (self.after - self.before) / 2


def judge_offsets(a: Optional[ClockSample], b: Optional[ClockSample]) -> Finding:
    if a is None or b is None:
        return undecided("a host's clock was not sampled")
    diff = a.offset - b.offset
    slack = a.uncertainty + b.uncertainty
    obs = f"{a.host} - {b.host} = {diff:+.3f} s (+/- {slack:.3f} s)"
    low = max(0.0, abs(diff) - slack)
    if low > FAIL_OFFSET_S:
        return failed(
            f"{a.host} and {b.host} are {abs(diff):.1f} s apart: a guest moving between them sees its "
            "time jump",
            observed=obs,
            expected=f"< {MAX_OFFSET_S} s",
        )
    if low > MAX_OFFSET_S:
        return warned(
            f"{a.host} and {b.host} are {abs(diff):.2f} s apart", observed=obs, expected=f"< {MAX_OFFSET_S} s"
        )
    if abs(diff) + slack > MAX_OFFSET_S:
        return undecided(
            f"the samples of {a.host} and {b.host} are too coarse (+/- {slack:.3f} s) to bound their "
            f"offset below {MAX_OFFSET_S} s",
            observed=obs,
            expected=f"< {MAX_OFFSET_S} s",
        )
    return passed(f"{a.host} and {b.host} agree within {abs(diff) + slack:.3f} s", observed=obs)
