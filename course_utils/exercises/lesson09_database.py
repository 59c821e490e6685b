"""Lesson 9 — a face database: ``check_who_is_it``.

``who_is_it(embedding, db_embeddings, db_names, threshold, k=3)`` → ``(name or "unknown", top_k)``
with ``top_k`` a list of ``(name, distance)``, one per person, closest first. Mistakes named:
never "unknown"; threshold test inverted; `<` for `<=`; the same person several times in ``top_k``; ``top_k``
farthest first, of a fixed 3 or of everyone; mean or max instead of min over a person's rows;
Euclidean instead of squared distances.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF

_WHO_HINTS = (
    'A person may have several rows in the database: their distance is the SMALLEST squared distance over their rows. Return (answer, top): top is the k closest people as (name, distance) pairs, closest first; answer is the closest name, or "unknown" when its distance is greater than the threshold (exactly at the threshold is known).',
    'The key operations: broadcasting the embedding against the (rows, dim) array, a sum of squares along axis 1, min per name (a dict or np.minimum.at), sorted with a key, and one <= comparison.',
)


def _who_cases(rng) -> list[h.Case]:
    from course_utils.exercises.solutions import who_is_it
    plan = [  # (people, D, k or None, dtype, names as np.array?, unused, known?)
        (4, 16, None, np.float32, False, False, True),
        (3, 8, 1, np.float64, True, False, False),
        (6, 32, 5, np.float32, False, True, True),
        (4, 16, 5, np.float64, False, False, True),
        (5, 8, 2, np.float32, True, False, False),
        (6, 16, None, np.float64, False, True, False),
        (3, 32, 3, np.float32, False, False, True),
        (5, 16, 4, np.float64, False, False, True),
        (4, 16, 2, np.float64, False, False, "equal"),    # the closest person exactly at the threshold ...
        (5, 8, None, np.float32, False, True, "equal"),   # ... is known: distance <= threshold
    ]
    cases = []
    for people, dim, k, dtype, as_array, _, known in plan:
        gap = 0.0
        while gap < 1e-3:
            names = [str(n) for n in rng.choice(h.NAMES, size=people, replace=False)]
            counts = rng.integers(1, 5, size=people)
            counts[0] = max(counts[0], 3)
            centres = h.unit_rows(rng.normal(size=(people, dim)))
            owner = rng.permutation(np.repeat(np.arange(people), counts))
            db = h.unit_rows(centres[owner] + 0.35 * rng.normal(size=(len(owner), dim))).astype(dtype)
            if known:
                query = h.unit_rows(centres[0] + 0.25 * rng.normal(size=dim)).astype(dtype)
            else:
                query = h.unit_rows(rng.normal(size=dim)).astype(dtype)
            if known == "equal":     # multiples of 1/64: every way of computing the distances is exact
                db, query = (np.round(x.astype(np.float64) * 64) / 64 for x in (db, query))
                db, query = db.astype(dtype), query.astype(dtype)
            rows = np.sum((db.astype(np.float64) - query.astype(np.float64)) ** 2, axis=1)
            per_person = np.array([rows[owner == p].min() for p in range(people)])
            means = np.array([rows[owner == p].mean() for p in range(people)])
            gap = min(np.min(np.diff(np.sort(per_person))), np.min(np.diff(np.sort(means))))
        best = float(per_person.min())
        second = float(np.sort(per_person)[1])
        if known == "equal":
            threshold = best
        elif known:
            threshold = round(best + float(rng.uniform(0.2, 0.8)) * (second - best), 4)
        else:
            threshold = round(best * float(rng.uniform(0.5, 0.9)), 4)
        db_names = [names[p] for p in owner]
        names_arg = np.array(db_names) if as_array else db_names
        args = (query, db, names_arg, threshold)   # NumPy arrays, as the docstring promises
        if k is not None:
            args += (k,)
        name, top_k = who_is_it(query.astype(np.float64), db.astype(np.float64), db_names, threshold,
                                3 if k is None else k)
        data = {"rows": rows, "row_names": db_names, "threshold": threshold, "k": 3 if k is None else k}
        cases.append(h.Case(args=args, names=("embedding", "db_embeddings", "db_names", "threshold", "k"),
                           data=data, expected=(str(name), tuple((str(n), float(x)) for n, x in top_k)),
                           size=db.size, tol=1e-4 if dtype == np.float32 else 1e-8))
    return cases


def _who_result(raw, case: h.Case) -> tuple:
    name, top_k = h.pair(raw, "(name, top_k)")
    if name is None:
        raise h.Bad('For a face that matches nobody, return the string "unknown" as the name, not None.')
    if not isinstance(name, (str, np.str_)):
        raise h.Bad(f"Expected a name (a string) first, got {h.kind(name)} {h.fmt(name)}.")
    if isinstance(top_k, dict):
        raise h.Bad("top_k should be a list of (name, distance) pairs, closest first — not a dict "
                   "(a dict has no reliable order to read the ranking from): sorted(d.items(), key=...)[:k].")
    if h.is_tensor(top_k) or isinstance(top_k, np.ndarray):
        top_k = [tuple(row) for row in h.as_array(top_k).tolist()] if h.as_array(top_k).ndim == 2 else h.as_array(top_k).tolist()
    if not isinstance(top_k, (list, tuple)):
        raise h.Bad(f"top_k should be a list of (name, distance) pairs, got {h.kind(top_k)}.")
    pairs = []
    for item in top_k:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise h.Bad(f"Each entry of top_k should be a (name, distance) pair, got {h.fmt(item)}.")
        if not isinstance(item[0], (str, np.str_)):
            raise h.Bad(f"Each entry of top_k should be (name, distance) with the name first, got {h.fmt(tuple(item))}.")
        pairs.append((str(item[0]), h.float_scalar(item[1], "distance in top_k")))
    return str(name), tuple(pairs)


def _same_who(got, expected, case) -> bool:
    if got[0] != expected[0] or len(got[1]) != len(expected[1]):
        return False
    return all(a[0] == b[0] and math.isclose(a[1], b[1], rel_tol=1e-5, abs_tol=case.tol)
               for a, b in zip(got[1], expected[1]))


def _who_mistakes():
    def people(data, reduce=min):
        per = {}
        for name, x in zip(data["row_names"], data["rows"]):
            per.setdefault(name, []).append(float(x))
        return {name: float(reduce(xs)) for name, xs in per.items()}

    def answer(top_k, threshold, inverted=False):
        name, x = top_k[0]
        accept = x <= threshold
        return (name if accept != inverted else "unknown"), tuple(top_k)

    def ranked(data, reduce=min, reverse=False, k=None):
        k = data["k"] if k is None else k
        return sorted(people(data, reduce).items(), key=lambda item: item[1], reverse=reverse)[:k]

    def fixed_three(data):
        return answer(ranked(data, k=3), data["threshold"])

    def everyone(data):
        return answer(ranked(data, k=len(set(data["row_names"]))), data["threshold"])

    def farthest_photo(data):
        return answer(ranked(data, reduce=max), data["threshold"])

    def euclidean(data):
        top = [(name, math.sqrt(x)) for name, x in ranked(data)]
        squared = answer(ranked(data), data["threshold"])[0]
        return h.AnyOf((answer(top, data["threshold"]), (squared, tuple(top))))

    def never_unknown(data):
        top = ranked(data)
        return top[0][0], tuple(top)

    def inverted(data):
        return answer(ranked(data), data["threshold"], inverted=True)

    def duplicates(data):
        rows = sorted(zip(data["row_names"], data["rows"].tolist()), key=lambda item: item[1])[:data["k"]]
        return answer(rows, data["threshold"])

    def descending(data):
        top = ranked(data, reverse=True)
        closest = answer(ranked(data), data["threshold"])[0]
        return h.AnyOf((answer(top, data["threshold"]), (closest, tuple(top))))

    def mean(data):
        return answer(ranked(data, reduce=np.mean), data["threshold"])

    def strict(data):
        top = ranked(data)
        return (top[0][0] if top[0][1] < data["threshold"] else "unknown"), tuple(top)

    mistakes = [
        h.Mistake('the answer is never "unknown": if the closest person\'s distance > threshold, the '
                 'name must be "unknown" (top_k is still listed).', never_unknown),
        h.Mistake('the threshold test is inverted: the name when distance <= threshold, "unknown" when '
                 'distance > threshold.', inverted),
        h.Mistake("the same person appears several times in top_k: rank PEOPLE, not rows — first take each "
                 "person's distance (the min over their rows), then sort the people.", duplicates),
        h.Mistake("top_k is sorted farthest first: sort by increasing distance (closest first).", descending),
        h.Mistake("a person's distance is the MIN over their rows (their closest photo), not the mean.", mean),
        h.Mistake("`<` instead of `<=`: a face exactly at the threshold is known (the course's convention "
                  "is distance <= threshold).", strict),
        h.Mistake("top_k always has 3 people: use the k argument (3 is only its default), top[:k].", fixed_three),
        h.Mistake("top_k lists every person: keep only the k closest (sorted(...)[:k]).", everyone),
        h.Mistake("a person's distance is the MIN over their rows (their closest photo), not the max.",
                  farthest_photo),
        h.Mistake("Euclidean instead of squared distance: do not take the square root (np.linalg.norm gives "
                  "‖a − b‖; the course compares ‖a − b‖² with the threshold).", euclidean),
    ]
    return mistakes


WHO_IS_IT = h.FunctionExercise(
    grade_id="ex_who_is_it_check", lesson="09", name="who_is_it", answer_names=("who_is_it",),
    make_cases=_who_cases, convert=_who_result, same=_same_who, mistakes=_who_mistakes,
    advice="Print each person's distance (min over their rows) for the example, sorted.",
    hints=_WHO_HINTS, reference=CF("course_utils.exercises.solutions", "who_is_it"),
    forbidden=(CF("course_utils.exercises.solutions", "who_is_it"), CF("course_utils.database", "FaceDatabase.identify"),
               CF("course_utils.database", "FaceDatabase.identify_batch")))


def check_who_is_it(fn, seed: int | None = None):
    """Check ``who_is_it(embedding, db_embeddings, db_names, threshold, k=3)`` → ``(name, top_k)``."""
    return h.check(WHO_IS_IT, fn, seed=seed)
