"""Distances and triplet losses for FaceNet, written with ``keras.ops`` only.

Everything numeric here uses ``keras.ops`` (never ``tf.``), so it runs unchanged on other Keras
backends: TensorFlow and JAX are tested (``tests/test_backend_jax.py``), PyTorch is not. A slow, loop-by-loop version of every function lives in
``course_utils.exercises.loop_references``; the tests check that both give the same numbers.

Why one long module: the distance matrix, the masks and the three mining strategies share one
numerically delicate contract (safe square root, float32 accumulation for half precision, the
same statistics for ``compile`` metrics); kept together it is read and tested as one piece.

Conventions used throughout
---------------------------
* ``embeddings``: shape ``(B, D)``, float32 or float64 (NumPy array or backend tensor).
  The course's encoder L2-normalises them, but nothing below assumes it.
* ``labels``: shape ``(B,)`` or ``(B, 1)``, integer identity ids. Float labels are accepted
  (Keras hands ``y_true`` to a loss as float32) and are rounded before comparing; they are
  exact for ids below 2**24.
* Distances are **squared Euclidean** unless a function says otherwise, so with unit-length
  embeddings they lie in ``[0, 4]``.
* ``margin`` (α in the FaceNet paper) defaults to 0.2.
* Results have the float dtype of ``embeddings``; masks are boolean.
* Half precision (float16 / bfloat16 embeddings, e.g. from a ``mixed_float16`` or
  ``mixed_bfloat16`` model): distances, counts and sums are computed in **float32** (float16
  overflows above 65,504 — a P=64, K=4 batch has 193,536 valid triplets — and bfloat16 counts
  exactly only up to 256), as TensorFlow Addons did. The loss is cast back to the input dtype;
  the ``stats`` stay float32.

The three mining strategies (all use every valid triplet/anchor in the batch)
-----------------------------------------------------------------------------
* ``batch_all``  every valid triplet (a, p, n); average over the *active* ones (loss > 0).
* ``batch_hard`` per anchor: farthest positive vs closest negative; average over anchors.
* ``semi_hard``  per positive pair (a, p): the closest negative that is still farther than
  p (FaceNet paper, Schroff et al. 2015, section 3.2); average over positive pairs.

Each ``*_triplet_loss`` returns ``(loss, stats)``; ``stats`` is a dict of scalar tensors:

* ``"fraction_active"``        share of valid triplets (or anchors, or pairs) with loss > 0
* ``"mean_positive_distance"`` mean squared distance over all positive pairs (same id, i != j)
* ``"mean_negative_distance"`` mean squared distance over all negative pairs (different ids)
* ``"num_active"``             batch-all only: the number of active triplets

All means over an empty set are 0 (e.g. a batch with one identity has no negatives), so the
loss never becomes NaN.

Bad input (wrong ranks, label/embedding batch mismatch, unknown strategy, negative margin)
raises ``ValueError`` with a plain message *before* any backend op runs.
"""
from __future__ import annotations

import math

from course_utils.config import quiet_tensorflow

quiet_tensorflow()   # before Keras starts TensorFlow: keeps its C++ start-up log out of notebooks
import keras
import numpy as np
from keras import ops

STRATEGIES = ("batch_all", "batch_hard", "semi_hard")

__all__ = [
    "STRATEGIES",
    "pairwise_squared_distances",
    "pairwise_distances",
    "triplet_loss",
    "positive_mask",
    "negative_mask",
    "triplet_mask",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "semi_hard_triplet_loss",
    "triplet_loss_from_batch",
    "TripletLoss",
    "triplet_stat",
    "triplet_metrics",
]


# ---------------------------------------------------------------------------
# Input checks (pure Python: they run before any backend op)
# ---------------------------------------------------------------------------

def _static_shape(x):
    """The shape of ``x`` as a tuple (``None`` for unknown sizes), or ``None`` if unknown rank."""
    try:
        return tuple(None if s is None else int(s) for s in x.shape)
    except (TypeError, ValueError):  # symbolic tensor with unknown rank
        return None


