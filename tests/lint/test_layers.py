"""The import-linter contracts of pyproject.toml hold: cli -> engine -> checks -> derive -> facts ->
transport -> model, no engine -> checks, no checks -> transport, renderers on the run model only.

import-linter walks a package's directory, and checks/ and reports/ live beside preflight/ in the
repository, so the contracts are checked on a copy laid out as installed (preflight/checks,
preflight/reports)."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


@pytest.fixture()
def installed_layout(tmp_path):
    if importlib.util.find_spec("importlinter") is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]' (scripts/setup.sh --full)")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    root = tmp_path / "preflight"
    shutil.copytree(REPO / "preflight", root, ignore=skip)
    for name in ("checks", "reports"):
        shutil.copytree(REPO / name, root / name, ignore=skip)
    return tmp_path


def lint(tree: Path):
    return subprocess.run([sys.executable, "-c", LINT, "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_every_layer_contract_is_kept(installed_layout):
    out = lint(installed_layout)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("engine/disks.py", "from preflight.checks import _storage", "the engine imports no check"),
    ("checks/host.py", "from preflight.transport import errors", "only gathering (facts)"),
    ("reports/html.py", "from preflight.engine import matrix", "renderers read only the run model"),
    ("facts/mountinfo.py", "from preflight.derive import nfs", "cli -> engine -> checks"),
])
def test_an_import_against_the_layers_breaks_its_contract(installed_layout, module, line, contract):
    path = installed_layout / "preflight" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    out = lint(installed_layout)
    assert out.returncode == 1
    broken = [row for row in out.stdout.splitlines() if " BROKEN" in row]
    assert len(broken) == 1 and broken[0].startswith(contract), out.stdout[-3000:]
