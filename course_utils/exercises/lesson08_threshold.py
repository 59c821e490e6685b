"""Lesson 8 — choosing a threshold: ``check_threshold_for_far`` and ``check_frr_at``.

* ``threshold_for_far(distances, same, far)`` → float; compared by the decisions it makes
  (``d <= t``), not as a float. Mistakes named: FAR over all pairs; FAR and FRR (or TAR) mixed up;
  ``<`` instead of ``<=``; the smallest threshold instead of the largest; a rate returned; a
  quantile of the impostor distances; stopping at the last allowed impostor; far read as a percentage.
* ``frr_at(distances, same, threshold)`` → float. Mistakes named: FAR instead of FRR; ``<`` instead
  of ``<=``; divided by all pairs or by the impostor pairs; TAR (1 − FRR); impostors rejected
  (1 − FAR); a count or a percentage instead of a rate.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF

_FAR_HINTS = (
    "A pair is accepted when its distance is <= t. FAR at t is the share of IMPOSTOR pairs (same == False) "
    "that are accepted. Try the observed distances (of ALL pairs) as thresholds and return the LARGEST t "
    "whose FAR is <= far; if none is that strict, return -inf (nothing can be accepted).",
    "The key operations: np.unique gives the observed distances, sorted; for each candidate t, a <= "
    "comparison on the impostor distances and np.mean of that bool array is FAR at t; keep the last t "
    "whose FAR passes, starting from -inf.",
)

_FRR_HINTS = (
    'FRR is the share of GENUINE pairs (same == True) that are rejected, where a pair is rejected when its distance is strictly greater than the threshold. Return a float between 0 and 1.',
    'The key operations: the boolean mask selects the genuine distances, a comparison with > gives a bool array, and np.mean of a bool array is the share of True.',
)


def _genuine_between(genuine, impostor, far: float, step: float):
    """A genuine distance strictly between the last impostor the FAR budget allows and the next one:
    the largest threshold goes past that impostor, up to the next (no random draws, the grid kept)."""
    order = np.argsort(impostor, kind="stable")
    allowed = int(math.floor(far * len(impostor) + 1e-9))
    last, following = order[allowed - 1], order[allowed:]
    impostor = impostor.copy()
    impostor[following] += max(0.0, impostor[last] + 2 * step - impostor[following].min())
    genuine = genuine.copy()
    genuine[0] = impostor[last] + step
    return genuine, impostor


def _pair_cases(rng, kind: str) -> list[h.Case]:
    plan = [  # (genuine, impostor, step of the distance grid, dtype, special)
        (10, 30, 1 / 1024, np.float64, "genuine-between"),
        (25, 25, 1 / 1024, np.float32, "impostor-first"),
        (50, 150, 1 / 1024, np.float64, None),
        (20, 40, 1 / 32, np.float64, "ties"),
        (5, 20, 1 / 1024, np.float32, None),
        (100, 100, 1 / 16, np.float64, "ties"),
        (30, 10, 1 / 1024, np.float64, None),
        (15, 60, 1 / 1024, np.float32, None),
    ]
    fars = [0.1, 0.0, 0.01, 0.25, 0.05, 0.1, 0.5, 1.0]
    cases = []
    for (n_gen, n_imp, step, dtype, special), far in zip(plan, fars):
        genuine = rng.uniform(0.1, 1.6, size=n_gen)
        impostor = rng.uniform(0.7, 3.2, size=n_imp)
        if special == "impostor-first":
            impostor[0] = genuine.min() / 2
        if special == "genuine-between":
            genuine, impostor = _genuine_between(np.round(genuine / step) * step,
                                                 np.round(impostor / step) * step, far, step)
        d = np.round(np.concatenate([genuine, impostor]) / step) * step      # exact in float32
        same = np.concatenate([np.ones(n_gen, bool), np.zeros(n_imp, bool)])
        order = rng.permutation(len(d))
        d, same = d[order], same[order]
        data = {"d": d, "same": same, "far": far}
        if kind == "far":
            cases.append(h.Case(args=(d.astype(dtype), same, far), names=("distances", "same", "far"),
                               data=data, size=len(d)))
        else:
            gen_sorted = np.sort(d[same])
            choices = [gen_sorted[len(gen_sorted) // 2], gen_sorted[-1], float(rng.uniform(0.5, 2.0)),
                       gen_sorted[0] - 0.5, gen_sorted[len(gen_sorted) // 3], gen_sorted[0],
                       round(float(rng.uniform(0.8, 1.4)), 2), float(d.max()) + 0.5]
            threshold = float(choices[len(cases)])
            data["threshold"] = threshold
            cases.append(h.Case(args=(d.astype(dtype), same, threshold), names=("distances", "same", "threshold"),
                               data=data, size=len(d), tol=1e-9))
    return cases


def _decisions(t: float, data) -> tuple:
    """Canonical form of a threshold: (t, which pairs it accepts, the pair labels)."""
    return float(t), data["d"] <= t, data["same"]


def _show_threshold(value) -> str:
    t, accept, same = value
    fp, n_imp = int(np.sum(accept & ~same)), int(np.sum(~same))
    return (f"{t:.6g}  (accepts {int(np.sum(accept & same))} of {int(same.sum())} genuine and "
            f"{fp} of {n_imp} impostor pairs: FAR = {fp}/{n_imp} = {fp / max(n_imp, 1):.3g})")


def _largest(candidates, ok) -> float:
    good = [t for t in candidates if ok(t)]
    return max(good) if good else -math.inf


def _same_threshold(got, expected) -> bool:
    """Same decisions (d <= t) — and -inf exactly where no threshold keeps the FAR in budget: a finite
    number there (0.0, the smallest distance minus a bit) is a threshold the docstring does not allow."""
    if expected[0] == -math.inf and got[0] != -math.inf:
        return False
    return bool(np.array_equal(got[1], expected[1]))


def _far_mistakes():
    def parts(data):
        d, same, far = data["d"], data["same"], data["far"]
        return d, same, far, np.concatenate([[-math.inf], np.unique(d)])

    def over_all(data):
        d, same, far, cand = parts(data)
        return _decisions(_largest(cand, lambda t: np.sum((d <= t) & ~same) / len(d) <= far), data)

    def frr_instead(data):
        d, same, far, cand = parts(data)
        tar_t = _largest(cand, lambda t: np.mean(d[same] <= t) <= far)
        frr_ok = [t for t in cand if np.mean(d[same] > t) <= far]
        return h.AnyOf((_decisions(tar_t, data), _decisions(min(frr_ok) if frr_ok else math.inf, data)))

    def strict(data):
        d, same, far, cand = parts(data)
        return _decisions(_largest(np.concatenate([cand, [math.inf]]),
                                   lambda t: np.mean(d[~same] < t) <= far), data)

    def smallest(data):
        d, same, far, cand = parts(data)
        good = [t for t in cand[1:] if np.mean(d[~same] <= t) <= far]
        return _decisions(min(good) if good else -math.inf, data)

    def rate(data):
        from course_utils.metrics import confusion_at, threshold_for_far
        d, same, far, _ = parts(data)
        c = confusion_at(d, same, threshold_for_far(d, same, far))
        return h.AnyOf(tuple(_decisions(v, data) for v in (c["far"], c["tar"], c["frr"]) if not math.isnan(v)))

    def quantile(data):                      # a quantile of the impostor distances
        d, same, far, _ = parts(data)
        methods = ("linear", "lower", "higher", "nearest", "midpoint")
        return h.AnyOf(tuple(_decisions(float(np.quantile(d[~same], far, method=m)), data) for m in methods))

    def last_allowed_impostor(data):         # stops at the last impostor it may accept
        d, same, far, _ = parts(data)
        impostors = np.sort(d[~same])
        allowed = int(math.floor(far * len(impostors) + 1e-9))
        return _decisions(impostors[allowed - 1] if allowed else -math.inf, data)

    def percent(data):                       # far read as a percentage
        d, same, far, cand = parts(data)
        return _decisions(_largest(cand, lambda t: np.mean(d[~same] <= t) <= far / 100), data)

    def same_rate(got, expected, case):      # the value itself is one of the rates
        return math.isclose(got[0], expected[0], rel_tol=1e-9, abs_tol=1e-12)

    def finite_for_none(got, variant_out, case):      # right decisions, a finite number for "none"
        return (variant_out[0] == -math.inf and got[0] != -math.inf and not np.any(got[1])) or \
            (variant_out[0] != -math.inf and _same_threshold(got, variant_out))

    def expected(data):
        return _decisions(_largest(parts(data)[3], lambda t: np.mean(data["d"][~data["same"]] <= t) <= data["far"]),
                          data)

    return [
        h.Mistake("when no threshold keeps FAR <= far, return -inf (float('-inf') or -np.inf), not a number "
                  "like 0.0: -inf says 'accept nothing' whatever the distances are.", expected,
                  same=finite_for_none),
        h.Mistake("the FAR was divided by ALL pairs: FAR = accepted impostor pairs / number of IMPOSTOR "
                 "pairs (same == False), not / all pairs.", over_all),
        h.Mistake("FAR and FRR/TAR are mixed up: the false ACCEPT rate is about impostor pairs "
                 "(same == False) that get accepted (distance <= t); genuine pairs do not enter it.",
                 frr_instead),
        h.Mistake("`<` instead of `<=`: a pair is accepted when distance <= threshold, so count the impostors "
                 "with distance <= t (your threshold accepts one impostor distance too many).", strict),
        h.Mistake("this is the SMALLEST threshold with FAR <= far; the exercise asks for the LARGEST one "
                 "(accept as many genuine pairs as the FAR budget allows).", smallest),
        h.Mistake("you returned a rate (FAR/TAR/FRR) instead of the threshold: return the distance t itself.",
                 rate, same=same_rate),
        h.Mistake("a quantile of the impostor distances (np.quantile / np.percentile) interpolates between "
                  "them and ignores ties, so its FAR is not always <= far: try each observed distance as t "
                  "and measure the FAR it gives.", quantile),
        h.Mistake("your threshold stops at the last impostor the budget allows; the LARGEST threshold goes on "
                  "up to (not including) the next impostor, accepting the genuine pairs in between: try "
                  "every observed distance, not only the impostors'.", last_allowed_impostor),
        h.Mistake("far is a rate between 0 and 1 (0.01 means 1 %), not a percentage: compare the FAR with far "
                  "itself, not with far / 100.", percent),
    ]


def _threshold_result(raw, case: h.Case) -> tuple:
    return _decisions(h.float_scalar(raw, "threshold", allow_inf=True), case.data)


def _far_cases(rng) -> list[h.Case]:
    from course_utils.metrics import threshold_for_far
    cases = _pair_cases(rng, "far")
    for case in cases:
        case.expected = _decisions(threshold_for_far(case.data["d"], case.data["same"], case.data["far"]), case.data)
    return cases


THRESHOLD_FOR_FAR = h.FunctionExercise(
    grade_id="ex_threshold_for_far_check", lesson="08", name="threshold_for_far",
    answer_names=("threshold_for_far",), make_cases=_far_cases, convert=_threshold_result,
    same=lambda got, exp, case: _same_threshold(got, exp), mistakes=_far_mistakes, show=_show_threshold,
    advice="Any threshold that accepts exactly the same pairs is fine, except where nothing may be accepted: "
           "then -inf, as the docstring says. Count, for your threshold, the impostor pairs with "
           "distance <= t and divide by the number of impostor pairs.",
    hints=_FAR_HINTS, reference=CF("course_utils.metrics", "threshold_for_far"),
    forbidden=(CF("course_utils.metrics", "threshold_for_far"), CF("course_utils.metrics", "tar_at_far"),
               CF("course_utils.exercises.solutions", "threshold_for_far")))


def check_threshold_for_far(fn, seed: int | None = None):
    """Check ``threshold_for_far(distances, same, far)``: compared by its decisions (``d <= t``)."""
    return h.check(THRESHOLD_FOR_FAR, fn, seed=seed)


def _frr_cases(rng) -> list[h.Case]:
    cases = _pair_cases(rng, "frr")
    for case in cases:
        d, same, t = case.data["d"], case.data["same"], case.data["threshold"]
        case.expected = float(np.mean(d[same] > t))
    return cases


def _frr_mistakes():
    def pick(fn):
        return lambda data: fn(data["d"], data["same"], data["threshold"])

    return [
        h.Mistake("this is the FAR (impostor pairs accepted); the FRR counts GENUINE pairs (same == True) "
                  "that are rejected (distance > threshold).", pick(lambda d, s, t: float(np.mean(d[~s] <= t)))),
        h.Mistake("`<` instead of `<=`: a pair at exactly the threshold is accepted, so it is rejected only "
                  "when distance > threshold.", pick(lambda d, s, t: float(np.mean(d[s] >= t)))),
        h.Mistake("you divided by ALL pairs: FRR = rejected genuine pairs / number of GENUINE pairs.",
                  pick(lambda d, s, t: float(np.sum((d > t) & s) / len(d)))),
        h.Mistake("this is the TAR (1 − FRR): the FRR counts the genuine pairs that are REJECTED "
                  "(distance > threshold).", pick(lambda d, s, t: float(np.mean(d[s] <= t)))),
        h.Mistake("you returned a count; return a rate between 0 and 1 (divide by the number of genuine pairs).",
                  pick(lambda d, s, t: float(np.sum((d > t) & s)))),
        h.Mistake("you returned a percentage; return a rate between 0 and 1 (no factor 100).",
                  pick(lambda d, s, t: float(100 * np.mean(d[s] > t)))),
        h.Mistake("this counts the IMPOSTOR pairs that are rejected (1 − FAR); the FRR is about GENUINE pairs "
                  "(same == True): the share of them with distance > threshold.",
                  pick(lambda d, s, t: float(np.mean(d[~s] > t)))),
        h.Mistake("you divided by the number of IMPOSTOR pairs: FRR = rejected genuine pairs / number of "
                  "GENUINE pairs (same == True).", pick(lambda d, s, t: float(np.sum((d > t) & s) / np.sum(~s)))),
    ]


FRR_AT = h.FunctionExercise(
    grade_id="ex_frr_at_check", lesson="08", name="frr_at", answer_names=("frr_at",),
    make_cases=_frr_cases, convert=lambda raw, case: h.float_scalar(raw, "FRR"),
    same=lambda got, exp, case: math.isclose(got, exp, abs_tol=1e-9), mistakes=_frr_mistakes,
    advice="FRR = (genuine pairs with distance > threshold) / (number of genuine pairs).",
    hints=_FRR_HINTS, reference=CF("course_utils.exercises.solutions", "frr_at"),
    forbidden=(CF("course_utils.exercises.solutions", "frr_at"), CF("course_utils.metrics", "confusion_at"),
               CF("course_utils.metrics", "accuracy_at")))


def check_frr_at(fn, seed: int | None = None):
    """Check ``frr_at(distances, same, threshold)`` → float."""
    return h.check(FRR_AT, fn, seed=seed)
