"""The runner turns every failure mode into ERROR, and the matrix never says pass without proof."""

from preflight.engine.matrix import build_matrix
from preflight.engine.registry import CheckSpec, Registry, failed, passed, warned
from preflight.engine.runner import Selection, run_checks, select
from preflight.facts.models import ClusterFacts, Domain, HostFacts, PairFacts
from preflight.model import Scope, Severity, Status, Verdict


def spec(id, func, scope=Scope.MIGRATION, requires=(), category=None):
    return CheckSpec(id=id, title=id, category=category or id.split(".")[0], severity=Severity.HIGH,
                     scope=scope, func=func, remediation="fix it", rationale="why", verifies="what",
                     requires=requires)


def cluster(hv3_reachable=True, hv2_errors=None):
    vm1 = Domain("vm1", active=True)
    off = Domain("off", active=False)
    hosts = {
        "hv1": HostFacts("hv1", domains=(vm1, off)),
        "hv2": HostFacts("hv2", fact_errors=hv2_errors or {}),
        "hv3": HostFacts("hv3", reachable=hv3_reachable, error=None if hv3_reachable else "timed out"),
    }
    pairs = {(a, b): PairFacts(a, b) for a in hosts for b in hosts if a != b}
    return ClusterFacts("t", hosts, pairs)


def evaluate(facts, specs, selection=Selection()):
    reg = Registry()
    for s in specs:
        reg.add(s)
    chosen, left_out = select(reg, selection)
    results = run_checks(facts, chosen)
    return results, {(m.domain, m.source, m.destination): m for m in build_matrix(facts, chosen, left_out, results)}


def test_all_pass_gives_pass_for_running_domains_only():
    results, matrix = evaluate(cluster(), [spec("storage.a", lambda ctx: passed("ok"))])
    assert set(matrix) == {("vm1", "hv1", "hv2"), ("vm1", "hv1", "hv3")}
    assert all(m.verdict is Verdict.PASS for m in matrix.values())
    assert {r.destination for r in results} == {"hv2", "hv3"}


def test_fail_blocks_only_the_failing_destination():
    def only_hv3_fails(ctx):
        return failed("nope") if ctx.destination.name == "hv3" else passed("ok")

    _, matrix = evaluate(cluster(), [spec("storage.a", only_hv3_fails),
                                      spec("cpu.b", lambda ctx: warned("meh"))])
    assert matrix[("vm1", "hv1", "hv3")].verdict is Verdict.FAIL
    assert matrix[("vm1", "hv1", "hv3")].blockers == ("storage.a",)
    assert matrix[("vm1", "hv1", "hv2")].verdict is Verdict.WARN


def test_raising_check_is_error_and_unknown_never_pass():
    def boom(ctx):
        raise KeyError("mounts")

    results, matrix = evaluate(cluster(), [spec("storage.a", boom)])
    assert {r.status for r in results} == {Status.ERROR}
    assert "KeyError" in results[0].message
    assert all(m.verdict is Verdict.UNKNOWN for m in matrix.values())


def test_empty_result_is_error():
    results, matrix = evaluate(cluster(), [spec("storage.a", lambda ctx: [])])
    assert {r.status for r in results} == {Status.ERROR}
    assert all(m.verdict is Verdict.UNKNOWN for m in matrix.values())


def test_missing_required_fact_is_error_without_calling_the_check():
    called = []

    def check(ctx):
        called.append(ctx.destination.name)
        return passed("ok")

    facts = cluster(hv2_errors={"mounts": "cat: permission denied"})
    results, matrix = evaluate(facts, [spec("storage.a", check, requires=("mounts",))])
    assert called == ["hv3"]
    hv2 = [r for r in results if r.destination == "hv2"]
    assert hv2[0].status is Status.ERROR and "permission denied" in hv2[0].message
    assert matrix[("vm1", "hv1", "hv2")].verdict is Verdict.UNKNOWN
    assert matrix[("vm1", "hv1", "hv3")].verdict is Verdict.PASS


def test_unreachable_destination_is_unknown():
    _, matrix = evaluate(cluster(hv3_reachable=False), [spec("storage.a", lambda ctx: passed("ok"))])
    m = matrix[("vm1", "hv1", "hv3")]
    assert m.verdict is Verdict.UNKNOWN and "timed out" in m.reasons[0]


def test_left_out_check_makes_verdicts_unknown_but_fail_still_wins():
    specs = [spec("storage.a", lambda ctx: passed("ok")),
             spec("cpu.b", lambda ctx: failed("x") if ctx.destination.name == "hv2" else passed("ok"))]
    _, matrix = evaluate(cluster(), specs, Selection(skip=("storage",)))
    assert matrix[("vm1", "hv1", "hv3")].verdict is Verdict.UNKNOWN
    assert "storage.a" in matrix[("vm1", "hv1", "hv3")].undecided
    assert matrix[("vm1", "hv1", "hv2")].verdict is Verdict.FAIL


def test_domain_pair_and_host_scopes_bear_on_the_matrix():
    specs = [spec("domain.a", lambda ctx: passed("ok"), scope=Scope.DOMAIN),
             spec("firewall.b", lambda ctx: failed("rejected") if ctx.destination.name == "hv2"
                  else passed("ok"), scope=Scope.PAIR),
             spec("host.c", lambda ctx: warned("w") if ctx.host.name == "hv3" else passed("ok"),
                  scope=Scope.HOST)]
    results, matrix = evaluate(cluster(), specs)
    assert matrix[("vm1", "hv1", "hv2")].blockers == ("firewall.b",)
    assert matrix[("vm1", "hv1", "hv3")].verdict is Verdict.WARN
    # the DOMAIN check ran once for the running domain, not for the shut-off one
    assert [r.domain for r in results if r.check == "domain.a"] == ["vm1"]


def test_a_check_cannot_waive_its_own_finding():
    """WAIVED is a waiver's word (with an approver and an end date), never a check's."""
    from preflight.engine.registry import Finding

    results, matrix = evaluate(cluster(), [spec("storage.a", lambda ctx: Finding(Status.WAIVED, "trust me"))])
    assert {r.status for r in results} == {Status.ERROR}
    assert "only a waiver may set" in results[0].message
    assert all(m.verdict is Verdict.UNKNOWN for m in matrix.values())


def test_an_advisory_host_check_is_reported_but_bears_on_no_verdict():
    """roles=() (host scope only): host hygiene such as the clock. Its WARN and its ERROR are results
    of their own, and no migration's verdict waits for or on them."""
    advisory = CheckSpec(id="host.clock", title="clock", category="host", severity=Severity.LOW,
                         scope=Scope.HOST, func=lambda ctx: warned("unsynchronised"), remediation="fix",
                         rationale="why", verifies="what", roles=())
    results, matrix = evaluate(cluster(), [spec("storage.a", lambda ctx: passed("ok")), advisory])
    assert {r.status for r in results if r.check == "host.clock"} == {Status.WARN}
    assert matrix[("vm1", "hv1", "hv2")].verdict is Verdict.PASS
    assert "host.clock" not in matrix[("vm1", "hv1", "hv2")].warnings