def _as_array(x):
    """Lists/tuples become NumPy arrays; tensors and arrays pass through untouched."""
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


def _dtype_name(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _check_embeddings(embeddings, name="embeddings"):
    """Validate a ``(B, D)`` embedding matrix and return it as a float tensor."""
    embeddings = _as_array(embeddings)
    shape = _static_shape(embeddings)
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array of shape (batch, embedding_dim); "
            f"got shape {shape}."
        )
    try:
        dtype = _dtype_name(embeddings)
    except ValueError:
        raise ValueError(f"`{name}` must hold numbers; got dtype {embeddings.dtype}.") from None
    if dtype in ("string", "object", "str"):
        raise ValueError(f"`{name}` must hold numbers; got dtype {dtype}.")
    embeddings = ops.convert_to_tensor(embeddings)
    if "float" not in dtype:
        embeddings = ops.cast(embeddings, keras.config.floatx())
    return embeddings


def _check_labels(labels, batch_size=None):
    """Validate labels of shape ``(B,)`` or ``(B, 1)``; return a ``(B,)`` tensor.

    Float labels (what Keras passes as ``y_true``) are rounded to the nearest integer value
    and kept as floats: comparing integer-valued floats is exact, and we never cast a large
    int64 id down to int32 (which could make two different people equal).
    """
    labels = _as_array(labels)
    shape = _static_shape(labels)
    if shape is not None:
        ok_rank = len(shape) == 1 or (len(shape) == 2 and shape[1] in (1, None))
        if not ok_rank:
            hint = ""
            if len(shape) == 2 and batch_size is not None:
                hint = " Did you swap the arguments? The order is (labels, embeddings)."
            raise ValueError(
                "`labels` must have shape (batch,) or (batch, 1) with one integer identity id "
                f"per embedding; got shape {shape}.{hint}"
            )
        n = shape[0]
        if batch_size is not None and n is not None and n != batch_size:
            raise ValueError(
                f"`labels` has {n} entries but `embeddings` has {batch_size} rows; "
                "expected one label per embedding."
            )
    try:
        dtype = _dtype_name(labels)
    except ValueError:
        raise ValueError(
            f"`labels` must be integer identity ids; got dtype {labels.dtype}."
        ) from None
    if dtype in ("string", "object", "str"):
        raise ValueError(f"`labels` must be integer identity ids; got dtype {dtype}.")
    labels = ops.convert_to_tensor(labels)
    if shape is None or len(shape) == 2:
        labels = ops.reshape(labels, (-1,))
    if "float" in dtype:
        labels = ops.round(labels)
    return labels


def _check_margin(margin, name="margin") -> float:
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number >= 0; got {margin!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0; got {margin!r}.")
    return value


def _check_strategy(strategy) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Unknown triplet strategy {strategy!r}; expected one of: "
            + ", ".join(repr(s) for s in STRATEGIES)
            + "."
        )
    return strategy


def _check_labels_and_embeddings(labels, embeddings):
    """Check both inputs together (pure Python), then convert them to tensors."""
    embeddings_shape = _static_shape(_as_array(embeddings))
    if embeddings_shape is not None and len(embeddings_shape) != 2:
        raise ValueError(
            "`embeddings` must be a 2-D array of shape (batch, embedding_dim); "
            f"got shape {embeddings_shape}."
            + (" Did you swap the arguments? The order is (labels, embeddings)."
               if len(embeddings_shape) == 1 else "")
        )
    batch_size = embeddings_shape[0] if embeddings_shape else None
    labels = _check_labels(labels, batch_size)
    embeddings = _check_embeddings(embeddings)
    return labels, embeddings


# ---------------------------------------------------------------------------
# Small helpers (they expect tensors that were already checked)
# ---------------------------------------------------------------------------

HALF_DTYPES = ("float16", "bfloat16")


def _accumulation_dtype(dtype: str) -> str:
    """float32 for half-precision inputs (sums and counts overflow or lose integers), else ``dtype``."""
    return "float32" if dtype in HALF_DTYPES else dtype


