"""Helpers shared by the exercise-kit tests (the graders' and the student's verdicts)."""
from __future__ import annotations

import os

import pytest

from course_utils.exercises import harness, protocol


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
    """The grader (probe + judge from data) decides exactly what the student's check decides,
    except that the grader also refuses the course's own implementation (the student's check
    accepts it, so that the lesson's reference passes its own check)."""
    message, reason = probe_message(exercise, fn, seed, tmp_path)
    if reason == "course_implementation":
        assert "course" in message and "course_utils." in message, message
        return
    previous = os.environ.get("COURSE_GRADING")
    os.environ["COURSE_GRADING"] = "1"          # an unsolved exercise fails instead of falling back
    try:
        expected = student_message(exercise, fn, seed)
    finally:
        if previous is None:
            del os.environ["COURSE_GRADING"]
        else:
            os.environ["COURSE_GRADING"] = previous
    assert message == expected, (message, reason)
