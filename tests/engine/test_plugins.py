"""Discovery is explicit and loud: plugins from the entry-point group, errors stop the run."""

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from preflight.engine import registry
from preflight.engine.registry import RegistryError, discover

PLUGIN = textwrap.dedent('''
    from preflight.engine.registry import check, passed
    from preflight.model import Scope, Severity

    @check(id="{id}", title="Site policy", category="{category}", severity=Severity.LOW,
           scope=Scope.HOST, remediation="Follow the site policy.", rationale="Because.",
           verifies="Something site-specific.")
    def site_policy(ctx):
        return passed("ok")
''')


def plugin(check_id):
    return PLUGIN.format(id=check_id, category=check_id.split(".")[0])


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def use_entry_points(monkeypatch, *eps):
    monkeypatch.setattr(registry, "_entry_points", lambda: list(eps))


def test_builtins_are_discovered():
    ids = {s.id for s in discover(include_plugins=False).all()}
    assert {"host.reachable", "storage.shared", "cpu.compatible", "network.guest_networks",
            "firewall.migration_ports", "domain.blockers", "host.identity"} <= ids


def test_plugin_is_registered_with_its_origin(plugin_dir, monkeypatch):
    (plugin_dir / "site_checks.py").write_text(plugin("host.site_policy"))
    use_entry_points(monkeypatch, EntryPoint("site", "site_checks", registry.ENTRY_POINT_GROUP))
    spec = discover().get("host.site_policy")
    assert spec is not None and spec.origin == "plugin site"


def test_plugin_reusing_an_id_stops_the_run(plugin_dir, monkeypatch):
    (plugin_dir / "dupe_checks.py").write_text(plugin("storage.shared"))
    use_entry_points(monkeypatch, EntryPoint("dupe", "dupe_checks", registry.ENTRY_POINT_GROUP))
    with pytest.raises(RegistryError, match="'storage.shared' is defined twice"):
        discover()


def test_plugin_that_fails_to_import_stops_the_run(plugin_dir, monkeypatch):
    (plugin_dir / "broken_checks.py").write_text("import no_such_module_anywhere\n")
    use_entry_points(monkeypatch, EntryPoint("broken", "broken_checks", registry.ENTRY_POINT_GROUP))
    with pytest.raises(RegistryError, match="plugin 'broken'.*failed to import.*no_such_module_anywhere"):
        discover()


def test_malformed_metadata_is_rejected_at_declaration():
    with pytest.raises(RegistryError, match="id must look like"):
        registry.check(id="NoDot", title="t", category="host", severity=registry.Severity.LOW,
                       scope=registry.Scope.HOST, remediation="r", rationale="r", verifies="v")(lambda c: None)


def test_help_does_not_import_the_heavy_stack():
    code = ("import sys; from preflight.cli import app; "
            "import typer.main; "
            "print(sorted(m for m in ('paramiko', 'libvirt', 'jinja2', 'lxml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