def _upcast(embeddings):
    """``(embeddings in the accumulation dtype, the input dtype)``; see the module docstring."""
    dtype = _dtype_name(embeddings)
    if dtype in HALF_DTYPES:
        return ops.cast(embeddings, "float32"), dtype
    return embeddings, dtype


def _count(mask, dtype):
    """Number of True entries of a boolean mask, as a float scalar (float32 at least)."""
    return ops.sum(ops.cast(mask, _accumulation_dtype(keras.backend.standardize_dtype(dtype))))


def _masked_mean(values, mask):
    """Mean of ``values`` where ``mask`` is True; 0 when the mask is empty (float32 at least)."""
    values = ops.cast(values, _accumulation_dtype(_dtype_name(values)))
    total = ops.sum(ops.where(mask, values, 0.0))
    return total / ops.maximum(_count(mask, values.dtype), 1.0)


def _pair_masks(labels):
    """``(positives, negatives)``: two ``(B, B)`` bool masks, see ``positive_mask``."""
    same_label = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
    return ops.logical_and(same_label, not_self), ops.logical_not(same_label)


def _distance_stats(squared_distances, positives, negatives):
    """Mean squared distance over positive pairs and over negative pairs."""
    return {
        "mean_positive_distance": _masked_mean(squared_distances, positives),
        "mean_negative_distance": _masked_mean(squared_distances, negatives),
    }


def _squared_distances(embeddings):
    gram = ops.matmul(embeddings, ops.transpose(embeddings))       # (B, B): a·b
    squared_norms = ops.diagonal(gram)                               # (B,):   ‖a‖²
    distances = (ops.expand_dims(squared_norms, 1)
                 - 2.0 * gram
                 + ops.expand_dims(squared_norms, 0))               # (B, B)
    distances = ops.maximum(distances, 0.0)
    on_diagonal = ops.eye(ops.shape(embeddings)[0], dtype="bool")
    return ops.where(on_diagonal, 0.0, distances)


def _safe_sqrt(squared_distances):
    is_zero = ops.equal(squared_distances, 0.0)
    safe = ops.where(is_zero, 1.0, squared_distances)
    return ops.where(is_zero, 0.0, ops.sqrt(safe))


# ---------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------

def pairwise_squared_distances(embeddings):
    """All pairwise squared Euclidean distances, without a Python loop.

    Uses ``‖a − b‖² = ‖a‖² − 2 a·b + ‖b‖²``: one matrix product instead of B² subtractions.
    Rounding can make the right-hand side slightly negative, so it is clipped at 0, and the
    diagonal is set to exactly 0. The squared norms are read off the diagonal of the same
    matrix product, so two identical rows get a distance of (almost always exactly) 0.

    Args:
        embeddings: ``(B, D)`` float array or tensor.

    Returns:
        ``(B, B)`` tensor, same float dtype as ``embeddings``; entry ``[i, j]`` is
        ``‖e_i − e_j‖²`` (squared units, >= 0, symmetric, 0 on the diagonal).
    """
    return _squared_distances(_check_embeddings(embeddings))


def pairwise_distances(embeddings, squared: bool = False):
    """All pairwise Euclidean distances (or squared distances if ``squared=True``).

    The derivative of ``sqrt(x)`` is ``1 / (2 sqrt(x))``, which is infinite at ``x = 0``, so a
    naive ``sqrt`` gives NaN gradients as soon as two embeddings coincide (always true on the
    diagonal, and common when a model collapses). We take the square root only where the
    squared distance is positive: zeros are replaced by 1 inside the ``sqrt`` and set back
    to 0 afterwards, so both the value and the gradient stay finite.

    Args:
        embeddings: ``(B, D)`` float array or tensor.
        squared: return squared distances (the default elsewhere in this module) instead.

    Returns:
        ``(B, B)`` tensor, same float dtype as ``embeddings``; ``‖e_i − e_j‖`` (or its square).
    """
    squared_distances = pairwise_squared_distances(embeddings)
    return squared_distances if squared else _safe_sqrt(squared_distances)


