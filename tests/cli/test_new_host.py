"""`preflight check --new-host HOST` on the demo recording: one of its hosts taken as the new host."""

from cli_helpers import run_cli


def test_new_host_on_the_demo_prints_the_decision_in_both_directions():
    p = run_cli("check", "--cluster", "demo", "--new-host", "hv2")
    assert p.returncode in (0, 1, 3), p.stderr
    out = p.stderr
    assert "Onboarding hv2: NOT FIT" in out
    assert "guests of the cluster onto it:" in out and "its guests onto the other hosts:" in out
    assert "firewall.migration_ports fails" in out


def test_new_host_not_in_the_facts_is_one_usage_line():
    p = run_cli("check", "--cluster", "demo", "--new-host", "nosuchhost")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("preflight: error: --new-host nosuchhost")
    assert "Traceback" not in p.stderr
