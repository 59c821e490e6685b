"""Lesson 4 — the triplet loss: ``check_triplet_loss`` and ``check_pairwise_squared_distances``.

Each check runs your function on randomized inputs (several shapes and sizes, float32 and
float64, NumPy arrays and TensorFlow tensors), compares with the course's reference, and, when
the results are wrong, looks them up in the catalogue of known mistakes below (each
:class:`~course_utils.exercises.harness.Mistake` holds the hint you will read).

* ``triplet_loss(anchor, positive, negative, alpha=0.2)`` → a scalar tensor,
  ``mean_i max(‖a−p‖² − ‖a−n‖² + α, 0)``; gradients must flow back to ``anchor``.
* ``pairwise_squared_distances(embeddings)`` → ``(B, B)`` squared distances, clipped at 0, zero
  diagonal, no Python loops.

Both must work inside ``tf.function`` with an unknown batch size, as Keras runs a loss in
training: the probe traces them with the first dimension of every array argument ``None`` and
without AutoGraph, so NumPy, ``.numpy()``, ``x.shape[0]``/``len(x)`` and Python loops over the
rows fail there, and :func:`traced_problem` names which of these it was.
"""
from __future__ import annotations

import ast
import textwrap

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF
from course_utils.exercises import protocol
from course_utils.exercises.loop_references import squared_distance_matrix

# ---------------------------------------------------------------------------------------------
# Inside tf.function with an unknown batch size (shared with lesson 5)
# ---------------------------------------------------------------------------------------------
# Keras traces the loss once into a graph for ``fit``: its tensors are symbolic (a shape, no
# values) and the batch dimension is None, since batches can differ in size. The probe traces the
# answer the same way (``probes={"tf_function": "unknown_batch"}``); these words turn the error
# of that trace into the mistake behind it. The first pattern that matches the error decides.
_TRACE_MISTAKES = (
    (("to a numpy array", "attribute 'numpy'", "not 'SymbolicTensor'", "__array__"),
     "NumPy cannot work on symbolic tensors: there the inputs have a shape but no values yet, so "
     "np.asarray, np.equal, np.eye, .numpy() or float(...) cannot run on them. Use keras.ops on the "
     "tensors all the way to the result ({ops})."),
    (("Iterating over a symbolic", "Cannot infer argument `num`", "InaccessibleTensorError", "out of scope"),
     "a Python loop over the rows of the batch (for …, a list comprehension, zip over the tensors, "
     "ops.unstack) cannot run there: how many rows there are is not known while tracing. Compute all "
     "rows at once with keras.ops on whole tensors ({ops}) instead of a Python loop."),
    (("as a Python `bool`",),
     "a Python if (or and / or / not) on a tensor's value cannot run there: the value is not known "
     "while tracing. Choose between tensors with ops.where, combine masks with ops.logical_and / "
     "ops.logical_or, and guard a division with ops.maximum(count, 1.0) instead of an if."),
    (("unknown rank",),
     "after ops.squeeze without an axis the rank is unknown while tracing (a batch of size 1 would "
     "lose its batch axis too). Flatten with ops.reshape(x, (-1,)) instead."),
    (("len is not well defined", "NoneType", "None"),
     "the batch dimension is None while tracing, so x.shape[0] and len(x) give no number: "
     "range(x.shape[0]), ops.eye(x.shape[0]) or np.eye(len(x)) cannot work. Use keras.ops on whole "
     "tensors instead of a Python loop over the rows, and where you need the batch size take "
     "ops.shape(x)[0] (a tensor while tracing, which ops.eye accepts)."),
    (("cannot be interpreted as an integer",),
     "ops.shape(x)[0] is a tensor while tracing, not a Python number: Python's range(...) and NumPy "
     "(np.eye, np.zeros, …) cannot use it. Use keras.ops on whole tensors ({ops}) instead of a Python "
     "loop or NumPy."),
)
_TRACE_OTHER = ("Use keras.ops on whole tensors: no NumPy (np.*, .numpy()), no Python loop over the rows, "
                "and ops.shape(x)[0] rather than x.shape[0] for the batch size.")


def _first_sentence(summary: str, limit: int = 200) -> str:
    """TensorFlow's errors go on with generic advice after their first sentence: keep that one."""
    cut = summary.find(". ")
    text = summary[:cut + 1] if cut > 0 else summary
    return text if len(text) <= limit else text[:limit] + " …"


