"""The one worst-of order of statuses and verdicts (preflight.model), which every layer uses."""

from preflight.model import Status, Verdict, status_rank, worst_status, worst_verdict


def test_fail_beats_error_beats_warn_beats_pass_beats_skip():
    assert worst_status([Status.PASS, Status.ERROR, Status.WARN]) is Status.ERROR
    assert worst_status([Status.ERROR, Status.FAIL]) is Status.FAIL
    assert worst_status(["skip", "pass"]) == "pass"
    assert [s.rank for s in (Status.SKIP, Status.PASS, Status.WARN, Status.ERROR, Status.FAIL)] == [0, 1, 3, 4, 5]
    # a waived FAIL is never a pass and never a blocker: between the two
    assert Status.PASS.rank < Status.WAIVED.rank < Status.WARN.rank
    assert worst_status([]) is None


def test_verdicts_unknown_is_worse_than_warn_and_a_disk_skip_is_best():
    assert worst_verdict([Verdict.WARN, Verdict.UNKNOWN, Verdict.PASS]) is Verdict.UNKNOWN
    assert worst_verdict(["unknown", "fail"]) == "fail"
    assert worst_verdict(["skip", "pass", None]) == "pass"
    assert worst_verdict([None, ""]) is None


def test_a_value_outside_the_order_ranks_as_undecided_never_better():
    assert status_rank("bogus") == Status.ERROR.rank
    assert worst_status(["bogus", "warn"]) == "bogus"
    assert worst_verdict(["warn", "bogus"]) == "bogus"
    assert worst_verdict(["bogus", "fail"]) == "fail"
