from factories import as_list, pair, pair_ctx, probe, run_spec, statuses
from preflight.checks.firewall import migration_ports
from preflight.facts.models import PortProbe


def test_answered_passes():
    [f] = as_list(migration_ports(pair_ctx()))
    assert f.status.value == "pass" and f.source == "hv1: TCP connect to hv2:49152"


def test_refused_timeout_unreachable_fail():
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("refused"),)))))
    assert f.status.value == "fail" and "rejects" in f.message
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("timeout"),)))))
    assert f.status.value == "fail" and "silently dropped" in f.message and "130 s" in f.message
    assert "job lock" in f.message
    assert statuses(migration_ports(pair_ctx(pr=pair(probes=(probe("unreachable"),))))) == ["fail"]


def test_no_probe_or_probe_error_is_error():
    assert statuses(migration_ports(pair_ctx(no_pair=True))) == ["error"]
    assert statuses(migration_ports(pair_ctx(pr=pair(probes=())))) == ["error"]
    ssh_only = (PortProbe(22, "ssh", "hv2", "answered"),)
    assert statuses(migration_ports(pair_ctx(pr=pair(probes=ssh_only)))) == ["error"]
    assert statuses(migration_ports(pair_ctx(pr=pair(probes=(probe("error", detail="EPERM"),))))) == ["error"]


def test_missing_probes_fact_makes_the_runner_say_error():
    ctx = pair_ctx(pr=pair(probes=(), fact_errors={"probes": "pair phase failed"}))
    results = run_spec(migration_ports, ctx.cluster)
    assert results and all(r.status.value == "error" for r in results)
