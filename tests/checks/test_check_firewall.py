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


def test_a_blocked_port_names_the_rule_for_this_pair_and_this_range():
    from dataclasses import replace

    from factories import host

    src, dst = replace(host("hv1"), address="10.9.0.11"), replace(host("hv2"), migration_ports=(50000, 50063))
    [f] = as_list(migration_ports(pair_ctx(src, dst, pr=pair(probes=(probe("timeout"),)))))
    remedy = f.details["remediation"]
    assert remedy.startswith("On hv2 accept TCP 50000-50063") and "from hv1 (10.9.0.11)" in remedy
    assert "ip saddr 10.9.0.11 tcp dport 50000-50063 accept" in remedy
    [ok] = as_list(migration_ports(pair_ctx(src, dst)))
    assert "remediation" not in (ok.details or {})


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


def test_refused_while_no_listener_covered_the_probe_is_error_not_fail():
    # issue 6: with no test listener on the port (it never started, or exited before this
    # probe), 'refused' cannot be told from a closed port: never a FAIL on that alone.
    for why in ("test listener did not start within 10 s",
                "the test listener on hv2 exited before the probes were done"):
        [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("refused", listener=why),)))))
        assert f.status.value == "error" and why in f.message
    # a drop is a drop, listener or not
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("timeout", listener="gone"),)))))
    assert f.status.value == "fail"


def test_answered_by_something_other_than_the_listener_is_error():
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("answered", confirmed=False),)))))
    assert f.status.value == "error" and "never saw" in f.message
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("answered", confirmed=True),)))))
    assert f.status.value == "pass" and "not confirmed" not in f.message
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("answered", confirmed=None),)))))
    assert f.status.value == "pass" and "not confirmed" in f.message


def test_W8_a_destination_name_leading_elsewhere_is_not_probed_and_is_error():
    why = "not probed: hv2 resolves to 10.9.9.9 here; 10.9.9.9 is none of hv2's own addresses (10.0.0.12)"
    [f] = as_list(migration_ports(pair_ctx(pr=pair(probes=(probe("not_probed", detail=why),)))))
    assert f.status.value == "error" and "none of hv2's own addresses" in f.message
