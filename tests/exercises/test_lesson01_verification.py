"""Lesson 1 checks: verify and identify."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from course_utils import exercises as C
from course_utils.exercises import solutions

from kit_helpers import NONE, exercise_tests, failure, returns


def verify_tf(image, claimed_name, database, encoder, threshold):
    embedding = encoder(tf.expand_dims(tf.cast(image, tf.float32), 0))[0]
    distance = tf.reduce_sum(tf.square(embedding - database[claimed_name]))
    return bool(distance <= threshold), float(distance)


def verify_norm(image, claimed_name, database, encoder, threshold):
    embedding = encoder.predict(np.expand_dims(image, 0), verbose=0)[0]
    distance = np.linalg.norm(embedding - database[claimed_name]) ** 2
    return distance <= threshold, distance


def identify_vectorised(image, database, encoder, threshold):
    embedding = np.asarray(encoder(image[None]))[0]
    names = list(database)
    keys = np.stack([database[n] for n in names])
    distances = np.sum((keys - embedding) ** 2, axis=1)
    best = int(np.argmin(distances))
    return (names[best] if distances[best] <= threshold else "unknown"), float(distances[best])


def identify_sorted(image, database, encoder, threshold):
    embedding = encoder.predict(image[None])[0]
    ranked = sorted((float(np.sum((embedding - key) ** 2)), name) for name, key in database.items())
    distance, name = ranked[0]
    if distance > threshold:
        name = "unknown"
    return name, distance


def _embed(image, encoder):
    return np.asarray(encoder(image[None]), dtype=np.float64)[0]


def _verify_with(rule):
    def verify(image, claimed_name, database, encoder, threshold):
        e = _embed(image, encoder)
        distances = {name: float(np.sum((e - key) ** 2)) for name, key in database.items()}
        return rule(distances, claimed_name, threshold)
    return verify


def _verify_no_batch(image, claimed_name, database, encoder, threshold):
    e = np.asarray(encoder(image))
    distance = float(np.sum((e - database[claimed_name]) ** 2))
    return distance <= threshold, distance


def verify_reduce_mean(image, claimed_name, database, encoder, threshold):
    embedding = encoder(tf.expand_dims(tf.cast(image, tf.float32), 0))[0]
    distance = float(tf.reduce_mean(tf.square(embedding - database[claimed_name])))
    return distance <= threshold, distance


def verify_abs(image, claimed_name, database, encoder, threshold):
    e = np.asarray(encoder(image[None]))[0]
    distance = float(np.sum(np.abs(e - database[claimed_name])))
    return distance <= threshold, distance


def verify_cosine(image, claimed_name, database, encoder, threshold):
    e = encoder.predict(image[None])[0]
    similarity = float(np.dot(e, database[claimed_name]))
    return similarity >= threshold, similarity


def verify_encodes_twice(image, claimed_name, database, encoder, threshold):
    assert encoder.predict(image[None]).shape[0] == 1          # "just checking the shape" first
    e = encoder.predict(image[None])[0]
    distance = float(np.sum((e - database[claimed_name]) ** 2))
    return distance <= threshold, distance


VERIFY_MISTAKES = {
    "np.mean instead of np.sum": verify_reduce_mean,
    "absolute differences instead of squared ones": verify_abs,
    "a similarity (the dot product) instead of a distance": verify_cosine,
    "Encode the image once": verify_encodes_twice,
    "the comparison is reversed": _verify_with(lambda d, c, t: (d[c] > t, d[c])),
    "`<` instead of `<=`": _verify_with(lambda d, c, t: (d[c] < t, d[c])),
    "Euclidean instead of squared distance": _verify_with(lambda d, c, t: (math.sqrt(d[c]) <= t, math.sqrt(d[c]))),
    "closest person in the database instead of the claimed one": _verify_with(lambda d, c, t: (min(d.values()) <= t, min(d.values()))),
    "in the wrong order": _verify_with(lambda d, c, t: (d[c], d[c] <= t)),
    "the encoder expects a batch of images": _verify_no_batch,
}


def _identify_with(rule):
    def identify(image, database, encoder, threshold):
        e = _embed(image, encoder)
        distances = {name: float(np.sum((e - key) ** 2)) for name, key in database.items()}
        return rule(distances, threshold)
    return identify


def _closest(d):
    return min(d.items(), key=lambda item: item[1])


def _identify_last_distance(d, t):
    best, best_d = None, math.inf
    for name, x in d.items():        # the classic loop bug: return `x`, not `best_d`
        if x < best_d:
            best, best_d = name, x
    return (best if best_d <= t else "unknown"), x


def _identify_first_under(d, t):
    for name, x in d.items():        # stops at the first match instead of finding the closest
        if x <= t:
            return name, x
    return "unknown", min(d.values())


def identify_numpy_argmin(image, database, encoder, threshold):
    """NumPy all the way: one (N, D) array of the database, argmin of the squared distances."""
    names = list(database)
    e = np.asarray(encoder(np.asarray(image)[None]))[0]
    d = np.sum((np.stack([np.asarray(database[n]) for n in names]) - e) ** 2, axis=1)
    k = int(np.argmin(d))
    return (names[k] if d[k] <= threshold else "unknown"), float(d[k])


def identify_mean(image, database, encoder, threshold):
    e = np.asarray(encoder(image[None]))[0]
    best = min(database, key=lambda n: np.mean((e - database[n]) ** 2))
    distance = float(np.mean((e - database[best]) ** 2))
    return (best if distance <= threshold else "unknown"), distance


def identify_abs(image, database, encoder, threshold):
    e = encoder.predict(image[None])[0]
    scores = {name: float(np.abs(e - key).sum()) for name, key in database.items()}
    best = min(scores, key=scores.get)
    return (best if scores[best] <= threshold else "unknown"), scores[best]


def identify_most_similar(image, database, encoder, threshold):
    e = np.asarray(encoder(image[None]))[0]
    names = list(database)
    sims = np.stack([database[n] for n in names]) @ e
    k = int(np.argmax(sims))
    return (names[k] if sims[k] >= threshold else "unknown"), float(sims[k])


def identify_encodes_in_loop(image, database, encoder, threshold):
    best, best_d = "unknown", math.inf
    for name, key in database.items():
        e = encoder.predict(np.expand_dims(image, 0))[0]       # encoded again for every person
        d = float(np.sum((e - key) ** 2))
        if d < best_d:
            best, best_d = name, d
    return (best if best_d <= threshold else "unknown"), best_d


IDENTIFY_MISTAKES = {
    "np.mean instead of np.sum": identify_mean,
    "absolute differences instead of squared ones": identify_abs,
    "a similarity (the dot product) instead of a distance": identify_most_similar,
    "Encode the image once": identify_encodes_in_loop,
    "the FARTHEST person": _identify_with(lambda d, t: (lambda n, x: (n if x <= t else "unknown", x))(*max(d.items(), key=lambda i: i[1]))),
    'never "unknown"': _identify_with(lambda d, t: _closest(d)),
    "threshold test is inverted": _identify_with(lambda d, t: (lambda n, x: ("unknown" if x <= t else n, x))(*_closest(d))),
    "the distance belongs to someone else": _identify_with(_identify_last_distance),
    "instead of a name": _identify_with(lambda d, t: (lambda n, x: (list(d).index(n) if x <= t else -1, x))(*_closest(d))),
    '"unknown" as the name, not None': _identify_with(lambda d, t: (lambda n, x: (n if x <= t else None, x))(*_closest(d))),
    "the FIRST person under the threshold": _identify_with(_identify_first_under),
}




CORRECT = [
(C.check_verify, solutions.verify), (C.check_verify, verify_tf), (C.check_verify, verify_norm),
    (C.check_identify, solutions.identify), (C.check_identify, identify_vectorised),
    (C.check_identify, identify_sorted), (C.check_identify, identify_numpy_argmin),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_verify, VERIFY_MISTAKES), (C.check_identify, IDENTIFY_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_verify, "verify", solutions.verify, "course_utils.exercises.solutions.verify"),
    (C.check_identify, "identify", solutions.identify, "course_utils.exercises.solutions.identify"),
    ]

WRONG_KINDS = [
(C.check_verify, NONE, "Expected a pair (accepted, distance), got None"),
    (C.check_verify, returns(0.3), "Expected a pair (accepted, distance) (return a, b), got Python float"),
    (C.check_verify, lambda image, name, db, enc, t: (True, np.array([0.3])), "got an array of shape (1,)"),
    (C.check_verify, lambda image, name, db, enc, t: ("yes", 0.3), "Expected True/False for accepted"),
    (C.check_identify, NONE, "Expected a pair (name, distance), got None"),
    (C.check_identify, returns("Ada"), "Expected a pair (name, distance) (return a, b), got Python str"),
    ]


EXERCISE_OF = {C.check_verify: C.VERIFY, C.check_identify: C.IDENTIFY}

globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS, exercise_of=EXERCISE_OF))


def test_the_fake_encoder_refuses_a_single_image():
    message = failure(C.check_identify, lambda image, db, enc, t: solutions.identify(image, db, lambda x: enc(x[0]), t))
    assert "image[None]" in message


# --- issue 12: false accepts / rejects ------------------------------------------------------------

def test_identify_with_strict_less_than_is_named():
    """A face at exactly the threshold is the same person; `<` passed before issue 12."""
    strict = _identify_with(lambda d, t: (lambda n, x: (n if x < t else "unknown", x))(*_closest(d)))
    message = failure(C.check_identify, strict)
    assert "`<` instead of `<=`" in message, message


def test_a_distance_of_none_is_not_called_a_forgotten_return():
    def verify_none(image, claimed_name, database, encoder, threshold):
        accepted, distance = solutions.verify(image, claimed_name, database, encoder, threshold)
        return accepted, (distance if accepted else None)
    message = failure(C.check_verify, verify_none)
    assert "The distance is None" in message and "forget" not in message, message