# ---------------------------------------------------------------------------
# The plain triplet loss (you already chose the triplets)
# ---------------------------------------------------------------------------

def triplet_loss(anchor, positive, negative, alpha: float = 0.2):
    """FaceNet triplet loss for triplets you have already chosen.

    ``mean_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0)``

    Args:
        anchor, positive, negative: ``(B, D)`` float arrays or tensors, row ``i`` of each
            forming one triplet (``positive`` is the same person as ``anchor``,
            ``negative`` a different person).
        alpha: the margin α (squared-distance units), >= 0.

    Returns:
        Scalar tensor (float dtype of ``anchor``).
    """
    alpha = _check_margin(alpha, "alpha")
    shapes = [_static_shape(_as_array(x)) for x in (anchor, positive, negative)]
    for name, shape in zip(("anchor", "positive", "negative"), shapes):
        if shape is not None and len(shape) != 2:
            raise ValueError(f"`{name}` must be a 2-D array of shape (batch, embedding_dim); "
                             f"got shape {shape}.")
    known = [s for s in shapes if s is not None]
    for s in known[1:]:
        if any(x is not None and y is not None and x != y for x, y in zip(s, known[0])):
            raise ValueError("`anchor`, `positive` and `negative` must have the same shape; "
                             f"got {shapes[0]}, {shapes[1]} and {shapes[2]}.")
    anchor = _check_embeddings(anchor, "anchor")
    positive = ops.cast(_check_embeddings(positive, "positive"), anchor.dtype)
    negative = ops.cast(_check_embeddings(negative, "negative"), anchor.dtype)
    anchor, out_dtype = _upcast(anchor)
    positive, negative = ops.cast(positive, anchor.dtype), ops.cast(negative, anchor.dtype)
    d_pos = ops.sum(ops.square(anchor - positive), axis=1)   # (B,)
    d_neg = ops.sum(ops.square(anchor - negative), axis=1)   # (B,)
    return ops.cast(ops.mean(ops.maximum(d_pos - d_neg + alpha, 0.0)), out_dtype)


# ---------------------------------------------------------------------------
# Masks: which pairs / triplets in a batch are valid
# ---------------------------------------------------------------------------

def positive_mask(labels):
    """``(B, B)`` bool: ``[a, p]`` is True when ``a != p`` and ``labels[a] == labels[p]``."""
    return _pair_masks(_check_labels(labels))[0]


def negative_mask(labels):
    """``(B, B)`` bool: ``[a, n]`` is True when ``labels[a] != labels[n]``."""
    return _pair_masks(_check_labels(labels))[1]


def triplet_mask(labels):
    """``(B, B, B)`` bool: ``[a, p, n]`` is True for a valid triplet.

    Valid means ``a != p``, ``labels[a] == labels[p]`` and ``labels[a] != labels[n]``
    (which already implies ``n != a`` and ``n != p``).
    """
    positives, negatives = _pair_masks(_check_labels(labels))   # [a, p] and [a, n]
    return ops.logical_and(ops.expand_dims(positives, 2),       # (B, B, 1)
                           ops.expand_dims(negatives, 1))       # (B, 1, B)


# ---------------------------------------------------------------------------
# Online mining: the three strategies
# ---------------------------------------------------------------------------

