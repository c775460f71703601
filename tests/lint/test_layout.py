"""checks/ and reports/ sit at the repository's top level but exist only as preflight.checks and
preflight.reports: a second name would load every module twice."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bare", ["checks", "reports", "checks.nfs", "reports.html"])
def test_a_bare_import_from_the_repository_root_fails(bare):
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import {bare}"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "ImportError: import preflight." in out.stderr


def test_the_installed_names_import_from_the_repository_root():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import preflight.checks.nfs, preflight.reports;"
            "print(preflight.checks.nfs.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "preflight.checks.nfs"


def test_every_package_directory_ships_in_the_wheel():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "preflight").rglob("__init__.py")}
    found |= {"preflight.checks", "preflight.reports"}
    assert sorted(found - listed) == []


def test_test_modules_have_unique_basenames():
    # tests/ has no __init__.py files, so pytest imports each test module by its bare name: two
    # test_x.py in different folders stop the whole collection ("import file mismatch").
    by_name: dict[str, list[str]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        if not (path.parent / "__init__.py").exists():
            by_name.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
