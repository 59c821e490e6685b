"""Lesson 5 checks: positive_mask, negative_mask, batch_hard_triplet_loss."""
from __future__ import annotations


import numpy as np
import tensorflow as tf
from keras import ops

from course_utils import exercises as C
from course_utils import losses
from course_utils.exercises import solutions
from course_utils.exercises.lesson05_mining import BATCH_HARD_TRIPLET_LOSS

from kit_helpers import NONE, assert_same_verdict, exercise_tests, failure, returns


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


def _flat(labels):
    return ops.reshape(labels, (-1,))


POSITIVE_MISTAKES = {
    "the diagonal is included": lambda l: ops.equal(_flat(l)[:, None], _flat(l)[None, :]),
    "this is the negative mask": negative_ops,
    "0/1 numbers": lambda l: ops.cast(losses.positive_mask(l), "float32"),
    "must be flattened first": lambda l: ops.logical_and(l[:, None] == l[None, :], ~np.eye(len(l), dtype=bool)[..., None])
    if len(l.shape) == 2 else losses.positive_mask(l),
    "small integer type": lambda l: losses.positive_mask(ops.cast(_flat(l), "int8")),
}

NEGATIVE_MISTAKES = {
    "the diagonal is marked as a negative": lambda l: ops.logical_not(losses.positive_mask(l)),
    "this is the positive mask": losses.positive_mask,
    "0/1 numbers": lambda l: ops.cast(losses.negative_mask(l), "int32"),
    "must be flattened first": lambda l: (l[:, None] != l[None, :]) if len(l.shape) == 2 else losses.negative_mask(l),
    "small integer type": lambda l: negative_numpy(np.asarray(l).astype(np.uint8)),
}


# --- batch-hard --------------------------------------------------------------------------------

def _batch_hard(hardest_positive="max", hardest_negative="min", diagonal=False, mask_negatives=True,
                relu=True, divide_by="valid", fill_negatives=1e9):
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
        elif fill_negatives == "row max":
            hn = ops.min(ops.where(negatives, d, ops.max(d, axis=1, keepdims=True)), axis=1)
        elif hardest_negative == "min":
            hn = ops.min(ops.where(negatives, d, fill_negatives), axis=1)
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
    "anchors without any negative": _batch_hard(fill_negatives="row max"),
}




CORRECT = [
(C.check_positive_mask, losses.positive_mask), (C.check_positive_mask, positive_tf),
    (C.check_positive_mask, positive_numpy),
    (C.check_negative_mask, losses.negative_mask), (C.check_negative_mask, negative_ops),
    (C.check_negative_mask, negative_numpy),
    (C.check_batch_hard_triplet_loss, solutions.batch_hard_triplet_loss), (C.check_batch_hard_triplet_loss, losses.batch_hard_triplet_loss),
    (C.check_batch_hard_triplet_loss, _batch_hard()), (C.check_batch_hard_triplet_loss, batch_hard_tf),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_positive_mask, POSITIVE_MISTAKES), (C.check_negative_mask, NEGATIVE_MISTAKES), (C.check_batch_hard_triplet_loss, BATCH_HARD_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_positive_mask, "positive_mask", losses.positive_mask, "course_utils.losses.positive_mask"),
    (C.check_negative_mask, "negative_mask", losses.negative_mask, "course_utils.losses.negative_mask"),
    (C.check_batch_hard_triplet_loss, "batch_hard_triplet_loss", solutions.batch_hard_triplet_loss,
     "course_utils.exercises.solutions.batch_hard_triplet_loss"),
    ]

WRONG_KINDS = [
(C.check_positive_mask, NONE, "got None"),
    (C.check_positive_mask, lambda l: ops.reshape(l, (-1,)) > 0, "Expected shape (1, 1)"),
    (C.check_negative_mask, returns(0.5), "Expected shape (1, 1) (one entry per pair), got shape ()"),
    (C.check_batch_hard_triplet_loss, NONE, "Expected a scalar tensor, got None"),
    (C.check_batch_hard_triplet_loss, lambda *a, **k: float(solutions.batch_hard_triplet_loss(*a, **k)), "not a Python float"),
    (C.check_batch_hard_triplet_loss, lambda labels, emb, margin=0.2: ops.sum(ops.square(emb), axis=1), "take the mean over the batch"),
    ]


EXERCISE_OF = {C.check_positive_mask: C.POSITIVE_MASK, C.check_negative_mask: C.NEGATIVE_MASK, C.check_batch_hard_triplet_loss: C.BATCH_HARD_TRIPLET_LOSS}

globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS, exercise_of=EXERCISE_OF))


def test_losses_must_let_gradients_flow():
    fn = lambda l, e, margin=0.2: tf.constant(np.asarray(solutions.batch_hard_triplet_loss(l, e, margin)))  # noqa: E731
    assert "no gradient flows" in failure(C.check_batch_hard_triplet_loss, fn)


# --- issue 12: named mistakes ---------------------------------------------------------------------

def test_negatives_filled_with_zero_are_named():
    def zero_filled(labels, embeddings, margin=0.2):
        d = losses.pairwise_squared_distances(embeddings)
        labels = ops.reshape(labels, (-1,))
        same = ops.equal(labels[:, None], labels[None, :])
        positives = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
        hp = ops.max(ops.where(positives, d, 0.0), axis=1)
        hn = ops.min(ops.where(ops.logical_not(same), d, 0.0), axis=1)        # the mistake
        valid = ops.cast(ops.any(positives, axis=1), d.dtype)
        return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.maximum(ops.sum(valid), 1.0)
    message = failure(C.check_batch_hard_triplet_loss, zero_filled)
    assert "filled with 0 before the min" in message and "LARGE value" in message, message


def _batch_hard_unflattened(labels, embeddings, margin=0.2):
    """Right for (B,) labels; a (B, 1) column makes the masks (B, B, 1) and everything (B, B, B)."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.convert_to_tensor(labels)                  # the mistake: no ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    positives = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
    hp = ops.max(ops.where(positives, d, 0.0), axis=1)
    hn = ops.min(ops.where(ops.logical_not(same), d, 1e9), axis=1)
    valid = ops.cast(ops.any(positives, axis=1), d.dtype)
    return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.maximum(ops.sum(valid), 1.0)


def test_batch_hard_with_labels_not_flattened_names_the_shape(tmp_path):
    """Issue 12: this failed with a bare "expected 0.94, got 2.19"."""
    message = failure(C.check_batch_hard_triplet_loss, _batch_hard_unflattened)
    assert "the labels were not flattened" in message and "(B, 1)" in message, message
    assert_same_verdict(BATCH_HARD_TRIPLET_LOSS, _batch_hard_unflattened, tmp_path)


def test_the_flattening_hint_needs_a_wrong_column_case():
    """A wrong answer that is also wrong for (B,) labels is not blamed on the shape."""
    message = failure(C.check_batch_hard_triplet_loss, _batch_hard(hardest_positive="min"))
    assert "not flattened" not in message and "FARTHEST" in message, message