def batch_all_triplet_loss(labels, embeddings, margin=0.2):
    """Batch-all: average the loss of every *active* valid triplet in the batch.

    For each valid ``(a, p, n)``: ``max(d(a,p) − d(a,n) + margin, 0)`` with squared
    distances ``d``. The loss is the sum over valid triplets divided by the number of
    **active** triplets (loss > 0), so easy triplets do not dilute the average
    (Hermans et al. 2017, "In Defense of the Triplet Loss"). 0 if no triplet is active.

    Memory: builds ``(B, B, B)`` tensors (B=256: 16.8 M entries, 64 MiB each in float32).

    Args:
        labels: ``(B,)`` or ``(B, 1)`` identity ids.
        embeddings: ``(B, D)`` float.
        margin: α, in squared-distance units.

    Returns:
        ``(loss, stats)``: scalar loss; ``stats["fraction_active"]`` = active / valid
        triplets, ``stats["num_active"]`` = the count of active triplets (float, the loss's
        divisor; a multi-device run weights each replica's share by it), plus
        ``mean_positive_distance`` and ``mean_negative_distance``.
    """
    margin = _check_margin(margin)
    labels, embeddings = _check_labels_and_embeddings(labels, embeddings)
    embeddings, out_dtype = _upcast(embeddings)
    distances = _squared_distances(embeddings)                          # (B, B)
    positives, negatives = _pair_masks(labels)                          # (B, B) each
    # losses[a, p, n] = d(a, p) − d(a, n) + margin
    losses = ops.expand_dims(distances + margin, 2) - ops.expand_dims(distances, 1)
    valid = ops.logical_and(ops.expand_dims(positives, 2),             # (B, B, B)
                            ops.expand_dims(negatives, 1))
    active = ops.logical_and(valid, ops.greater(losses, 0.0))          # (B, B, B)
    num_active = _count(active, distances.dtype)
    loss = ops.sum(ops.where(active, losses, 0.0)) / ops.maximum(num_active, 1.0)
    # Anchor a is in (#positives of a) × (#negatives of a) valid triplets.
    per_anchor = (ops.sum(ops.cast(positives, distances.dtype), axis=1)
                  * ops.sum(ops.cast(negatives, distances.dtype), axis=1))
    num_valid = ops.sum(per_anchor)
    stats = {"fraction_active": num_active / ops.maximum(num_valid, 1.0), "num_active": num_active}
    stats.update(_distance_stats(distances, positives, negatives))
    return ops.cast(loss, out_dtype), stats


def batch_hard_triplet_loss(labels, embeddings, margin=0.2, squared=True):
    """Batch-hard: for each anchor, its farthest positive against its closest negative.

    Per anchor ``a``: ``max(max_p d(a,p) − min_n d(a,n) + margin, 0)``. The loss is the mean
    over anchors that have at least one positive **and** at least one negative (an anchor
    with no negative in the batch has no triplet; in a P×K batch with P >= 2 and K >= 2 that
    is every anchor). 0 if there is no such anchor.

    Args:
        labels: ``(B,)`` or ``(B, 1)`` identity ids.
        embeddings: ``(B, D)`` float.
        margin: α, in the units of the distance used.
        squared: use squared Euclidean distances (default) or plain Euclidean ones.

    Returns:
        ``(loss, stats)``; ``stats["fraction_active"]`` = anchors with loss > 0 / valid
        anchors. The two mean distances in ``stats`` are always squared, over all pairs.
    """
    margin = _check_margin(margin)
    labels, embeddings = _check_labels_and_embeddings(labels, embeddings)
    embeddings, out_dtype = _upcast(embeddings)
    squared_distances = _squared_distances(embeddings)                  # (B, B)
    distances = squared_distances if squared else _safe_sqrt(squared_distances)
    positives, negatives = _pair_masks(labels)
    # Distances are >= 0, so 0 can stand in for "not a positive" in the max
    # (initial=0.0 also makes the max of an all-filler row well defined).
    hardest_positive = ops.max(ops.where(positives, distances, 0.0), axis=1, initial=0.0)
    # ...and the row's largest distance can stand in for "not a negative" in the min.
    row_max = ops.max(distances, axis=1, keepdims=True, initial=0.0)            # (B, 1)
    hardest_negative = ops.min(ops.where(negatives, distances, row_max), axis=1)  # (B,)
    per_anchor = ops.maximum(hardest_positive - hardest_negative + margin, 0.0)   # (B,)
    valid = ops.logical_and(ops.any(positives, axis=1), ops.any(negatives, axis=1))
    per_anchor = ops.where(valid, per_anchor, 0.0)
    num_valid = ops.maximum(_count(valid, distances.dtype), 1.0)
    loss = ops.sum(per_anchor) / num_valid
    stats = {"fraction_active": _count(ops.greater(per_anchor, 0.0), distances.dtype) / num_valid}
    stats.update(_distance_stats(squared_distances, positives, negatives))
    return ops.cast(loss, out_dtype), stats


