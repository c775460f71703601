"""preflight.compat.tls and .timesync on recorded openssl and chronyc outputs."""

from __future__ import annotations

from datetime import datetime, timezone

from _fixtures import read

from preflight.compat.timesync import ClockSample, judge_offsets, judge_sync
from preflight.compat.tls import judge_tls
from preflight.facts.timesync import parse_chrony_tracking, parse_timedatectl_show
from preflight.facts.tls import parse_x509_blocks
from preflight.model import Status

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # the day the certificates were made


def certs(name):
    return {c.path.rsplit("/", 1)[1]: c for c in parse_x509_blocks(read(f"compat/{name}"))}


def test_tls_not_forced_passes():
    (r,) = judge_tls("a", "b", {}, None, None, NOW)
    assert r.status is Status.PASS


def test_tls_forced_unknown_conf_or_certs_is_error():
    assert judge_tls("a", "b", None, None, None, NOW)[0].status is Status.ERROR
    assert (
        judge_tls("a", "b", {"migrate_tls_force": 1}, None, certs("openssl-x509.host-a.txt"), NOW)[0].status
        is Status.ERROR
    )


def test_tls_same_ca_valid():
    a = certs("openssl-x509.host-a.txt")
    res = judge_tls("hv1", "hv1b", {"migrate_tls_force": 1}, a, a, NOW)
    assert all(f.status is Status.PASS for f in res), res


def test_tls_expiring_soon_and_foreign_issuer():
    a, b = certs("openssl-x509.host-a.txt"), certs("openssl-x509.host-b.txt")
    res = judge_tls("hv1", "hv2", {"migrate_tls_force": 1}, a, b, NOW)
    warn = [f for f in res if f.status is Status.WARN]
    assert warn and "expires on 2026-12-12" in warn[0].message  # hv2's server cert: 10 days
    # hv2 -> hv1: hv2's client certificate is issued by another CA than the one hv1 trusts
    res = judge_tls("hv2", "hv1", {"migrate_tls_force": 1}, b, a, NOW)
    assert any(f.status is Status.FAIL and "Other CA" in f.message for f in res)
    later = judge_tls("hv1", "hv2", {"migrate_tls_force": 1}, a, b, datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert any(f.status is Status.FAIL and "expired" in f.message for f in later)


def test_tls_missing_certificate():
    a = certs("openssl-x509.host-a.txt")
    res = judge_tls("hv1", "hv2", {"migrate_tls_force": 1}, a, {"ca-cert.pem": a["ca-cert.pem"]}, NOW)
    assert any(f.status is Status.FAIL and "no server certificate" in f.message for f in res)


def test_sync_from_chrony():
    good = parse_chrony_tracking(read("compat/chronyc-tracking.chrony-doc.txt"))
    assert judge_sync("hv1", good).status is Status.PASS
    bad = parse_chrony_tracking(read("compat/chronyc-tracking-unsynchronised.liaosirui-blog.txt"))
    r = judge_sync("hv1", bad)
    assert r.status is Status.WARN and "not synchronised" in r.message
    assert judge_sync("hv1", None).status is Status.ERROR
    assert (
        judge_sync("hv1", None, parse_timedatectl_show("NTP=yes\nNTPSynchronized=yes\n")).status
        is Status.PASS
    )


def test_offsets():
    a = ClockSample("hv1", before=1000.0, remote=1000.05, after=1000.1)
    b = ClockSample("hv2", before=1000.2, remote=1003.25, after=1000.3)
    assert judge_offsets(a, a).status is Status.PASS
    r = judge_offsets(a, b)
    assert r.status is Status.WARN and "3.00 s apart" in r.message
    far = ClockSample("hv3", before=1000.0, remote=1100.0, after=1000.1)
    assert judge_offsets(a, far).status is Status.FAIL
    coarse = ClockSample("hv4", before=1000.0, remote=1000.3, after=1001.0)
    assert judge_offsets(a, coarse).status is Status.ERROR
    assert judge_offsets(a, None).status is Status.ERROR
