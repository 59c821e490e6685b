"""Lesson 5 — mining triplets: ``check_positive_mask``, ``check_negative_mask`` and
``check_batch_hard_triplet_loss``, with their catalogues of known mistakes.

* ``positive_mask(labels)`` / ``negative_mask(labels)`` → ``(B, B)`` boolean masks. The checks feed
  labels of shape ``(B,)`` (as the docstrings say) and also ``(B, 1)`` columns and float labels, as
  a Keras loss receives ``y_true``: flatten them first, ``ops.reshape(labels, (-1,))``.
* ``batch_hard_triplet_loss(labels, embeddings, margin=0.2)`` → a scalar tensor (a ``(loss, stats)``
  tuple is accepted); gradients must flow back to ``embeddings``.

All three must also work inside ``tf.function`` with an unknown batch size: Keras traces the loss
(and the masks in it) that way in training, so NumPy masks, ``.numpy()``, ``labels.shape[0]`` and
Python loops over the batch are refused and named (see
:func:`~course_utils.exercises.lesson04_triplet_loss.traced_problem`).
"""
from __future__ import annotations

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF
from course_utils.exercises.lesson04_triplet_loss import RAISED_MISTAKES, works_in_tf_function
from course_utils.exercises.loop_references import squared_distance_matrix

_POSITIVE_HINTS = (
    'Input: labels of shape (B,) or (B, 1), int. Output: a (B, B) bool tensor, True at (i, j) when i and j are DIFFERENT images of the SAME person — so never on the diagonal. Use tensor operations only, so it works inside tf.function.',
    'The key operations: ops.reshape to a flat vector, broadcasting a column against a row with ==, ops.eye (as bool) and ops.logical_not / ops.logical_and to remove the diagonal.',
)

_NEGATIVE_HINTS = (
    'Input: labels of shape (B,) or (B, 1), int. Output: a (B, B) bool tensor, True at (i, j) when i and j show DIFFERENT people. Use tensor operations only, so it works inside tf.function.',
    'The key operations: ops.reshape to a flat vector, then broadcasting a column against a row with !=.',
)


