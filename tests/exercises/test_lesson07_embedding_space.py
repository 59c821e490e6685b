"""Lesson 7 check: nearest_neighbours."""
from __future__ import annotations


import numpy as np
import pytest
import tensorflow as tf

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import failure


# --- nearest neighbours ------------------------------------------------------------------------

def _neighbour_distances(query, gallery):
    return np.sum((np.asarray(gallery, dtype=np.float64) - np.asarray(query, dtype=np.float64)) ** 2, axis=1)


def neighbours_cosine(query, gallery, k=5):
    return np.argsort(-(np.asarray(gallery) @ np.asarray(query)))[:k]


def neighbours_top_k(query, gallery, k=5):
    return tf.math.top_k(-tf.reduce_sum(tf.square(gallery - query), axis=1), k=k).indices


def _neighbours_unsorted(query, gallery, k=5):
    d = _neighbour_distances(query, gallery)
    return np.argpartition(d, k - 1)[:k][::-1]


NEIGHBOUR_MISTAKES = {
    "these are the FARTHEST rows": lambda q, g, k=5: np.argsort(_neighbour_distances(q, g))[::-1][:k],
    "expected exactly k=": lambda q, g, k=5: np.argsort(_neighbour_distances(q, g))[:k + 1],
    "the distances instead of the indices": lambda q, g, k=5: np.sort(_neighbour_distances(q, g))[:k],
    "not in order": _neighbours_unsorted,
    "take row [0]": lambda q, g, k=5: solutions.nearest_neighbours(q, g, k)[None, :],
}




def _id(value):
    return getattr(value, "__name__", None) or str(value)[:40]


def _returns(value):
    def student(*args, **kwargs):
        return value
    return student


_NONE = _returns(None)

CORRECT = [
(C.check_nearest_neighbours, solutions.nearest_neighbours), (C.check_nearest_neighbours, neighbours_cosine),
    (C.check_nearest_neighbours, neighbours_top_k),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_nearest_neighbours, NEIGHBOUR_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_nearest_neighbours, "nearest_neighbours", solutions.nearest_neighbours,
     "course_utils.exercises.solutions.nearest_neighbours"),
    ]

WRONG_KINDS = [
(C.check_nearest_neighbours, _NONE, "Expected an array of k=5 indices, got None"),
    (C.check_nearest_neighbours, _returns(3.0), "Expected a 1-D array of shape (5,), got shape ()"),
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
