"""Lesson 4 checks: triplet_loss and pairwise_squared_distances."""
from __future__ import annotations


import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from course_utils import exercises as C
from course_utils import losses

from course_utils.exercises.lesson04_triplet_loss import PAIRWISE_SQUARED_DISTANCES

from kit_helpers import NONE, exercise_tests, failure, probe_message, returns


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


def triplet_dynamic_mean(anchor, positive, negative, alpha=0.2):
    """The mean as a sum over the batch size read at run time: fine with an unknown batch size."""
    terms = ops.maximum(_d(anchor, positive) - _d(anchor, negative) + alpha, 0.0)
    return ops.sum(terms) / ops.cast(ops.shape(anchor)[0], terms.dtype)


# --- right in eager mode, but they break when Keras traces the loss with an unknown batch size ----

def triplet_rows_tf(anchor, positive, negative, alpha=0.2):
    """tf.unstack needs the number of rows, which is None while tracing."""
    terms = [tf.maximum(tf.reduce_sum((a - p) ** 2) - tf.reduce_sum((a - n) ** 2) + alpha, 0.0)
             for a, p, n in zip(tf.unstack(tf.convert_to_tensor(anchor)), tf.unstack(tf.convert_to_tensor(positive)),
                                tf.unstack(tf.convert_to_tensor(negative)))]
    return tf.reduce_mean(tf.stack(terms))


def triplet_range_shape(anchor, positive, negative, alpha=0.2):
    """range(a.shape[0]): a.shape[0] is None while tracing."""
    a, p, n = (tf.convert_to_tensor(x) for x in (anchor, positive, negative))
    return tf.reduce_mean(tf.stack([tf.maximum(tf.reduce_sum((a[i] - p[i]) ** 2) - tf.reduce_sum((a[i] - n[i]) ** 2)
                                               + alpha, 0.0) for i in range(a.shape[0])]))


def triplet_range_len(anchor, positive, negative, alpha=0.2):
    """len(a) on a symbolic tensor with an unknown first dimension."""
    a, p, n = (ops.convert_to_tensor(x) for x in (anchor, positive, negative))
    terms = []
    for i in range(len(a)):
        terms.append(ops.maximum(ops.sum(ops.square(a[i] - p[i])) - ops.sum(ops.square(a[i] - n[i])) + alpha, 0.0))
    return ops.mean(ops.stack(terms))


def triplet_zip_rows(anchor, positive, negative, alpha=0.2):
    """A list comprehension iterating over the tensors' rows."""
    a, p, n = (ops.convert_to_tensor(x) for x in (anchor, positive, negative))
    return ops.mean(ops.stack([ops.maximum(ops.sum(ops.square(x - y)) - ops.sum(ops.square(x - z)) + alpha, 0.0)
                               for x, y, z in zip(a, p, n)]))


def triplet_range_dynamic(anchor, positive, negative, alpha=0.2):
    """range(ops.shape(a)[0]): a tensor while tracing, and Python's range needs a number."""
    a, p, n = (ops.convert_to_tensor(x) for x in (anchor, positive, negative))
    terms = [ops.maximum(ops.sum(ops.square(a[i] - p[i])) - ops.sum(ops.square(a[i] - n[i])) + alpha, 0.0)
             for i in range(ops.shape(a)[0])]
    return ops.mean(ops.stack(terms))


def triplet_divided_by_static_shape(anchor, positive, negative, alpha=0.2):
    """The mean as a sum divided by a.shape[0], which is None while tracing."""
    terms = ops.maximum(_d(anchor, positive) - _d(anchor, negative) + alpha, 0.0)
    return ops.sum(terms) / ops.convert_to_tensor(anchor).shape[0]


def triplet_guarded_by_if(anchor, positive, negative, alpha=0.2):
    """A Python `if` on a tensor (the batch size) to guard an empty batch."""
    terms = ops.maximum(_d(anchor, positive) - _d(anchor, negative) + alpha, 0.0)
    if ops.shape(ops.convert_to_tensor(anchor))[0] == 0:
        return ops.zeros(())
    return ops.mean(terms)


