"""Lesson 7 — the embedding space: ``check_nearest_neighbours``.

``nearest_neighbours(query, gallery, k=5)`` → ``(k,)`` int indices, closest first. Mistakes named:
farthest first (or the last k of an ascending sort); the closest row skipped (as if the query were
in the gallery); the sum over the wrong axis; absolute instead of squared differences; ties the
wrong way round (the docstring: smaller index first); k ± 1 items or a fixed 5; distances instead
of indices; the right top-k but unsorted; shape ``(1, k)``; a list, not an array. Cosine
similarity (descending) is correct for the unit-length test inputs.
"""
from __future__ import annotations

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF

_NEIGHBOURS_HINTS = (
    'Inputs: a query (dim,) and a gallery (N, dim), NumPy arrays. Output: an int array of the k gallery row indices closest to the query by squared distance, closest first; ties go to the smaller index.',
    'The key operations: broadcasting the query against the gallery, a sum of squares along axis 1 (N distances), then np.argsort with a stable kind and the first k entries.',
)


def _neighbour_cases(rng) -> list[h.Case]:
    plan = [  # (M, D, k or None = default 5, dtype, exact ties?)
        (5, 3, None, np.float32, False),
        (12, 16, 3, np.float64, True),
        (40, 64, 5, np.float32, True),
        (8, 3, 1, np.float64, False),
        (20, 16, 7, np.float32, False),
        (30, 8, None, np.float64, True),
        (6, 64, 2, np.float32, True),
        (15, 4, 4, np.float64, False),
        (10, 16, 5, np.float64, "ties"),     # exact ties: the smaller index comes first
        (12, 4, None, np.float32, "ties"),
    ]
    cases = []
    for m, dim, k, dtype, ties in plan:
        kk = 5 if k is None else k
        if ties:
            # Entries ±1/√D (D = 4 or 16): exactly unit length, and every distance, dot product and
            # norm is exact, so equal rows tie exactly however the distances are computed.
            while True:
                query = rng.choice([-1.0, 1.0], size=dim) / np.sqrt(dim)
                gallery = rng.choice([-1.0, 1.0], size=(m, dim)) / np.sqrt(dim)
                dist = np.sum((gallery - query) ** 2, axis=1)
                top = np.sort(dist)[:kk + 1]
                if len(np.unique(top)) < len(top):        # a tie inside the top k (or at its edge)
                    break
            query, gallery = query.astype(dtype), gallery.astype(dtype)
        else:
            gap = 0.0
            while gap < 1e-3:                    # no near-ties in the order
                query = h.unit_rows(rng.normal(size=dim)).astype(dtype)
                gallery = h.unit_rows(rng.normal(size=(m, dim))).astype(dtype)
                dist = np.sum((gallery.astype(np.float64) - query.astype(np.float64)) ** 2, axis=1)
                gap = float(np.min(np.diff(np.sort(dist))))
        args = (query, gallery)                  # NumPy arrays, as the docstring promises
        if k is not None:
            args += (k,)
        diff = gallery.astype(np.float64) - query.astype(np.float64)
        cases.append(h.Case(args=args, names=("query", "gallery", "k"), size=m * dim,
                           data={"dist": dist, "k": kk, "dim": dim,
                                 "l1": np.sum(np.abs(diff), axis=1),             # what the usual wrong
                                 "by_dimension": np.sum(diff ** 2, axis=0)},     # measures give
                           expected=np.argsort(dist, kind="stable")[:kk], diagnose=True))
    return cases


def _neighbour_result(raw, case: h.Case) -> np.ndarray:
    k, dist = case.data["k"], case.data["dist"]
    if raw is None:
        raise h.Bad(f"Expected an array of k={k} indices, got None. Did you forget `return`?")
    if isinstance(raw, (list, tuple)):
        raise h.Bad(f"Expected a NumPy array of k={k} indices, got a Python {type(raw).__name__}: "
                    "return np.array(...) (or the np.argsort result itself), as the docstring says.")
    try:
        arr = h.as_array(raw)
    except Exception:  # noqa: BLE001
        raise h.Bad(f"Expected an array of k={k} indices, got {h.kind(raw)}.") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        raise h.Bad(f"You returned shape {arr.shape}; expected a 1-D array of shape ({k},): take row [0] "
                   "(or reshape(-1)) — the query is one vector, so there is one list of neighbours.")
    if arr.ndim != 1:
        raise h.Bad(f"Expected a 1-D array of shape ({k},), got shape {arr.shape}.")
    if arr.dtype.kind == "f":
        if len(arr) == k and np.allclose(np.sort(arr), np.sort(dist)[:k], atol=1e-4):
            raise h.Bad("You returned the distances instead of the indices: np.argsort(distances)[:k] gives "
                       "the positions of the closest rows (np.sort gives the distances themselves).")
        if not np.all(arr == np.round(arr)):
            raise h.Bad(f"Expected integer indices (positions in the gallery), got floats: {h.fmt(arr)}.")
    elif arr.dtype.kind not in "iu":
        raise h.Bad(f"Expected integer indices, got dtype {arr.dtype}.")
    if len(arr) != k:
        if len(arr) == k - 1 and len(arr) and np.array_equal(dist[arr], np.sort(dist)[1:k]):
            raise h.Bad(_SKIPPED_CLOSEST)
        if len(arr) == case.data["dim"] and len(arr) < k:
            raise h.Bad(_WRONG_AXIS)
        if len(arr) == 5 and k != 5:
            raise h.Bad(f"You returned 5 indices; expected k={k}: use the k argument (5 is only its default).")
        if abs(len(arr) - k) == 1:
            raise h.Bad(f"You returned {len(arr)} indices; expected exactly k={k}. Slice with [:k] — a Python "
                       "slice excludes its end, so [:k] has k items.")
        raise h.Bad(f"Expected exactly k={k} indices, got {len(arr)}.")
    return arr.astype(np.int64)


