"""Lesson 10 check: cluster_threshold_for_far (the clustering cut from a wrong-merge budget)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from course_utils import exercises as C
from course_utils.exercises import solutions
from course_utils.exercises.lesson10_clustering import CLUSTER_THRESHOLD_FOR_FAR

from kit_helpers import assert_same_verdict, failure


# --- an independent reference: Python loops over photos, no NumPy reductions over blocks --------

def _loop_reference(embeddings, labels, far, linkage="average"):
    x = [list(map(float, row)) for row in np.asarray(embeddings)]
    labels = list(np.asarray(labels).reshape(-1))
    people = sorted(set(labels), key=str)
    groups = []
    for p, q in itertools.combinations(people, 2):
        cross = [sum((a - b) ** 2 for a, b in zip(x[i], x[j]))
                 for i in range(len(x)) if labels[i] == p for j in range(len(x)) if labels[j] == q]
        groups.append({"single": min(cross), "complete": max(cross), "average": sum(cross) / len(cross)}[linkage])
    best = -math.inf
    for t in groups:
        if sum(g <= t for g in groups) / len(groups) <= far and t > best:
            best = t
    return best


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(9), [2, 3, 4, 2, 3, 5, 2, 2, 3])
    centres = rng.normal(size=(9, 6))
    x = centres[labels] + 0.8 * rng.normal(size=(len(labels), 6))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


@pytest.mark.parametrize("linkage", ["single", "average", "complete"])
@pytest.mark.parametrize("far", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_the_solution_matches_a_loop_reference(world, linkage, far):
    x, labels = world
    got = solutions.cluster_threshold_for_far(x, labels, far, linkage)
    expected = _loop_reference(x, labels, far, linkage)
    assert got == pytest.approx(expected, abs=1e-9) or got == expected == -math.inf


def test_linkages_order_their_cuts(world):
    """single <= average <= complete for every pair of people, so their cuts at one budget too."""
    x, labels = world
    cuts = [solutions.cluster_threshold_for_far(x, labels, 0.2, k) for k in ("single", "average", "complete")]
    assert cuts[0] <= cuts[1] <= cuts[2]


# --- the check ---------------------------------------------------------------------------------

def _photo_pairs(embeddings, labels, far, linkage="average"):
    x = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    d = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    i, j = np.triu_indices(len(x), 1)
    impostor = np.sort(d[i, j][labels[i] != labels[j]])
    ok = [t for t in impostor if np.mean(impostor <= t) <= far]
    return max(ok) if ok else -math.inf


def _with(linkage=None, same=False, strict=False, root=False, smallest=False, rate=False):
    def cluster_threshold_for_far(embeddings, labels, far, linkage_arg="average"):
        link = linkage or linkage_arg
        reduce = {"single": np.min, "average": np.mean, "complete": np.max}[link]
        x = np.asarray(embeddings, dtype=np.float64)
        labels = np.asarray(labels)
        d = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
        people = list(np.unique(labels))
        pairs = [(p, q) for p in people for q in people if (p < q or (same and p == q))]
        groups = []
        for p, q in pairs:
            block = d[labels == p][:, labels == q]
            if p == q:
                block = block[~np.eye(len(block), dtype=bool)]
            groups.append(reduce(block))
        groups = np.array(groups)
        count = (lambda t: np.mean(groups < t)) if strict else (lambda t: np.mean(groups <= t))
        cands = sorted(set(groups)) + ([math.inf] if strict else [])
        ok = [t for t in cands if count(t) <= far]
        if not ok:
            return -math.inf
        t = min(ok) if smallest else max(ok)
        if rate:
            return float(np.mean(groups <= t))
        return math.sqrt(t) if root and t > 0 else t
    return cluster_threshold_for_far


MISTAKES = {
    "you spent the budget on single PHOTO pairs": _photo_pairs,
    "another linkage than the one asked": _with(linkage="complete"),
    "pairs of the SAME person were counted": _with(same=True),
    "`<` instead of `<=`": _with(strict=True),
    "plain Euclidean distance": _with(root=True),
    "the SMALLEST threshold": _with(smallest=True),
    "you returned a rate": _with(rate=True),
}


def test_accepts_the_solution_and_a_loop_version(capsys):
    for fn in (solutions.cluster_threshold_for_far, _with(), _loop_reference):
        assert C.check_cluster_threshold_for_far(fn) is fn
    out = capsys.readouterr().out
    assert out.count("✓ cluster_threshold_for_far: correct on 8 randomized tests.") == 3, out


@pytest.mark.parametrize("hint, fn", MISTAKES.items(), ids=list(MISTAKES))
def test_names_the_mistake(hint, fn):
    message = failure(C.check_cluster_threshold_for_far, fn)
    assert hint in message, message


@pytest.mark.parametrize("fn", [solutions.cluster_threshold_for_far, _photo_pairs, _with(strict=True)],
                         ids=["solution", "photo-pairs", "strict"])
def test_the_grader_decides_like_the_check(fn, tmp_path):
    assert_same_verdict(CLUSTER_THRESHOLD_FOR_FAR, fn, tmp_path)


def test_returning_the_verification_threshold_fails():
    """Issue 12: the old exercise was `return verification_threshold`; a fixed number cannot pass."""
    message = failure(C.check_cluster_threshold_for_far, lambda embeddings, labels, far, linkage="average": 0.8)
    assert "wrong result" in message, message


def test_wrong_kinds_say_what_came_back():
    assert "got None" in failure(C.check_cluster_threshold_for_far, lambda *a, **k: None)
    assert "single number" in failure(C.check_cluster_threshold_for_far, lambda *a, **k: np.array([0.1, 0.2]))


def test_not_done_falls_back_then_fails_in_grading_mode(monkeypatch, capsys):
    def stub(embeddings, labels, far, linkage="average"):
        raise NotImplementedError()
    assert C.check_cluster_threshold_for_far(stub) is solutions.cluster_threshold_for_far
    assert "cluster_threshold_for_far is not implemented yet" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^cluster_threshold_for_far is not implemented yet$"):
        C.check_cluster_threshold_for_far(stub)


def test_graded_under_the_same_check_cell_id():
    assert C.GRADED["ex_cluster_threshold_check"] is CLUSTER_THRESHOLD_FOR_FAR
