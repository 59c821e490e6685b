"""Tests of ``course_utils.checks``: every check accepts correct code, names every catalogued
mistake, falls back to the reference for an unwritten exercise (or fails in grading mode), and
explains a wrong kind of result.

The checks draw fresh random inputs on every call, so each test also exercises new inputs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import keras
import tensorflow as tf
from keras import layers, ops

from course_utils import checks, exercises, losses, metrics
from course_utils.models import L2Normalize


@pytest.fixture(autouse=True)
def normal_mode(monkeypatch):
    """Tests run outside grading mode unless they switch it on."""
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def failure(check, *args) -> str:
    """The AssertionError message of a check that must fail."""
    with pytest.raises(AssertionError) as info:
        check(*args)
    return str(info.value)


# ==============================================================================================
# Correct implementations (besides the references)
# ==============================================================================================

def triplet_ops(anchor, positive, negative, alpha=0.2):
    d_pos = ops.sum(ops.square(anchor - positive), axis=-1)
    d_neg = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.mean(ops.maximum(d_pos - d_neg + alpha, 0.0))


def triplet_tf(anchor, positive, negative, alpha=0.2):
    anchor = tf.convert_to_tensor(anchor)
    positive = tf.cast(positive, anchor.dtype)
    negative = tf.cast(negative, anchor.dtype)
    basic = (tf.reduce_sum(tf.square(anchor - positive), axis=1)
             - tf.reduce_sum(tf.square(anchor - negative), axis=1) + alpha)
    return tf.reduce_mean(tf.nn.relu(basic))


def triplet_rows_tf(anchor, positive, negative, alpha=0.2):   # a loop over rows is allowed here
    terms = [tf.maximum(tf.reduce_sum((a - p) ** 2) - tf.reduce_sum((a - n) ** 2) + alpha, 0.0)
             for a, p, n in zip(tf.unstack(tf.convert_to_tensor(anchor)), tf.unstack(tf.convert_to_tensor(positive)),
                                tf.unstack(tf.convert_to_tensor(negative)))]
    return tf.reduce_mean(tf.stack(terms))


def pairwise_tf(embeddings):
    e = tf.convert_to_tensor(embeddings)
    sq = tf.reduce_sum(e * e, axis=1)
    d = sq[:, None] - 2.0 * tf.matmul(e, e, transpose_b=True) + sq[None, :]
    return tf.linalg.set_diag(tf.maximum(d, 0.0), tf.zeros_like(sq))


def pairwise_numpy(embeddings):
    e = np.asarray(embeddings, dtype=np.float64)
    return np.sum((e[:, None, :] - e[None, :, :]) ** 2, axis=-1)


def positive_tf(labels):
    labels = tf.reshape(labels, [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    return tf.logical_and(same, tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool)))


def positive_numpy(labels):
    labels = np.asarray(labels).reshape(-1)
    return (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)


def negative_ops(labels):
    labels = ops.reshape(labels, (-1,))
    return ops.not_equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))


def negative_numpy(labels):
    labels = np.asarray(labels).reshape(-1)
    return labels[:, None] != labels[None, :]


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


# ==============================================================================================
# Catalogued mistakes, each with the words its message must contain
# ==============================================================================================

def _d(a, b, axis=-1):
    return ops.sum(ops.square(a - b), axis=axis)


TRIPLET_MISTAKES = {
    "max of sum vs sum of max": lambda a, p, n, alpha=0.2: ops.maximum(ops.sum(ops.square(a - p)) - ops.sum(ops.square(a - n)) + alpha, 0.0),
    "Euclidean instead of squared distances": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(ops.sqrt(_d(a, p)) - ops.sqrt(_d(a, n)) + alpha, 0.0)),
    "only one of the two distances is squared": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(ops.norm(a - p, axis=1) - _d(a, n) + alpha, 0.0)),
    "the max(·, 0) is missing": lambda a, p, n, alpha=0.2: ops.mean(_d(a, p) - _d(a, n) + alpha),
    "the margin is subtracted": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(_d(a, p) - _d(a, n) - alpha, 0.0)),
    "the margin alpha is missing": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(_d(a, p) - _d(a, n), 0.0)),
    "you summed over the batch": lambda a, p, n, alpha=0.2: ops.sum(ops.maximum(_d(a, p) - _d(a, n) + alpha, 0.0)),
    "reduced over the wrong axis": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(_d(a, p, 0) - _d(a, n, 0) + alpha, 0.0)),
    "d_pos and d_neg are swapped": lambda a, p, n, alpha=0.2: ops.mean(ops.maximum(_d(a, n) - _d(a, p) + alpha, 0.0)),
}


def _max_of_mean(a, p, n, alpha=0.2):
    return ops.maximum(ops.mean(_d(a, p)) - ops.mean(_d(a, n)) + alpha, 0.0)


def _expanded(e, sign=-1.0, same_way=False):
    e = ops.convert_to_tensor(e)
    sq = ops.sum(e * e, axis=1)
    other = ops.expand_dims(sq, 1) if same_way else ops.expand_dims(sq, 0)
    return ops.expand_dims(sq, 1) + sign * 2.0 * ops.matmul(e, ops.transpose(e)) + other


def _pairwise_no_clip(e):
    d = _expanded(tf.convert_to_tensor(e))
    return tf.linalg.set_diag(d, tf.zeros_like(tf.linalg.diag_part(d)))


def _pairwise_loops(e):
    e = np.asarray(e)
    return np.array([[np.sum((a - b) ** 2) for b in e] for a in e])


PAIRWISE_MISTAKES = {
    "Euclidean instead of squared distances": lambda e: ops.sqrt(losses.pairwise_squared_distances(e)),
    "only the −2·a·b term": lambda e: ops.maximum(-2.0 * ops.matmul(e, ops.transpose(e)), 0.0),
    "wrong sign of the cross term": lambda e: ops.maximum(_expanded(e, sign=+1.0), 0.0),
    "broadcast the same way twice": lambda e: ops.maximum(_expanded(e, same_way=True), 0.0),
    "Clip them with d = ops.maximum(d, 0.0)": _pairwise_no_clip,
    "the diagonal is not zero": lambda e: ops.maximum(_expanded(e), 0.0),
    "no Python loops": _pairwise_loops,
}


def _flat(labels):
    return ops.reshape(labels, (-1,))


POSITIVE_MISTAKES = {
    "the diagonal is included": lambda l: ops.equal(_flat(l)[:, None], _flat(l)[None, :]),
    "this is the negative mask": negative_ops,
    "0/1 numbers": lambda l: ops.cast(losses.positive_mask(l), "float32"),
    "must be flattened first": lambda l: ops.logical_and(l[:, None] == l[None, :], ~np.eye(len(l), dtype=bool)[..., None])
    if len(l.shape) == 2 else losses.positive_mask(l),
}

NEGATIVE_MISTAKES = {
    "the diagonal is marked as a negative": lambda l: ops.logical_not(losses.positive_mask(l)),
    "this is the positive mask": losses.positive_mask,
    "0/1 numbers": lambda l: ops.cast(losses.negative_mask(l), "int32"),
    "must be flattened first": lambda l: (l[:, None] != l[None, :]) if len(l.shape) == 2 else losses.negative_mask(l),
}


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


VERIFY_MISTAKES = {
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


IDENTIFY_MISTAKES = {
    "the FARTHEST person": _identify_with(lambda d, t: (lambda n, x: (n if x <= t else "unknown", x))(*max(d.items(), key=lambda i: i[1]))),
    'never "unknown"': _identify_with(lambda d, t: _closest(d)),
    "threshold test is inverted": _identify_with(lambda d, t: (lambda n, x: ("unknown" if x <= t else n, x))(*_closest(d))),
    "the distance belongs to someone else": _identify_with(_identify_last_distance),
    "instead of a name": _identify_with(lambda d, t: (lambda n, x: (list(d).index(n) if x <= t else -1, x))(*_closest(d))),
    '"unknown" as the name, not None': _identify_with(lambda d, t: (lambda n, x: (n if x <= t else None, x))(*_closest(d))),
}


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
    train, test = exercises.split_people(labels, test_fraction, seed)
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
    "another seed must give another split": lambda labels, test_fraction=0.25, seed=0: exercises.split_people(labels, test_fraction, 0),
    "the same seed must give the same split": lambda labels, test_fraction=0.25, seed=0: exercises.split_people(labels, test_fraction, np.random.randint(10**9)),
    "test_fraction is a share of the PEOPLE": _split_fraction_of_images,
    "every image must be in exactly one": lambda labels, test_fraction=0.25, seed=0: (np.arange(len(labels)), exercises.split_people(labels, test_fraction, seed)[1]),
    "the two sides look swapped": lambda labels, test_fraction=0.25, seed=0: exercises.split_people(labels, test_fraction, seed)[::-1],
}


# --- build_my_encoder --------------------------------------------------------------------------

def encoder_sequential(input_shape=(64, 64, 3), embedding_dim=128):
    model = keras.Sequential([keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255)])
    for width in (32, 64, 128):
        model.add(layers.Conv2D(width, 3, padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D(2))
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dense(embedding_dim))
    model.add(L2Normalize())
    return model


def encoder_builtin_layers(input_shape=(64, 64, 3), embedding_dim=128):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for width in (32, 64, 128):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dense(embedding_dim)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, layers.UnitNormalization()(x))


def _encoder(flatten=False, bias=False, batch_norm=True, dim=None, l2=True, rescale=True, lambda_layer=False):
    def build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128):
        inputs = keras.Input(shape=input_shape)
        x = layers.Rescaling(1.0 / 255)(inputs) if rescale else inputs
        for width in (32, 64, 128):
            x = layers.Conv2D(width, 3, padding="same", use_bias=bias)(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.MaxPooling2D(2)(layers.ReLU()(x))
        x = layers.Flatten()(x) if flatten else layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(dim or embedding_dim)(x)
        if lambda_layer:
            x = layers.Lambda(lambda t: t / ops.norm(t, axis=-1, keepdims=True))(x)
        elif l2:
            x = L2Normalize()(x)
        return keras.Model(inputs, x)
    return build_my_encoder


ENCODER_MISTAKES = {
    "it uses Flatten": _encoder(flatten=True),
    "the convolutions have a bias": _encoder(bias=True),
    "BatchNormalization is missing": _encoder(batch_norm=False),
    "wrong embedding size": _encoder(dim=128),
    "not unit length": _encoder(l2=False),
    "the Rescaling layer is missing": _encoder(rescale=False),
    "keras.layers.Lambda": _encoder(lambda_layer=True),
    "use keras.Input(shape=input_shape)": lambda input_shape=(64, 64, 3), embedding_dim=128: _encoder()((64, 64, 3), embedding_dim),
}


def pairwise_float32(embeddings):         # computing in float32 on float64 inputs is fine too
    e = tf.cast(embeddings, tf.float32)
    return losses.pairwise_squared_distances(e)


# --- batch-hard --------------------------------------------------------------------------------

def _batch_hard(hardest_positive="max", hardest_negative="min", diagonal=False, mask_negatives=True,
                relu=True, divide_by="valid"):
    def batch_hard_triplet_loss(labels, embeddings, margin=0.2):
        d = losses.pairwise_squared_distances(embeddings)
        labels = ops.reshape(labels, (-1,))
        same = ops.equal(labels[:, None], labels[None, :])
        eye = ops.eye(ops.shape(labels)[0], dtype="bool")
        positives = same if diagonal else ops.logical_and(same, ops.logical_not(eye))
        negatives = ops.logical_not(same)
        if hardest_positive == "max":
            hp = ops.max(ops.where(positives, d, 0.0), axis=1)
        else:
            hp = ops.min(ops.where(positives, d, 1e9), axis=1)
        if not mask_negatives:
            hn = ops.min(d, axis=1)
        elif hardest_negative == "min":
            hn = ops.min(ops.where(negatives, d, 1e9), axis=1)
        else:
            hn = ops.max(ops.where(negatives, d, 0.0), axis=1)
        per_anchor = hp - hn + margin
        if relu:
            per_anchor = ops.maximum(per_anchor, 0.0)
        valid = ops.cast(ops.any(positives, axis=1), d.dtype)
        if divide_by == "valid":
            return ops.sum(per_anchor * valid) / ops.maximum(ops.sum(valid), 1.0)
        if divide_by == "all (masked)":
            return ops.mean(per_anchor * valid)
        return ops.mean(per_anchor)
    return batch_hard_triplet_loss


def batch_hard_tf(labels, embeddings, margin=0.2):
    e = tf.convert_to_tensor(embeddings)
    labels = tf.reshape(labels, [-1])
    sq = tf.reduce_sum(e * e, axis=1)
    d = tf.maximum(sq[:, None] - 2.0 * tf.matmul(e, e, transpose_b=True) + sq[None, :], 0.0)
    same = tf.equal(labels[:, None], labels[None, :])
    positives = tf.logical_and(same, tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool)))
    hardest_positive = tf.reduce_max(tf.where(positives, d, tf.zeros_like(d)), axis=1)
    big = tf.reduce_max(d) + 1.0
    hardest_negative = tf.reduce_min(tf.where(same, big * tf.ones_like(d), d), axis=1)
    has_positive = tf.reduce_any(positives, axis=1)
    per_anchor = tf.boolean_mask(tf.nn.relu(hardest_positive - hardest_negative + margin), has_positive)
    return tf.reduce_mean(per_anchor)


BATCH_HARD_MISTAKES = {
    "the hardest positive is the FARTHEST one": _batch_hard(hardest_positive="min"),
    "the hardest negative is the CLOSEST one": _batch_hard(hardest_negative="max"),
    "anchors without any positive in the batch": _batch_hard(diagonal=True, divide_by="all"),
    "the negatives are not masked": _batch_hard(mask_negatives=False),
    "the relu (max(·, 0)) is missing": _batch_hard(relu=False),
    "you divided by ALL anchors": _batch_hard(divide_by="all (masked)"),
}


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
    "take row [0]": lambda q, g, k=5: exercises.nearest_neighbours(q, g, k)[None, :],
}


# --- threshold_for_far / frr_at ----------------------------------------------------------------

def far_threshold_below_next_impostor(distances, same, far):
    """Any threshold with the same decisions is right: here, just below the first impostor too many."""
    impostors = np.sort(np.asarray(distances, dtype=np.float64)[~same])
    allowed = int(math.floor(far * len(impostors) + 1e-9))
    if allowed >= len(impostors):
        return float(np.max(distances))
    return float(np.nextafter(impostors[allowed], -np.inf))


def _far_sweep(rate, strict=False, smallest=False, return_rate=False):
    def threshold_for_far(distances, same, far):
        d = np.asarray(distances, dtype=np.float64)
        best = -math.inf
        for t in np.unique(d):
            accepted = d < t if strict else d <= t
            if rate(accepted, same, d) <= far:
                if smallest:
                    return float(t)
                best = t
        if return_rate:
            return float(np.mean((d <= best)[~same]))
        return float(best)
    return threshold_for_far


far_loop = _far_sweep(lambda acc, same, d: np.mean(acc[~same]))

FAR_MISTAKES = {
    "divided by ALL pairs": _far_sweep(lambda acc, same, d: np.sum(acc & ~same) / len(d)),
    "mixed up": _far_sweep(lambda acc, same, d: np.mean(acc[same])),
    "`<` instead of `<=`": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), strict=True),
    "SMALLEST threshold": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), smallest=True),
    "returned a rate": _far_sweep(lambda acc, same, d: np.mean(acc[~same]), return_rate=True),
}


def frr_numpy(distances, same, threshold):
    return float(np.mean(np.asarray(distances)[same] > threshold))


def frr_counts(distances, same, threshold):
    rejected = genuine = 0
    for d, s in zip(distances, same):
        if s:
            genuine += 1
            rejected += int(d > threshold)
    return rejected / genuine


FRR_MISTAKES = {
    "this is the FAR": lambda d, s, t: float(np.mean(np.asarray(d)[~s] <= t)),
    "`<` instead of `<=`": lambda d, s, t: float(np.mean(np.asarray(d)[s] >= t)),
    "divided by ALL pairs": lambda d, s, t: float(np.sum((np.asarray(d) > t) & s) / len(d)),
    "this is the TAR": lambda d, s, t: float(np.mean(np.asarray(d)[s] <= t)),
    "returned a count": lambda d, s, t: int(np.sum((np.asarray(d) > t) & s)),
}


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
        accepted = distance > threshold if mode == "inverted" else distance <= threshold
        return (name if accepted else "unknown"), top_k
    return who_is_it


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
}


# ==============================================================================================
# The tables the tests run over
# ==============================================================================================

C = checks
CORRECT = [
    (C.check_triplet_loss, losses.triplet_loss), (C.check_triplet_loss, triplet_ops),
    (C.check_triplet_loss, triplet_tf), (C.check_triplet_loss, triplet_rows_tf),
    (C.check_pairwise_distances, losses.pairwise_squared_distances), (C.check_pairwise_distances, pairwise_tf),
    (C.check_pairwise_distances, pairwise_numpy), (C.check_pairwise_distances, pairwise_float32),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: triplet_ops(*(tf.cast(x, tf.float32) for x in (a, p, n)), alpha)),
    (C.check_positive_mask, losses.positive_mask), (C.check_positive_mask, positive_tf),
    (C.check_positive_mask, positive_numpy),
    (C.check_negative_mask, losses.negative_mask), (C.check_negative_mask, negative_ops),
    (C.check_negative_mask, negative_numpy),
    (C.check_verify, exercises.verify), (C.check_verify, verify_tf), (C.check_verify, verify_norm),
    (C.check_identify, exercises.identify), (C.check_identify, identify_vectorised),
    (C.check_identify, identify_sorted),
    (C.check_split_people, exercises.split_people), (C.check_split_people, split_legacy_seed),
    (C.check_split_people, split_python),
    (C.check_encoder, exercises.build_my_encoder), (C.check_encoder, encoder_sequential),
    (C.check_encoder, encoder_builtin_layers),
    (C.check_batch_hard, exercises.batch_hard_triplet_loss), (C.check_batch_hard, losses.batch_hard_triplet_loss),
    (C.check_batch_hard, _batch_hard()), (C.check_batch_hard, batch_hard_tf),
    (C.check_nearest_neighbours, exercises.nearest_neighbours), (C.check_nearest_neighbours, neighbours_cosine),
    (C.check_nearest_neighbours, neighbours_top_k),
    (C.check_threshold_for_far, metrics.threshold_for_far),
    (C.check_threshold_for_far, far_threshold_below_next_impostor), (C.check_threshold_for_far, far_loop),
    (C.check_frr_at, exercises.frr_at), (C.check_frr_at, frr_numpy), (C.check_frr_at, frr_counts),
    (C.check_who_is_it, exercises.who_is_it), (C.check_who_is_it, _who()), (C.check_who_is_it, who_vectorised),
]

MISTAKES = [
    (check, hint, fn)
    for check, table in [
        (C.check_triplet_loss, TRIPLET_MISTAKES), (C.check_pairwise_distances, PAIRWISE_MISTAKES),
        (C.check_positive_mask, POSITIVE_MISTAKES), (C.check_negative_mask, NEGATIVE_MISTAKES),
        (C.check_verify, VERIFY_MISTAKES), (C.check_identify, IDENTIFY_MISTAKES),
        (C.check_split_people, SPLIT_MISTAKES), (C.check_encoder, ENCODER_MISTAKES),
        (C.check_batch_hard, BATCH_HARD_MISTAKES), (C.check_nearest_neighbours, NEIGHBOUR_MISTAKES),
        (C.check_threshold_for_far, FAR_MISTAKES), (C.check_frr_at, FRR_MISTAKES), (C.check_who_is_it, WHO_MISTAKES),
    ]
    for hint, fn in table.items()
] + [(C.check_triplet_loss, "max of sum vs sum of max", _max_of_mean)]

# (check, exercise name, reference it falls back to, where the message says it lives)
FALLBACKS = [
    (C.check_triplet_loss, "triplet_loss", losses.triplet_loss, "course_utils.losses.triplet_loss"),
    (C.check_pairwise_distances, "pairwise_squared_distances", losses.pairwise_squared_distances,
     "course_utils.losses.pairwise_squared_distances"),
    (C.check_positive_mask, "positive_mask", losses.positive_mask, "course_utils.losses.positive_mask"),
    (C.check_negative_mask, "negative_mask", losses.negative_mask, "course_utils.losses.negative_mask"),
    (C.check_verify, "verify", exercises.verify, "course_utils.exercises.verify"),
    (C.check_identify, "identify", exercises.identify, "course_utils.exercises.identify"),
    (C.check_split_people, "split_people", exercises.split_people, "course_utils.exercises.split_people"),
    (C.check_encoder, "build_my_encoder", exercises.build_my_encoder, "course_utils.exercises.build_my_encoder"),
    (C.check_batch_hard, "batch_hard_triplet_loss", exercises.batch_hard_triplet_loss,
     "course_utils.exercises.batch_hard_triplet_loss"),
    (C.check_nearest_neighbours, "nearest_neighbours", exercises.nearest_neighbours,
     "course_utils.exercises.nearest_neighbours"),
    (C.check_threshold_for_far, "threshold_for_far", metrics.threshold_for_far, "course_utils.metrics.threshold_for_far"),
    (C.check_frr_at, "frr_at", exercises.frr_at, "course_utils.exercises.frr_at"),
    (C.check_who_is_it, "who_is_it", exercises.who_is_it, "course_utils.exercises.who_is_it"),
]


def _returns(value):
    def student(*args, **kwargs):
        return value
    return student


_NONE = _returns(None)
WRONG_KINDS = [
    (C.check_triplet_loss, _NONE, "Expected a scalar tensor, got None"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: float(losses.triplet_loss(a, p, n, alpha)),
     "not a Python float: gradients cannot flow through a float"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: ops.maximum(_d(a, p) - _d(a, n) + alpha, 0.0),
     "take the mean over the batch"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: np.mean(np.maximum(np.sum((a - p) ** 2, 1) - np.sum((a - n) ** 2, 1) + alpha, 0)),
     "not a NumPy"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: ops.sqrt(-ops.abs(losses.triplet_loss(a, p, n, alpha)) - 1.0), "NaN"),
    (C.check_pairwise_distances, _NONE, "Expected a (1, 1) matrix of distances, got None"),
    (C.check_pairwise_distances, _returns(1.0), "got a single number"),
    (C.check_pairwise_distances, lambda e: ops.sum(ops.square(e), axis=1), "Expected shape (1, 1)"),
    (C.check_positive_mask, _NONE, "got None"),
    (C.check_positive_mask, lambda l: ops.reshape(l, (-1,)) > 0, "Expected shape (1, 1)"),
    (C.check_negative_mask, _returns(0.5), "Expected shape (1, 1) (one entry per pair), got shape ()"),
    (C.check_verify, _NONE, "Expected a pair (accepted, distance), got None"),
    (C.check_verify, _returns(0.3), "Expected a pair (accepted, distance) (return a, b), got Python float"),
    (C.check_verify, lambda image, name, db, enc, t: (True, np.array([0.3])), "got an array of shape (1,)"),
    (C.check_verify, lambda image, name, db, enc, t: ("yes", 0.3), "Expected True/False for accepted"),
    (C.check_identify, _NONE, "Expected a pair (name, distance), got None"),
    (C.check_identify, _returns("Ada"), "Expected a pair (name, distance) (return a, b), got Python str"),
    (C.check_split_people, _NONE, "Expected a pair (train_idx, test_idx), got None"),
    (C.check_split_people, lambda labels, **kw: (np.arange(len(labels)), None), "test_idx is None"),
    (C.check_encoder, _NONE, "returned None"),
    (C.check_encoder, _returns(1.0), "should return a keras.Model, got Python float"),
    (C.check_batch_hard, _NONE, "Expected a scalar tensor, got None"),
    (C.check_batch_hard, lambda *a, **k: float(exercises.batch_hard_triplet_loss(*a, **k)), "not a Python float"),
    (C.check_batch_hard, lambda labels, emb, margin=0.2: ops.sum(ops.square(emb), axis=1), "take the mean over the batch"),
    (C.check_nearest_neighbours, _NONE, "Expected an array of k=5 indices, got None"),
    (C.check_nearest_neighbours, _returns(3.0), "Expected a 1-D array of shape (5,), got shape ()"),
    (C.check_threshold_for_far, _NONE, "Expected a number for the threshold, got None"),
    (C.check_threshold_for_far, lambda d, s, far: np.asarray(d)[:2], "Expected a single number for the threshold, got an array of shape (2,)"),
    (C.check_frr_at, _NONE, "Expected a number for the FRR, got None"),
    (C.check_frr_at, lambda d, s, t: np.asarray(d) > t, "Expected a number for the FRR"),
    (C.check_who_is_it, _NONE, "Expected a pair (name, top_k), got None"),
    (C.check_who_is_it, lambda e, db, names, t, k=3: ("Ada", {"Ada": 0.1}), "not a dict"),
]


def _id(value):
    return getattr(value, "__name__", None) or str(value)[:40]


# ==============================================================================================
# Tests
# ==============================================================================================

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


def test_nbgrader_variable_also_means_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert checks.grading_mode()
    with pytest.raises(AssertionError, match="^frr_at is not implemented yet$"):
        checks.check_frr_at(lambda *a: (_ for _ in ()).throw(NotImplementedError()))


@pytest.mark.parametrize("check, fn, words", WRONG_KINDS, ids=[f"{c.__name__}-{w[:30]}" for c, _, w in WRONG_KINDS])
def test_wrong_kind_of_result_says_what_came_back(check, fn, words):
    message = failure(check, fn)
    assert words in message, message


def test_exceptions_are_summarised_without_tensorflow_traces():
    message = failure(checks.check_triplet_loss, lambda a, p, n, alpha=0.2: tf.reshape(a, (7, -1)))
    first = message.splitlines()[0]
    assert first.startswith("triplet_loss raised InvalidArgumentError: ")
    assert "function_node" not in message and "[Op:" not in message and len(first) < 400
    assert "Inputs (test 1 of 12):" in message


def test_the_summary_line_is_the_same_on_every_run(capsys):
    checks.check_triplet_loss(losses.triplet_loss)
    checks.check_triplet_loss(losses.triplet_loss)
    first, second = capsys.readouterr().out.splitlines()
    assert first == second == "✓ triplet_loss: correct on 12 randomized tests."


def test_a_hard_coded_answer_cannot_pass():
    a = np.eye(2, dtype=np.float32)
    constant = float(losses.triplet_loss(a, a, a[::-1]))
    message = failure(checks.check_triplet_loss, lambda *args: tf.constant(constant))
    assert "wrong result on" in message and "expected:" in message and "got:" in message


def test_a_wrong_answer_without_a_known_cause_shows_an_example():
    message = failure(checks.check_triplet_loss, lambda a, p, n, alpha=0.2: 1.5 * losses.triplet_loss(a, p, n, alpha))
    assert "Likely mistake" not in message
    assert "Smallest failing example:" in message and "anchor" in message and "expected:" in message


@pytest.mark.parametrize("check, fn", [
    (checks.check_triplet_loss, lambda a, p, n, alpha=0.2: tf.constant(losses.triplet_loss(a, p, n, alpha).numpy())),
    (checks.check_batch_hard, lambda l, e, margin=0.2: tf.constant(np.asarray(exercises.batch_hard_triplet_loss(l, e, margin)))),
])
def test_losses_must_let_gradients_flow(check, fn):
    assert "no gradient flows" in failure(check, fn)


def test_loops_are_not_judged_when_the_source_cannot_be_read(capsys):
    namespace = {"np": np}
    exec("def pairwise(e):\n    e = np.asarray(e, dtype=np.float64)\n"
         "    return np.array([[np.sum((a - b) ** 2) for b in e] for a in e])\n", namespace)
    assert checks.check_pairwise_distances(namespace["pairwise"]) is namespace["pairwise"]


def test_the_fake_encoder_refuses_a_single_image():
    message = failure(checks.check_identify, lambda image, db, enc, t: exercises.identify(image, db, lambda x: enc(x[0]), t))
    assert "image[None]" in message


def test_passing_a_call_instead_of_the_function_is_explained():
    assert "itself" in failure(checks.check_triplet_loss, 0.5)


def test_every_check_is_exported_and_documented():
    names = [n for n in dir(checks) if n.startswith("check_")]
    assert len(names) == 15
    for name in names:
        assert name in checks.__all__
        assert name in checks.__doc__


# --- the experiment record ---------------------------------------------------------------------

BEFORE = {"loss": [0.5, 0.3, 0.2], "val_auc": [0.71, 0.83, 0.82]}
AFTER = {"loss": [0.4, 0.2, 0.1], "val_auc": [0.74, 0.86, 0.88]}


def _experiment(**changes):
    record = {"change": "margin 0.2 → 0.5", "prediction": "better: harder triplets", "val_auc_before": 0.82,
              "val_auc_after": 0.88}
    record.update(changes)
    return record


@pytest.mark.parametrize("before, after, verdict", [
    (0.82, 0.88, "0.8200 → 0.8800 (+0.0600): it improved."),      # last of each history
    (0.83, 0.88, "0.8300 → 0.8800 (+0.0500): it improved."),      # best of history_before
])
def test_experiment_accepts_the_last_or_best_auc(before, after, verdict, capsys):
    record = _experiment(val_auc_before=before, val_auc_after=after)
    assert checks.check_experiment(record, BEFORE, AFTER) is record
    out = capsys.readouterr().out
    assert out.startswith("✓ experiment: recorded.") and verdict in out and "Prediction:     better" in out


def test_experiment_reflection_says_worse_or_about_the_same(capsys):
    checks.check_experiment(_experiment(val_auc_before=0.88, val_auc_after=0.82), AFTER, BEFORE)
    checks.check_experiment(_experiment(val_auc_before=0.82, val_auc_after=0.822),
                            BEFORE, {"val_auc": [0.822]})
    out = capsys.readouterr().out
    assert "(-0.0600): it got worse." in out and "about the same" in out


def test_experiment_reads_a_history_object():
    class Result:
        history = AFTER
    checks.check_experiment(_experiment(), BEFORE, Result())


@pytest.mark.parametrize("record, words", [
    (_experiment(change="  "), 'experiment["change"] is empty'),
    (_experiment(prediction="..."), 'experiment["prediction"] is empty'),
    (_experiment(prediction=3), "should be a sentence"),
    (_experiment(val_auc_before=0.88, val_auc_after=0.82), "swapped"),
    (_experiment(val_auc_before=0.8), "does not match history_before['val_auc']"),
    (_experiment(val_auc_after=88.0), "did you give a percentage?"),
    (_experiment(val_auc_after="0.88"), "should be a number"),
    ({"change": "x", "prediction": "y"}, "missing the key(s) ['val_auc_before', 'val_auc_after']"),
    (["margin", "better", 0.82, 0.88], "should be a dict"),
])
def test_experiment_mistakes(record, words):
    assert words in failure(checks.check_experiment, record, BEFORE, AFTER)


def test_experiment_not_done(monkeypatch, capsys):
    assert checks.check_experiment(None, BEFORE, AFTER) is None
    assert capsys.readouterr().out.startswith("⏳ experiment is not done yet.")
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^experiment is not implemented yet$"):
        checks.check_experiment(None, BEFORE, AFTER)


def test_experiment_needs_val_auc_in_the_histories():
    assert "no 'val_auc'" in failure(checks.check_experiment, _experiment(), {"loss": [1.0]}, AFTER)


# --- the clustering threshold ------------------------------------------------------------------

@pytest.fixture(scope="module")
def faces():
    """12 people × 6 tight embeddings (same person: d < 0.03; different people: d ≈ 2)."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 32))
    labels = np.repeat(np.arange(12), 6)
    x = centres[labels] / np.linalg.norm(centres[labels], axis=1, keepdims=True) + 0.015 * rng.normal(size=(72, 32))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_cluster_threshold_accepts_a_good_threshold(faces, capsys):
    x, labels = faces
    assert checks.check_cluster_threshold(0.05, 0.05, x, labels) == 0.05
    assert checks.check_cluster_threshold(0.12, 0.05, x, labels) == 0.12
    out = capsys.readouterr().out
    assert out.startswith("✓ cluster_threshold: At 0.05: 12 clusters for 12 people, pairwise F1 = 1.000")