def traced_problem(summary: str, where: str, ops_used: str) -> str:
    """What the error ``summary`` of the unknown-batch trace says about the answer, for a student."""
    lead = f"it fails inside tf.function when the batch size is unknown, as Keras runs {where} during training"
    error = f"\n(Inside tf.function it raised {_first_sentence(summary)})"
    for patterns, text in _TRACE_MISTAKES:
        if any(p.lower() in summary.lower() for p in patterns):
            return f"{lead}: {text.format(ops=ops_used)}{error}"
    return f"{lead}. {_TRACE_OTHER}{error}"


def works_in_tf_function(convert, same, where: str, ops_used: str):
    """A requirement: traced like Keras traces a loss (symbolic tensors, batch dimension None), the
    answer runs and gives the values it gives when called directly."""
    def requirement(cases, results, outputs):
        for i, record in enumerate(outputs.get("tf_function") or ()):
            if record is None:            # not traced: an earlier case of the same form was
                continue
            if "raised" in record:
                return traced_problem(str(record["raised"].get("summary", "")), where, ops_used)
            try:
                got = convert(h.revive(record["result"]), cases[i])
            except h.Bad as bad:
                return ("inside tf.function with an unknown batch size (as Keras runs it in training) it "
                        f"returns the wrong kind of result: {bad}")
            if not same(got, results[i], cases[i]):
                return ("inside tf.function with an unknown batch size (as Keras runs it in training) it "
                        f"gives other values than when called directly (test {i + 1}: {h.fmt(got)} instead "
                        f"of {h.fmt(results[i])}): something depends on Python-side values of the tensors.")
        return None
    return requirement


# What an exception raised by the answer itself (not inside tf.function) says about it: a text in
# its message, and the likely mistake behind it (lessons 4 and 5 share them).
RAISED_MISTAKES = (
    ("attribute 'numpy'",
     ".numpy() exists only on an eager tf.Tensor: the inputs may be NumPy arrays, and inside tf.function "
     "(as Keras runs the loss in training) they are symbolic tensors without values. Work on the inputs "
     "with keras.ops directly, without converting them to NumPy."),
)


_TRIPLET_HINTS = (
    'Inputs: three (batch, dim) tensors. For each row, the squared distance anchor→positive and anchor→negative (a (batch,) vector each); the loss of a row is that gap plus alpha, floored at 0; return the MEAN over rows as a scalar tensor (not a sum, no square roots).',
    'The key operations: ops.square and ops.sum along axis 1 for each distance, ops.maximum with 0 for the hinge, ops.mean for the batch.',
)


def _triplet_terms(d):
    a, p, n = d["anchor"], d["positive"], d["negative"]
    return np.sum((a - p) ** 2, axis=1), np.sum((a - n) ** 2, axis=1), d["alpha"]


