"""Lesson 2 check: split_people."""
from __future__ import annotations

import math

import numpy as np

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import NONE, exercise_tests, failure


# --- split_people ------------------------------------------------------------------------------

def split_legacy_seed(labels, test_fraction=0.25, seed=0):
    labels = np.asarray(labels)
    people = np.random.RandomState(seed).permutation(np.unique(labels))     # the legacy NumPy API
    test = np.isin(labels, people[:int(round(test_fraction * len(people)))])
    return np.where(~test)[0], np.where(test)[0]


def split_python(labels, test_fraction=0.25, seed=0):
    import random
    people = sorted(set(np.asarray(labels).tolist()))
    random.Random(seed).shuffle(people)
    test_people = set(people[:math.ceil(test_fraction * len(people))])
    test = [i for i, label in enumerate(labels) if label in test_people]
    train = [i for i, label in enumerate(labels) if label not in test_people]
    return np.array(train), np.array(test)


def _split_images_at_random(labels, test_fraction=0.25, seed=0):
    order = np.random.default_rng(seed).permutation(len(labels))
    k = int(round(test_fraction * len(labels)))
    return np.sort(order[k:]), np.sort(order[:k])


def _split_masks(labels, test_fraction=0.25, seed=0):
    train, test = solutions.split_people(labels, test_fraction, seed)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test] = True
    return ~mask, mask


def _split_person_ids(labels, test_fraction=0.25, seed=0):
    people = np.random.default_rng(seed).permutation(np.unique(labels))
    k = round(test_fraction * len(people))
    return people[k:], people[:k]


def _split_fraction_of_images(labels, test_fraction=0.25, seed=0):
    people = np.random.default_rng(seed).permutation(np.unique(labels))
    k = min(round(test_fraction * len(labels)), len(people) - 1)       # images, not people
    test = np.isin(labels, people[:k])
    return np.flatnonzero(~test), np.flatnonzero(test)


SPLIT_MISTAKES = {
    "have images on BOTH sides": _split_images_at_random,
    "boolean mask": _split_masks,
    "person ids": _split_person_ids,
    "another seed must give another split": lambda labels, test_fraction=0.25, seed=0: solutions.split_people(labels, test_fraction, 0),
    "the same seed must give the same split": lambda labels, test_fraction=0.25, seed=0: solutions.split_people(labels, test_fraction, np.random.randint(10**9)),
    "test_fraction is a share of the PEOPLE": _split_fraction_of_images,
    "every image must be in exactly one": lambda labels, test_fraction=0.25, seed=0: (np.arange(len(labels)), solutions.split_people(labels, test_fraction, seed)[1]),
    "the two sides look swapped": lambda labels, test_fraction=0.25, seed=0: solutions.split_people(labels, test_fraction, seed)[::-1],
}




CORRECT = [
(C.check_split_people, solutions.split_people), (C.check_split_people, split_legacy_seed),
    (C.check_split_people, split_python),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_split_people, SPLIT_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_split_people, "split_people", solutions.split_people, "course_utils.exercises.solutions.split_people"),
    ]

WRONG_KINDS = [
(C.check_split_people, NONE, "Expected a pair (train_idx, test_idx), got None"),
    (C.check_split_people, lambda labels, **kw: (np.arange(len(labels)), None), "test_idx is None"),
    ]


globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS))


# --- issue 12: false accepts ------------------------------------------------------------------------

def _split_int_fraction(labels, test_fraction=0.25, seed=0):
    people = np.unique(labels)
    rng = np.random.default_rng(seed)
    test_people = rng.permutation(people)[:int(len(people) * test_fraction)]
    in_test = np.isin(labels, test_people)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def _split_assumes_labels_0_to_n(labels, test_fraction=0.25, seed=0):
    n = int(np.max(labels)) + 1 if len(labels) else 0
    n_people = len(np.unique(labels))
    rng = np.random.default_rng(seed)
    test_people = rng.permutation(n_people)[:max(1, round(n_people * test_fraction))]   # ids 0..n-1 assumed
    in_test = np.isin(labels, test_people)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def test_int_of_the_fraction_without_a_minimum_is_rejected():
    message = failure(C.check_split_people, _split_int_fraction)
    assert "the test side is empty" in message and "round" in message, message


def test_labels_that_are_not_0_to_n_minus_1_are_tested():
    assert "not right yet" in failure(C.check_split_people, _split_assumes_labels_0_to_n)
