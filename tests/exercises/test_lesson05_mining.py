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


def positive_dynamic(labels):
    """The batch size taken at run time, ops.shape(labels)[0]: fine with an unknown batch size."""
    labels = ops.reshape(labels, (ops.shape(labels)[0],))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    return ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))


def negative_dynamic(labels):
    labels = ops.reshape(labels, (ops.shape(labels)[0],))
    return ops.logical_not(ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0)))


# --- right in eager mode, but they break inside a loss that Keras traces (batch size unknown) ----

def positive_numpy_of_tensor(labels):
    """.numpy() on the labels: a symbolic tensor has no values to give."""
    labels = ops.convert_to_tensor(labels).numpy().reshape(-1)
    return (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)


def positive_dot_numpy(labels):
    """labels.numpy(): NumPy labels have no .numpy() (and symbolic tensors neither)."""
    labels = labels.numpy().reshape(-1)
    return (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)


def positive_np_equal(labels):
    """NumPy functions on tensors: np.equal needs values."""
    labels = _flat(labels)
    return np.logical_and(np.equal(labels[:, None], labels[None, :]), ~np.eye(len(labels), dtype=bool))


def positive_static_eye(labels):
    """ops.eye(labels.shape[0]): None while tracing."""
    labels = _flat(labels)
    return ops.logical_and(ops.equal(labels[:, None], labels[None, :]),
                           ops.logical_not(ops.eye(labels.shape[0], dtype="bool")))


def positive_numpy_eye_dynamic(labels):
    """np.eye(ops.shape(labels)[0]): a tensor while tracing, and NumPy needs a number."""
    labels = _flat(labels)
    return ops.logical_and(ops.equal(labels[:, None], labels[None, :]), ~np.eye(ops.shape(labels)[0], dtype=bool))


def positive_pairs_loop(labels):
    """A list comprehension over range(labels.shape[0])."""
    labels = _flat(labels)
    n = labels.shape[0]
    return ops.stack([ops.stack([ops.logical_and(ops.equal(labels[i], labels[j]), i != j) for j in range(n)])
                      for i in range(n)])


def positive_is(labels):
    """`is` compares the objects, once, not the labels pair by pair."""
    labels = _flat(labels)
    return labels[:, None] is labels[None, :]


def negative_dot_numpy(labels):
    labels = labels.numpy().reshape(-1)
    return labels[:, None] != labels[None, :]


def negative_np_not_equal(labels):
    labels = _flat(labels)
    return np.not_equal(labels[:, None], labels[None, :])


def negative_static_reshape(labels):
    """ops.reshape(labels, (labels.shape[0],)): None while tracing."""
    labels = ops.reshape(labels, (labels.shape[0],))
    return ops.not_equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))


def negative_pairs_loop(labels):
    """A nested loop over range(len(labels))."""
    labels = _flat(labels)
    rows = []
    for i in range(len(labels)):
        rows.append(ops.stack([ops.not_equal(labels[i], labels[j]) for j in range(len(labels))]))
    return ops.stack(rows)


def negative_is_not(labels):
    labels = _flat(labels)
    return labels[:, None] is not labels[None, :]


def negative_numpy_of_tensor(labels):
    labels = ops.convert_to_tensor(labels).numpy().reshape(-1)
    return labels[:, None] != labels[None, :]


POSITIVE_MISTAKES = {
    "the diagonal is included": lambda l: ops.equal(_flat(l)[:, None], _flat(l)[None, :]),
    "this is the negative mask": negative_ops,
    "0/1 numbers": lambda l: ops.cast(losses.positive_mask(l), "float32"),
    "must be flattened first": lambda l: ops.logical_and(l[:, None] == l[None, :], ~np.eye(len(l), dtype=bool)[..., None])
    if len(l.shape) == 2 else losses.positive_mask(l),
    "small integer type": lambda l: losses.positive_mask(ops.cast(_flat(l), "int8")),
    "NumPy cannot work on symbolic tensors": positive_numpy,
    ".numpy() or float(...) cannot run on them": positive_numpy_of_tensor,
    ".numpy() exists only on an eager tf.Tensor": positive_dot_numpy,
    "np.asarray, np.equal, np.eye": positive_np_equal,
    "the batch dimension is None while tracing": positive_static_eye,
    "ops.shape(x)[0] is a tensor while tracing, not a Python number": positive_numpy_eye_dynamic,
    "range(x.shape[0]), ops.eye(x.shape[0])": positive_pairs_loop,
    "got a single Python bool": positive_is,
}