def pairwise_tf(embeddings):
    e = tf.convert_to_tensor(embeddings)
    sq = tf.reduce_sum(e * e, axis=1)
    d = sq[:, None] - 2.0 * tf.matmul(e, e, transpose_b=True) + sq[None, :]
    return tf.linalg.set_diag(tf.maximum(d, 0.0), tf.zeros_like(sq))


def pairwise_numpy(embeddings):
    e = np.asarray(embeddings, dtype=np.float64)
    return np.sum((e[:, None, :] - e[None, :, :]) ** 2, axis=-1)


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


def _pairwise_static_eye(e):
    """Zeroes the diagonal with ops.eye(e.shape[0]): None while tracing."""
    e = ops.convert_to_tensor(e)
    return ops.maximum(_expanded(e), 0.0) * (1.0 - ops.eye(e.shape[0], dtype=e.dtype))


def _pairwise_numpy_eye(e):
    """Zeroes the diagonal with a NumPy np.eye(len(e)): len(e) has no value while tracing."""
    e = ops.convert_to_tensor(e)
    return ops.where(np.eye(len(e), dtype=bool), ops.zeros((), e.dtype), ops.maximum(_expanded(e), 0.0))


def _pairwise_via_numpy_values(e):
    """Converts the embeddings to NumPy (.numpy()) first."""
    x = ops.convert_to_tensor(e).numpy()
    return ops.convert_to_tensor(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))


def pairwise_dynamic_eye(embeddings):
    """The batch size taken at run time, ops.shape(e)[0]: fine with an unknown batch size."""
    e = ops.convert_to_tensor(embeddings)
    d = ops.maximum(_expanded(e), 0.0)
    return ops.where(ops.eye(ops.shape(e)[0], dtype="bool"), ops.zeros((), e.dtype), d)


PAIRWISE_MISTAKES = {
    "Euclidean instead of squared distances": lambda e: ops.sqrt(losses.pairwise_squared_distances(e)),
    "only the −2·a·b term": lambda e: ops.maximum(-2.0 * ops.matmul(e, ops.transpose(e)), 0.0),
    "wrong sign of the cross term": lambda e: ops.maximum(_expanded(e, sign=+1.0), 0.0),
    "broadcast the same way twice": lambda e: ops.maximum(_expanded(e, same_way=True), 0.0),
    "Clip them with d = ops.maximum(d, 0.0)": _pairwise_no_clip,
    "the diagonal is not zeroed": lambda e: ops.maximum(_expanded(e), 0.0),
    "no Python loops": _pairwise_loops,
    "NumPy cannot work on symbolic tensors": pairwise_numpy,
    "the batch dimension is None while tracing": _pairwise_static_eye,
    "len(x) give no number": _pairwise_numpy_eye,
    ".numpy() or float(...) cannot run on them": _pairwise_via_numpy_values,
}

# Each must be named by the words of its key: a loop over rows, x.shape[0] or a Python if on a
# tensor fail only once the batch size is unknown (as Keras traces the loss), not in eager mode.
TRIPLET_TRACE_MISTAKES = {
    "a Python loop over the rows of the batch": triplet_rows_tf,
    "the batch dimension is None while tracing": triplet_range_shape,
    "x.shape[0] and len(x) give no number": triplet_range_len,
    "zip over the tensors": triplet_zip_rows,
    "ops.shape(x)[0] is a tensor while tracing, not a Python number": triplet_range_dynamic,
    "take ops.shape(x)[0] (a tensor while tracing": triplet_divided_by_static_shape,
    "a Python if (or and / or / not) on a tensor's value": triplet_guarded_by_if,
}


def pairwise_float32(embeddings):         # computing in float32 on float64 inputs is fine too
    e = tf.cast(embeddings, tf.float32)
    return losses.pairwise_squared_distances(e)




