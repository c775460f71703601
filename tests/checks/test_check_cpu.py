from dataclasses import replace

from factories import CpuVerdict, as_list, cpu, domain, host, migration, pair, run_spec, statuses
from preflight.checks.cpu import cpu_compatible


def test_identical_and_superset_pass():
    for result in ("identical", "superset"):
        ctx = migration(pr=pair(cpu={"vm1": CpuVerdict(result)}))
        [f] = as_list(cpu_compatible(ctx))
        assert f.status.value == "pass" and f.observed == result
        assert f.source.startswith("hv2: compareHypervisorCPU")


def test_incompatible_fails_with_libvirts_message():
    msg = "the CPU is incompatible with host CPU: Host CPU does not provide required features: avx512f"
    ctx = migration(pr=pair(cpu={"vm1": CpuVerdict("incompatible", msg)}))
    [f] = as_list(cpu_compatible(ctx))
    assert f.status.value == "fail" and "avx512f" in f.message


def test_missing_or_failed_verdict_is_error():
    assert statuses(cpu_compatible(migration(pr=pair(cpu={})))) == ["error"]
    assert statuses(cpu_compatible(migration(pr=pair(cpu={"vm1": CpuVerdict(None, "boom")})))) == ["error"]
    assert statuses(cpu_compatible(migration(no_pair=True))) == ["error"]
    assert statuses(cpu_compatible(migration(pr=pair(cpu={"vm1": CpuVerdict("weird")})))) == ["error"]


def test_host_passthrough_compares_host_cpus():
    dom = domain(cpu=cpu("host-passthrough", model=None))
    assert statuses(cpu_compatible(migration(dom))) == ["pass"]
    other = host("hv2", cpu_features=("ds", "vmx"))
    [f] = as_list(cpu_compatible(migration(dom, dst=other)))
    assert f.status.value == "fail" and "invtsc" in f.message
    assert f.details["missing_features"] == ["invtsc"]
    amd = host("hv2", cpu_vendor="AMD", cpu_model="EPYC")
    assert statuses(cpu_compatible(migration(dom, dst=amd))) == ["fail"]


def test_host_passthrough_with_unknown_host_cpu_is_error():
    dom = domain(cpu=cpu("host-passthrough", model=None))
    unknown = host("hv2", cpu_features=None)
    assert statuses(cpu_compatible(migration(dom, dst=unknown))) == ["error"]


def test_missing_cpu_fact_makes_the_runner_say_error():
    ctx = migration(pr=replace(pair(cpu={}), fact_errors={"cpu": "compareHypervisorCPU failed"}))
    results = run_spec(cpu_compatible, ctx.cluster)
    assert results and all(r.status.value == "error" for r in results)
