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
        message = str(err)
        reproduce = "\n" + harness.REPRODUCE.format(seed=seed, name=exercise.name)
        return message[:-len(reproduce)] if message.endswith(reproduce) else message
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


# --- the tests every lesson's exercise-kit module runs over its own tables ------------------------

def returns(value):
    """A student function that ignores its arguments and returns ``value``."""
    def student(*args, **kwargs):
        return value
    return student


NONE = returns(None)                    # the student who forgot the `return`

# Seeds each corpus answer is checked with (an exercise whose check is slow passes seeds= instead).
STABILITY_SEEDS = int(os.environ.get("COURSE_STABILITY_SEEDS", "50"))


def _id(value):
    return getattr(value, "__name__", None) or str(value)[:40]


def exercise_tests(correct, mistakes, fallbacks, wrong_kinds, exercise_of=None, seeds: int | None = None) -> dict:
    """The generic tests of one lesson's checks, parametrized over that lesson's tables:

    correct      [(check, fn)]                    accepted with a one-line ✓ summary
    mistakes     [(check, hint, fn)]              refused, the message naming ``hint``
    fallbacks    [(check, name, reference, path)] an unwritten exercise falls back (fails when grading)
    wrong_kinds  [(check, fn, words)]             a wrong kind of result, the message saying ``words``
    exercise_of  {check: Exercise}                when given, the grader must decide like the check
    seeds        how many seeds the verdict-stability test sweeps (default STABILITY_SEEDS)

    Install them in the lesson's test module with ``globals().update(exercise_tests(...))`` so that
    pytest collects them there, under the same names and ids as tests written out in the module."""

    @pytest.mark.parametrize("check, fn", correct, ids=[f"{c.__name__}-{_id(f)}" for c, f in correct])
    def test_accepts_correct_code(check, fn, capsys):
        assert check(fn) is fn
        out = capsys.readouterr().out
        assert out.startswith("✓ ") and " correct on " in out and out.count("\n") == 1, out

    @pytest.mark.parametrize("check, hint, fn", mistakes, ids=[f"{c.__name__}-{h}" for c, h, _ in mistakes])
    def test_names_the_mistake(check, hint, fn):
        message = failure(check, fn)
        assert hint in message, message

    @pytest.mark.parametrize("check, name, reference, path", fallbacks, ids=[n for _, n, _, _ in fallbacks])
    def test_unwritten_exercise_falls_back_to_the_reference(check, name, reference, path, capsys, monkeypatch):
        """⏳ climbs a ladder of hints, one rung per run, and never prints the answer or its path."""
        monkeypatch.setattr(harness, "_hint_level", {})

        def stub(*args, **kwargs):
            # YOUR CODE HERE
            raise NotImplementedError()

        shown = []
        for run in range(1, harness.HINT_LEVELS + 2):
            assert check(stub) is reference
            lines = capsys.readouterr().out.strip().splitlines()
            level = min(run, harness.HINT_LEVELS)
            assert lines[0] == f"⏳ {name} is not implemented yet. Hint {level} of {harness.HINT_LEVELS}:", lines
            assert lines[-1] == "For now the lesson continues with the course's working version, so the next cells still run."
            assert not any("solutions" in line or path in line for line in lines), lines
            shown.append("\n".join(lines[1:-1]))
        assert shown[0] != shown[1] and shown[1] == shown[2]       # level 2 is new; the ladder stops there
        assert f"hint({name!r}, 2)" in shown[0] and "hint(" not in shown[1]

    @pytest.mark.parametrize("check, name, reference, path", fallbacks, ids=[n for _, n, _, _ in fallbacks])
    def test_unwritten_exercise_fails_in_grading_mode(check, name, reference, path, monkeypatch, capsys):
        monkeypatch.setenv("COURSE_GRADING", "1")

        def stub(*args, **kwargs):
            raise NotImplementedError()

        with pytest.raises(AssertionError) as info:
            check(stub)
        assert str(info.value) == f"{name} is not implemented yet"
        assert capsys.readouterr().out == ""

    @pytest.mark.parametrize("check, fn, words", wrong_kinds, ids=[f"{c.__name__}-{w[:30]}" for c, _, w in wrong_kinds])
    def test_wrong_kind_of_result_says_what_came_back(check, fn, words):
        message = failure(check, fn)
        assert words in message, message

    stable = [(c, None, f) for c, f in correct] + list(mistakes)

    @pytest.mark.parametrize("check, hint, fn", stable,
                             ids=[f"{c.__name__}-{h or _id(f)}" for c, h, f in stable])
    def test_the_same_verdict_on_every_seed(check, hint, fn, capsys):
        """Over many seeds a right answer is always accepted and a wrong one always refused with
        the same mistake named: a verdict never depends on which random cases were drawn."""
        for seed in range(seeds or STABILITY_SEEDS):
            if hint is None:
                assert check(fn, seed=seed) is fn, seed
            else:
                with pytest.raises(AssertionError) as info:
                    check(fn, seed=seed)
                assert hint in str(info.value), (seed, str(info.value))
                assert f"seed={seed}" in str(info.value)
        capsys.readouterr()

    tests = {f.__name__: f for f in (test_accepts_correct_code, test_names_the_mistake,
                                     test_the_same_verdict_on_every_seed,
                                     test_unwritten_exercise_falls_back_to_the_reference,
                                     test_unwritten_exercise_fails_in_grading_mode,
                                     test_wrong_kind_of_result_says_what_came_back)}
    if exercise_of is not None:
        every = correct + mistakes + wrong_kinds
        answers = correct + [(c, f) for c, _, f in mistakes] + [(c, f) for c, f, _ in wrong_kinds]

        @pytest.mark.parametrize("check, fn", answers, ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(every)])
        def test_the_grader_decides_like_the_check(check, fn, tmp_path):
            """The grader's verdict (probe in a fresh namespace, judged from data) equals the check's."""
            assert_same_verdict(exercise_of[check], fn, tmp_path)

        tests[test_the_grader_decides_like_the_check.__name__] = test_the_grader_decides_like_the_check
    return tests