CORRECT = [
(C.check_triplet_loss, losses.triplet_loss), (C.check_triplet_loss, triplet_ops),
    (C.check_triplet_loss, triplet_tf), (C.check_triplet_loss, triplet_dynamic_mean),
    (C.check_pairwise_squared_distances, losses.pairwise_squared_distances), (C.check_pairwise_squared_distances, pairwise_tf),
    (C.check_pairwise_squared_distances, pairwise_float32), (C.check_pairwise_squared_distances, pairwise_dynamic_eye),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: triplet_ops(*(tf.cast(x, tf.float32) for x in (a, p, n)), alpha)),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_triplet_loss, TRIPLET_MISTAKES), (C.check_triplet_loss, TRIPLET_TRACE_MISTAKES), (C.check_pairwise_squared_distances, PAIRWISE_MISTAKES)] for hint, fn in table.items()] + [(C.check_triplet_loss, "max of sum vs sum of max", _max_of_mean)]

FALLBACKS = [
(C.check_triplet_loss, "triplet_loss", losses.triplet_loss, "course_utils.losses.triplet_loss"),
    (C.check_pairwise_squared_distances, "pairwise_squared_distances", losses.pairwise_squared_distances,
     "course_utils.losses.pairwise_squared_distances"),
    ]

WRONG_KINDS = [
(C.check_triplet_loss, NONE, "Expected a scalar tensor, got None"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: float(losses.triplet_loss(a, p, n, alpha)),
     "not a Python float: gradients cannot flow through a float"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: ops.maximum(_d(a, p) - _d(a, n) + alpha, 0.0),
     "take the mean over the batch"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: np.mean(np.maximum(np.sum((a - p) ** 2, 1) - np.sum((a - n) ** 2, 1) + alpha, 0)),
     "not a NumPy"),
    (C.check_triplet_loss, lambda a, p, n, alpha=0.2: ops.sqrt(-ops.abs(losses.triplet_loss(a, p, n, alpha)) - 1.0), "NaN"),
    (C.check_pairwise_squared_distances, NONE, "Expected a (1, 1) matrix of distances, got None"),
    (C.check_pairwise_squared_distances, returns(1.0), "got a single number"),
    (C.check_pairwise_squared_distances, lambda e: ops.sum(ops.square(e), axis=1), "Expected shape (1, 1)"),
    ]


EXERCISE_OF = {C.check_triplet_loss: C.TRIPLET_LOSS, C.check_pairwise_squared_distances: C.PAIRWISE_SQUARED_DISTANCES}

globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS, exercise_of=EXERCISE_OF))


def test_exceptions_are_summarised_without_tensorflow_traces():
    message = failure(C.check_triplet_loss, lambda a, p, n, alpha=0.2: tf.reshape(a, (7, -1)))
    first = message.splitlines()[0]
    assert first.startswith("triplet_loss raised InvalidArgumentError: ")
    assert "function_node" not in message and "[Op:" not in message and len(first) < 400
    assert "Inputs (test 1 of 12):" in message


def test_the_summary_line_is_the_same_on_every_run(capsys):
    C.check_triplet_loss(losses.triplet_loss)
    C.check_triplet_loss(losses.triplet_loss)
    first, second = capsys.readouterr().out.splitlines()
    assert first == second == "✓ triplet_loss: correct on 12 randomized tests."


def test_a_hard_coded_answer_cannot_pass():
    a = np.eye(2, dtype=np.float32)
    constant = float(losses.triplet_loss(a, a, a[::-1]))
    message = failure(C.check_triplet_loss, lambda *args: tf.constant(constant))
    assert "wrong result on" in message and "expected:" in message and "got:" in message


def test_a_wrong_answer_without_a_known_cause_shows_an_example():
    message = failure(C.check_triplet_loss, lambda a, p, n, alpha=0.2: 1.5 * losses.triplet_loss(a, p, n, alpha))
    assert "Likely mistake" not in message
    assert "Smallest failing example:" in message and "anchor" in message and "expected:" in message


