import pytest

from _fixtures import read
from preflight.facts.qemu_conf import QemuConfError, migration_ports, parse_qemu_conf


def test_debian_default_has_everything_commented_out():
    text = read("host/qemu.conf.debian12-default")
    assert "#migration_port_min = 49152" in text
    assert migration_ports(text) == (49152, 49215)


def test_uncommented_settings_win():
    text = read("host/qemu.conf.debian12-default")
    edited = (text.replace("#migration_port_min = 49152", "migration_port_min = 50000")
                  .replace("#migration_port_max = 49215", "migration_port_max = 50100  # ours"))
    assert migration_ports(edited) == (50000, 50100)


def test_secrets_are_never_kept():
    settings = parse_qemu_conf('vnc_password = "s3cret"\nmigration_host = "hv1.example.org"\n')
    assert settings == {"migration_host": "hv1.example.org"}


def test_bad_range_raises():
    with pytest.raises(QemuConfError):
        migration_ports("migration_port_min = 60000\nmigration_port_max = 50000\n")
    with pytest.raises(QemuConfError):
        migration_ports('migration_port_min = "low"\n')