NEGATIVE_MISTAKES = {
    "the diagonal is marked as a negative": lambda l: ops.logical_not(losses.positive_mask(l)),
    "this is the positive mask": losses.positive_mask,
    "0/1 numbers": lambda l: ops.cast(losses.negative_mask(l), "int32"),
    "must be flattened first": lambda l: (l[:, None] != l[None, :]) if len(l.shape) == 2 else losses.negative_mask(l),
    "small integer type": lambda l: negative_numpy(np.asarray(l).astype(np.uint8)),
    "NumPy cannot work on symbolic tensors": negative_numpy,
    ".numpy() or float(...) cannot run on them": negative_numpy_of_tensor,
    ".numpy() exists only on an eager tf.Tensor": negative_dot_numpy,
    "np.asarray, np.equal, np.eye": negative_np_not_equal,
    "the batch dimension is None while tracing": negative_static_reshape,
    "x.shape[0] and len(x) give no number": negative_pairs_loop,
    "got a single Python bool": negative_is_not,
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


def _batch_hard_numpy_masks(labels, embeddings, margin=0.2):
    """The masks built with NumPy from np.asarray(labels): right eagerly, impossible when traced."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = np.asarray(labels).reshape(-1)
    same = labels[:, None] == labels[None, :]
    positives = same & ~np.eye(len(labels), dtype=bool)
    hp = ops.max(ops.where(positives, d, 0.0), axis=1)
    hn = ops.min(ops.where(~same, d, 1e9), axis=1)
    valid = ops.cast(positives.any(axis=1), d.dtype)
    return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.maximum(ops.sum(valid), 1.0)


def _batch_hard_static_eye(labels, embeddings, margin=0.2):
    """ops.eye(labels.shape[0]): None while tracing."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    positives = ops.logical_and(same, ops.logical_not(ops.eye(labels.shape[0], dtype="bool")))
    hp = ops.max(ops.where(positives, d, 0.0), axis=1)
    hn = ops.min(ops.where(ops.logical_not(same), d, 1e9), axis=1)
    valid = ops.cast(ops.any(positives, axis=1), d.dtype)
    return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.maximum(ops.sum(valid), 1.0)


def _batch_hard_anchor_loop(labels, embeddings, margin=0.2):
    """A Python loop over the anchors, range(labels.shape[0])."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.reshape(labels, (-1,))
    terms, count = [], 0.0
    for a in range(labels.shape[0]):
        same = ops.equal(labels, labels[a])
        positive = ops.logical_and(same, ops.not_equal(ops.arange(labels.shape[0]), a))
        has = ops.cast(ops.any(positive), d.dtype)
        hp = ops.max(ops.where(positive, d[a], 0.0))
        hn = ops.min(ops.where(same, 1e9, d[a]))
        terms.append(ops.maximum(hp - hn + margin, 0.0) * has)
        count = count + has
    return ops.sum(ops.stack(terms)) / ops.maximum(count, 1.0)


def _batch_hard_if_no_anchor(labels, embeddings, margin=0.2):
    """A Python `if` on a tensor value (no valid anchor) instead of a guarded division."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    positives = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
    valid = ops.cast(ops.any(positives, axis=1), d.dtype)
    if ops.sum(valid) == 0:
        return ops.zeros((), d.dtype)
    hp = ops.max(ops.where(positives, d, 0.0), axis=1)
    hn = ops.min(ops.where(ops.logical_not(same), d, 1e9), axis=1)
    return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.sum(valid)


def _batch_hard_dot_numpy(labels, embeddings, margin=0.2):
    """labels.numpy() to build the masks."""
    return _batch_hard_numpy_masks(labels.numpy(), embeddings, margin)


def _batch_hard_zero_filled(labels, embeddings, margin=0.2):
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    positives = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
    hp = ops.max(ops.where(positives, d, 0.0), axis=1)
    hn = ops.min(ops.where(ops.logical_not(same), d, 0.0), axis=1)        # the mistake
    valid = ops.cast(ops.any(positives, axis=1), d.dtype)
    return ops.sum(ops.maximum(hp - hn + margin, 0.0) * valid) / ops.maximum(ops.sum(valid), 1.0)


def batch_hard_dynamic(labels, embeddings, margin=0.2):
    """Sizes read at run time with ops.shape: fine with an unknown batch size."""
    d = losses.pairwise_squared_distances(embeddings)
    labels = ops.reshape(labels, (ops.shape(labels)[0],))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    positives = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(d)[0], dtype="bool")))
    negatives = ops.logical_not(same)
    hp = ops.max(ops.where(positives, d, ops.zeros_like(d)), axis=1)
    hn = ops.min(ops.where(negatives, d, ops.max(d) + 1.0), axis=1)
    valid = ops.logical_and(ops.any(positives, axis=1), ops.any(negatives, axis=1))
    per_anchor = ops.where(valid, ops.maximum(hp - hn + margin, 0.0), ops.zeros_like(hp))
    return ops.sum(per_anchor) / ops.maximum(ops.sum(ops.cast(valid, d.dtype)), 1.0)


BATCH_HARD_MISTAKES = {
    "the hardest positive is the FARTHEST one": _batch_hard(hardest_positive="min"),
    "the hardest negative is the CLOSEST one": _batch_hard(hardest_negative="max"),
    "anchors without any positive in the batch": _batch_hard(diagonal=True, divide_by="all"),
    "the negatives are not masked": _batch_hard(mask_negatives=False),
    "the relu (max(·, 0)) is missing": _batch_hard(relu=False),
    "you divided by ALL anchors": _batch_hard(divide_by="all (masked)"),
    "anchors without any negative": _batch_hard(fill_negatives="row max"),
    "filled with 0 before the min": _batch_hard_zero_filled,
    "NumPy cannot work on symbolic tensors": _batch_hard_numpy_masks,
    "the batch dimension is None while tracing": _batch_hard_static_eye,
    "range(x.shape[0]), ops.eye(x.shape[0])": _batch_hard_anchor_loop,
    "a Python if (or and / or / not) on a tensor's value": _batch_hard_if_no_anchor,
    ".numpy() exists only on an eager tf.Tensor": _batch_hard_dot_numpy,
}




CORRECT = [
(C.check_positive_mask, losses.positive_mask), (C.check_positive_mask, positive_tf),
    (C.check_positive_mask, positive_dynamic),
    (C.check_negative_mask, losses.negative_mask), (C.check_negative_mask, negative_ops),
    (C.check_negative_mask, negative_dynamic),
    (C.check_batch_hard_triplet_loss, solutions.batch_hard_triplet_loss), (C.check_batch_hard_triplet_loss, losses.batch_hard_triplet_loss),
    (C.check_batch_hard_triplet_loss, _batch_hard()), (C.check_batch_hard_triplet_loss, batch_hard_tf),
    (C.check_batch_hard_triplet_loss, batch_hard_dynamic),
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
    message = failure(C.check_batch_hard_triplet_loss, _batch_hard_zero_filled)
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
