"""Lesson 10 — clustering faces: ``check_cluster_threshold_for_far``.

``cluster_threshold_for_far(embeddings, labels, far, linkage="average")`` → float: the clustering
cut derived from a *wrong-merge budget* on labelled validation people. Agglomerative clustering
merges two clusters when their **linkage distance** is ``<= threshold``; for two different people
A and B that distance is, over all cross pairs of their photos (squared distances),

* ``"single"``: the smallest, ``"average"``: the mean, ``"complete"``: the largest.

The answer is the LARGEST of these people-pair distances whose "merge FAR" — the share of pairs of
different people whose linkage distance is ``<= t`` — is at most ``far`` (``-inf`` if even the
smallest is over budget). It is compared by the decisions it makes (which people pairs it merges),
as lesson 8's ``threshold_for_far``. Mistakes named: the budget spent on single photo pairs instead
of groups; another linkage; same-person groups counted; ``<`` instead of ``<=``; a plain Euclidean
distance; the smallest threshold instead of the largest; a rate returned instead of a threshold.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF
from course_utils.exercises.loop_references import squared_distance_matrix

LINKAGES = {"single": np.min, "average": np.mean, "complete": np.max}

_HINTS = (
    "For every pair of DIFFERENT people, the linkage distance between their photos: single: the closest cross pair, average: the mean of all cross pairs, complete: the farthest. These are the 'impostor' merges. Return, as in lesson 8, the LARGEST of these distances t such that the share of these distances that are <= t is <= far (-inf if none).",
    'The key operations: pairwise squared distances of all photos, np.unique for the people, the cross block picked with two boolean masks, np.min / np.mean / np.max by linkage, then your lesson-8 rule on that list.',
)


def people_pair_distances(x: np.ndarray, labels: np.ndarray, linkage: str,
                          include_same: bool = False) -> np.ndarray:
    """Linkage distance (squared) of every unordered pair of different people, ``(P (P−1) / 2,)``.

    ``include_same`` also adds each person's linkage with themselves (own photo pairs, diagonal
    excluded; a mistake the catalogue knows).
    """
    d = squared_distance_matrix(x)
    people = np.unique(labels)
    members = [np.flatnonzero(labels == p) for p in people]
    reduce = LINKAGES[linkage]
    out = [reduce(d[np.ix_(a, b)]) for i, a in enumerate(members) for b in members[i + 1:]]
    if include_same:
        for a in members:
            block = d[np.ix_(a, a)][~np.eye(len(a), dtype=bool)]
            if block.size:
                out.append(reduce(block))
    return np.asarray(out, dtype=np.float64)


def largest_within_budget(distances: np.ndarray, far: float, strict: bool = False) -> float:
    """The largest observed distance ``t`` with ``mean(distances <= t) <= far`` (``-inf`` if none).

    ``strict=True`` counts ``distances < t`` instead (the ``<`` mistake; then +inf may be returned).
    """
    candidates = np.concatenate([[-math.inf], np.unique(distances)] + ([[math.inf]] if strict else []))
    rate = (lambda t: np.mean(distances < t)) if strict else (lambda t: np.mean(distances <= t))
    good = [t for t in candidates if rate(t) <= far]
    return float(max(good)) if good else -math.inf


TOL = 1e-5     # squared-distance units: float32 rounding of a distance the answer computed itself


def _decisions(t: float, data) -> tuple:
    """A threshold as the judge compares it: (t, which people pairs it merges). The cases keep
    distinct people-pair distances more than ``100 * TOL`` apart, so rounding cannot flip a decision."""
    return float(t), data["groups"] <= t + TOL


def _show(value) -> str:
    t, merged = value
    return (f"{t:.6g}  (merges {int(merged.sum())} of {len(merged)} pairs of different people: "
            f"merge FAR = {merged.mean() if len(merged) else 0.0:.3g})")


def _cases(rng) -> list[h.Case]:
    plan = [  # (people, photos per person (min, max), D, linkage or None for the default, far, dtype, ids)
        (6, (2, 4), 8, "average", 0.2, np.float64, "int"),
        (8, (2, 5), 16, "single", 0.1, np.float32, "int"),
        (5, (3, 3), 4, "complete", 0.3, np.float64, "str"),
        (10, (2, 6), 16, None, 0.05, np.float32, "int"),
        (7, (2, 4), 8, "single", 0.25, np.float64, "int"),
        (9, (2, 3), 32, "complete", 0.1, np.float32, "int"),
        (4, (2, 5), 8, "average", 0.0, np.float64, "int"),
        (12, (2, 4), 8, "average", 0.1, np.float32, "str"),
    ]
    cases = []
    for n_people, (lo, hi), dim, linkage, far, dtype, ids in plan:
        while True:
            case = _case(rng, n_people, lo, hi, dim, linkage, far, dtype, ids)
            gaps = np.diff(np.unique(case.data["groups"]))
            if not len(gaps) or gaps.min() > 100 * TOL:
                break
        cases.append(case)
    return cases


def _case(rng, n_people, lo, hi, dim, linkage, far, dtype, ids) -> h.Case:
    """One randomized world of people (arbitrary ids), redrawn by the caller if its people-pair
    distances are too close to each other to judge."""
    counts = rng.integers(lo, hi + 1, size=n_people)
    centres = h.unit_rows(rng.normal(size=(n_people, dim)))
    # people at different distances from each other; photos spread around their centre
    spread = rng.uniform(0.3, 0.9, size=n_people)
    person = np.repeat(np.arange(n_people), counts)
    x = h.unit_rows(centres[person] + spread[person, None] * rng.normal(size=(len(person), dim)) / np.sqrt(dim) * 3)
    order = rng.permutation(len(person))
    x, person = x[order].astype(dtype), person[order]
    names = rng.permutation(900)[:n_people] + 100
    labels = np.array([f"person_{v}" for v in names])[person] if ids == "str" else names[person].astype(np.int64)
    link = "average" if linkage is None else linkage
    data = {"x": x.astype(np.float64), "labels": labels, "far": far, "linkage": link}
    data["groups"] = people_pair_distances(data["x"], labels, link)
    args = (x, labels, far) + (() if linkage is None else (linkage,))
    t = largest_within_budget(data["groups"], far)
    return h.Case(args=args, names=("embeddings", "labels", "far", "linkage"), data=data,
                  expected=_decisions(t, data), size=x.size)


def _mistakes():
    def photo_pairs(data):
        d = squared_distance_matrix(data["x"])
        labels = data["labels"]
        i, j = np.triu_indices(len(labels), 1)
        impostor = d[i, j][labels[i] != labels[j]]
        return _decisions(largest_within_budget(impostor, data["far"]), data)

    def other_linkage(data):      # one linkage for every case (right where it was the one asked)
        return h.AnyOf(tuple(
            _decisions(largest_within_budget(people_pair_distances(data["x"], data["labels"], other), data["far"]), data)
            for other in LINKAGES))

    def same_included(data):
        groups = people_pair_distances(data["x"], data["labels"], data["linkage"], include_same=True)
        return _decisions(largest_within_budget(groups, data["far"]), data)

    def strict(data):
        return _decisions(largest_within_budget(data["groups"], data["far"], strict=True), data)

    def euclidean(data):
        t = largest_within_budget(data["groups"], data["far"])
        return _decisions(math.sqrt(t) if t > 0 else t, data)

    def smallest(data):
        good = [t for t in np.unique(data["groups"]) if np.mean(data["groups"] <= t) <= data["far"]]
        return _decisions(min(good) if good else -math.inf, data)

    def rate(data):
        t = largest_within_budget(data["groups"], data["far"])
        rates = (float(np.mean(data["groups"] <= t)), data["far"]) + ((t,) if t == -math.inf else ())
        return h.AnyOf(tuple(_decisions(r, data) for r in rates))

    def same_value(got, expected, case):
        return math.isclose(got[0], expected[0], rel_tol=1e-9, abs_tol=1e-12)

    return [
        h.Mistake("you spent the budget on single PHOTO pairs (lesson 8's FAR on impostor photo pairs). "
                  "Clustering merges GROUPS: two clusters join when their linkage distance is <= t, so "
                  "count, for every pair of different people, the linkage distance of their photos "
                  "(single: closest cross pair, average: mean, complete: farthest).", photo_pairs),
        h.Mistake("another linkage than the one asked: single linkage = the CLOSEST cross pair (min), "
                  "average = the MEAN over all cross pairs, complete = the FARTHEST cross pair (max). "
                  "Use the `linkage` argument.", other_linkage),
        h.Mistake("pairs of the SAME person were counted in the budget: a wrong merge joins two DIFFERENT "
                  "people, so only pairs p != q enter the merge FAR (one value per pair of people).",
                  same_included),
        h.Mistake("`<` instead of `<=`: clusters merge when the linkage distance is <= t, so count the "
                  "people pairs with distance <= t (your threshold merges one pair too many).", strict),
        h.Mistake("that is a plain Euclidean distance (the square root of the right threshold): the course's "
                  "thresholds are SQUARED distances, as in lesson 8.", euclidean),
        h.Mistake("this is the SMALLEST threshold within the budget; the exercise asks for the LARGEST one "
                  "(merge as much as the budget allows, so that each person's photos come together).",
                  smallest),
        h.Mistake("you returned a rate (the budget or the merge FAR) instead of the threshold: return the "
                  "distance t itself.", rate, same=same_value),
    ]


def _result(raw, case: h.Case) -> tuple:
    return _decisions(h.float_scalar(raw, "threshold", allow_inf=True), case.data)


CLUSTER_THRESHOLD_FOR_FAR = h.FunctionExercise(
    grade_id="ex_cluster_threshold_check", lesson="10", name="cluster_threshold_for_far",
    answer_names=("cluster_threshold_for_far",), make_cases=_cases, convert=_result,
    same=lambda got, exp, case: np.array_equal(got[1], exp[1]), mistakes=_mistakes, show=_show,
    advice="Any threshold that merges exactly the same pairs of people is fine. For the example, print "
           "the linkage distance of each pair of different people and count those <= your threshold.",
    hints=_HINTS, reference=CF("course_utils.exercises.solutions", "cluster_threshold_for_far"),
    forbidden=(CF("course_utils.exercises.solutions", "cluster_threshold_for_far"),
               CF("course_utils.exercises.lesson10_clustering", "people_pair_distances"),
               CF("course_utils.exercises.lesson10_clustering", "largest_within_budget")))


def check_cluster_threshold_for_far(fn, seed: int | None = None):
    """Check ``cluster_threshold_for_far(embeddings, labels, far, linkage="average")`` → float
    (compared by which pairs of people it merges)."""
    return h.check(CLUSTER_THRESHOLD_FOR_FAR, fn, seed=seed)
