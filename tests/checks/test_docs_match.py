"""docs/checks.md says what the checks' metadata says."""

from pathlib import Path

import pytest

from preflight.engine.registry import discover

DOC = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text(encoding="utf-8")
MINE = ("storage.shared", "storage.cache_mode", "cpu.compatible", "domain.blockers", "network.guest_networks",
        "firewall.migration_ports", "host.identity")
MINE += ("storage.mount_options", "nfs.export_allows_host", "nfs.root_squash", "nfs.server_reachable")
MINE += ("storage.portal_reachable", "storage.iscsi_lun")
MINE += ("storage.cluster_fs", "storage.qemu_write_access", "storage.disk_secrets")


@pytest.mark.parametrize("check_id", MINE)
def test_each_check_is_documented_as_its_metadata_says(check_id):
    spec = discover(include_plugins=False).get(check_id)
    assert spec is not None
    assert f"## `{check_id}`" in DOC
    for text in (spec.title, spec.verifies, spec.rationale, spec.remediation, *spec.references):
        assert text in DOC, f"{check_id}: docs/checks.md lacks: {text[:60]}"
    assert spec.references and spec.requires
