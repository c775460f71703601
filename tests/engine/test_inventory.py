"""Inventory parsing: the minimal form from the issue, overrides, and one-line errors."""

import textwrap

import pytest

from preflight import inventory
from preflight.inventory import HostSpec, InventoryError


def write(tmp_path, text, name="inv.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_minimal_form_from_the_issue(tmp_path):
    p = write(tmp_path, """
        [clusters.lab]
        hosts = ["hv1", "hv2", "hv3"]
        storage_hosts = ["nas"]
        ssh_config = "/path/to/ssh_config"
        known_hosts = "/path/to/known_hosts"
        user = "root"
    """)
    c = inventory.load("lab", str(p))
    assert c.host_names == ["hv1", "hv2", "hv3"]
    assert [h.name for h in c.storage_hosts] == ["nas"]
    assert str(c.ssh_config) == "/path/to/ssh_config"
    assert str(c.known_hosts) == "/path/to/known_hosts"
    assert c.user == "root"


def test_inline_host_table_overrides(tmp_path):
    p = write(tmp_path, """
        [clusters.prod]
        hosts = ["hv1", { name = "hv2", address = "10.0.0.12", port = 2222, user = "admin" }]
        ssh_config = "cfg/ssh_config"
    """)
    c = inventory.load("prod", str(p))
    assert c.hosts[1] == HostSpec("hv2", "10.0.0.12", 2222, "admin")
    # relative paths are relative to the inventory file
    assert c.ssh_config == tmp_path / "cfg" / "ssh_config"


@pytest.mark.parametrize("body, needle", [
    ('[clusters.lab]\nhosts = ["a"]\nusr = "root"\n', "inv.toml:3: cluster 'lab': unknown key 'usr'"),
    ('[clusters.lab]\nhosts = ["a", { name = "b", adress = "x" }]\n', "unknown key 'adress'"),
    ('[clusters.lab]\nhosts = "hv1"\n', "hosts: must be a list"),
    ('[clusters.lab]\nhosts = ["a", "a"]\n', "'a' is listed twice"),
    ('[clusters.lab]\nhosts = ["a"]\nport = 70000\n', "'port' must be a TCP port"),
    ('[clusters.lab\nhosts = ["a"]\n', "malformed TOML"),
    ('[cluster.lab]\nhosts = ["a"]\n', "unknown top-level key 'cluster'"),
    ('[clusters.lab]\nstorage_hosts = ["n"]\n', "no 'hosts' list"),
])
def test_errors_are_one_line_and_name_the_problem(tmp_path, body, needle):
    p = write(tmp_path, body)
    with pytest.raises(InventoryError) as exc:
        inventory.load("lab", str(p))
    message = str(exc.value)
    assert needle in message
    assert "\n" not in message
    assert str(p) in message


def test_unknown_cluster_lists_known_ones(tmp_path):
    p = write(tmp_path, '[clusters.lab]\nhosts = ["a"]\n')
    with pytest.raises(InventoryError, match=r"unknown cluster 'prod' \(clusters: demo, lab\)"):
        inventory.load("prod", str(p))


def test_missing_explicit_file(tmp_path):
    with pytest.raises(InventoryError, match="no such inventory file"):
        inventory.load("lab", str(tmp_path / "nope.toml"))


def test_search_order_env_then_cwd(tmp_path, monkeypatch):
    env_file = write(tmp_path, '[clusters.fromenv]\nhosts = ["a"]\n', "env.toml")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    write(cwd, '[clusters.fromcwd]\nhosts = ["b"]\n', "preflight.toml")
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("PREFLIGHT_INVENTORY", raising=False)
    assert inventory.load("fromcwd").host_names == ["b"]
    monkeypatch.setenv("PREFLIGHT_INVENTORY", str(env_file))
    assert inventory.load("fromenv").host_names == ["a"]
    with pytest.raises(InventoryError):
        inventory.load("fromcwd")


def test_unreadable_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InventoryError, match="not UTF-8"):
        inventory.load("lab", str(p))