@pytest.mark.parametrize("threshold, words", [
    (math.sqrt(0.05), "plain Euclidean distance"),
    (1 - 0.05 / 2, "SIMILARITY"),
    (3.9, "too large"),
    (0.001, "too small"),
    (-0.5, "must be a squared distance in (0, 4]"),
    (5.0, "must be a squared distance in (0, 4]"),
    ("0.05", "should be a number"),
])
def test_cluster_threshold_mistakes(faces, threshold, words):
    x, labels = faces
    message = failure(checks.check_cluster_threshold, threshold, 0.05, x, labels)
    assert words in message, message
    if isinstance(threshold, float) and 0 < threshold <= 4:
        assert "clusters for 12 people, pairwise F1 =" in message or "1 cluster for 12 people" in message


def test_cluster_threshold_far_from_the_verification_threshold_is_explained(faces):
    x, labels = faces
    message = failure(checks.check_cluster_threshold, 0.5, 0.05, x, labels)      # F1 fine, but 10× larger
    assert "more than 3 times the verification threshold" in message


def test_cluster_threshold_not_done(faces, monkeypatch, capsys):
    x, labels = faces
    assert checks.check_cluster_threshold(None, 0.05, x, labels) == 0.05
    assert "continues with the verification threshold (0.05)" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^cluster_threshold is not implemented yet$"):
        checks.check_cluster_threshold(None, 0.05, x, labels)
