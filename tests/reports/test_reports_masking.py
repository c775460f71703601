import pytest

from preflight.reports import MASK, is_secret_key, mask_secrets


@pytest.mark.parametrize("key", ["password", "passwd", "secret", "key", "vnc_password",
                                 "ssh_private_key", "storage_secret", "vncPassword", "api-key",
                                 "auth_token", "Credentials", "SPICE_PASSWD", "psk", "passphrase"])
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["keymap", "keyboard", "monkey", "passthrough", "observed",
                                 "cpu_model", "source", "compass", "disk", 3, None])
def test_not_secret_keys(key):
    assert not is_secret_key(key)


def test_mask_is_recursive_and_leaves_empty_values():
    doc = {"a": {"password": "x", "nested": [{"secret": 1}, {"ok": 2}]}, "key": None, "token": ""}
    assert mask_secrets(doc) == {"a": {"password": MASK, "nested": [{"secret": MASK}, {"ok": 2}]},
                                 "key": None, "token": ""}
    assert doc["a"]["password"] == "x"  # input not modified
