"""preflight.facts.tls on real `openssl x509` outputs (OpenSSL 3.0), the certificate fact's
framing included; and the same script run here on certificates made for this test."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from _fixtures import read
from preflight.facts.tls import CERTS_SH, TlsError, parse_x509_blocks


def test_host_a():
    ca, server, client = parse_x509_blocks(read("compat/openssl-x509.host-a.txt"))
    assert ca.self_signed and ca.subject == "O=Lab, CN=Lab Migration CA"
    assert server.issuer == ca.subject and server.subject == "O=Lab, CN=hv1.lab.example"
    assert server.not_after == datetime(2029, 3, 6, 6, 56, 19, tzinfo=timezone.utc)
    assert ca.sha256.startswith("90:D7:2D:EC")


def test_host_b_missing_and_other_ca():
    certs = {c.path.rsplit("/", 1)[1]: c for c in parse_x509_blocks(read("compat/openssl-x509.host-b.txt"))}
    assert certs["client-cert.pem"].issuer == "O=Other, CN=Other CA"
    assert certs["cacert.pem"].present is False


def test_unreadable():
    (c,) = parse_x509_blocks(read("compat/openssl-x509.unreadable.txt"))
    assert c.present and c.error and c.not_after is None


def test_field_before_a_path_is_refused():
    with pytest.raises(TlsError):
        parse_x509_blocks("subject=CN = x\n")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_the_fact_script_on_fresh_certificates(tmp_path):
    key, cert = tmp_path / "k.pem", tmp_path / "ca-cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "3",
            "-subj",
            "/O=T/CN=t",
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["sh", "-c", CERTS_SH, "sh", str(cert), str(tmp_path / "none.pem")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    a, b = parse_x509_blocks(out)
    assert a.subject == "O=T, CN=t" and a.self_signed and (a.not_after - a.not_before).days == 3
    assert not b.present
    assert "PRIVATE" not in out
