"""TLS for migration, when libvirt requires it.

qemu.conf `migrate_tls_force = 1` on a destination makes libvirt refuse any migration without
--tls (src/qemu/qemu_migration.c, qemuMigrationDstPrepareAny): "this libvirtd instance allows
migration only with VIR_MIGRATE_TLS flag". With --tls, QEMU on the source is the TLS client and
QEMU on the destination the server, both with the x509 files of qemu.conf's
migrate_tls_x509_cert_dir (default_tls_x509_cert_dir, default /etc/pki/qemu): ca-cert.pem,
server-cert.pem (+ server-key.pem) and client-cert.pem (+ client-key.pem). Both ends must trust the
same CA; QEMU verifies the peer's certificate when *_tls_x509_verify is on (the default for the
server side of migrations).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from preflight.compat.finding import failed, passed, undecided, warned
from preflight.facts.tls import Certificate

DEFAULT_DIR = "/etc/pki/qemu"
WARN_DAYS = 30


def tls_required(dst_conf: dict, operator_uses_tls: bool = False) -> Optional[bool]:
    """dst_conf: qemu.conf settings (parse_qemu_conf(text, prefix='')). None: unknown."""
    if dst_conf is None:
        return None
    force = dst_conf.get("migrate_tls_force", 0)
    return bool(force) or operator_uses_tls


def cert_dir(conf: dict) -> str:
    return (
        (conf or {}).get("migrate_tls_x509_cert_dir")
        or (conf or {}).get("default_tls_x509_cert_dir")
        or DEFAULT_DIR
    )


def _validity(c: Certificate, host: str, role: str, now: datetime) -> Optional[object]:
    if not c.present:
        return failed(f"{host} has no {role} certificate {c.path}", observed="missing", expected=c.path)
    if c.error or c.not_after is None:
        return failed(
            f"{host}'s {role} certificate {c.path} cannot be read: {c.error or 'no dates'}",
            observed=c.error,
            expected="a PEM certificate",
        )
    if c.not_before and c.not_before > now:
        return failed(
            f"{host}'s {role} certificate {c.path} is not valid before {c.not_before:%Y-%m-%d}",
            observed=f"notBefore {c.not_before:%Y-%m-%d}",
            expected="valid now",
        )
    if c.not_after <= now:
        return failed(
            f"{host}'s {role} certificate {c.path} expired on {c.not_after:%Y-%m-%d}",
            observed=f"notAfter {c.not_after:%Y-%m-%d}",
            expected="valid now",
        )
    if c.not_after - now < timedelta(days=WARN_DAYS):
        return warned(
            f"{host}'s {role} certificate {c.path} expires on {c.not_after:%Y-%m-%d}, within "
            f"{WARN_DAYS} days",
            observed=f"notAfter {c.not_after:%Y-%m-%d}",
            expected=f"valid for {WARN_DAYS} more days",
        )
    return None


def judge_tls(
    src_name: str,
    dst_name: str,
    dst_conf: Optional[dict],
    src_certs: Optional[dict],
    dst_certs: Optional[dict],
    now: datetime,
    operator_uses_tls: bool = False,
) -> list:
    """`*_certs`: file name (ca-cert.pem, server-cert.pem, client-cert.pem) -> Certificate."""
    req = tls_required(dst_conf, operator_uses_tls)
    if req is None:
        return [undecided(f"{dst_name}'s qemu.conf was not read: whether it forces TLS is unknown")]
    if not req:
        return [
            passed(
                f"{dst_name} does not force TLS for migrations (migrate_tls_force unset)",
                observed="migrate_tls_force = 0",
            )
        ]
    why = "migrate_tls_force = 1" if (dst_conf or {}).get("migrate_tls_force") else "migrations use --tls"
    if src_certs is None or dst_certs is None:
        return [
            undecided(
                f"TLS is required ({why}) but the certificates of "
                f"{src_name if src_certs is None else dst_name} were not read"
            )
        ]
    out = []
    need = [
        (src_name, src_certs, "ca-cert.pem", "CA"),
        (src_name, src_certs, "client-cert.pem", "client"),
        (dst_name, dst_certs, "ca-cert.pem", "CA"),
        (dst_name, dst_certs, "server-cert.pem", "server"),
    ]
    for host, certs, fname, role in need:
        c = certs.get(fname) or Certificate(path=fname, present=False)
        bad = _validity(c, host, role, now)
        out.append(
            bad
            or passed(
                f"{host}'s {role} certificate is valid until {c.not_after:%Y-%m-%d}",
                observed=f"notAfter {c.not_after:%Y-%m-%d}",
            )
        )
    sca, dca = src_certs.get("ca-cert.pem"), dst_certs.get("ca-cert.pem")
    if sca and dca and sca.present and dca.present and sca.sha256 and dca.sha256:
        if sca.sha256 != dca.sha256:
            out.append(
                failed(
                    f"{src_name} and {dst_name} trust different CAs ({sca.subject} / {dca.subject}): the "
                    "TLS handshake fails",
                    observed=f"{sca.sha256[:23]}... / {dca.sha256[:23]}...",
                    expected="the same ca-cert.pem",
                )
            )
        else:
            out.append(
                passed(f"{src_name} and {dst_name} trust the same CA ({sca.subject})", observed=sca.sha256)
            )
        for host, certs, fname, ca in (
            (src_name, src_certs, "client-cert.pem", dca),
            (dst_name, dst_certs, "server-cert.pem", sca),
        ):
            c = certs.get(fname)
            if c and c.present and c.issuer and ca.subject and c.issuer != ca.subject:
                out.append(
                    failed(
                        f"{host}'s {fname} is issued by '{c.issuer}', not by the CA the other end trusts "
                        f"('{ca.subject}')",
                        observed=c.issuer,
                        expected=ca.subject,
                    )
                )
    return out