def _same_order(got, expected, case):
    return np.array_equal(got, expected)


_SKIPPED_CLOSEST = ("you skipped the closest row: the query is not one of the gallery's rows here, so the "
                    "closest row is part of the answer. Return np.argsort(distances)[:k], starting at 0.")
_WRONG_AXIS = ("the squared differences were summed over the wrong axis: axis=1 (the embedding axis) "
               "gives one distance per gallery row, (N,); axis=0 gives one number per dimension.")


def _same_values_of(key):
    """The same values of ``case.data[key]`` in the same order (equal values may swap indices)."""
    def same(got, expected, case):
        values = case.data[key]
        return (len(got) == len(expected) and bool(np.all((got >= 0) & (got < len(values))))
                and np.array_equal(values[got], values[expected]))
    return same


_same_distances = _same_values_of("dist")     # the same distances in the same order


def _neighbour_mistakes():
    mistakes = [
        h.Mistake(_SKIPPED_CLOSEST, lambda d: np.argsort(d["dist"], kind="stable")[1:d["k"] + 1],
                  same=_same_distances),
        h.Mistake("the last k of an ascending sort are the FARTHEST rows: take the first k, "
                  "np.argsort(distances)[:k].", lambda d: np.argsort(d["dist"], kind="stable")[-d["k"]:],
                  same=_same_distances),
        h.Mistake(_WRONG_AXIS, lambda d: np.argsort(d["by_dimension"], kind="stable")[:d["k"]],
                  same=_same_values_of("by_dimension")),
        h.Mistake("absolute differences instead of squared ones: the course ranks by the squared distance, "
                  "the sum of (g − q)² over the embedding axis, not of |g − q|.",
                  lambda d: np.argsort(d["l1"], kind="stable")[:d["k"]], same=_same_values_of("l1")),
        h.Mistake("these are the FARTHEST rows: sort by increasing distance (np.argsort(distances)[:k]); "
                 "if you sort similarities instead, reverse them (np.argsort(-similarities)[:k]).",
                 lambda d: np.argsort(-d["dist"], kind="stable")[:d["k"]], same=_same_distances),
        h.Mistake("equally close rows are in the wrong order: ties go smaller index first. "
                  "np.argsort(distances, kind=\"stable\")[:k] keeps them so; reversing an ascending sort "
                  "(of similarities, say) turns ties the other way round.",
                  lambda d: np.argsort(d["dist"], kind="stable")[:d["k"]], same=_same_distances),
        h.Mistake("the right k neighbours but not in order: list them closest first. np.argpartition does "
                 "not sort; use np.argsort(distances)[:k].", lambda d: np.argsort(d["dist"])[:d["k"]],
                 same=lambda got, exp, case: set(got.tolist()) == set(exp.tolist())),
    ]
    return mistakes


NEAREST_NEIGHBOURS = h.FunctionExercise(
    grade_id="ex_nearest_neighbours_check", lesson="07", name="nearest_neighbours",
    answer_names=("nearest_neighbours",), make_cases=_neighbour_cases, convert=_neighbour_result,
    same=_same_order, mistakes=_neighbour_mistakes,
    advice="Print the distances for the example and check the order of the indices you return.",
    hints=_NEIGHBOURS_HINTS, reference=CF("course_utils.exercises.solutions", "nearest_neighbours"),
    forbidden=(CF("course_utils.exercises.solutions", "nearest_neighbours"), CF("course_utils.index", "KeyIndex.search"),
               CF("course_utils.metrics", "_identity_distances")))


def check_nearest_neighbours(fn, seed: int | None = None):
    """Check ``nearest_neighbours(query, gallery, k=5)`` → ``(k,)`` int indices, closest first."""
    return h.check(NEAREST_NEIGHBOURS, fn, seed=seed)
