"""Lesson 8 checks: threshold_for_far and frr_at."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import exercises as C
from course_utils import metrics
from course_utils.exercises import solutions

from kit_helpers import assert_same_verdict, failure  # noqa: F401


# --- threshold_for_far / frr_at ----------------------------------------------------------------

def far_threshold_below_next_impostor(distances, same, far):
    """Any threshold with the same decisions is right: here, just below the first impostor too many."""
    impostors = np.sort(np.asarray(distances, dtype=np.float64)[~same])
    allowed = int(math.floor(far * len(impostors) + 1e-9))
    if allowed >= len(impostors):
        return float(np.max(distances))
    return float(np.nextafter(impostors[allowed], -np.inf))


def _far_sweep(rate, strict=False, smallest=False, return_rate=False):
    def threshold_for_far(distances, same, far):
        d = np.asarray(distances, dtype=np.float64)
        best = -math.inf
        for t in np.unique(d):
            accepted = d < t if strict else d <= t
            if rate(accepted, same, d) <= far:
                if smallest:
                    return float(t)
                best = t
        if return_rate:
            return float(np.mean((d <= best)[~same]))
        return float(best)
    return threshold_for_far


far_loop = _far_sweep(lambda acc, same, d: np.mean(acc[~same]))

FAR_MISTAKES = {
    "divided by ALL pairs": _far_sweep(lambda acc, same, d: np.sum(acc & ~same) / len(d)),
    "mixed up": _far_sweep(lambda acc, same, d: np.mean(acc[same])),
    "`<` instead of `<=`": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), strict=True),
    "SMALLEST threshold": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), smallest=True),
    "returned a rate": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), return_rate=True),
}


def frr_numpy(distances, same, threshold):
    return float(np.mean(np.asarray(distances)[same] > threshold))


def frr_counts(distances, same, threshold):
    rejected = genuine = 0
    for d, s in zip(distances, same):
        if s:
            genuine += 1
            rejected += int(d > threshold)
    return rejected / genuine


FRR_MISTAKES = {
    "this is the FAR": lambda d, s, t: float(np.mean(np.asarray(d)[~s] <= t)),
    "`<` instead of `<=`": lambda d, s, t: float(np.mean(np.asarray(d)[s] >= t)),
    "divided by ALL pairs": lambda d, s, t: float(np.sum((np.asarray(d) > t) & s) / len(d)),
    "this is the TAR": lambda d, s, t: float(np.mean(np.asarray(d)[s] <= t)),
    "returned a count": lambda d, s, t: int(np.sum((np.asarray(d) > t) & s)),
}




def _id(value):
    return getattr(value, "__name__", None) or str(value)[:40]


def _returns(value):
    def student(*args, **kwargs):
        return value
    return student


_NONE = _returns(None)

CORRECT = [
(C.check_threshold_for_far, metrics.threshold_for_far),
    (C.check_threshold_for_far, far_threshold_below_next_impostor), (C.check_threshold_for_far, far_loop),
    (C.check_frr_at, solutions.frr_at), (C.check_frr_at, frr_numpy), (C.check_frr_at, frr_counts),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_threshold_for_far, FAR_MISTAKES), (C.check_frr_at, FRR_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_threshold_for_far, "threshold_for_far", metrics.threshold_for_far, "course_utils.metrics.threshold_for_far"),
    (C.check_frr_at, "frr_at", solutions.frr_at, "course_utils.exercises.solutions.frr_at"),
    ]

WRONG_KINDS = [
(C.check_threshold_for_far, _NONE, "Expected a number for the threshold, got None"),
    (C.check_threshold_for_far, lambda d, s, far: np.asarray(d)[:2], "Expected a single number for the threshold, got an array of shape (2,)"),
    (C.check_frr_at, _NONE, "Expected a number for the FRR, got None"),
    (C.check_frr_at, lambda d, s, t: np.asarray(d) > t, "Expected a number for the FRR"),
    ]


@pytest.mark.parametrize("check, fn", CORRECT, ids=[f"{c.__name__}-{_id(f)}" for c, f in CORRECT])
def test_accepts_correct_code(check, fn, capsys):
    assert check(fn) is fn
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and " correct on " in out and out.count("\n") == 1, out


@pytest.mark.parametrize("check, hint, fn", MISTAKES, ids=[f"{c.__name__}-{h}" for c, h, _ in MISTAKES])
def test_names_the_mistake(check, hint, fn):
    message = failure(check, fn)
    assert hint in message, message


@pytest.mark.parametrize("check, name, reference, path", FALLBACKS, ids=[n for _, n, _, _ in FALLBACKS])
def test_unwritten_exercise_falls_back_to_the_reference(check, name, reference, path, capsys):
    def stub(*args, **kwargs):
        # YOUR CODE HERE
        raise NotImplementedError()

    assert check(stub) is reference
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0] == f"⏳ {name} is not implemented yet."
    assert 2 <= len(lines) - 2 <= 3                     # a 1–3 line hint in between
    assert lines[-1] == f"For now the lesson continues with the reference implementation ({path})."


@pytest.mark.parametrize("check, name, reference, path", FALLBACKS, ids=[n for _, n, _, _ in FALLBACKS])
def test_unwritten_exercise_fails_in_grading_mode(check, name, reference, path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_GRADING", "1")

    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError) as info:
        check(stub)
    assert str(info.value) == f"{name} is not implemented yet"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("check, fn, words", WRONG_KINDS, ids=[f"{c.__name__}-{w[:30]}" for c, _, w in WRONG_KINDS])
def test_wrong_kind_of_result_says_what_came_back(check, fn, words):
    message = failure(check, fn)
    assert words in message, message


EXERCISE_OF = {C.check_threshold_for_far: C.THRESHOLD_FOR_FAR, C.check_frr_at: C.FRR_AT}


@pytest.mark.parametrize("check, fn", CORRECT + [(c, f) for c, _, f in MISTAKES] + [(c, f) for c, f, _ in WRONG_KINDS],
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(CORRECT + MISTAKES + WRONG_KINDS)])
def test_the_grader_decides_like_the_check(check, fn, tmp_path):
    """The grader's verdict (probe in a fresh namespace, judged from data) equals the check's."""
    assert_same_verdict(EXERCISE_OF[check], fn, tmp_path)


def test_nbgrader_variable_also_means_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert C.grading_mode()
    with pytest.raises(AssertionError, match="^frr_at is not implemented yet$"):
        C.check_frr_at(lambda *a: (_ for _ in ()).throw(NotImplementedError()))
