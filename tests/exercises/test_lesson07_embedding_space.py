"""Lesson 7 check: nearest_neighbours."""
from __future__ import annotations


import numpy as np
import tensorflow as tf

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import NONE, exercise_tests, returns


# --- nearest neighbours ------------------------------------------------------------------------

def _neighbour_distances(query, gallery):
    return np.sum((np.asarray(gallery, dtype=np.float64) - np.asarray(query, dtype=np.float64)) ** 2, axis=1)


def neighbours_cosine(query, gallery, k=5):
    return np.argsort(-(np.asarray(gallery) @ np.asarray(query)), kind="stable")[:k]


def neighbours_top_k(query, gallery, k=5):
    return tf.math.top_k(-tf.reduce_sum(tf.square(gallery - query), axis=1), k=k).indices


def _neighbours_unsorted(query, gallery, k=5):
    d = _neighbour_distances(query, gallery)
    return np.argpartition(d, k - 1)[:k][::-1]


def neighbours_skip_self(query, gallery, k=5):
    d = np.sum((gallery - query) ** 2, axis=1)
    return np.argsort(d)[1:k + 1]                 # "the first one is the query itself"


def neighbours_last_k(query, gallery, k=5):
    return np.argsort(np.linalg.norm(gallery - query, axis=1))[-k:]


def neighbours_axis0(query, gallery, k=5):
    return np.argsort(np.sum((gallery - query) ** 2, axis=0))[:k]


def neighbours_manhattan(query, gallery, k=5):
    return np.argsort(np.abs(gallery - query).sum(axis=1), kind="stable")[:k]


def neighbours_fixed_five(query, gallery, k=5):
    return np.argsort(((gallery - query) ** 2).sum(1), kind="stable")[:5]


def neighbours_in_place(query, gallery, k=5):
    gallery -= query                              # reuses the input as scratch space
    return np.argsort((gallery ** 2).sum(axis=1), kind="stable")[:k]


NEIGHBOUR_MISTAKES = {
    "you skipped the closest row": neighbours_skip_self,
    "the last k of an ascending sort": neighbours_last_k,
    "summed over the wrong axis": neighbours_axis0,
    "absolute differences instead of squared ones": neighbours_manhattan,
    "use the k argument": neighbours_fixed_five,
    "changes its input gallery in place": neighbours_in_place,
    "these are the FARTHEST rows": lambda q, g, k=5: np.argsort(_neighbour_distances(q, g))[::-1][:k],
    "expected exactly k=": lambda q, g, k=5: np.argsort(_neighbour_distances(q, g))[:k + 1],
    "the distances instead of the indices": lambda q, g, k=5: np.sort(_neighbour_distances(q, g))[:k],
    "not in order": _neighbours_unsorted,
    "take row [0]": lambda q, g, k=5: solutions.nearest_neighbours(q, g, k)[None, :],
    # cosine similarity sorted ascending, then reversed: right order, ties the wrong way round
    "equally close rows are in the wrong order": lambda q, g, k=5: np.argsort(g @ q, kind="stable")[::-1][:k],
}


def neighbours_array_methods(query, gallery, k=5):
    """Array methods on the inputs, as students write NumPy (the docstring promises arrays)."""
    return ((gallery - query) ** 2).sum(1).argsort(kind="stable")[:k]




CORRECT = [
(C.check_nearest_neighbours, solutions.nearest_neighbours), (C.check_nearest_neighbours, neighbours_cosine),
    (C.check_nearest_neighbours, neighbours_top_k), (C.check_nearest_neighbours, neighbours_array_methods),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_nearest_neighbours, NEIGHBOUR_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_nearest_neighbours, "nearest_neighbours", solutions.nearest_neighbours,
     "course_utils.exercises.solutions.nearest_neighbours"),
    ]

WRONG_KINDS = [
(C.check_nearest_neighbours, NONE, "Expected an array of k=5 indices, got None"),
    (C.check_nearest_neighbours, returns(3.0), "Expected a 1-D array of shape (5,), got shape ()"),
    (C.check_nearest_neighbours, lambda q, g, k=5: solutions.nearest_neighbours(q, g, k).tolist(),
     "got a Python list"),
    ]


globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS))
