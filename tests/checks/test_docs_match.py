"""docs/checks.md says what the checks' metadata says."""

from pathlib import Path

import pytest

from preflight.engine.registry import discover

DOC = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text(encoding="utf-8")
BUILTIN = sorted(s.id for s in discover(include_plugins=False).all())


@pytest.mark.parametrize("check_id", BUILTIN)
def test_each_check_is_documented_as_its_metadata_says(check_id):
    spec = discover(include_plugins=False).get(check_id)
    assert spec is not None
    assert f"## `{check_id}`" in DOC
    for text in (spec.title, spec.verifies, spec.rationale, spec.remediation, *spec.references):
        assert text in DOC, f"{check_id}: docs/checks.md lacks: {text[:60]}"
    assert spec.references
    # host.reachable alone reads no fact: it is what reports a host whose facts are missing
    assert spec.requires or check_id == "host.reachable"
