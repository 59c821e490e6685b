"""Lesson 8 checks: threshold_for_far and frr_at."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import exercises as C
from course_utils import metrics
from course_utils.exercises import solutions

from kit_helpers import NONE, exercise_tests


# --- threshold_for_far / frr_at ----------------------------------------------------------------

def far_threshold_below_next_impostor(distances, same, far):
    """Any threshold with the same decisions is right: here, just below the first impostor too many
    (and -inf, as the docstring asks, when that accepts nothing)."""
    d = np.asarray(distances, dtype=np.float64)
    impostors = np.sort(d[~same])
    allowed = int(math.floor(far * len(impostors) + 1e-9))
    if allowed >= len(impostors):
        return float(np.max(distances))
    t = float(np.nextafter(impostors[allowed], -np.inf))
    return t if np.any(d <= t) else -math.inf


def _far_sweep(rate, strict=False, smallest=False, return_rate=False, none=-math.inf):
    def threshold_for_far(distances, same, far):
        d = np.asarray(distances, dtype=np.float64)
        best = none
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
    "return -inf": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), none=0.0),
}


def far_quantile(distances, same, far):
    return float(np.quantile(np.asarray(distances)[~np.asarray(same)], far))


def far_percentile(distances, same, far):
    return float(np.percentile(distances[~same], 100 * far, method="lower"))


def far_last_allowed_impostor(distances, same, far):
    impostors = np.sort(distances[~same])
    allowed = int(far * len(impostors) + 1e-9)
    return float(impostors[allowed - 1]) if allowed else -math.inf


FAR_MISTAKES.update({
    "a quantile of the impostor distances": far_quantile,
    "(np.quantile / np.percentile)": far_percentile,
    "stops at the last impostor the budget allows": far_last_allowed_impostor,
    "not a percentage": _far_sweep(lambda acc, same, d: np.mean(acc[~same]) * 100),
})


def frr_numpy(distances, same, threshold):
    return float(np.mean(np.asarray(distances)[same] > threshold))


def frr_counts(distances, same, threshold):
    rejected = genuine = 0
    for d, s in zip(distances, same):
        if s:
            genuine += 1
            rejected += int(d > threshold)
    return rejected / genuine


def frr_masks_in_place(distances, same, threshold):
    distances[~same] = -np.inf                     # "impostors can never be rejected"
    return float(np.sum(distances > threshold) / np.sum(same))


FRR_MISTAKES = {
    "this is the FAR": lambda d, s, t: float(np.mean(np.asarray(d)[~s] <= t)),
    "`<` instead of `<=`": lambda d, s, t: float(np.mean(np.asarray(d)[s] >= t)),
    "divided by ALL pairs": lambda d, s, t: float(np.sum((np.asarray(d) > t) & s) / len(d)),
    "this is the TAR": lambda d, s, t: float(np.mean(np.asarray(d)[s] <= t)),
    "returned a count": lambda d, s, t: int(np.sum((np.asarray(d) > t) & s)),
    "returned a percentage": lambda d, s, t: 100.0 * np.mean(d[s] > t),
    "IMPOSTOR pairs that are rejected": lambda d, s, t: float((d[~s] > t).mean()),
    "divided by the number of IMPOSTOR pairs": lambda d, s, t: np.count_nonzero(d[s] > t) / np.count_nonzero(~s),
    "changes its input distances in place": frr_masks_in_place,
}




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
(C.check_threshold_for_far, NONE, "Expected a number for the threshold, got None"),
    (C.check_threshold_for_far, lambda d, s, far: np.asarray(d)[:2], "Expected a single number for the threshold, got an array of shape (2,)"),
    (C.check_frr_at, NONE, "Expected a number for the FRR, got None"),
    (C.check_frr_at, lambda d, s, t: np.asarray(d) > t, "Expected a number for the FRR"),
    ]


EXERCISE_OF = {C.check_threshold_for_far: C.THRESHOLD_FOR_FAR, C.check_frr_at: C.FRR_AT}

globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS, exercise_of=EXERCISE_OF))


def test_nbgrader_variable_also_means_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert C.grading_mode()
    with pytest.raises(AssertionError, match="^frr_at is not implemented yet$"):
        C.check_frr_at(lambda *a: (_ for _ in ()).throw(NotImplementedError()))
