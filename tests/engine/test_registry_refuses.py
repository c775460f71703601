"""The registry refuses what the engine cannot honour (issue 6, item 3): a `requires` key no fact
provides (a typo there would switch the missing-fact gate off without a word), an unknown category,
an id whose prefix is not its category. Built-in checks and plugins get the same one-line refusal."""

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from preflight.engine import registry
from preflight.engine.registry import RegistryError, check, discover
from preflight.model import Scope, Severity


def declare(**overrides):
    kw = dict(id="host.site_policy", title="Site policy", category="host", severity=Severity.LOW,
              scope=Scope.HOST, remediation="Follow the site policy.", rationale="Because.",
              verifies="Something site-specific.")
    kw.update(overrides)
    return check(**kw)(lambda ctx: None)


def test_hole_registry_accepts_requires_typo():
    with pytest.raises(RegistryError, match=r"requires names 'mountz', which no fact provides"):
        declare(id="storage.typo", category="storage", scope=Scope.MIGRATION, requires=("mountz",))


def test_hole_registry_accepts_unknown_category():
    with pytest.raises(RegistryError, match=r"unknown category 'nosuchcat' \(one of: host, storage"):
        declare(id="nosuchcat.thing", category="nosuchcat")


def test_id_prefix_must_be_its_category():
    with pytest.raises(RegistryError, match=r"id 'site\.policy' must start with its category: 'host\.'"):
        declare(id="site.policy", category="host")


def test_pair_fact_in_a_host_scope_check_is_refused():
    # a host-scope check never sees a pair, so a missing 'probes' could never stop it
    with pytest.raises(RegistryError, match=r"requires pair facts 'probes', but a host-scope check"):
        declare(requires=("probes",))
    declare(id="firewall.extra", category="firewall", scope=Scope.PAIR, requires=("probes",))


def test_requires_given_as_a_bare_string_is_refused():
    with pytest.raises(RegistryError, match=r"requires must be a tuple of fact keys"):
        declare(requires="domains")


def test_roles_must_be_source_or_destination():
    with pytest.raises(RegistryError, match=r"roles must name 'source' and/or 'destination'"):
        declare(roles=("src",))


def test_no_roles_only_for_an_advisory_host_check():
    declare(id="host.advisory", roles=())          # host scope: advisory, bears on no verdict
    with pytest.raises(RegistryError, match=r"only a host-scope check may name none"):
        declare(id="storage.noroles", category="storage", scope=Scope.MIGRATION, roles=())


def test_every_problem_in_one_line():
    with pytest.raises(RegistryError) as err:
        declare(id="site.policy", category="nosuchcat", requires=("mountz",))
    text = str(err.value)
    assert "\n" not in text and "unknown category" in text and "'mountz'" in text
    assert text.startswith("check 'site.policy' (")


def test_builtin_checks_pass_validation_and_require_only_known_keys():
    from preflight.facts.keys import HOST_FACT_KEYS, KNOWN_FACT_KEYS, PAIR_FACT_KEYS

    specs = discover(include_plugins=False).all()
    assert len(specs) >= 17
    for spec in specs:
        assert spec.id.split(".")[0] == spec.category in registry.CATEGORIES
        assert set(spec.requires) <= KNOWN_FACT_KEYS
        if spec.scope in (Scope.HOST, Scope.DOMAIN):
            assert not set(spec.requires) & (set(PAIR_FACT_KEYS) - set(HOST_FACT_KEYS))


def test_every_known_host_key_is_reported_missing_by_the_parser():
    """The authoritative list is honest: an unreachable host has every host key missing, and a
    host whose raw record is empty names each key the parser could not fill."""
    from preflight.facts.keys import HOST_FACT_KEYS, PAIR_FACT_KEYS
    from preflight.facts.parse import parse_host, parse_pair

    down = parse_host("hv9", {"reachable": False, "error": "timed out"})
    assert set(HOST_FACT_KEYS) <= set(down.fact_errors)
    empty = parse_host("hv8", {"reachable": True, "shell": {}, "libvirt": None, "errors": {}})
    assert set(HOST_FACT_KEYS) <= set(empty.fact_errors)
    assert set(PAIR_FACT_KEYS) <= set(parse_pair({"source": "a", "destination": "b"}).fact_errors)


BAD_PLUGIN = textwrap.dedent('''
    from preflight.engine.registry import check, passed
    from preflight.model import Scope, Severity

    @check(id="storage.site_rule", title="Site rule", category="storage", severity=Severity.LOW,
           scope=Scope.MIGRATION, remediation="r", rationale="r", verifies="v", requires=("mountz",))
    def site_rule(ctx):
        return passed("ok")
''')


def test_plugin_with_a_requires_typo_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "typo_checks.py").write_text(BAD_PLUGIN)
    monkeypatch.setattr(registry, "_entry_points",
                        lambda: [EntryPoint("typo", "typo_checks", registry.ENTRY_POINT_GROUP)])
    with pytest.raises(RegistryError) as err:
        discover()
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("plugin 'typo' (typo_checks) is refused: check 'storage.site_rule'")
    assert "'mountz', which no fact provides" in text


def test_plugin_refusal_on_the_command_line_is_one_line_exit_2(tmp_path):
    """The same refusal through the CLI: a plugin installed via an entry point (a dist-info in a
    directory on sys.path) stops `preflight checks` with one line, exit 2, no traceback."""
    (tmp_path / "typo_checks.py").write_text(BAD_PLUGIN)
    dist = tmp_path / "typo_checks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: typo-checks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[preflight.checks]\ntypo = typo_checks\n")
    import os
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "preflight", "checks"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("preflight: error: plugin 'typo' (typo_checks) is refused")
