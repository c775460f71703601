"""Fixtures for tests that need the lab of real libvirt/KVM hosts (see tests/lab/README.md).

- ``lab``: session-scoped; brings the lab up once (tests.lab.lab.up) and tears it down at the
  end unless PREFLIGHT_LAB_KEEP=1.  If the lab cannot come up the test FAILS with the reason;
  only PREFLIGHT_SKIP_LAB=1 turns that into a skip (for machines known to have no KVM/root).
- ``scenario``: ``with scenario("firewall_reject"): ...`` applies a fault and always reverts it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

# `tests` has no __init__.py: make `tests.lab.lab` importable however pytest was started.
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.lab import lab as lab_module  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the lab of real libvirt/KVM hosts (tests/lab)")


@pytest.fixture(scope="session")
def lab():
    if os.environ.get("PREFLIGHT_SKIP_LAB") == "1":
        pytest.skip("PREFLIGHT_SKIP_LAB=1: lab tests skipped on purpose")
    keep = os.environ.get("PREFLIGHT_LAB_KEEP") == "1"
    with lab_module.exclusive_use():   # another session on this machine waits for ours
        try:
            info = lab_module.up()
        except Exception as exc:  # noqa: BLE001 - report any bring-up failure as a failure
            if not keep:
                lab_module.down()
            pytest.fail(f"the lab did not come up (set PREFLIGHT_SKIP_LAB=1 to skip lab tests "
                        f"on purpose): {type(exc).__name__}: {exc}", pytrace=False)
        yield info
        if not keep:
            lab_module.down()


@pytest.fixture
def scenario(lab):
    """Context manager factory: ``with scenario(name): ...`` -> the fault is active inside."""
    @contextlib.contextmanager
    def _scenario(name: str):
        lab_module.apply(name)
        try:
            yield lab
        finally:
            lab_module.revert(name)
    return _scenario


@pytest.fixture(scope="session")
def oracle_runs():
    """Real-migration outcomes per scenario, shared by test_e2e and test_oracle: each scenario's
    oracle (about half a minute of real migrations) runs once per session, not twice."""
    return {}
