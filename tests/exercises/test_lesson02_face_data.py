"""Lesson 2 check: split_people."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import failure


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




def _id(value):
    return getattr(value, "__name__", None) or str(value)[:40]


def _returns(value):
    def student(*args, **kwargs):
        return value
    return student


_NONE = _returns(None)

CORRECT = [
(C.check_split_people, solutions.split_people), (C.check_split_people, split_legacy_seed),
    (C.check_split_people, split_python),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_split_people, SPLIT_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_split_people, "split_people", solutions.split_people, "course_utils.exercises.solutions.split_people"),
    ]

WRONG_KINDS = [
(C.check_split_people, _NONE, "Expected a pair (train_idx, test_idx), got None"),
    (C.check_split_people, lambda labels, **kw: (np.arange(len(labels)), None), "test_idx is None"),
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
