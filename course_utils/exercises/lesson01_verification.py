"""Lesson 1 — verification and recognition: ``check_verify`` and ``check_identify``.

Both checks build a small random "world": a few people, one photo each enrolled in a database
(name → embedding), and a deterministic fake encoder (:class:`~course_utils.exercises.protocol.
FakeEncoder`) whose squared distances are exact, so a test can put the threshold exactly on a
distance. Conventions: squared Euclidean distance; same person ⇔ ``distance <= threshold``.

* ``verify(image, claimed_name, database, encoder, threshold)`` → ``(accepted, distance)``.
* ``identify(image, database, encoder, threshold)`` → ``(name or "unknown", distance)``.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF
from course_utils.exercises.protocol import FakeEncoder


def _face_world(rng, n_people: int, dim: int, size: int, as_tensor: bool):
    encoder = FakeEncoder(rng.normal(size=(size * size * 3, dim)), (size, size, 3), as_tensor)
    names = [str(n) for n in rng.choice(h.NAMES, size=n_people, replace=False)]
    bases = rng.uniform(0, 255, size=(n_people, size, size, 3))
    database = {name: encoder.predict(base[None])[0] for name, base in zip(names, bases)}
    return encoder, names, bases, database


def _photo(rng, base, noise: float, uint8: bool):
    image = np.clip(base + rng.normal(0.0, noise, size=base.shape), 0, 255)
    return image.round().astype(np.uint8) if uint8 else image.astype(np.float32)


def _distances(embedding, database) -> dict:
    e = np.asarray(embedding, dtype=np.float64)
    return {name: float(np.sum((e - np.asarray(key, dtype=np.float64)) ** 2)) for name, key in database.items()}


def _other_measures(embedding, database) -> dict:
    """What the usual wrong measures give per person: the mean (not the sum) of the squared
    differences, the sum of absolute differences, and the dot product (a similarity)."""
    e = np.asarray(embedding, dtype=np.float64)
    keys = {name: np.asarray(key, dtype=np.float64) for name, key in database.items()}
    return {"mean": {n: float(np.mean((e - k) ** 2)) for n, k in keys.items()},
            "l1": {n: float(np.sum(np.abs(e - k))) for n, k in keys.items()},
            "dot": {n: float(e @ k) for n, k in keys.items()}}


def _encodes_one_image(cases, results, outputs) -> str | None:
    """The text says "encode once": one image in, so the encoder embeds exactly one image per call."""
    for record in outputs.get("records", []):
        seen = record.get("encoded")
        if seen is not None and seen != 1:
            return (f"the encoder embedded {seen} images for one photo. Encode the image once, before "
                    "comparing (one encoder call with a batch of one image), then compare that one "
                    "embedding with the stored ones: the encoder is the expensive step.")
    return None


_MEASURE_HINTS = {
    "mean": "np.mean instead of np.sum: the squared distance is the SUM of the squared differences over "
            "the embedding axis, not their mean (the mean divides it by the embedding size).",
    "l1": "absolute differences instead of squared ones: the squared distance is the sum of (a − b)², "
          "not of |a − b|.",
    "dot": "a similarity (the dot product) instead of a distance: the course compares the squared "
           "distance ‖a − b‖² with the threshold, and a SMALL distance means the same person.",
}


def _bool_scalar(raw, what: str) -> bool:
    if isinstance(raw, (bool, np.bool_)):
        return bool(raw)
    if h.is_tensor(raw) or isinstance(raw, np.ndarray):
        arr = h.as_array(raw)
        if arr.dtype == bool and arr.shape == ():
            return bool(arr)
        raise h.Bad(f"Expected True/False for {what}, got {h.kind(raw)} of dtype {arr.dtype} and shape {arr.shape}.")
    raise h.Bad(f"Expected True/False for {what}, got {h.kind(raw)} {h.fmt(raw)}. Compare: distance <= threshold.")


def _is_number(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    if h.is_tensor(x) or isinstance(x, np.ndarray):
        arr = h.as_array(x)
        return arr.shape == () and arr.dtype.kind in "iuf"
    return False


def _is_boolish(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return True
    if h.is_tensor(x) or isinstance(x, np.ndarray):
        arr = h.as_array(x)
        return arr.shape == () and arr.dtype == bool
    return False


def _distance(raw) -> float:
    if raw is None:
        raise h.Bad("The distance is None: return the distance you computed (a number) in every case, "
                    "also when the answer is a rejection or \"unknown\" — it says how far off the face was.")
    return h.float_scalar(raw, "distance")


def _verify_result(raw, case: h.Case) -> tuple:
    first, second = h.pair(raw, "(accepted, distance)")
    if _is_number(first) and _is_boolish(second):
        raise h.Bad("The two results are in the wrong order: you returned (distance, accepted); "
                   "return (accepted, distance).")
    return _bool_scalar(first, "accepted"), _distance(second)


def _same_decision_and_distance(got, expected, case) -> bool:
    return got[0] == expected[0] and math.isclose(got[1], expected[1], rel_tol=1e-5, abs_tol=case.tol)


_VERIFY_HINTS = (
    'Return a pair (accepted, distance): the squared distance between the embedding of this one image and the stored embedding of the claimed person (a float), and whether that distance is at most the threshold (a bool). The encoder takes a batch, so give it a batch of one image and take row 0.',
    'The key operations: add a batch axis, call the encoder, look up the claimed name in the database, then a sum of squared differences over the embedding axis, compared with <=.',
)


def _verify_cases(rng) -> list[h.Case]:
    from course_utils.exercises.solutions import verify
    plan = [  # (people, D, image size, uint8?, encoder returns tensor?, kind)
        (3, 8, 4, False, True, "genuine-accept"),
        (4, 16, 6, True, False, "impostor-reject"),
        (5, 32, 4, False, True, "equal"),
        (3, 16, 4, True, True, "genuine-reject"),
        (4, 8, 6, False, False, "impostor-accept"),
        (5, 16, 4, False, True, "genuine-accept"),
        (3, 32, 6, True, True, "impostor-reject"),
        (4, 16, 4, False, False, "equal"),
    ]
    cases = []
    for people, dim, size, uint8, as_tensor, kind in plan:
        encoder, names, bases, database = _face_world(rng, people, dim, size, as_tensor)
        claimed = names[int(rng.integers(people))]
        if kind.startswith("genuine") or kind == "equal":
            image = _photo(rng, bases[names.index(claimed)], 12.0, uint8)
        else:                                    # someone else claims to be `claimed`
            other = names[(names.index(claimed) + 1 + int(rng.integers(people - 1))) % people]
            image = _photo(rng, bases[names.index(other)], 12.0, uint8)
        embedding = encoder.predict(image[None])[0]
        if kind == "equal":                      # the claimed key at distance exactly 0.25
            key = embedding.copy()
            key[int(rng.integers(dim))] += np.float32(0.5)
            database[claimed] = key
        dists = _distances(embedding, database)
        measures = _other_measures(embedding, database)
        d = dists[claimed]
        if kind == "equal":
            threshold = 0.25
        elif kind.endswith("accept"):
            threshold = round(d + float(rng.uniform(0.05, 0.3)), 3)
        else:
            threshold = round(max(d - float(rng.uniform(0.02, 0.3)), d / 2), 3)
        args = (image, claimed, database, encoder, threshold)
        accepted, distance = verify(*args)
        cases.append(h.Case(args=args, names=("image", "claimed_name", "database", "encoder", "threshold"),
                           data={"dists": dists, "claimed": claimed, "threshold": threshold, **measures},
                           expected=(bool(accepted), float(distance)), size=size * size * 3 + people * dim,
                           tol=1e-5))
    return cases


def _verify_mistakes():
    def gt(d):
        x = d["dists"][d["claimed"]]
        return x > d["threshold"], x

    def lt(d):
        x = d["dists"][d["claimed"]]
        return x < d["threshold"], x

    def euclidean(d):
        x = math.sqrt(d["dists"][d["claimed"]])
        return x <= d["threshold"], x

    def closest(d):
        x = min(d["dists"].values())
        return x <= d["threshold"], x

    def measure(which):
        def variant(d):
            x = d[which][d["claimed"]]
            return h.AnyOf(((x <= d["threshold"], x), (x >= d["threshold"], x)))
        return variant

    mistakes = [
        h.Mistake("the comparison is reversed (distance > threshold): a SMALL distance means the same "
                 "person, so accept when distance <= threshold.", gt),
        h.Mistake("`<` instead of `<=`: a distance exactly equal to the threshold must be accepted "
                 "(the course's convention is distance <= threshold).", lt),
        h.Mistake("Euclidean instead of squared distance: do not take the square root (np.linalg.norm "
                 "gives ‖a − b‖; square it, or use np.sum((a - b) ** 2)).", euclidean),
        h.Mistake("you compared with the closest person in the database instead of the claimed one: "
                 "verification only looks at database[claimed_name].", closest),
        *(h.Mistake(hint, measure(which)) for which, hint in _MEASURE_HINTS.items()),
    ]
    return mistakes


VERIFY = h.FunctionExercise(
    grade_id="ex_verify_check", lesson="01", name="verify", answer_names=("verify",),
    make_cases=_verify_cases, convert=_verify_result, same=_same_decision_and_distance,
    mistakes=_verify_mistakes, requirements=(_encodes_one_image,),
    advice="Check the distance first (squared, to the claimed person), then the decision.",
    hints=_VERIFY_HINTS, reference=CF("course_utils.exercises.solutions", "verify"),
    forbidden=(CF("course_utils.exercises.solutions", "verify"), CF("course_utils.database", "FaceDatabase.verify")))


def check_verify(fn, seed: int | None = None):
    """Check ``verify(image, claimed_name, database, encoder, threshold)`` → ``(accepted, distance)``."""
    return h.check(VERIFY, fn, seed=seed)


_IDENTIFY_HINTS = (
    'Encode the image once. Compare its embedding with every person in the database (squared distance), and keep the CLOSEST person — not the first one under the threshold. Return (name, distance), or ("unknown", distance) when even the closest is farther than the threshold.',
    "The key operations: one encoder call outside the loop, a loop (or a stacked array) over the database's items, a sum of squared differences per person, the minimum over people (min with a key, or argmin), then one comparison with the threshold (> means unknown).",
)


def _identify_cases(rng) -> list[h.Case]:
    from course_utils.exercises.solutions import identify
    plan = [  # (people, D, image size, uint8?, tensor?, known probe?)
        (3, 8, 4, False, True, True),
        (4, 16, 6, True, False, False),
        (5, 32, 4, False, True, True),
        (6, 16, 4, True, True, False),
        (4, 8, 6, False, False, True),
        (5, 16, 4, False, True, "equal"),          # threshold exactly on the closest distance
        (6, 16, 4, False, False, "several"),       # several people under the threshold ...
        (5, 8, 6, True, True, "several"),          # ... and the closest is the last one listed
        (3, 32, 6, True, True, False),
        (6, 16, 4, False, False, True),
    ]
    cases = []
    for people, dim, size, uint8, as_tensor, known in plan:
        values = [0.0, 0.0]
        while min(np.diff(values)) < 1e-3:           # no (near) ties between people
            encoder, names, bases, database = _face_world(rng, people, dim, size, as_tensor)
            if known:
                image = _photo(rng, bases[int(rng.integers(people))], 12.0, uint8)
            else:
                image = _photo(rng, rng.uniform(0, 255, size=bases[0].shape), 0.0, uint8)
            embedding = encoder.predict(image[None])[0]
            dists = _distances(embedding, database)
            values = sorted(dists.values())
        if known == "equal":                         # distances are exact (multiples of 2⁻²⁰)
            threshold = float(values[0])
        elif known == "several":                     # the first person under τ is not the answer
            database = dict(sorted(database.items(), key=lambda item: -dists[item[0]]))
            dists = {name: dists[name] for name in database}
            threshold = round(float(values[2] + (values[3] - values[2]) / 2 if len(values) > 3 else values[2] + 0.1), 3)
        elif known:
            gap = values[1] - values[0]              # τ strictly between the closest and the next
            threshold = round(values[0] + float(rng.uniform(0.25, 0.5)) * min(gap, 0.6), 3)
        else:
            threshold = round(values[0] * float(rng.uniform(0.5, 0.9)), 3)
        args = (image, database, encoder, threshold)
        name, distance = identify(*args)
        cases.append(h.Case(args=args, names=("image", "database", "encoder", "threshold"),
                           data={"dists": dists, "threshold": threshold, **_other_measures(embedding, database)},
                           expected=(str(name), float(distance)), size=size * size * 3 + people * dim, tol=1e-5))
    return cases


def _identify_result(raw, case: h.Case) -> tuple:
    first, second = h.pair(raw, "(name, distance)")
    if first is None:
        raise h.Bad('For a face that matches nobody, return the string "unknown" as the name, not None.')
    if _is_number(first) and not isinstance(first, float):
        raise h.Bad(f"You returned a number ({h.fmt(first)}) instead of a name: return the person's name "
                   "(the database key), not its position in the database.")
    if not isinstance(first, (str, np.str_)):
        raise h.Bad(f"Expected a name (a string) first, got {h.kind(first)} {h.fmt(first)}.")
    first = str(first)
    if first != "unknown" and first.strip().lower() == "unknown":
        raise h.Bad(f'Spell it exactly "unknown" (all lower case), not {first!r}.')
    return first, _distance(second)


def _same_name_and_distance(got, expected, case) -> bool:
    return got[0] == expected[0] and math.isclose(got[1], expected[1], rel_tol=1e-5, abs_tol=case.tol)


def _identify_mistakes():
    def decide(name, distance, threshold):
        return (name if distance <= threshold else "unknown"), distance

    def closest(d):
        return min(d["dists"].items(), key=lambda item: item[1])

    def farthest(d):
        name, x = max(d["dists"].items(), key=lambda item: item[1])
        return decide(name, x, d["threshold"])

    def never_unknown(d):
        return closest(d)

    def inverted(d):
        name, x = closest(d)
        return ("unknown" if x <= d["threshold"] else name), x

    def other_distance(d):
        name, _ = decide(*closest(d), d["threshold"])
        values = list(d["dists"].values())
        return h.AnyOf(((name, values[-1]), (name, max(values)), (name, values[0])))

    def strict(d):
        name, x = closest(d)
        return (name if x < d["threshold"] else "unknown"), x

    def first_under(d):
        under = [(n, x) for n, x in d["dists"].items() if x <= d["threshold"]]
        return under[0] if under else ("unknown", min(d["dists"].values()))

    def measure(which):
        def variant(d):
            values = d[which]
            smallest, largest = min(values.items(), key=lambda i: i[1]), max(values.items(), key=lambda i: i[1])
            return h.AnyOf((decide(*smallest, d["threshold"]),                           # as a distance
                            ((largest[0] if largest[1] >= d["threshold"] else "unknown"), largest[1])))  # as a similarity
        return variant

    mistakes = [
        h.Mistake("you picked the FARTHEST person: the answer is the person with the smallest distance "
                 "(np.argmin / min, not max).", farthest),
        h.Mistake('the answer is never "unknown": when even the closest person is farther than the '
                 'threshold (distance > threshold), return ("unknown", distance).', never_unknown),
        h.Mistake('the threshold test is inverted: return the name when distance <= threshold and '
                 '"unknown" when distance > threshold.', inverted),
        h.Mistake("the name is right but the distance belongs to someone else (e.g. the last person "
                 "compared in the loop): return the distance of the closest person, kept together with "
                 "their name.", other_distance),
        h.Mistake("`<` instead of `<=`: a face at exactly the threshold is the same person (the course's "
                  "convention is distance <= threshold).", strict),
        h.Mistake("you returned the FIRST person under the threshold: several people can be under it; "
                  "identification returns the closest one (compare every person, keep the smallest distance).",
                  first_under),
        *(h.Mistake(hint, measure(which)) for which, hint in _MEASURE_HINTS.items()),
    ]
    return mistakes


IDENTIFY = h.FunctionExercise(
    grade_id="ex_identify_check", lesson="01", name="identify", answer_names=("identify",),
    make_cases=_identify_cases, convert=_identify_result, same=_same_name_and_distance,
    mistakes=_identify_mistakes, requirements=(_encodes_one_image,),
    advice="Print the squared distance to every person for this example and check which is smallest.",
    hints=_IDENTIFY_HINTS, reference=CF("course_utils.exercises.solutions", "identify"),
    forbidden=(CF("course_utils.exercises.solutions", "identify"), CF("course_utils.database", "FaceDatabase.identify")))


def check_identify(fn, seed: int | None = None):
    """Check ``identify(image, database, encoder, threshold)`` → ``(name or "unknown", distance)``."""
    return h.check(IDENTIFY, fn, seed=seed)
