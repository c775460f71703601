"""Clock synchronisation state: `chronyc tracking`, `timedatectl show` and `ntpq -pn`.

Offsets are in seconds with a sign: positive means this host's clock is AHEAD of true time
(chrony prints "0.000006523 seconds slow of NTP time" for a clock behind: -6.523e-6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional


class TimeSyncError(ValueError):
    pass


@dataclass(frozen=True)
class ChronyTracking:
    reference_id: Optional[str]  # hex ("CB00710F"); "00000000" when never synchronised
    reference_name: Optional[str]  # the name/address in parentheses ('' when none)
    stratum: Optional[int]
    system_time_s: Optional[float]  # signed: + ahead, - behind
    last_offset_s: Optional[float]
    rms_offset_s: Optional[float]
    frequency_ppm: Optional[float]  # signed: + fast, - slow
    skew_ppm: Optional[float]
    root_delay_s: Optional[float]
    root_dispersion_s: Optional[float]
    update_interval_s: Optional[float]
    leap_status: Optional[str]  # Normal, Insert second, Delete second, Not synchronised

    @property
    def synchronised(self) -> bool:
        return (
            self.leap_status is not None
            and self.leap_status != "Not synchronised"
            and self.reference_id not in (None, "00000000", "0000000")
            and (self.stratum or 0) > 0
        )

    @property
    def error_bound_s(self) -> Optional[float]:
        """chronyc(1): clock_error <= |system_time_offset| + root_dispersion + (0.5 * root_delay)."""
        if None in (self.system_time_s, self.root_dispersion_s, self.root_delay_s):
            return None
        return abs(self.system_time_s) + self.root_dispersion_s + 0.5 * self.root_delay_s


_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _seconds(value: str) -> Optional[float]:
    m = re.match(_NUM + r"\s+seconds", value)
    return float(m.group(1)) if m else None


def _signed(value: str, unit: str, ahead: str, behind: str) -> Optional[float]:
    m = re.match(_NUM + r"\s+" + unit + r"(?:\s+(\w+))?", value)
    if not m:
        return None
    number = float(m.group(1))
    word = m.group(2)
    if word == behind:
        return -number
    if word == ahead or word is None:
        return number
    return None


def parse_chrony_tracking(text: str) -> ChronyTracking:
    fields = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "Leap status" not in fields and "Reference ID" not in fields:
        first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
        raise TimeSyncError(f"not a `chronyc tracking` output: {first[:80]!r}")
    ref = fields.get("Reference ID", "")
    m = re.match(r"^(\S+)(?:\s+\((.*)\))?$", ref)
    system = fields.get("System time", "")
    sm = re.match(_NUM + r"\s+seconds\s+(fast|slow)\s+of NTP time", system)
    stratum = fields.get("Stratum")
    return ChronyTracking(
        reference_id=m.group(1) if m else None,
        reference_name=(m.group(2) if m else None),
        stratum=int(stratum) if stratum and stratum.isdigit() else None,
        system_time_s=(float(sm.group(1)) * (1 if sm.group(2) == "fast" else -1)) if sm else None,
        last_offset_s=_seconds(fields.get("Last offset", "")),
        rms_offset_s=_seconds(fields.get("RMS offset", "")),
        frequency_ppm=_signed(fields.get("Frequency", ""), "ppm", "fast", "slow"),
        skew_ppm=_signed(fields.get("Skew", ""), "ppm", "", ""),
        root_delay_s=_seconds(fields.get("Root delay", "")),
        root_dispersion_s=_seconds(fields.get("Root dispersion", "")),
        update_interval_s=_seconds(fields.get("Update interval", "")),
        leap_status=fields.get("Leap status"),
    )


@dataclass(frozen=True)
class TimedatectlShow:
    """`timedatectl show` (systemd >= 239): key=value properties of timedated."""

    ntp: Optional[bool]  # NTP=yes: a time-sync service is enabled
    synchronized: Optional[bool]  # NTPSynchronized=yes: the kernel says the clock is synced
    can_ntp: Optional[bool]
    timezone: Optional[str]
    time_usec: Optional[str]  # TimeUSec as printed ("Wed 2026-12-02 06:00:00 UTC")
    local_rtc: Optional[bool]


def _yesno(value: Optional[str]) -> Optional[bool]:
    return {"yes": True, "no": False}.get((value or "").strip())


def parse_timedatectl_show(text: str) -> TimedatectlShow:
    props = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            props[key.strip()] = value.strip()
    if not props:
        raise TimeSyncError("no key=value line in the `timedatectl show` output")
    return TimedatectlShow(
        ntp=_yesno(props.get("NTP")),
        synchronized=_yesno(props.get("NTPSynchronized")),
        can_ntp=_yesno(props.get("CanNTP")),
        timezone=props.get("Timezone"),
        time_usec=props.get("TimeUSec"),
        local_rtc=_yesno(props.get("LocalRTC")),
    )


@dataclass(frozen=True)
class NtpPeer:
    tally: str  # '*' system peer, '+' candidate, ' ' ...
    remote: str
    refid: str
    stratum: Optional[int]
    reach: Optional[int]  # octal register as an int
    offset_ms: Optional[float]
    jitter_ms: Optional[float]


def parse_ntpq_peers(text: str) -> tuple:
    """`ntpq -pn`: the peer table (remote refid st t when poll reach delay offset jitter)."""
    peers = []
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    if not lines or not lines[0].split()[:1] == ["remote"]:
        raise TimeSyncError("not an `ntpq -p` peer table")
    for line in lines[1:]:
        if set(line.strip()) <= {"="}:
            continue
        tally, rest = (line[0], line[1:]) if line[0] in "*+-#.ox x" else (" ", line)
        cols = rest.split()
        if len(cols) < 10:
            raise TimeSyncError(f"short ntpq peer line: {line!r}")

        def num(v):
            try:
                return float(v)
            except ValueError:
                return None

        peers.append(
            NtpPeer(
                tally=tally,
                remote=cols[0],
                refid=cols[1],
                stratum=int(cols[2]) if cols[2].isdigit() else None,
                reach=int(cols[6], 8) if re.fullmatch(r"[0-7]+", cols[6]) else None,
                offset_ms=num(cols[8]),
                jitter_ms=num(cols[9]),
            )
        )
    return tuple(peers)