def _mask_cases(rng, which: str) -> list[h.Case]:
    plan = [  # (B, labels shape "(B,)" or "(B,1)", dtype, tensor?, structure)
        (1, "flat", np.int32, False, "random"),
        (2, "column", np.int64, True, "distinct"),
        (5, "flat", np.float32, True, "random"),
        (8, "column", np.float32, False, "random"),
        (12, "flat", np.int64, False, "random"),
        (20, "column", np.int32, True, "random"),
        (6, "flat", np.int32, False, "same"),
        (9, "column", np.float32, True, "random"),
        (7, "flat", np.int64, True, "wide"),       # ids ≥ 128: a cast to int8/uint8 wraps them onto each other
    ]
    cases = []
    for b, layout, dtype, tensor, structure in plan:
        if structure == "distinct":
            labels = rng.permutation(100)[:b]
        elif structure == "same":
            labels = np.full(b, rng.integers(100))
        elif structure == "wide":            # 300, 812 and 44 agree modulo 256; 1000 and 488 too
            labels = rng.permutation(np.array([300, 44, 300, 812, 1000, 488, 44]))
        else:
            ids = rng.permutation(100)[:max(2, b // 3)]
            labels = ids[rng.integers(len(ids), size=b)]
            labels[: min(b, 2)] = ids[0]          # at least one repeated label
        flat = labels.astype(np.int64)
        shaped = labels.astype(dtype).reshape((b, 1) if layout == "column" else (b,))
        same = flat[:, None] == flat[None, :]
        eye = np.eye(b, dtype=bool)
        positive = same & ~eye
        small = flat.astype(np.int8)                 # what a narrowing cast makes of the ids
        same_small = small[:, None] == small[None, :]
        cases.append(h.Case(args=(h.tensor_or_array(shaped, tensor),), names=("labels",),
                           data={"B": b, "same": same, "eye": eye, "positive": positive, "negative": ~same,
                                 "positive_small": same_small & ~eye, "negative_small": ~same_small},
                           expected=positive if which == "positive" else ~same, size=b))
    return cases


def _bool_mask(raw, case: h.Case) -> np.ndarray:
    b = case.data["B"]
    if raw is None:
        raise h.Bad(f"Expected a ({b}, {b}) boolean mask, got None. Did you forget `return`?")
    if isinstance(raw, (bool, np.bool_)):
        raise h.Bad(f"Expected a ({b}, {b}) boolean mask, got a single {h.kind(raw)} ({raw}): `is`, `is not`, "
                    "`and`, `or` and `not` answer once for whole objects, not once per pair. Compare the labels "
                    "element by element (==, !=, ops.equal) between a column and a row, and combine masks with "
                    "ops.logical_and / ops.logical_not.")
    try:
        arr = h.as_array(raw)
    except Exception:  # noqa: BLE001
        raise h.Bad(f"Expected a ({b}, {b}) boolean tensor or array, got {h.kind(raw)}.") from None
    if arr.shape == (b, b, 1):
        raise h.Bad(f"You returned shape {arr.shape} instead of ({b}, {b}): labels of shape ({b}, 1) must be "
                   "flattened first, ops.reshape(labels, (-1,)), before comparing every pair.")
    if arr.shape != (b, b):
        raise h.Bad(f"Expected shape ({b}, {b}) (one entry per pair), got shape {arr.shape}.")
    if arr.dtype != bool:
        if arr.dtype.kind in "iuf" and np.all(np.isin(arr, (0, 1))):
            raise h.Bad(f"You returned 0/1 numbers (dtype {arr.dtype}) instead of booleans: the mask must "
                       "have dtype bool. Build it from comparisons with ops.logical_and / ops.logical_not "
                       "(not by multiplying), or finish with ops.cast(mask, 'bool').")
        raise h.Bad(f"Expected a boolean mask, got dtype {arr.dtype}: {h.fmt(raw)}.")
    return arr


def _same_mask(got, expected, case) -> bool:
    return got.shape == expected.shape and bool(np.array_equal(got, expected))


def _show_mask(mask) -> str:
    mask = np.asarray(mask)
    if mask.ndim == 2 and mask.shape[0] <= 12:
        rows = ["".join("1" if v else "." for v in row) for row in mask]
        return "(1 = True)\n      " + "\n      ".join(rows)
    return h.fmt(mask)


def _positive_mistakes():
    return [
        h.Mistake("the diagonal is included: an image is not its own positive (i == j must be False). "
                  "Combine with ops.logical_not(ops.eye(B, dtype='bool')).", lambda d: d["same"]),
        h.Mistake("this is the negative mask (different labels): a positive pair has the SAME label "
                  "(labels[:, None] == labels[None, :]), without the diagonal.",
                  lambda d: h.AnyOf((d["negative"], d["negative"] | d["eye"]))),
        h.Mistake("the labels were cast to a small integer type (int8/uint8): person ids of 128 or more wrap "
                  "around (300 and 44 both become 44), so different people look like one. Compare the labels "
                  "in their own dtype, or cast to int32/int64.", lambda d: d["positive_small"]),
    ]


def _negative_mistakes():
    return [
        h.Mistake("the diagonal is marked as a negative: ops.logical_not(positive_mask) also flips i == j. "
                  "Negatives are simply labels[:, None] != labels[None, :] (the diagonal is then False).",
                  lambda d: d["negative"] | d["eye"]),
        h.Mistake("this is the positive mask (same labels): a negative pair has DIFFERENT labels "
                  "(labels[:, None] != labels[None, :]).",
                  lambda d: h.AnyOf((d["positive"], d["same"]))),
        h.Mistake("the labels were cast to a small integer type (int8/uint8): person ids of 128 or more wrap "
                  "around (300 and 44 both become 44), so different people look like one. Compare the labels "
                  "in their own dtype, or cast to int32/int64.", lambda d: d["negative_small"]),
    ]


_MASK_OPS = ("ops.reshape(labels, (-1,)), ops.equal / ops.not_equal between ops.expand_dims(labels, 1) "
             "and ops.expand_dims(labels, 0), ops.eye(ops.shape(labels)[0], dtype='bool')")
# In training the masks run inside the loss, which Keras traces with the batch size unknown.
_mask_traces = works_in_tf_function(_bool_mask, _same_mask, "the loss (and these masks inside it)", _MASK_OPS)

POSITIVE_MASK = h.FunctionExercise(
    grade_id="ex_positive_mask_check", lesson="05", name="positive_mask", answer_names=("positive_mask",),
    make_cases=lambda rng: _mask_cases(rng, "positive"), convert=_bool_mask, same=_same_mask,
    mistakes=_positive_mistakes, show=_show_mask, advice="Positive pairs: same label and i != j.",
    requirements=(_mask_traces,), probes={"tf_function": "unknown_batch"}, raised_mistakes=RAISED_MISTAKES,
    hints=_POSITIVE_HINTS, reference=CF("course_utils.losses", "positive_mask"),
    forbidden=(CF("course_utils.losses", "positive_mask"), CF("course_utils.losses", "_pair_masks"),
               CF("course_utils.losses", "triplet_mask"),
               CF("course_utils.exercises.loop_references", "positive_mask_loop")))

NEGATIVE_MASK = h.FunctionExercise(
    grade_id="ex_negative_mask_check", lesson="05", name="negative_mask", answer_names=("negative_mask",),
    make_cases=lambda rng: _mask_cases(rng, "negative"), convert=_bool_mask, same=_same_mask,
    mistakes=_negative_mistakes, show=_show_mask, advice="Negative pairs: different labels.",
    requirements=(_mask_traces,), probes={"tf_function": "unknown_batch"}, raised_mistakes=RAISED_MISTAKES,
    hints=_NEGATIVE_HINTS, reference=CF("course_utils.losses", "negative_mask"),
    forbidden=(CF("course_utils.losses", "negative_mask"), CF("course_utils.losses", "_pair_masks"),
               CF("course_utils.exercises.loop_references", "negative_mask_loop")))


def check_positive_mask(fn, seed: int | None = None):
    """Check ``positive_mask(labels)`` → ``(B, B)`` bool, True where same label and i != j."""
    return h.check(POSITIVE_MASK, fn, seed=seed)


def check_negative_mask(fn, seed: int | None = None):
    """Check ``negative_mask(labels)`` → ``(B, B)`` bool, True where the labels differ."""
    return h.check(NEGATIVE_MASK, fn, seed=seed)




_BATCH_HARD_HINTS = (
    'Inputs: labels (B,) and embeddings (B, dim). For every anchor: its hardest positive (the FARTHEST image of the same person) and its hardest negative (the CLOSEST image of another person), by squared distance. The loss is the mean, over anchors that have at least one positive AND at least one negative, of the hinge hardest_pos − hardest_neg + margin floored at 0 (a scalar; 0 when no anchor qualifies).',
    'The key operations: your pairwise_squared_distances and the two masks from this lesson; ops.where to hide the pairs a mask excludes (0 for the max, a large value for the min); ops.max / ops.min along axis 1; ops.any for anchors that qualify; a masked mean (a sum divided by a count, guarded for 0).',
)


def _batch_hard_parts(data):
    x, labels = data["x"], data["labels"]
    d = squared_distance_matrix(x)
    same = labels[:, None] == labels[None, :]
    eye = np.eye(len(labels), dtype=bool)
    return d, same & ~eye, ~same, eye, data["margin"]


def _masked_max(d, mask, fill=0.0):
    return np.where(mask, d, fill).max(axis=1)


def _masked_min(d, mask):
    return np.where(mask, d, np.inf).min(axis=1)


_ANY_VALUE = object()     # a variant's "whatever came back" (see right_on_flat_labels)


def _batch_hard_mistakes():
    def mean_valid(per_anchor, valid):
        return float(per_anchor[valid].sum() / max(valid.sum(), 1))

    def min_positive(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        hp = np.where(pos, d, np.inf).min(axis=1)
        return mean_valid(np.maximum(np.where(valid, hp, 0.0) - _masked_min(d, neg) + m, 0.0), valid)

    def max_negative(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        return mean_valid(np.maximum(_masked_max(d, pos) - _masked_max(d, neg) + m, 0.0), valid)

    def diagonal_positive(data):
        d, pos, neg, eye, m = _batch_hard_parts(data)
        return float(np.mean(np.maximum(_masked_max(d, pos | eye) - _masked_min(d, neg) + m, 0.0)))

    def negatives_unmasked(data):
        d, pos, neg, eye, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        hp = _masked_max(d, pos)
        return h.AnyOf((mean_valid(np.maximum(hp - d.min(axis=1) + m, 0.0), valid),
                       mean_valid(np.maximum(hp - _masked_min(d, ~eye) + m, 0.0), valid)))

    def no_relu(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        return mean_valid(_masked_max(d, pos) - _masked_min(d, neg) + m, valid)

    def no_negative_kept(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        hn = np.where(neg.any(axis=1), _masked_min(d, neg), d.max(axis=1))    # filled with the row's max
        return mean_valid(np.maximum(_masked_max(d, pos) - hn + m, 0.0), valid)

    def mean_over_all(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        per_anchor = np.where(valid, np.maximum(_masked_max(d, pos) - _masked_min(d, neg) + m, 0.0), 0.0)
        return float(per_anchor.mean())

    def right_on_flat_labels(data):
        # Any value is "explained" on (B, 1) cases; (B,) cases must be right. find_mistake runs only
        # when some case is wrong, so a match means: right for (B,) labels, wrong for (B, 1) ones.
        return _ANY_VALUE if data["column"] else data["expected"]

    def same_or_column(got, variant_out, case):
        return variant_out is _ANY_VALUE or h.close(got, variant_out, case)

    def with_negatives(variant):
        # A batch without any negative only tells the negative filter apart (no_negative_kept):
        # every other mistake is judged on the batches that have both.
        return lambda data: _ANY_VALUE if (data["labels"] == data["labels"][0]).all() else variant(data)

    return [
        h.Mistake("the labels were not flattened: your loss is right for labels of shape (B,) and wrong "
                  "for labels of shape (B, 1) — the shape Keras gives y_true. With a (B, 1) column, "
                  "labels[:, None] == labels[None, :] has shape (B, B, 1), and combined with the (B, B) "
                  "distances it broadcasts to (B, B, B). Start with labels = ops.reshape(labels, (-1,)).",
                  right_on_flat_labels, same=same_or_column),
        h.Mistake("the hardest positive is the FARTHEST one: take the max (not the min) of the distances "
                 "over the positive mask.", with_negatives(min_positive), same=same_or_column),
        h.Mistake("the hardest negative is the CLOSEST one: take the min (not the max) of the distances "
                 "over the negative mask (fill the non-negatives with a large value before the min).",
                 with_negatives(max_negative), same=same_or_column),
        h.Mistake("anchors without any positive in the batch (a person with one image) still get a loss: "
                 "the diagonal (an anchor with itself, distance 0) counts as a positive, or those anchors "
                 "are not excluded. Use the positive mask without the diagonal and average only over "
                 "anchors that have a positive.", with_negatives(diagonal_positive), same=same_or_column),
        h.Mistake("the negatives are not masked, or the non-negatives were filled with 0 before the min: "
                 "the minimum is then taken over the whole row (the anchor itself, at distance 0, or its "
                 "positives win). Take the min only where the negative mask is True: fill the others with "
                 "a LARGE value, e.g. ops.where(neg_mask, d, ops.max(d) + 1.0), before ops.min.", with_negatives(negatives_unmasked), same=same_or_column),
        h.Mistake("the relu (max(·, 0)) is missing: an anchor whose hardest negative is already far enough "
                 "must contribute 0, not a negative number.", with_negatives(no_relu), same=same_or_column),
        h.Mistake("anchors without any negative (a batch of one person) still get a loss: the non-negatives "
                 "were filled with a value a positive can reach (e.g. the row's maximum), so the 'hardest "
                 "negative' is a positive. Fill with a value larger than every distance, and average only over "
                 "anchors that have a positive AND a negative.", no_negative_kept),
        h.Mistake("you divided by ALL anchors: anchors without a positive have no triplet and must not count. "
                 "Divide the sum by the number of anchors that have at least one positive.", with_negatives(mean_over_all), same=same_or_column),
    ]


def _batch_hard_cases(rng) -> list[h.Case]:
    from course_utils.losses import batch_hard_triplet_loss
    plan = [  # (labels pattern, D, noise, margin or None, dtype, tensor?, labels as (B, 1)?)
        ((3, 2), 8, 0.4, 0.2, np.float32, True, False),
        ((4, 3), 16, 0.8, 0.5, np.float64, False, True),
        ("single", 8, 0.4, 0.2, np.float32, False, False),
        ((2, 4), 32, 0.3, 0.2, np.float64, True, False),
        ((5, 2), 4, 1.0, None, np.float32, True, True),
        ("single", 16, 0.6, 0.5, np.float64, True, True),
        ((3, 4), 8, 0.6, 1.0, np.float32, False, False),
        ("single", 4, 0.3, None, np.float32, True, False),
        ("one person", 8, 0.4, 0.2, np.float32, True, False),   # positives everywhere, no negative at all
    ]
    cases = []
    for pattern, dim, noise, margin, dtype, tensor, column in plan:
        if pattern == "single":               # some people with one image only (no positive)
            counts = [3, 1, 2, 1, 4]
        elif pattern == "one person":
            counts = [5]
        else:
            counts = [pattern[1]] * pattern[0]
        ids = rng.permutation(1000)[:len(counts)]
        labels = np.repeat(ids, counts)
        centres = h.unit_rows(rng.normal(size=(len(counts), dim)))
        x = h.unit_rows(np.repeat(centres, counts, axis=0) + noise * rng.normal(size=(len(labels), dim)))
        if pattern == "single":               # a lonely image right next to someone else (d < margin)
            lonely = int(np.flatnonzero(np.repeat(counts, counts) == 1)[0])
            x[lonely] = h.unit_rows(x[0] + 0.01 * rng.normal(size=dim))
        order = rng.permutation(len(labels))
        labels, x = labels[order], x[order].astype(dtype)
        m = 0.2 if margin is None else margin
        shaped = labels.astype(np.float32 if column else np.int64).reshape((-1, 1) if column else (-1,))
        data = {"x": x.astype(np.float64), "labels": labels, "margin": m, "column": column}
        args = (h.tensor_or_array(shaped, tensor), h.tensor_or_array(x, tensor))
        if margin is not None:
            args += (margin,)
        expected = float(h.as_array(batch_hard_triplet_loss(labels, data["x"], m)[0]))
        data["expected"] = expected
        cases.append(h.Case(args=args, data=data, expected=expected, names=("labels", "embeddings", "margin"),
                           size=x.size, tol=1e-4))
    return cases


BATCH_HARD_TRIPLET_LOSS = h.FunctionExercise(
    grade_id="ex_batch_hard_check", lesson="05", name="batch_hard_triplet_loss",
    answer_names=("batch_hard_triplet_loss",), make_cases=_batch_hard_cases,
    convert=lambda raw, case: h.scalar_tensor(raw, batch=len(case.data["labels"]), allow_tuple=True),
    same=h.close, mistakes=_batch_hard_mistakes,
    requirements=(h.gradient_requirement("loss", "embeddings"),
                  works_in_tf_function(lambda raw, case: h.scalar_tensor(raw, batch=len(case.data["labels"]),
                                                                         allow_tuple=True),
                                       h.close, "the loss", "your pairwise_squared_distances, the two masks, "
                                       "ops.where, ops.max / ops.min along axis 1")),
    advice="For the example, print the (B, B) distances, the hardest positive and hardest negative "
           "of each anchor, and which anchors have a positive.",
    hints=_BATCH_HARD_HINTS, reference=CF("course_utils.exercises.solutions", "batch_hard_triplet_loss"),
    forbidden=(CF("course_utils.losses", "batch_hard_triplet_loss"), CF("course_utils.losses", "semi_hard_triplet_loss"),
               CF("course_utils.losses", "triplet_loss_from_batch"),
               CF("course_utils.exercises.solutions", "batch_hard_triplet_loss"),
               CF("course_utils.exercises.loop_references", "batch_hard_loop")),
    probes={"gradient": 1, "tf_function": "unknown_batch"}, raised_mistakes=RAISED_MISTAKES)


def check_batch_hard_triplet_loss(fn, seed: int | None = None):
    """Check ``batch_hard_triplet_loss(labels, embeddings, margin=0.2)`` → scalar tensor."""
    return h.check(BATCH_HARD_TRIPLET_LOSS, fn, seed=seed)
