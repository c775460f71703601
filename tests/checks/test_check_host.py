from factories import as_list, host, pair_ctx, run_spec, statuses
from preflight.checks.host import host_identity


def test_distinct_hosts_pass():
    assert statuses(host_identity(pair_ctx())) == ["pass", "pass", "pass"]


def test_same_host_uuid_fails():
    same = "4c4c4544-0000-1000-8000-000000000000"
    [uuid, _, _] = as_list(host_identity(pair_ctx(host("hv1", host_uuid=same), host("hv2", host_uuid=same))))
    assert uuid.status.value == "fail" and "same host" in uuid.message


def test_localhost_destination_hostname_fails():
    for name in ("localhost", "localhost.localdomain"):
        [_, hn, _] = as_list(host_identity(pair_ctx(dst=host("hv2", libvirt_hostname=name))))
        assert hn.status.value == "fail" and "FQDN" in hn.message


def test_same_machine_id_warns():
    [_, _, mid] = as_list(host_identity(pair_ctx(host("hv1", machine_id="ab" * 16),
                                                 host("hv2", machine_id="ab" * 16))))
    assert mid.status.value == "warn"


def test_unknown_facts_are_error_never_pass():
    ctx = pair_ctx(host("hv1", host_uuid=None, machine_id=None), host("hv2", libvirt_hostname=None))
    assert statuses(host_identity(ctx)) == ["error", "error", "error"]


def test_missing_capabilities_fact_makes_the_runner_say_error():
    ctx = pair_ctx(dst=host("hv2", host_uuid=None, fact_errors={"capabilities": "getCapabilities failed"}))
    results = run_spec(host_identity, ctx.cluster)
    hv1_to_hv2 = [r for r in results if r.source == "hv1"]
    assert hv1_to_hv2 and all(r.status.value == "error" for r in hv1_to_hv2)