def _triplet_mistakes():
    def max_of_sum(d):
        dp, dn, alpha = _triplet_terms(d)
        return h.AnyOf((max(dp.sum() - dn.sum() + alpha, 0.0), max(dp.mean() - dn.mean() + alpha, 0.0)))

    def euclidean(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(np.maximum(np.sqrt(dp) - np.sqrt(dn) + alpha, 0.0))

    def one_squared(d):
        dp, dn, alpha = _triplet_terms(d)
        return h.AnyOf((np.mean(np.maximum(np.sqrt(dp) - dn + alpha, 0.0)),
                       np.mean(np.maximum(dp - np.sqrt(dn) + alpha, 0.0))))

    def no_max(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(dp - dn + alpha)

    def minus_alpha(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(np.maximum(dp - dn - alpha, 0.0))

    def no_alpha(d):
        dp, dn, _ = _triplet_terms(d)
        return np.mean(np.maximum(dp - dn, 0.0))

    def summed(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.sum(np.maximum(dp - dn + alpha, 0.0))

    def wrong_axis(d):
        a, p, n, alpha = d["anchor"], d["positive"], d["negative"], d["alpha"]
        dp, dn = np.sum((a - p) ** 2, axis=0), np.sum((a - n) ** 2, axis=0)
        return np.mean(np.maximum(dp - dn + alpha, 0.0))

    def l1(d):
        a, p, n, alpha = d["anchor"], d["positive"], d["negative"], d["alpha"]
        dp, dn = np.sum(np.abs(a - p), axis=1), np.sum(np.abs(a - n), axis=1)
        return np.mean(np.maximum(dp - dn + alpha, 0.0))

    def fixed_alpha(d):
        dp, dn, _ = _triplet_terms(d)
        return h.AnyOf(tuple(np.mean(np.maximum(dp - dn + m, 0.0)) for m in (0.2, 0.5, 1.0)))

    def swapped(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(np.maximum(dn - dp + alpha, 0.0))

    return [
        h.Mistake("max of sum vs sum of max: you applied max(·, 0) once to the whole batch "
                 "(distances summed or averaged over the batch first). Take the max per example "
                 "(d_pos and d_neg of shape (B,)), then the mean over the batch.", max_of_sum),
        h.Mistake("Euclidean instead of squared distances: the FaceNet loss uses ‖a − p‖² "
                 "(no square root). Drop the sqrt / ops.norm and use ops.sum(ops.square(a - p), axis=1).",
                 euclidean),
        h.Mistake("only one of the two distances is squared: use the squared distance "
                 "ops.sum(ops.square(...), axis=1) for BOTH d(a, p) and d(a, n).", one_squared),
        h.Mistake("the max(·, 0) is missing: easy triplets (d_neg already larger than d_pos + α) must "
                 "contribute 0, not a negative number. Wrap the per-example term in ops.maximum(·, 0.0).",
                 no_max),
        h.Mistake("L1 distances (sum of |a − p|): the FaceNet loss uses SQUARED Euclidean distances, "
                  "ops.sum(ops.square(a - p), axis=1).", l1),
        h.Mistake("the margin is hard-coded: use the `alpha` argument (the tests pass 0.2, 0.5 and 1.0).",
                  fixed_alpha),
        h.Mistake("the margin is subtracted: the loss is d_pos − d_neg + alpha (plus alpha, not minus).",
                 minus_alpha),
        h.Mistake("the margin alpha is missing: add + alpha inside the max.", no_alpha),
        h.Mistake("you summed over the batch: take the mean (ops.mean) so the loss does not grow with "
                 "the batch size.", summed),
        h.Mistake("the distances were reduced over the wrong axis (axis=0, the batch): sum over the "
                 "feature axis, ops.sum(..., axis=1) (or axis=-1), to get one distance per example.",
                 wrong_axis),
        h.Mistake("d_pos and d_neg are swapped: the loss is max(d(a, p) − d(a, n) + alpha, 0) — the "
                 "positive distance comes first (it should be small).", swapped),
    ]


def _triplet_cases(rng) -> list[h.Case]:
    from course_utils.losses import triplet_loss  # the reference (imports TensorFlow)
    plan = [  # (B, D, alpha or None for the default, unit-norm?, dtype, tensor?, share of easy rows)
        (1, 2, 0.2, True, np.float32, False, 0.5),
        (3, 5, 0.2, False, np.float64, False, 0.5),
        (8, 128, 0.2, True, np.float32, True, 0.875),
        (17, 5, 0.5, True, np.float64, True, 0.5),
        (8, 2, 1.0, False, np.float32, False, 0.25),
        (17, 128, 0.2, False, np.float64, False, 0.875),
        (3, 2, 0.5, True, np.float32, True, 0.5),
        (1, 128, 1.0, True, np.float64, False, 0.5),
        (17, 2, 0.2, True, np.float32, False, 0.875),
        (8, 5, 0.5, False, np.float64, True, 0.5),
        (3, 128, 1.0, True, np.float32, True, 0.5),
        (8, 5, None, True, np.float32, False, 0.875),
    ]
    cases = []
    for b, dim, alpha, unit, dtype, tensor, share_easy in plan:
        a = rng.normal(size=(b, dim))
        p = rng.normal(size=(b, dim))
        n = rng.normal(size=(b, dim))
        if b > 1:
            # Both signs of d_pos − d_neg + α appear: in "easy" rows the positive is close to the
            # anchor, in "hard" rows the negative is. Mostly-easy batches have a negative batch
            # mean, which tells "max of the mean" apart from "no max at all".
            easy = rng.permutation(np.arange(b) < min(b - 1, max(1, round(share_easy * b))))
            p[easy] = a[easy] + 0.15 * rng.normal(size=(int(easy.sum()), dim))
            n[~easy] = a[~easy] + 0.15 * rng.normal(size=(int((~easy).sum()), dim))
        if unit:
            a, p, n = h.unit_rows(a), h.unit_rows(p), h.unit_rows(n)
        else:  # not unit length, but of order 1 (one scale per triplet, so easy rows stay easy)
            scale = rng.uniform(0.5, 2.0, size=(b, 1)) / np.sqrt(dim)
            a, p, n = a * scale, p * scale, n * scale
        a, p, n = (x.astype(dtype) for x in (a, p, n))
        data = {"anchor": a.astype(np.float64), "positive": p.astype(np.float64),
                "negative": n.astype(np.float64), "alpha": 0.2 if alpha is None else alpha}
        args = tuple(h.tensor_or_array(x, tensor) for x in (a, p, n))
        if alpha is not None:
            args = args + (alpha,)
        expected = float(h.as_array(triplet_loss(data["anchor"], data["positive"], data["negative"], data["alpha"])))
        scale = max(1.0, float(np.max(np.sum(a.astype(np.float64) ** 2, axis=1))))
        cases.append(h.Case(args=args, data=data, expected=expected, size=b * dim,
                           names=("anchor", "positive", "negative", "alpha"),
                           tol=1e-4 * scale))      # float32 rounding, even for float64 inputs
    return cases


TRIPLET_LOSS = h.FunctionExercise(
    grade_id="ex_triplet_loss_check", lesson="04", name="triplet_loss", answer_names=("triplet_loss",),
    make_cases=_triplet_cases,
    convert=lambda raw, case: h.scalar_tensor(raw, batch=len(case.data["anchor"])),
    same=h.close, mistakes=_triplet_mistakes,
    requirements=(h.gradient_requirement("loss", "anchor"),
                  works_in_tf_function(lambda raw, case: h.scalar_tensor(raw, batch=len(case.data["anchor"])),
                                       h.close, "the loss", "ops.sum(ops.square(a - p), axis=1) gives one "
                                       "distance per row, then ops.maximum and ops.mean")),
    advice="Check each step on the example: d_pos and d_neg (shape (B,)), the max with 0 per "
           "example, then the mean over the batch.",
    hints=_TRIPLET_HINTS, reference=CF("course_utils.losses", "triplet_loss"),
    forbidden=(CF("course_utils.losses", "triplet_loss"), CF("course_utils.exercises.solutions", "triplet_loss"),
               CF("course_utils.exercises.loop_references", "triplet_loss_loop"),
               CF("course_utils.losses", "batch_all_triplet_loss"), CF("course_utils.losses", "triplet_loss_from_batch")),
    probes={"gradient": 0, "tf_function": "unknown_batch"}, raised_mistakes=RAISED_MISTAKES)


def check_triplet_loss(fn, seed: int | None = None):
    """Check ``triplet_loss(anchor, positive, negative, alpha=0.2)`` (a scalar tensor)."""
    return h.check(TRIPLET_LOSS, fn, seed=seed)


# ==============================================================================================
# pairwise_squared_distances
# ==============================================================================================

_PAIRWISE_HINTS = (
    'Input: (batch, dim) embeddings. Output: a (batch, batch) matrix whose (i, j) entry is the squared distance between rows i and j, without a Python loop (it must work inside tf.function with an unknown batch size). Rounding can make tiny entries negative: floor them at 0, and make the diagonal exactly 0.',
    'The key identity: ‖a − b‖² = ‖a‖² − 2 a·b + ‖b‖². The key operations: ops.matmul with the transpose, ops.sum of squares kept as a column and as a row (broadcasting), ops.maximum with 0, and a mask built from ops.eye to zero the diagonal.',
)

_LOOP_NODES = (ast.For, ast.While, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _function_node(source: str | None):
    """The ``ast`` node of the function defined in ``source``, or None when there is no source."""
    if not source:
        return None
    try:
        tree = protocol.parse_python(textwrap.dedent(source))
    except (SyntaxError, IndentationError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return node
    return None


def _uses_python_loops(source: str | None) -> bool | None:
    """True/False, or None when the source cannot be read (then nothing is claimed)."""
    node = _function_node(source)
    if node is None:
        return None
    return any(isinstance(sub, _LOOP_NODES) for sub in ast.walk(node))


def _no_loops(cases, results, outputs):
    if _uses_python_loops(outputs.get("source")):
        return ("no Python loops, please (for/while/comprehensions run once per pair and are slow "
                "on a GPU batch): use broadcasting or a matrix product, e.g. ops.matmul(e, ops.transpose(e)).")
    return None


def _square_matrix(raw, case: h.Case) -> np.ndarray:
    b = case.data["B"]
    if raw is None:
        raise h.Bad(f"Expected a ({b}, {b}) matrix of distances, got None. Did you forget `return`?")
    if isinstance(raw, (int, float, np.number)):
        raise h.Bad(f"Expected a ({b}, {b}) matrix (one distance per pair), got a single number {h.fmt(raw)}.")
    try:
        arr = h.as_array(raw)
    except Exception:  # noqa: BLE001
        raise h.Bad(f"Expected a ({b}, {b}) tensor or array, got {h.kind(raw)}.") from None
    if arr.dtype.kind not in "iuf":
        raise h.Bad(f"Expected numbers, got {h.kind(raw)} of dtype {arr.dtype}.")
    if arr.shape != (b, b):
        raise h.Bad(f"Expected shape ({b}, {b}) (one distance per pair of rows), got shape {arr.shape}.")
    h.finite_or_bad(arr, "distances")
    return arr.astype(np.float64)


_pairwise_truth = squared_distance_matrix


def _pairwise_mistakes():
    def forms(d):
        """The same wrong formula with or without clipping / zeroing the diagonal."""
        clipped = np.maximum(d, 0.0)
        return h.AnyOf((d, clipped, _zero_diagonal(d), _zero_diagonal(clipped)))

    def parts(data):
        x = data["x"]
        sq = np.sum(x ** 2, axis=1)
        return sq, x @ x.T

    def euclidean(data):        # compared after squaring: sqrt magnifies rounding near 0
        return _pairwise_truth(data["x"])

    def squared_matches(got, expected, case):
        return bool(np.all(got >= 0)) and h.close(np.square(got), expected, case)

    def only_cross(data):
        _, gram = parts(data)
        return forms(-2.0 * gram)

    def plus_cross(data):
        sq, gram = parts(data)
        return forms(sq[:, None] + 2.0 * gram + sq[None, :])

    def same_way_twice(data):
        sq, gram = parts(data)
        return h.AnyOf(forms(sq[:, None] - 2.0 * gram + sq[:, None]) + forms(sq[None, :] - 2.0 * gram + sq[None, :]))

    return [
        h.Mistake("Euclidean instead of squared distances: do not take the square root (ops.sqrt / ops.norm); "
                 "the course uses ‖a − b‖² everywhere.", euclidean, same=squared_matches),
        h.Mistake("only the −2·a·b term: add the squared norms, ‖a‖² as a column (B, 1) and ‖b‖² as a row "
                 "(1, B): d = sq[:, None] − 2·gram + sq[None, :].", only_cross),
        h.Mistake("wrong sign of the cross term: it is ‖a‖² − 2·a·b + ‖b‖² (minus 2ab).", plus_cross),
        h.Mistake("the squared norms are broadcast the same way twice, so the matrix is not symmetric: "
                 "add them once as a column (ops.expand_dims(sq, 1), shape (B, 1)) and once as a row "
                 "(ops.expand_dims(sq, 0), shape (1, B)).", same_way_twice),
    ]


def _zero_diagonal(d):
    d = np.array(d, dtype=np.float64, copy=True)
    np.fill_diagonal(d, 0.0)
    return d


def _pairwise_cases(rng) -> list[h.Case]:
    plan = [  # (B, D, unit-norm?, dtype, tensor?, duplicate rows?)
        (1, 3, True, np.float32, False, False),
        (2, 2, False, np.float64, True, False),
        (5, 8, True, np.float32, True, True),
        (8, 128, True, np.float64, False, False),
        (16, 5, False, np.float32, False, True),
        (33, 16, False, np.float64, True, False),
        (12, 3, False, np.float32, True, False),
        (7, 4, True, np.float64, False, True),
    ]
    cases = []
    for b, dim, unit, dtype, tensor, dup in plan:
        x = rng.normal(size=(b, dim))
        if dup:
            x[-2:] = x[:2]                     # repeated rows: distance exactly 0
        x = h.unit_rows(x) if unit else x * rng.uniform(0.3, 2.0, size=(b, 1)) / np.sqrt(dim)
        cases.append(_pairwise_case(x.astype(dtype), tensor))
    # Large norms and (near-)duplicate rows, float32: the expansion trick rounds to small
    # negatives there, and a diagonal not set to 0 shows. Not used to match wrong formulas.
    base = rng.normal(size=(30, 64)) * (30.0 / 8.0)
    x = np.concatenate([base, base + 1e-6 * rng.normal(size=base.shape)])
    x = x[rng.permutation(len(x))].astype(np.float32)
    case = _pairwise_case(x, False)
    case.diagnose = False
    cases.append(case)
    return cases


def _pairwise_case(x: np.ndarray, tensor: bool) -> h.Case:
    x64 = x.astype(np.float64)
    scale = max(1.0, float(np.max(np.sum(x64 ** 2, axis=1))))
    tol = 2e-5 * scale            # float32 rounding, even for float64 inputs (a student may cast)
    return h.Case(args=(h.tensor_or_array(x, tensor),), names=("embeddings",),
                 data={"x": x64, "B": len(x)}, expected=_pairwise_truth(x64),
                 size=x.size, tol=tol)


def _pairwise_clipped_and_zero_diagonal(cases, results, outputs):
    for got, case in zip(results, cases):
        if got.min() < -1e-6:
            return (f"some distances are negative (smallest {got.min():.3g}, on a batch of shape "
                    f"{case.data['x'].shape}): rounding in ‖a‖² − 2a·b + ‖b‖² can go slightly below 0. "
                    "Clip them with d = ops.maximum(d, 0.0).")
    # The distance of a row to itself is exactly 0. Computed as ‖a‖² − 2a·a + ‖a‖², rounding
    # leaves values of the order of ‖a‖² × machine epsilon there (about 1e-4 for the float32,
    # large-norm case; 1e-13 in float64): any value other than an exact 0 means it was not set.
    for got, case in zip(results, cases):
        worst = float(np.max(np.abs(np.diagonal(got)))) if len(got) else 0.0
        if worst > 0.0:
            return (f"the diagonal is not zeroed (up to {worst:.3g}, on a batch of shape "
                    f"{case.data['x'].shape}): ‖a‖² − 2a·a + ‖a‖² is not exactly 0 after rounding, and "
                    "clipping at 0 keeps the small positive values. The distance of an embedding to itself "
                    "must be exactly 0: set the diagonal to 0, e.g. d = d * (1.0 - ops.eye(B)) or "
                    "ops.where(ops.eye(B) > 0, 0.0, d).")
    return None


_works_in_tf_function = works_in_tf_function(
    _square_matrix, h.close, "the loss (and these distances inside it)",
    "ops.matmul, ops.sum, ops.expand_dims, ops.eye(ops.shape(e)[0])")


PAIRWISE_SQUARED_DISTANCES = h.FunctionExercise(
    grade_id="ex_pairwise_distances_check", lesson="04", name="pairwise_squared_distances",
    answer_names=("pairwise_squared_distances",),
    make_cases=_pairwise_cases, convert=_square_matrix, same=h.close, mistakes=_pairwise_mistakes,
    requirements=(_pairwise_clipped_and_zero_diagonal, _no_loops, _works_in_tf_function),
    advice="Check each piece on the example: gram = e @ eᵀ (B, B), sq = row sums of e² (B,), "
           "then sq[:, None] − 2·gram + sq[None, :].",
    hints=_PAIRWISE_HINTS, reference=CF("course_utils.losses", "pairwise_squared_distances"),
    forbidden=(CF("course_utils.losses", "pairwise_squared_distances"), CF("course_utils.losses", "pairwise_distances"),
               CF("course_utils.losses", "_squared_distances"),
               CF("course_utils.exercises.loop_references", "pairwise_squared_distances_loop"),
               CF("course_utils.exercises.loop_references", "pairwise_distances_loop"),
               CF("course_utils.metrics", "squared_distance_matrix")),
    probes={"source": True, "tf_function": "unknown_batch"}, raised_mistakes=RAISED_MISTAKES)


def check_pairwise_squared_distances(fn, seed: int | None = None):
    """Check ``pairwise_squared_distances(embeddings)`` → ``(B, B)`` squared distances, no loops."""
    return h.check(PAIRWISE_SQUARED_DISTANCES, fn, seed=seed)