def test_losses_must_let_gradients_flow():
    fn = lambda a, p, n, alpha=0.2: tf.constant(losses.triplet_loss(a, p, n, alpha).numpy())  # noqa: E731
    assert "no gradient flows" in failure(C.check_triplet_loss, fn)


def test_a_loop_whose_source_cannot_be_read_is_caught_by_the_trace():
    """Without source the loop is not seen, but it still breaks once the batch size is unknown."""
    namespace = {"ops": ops}
    exec("def pairwise(e):\n    rows = ops.unstack(ops.convert_to_tensor(e))\n"
         "    return ops.stack([ops.stack([ops.sum((a - b) ** 2) for b in rows]) for a in rows])\n", namespace)
    message = failure(C.check_pairwise_squared_distances, namespace["pairwise"])
    assert "no Python loops, please" not in message, message
    assert "when the batch size is unknown" in message and "a Python loop over the rows" in message, message


def test_numpy_pairwise_distances_are_rejected_under_tf_function():
    """Issue 12: a NumPy version passed, then lesson 4 crashed inside tf.function three cells later."""
    message = failure(C.check_pairwise_squared_distances, pairwise_numpy)
    assert "fails inside tf.function" in message and "Use keras.ops" in message, message


def test_passing_a_call_instead_of_the_function_is_explained():
    assert "itself" in failure(C.check_triplet_loss, 0.5)


# --- issue 12: named mistakes ---------------------------------------------------------------------

def test_l1_distances_are_named():
    def l1(a, p, n, alpha=0.2):
        return ops.mean(ops.maximum(ops.sum(ops.abs(a - p), axis=1) - ops.sum(ops.abs(a - n), axis=1) + alpha, 0.0))
    assert "L1 distances" in failure(C.check_triplet_loss, l1)


def test_a_hard_coded_margin_is_named():
    def fixed(a, p, n, alpha=0.2):
        return ops.mean(ops.maximum(_d(a, p) - _d(a, n) + 0.2, 0.0))
    assert "the margin is hard-coded" in failure(C.check_triplet_loss, fixed)


def test_a_numpy_loss_is_called_a_numpy_value():
    """Issue 12: the NumPy loss was told to "drop the float(...)" although it never called float."""
    def numpy_loss(a, p, n, alpha=0.2):
        a, p, n = (np.asarray(x) for x in (a, p, n))
        return np.mean(np.maximum(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + alpha, 0))
    message = failure(C.check_triplet_loss, numpy_loss)
    assert "your result is a NumPy value; use keras.ops" in message and "drop the float" not in message, message


def _not_zeroed_float64(e):
    """The diagonal never set: computed in float64, its rounding error is ~1e-13, not 0."""
    e = ops.cast(ops.convert_to_tensor(e), "float64")
    return ops.maximum(_expanded(e), 0.0)


def _not_zeroed_abs(e):
    """abs() instead of clipping, diagonal never set."""
    return ops.abs(_expanded(e))


def _broadcast_differences(e):
    """Right without zeroing: (a − a)² is exactly 0 on the diagonal."""
    e = ops.convert_to_tensor(e)
    return ops.sum(ops.square(e[:, None, :] - e[None, :, :]), axis=-1)


@pytest.mark.parametrize("fn", [lambda e: ops.maximum(_expanded(e), 0.0), _not_zeroed_float64, _not_zeroed_abs],
                         ids=["float32", "float64", "abs"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_diagonal_not_zeroed_is_named(fn, seed, tmp_path):
    """Issue 12: ‖a‖² − 2a·a + ‖a‖² leaves rounding residue on the diagonal; it passed before."""
    message, reason = probe_message(PAIRWISE_SQUARED_DISTANCES, fn, seed, tmp_path)
    assert reason == "requirement" and "the diagonal is not zeroed" in message, message


def test_exact_zeros_on_the_diagonal_without_zeroing_are_fine():
    assert C.check_pairwise_squared_distances(_broadcast_differences) is _broadcast_differences
