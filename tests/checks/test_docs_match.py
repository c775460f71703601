"""docs/checks.md and the README's table of checks are generated from the checks' metadata
(preflight.engine.checks_doc) and up to date."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from preflight.engine import checks_doc
from preflight.engine.registry import discover

REPO = Path(__file__).resolve().parents[2]
BUILTIN = discover(include_plugins=False).all()


def test_the_generated_pages_are_up_to_date():
    out = subprocess.run([sys.executable, "-m", "preflight.engine.checks_doc", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_a_page_edited_by_hand_is_reported_stale(tmp_path):
    for rel in ("README.md", "docs/checks.md", "docs/check-notes"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / rel).is_dir() else shutil.copy
        copy(REPO / rel, tmp_path / rel)
    assert checks_doc.stale_files(tmp_path) == []
    page = tmp_path / "docs" / "checks.md"
    page.write_text(page.read_text().replace("## `storage.shared`", "## `storage.shred`"))
    (tmp_path / "docs" / "check-notes" / "cpu.compatible.md").write_text("other notes\n")
    assert checks_doc.stale_files(tmp_path) == [page]
    assert "other notes" in checks_doc.expected_files(tmp_path)[page]


@pytest.mark.parametrize("spec", BUILTIN, ids=lambda s: s.id)
def test_each_check_has_its_section_and_table_row_with_references_and_facts(spec):
    page, readme = (REPO / "docs" / "checks.md").read_text(), (REPO / "README.md").read_text()
    assert f"## `{spec.id}` — {spec.title}\n" in page
    assert f"| `{spec.id}` | {spec.scope.value} | {spec.title} |" in readme
    assert spec.references
    # host.reachable alone reads no fact: it is what reports a host whose facts are missing
    assert spec.requires or spec.id == "host.reachable"


def test_every_notes_file_belongs_to_a_check():
    ids = {s.id for s in BUILTIN}
    assert sorted(p.stem for p in (REPO / "docs" / "check-notes").glob("*.md") if p.stem not in ids) == []