def semi_hard_triplet_loss(labels, embeddings, margin=0.2):
    """Semi-hard mining as in FaceNet (Schroff et al. 2015), with squared distances.

    Exactly what is computed, for every positive pair ``(a, p)`` whose anchor has at least
    one negative in the batch:

    1. ``farther = {n : labels[n] != labels[a] and d(a,n) > d(a,p)}`` (strictly farther
       than the positive).
    2. If ``farther`` is not empty, the chosen negative distance is ``min d(a,n)`` over it —
       the closest negative that is still farther than the positive. (When that distance is
       also below ``d(a,p) + margin`` this is the paper's semi-hard negative; when it is
       beyond the margin the pair's loss is simply 0.)
    3. Otherwise (every negative is at least as close as the positive) the chosen negative
       distance is the largest ``d(a,n)`` over all of ``a``'s negatives — the easiest of the
       hard negatives.
    4. Pair loss: ``max(d(a,p) − chosen + margin, 0)``.

    The loss is the mean over those positive pairs (0 if there are none). This is the rule of
    ``tfa.losses.TripletSemiHardLoss(distance_metric="squared-L2")`` ("negatives_outside",
    else "negatives_inside"), with one difference: TFA also averages over pairs whose anchor
    has no negative at all (counting them with loss ``margin + d(a,p)``); we skip them.
    TFA's default ``distance_metric`` is plain ``"L2"`` with ``margin=1.0``.

    Memory: builds ``(B, B, B)`` tensors, like batch-all.

    Args:
        labels: ``(B,)`` or ``(B, 1)`` identity ids.
        embeddings: ``(B, D)`` float.
        margin: α, in squared-distance units.

    Returns:
        ``(loss, stats)``; ``stats["fraction_active"]`` = pairs with loss > 0 / valid pairs.
    """
    margin = _check_margin(margin)
    labels, embeddings = _check_labels_and_embeddings(labels, embeddings)
    embeddings, out_dtype = _upcast(embeddings)
    distances = _squared_distances(embeddings)                          # (B, B)
    positives, negatives = _pair_masks(labels)

    d_ap = ops.expand_dims(distances, 2)                                # (B, B, 1) [a, p, ·]
    d_an = ops.expand_dims(distances, 1)                                # (B, 1, B) [a, ·, n]
    farther = ops.logical_and(ops.expand_dims(negatives, 1),            # (B, B, B) [a, p, n]
                              ops.greater(d_an, d_ap))
    has_farther = ops.any(farther, axis=2)                              # (B, B)    [a, p]
    # Any value >= every distance can stand in for "not a candidate" in the min.
    filler = ops.max(distances, initial=0.0)
    closest_farther = ops.min(ops.where(farther, d_an, filler), axis=2)              # (B, B)
    farthest_negative = ops.max(ops.where(negatives, distances, 0.0),
                                axis=1, keepdims=True, initial=0.0)                  # (B, 1)
    chosen = ops.where(has_farther, closest_farther, farthest_negative)              # (B, B)

    pair_losses = ops.maximum(distances - chosen + margin, 0.0)                      # (B, B)
    valid = ops.logical_and(positives, ops.any(negatives, axis=1, keepdims=True))     # (B, B)
    pair_losses = ops.where(valid, pair_losses, 0.0)
    num_valid = ops.maximum(_count(valid, distances.dtype), 1.0)
    loss = ops.sum(pair_losses) / num_valid
    stats = {"fraction_active": _count(ops.greater(pair_losses, 0.0), distances.dtype) / num_valid}
    stats.update(_distance_stats(distances, positives, negatives))
    return ops.cast(loss, out_dtype), stats


