"""Lesson 9 check: who_is_it."""
from __future__ import annotations


import numpy as np

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import NONE, exercise_tests


# --- who_is_it ---------------------------------------------------------------------------------

def _who(mode="right"):
    def who_is_it(embedding, db_embeddings, db_names, threshold, k=3):
        d = np.sum((np.asarray(db_embeddings, dtype=np.float64) - np.asarray(embedding, dtype=np.float64)) ** 2, axis=1)
        per_person = {}
        for name, x in zip(db_names, d):
            per_person.setdefault(str(name), []).append(float(x))
        reduce = np.mean if mode == "mean" else min
        top_k = sorted(((n, float(reduce(xs))) for n, xs in per_person.items()), key=lambda item: item[1],
                       reverse=mode == "descending")[:k]
        if mode == "duplicates":
            top_k = sorted(((str(n), float(x)) for n, x in zip(db_names, d)), key=lambda item: item[1])[:k]
        name, distance = top_k[0]
        if mode == "never unknown":
            return name, top_k
        accepted = (distance > threshold if mode == "inverted" else distance < threshold if mode == "strict"
                    else distance <= threshold)
        return (name if accepted else "unknown"), top_k
    return who_is_it


def _answer_from_rows(d, db_names, threshold, k, reduce=min):
    """The usual end of an answer from per-row distances ``d``: each person's distance (``reduce``
    over their rows), the ``k`` closest people (all when ``k`` is None), then the threshold."""
    per_person = {}
    for name, x in zip(db_names, d):
        per_person.setdefault(name, []).append(float(x))
    top_k = sorted(((n, reduce(xs)) for n, xs in per_person.items()), key=lambda item: item[1])[:k]
    return (top_k[0][0] if top_k[0][1] <= threshold else "unknown"), top_k


def who_fixed_three(embedding, db_embeddings, db_names, threshold, k=3):
    return _answer_from_rows(((db_embeddings - embedding) ** 2).sum(axis=1), db_names, threshold, 3)


def who_everyone(embedding, db_embeddings, db_names, threshold, k=3):
    return _answer_from_rows(((db_embeddings - embedding) ** 2).sum(axis=1), db_names, threshold, None)


def who_farthest_photo(embedding, db_embeddings, db_names, threshold, k=3):
    return _answer_from_rows(((db_embeddings - embedding) ** 2).sum(axis=1), db_names, threshold, k, reduce=max)


def who_norm(embedding, db_embeddings, db_names, threshold, k=3):
    return _answer_from_rows(np.linalg.norm(db_embeddings - embedding, axis=1), db_names, threshold, k)


def who_in_place(embedding, db_embeddings, db_names, threshold, k=3):
    db_embeddings -= embedding                    # scratch space: the caller's array
    return _answer_from_rows((db_embeddings ** 2).sum(axis=1), db_names, threshold, k)


def who_vectorised(embedding, db_embeddings, db_names, threshold, k=3):
    d = np.sum((np.asarray(db_embeddings) - np.asarray(embedding)) ** 2, axis=1)
    names = np.asarray(db_names)
    people = np.unique(names)
    per_person = np.array([d[names == p].min() for p in people])
    order = np.argsort(per_person)[:k]
    top_k = [(str(people[i]), float(per_person[i])) for i in order]
    return (top_k[0][0] if top_k[0][1] <= threshold else "unknown"), top_k


WHO_MISTAKES = {
    'the answer is never "unknown"': _who("never unknown"),
    "the threshold test is inverted": _who("inverted"),
    "the same person appears several times": _who("duplicates"),
    "farthest first": _who("descending"),
    "not the mean": _who("mean"),
    "`<` instead of `<=`": _who("strict"),
    "use the k argument": who_fixed_three,
    "top_k lists every person": who_everyone,
    "not the max": who_farthest_photo,
    "Euclidean instead of squared distance": who_norm,
    "changes its input db_embeddings in place": who_in_place,
}


def who_array_methods(embedding, db_embeddings, db_names, threshold, k=3):
    """Array methods (``.sum``), as the docstring's "NumPy" invites: the inputs must be arrays."""
    d = ((db_embeddings - embedding) ** 2).sum(1)
    best = {}
    for name, x in zip(db_names, d.tolist()):
        best[name] = min(best.get(name, x), x)
    top_k = sorted(best.items(), key=lambda item: item[1])[:k]
    return (top_k[0][0] if top_k[0][1] <= threshold else "unknown"), top_k


def who_expanded_matmul(embedding, db_embeddings, db_names, threshold, k=3):
    """NumPy with the ‖a‖² − 2a·b + ‖b‖² expansion and one matrix product (another rounding path)."""
    db, q = np.asarray(db_embeddings, dtype=np.float64), np.asarray(embedding, dtype=np.float64)
    d = (db * db).sum(1) - 2 * db @ q + q @ q
    best = {}
    for name, x in zip(db_names, d):
        best[str(name)] = min(best.get(str(name), np.inf), float(x))
    top_k = sorted(best.items(), key=lambda item: item[1])[:k]
    return (top_k[0][0] if top_k[0][1] <= threshold else "unknown"), top_k




CORRECT = [
(C.check_who_is_it, solutions.who_is_it), (C.check_who_is_it, _who()), (C.check_who_is_it, who_vectorised),
(C.check_who_is_it, who_expanded_matmul), (C.check_who_is_it, who_array_methods),
]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_who_is_it, WHO_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_who_is_it, "who_is_it", solutions.who_is_it, "course_utils.exercises.solutions.who_is_it"),
]

WRONG_KINDS = [
(C.check_who_is_it, NONE, "Expected a pair (name, top_k), got None"),
    (C.check_who_is_it, lambda e, db, names, t, k=3: ("Ada", {"Ada": 0.1}), "not a dict"),
]


globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS))