def triplet_loss_from_batch(labels, embeddings, strategy: str = "batch_all", margin: float = 0.2):
    """Pick a mining strategy by name: ``"batch_all"``, ``"batch_hard"`` or ``"semi_hard"``.

    Args:
        labels: ``(B,)`` or ``(B, 1)`` identity ids.
        embeddings: ``(B, D)`` float.
        strategy: one of ``STRATEGIES``.
        margin: α, in squared-distance units (``batch_hard`` uses squared distances here).

    Returns:
        ``(loss, stats)`` from the chosen function.
    """
    _check_strategy(strategy)
    if strategy == "batch_all":
        return batch_all_triplet_loss(labels, embeddings, margin)
    if strategy == "batch_hard":
        return batch_hard_triplet_loss(labels, embeddings, margin)
    return semi_hard_triplet_loss(labels, embeddings, margin)


# ---------------------------------------------------------------------------
# Keras wrappers: a Loss for model.compile and the matching metrics
# ---------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="course_utils")
class TripletLoss(keras.losses.Loss):
    """Triplet loss with online mining, for ``model.compile(loss=TripletLoss(...))``.

    ``y_true`` is the ``(B,)`` (or ``(B, 1)``) vector of identity ids and ``y_pred`` the
    ``(B, D)`` embeddings the model outputs; the result is one scalar per batch. Because the
    loss couples the whole batch, ``sample_weight`` has no per-sample meaning: Keras would
    just scale the scalar by the mean weight, so do not pass one.

    Args:
        strategy: ``"batch_all"`` (default), ``"batch_hard"`` or ``"semi_hard"``.
        margin: α in squared-distance units (0.2 by default, as in FaceNet).
    """

    def __init__(self, strategy="batch_all", margin=0.2, name="triplet_loss",
                 reduction="sum_over_batch_size", dtype=None):
        _check_strategy(strategy)
        margin = _check_margin(margin)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.strategy = strategy
        self.margin = margin

    def call(self, y_true, y_pred):
        loss, _ = triplet_loss_from_batch(y_true, y_pred, self.strategy, self.margin)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update({"strategy": self.strategy, "margin": self.margin})
        return config


METRIC_STATS = {
    "active_triplets": "fraction_active",
    "d_pos": "mean_positive_distance",
    "d_neg": "mean_negative_distance",
}


@keras.saving.register_keras_serializable(package="course_utils")
def triplet_stat(y_true, y_pred, stat="fraction_active", strategy="batch_all", margin=0.2):
    """One entry of the ``stats`` dict for a batch (the function behind ``triplet_metrics``).

    The distance means do not depend on the strategy, so they skip the mining step.
    """
    if stat not in METRIC_STATS.values():
        raise ValueError(f"Unknown stat {stat!r}; expected one of {sorted(METRIC_STATS.values())}.")
    if stat == "fraction_active":
        _, stats = triplet_loss_from_batch(y_true, y_pred, strategy, margin)
        return stats[stat]
    labels, embeddings = _check_labels_and_embeddings(y_true, y_pred)
    embeddings, _ = _upcast(embeddings)
    positives, negatives = _pair_masks(labels)
    return _distance_stats(_squared_distances(embeddings), positives, negatives)[stat]


def triplet_metrics(strategy="batch_all", margin=0.2):
    """Keras metrics that report the triplet statistics while you train.

    Returns three ``keras.metrics.MeanMetricWrapper`` objects (each value is the mean over
    the batches of the epoch):

    * ``"active_triplets"`` — fraction of valid triplets / anchors / pairs with loss > 0
      for ``strategy`` (falling towards 0 means the easy triplets are solved);
    * ``"d_pos"`` — mean squared distance between embeddings of the same person;
    * ``"d_neg"`` — mean squared distance between different people.

    Use as ``model.compile(loss=TripletLoss(s, m), metrics=triplet_metrics(s, m))``.
    """
    _check_strategy(strategy)
    margin = _check_margin(margin)
    return [
        keras.metrics.MeanMetricWrapper(
            triplet_stat, name=name, stat=stat, strategy=strategy, margin=margin)
        for name, stat in METRIC_STATS.items()
    ]
