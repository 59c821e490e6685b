"""Exercise checks that name the likely mistake.

Every ``check_*`` function runs the student's code on several **randomized** inputs (a fresh
random generator on each call; several shapes and sizes; float32 and float64; NumPy arrays and
TensorFlow tensors where both make sense) and compares the results with the reference solution
(``course_utils.exercises`` / ``course_utils.losses`` / ``course_utils.metrics``), so a hard-coded
answer cannot pass. The number of tests of each check is fixed, so its output line is the same
on every run.

* **Correct** → one line such as ``✓ triplet_loss: correct on 12 randomized tests.``; the
  student's function is returned.
* **Not done yet** (the function raises ``NotImplementedError``, as the generated stub does) →
  a friendly message, and the *reference* function is returned so the lesson keeps running.
  In grading mode (``COURSE_GRADING=1`` or ``NBGRADER_EXECUTION`` set) an
  ``AssertionError("<name> is not implemented yet")`` is raised instead (0 points).
* **Wrong** → ``AssertionError``. If the student's outputs agree, on every test, with one of the
  check's *known wrong variants* (below), the message names that mistake and says what to
  change; otherwise it shows the smallest failing example (inputs, expected, got).
* **Wrong kind of result** (``None``, a Python float where a tensor is needed, a vector instead of
  a scalar, a wrong shape, NaN, or an exception) → ``AssertionError`` saying what was expected
  and what came back (exceptions are summarised as type + first line, no long traces).

Conventions: embeddings ``(N, D)``, unit length; distance = **squared** Euclidean;
"same person" ⇔ ``distance <= threshold``.

Checks and their catalogues of known mistakes
---------------------------------------------
1. ``check_triplet_loss(fn)`` — ``triplet_loss(anchor, positive, negative, alpha=0.2)``, a scalar
   tensor ``mean_i max(‖a−p‖² − ‖a−n‖² + α, 0)``. Mistakes: max of the batch-summed (or
   batch-averaged) difference instead of the mean of per-example max ("sum of max vs max of
   sum"); Euclidean instead of squared distances on both terms; squared on one term only;
   missing ``max(·, 0)``; margin subtracted (−α); margin missing; sum over the batch instead
   of the mean; reduction over the batch axis (0) instead of the feature axis; d(a,n) − d(a,p)
   swapped. Result checks: Python/NumPy float (not a tensor: no gradients), per-example vector
   ``(B,)``, other shapes, NaN; gradients must flow to ``anchor``.
2. ``check_pairwise_distances(fn)`` — ``pairwise_squared_distances(embeddings)`` → ``(B, B)``.
   Mistakes: Euclidean (sqrt) instead of squared; only ``−2ab`` (norms missing); ``+2ab`` (sign);
   the norms broadcast the same way twice (not symmetric); small negatives not clipped
   (values below −1e-6 → ``ops.maximum(d, 0)``); diagonal not zero (tolerance 1e-5); Python loops
   (``for``/``while``/comprehensions, found with ``inspect`` + ``ast``).
3. ``check_positive_mask(fn)`` / ``check_negative_mask(fn)`` — ``(B, B)`` boolean masks from labels
   ``(B,)``, ``(B, 1)`` or float labels. Mistakes: diagonal included as a positive; diagonal
   marked as a negative (``~positive_mask``); the two masks swapped; 0/1 numbers instead of
   booleans; shape ``(B, B, 1)`` (labels of shape ``(B, 1)`` not flattened).
4. ``check_verify(fn)`` — ``verify(image, claimed_name, database, encoder, threshold)`` →
   ``(accepted, distance)``. Mistakes: ``>`` instead of ``<=``; ``<`` instead of ``<=`` (a test has
   threshold exactly equal to the distance); Euclidean instead of squared; the two results in
   the wrong order; compared with the closest person instead of the claimed one; the image
   passed without a batch axis (``image[None]``).
5. ``check_identify(fn)`` — ``identify(image, database, encoder, threshold)`` →
   ``(name or "unknown", distance)``. Mistakes: the farthest person; never "unknown"; threshold
   test inverted; the distance of another person (e.g. the last one compared); an index instead
   of a name; ``None`` instead of ``"unknown"``.
6. ``check_split_people(fn)`` — ``split_people(labels, test_fraction=0.25, seed=0)`` →
   ``(train_idx, test_idx)``. Checks: every image exactly once; nobody on both sides (the
   classic leak: splitting images at random, and why it inflates accuracy); about
   ``round(test_fraction × people)`` test people (±1), both sides non-empty; same seed → same
   split, another seed → another split. Mistakes: boolean masks instead of indices; person ids
   instead of image indices; the two sides swapped; test_fraction applied to images.
7. ``check_encoder(fn)`` — ``build_my_encoder(input_shape, embedding_dim)`` → ``keras.Model``.
   Checks: output shape ``(None, embedding_dim)``; unit-length outputs; parameter count equal to
   ``models.build_encoder(input_shape, embedding_dim, widths=(32, 64, 128), stem=None)``; no ``Lambda``
   layer; save → ``load_model(safe_mode=True)`` gives the same outputs; the input shape is the
   one asked for (not hard-coded). Mistakes: ``Flatten``
   instead of ``GlobalAveragePooling2D``; convolutions with a bias; BatchNormalization missing;
   wrong embedding size; L2 normalisation missing; ``Rescaling`` missing; ``Lambda`` layers.
8. ``check_batch_hard(fn)`` — ``batch_hard_triplet_loss(labels, embeddings, margin=0.2)`` → scalar
   (a ``(loss, stats)`` tuple is accepted). Mistakes: hardest positive = min; hardest negative =
   max; the diagonal counted as a positive; negatives not masked; missing relu; the mean taken
   over anchors without positives too. Result checks as for ``triplet_loss``.
9. ``check_nearest_neighbours(fn)`` — ``nearest_neighbours(query, gallery, k=5)`` → ``(k,)`` int
   indices, closest first. Mistakes: farthest first; k ± 1 items; distances instead of indices;
   the right top-k but unsorted; shape ``(1, k)``. Cosine similarity (descending) is correct for
   the unit-length test inputs.
10. ``check_threshold_for_far(fn)`` — ``threshold_for_far(distances, same, far)`` → float; compared
    by the decisions it makes (``d <= t``), not as a float. Mistakes: FAR over all pairs; FAR and
    FRR (or TAR) mixed up; ``<`` instead of ``<=``; the smallest threshold instead of the
    largest; a rate returned instead of a threshold.
    ``check_frr_at(fn)`` — ``frr_at(distances, same, threshold)`` → float. Mistakes: FAR instead
    of FRR; ``<`` instead of ``<=``; divided by all pairs; TAR (1 − FRR); a count instead of a rate.
11. ``check_who_is_it(fn)`` — ``who_is_it(embedding, db_embeddings, db_names, threshold, k=3)`` →
    ``(name or "unknown", top_k)``. Mistakes: never "unknown"; threshold test inverted; the same
    person several times in ``top_k``; ``top_k`` farthest first; mean instead of min over a
    person's rows.
12. ``check_experiment(experiment, history_before, history_after)`` — the experiment dict
    (``change``, ``prediction``, ``val_auc_before``, ``val_auc_after``): types, non-empty text, AUCs in
    [0, 1] equal to the last or best ``val_auc`` of each history (before/after swapped is named);
    prints a short reflection.
13. ``check_cluster_threshold(cluster_threshold, verification_threshold, embeddings, true_labels)``
    — a squared distance in (0, 4] whose pairwise F1 is at least 80 % of the best F1 over a sweep
    and within a factor 3 of the verification threshold. Diagnoses: plain Euclidean (≈ √ of
    the verification threshold), a similarity instead of a distance, too large (everything
    merges), too small (singletons) — with the numbers.
"""
from __future__ import annotations

import ast
import inspect
import math
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from course_utils.config import env_flag

__all__ = [
    "check_triplet_loss",
    "check_pairwise_distances",
    "check_positive_mask",
    "check_negative_mask",
    "check_verify",
    "check_identify",
    "check_split_people",
    "check_encoder",
    "check_batch_hard",
    "check_nearest_neighbours",
    "check_threshold_for_far",
    "check_frr_at",
    "check_who_is_it",
    "check_experiment",
    "check_cluster_threshold",
    "grading_mode",
    "EncoderNeedsBatch",
]

_MAX_MESSAGE = 300          # characters kept from an exception message


# ==============================================================================================
# Shared machinery
# ==============================================================================================

def grading_mode() -> bool:
    """True while an autograder runs the notebook (``COURSE_GRADING=1`` or nbgrader's variable)."""
    return env_flag("COURSE_GRADING") or "NBGRADER_EXECUTION" in os.environ


class _NotDone(Exception):
    """The student's function raised NotImplementedError."""


class _Bad(Exception):
    """The student's result has the wrong kind/shape; the message says expected vs got."""


class _AnyOf(tuple):
    """A variant with several acceptable forms: the student matches it if any form matches."""


@dataclass
class _Case:
    args: tuple                      # positional arguments for the student's function
    kwargs: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)   # float64 NumPy copies etc. for the variants
    expected: Any = None             # canonical expected result
    names: tuple = ()                # argument names, for messages
    size: int = 0                    # used to pick the smallest failing example
    tol: float = 1e-5                # absolute tolerance for float comparisons
    diagnose: bool = True            # use this case when matching known mistakes


@dataclass
class _Mistake:
    hint: str
    variant: Callable                # case.data -> canonical result (or _AnyOf of them)
    same: Callable | None = None     # comparison to use instead of the check's own


def _not_done(name: str, todo: str, reference, ref_path: str):
    """Friendly message + the reference (normal mode), or AssertionError (grading mode)."""
    if grading_mode():
        raise AssertionError(f"{name} is not implemented yet")
    lines = [f"⏳ {name} is not implemented yet."]
    lines += ["   " + line for line in textwrap.dedent(todo).strip().splitlines()]
    lines.append(f"For now the lesson continues with the reference implementation ({ref_path}).")
    print("\n".join(lines))
    return reference


def _is_tensor(x) -> bool:
    if isinstance(x, (np.ndarray, np.generic)) or x is None:
        return False
    try:
        import tensorflow as tf
        if tf.is_tensor(x) or isinstance(x, tf.Variable):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import keras
        return bool(keras.ops.is_tensor(x))
    except Exception:  # noqa: BLE001
        return False


def _kind(x) -> str:
    """A short name of the type of ``x``: 'tf.Tensor', 'np.ndarray', 'Python float', …"""
    if x is None:
        return "None"
    if _is_tensor(x):
        return "tf.Tensor"
    if isinstance(x, np.ndarray):
        return "np.ndarray"
    if isinstance(x, np.generic):
        return f"NumPy {type(x).__name__}"
    if isinstance(x, (bool, int, float, str, list, tuple, dict)):
        return f"Python {type(x).__name__}"
    return type(x).__name__


def _np(x) -> np.ndarray:
    """Tensor / array / list → NumPy array (no copy when possible)."""
    if hasattr(x, "numpy") and callable(x.numpy):
        try:
            return np.asarray(x.numpy())
        except Exception:  # noqa: BLE001
            pass
    return np.asarray(x)


def _fmt(x, precision: int = 4, nested: bool = False) -> str:
    """Compact text for a value in a message (arrays with values when small and not nested)."""
    if isinstance(x, (str, np.str_)):
        return repr(str(x))
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{precision + 2}g}"
    if isinstance(x, dict):
        items = list(x.items())
        inner = ", ".join(f"{k!r}: {_fmt(v, precision, nested=True)}" for k, v in items[:6])
        return "{" + inner + (", …" if len(items) > 6 else "") + "}"
    long_numbers = len(x) > 8 and all(isinstance(v, (int, float)) for v in x) if isinstance(x, (list, tuple)) else False
    if isinstance(x, (list, tuple)) and not long_numbers:    # long lists of numbers: shown as arrays
        inner = ", ".join(_fmt(v, precision) for v in x[:8]) + (", …" if len(x) > 8 else "")
        return ("(" + inner + ("," if len(x) == 1 else "") + ")") if isinstance(x, tuple) else "[" + inner + "]"
    if x is None:
        return "None"
    if isinstance(x, _FakeEncoder):
        return repr(x)
    if callable(x) and not hasattr(x, "shape"):
        return getattr(x, "__name__", type(x).__name__)
    try:
        arr = _np(x)
    except Exception:  # noqa: BLE001
        return repr(x)[:80]
    head = f"{_kind(x)} {arr.dtype} {tuple(arr.shape)}"
    if nested:
        return f"{arr.dtype} {tuple(arr.shape)}"
    if arr.size <= 16:
        body = np.array2string(arr, precision=precision, suppress_small=True, separator=", ",
                               max_line_width=90)
        body = " ".join(body.split())
        return f"{head}: {body}"
    return head


def _summarise_exception(err: BaseException) -> str:
    """``TypeError: first line of the message`` (TensorFlow traces cut away)."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(err)).strip()
    text = re.sub(r"\s*\[Op:\w+\]( name: \S*)?$", "", text, flags=re.M)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    for line in lines:                     # TF puts the useful line after a long header
        if line.startswith(("{{function_node", "Traceback", "File ")):
            continue
        first = line
        break
    if len(first) > _MAX_MESSAGE:
        first = first[:_MAX_MESSAGE] + " …"
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _show_inputs(case: _Case) -> str:
    names = list(case.names) + [f"arg{i}" for i in range(len(case.names), len(case.args))]
    pairs = list(zip(names, case.args)) + list(case.kwargs.items())
    width = max((len(name) for name, _ in pairs), default=0)
    return "\n".join(f"  {name:<{width}} = {_fmt(value)}" for name, value in pairs)


def _call(name: str, fn, case: _Case, index: int, total: int):
    """Run the student's function on one case; NotImplementedError → _NotDone."""
    try:
        return fn(*case.args, **case.kwargs)
    except NotImplementedError:
        raise _NotDone() from None
    except Exception as err:  # noqa: BLE001 — summarised for the student
        hint = getattr(err, "course_hint", None)
        msg = [f"{name} raised {_summarise_exception(err)}",
               f"Inputs (test {index + 1} of {total}):", _show_inputs(case)]
        if hint:
            msg.insert(1, f"Likely mistake: {hint}")
        raise AssertionError("\n".join(msg)) from None


def _matches(same, got, variant_out, case) -> bool:
    options = variant_out if isinstance(variant_out, _AnyOf) else (variant_out,)
    for option in options:
        try:
            if same(got, option, case):
                return True
        except Exception:  # noqa: BLE001 — a variant that cannot be compared does not match
            continue
    return False


def _run(name: str, fn, cases: list[_Case], *, reference, ref_path: str, todo: str,
         convert: Callable, same: Callable, mistakes=(), after=(), advice: str = "",
         show: Callable = _fmt):
    """The common work of every check.

    1. call ``fn`` on every case (NotImplementedError → friendly fallback / grading failure;
       other exceptions → summarised AssertionError);
    2. ``convert(raw, case)`` turns each result into a canonical NumPy/Python value, raising
       ``_Bad`` for a wrong kind of result;
    3. ``same(got, expected, case)`` compares; on failure, ``mistakes`` are tried (a mistake
       matches when the student's results equal its variant on every diagnosable case) and
       the smallest failing example is shown;
    4. ``after``: callables ``(fn, cases, outputs) -> message or None`` for extra requirements
       (no loops, gradients, …) once the values are right.
    """
    if not callable(fn):
        raise AssertionError(f"check_{name} expects your function {name} itself (no parentheses); "
                             f"got {_kind(fn)} {_fmt(fn)}.")
    total = len(cases)
    outputs = []
    try:
        for i, case in enumerate(cases):
            raw = _call(name, fn, case, i, total)
            try:
                outputs.append(convert(raw, case))
            except _Bad as bad:
                raise AssertionError(
                    f"{name} returned the wrong kind of result (test {i + 1} of {total}).\n{bad}\n"
                    f"Inputs:\n{_show_inputs(case)}") from None
    except _NotDone:
        return _not_done(name, todo, reference, ref_path)

    wrong = [i for i, (got, case) in enumerate(zip(outputs, cases)) if not same(got, case.expected, case)]
    if wrong:
        hint = None
        diagnosable = [i for i, case in enumerate(cases) if case.diagnose]
        for mistake in mistakes:
            ok = True
            for i in diagnosable:
                try:
                    variant_out = mistake.variant(cases[i].data)
                except Exception:  # noqa: BLE001
                    ok = False
                    break
                if not _matches(mistake.same or same, outputs[i], variant_out, cases[i]):
                    ok = False
                    break
            if ok:
                hint = mistake.hint
                break
        i = min(wrong, key=lambda k: (cases[k].size, k))
        lines = [f"{name} gives a wrong result on {len(wrong)} of {total} randomized tests."]
        if hint:
            lines.append(f"Likely mistake: {hint}")
        lines += ["Smallest failing example:", _show_inputs(cases[i]),
                  f"  expected: {show(cases[i].expected)}",
                  f"  got:      {show(outputs[i])}"]
        if not hint and advice:
            lines.append(advice)
        raise AssertionError("\n".join(lines))

    for extra in after:
        problem = extra(fn, cases, outputs)
        if problem:
            raise AssertionError(f"{name} gives the right values, but: {problem}")
    print(f"✓ {name}: correct on {total} randomized tests.")
    return fn


# ---------------------------------------------------------------------------------------------
# Small converters and comparisons
# ---------------------------------------------------------------------------------------------

def _close(got, expected, case: _Case, rtol: float = 1e-4) -> bool:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=case.tol))


def _finite_or_bad(arr: np.ndarray, what: str = "result") -> None:
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        n_nan = int(np.sum(np.isnan(arr)))
        raise _Bad(f"Expected finite numbers, got {'NaN' if n_nan else 'inf'} in the {what} "
                   f"({_fmt(arr)}). NaN usually comes from a sqrt of a (tiny) negative number or a 0/0.")


def _scalar_tensor(raw, batch: int | None = None, name: str = "loss", allow_tuple: bool = False) -> float:
    """A loss must be a 0-d tensor (so gradients flow); returns its value as a float.

    ``allow_tuple``: a ``(loss, ...)`` tuple is accepted and its first element checked.
    """
    if allow_tuple and isinstance(raw, (tuple, list)) and len(raw) >= 1:
        raw = raw[0]
    if raw is None:
        raise _Bad("Expected a scalar tensor, got None. Did you forget `return`?")
    if isinstance(raw, (bool, np.bool_)):
        raise _Bad(f"Expected a scalar float tensor, got the boolean {raw!r}.")
    if isinstance(raw, (int, float, np.number)):
        what = f"Python {type(raw).__name__}" if isinstance(raw, (int, float)) else f"NumPy {type(raw).__name__}"
        raise _Bad(f"Return a tensor (keras.ops/tf result), not a {what}: gradients cannot flow through "
                   f"a float. Got {_fmt(raw)}; drop the float(...) / .numpy() at the end.")
    if isinstance(raw, np.ndarray):
        raise _Bad(f"Return a tensor (keras.ops/tf result), not a NumPy array: gradients cannot flow "
                   f"through NumPy. Got {_fmt(raw)}; use keras.ops (ops.sum, ops.maximum, ops.mean) "
                   "instead of np.*.")
    if not _is_tensor(raw):
        raise _Bad(f"Expected a scalar tensor, got {_kind(raw)}: {_fmt(raw)}.")
    arr = _np(raw)
    if arr.shape != ():
        if batch is not None and arr.shape == (batch,):
            raise _Bad(f"You returned shape {arr.shape} (one {name} per example): take the mean over "
                       "the batch (ops.mean) to get a single number.")
        raise _Bad(f"Expected a scalar (shape ()), got shape {arr.shape}: {_fmt(raw)}.")
    if arr.dtype.kind != "f":
        raise _Bad(f"Expected a float tensor, got dtype {arr.dtype}.")
    _finite_or_bad(arr, name)
    return float(arr)


def _float_scalar(raw, what: str = "result", allow_inf: bool = False) -> float:
    """A plain number (Python/NumPy float, 0-d array or tensor) → float (±inf only if allowed)."""
    if raw is None:
        raise _Bad(f"Expected a number for the {what}, got None. Did you forget `return`?")
    if isinstance(raw, (bool, np.bool_)):
        raise _Bad(f"Expected a number for the {what}, got the boolean {raw!r}.")
    if isinstance(raw, str):
        raise _Bad(f"Expected a number for the {what}, got the string {raw!r}.")
    try:
        arr = _np(raw)
    except Exception:  # noqa: BLE001
        raise _Bad(f"Expected a number for the {what}, got {_kind(raw)}.") from None
    if arr.dtype.kind not in "iuf":
        raise _Bad(f"Expected a number for the {what}, got {_kind(raw)} of dtype {arr.dtype}: {_fmt(raw)}.")
    if arr.shape != ():
        raise _Bad(f"Expected a single number for the {what}, got an array of shape {arr.shape}: "
                   f"{_fmt(raw)}. Take the element you mean (e.g. [0]) or float(...).")
    value = float(arr)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise _Bad(f"Expected a finite number for the {what}, got {value}.")
    return value


def _gradient_flows(fn, args, wrt: int, kwargs=None) -> bool | None:
    """True if d fn(*args)/d args[wrt] exists (tf.GradientTape); None when it cannot be tested."""
    import tensorflow as tf
    args = list(args)
    x = tf.Variable(_np(args[wrt]))
    args[wrt] = x
    try:
        with tf.GradientTape() as tape:
            out = fn(*args, **(kwargs or {}))
            if isinstance(out, tuple):
                out = out[0]
        if not _is_tensor(out):
            return None
        return tape.gradient(out, x) is not None
    except Exception:  # noqa: BLE001 — a function that cannot take a Variable is not judged here
        return None


def _rng() -> np.random.Generator:
    """A fresh, unseeded generator: different inputs on every call."""
    return np.random.default_rng()


def _tensor_or_array(x: np.ndarray, as_tensor: bool):
    if as_tensor:
        import tensorflow as tf
        return tf.constant(x)
    return x


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ==============================================================================================
# 1. triplet_loss
# ==============================================================================================

_TRIPLET_TODO = """\
Compute, for each row i, d_pos = ‖a_i − p_i‖² and d_neg = ‖a_i − n_i‖² (sum over axis=1),
then return ops.mean(ops.maximum(d_pos − d_neg + alpha, 0)) — a scalar tensor."""


def _triplet_terms(d):
    a, p, n = d["anchor"], d["positive"], d["negative"]
    return np.sum((a - p) ** 2, axis=1), np.sum((a - n) ** 2, axis=1), d["alpha"]


def _triplet_mistakes():
    def max_of_sum(d):
        dp, dn, alpha = _triplet_terms(d)
        return _AnyOf((max(dp.sum() - dn.sum() + alpha, 0.0), max(dp.mean() - dn.mean() + alpha, 0.0)))

    def euclidean(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(np.maximum(np.sqrt(dp) - np.sqrt(dn) + alpha, 0.0))

    def one_squared(d):
        dp, dn, alpha = _triplet_terms(d)
        return _AnyOf((np.mean(np.maximum(np.sqrt(dp) - dn + alpha, 0.0)),
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

    def swapped(d):
        dp, dn, alpha = _triplet_terms(d)
        return np.mean(np.maximum(dn - dp + alpha, 0.0))

    return [
        _Mistake("max of sum vs sum of max: you applied max(·, 0) once to the whole batch "
                 "(distances summed or averaged over the batch first). Take the max per example "
                 "(d_pos and d_neg of shape (B,)), then the mean over the batch.", max_of_sum),
        _Mistake("Euclidean instead of squared distances: the FaceNet loss uses ‖a − p‖² "
                 "(no square root). Drop the sqrt / ops.norm and use ops.sum(ops.square(a - p), axis=1).",
                 euclidean),
        _Mistake("only one of the two distances is squared: use the squared distance "
                 "ops.sum(ops.square(...), axis=1) for BOTH d(a, p) and d(a, n).", one_squared),
        _Mistake("the max(·, 0) is missing: easy triplets (d_neg already larger than d_pos + α) must "
                 "contribute 0, not a negative number. Wrap the per-example term in ops.maximum(·, 0.0).",
                 no_max),
        _Mistake("the margin is subtracted: the loss is d_pos − d_neg + alpha (plus alpha, not minus).",
                 minus_alpha),
        _Mistake("the margin alpha is missing: add + alpha inside the max.", no_alpha),
        _Mistake("you summed over the batch: take the mean (ops.mean) so the loss does not grow with "
                 "the batch size.", summed),
        _Mistake("the distances were reduced over the wrong axis (axis=0, the batch): sum over the "
                 "feature axis, ops.sum(..., axis=1) (or axis=-1), to get one distance per example.",
                 wrong_axis),
        _Mistake("d_pos and d_neg are swapped: the loss is max(d(a, p) − d(a, n) + alpha, 0) — the "
                 "positive distance comes first (it should be small).", swapped),
    ]


def _triplet_cases(rng) -> list[_Case]:
    from course_utils.losses import triplet_loss
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
            a, p, n = _unit_rows(a), _unit_rows(p), _unit_rows(n)
        else:  # not unit length, but of order 1 (one scale per triplet, so easy rows stay easy)
            scale = rng.uniform(0.5, 2.0, size=(b, 1)) / np.sqrt(dim)
            a, p, n = a * scale, p * scale, n * scale
        a, p, n = (x.astype(dtype) for x in (a, p, n))
        data = {"anchor": a.astype(np.float64), "positive": p.astype(np.float64),
                "negative": n.astype(np.float64), "alpha": 0.2 if alpha is None else alpha}
        args = tuple(_tensor_or_array(x, tensor) for x in (a, p, n))
        if alpha is not None:
            args = args + (alpha,)
        expected = float(_np(triplet_loss(data["anchor"], data["positive"], data["negative"], data["alpha"])))
        scale = max(1.0, float(np.max(np.sum(a.astype(np.float64) ** 2, axis=1))))
        cases.append(_Case(args=args, data=data, expected=expected, size=b * dim,
                           names=("anchor", "positive", "negative", "alpha"),
                           tol=1e-4 * scale))      # float32 rounding, even for float64 inputs
    return cases


def _gradient_check(name: str, wrt: int, label: str):
    def after(fn, cases, outputs):
        case = next(c for c in cases if len(c.args) > wrt and _is_tensor(c.args[wrt]))
        flows = _gradient_flows(fn, case.args, wrt, case.kwargs)
        if flows is False:
            return (f"no gradient flows from the {name} back to `{label}`. Somewhere the computation left "
                    "TensorFlow (a .numpy(), float(...), np.* call, or tf.constant of a computed value). "
                    "Use keras.ops (or tf) operations all the way.")
        return None
    return after


def check_triplet_loss(fn):
    """Check ``triplet_loss(anchor, positive, negative, alpha=0.2)`` (a scalar tensor)."""
    from course_utils.losses import triplet_loss

    cases = _triplet_cases(_rng())
    return _run(
        "triplet_loss", fn, cases,
        reference=triplet_loss, ref_path="course_utils.losses.triplet_loss", todo=_TRIPLET_TODO,
        convert=lambda raw, case: _scalar_tensor(raw, batch=len(case.data["anchor"])),
        same=_close, mistakes=_triplet_mistakes(),
        after=[_gradient_check("loss", 0, "anchor")],
        advice="Check each step on the example: d_pos and d_neg (shape (B,)), the max with 0 per "
               "example, then the mean over the batch.")


# ==============================================================================================
# 2. pairwise_squared_distances
# ==============================================================================================

_PAIRWISE_TODO = """\
Use ‖a − b‖² = ‖a‖² − 2 a·b + ‖b‖²: one matrix product (ops.matmul(e, ops.transpose(e))) plus the
squared norms broadcast as a column and as a row; clip at 0 (ops.maximum) and set the diagonal to 0."""

_LOOP_NODES = (ast.For, ast.While, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _function_node(fn):
    """The ``ast`` node of ``fn``'s definition, or None when its source is not available."""
    target = inspect.unwrap(getattr(fn, "python_function", fn))
    try:
        source = textwrap.dedent(inspect.getsource(target))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return node
    return None


def _uses_python_loops(fn) -> bool | None:
    """True/False, or None when the source cannot be read (then nothing is claimed)."""
    node = _function_node(fn)
    if node is None:
        return None
    return any(isinstance(sub, _LOOP_NODES) for sub in ast.walk(node))


def _no_loops(fn, cases, outputs):
    if _uses_python_loops(fn):
        return ("no Python loops, please (for/while/comprehensions run once per pair and are slow "
                "on a GPU batch): use broadcasting or a matrix product, e.g. ops.matmul(e, ops.transpose(e)).")
    return None


def _square_matrix(raw, case: _Case) -> np.ndarray:
    b = case.data["B"]
    if raw is None:
        raise _Bad(f"Expected a ({b}, {b}) matrix of distances, got None. Did you forget `return`?")
    if isinstance(raw, (int, float, np.number)):
        raise _Bad(f"Expected a ({b}, {b}) matrix (one distance per pair), got a single number {_fmt(raw)}.")
    try:
        arr = _np(raw)
    except Exception:  # noqa: BLE001
        raise _Bad(f"Expected a ({b}, {b}) tensor or array, got {_kind(raw)}.") from None
    if arr.dtype.kind not in "iuf":
        raise _Bad(f"Expected numbers, got {_kind(raw)} of dtype {arr.dtype}.")
    if arr.shape != (b, b):
        raise _Bad(f"Expected shape ({b}, {b}) (one distance per pair of rows), got shape {arr.shape}.")
    _finite_or_bad(arr, "distances")
    return arr.astype(np.float64)


def _pairwise_truth(x):
    return np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)


def _pairwise_mistakes():
    def forms(d):
        """The same wrong formula with or without clipping / zeroing the diagonal."""
        clipped = np.maximum(d, 0.0)
        return _AnyOf((d, clipped, _zero_diagonal(d), _zero_diagonal(clipped)))

    def parts(data):
        x = data["x"]
        sq = np.sum(x ** 2, axis=1)
        return sq, x @ x.T

    def euclidean(data):        # compared after squaring: sqrt magnifies rounding near 0
        return _pairwise_truth(data["x"])

    def squared_matches(got, expected, case):
        return bool(np.all(got >= 0)) and _close(np.square(got), expected, case)

    def only_cross(data):
        _, gram = parts(data)
        return forms(-2.0 * gram)

    def plus_cross(data):
        sq, gram = parts(data)
        return forms(sq[:, None] + 2.0 * gram + sq[None, :])

    def same_way_twice(data):
        sq, gram = parts(data)
        return _AnyOf(forms(sq[:, None] - 2.0 * gram + sq[:, None]) + forms(sq[None, :] - 2.0 * gram + sq[None, :]))

    return [
        _Mistake("Euclidean instead of squared distances: do not take the square root (ops.sqrt / ops.norm); "
                 "the course uses ‖a − b‖² everywhere.", euclidean, same=squared_matches),
        _Mistake("only the −2·a·b term: add the squared norms, ‖a‖² as a column (B, 1) and ‖b‖² as a row "
                 "(1, B): d = sq[:, None] − 2·gram + sq[None, :].", only_cross),
        _Mistake("wrong sign of the cross term: it is ‖a‖² − 2·a·b + ‖b‖² (minus 2ab).", plus_cross),
        _Mistake("the squared norms are broadcast the same way twice, so the matrix is not symmetric: "
                 "add them once as a column (ops.expand_dims(sq, 1), shape (B, 1)) and once as a row "
                 "(ops.expand_dims(sq, 0), shape (1, B)).", same_way_twice),
    ]


def _zero_diagonal(d):
    d = np.array(d, dtype=np.float64, copy=True)
    np.fill_diagonal(d, 0.0)
    return d


def _pairwise_cases(rng) -> list[_Case]:
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
        x = _unit_rows(x) if unit else x * rng.uniform(0.3, 2.0, size=(b, 1)) / np.sqrt(dim)
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


def _pairwise_case(x: np.ndarray, tensor: bool) -> _Case:
    x64 = x.astype(np.float64)
    scale = max(1.0, float(np.max(np.sum(x64 ** 2, axis=1))))
    tol = 2e-5 * scale            # float32 rounding, even for float64 inputs (a student may cast)
    return _Case(args=(_tensor_or_array(x, tensor),), names=("embeddings",),
                 data={"x": x64, "B": len(x)}, expected=_pairwise_truth(x64),
                 size=x.size, tol=tol)


def _pairwise_clipped_and_zero_diagonal(fn, cases, outputs):
    for got, case in zip(outputs, cases):
        if got.min() < -1e-6:
            return (f"some distances are negative (smallest {got.min():.3g}, on a batch of shape "
                    f"{case.data['x'].shape}): rounding in ‖a‖² − 2a·b + ‖b‖² can go slightly below 0. "
                    "Clip them with d = ops.maximum(d, 0.0).")
    for got, case in zip(outputs, cases):
        worst = float(np.max(np.abs(np.diagonal(got)))) if len(got) else 0.0
        if worst > 1e-5:
            return (f"the diagonal is not zero (up to {worst:.3g}, on a batch of shape {case.data['x'].shape}): "
                    "rounding leaves small values there. Set it to exactly 0, e.g. "
                    "d = d * (1.0 - ops.eye(B)) or ops.where(ops.eye(B) > 0, 0.0, d).")
    return None


def check_pairwise_distances(fn):
    """Check ``pairwise_squared_distances(embeddings)`` → ``(B, B)`` squared distances, no loops."""
    from course_utils.losses import pairwise_squared_distances

    return _run(
        "pairwise_squared_distances", fn, _pairwise_cases(_rng()),
        reference=pairwise_squared_distances,
        ref_path="course_utils.losses.pairwise_squared_distances", todo=_PAIRWISE_TODO,
        convert=_square_matrix, same=_close, mistakes=_pairwise_mistakes(),
        after=[_pairwise_clipped_and_zero_diagonal, _no_loops],
        advice="Check each piece on the example: gram = e @ eᵀ (B, B), sq = row sums of e² (B,), "
               "then sq[:, None] − 2·gram + sq[None, :].")


# ==============================================================================================
# 3. positive_mask / negative_mask
# ==============================================================================================

_POSITIVE_TODO = """\
Flatten the labels (ops.reshape(labels, (-1,))), compare every pair with broadcasting
(labels[:, None] == labels[None, :]) and remove the diagonal (ops.logical_not(ops.eye(B, dtype="bool")))."""

_NEGATIVE_TODO = """\
Flatten the labels (ops.reshape(labels, (-1,))) and compare every pair with broadcasting:
labels[:, None] != labels[None, :] (a boolean (B, B) mask)."""


def _mask_cases(rng, which: str) -> list[_Case]:
    plan = [  # (B, labels shape "(B,)" or "(B,1)", dtype, tensor?, structure)
        (1, "flat", np.int32, False, "random"),
        (2, "column", np.int64, True, "distinct"),
        (5, "flat", np.float32, True, "random"),
        (8, "column", np.float32, False, "random"),
        (12, "flat", np.int64, False, "random"),
        (20, "column", np.int32, True, "random"),
        (6, "flat", np.int32, False, "same"),
        (9, "column", np.float32, True, "random"),
    ]
    cases = []
    for b, layout, dtype, tensor, structure in plan:
        if structure == "distinct":
            labels = rng.permutation(100)[:b]
        elif structure == "same":
            labels = np.full(b, rng.integers(100))
        else:
            ids = rng.permutation(100)[:max(2, b // 3)]
            labels = ids[rng.integers(len(ids), size=b)]
            labels[: min(b, 2)] = ids[0]          # at least one repeated label
        flat = labels.astype(np.int64)
        shaped = labels.astype(dtype).reshape((b, 1) if layout == "column" else (b,))
        same = flat[:, None] == flat[None, :]
        eye = np.eye(b, dtype=bool)
        positive = same & ~eye
        cases.append(_Case(args=(_tensor_or_array(shaped, tensor),), names=("labels",),
                           data={"B": b, "same": same, "eye": eye, "positive": positive, "negative": ~same},
                           expected=positive if which == "positive" else ~same, size=b))
    return cases


def _bool_mask(raw, case: _Case) -> np.ndarray:
    b = case.data["B"]
    if raw is None:
        raise _Bad(f"Expected a ({b}, {b}) boolean mask, got None. Did you forget `return`?")
    try:
        arr = _np(raw)
    except Exception:  # noqa: BLE001
        raise _Bad(f"Expected a ({b}, {b}) boolean tensor or array, got {_kind(raw)}.") from None
    if arr.shape == (b, b, 1):
        raise _Bad(f"You returned shape {arr.shape} instead of ({b}, {b}): labels of shape ({b}, 1) must be "
                   "flattened first, ops.reshape(labels, (-1,)), before comparing every pair.")
    if arr.shape != (b, b):
        raise _Bad(f"Expected shape ({b}, {b}) (one entry per pair), got shape {arr.shape}.")
    if arr.dtype != bool:
        if arr.dtype.kind in "iuf" and np.all(np.isin(arr, (0, 1))):
            raise _Bad(f"You returned 0/1 numbers (dtype {arr.dtype}) instead of booleans: the mask must "
                       "have dtype bool. Build it from comparisons with ops.logical_and / ops.logical_not "
                       "(not by multiplying), or finish with ops.cast(mask, 'bool').")
        raise _Bad(f"Expected a boolean mask, got dtype {arr.dtype}: {_fmt(raw)}.")
    return arr


def _same_mask(got, expected, case) -> bool:
    return got.shape == expected.shape and bool(np.array_equal(got, expected))


def _show_mask(mask) -> str:
    mask = np.asarray(mask)
    if mask.ndim == 2 and mask.shape[0] <= 12:
        rows = ["".join("1" if v else "." for v in row) for row in mask]
        return "(1 = True)\n      " + "\n      ".join(rows)
    return _fmt(mask)


def check_positive_mask(fn):
    """Check ``positive_mask(labels)`` → ``(B, B)`` bool, True where same label and i != j."""
    from course_utils.losses import positive_mask

    mistakes = [
        _Mistake("the diagonal is included: an image is not its own positive (i == j must be False). "
                 "Combine with ops.logical_not(ops.eye(B, dtype='bool')).", lambda d: d["same"]),
        _Mistake("this is the negative mask (different labels): a positive pair has the SAME label "
                 "(labels[:, None] == labels[None, :]), without the diagonal.",
                 lambda d: _AnyOf((d["negative"], d["negative"] | d["eye"]))),
    ]
    return _run("positive_mask", fn, _mask_cases(_rng(), "positive"),
                reference=positive_mask, ref_path="course_utils.losses.positive_mask", todo=_POSITIVE_TODO,
                convert=_bool_mask, same=_same_mask, mistakes=mistakes, show=_show_mask,
                advice="Positive pairs: same label and i != j.")


def check_negative_mask(fn):
    """Check ``negative_mask(labels)`` → ``(B, B)`` bool, True where the labels differ."""
    from course_utils.losses import negative_mask

    mistakes = [
        _Mistake("the diagonal is marked as a negative: ops.logical_not(positive_mask) also flips i == j. "
                 "Negatives are simply labels[:, None] != labels[None, :] (the diagonal is then False).",
                 lambda d: d["negative"] | d["eye"]),
        _Mistake("this is the positive mask (same labels): a negative pair has DIFFERENT labels "
                 "(labels[:, None] != labels[None, :]).",
                 lambda d: _AnyOf((d["positive"], d["same"]))),
    ]
    return _run("negative_mask", fn, _mask_cases(_rng(), "negative"),
                reference=negative_mask, ref_path="course_utils.losses.negative_mask", todo=_NEGATIVE_TODO,
                convert=_bool_mask, same=_same_mask, mistakes=mistakes, show=_show_mask,
                advice="Negative pairs: different labels.")



# ==============================================================================================
# 4–5. verify / identify (lesson 1)
# ==============================================================================================

_NAMES = ("Ada", "Alan", "Barbara", "Claude", "Edsger", "Grace", "Katherine", "Linus", "Margaret",
          "Niklaus", "Radia", "Tim")

_BATCH_HINT = ("the encoder expects a batch of images (N, H, W, 3), not one image (H, W, 3): "
               "pass image[None] (or np.expand_dims(image, 0)) and take row [0] of the result.")


class EncoderNeedsBatch(ValueError):
    """Raised by the checks' fake encoder when it is given one image instead of a batch."""
    course_hint = _BATCH_HINT


class _FakeEncoder:
    """A deterministic stand-in for a Keras encoder: ``(N, H, W, 3)`` → ``(N, D)`` float32 rows.

    Random projection of the pixels, L2-normalised, then rounded to multiples of 2⁻¹⁰ so that
    every squared distance between two embeddings is exact in float32 and float64 (a test can then
    put the threshold exactly on a distance). Returns a tf.Tensor when called (like a Keras model,
    if ``as_tensor``) and a NumPy array from ``predict``.
    """

    def __init__(self, rng, image_shape, dim, as_tensor=True):
        self.image_shape = tuple(image_shape)
        self.w = rng.normal(size=(int(np.prod(image_shape)), dim))
        self.as_tensor = as_tensor
        self.output_shape = (None, dim)

    def _embed(self, images) -> np.ndarray:
        x = _np(images)
        if x.shape == self.image_shape:
            raise EncoderNeedsBatch(f"encoder expects a batch of shape (N, {', '.join(map(str, self.image_shape))}); "
                                    f"got one image of shape {x.shape}")
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            raise ValueError(f"encoder expects images of shape (N, {', '.join(map(str, self.image_shape))}); "
                             f"got shape {x.shape}")
        flat = x.reshape(len(x), -1).astype(np.float64) / 255.0 - 0.5
        e = _unit_rows(flat @ self.w)
        return (np.round(e * 1024.0) / 1024.0).astype(np.float32)

    def __call__(self, images, training=False, **kwargs):
        out = self._embed(images)
        return _tensor_or_array(out, self.as_tensor)

    def predict(self, images, verbose=0, batch_size=None, **kwargs):
        return self._embed(images)

    def __repr__(self):
        return f"<encoder: (N, {', '.join(map(str, self.image_shape))}) → (N, {self.w.shape[1]})>"


def _face_world(rng, n_people: int, dim: int, size: int, as_tensor: bool):
    encoder = _FakeEncoder(rng, (size, size, 3), dim, as_tensor)
    names = [str(n) for n in rng.choice(_NAMES, size=n_people, replace=False)]
    bases = rng.uniform(0, 255, size=(n_people, size, size, 3))
    database = {name: encoder.predict(base[None])[0] for name, base in zip(names, bases)}
    return encoder, names, bases, database


def _photo(rng, base, noise: float, uint8: bool):
    image = np.clip(base + rng.normal(0.0, noise, size=base.shape), 0, 255)
    return image.round().astype(np.uint8) if uint8 else image.astype(np.float32)


def _distances(embedding, database) -> dict:
    e = np.asarray(embedding, dtype=np.float64)
    return {name: float(np.sum((e - np.asarray(key, dtype=np.float64)) ** 2)) for name, key in database.items()}


def _bool_scalar(raw, what: str) -> bool:
    if isinstance(raw, (bool, np.bool_)):
        return bool(raw)
    if _is_tensor(raw) or isinstance(raw, np.ndarray):
        arr = _np(raw)
        if arr.dtype == bool and arr.shape == ():
            return bool(arr)
        raise _Bad(f"Expected True/False for {what}, got {_kind(raw)} of dtype {arr.dtype} and shape {arr.shape}.")
    raise _Bad(f"Expected True/False for {what}, got {_kind(raw)} {_fmt(raw)}. Compare: distance <= threshold.")


def _is_number(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    if _is_tensor(x) or isinstance(x, np.ndarray):
        arr = _np(x)
        return arr.shape == () and arr.dtype.kind in "iuf"
    return False


def _is_boolish(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return True
    if _is_tensor(x) or isinstance(x, np.ndarray):
        arr = _np(x)
        return arr.shape == () and arr.dtype == bool
    return False


def _pair(raw, what: str) -> tuple:
    if raw is None:
        raise _Bad(f"Expected a pair {what}, got None. Did you forget `return`?")
    if not isinstance(raw, (tuple, list)) or len(raw) != 2:
        got = f"{_kind(raw)} of length {len(raw)}" if isinstance(raw, (tuple, list)) else f"{_kind(raw)} {_fmt(raw)}"
        raise _Bad(f"Expected a pair {what} (return a, b), got {got}.")
    return raw[0], raw[1]


def _verify_result(raw, case: _Case) -> tuple:
    first, second = _pair(raw, "(accepted, distance)")
    if _is_number(first) and _is_boolish(second):
        raise _Bad("The two results are in the wrong order: you returned (distance, accepted); "
                   "return (accepted, distance).")
    return _bool_scalar(first, "accepted"), _float_scalar(second, "distance")


def _same_decision_and_distance(got, expected, case) -> bool:
    return got[0] == expected[0] and math.isclose(got[1], expected[1], rel_tol=1e-5, abs_tol=case.tol)


_VERIFY_TODO = """\
Embed the image (the encoder takes a batch: encoder(image[None])[0]), take the squared distance to
database[claimed_name] (sum of squared differences), and return (distance <= threshold, distance)."""


def _verify_cases(rng) -> list[_Case]:
    from course_utils.exercises import verify
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
        d = dists[claimed]
        if kind == "equal":
            threshold = 0.25
        elif kind.endswith("accept"):
            threshold = round(d + float(rng.uniform(0.05, 0.3)), 3)
        else:
            threshold = round(max(d - float(rng.uniform(0.02, 0.3)), d / 2), 3)
        args = (image, claimed, database, encoder, threshold)
        accepted, distance = verify(*args)
        cases.append(_Case(args=args, names=("image", "claimed_name", "database", "encoder", "threshold"),
                           data={"dists": dists, "claimed": claimed, "threshold": threshold},
                           expected=(bool(accepted), float(distance)), size=size * size * 3 + people * dim,
                           tol=1e-5))
    return cases


def check_verify(fn):
    """Check ``verify(image, claimed_name, database, encoder, threshold)`` → ``(accepted, distance)``."""
    from course_utils.exercises import verify

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

    mistakes = [
        _Mistake("the comparison is reversed (distance > threshold): a SMALL distance means the same "
                 "person, so accept when distance <= threshold.", gt),
        _Mistake("`<` instead of `<=`: a distance exactly equal to the threshold must be accepted "
                 "(the course's convention is distance <= threshold).", lt),
        _Mistake("Euclidean instead of squared distance: do not take the square root (np.linalg.norm "
                 "gives ‖a − b‖; square it, or use np.sum((a - b) ** 2)).", euclidean),
        _Mistake("you compared with the closest person in the database instead of the claimed one: "
                 "verification only looks at database[claimed_name].", closest),
    ]
    return _run("verify", fn, _verify_cases(_rng()),
                reference=verify, ref_path="course_utils.exercises.verify", todo=_VERIFY_TODO,
                convert=_verify_result, same=_same_decision_and_distance, mistakes=mistakes,
                advice="Check the distance first (squared, to the claimed person), then the decision.")


_IDENTIFY_TODO = """\
Embed the image (encoder(image[None])[0]), compute the squared distance to every person in the
database, keep the smallest; return ("unknown", d) if that distance > threshold, else (name, d)."""


def _identify_cases(rng) -> list[_Case]:
    from course_utils.exercises import identify
    plan = [  # (people, D, image size, uint8?, tensor?, known probe?)
        (3, 8, 4, False, True, True),
        (4, 16, 6, True, False, False),
        (5, 32, 4, False, True, True),
        (6, 16, 4, True, True, False),
        (4, 8, 6, False, False, True),
        (5, 16, 4, False, True, True),
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
            dists = _distances(encoder.predict(image[None])[0], database)
            values = sorted(dists.values())
        if known:
            threshold = round(values[0] + float(rng.uniform(0.05, min(0.3, (values[1] - values[0]) / 2))), 3)
        else:
            threshold = round(values[0] * float(rng.uniform(0.5, 0.9)), 3)
        args = (image, database, encoder, threshold)
        name, distance = identify(*args)
        cases.append(_Case(args=args, names=("image", "database", "encoder", "threshold"),
                           data={"dists": dists, "threshold": threshold},
                           expected=(str(name), float(distance)), size=size * size * 3 + people * dim, tol=1e-5))
    return cases


def _identify_result(raw, case: _Case) -> tuple:
    first, second = _pair(raw, "(name, distance)")
    if first is None:
        raise _Bad('For a face that matches nobody, return the string "unknown" as the name, not None.')
    if _is_number(first) and not isinstance(first, float):
        raise _Bad(f"You returned a number ({_fmt(first)}) instead of a name: return the person's name "
                   "(the database key), not its position in the database.")
    if not isinstance(first, (str, np.str_)):
        raise _Bad(f"Expected a name (a string) first, got {_kind(first)} {_fmt(first)}.")
    first = str(first)
    if first != "unknown" and first.strip().lower() == "unknown":
        raise _Bad(f'Spell it exactly "unknown" (all lower case), not {first!r}.')
    return first, _float_scalar(second, "distance")


def _same_name_and_distance(got, expected, case) -> bool:
    return got[0] == expected[0] and math.isclose(got[1], expected[1], rel_tol=1e-5, abs_tol=case.tol)


def check_identify(fn):
    """Check ``identify(image, database, encoder, threshold)`` → ``(name or "unknown", distance)``."""
    from course_utils.exercises import identify

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
        return _AnyOf(((name, values[-1]), (name, max(values)), (name, values[0])))

    mistakes = [
        _Mistake("you picked the FARTHEST person: the answer is the person with the smallest distance "
                 "(np.argmin / min, not max).", farthest),
        _Mistake('the answer is never "unknown": when even the closest person is farther than the '
                 'threshold (distance > threshold), return ("unknown", distance).', never_unknown),
        _Mistake('the threshold test is inverted: return the name when distance <= threshold and '
                 '"unknown" when distance > threshold.', inverted),
        _Mistake("the name is right but the distance belongs to someone else (e.g. the last person "
                 "compared in the loop): return the distance of the closest person, kept together with "
                 "their name.", other_distance),
    ]
    return _run("identify", fn, _identify_cases(_rng()),
                reference=identify, ref_path="course_utils.exercises.identify", todo=_IDENTIFY_TODO,
                convert=_identify_result, same=_same_name_and_distance, mistakes=mistakes,
                advice="Print the squared distance to every person for this example and check which is smallest.")



# ==============================================================================================
# 6. split_people (lesson 2)
# ==============================================================================================

_SPLIT_TODO = """\
Take the distinct people (np.unique(labels)), shuffle them with np.random.default_rng(seed), put
round(test_fraction × people) of them on the test side, and return the IMAGE indices of each side:
np.flatnonzero(~in_test), np.flatnonzero(in_test) with in_test = np.isin(labels, test_people)."""

_LEAK_EXPLANATION = (
    "If the images are split at random, the same person ends up in train AND test: the test then "
    "measures how well the model recognises people it has already seen, which is much easier: it "
    "inflates the accuracy, which then looks better than it will be on new people. Split the PEOPLE "
    "first, then take all images of each test person.")


def _index_array(raw, side: str, n: int, labels: np.ndarray) -> np.ndarray:
    if raw is None:
        raise _Bad(f"{side} is None; expected an array of image indices.")
    try:
        arr = _np(raw)
    except Exception:  # noqa: BLE001
        raise _Bad(f"{side}: expected an array of image indices, got {_kind(raw)}.") from None
    if arr.dtype == bool:
        raise _Bad(f"{side} is a boolean mask (dtype bool, shape {arr.shape}); return the image INDICES "
                   "instead: np.flatnonzero(mask) (or np.where(mask)[0]).")
    if arr.ndim != 1:
        raise _Bad(f"{side}: expected a 1-D array of image indices, got shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "iu":
        raise _Bad(f"{side}: image indices must be integers, got dtype {arr.dtype}. "
                   "np.flatnonzero / np.where give int arrays.")
    return arr.astype(np.int64)


def _looks_swapped(raws, cases) -> bool:
    """True when, in every test, the TRAIN side has about the number of test people asked for."""
    far_somewhere = False
    for raw, case in zip(raws, cases):
        try:
            labels = case.args[0]
            n_people = len(np.unique(labels))
            target = round(case.data["fraction"] * n_people)
            n_train = len(np.unique(labels[_np(raw[0]).astype(np.int64)]))
            n_test = len(np.unique(labels[_np(raw[1]).astype(np.int64)]))
        except Exception:  # noqa: BLE001 — malformed results are reported elsewhere
            return False
        if abs(n_train - target) > 1:
            return False
        far_somewhere |= abs(n_test - target) > 1
    return far_somewhere


def _split_problem(raw, labels: np.ndarray, test_fraction: float, swapped: bool = False) -> str | None:
    """What is wrong with one split (a message), or None."""
    n = len(labels)
    people = np.unique(labels)
    try:
        first, second = _pair(raw, "(train_idx, test_idx)")
        train = _index_array(first, "train_idx", n, labels)
        test = _index_array(second, "test_idx", n, labels)
    except _Bad as bad:
        return str(bad)
    both = np.concatenate([train, test])
    if len(both) == len(people) and len(people) < n and set(both.tolist()) <= set(people.tolist()):
        return (f"you returned person ids ({len(train)} + {len(test)} values for {len(people)} people); "
                f"return the indices of their IMAGES ({n} in total): "
                "np.flatnonzero(np.isin(labels, test_people)) for the test side, the rest for train.")
    if both.size and (both.min() < 0 or both.max() >= n):
        return f"indices must be between 0 and {n - 1} (one per image); got values from {both.min()} to {both.max()}."
    counts = np.bincount(both, minlength=n)
    if np.any(counts != 1):
        missing, repeated = int(np.sum(counts == 0)), int(np.sum(counts > 1))
        return (f"every image must be in exactly one of the two sides: {missing} image(s) are missing and "
                f"{repeated} appear more than once ({len(train)} + {len(test)} indices for {n} images).")
    leaked = np.intersect1d(labels[train], labels[test])
    if len(leaked):
        return (f"{len(leaked)} of {len(people)} people have images on BOTH sides (e.g. person "
                f"{_fmt(leaked[0])}). {_LEAK_EXPLANATION}")
    n_test = len(np.unique(labels[test]))
    n_train = len(np.unique(labels[train]))
    target = round(test_fraction * len(people))
    if swapped and abs(n_test - target) > 1:
        return (f"the two sides look swapped: {n_train} people on the train side and {n_test} on the test side, "
                f"but test_fraction={test_fraction} of {len(people)} people is about {target}. "
                "Return (train_idx, test_idx), train first.")
    if n_test == 0 or n_test == len(people):
        side = "test" if n_test == 0 else "train"
        return f"the {side} side is empty; both sides need people (test_fraction={test_fraction})."
    if abs(n_test - target) > 1:
        return (f"{n_test} of {len(people)} people are on the test side, but test_fraction={test_fraction} asks "
                f"for about round({test_fraction} × {len(people)}) = {target}. test_fraction is a share of "
                "the PEOPLE (not of the images).")
    return None


def _split_labels(rng, people: int, per_person: tuple) -> np.ndarray:
    counts = rng.integers(per_person[0], per_person[1] + 1, size=people)
    return rng.permutation(np.repeat(np.arange(people), counts)).astype(np.int64)


def check_split_people(fn):
    """Check ``split_people(labels, test_fraction=0.25, seed=0)`` → ``(train_idx, test_idx)``."""
    from course_utils.exercises import split_people

    if not callable(fn):
        raise AssertionError(f"check_split_people expects your function split_people itself; got {_kind(fn)}.")
    rng = _rng()
    plan = [  # (people, images per person (min, max), test_fraction or None = default, seed or None)
        (8, (1, 5), None, None),
        (10, (2, 4), 0.2, 3),
        (25, (1, 6), 0.25, 7),
        (4, (2, 3), 0.5, 11),
        (12, (1, 8), 0.33, 0),
    ]
    cases = []
    for people, per_person, fraction, seed in plan:
        labels = _split_labels(rng, people, per_person)
        kwargs = {}
        if fraction is not None:
            kwargs["test_fraction"] = fraction
        if seed is not None:
            kwargs["seed"] = seed
        cases.append(_Case(args=(labels,), kwargs=kwargs, names=("labels",),
                           data={"fraction": 0.25 if fraction is None else fraction}))
    total = len(cases) + 2                   # + "same seed, same split" and "other seed, other split"
    try:
        raws = [_call("split_people", fn, case, i, total) for i, case in enumerate(cases)]
        swapped = _looks_swapped(raws, cases)
        outputs = []
        for i, (raw, case) in enumerate(zip(raws, cases)):
            problem = _split_problem(raw, case.args[0], case.data["fraction"], swapped)
            if problem:
                raise AssertionError(
                    f"split_people is not right yet (test {i + 1} of {total}): {problem}\nInputs:\n"
                    f"  labels = {len(case.args[0])} images of {len(np.unique(case.args[0]))} people "
                    f"{_fmt(case.args[0]) if len(case.args[0]) <= 16 else ''}".rstrip()
                    + "".join(f"\n  {k} = {v}" for k, v in case.kwargs.items()))
            outputs.append(raw)
        big = cases[2]
        again = _call("split_people", fn, big, len(cases), total)
        if not all(np.array_equal(_np(a), _np(b)) for a, b in zip(outputs[2], again)):
            raise AssertionError(
                "split_people is not right yet: the same seed must give the same split, but two calls with "
                f"seed={big.kwargs['seed']} gave different results. Make ALL the randomness come from "
                "rng = np.random.default_rng(seed) (no unseeded np.random.* / random.* calls).")
        test_people = set(big.args[0][_np(outputs[2][1])].tolist())
        differs = False
        for other in (big.kwargs["seed"] + 1, big.kwargs["seed"] + 2, big.kwargs["seed"] + 3):
            other_case = _Case(args=big.args, kwargs={**big.kwargs, "seed": other}, names=big.names)
            raw = _call("split_people", fn, other_case, len(cases) + 1, total)
            problem = _split_problem(raw, big.args[0], big.data["fraction"])
            if problem:
                raise AssertionError(f"split_people is not right yet (seed={other}): {problem}")
            if set(big.args[0][_np(raw[1])].tolist()) != test_people:
                differs = True
                break
        if not differs:
            raise AssertionError(
                "split_people is not right yet: another seed must give another split, but seeds "
                f"{big.kwargs['seed']}…{big.kwargs['seed'] + 3} all put the same people on the test side. "
                "Create the generator from the argument: np.random.default_rng(seed).")
    except _NotDone:
        return _not_done("split_people", _SPLIT_TODO, split_people, "course_utils.exercises.split_people")
    print(f"✓ split_people: correct on {total} randomized tests.")
    return fn


# ==============================================================================================
# 7. build_my_encoder (lesson 3)
# ==============================================================================================

_ENCODER_TODO = """\
keras.Input(shape=input_shape) → layers.Rescaling(1/255) → for width in (32, 64, 128):
Conv2D(width, 3, padding="same", use_bias=False) → BatchNormalization() → ReLU() → MaxPooling2D(2);
then GlobalAveragePooling2D() → Dense(embedding_dim) → L2Normalize() (from course_utils.models)."""

_ENCODER_WIDTHS = (32, 64, 128)
_EXPECTED_PARAMS: dict = {}


def _expected_params(input_shape, embedding_dim) -> int:
    key = (tuple(input_shape), int(embedding_dim))
    if key not in _EXPECTED_PARAMS:
        from course_utils.models import build_encoder
        _EXPECTED_PARAMS[key] = build_encoder(input_shape, embedding_dim, widths=_ENCODER_WIDTHS, stem=None).count_params()
    return _EXPECTED_PARAMS[key]


def _all_layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
    return found


def _encoder_problem(model, input_shape, embedding_dim, rng) -> str | None:
    import keras
    from keras import layers

    call = f"build_my_encoder({input_shape}, {embedding_dim})"
    if model is None:
        return f"{call} returned None. Did you forget `return keras.Model(inputs, outputs)`?"
    if not isinstance(model, keras.Model):
        return f"{call} should return a keras.Model, got {_kind(model)}."
    all_layers = _all_layers(model)
    kinds = [type(layer).__name__ for layer in all_layers]
    if any(isinstance(layer, layers.Lambda) for layer in all_layers):
        return ("it uses a keras.layers.Lambda layer. A Lambda cannot be saved and loaded safely in Keras 3 "
                "(load_model(..., safe_mode=True) refuses it, because it would run arbitrary code). "
                "Use the L2Normalize layer from course_utils.models for the normalisation.")
    declared = getattr(model, "input_shape", None) if getattr(model, "inputs", None) else None
    if declared is not None and tuple(declared)[1:] != tuple(input_shape):
        return (f"the model's input shape is {tuple(declared)}, but input_shape={input_shape} was asked for: "
                "use keras.Input(shape=input_shape) rather than a fixed shape.")
    x = rng.uniform(0, 255, size=(3, *input_shape)).astype(np.float32)
    try:
        y = _np(model(x, training=False))
    except Exception as err:  # noqa: BLE001
        return (f"calling the model on a batch of shape {x.shape} raised {_summarise_exception(err)}. "
                "Did you use the input_shape argument in keras.Input(shape=input_shape)?")
    if y.ndim != 2 or y.shape[0] != len(x):
        return f"for a batch of {len(x)} images the output should have shape ({len(x)}, {embedding_dim}); got {y.shape}."
    if y.shape[1] != embedding_dim:
        return (f"wrong embedding size: the output has {y.shape[1]} numbers per image, expected "
                f"embedding_dim = {embedding_dim}. Use Dense(embedding_dim) (not a fixed number).")
    expected = _expected_params(input_shape, embedding_dim)
    got = model.count_params()
    convs = [layer for layer in all_layers if isinstance(layer, layers.Conv2D)]
    if any(isinstance(layer, layers.Flatten) for layer in all_layers):
        return (f"it uses Flatten before the Dense layer ({got:,} parameters instead of {expected:,}): use "
                "GlobalAveragePooling2D(), which averages each feature map to one number — far fewer "
                "parameters, and the same model works for any image size.")
    rescaling = [layer for layer in all_layers if isinstance(layer, layers.Rescaling)]
    if not rescaling:
        return ("the Rescaling layer is missing: start with layers.Rescaling(1.0 / 255) so that pixels "
                "0…255 become 0…1 inside the model (then nobody has to remember to scale the images).")
    scale = float(np.asarray(rescaling[0].scale).reshape(-1)[0])
    if not math.isclose(scale, 1 / 255, rel_tol=1e-3):
        return f"the Rescaling layer multiplies by {scale:.4g}; it should be 1/255 ≈ {1 / 255:.4g}."
    biased = [layer for layer in convs if getattr(layer, "use_bias", False)]
    if biased or got - expected == sum(_ENCODER_WIDTHS):
        return (f"the convolutions have a bias ({got:,} parameters, {got - expected:,} more than expected = "
                "one per filter): pass use_bias=False to Conv2D — the BatchNormalization right after it "
                "adds its own offset, so the bias is wasted.")
    n_bn = sum(isinstance(layer, layers.BatchNormalization) for layer in all_layers)
    if n_bn < len(_ENCODER_WIDTHS):
        return (f"BatchNormalization is missing ({n_bn} BatchNormalization layer(s) for {len(convs)} "
                "convolutions): put one after each Conv2D, before the ReLU.")
    norms = np.linalg.norm(y.astype(np.float64), axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        return (f"the embeddings are not unit length (norms {np.round(norms, 3).tolist()}): end the model with "
                "L2Normalize() from course_utils.models (not a Lambda).")
    if got != expected:
        return (f"the model has {got:,} parameters; the architecture of the exercise has {expected:,} "
                f"(difference {got - expected:+,}). Layers found: {', '.join(kinds)}. "
                "Compare with model.summary() and the list in the exercise (3 blocks of widths 32, 64, 128).")
    return None


def _save_and_reload_problem(model, input_shape, rng) -> str | None:
    import keras

    x = rng.uniform(0, 255, size=(2, *input_shape)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "my_encoder.keras")
        try:
            model.save(path)
        except Exception as err:  # noqa: BLE001
            return f"model.save('my_encoder.keras') failed: {_summarise_exception(err)}"
        try:
            loaded = keras.models.load_model(path, safe_mode=True)
        except Exception as err:  # noqa: BLE001
            return (f"the saved model could not be loaded with keras.models.load_model(..., safe_mode=True): "
                    f"{_summarise_exception(err)}. Custom layers must be registered with "
                    "@keras.saving.register_keras_serializable(); use course_utils.models.L2Normalize.")
    before, after = _np(model(x, training=False)), _np(loaded(x, training=False))
    if before.shape != after.shape or not np.allclose(before, after, atol=1e-5):
        return ("after saving and loading, the model gives different embeddings: a layer does not save "
                "all its settings (get_config) or weights.")
    return None


def check_encoder(fn):
    """Check ``build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128)`` → ``keras.Model``."""
    from course_utils.exercises import build_my_encoder

    if not callable(fn):
        raise AssertionError(f"check_encoder expects your function build_my_encoder itself; got {_kind(fn)}.")
    rng = _rng()
    configs = [((64, 64, 3), 128), ((32, 32, 3), 16)]
    for i, (input_shape, dim) in enumerate(configs):
        case = _Case(args=(input_shape, dim), names=("input_shape", "embedding_dim"))
        try:
            model = _call("build_my_encoder", fn, case, i, len(configs))
        except _NotDone:
            return _not_done("build_my_encoder", _ENCODER_TODO, build_my_encoder,
                             "course_utils.exercises.build_my_encoder")
        problem = _encoder_problem(model, input_shape, dim, rng)
        if problem is None and i == len(configs) - 1:
            problem = _save_and_reload_problem(model, input_shape, rng)
        if problem:
            raise AssertionError(f"build_my_encoder{input_shape, dim} is not right yet: {problem}")
    print(f"✓ build_my_encoder: correct on {len(configs)} randomized tests "
          "(output shape, unit length, parameter count, save and reload).")
    return fn



# ==============================================================================================
# 8. batch_hard_triplet_loss (lesson 5, optional)
# ==============================================================================================

_BATCH_HARD_TODO = """\
d = pairwise squared distances (B, B); per anchor: hardest positive = max of d over the positive mask,
hardest negative = min of d over the negative mask; loss = mean over anchors that have a positive
of max(hardest_pos − hardest_neg + margin, 0)."""


def _batch_hard_parts(data):
    x, labels = data["x"], data["labels"]
    d = _pairwise_truth(x)
    same = labels[:, None] == labels[None, :]
    eye = np.eye(len(labels), dtype=bool)
    return d, same & ~eye, ~same, eye, data["margin"]


def _masked_max(d, mask, fill=0.0):
    return np.where(mask, d, fill).max(axis=1)


def _masked_min(d, mask):
    return np.where(mask, d, np.inf).min(axis=1)


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
        return _AnyOf((mean_valid(np.maximum(hp - d.min(axis=1) + m, 0.0), valid),
                       mean_valid(np.maximum(hp - _masked_min(d, ~eye) + m, 0.0), valid)))

    def no_relu(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        return mean_valid(_masked_max(d, pos) - _masked_min(d, neg) + m, valid)

    def mean_over_all(data):
        d, pos, neg, _, m = _batch_hard_parts(data)
        valid = pos.any(axis=1)
        per_anchor = np.where(valid, np.maximum(_masked_max(d, pos) - _masked_min(d, neg) + m, 0.0), 0.0)
        return float(per_anchor.mean())

    return [
        _Mistake("the hardest positive is the FARTHEST one: take the max (not the min) of the distances "
                 "over the positive mask.", min_positive),
        _Mistake("the hardest negative is the CLOSEST one: take the min (not the max) of the distances "
                 "over the negative mask (fill the non-negatives with a large value before the min).",
                 max_negative),
        _Mistake("anchors without any positive in the batch (a person with one image) still get a loss: "
                 "the diagonal (an anchor with itself, distance 0) counts as a positive, or those anchors "
                 "are not excluded. Use the positive mask without the diagonal and average only over "
                 "anchors that have a positive.", diagonal_positive),
        _Mistake("the negatives are not masked: the minimum is taken over the whole row (the anchor "
                 "itself, at distance 0, or its positives win). Take the min only where the negative "
                 "mask is True, e.g. ops.where(neg_mask, d, large) before ops.min.", negatives_unmasked),
        _Mistake("the relu (max(·, 0)) is missing: an anchor whose hardest negative is already far enough "
                 "must contribute 0, not a negative number.", no_relu),
        _Mistake("you divided by ALL anchors: anchors without a positive have no triplet and must not count. "
                 "Divide the sum by the number of anchors that have at least one positive.", mean_over_all),
    ]


def _batch_hard_cases(rng) -> list[_Case]:
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
    ]
    cases = []
    for pattern, dim, noise, margin, dtype, tensor, column in plan:
        if pattern == "single":               # some people with one image only (no positive)
            counts = [3, 1, 2, 1, 4]
        else:
            counts = [pattern[1]] * pattern[0]
        ids = rng.permutation(1000)[:len(counts)]
        labels = np.repeat(ids, counts)
        centres = _unit_rows(rng.normal(size=(len(counts), dim)))
        x = _unit_rows(np.repeat(centres, counts, axis=0) + noise * rng.normal(size=(len(labels), dim)))
        if pattern == "single":               # a lonely image right next to someone else (d < margin)
            lonely = int(np.flatnonzero(np.repeat(counts, counts) == 1)[0])
            x[lonely] = _unit_rows(x[0] + 0.01 * rng.normal(size=dim))
        order = rng.permutation(len(labels))
        labels, x = labels[order], x[order].astype(dtype)
        m = 0.2 if margin is None else margin
        shaped = labels.astype(np.float32 if column else np.int64).reshape((-1, 1) if column else (-1,))
        data = {"x": x.astype(np.float64), "labels": labels, "margin": m}
        args = (_tensor_or_array(shaped, tensor), _tensor_or_array(x, tensor))
        if margin is not None:
            args += (margin,)
        expected = float(_np(batch_hard_triplet_loss(labels, data["x"], m)[0]))
        cases.append(_Case(args=args, data=data, expected=expected, names=("labels", "embeddings", "margin"),
                           size=x.size, tol=1e-4))
    return cases


def check_batch_hard(fn):
    """Check ``batch_hard_triplet_loss(labels, embeddings, margin=0.2)`` → scalar tensor."""
    from course_utils.exercises import batch_hard_triplet_loss

    return _run(
        "batch_hard_triplet_loss", fn, _batch_hard_cases(_rng()),
        reference=batch_hard_triplet_loss, ref_path="course_utils.exercises.batch_hard_triplet_loss",
        todo=_BATCH_HARD_TODO,
        convert=lambda raw, case: _scalar_tensor(raw, batch=len(case.data["labels"]), allow_tuple=True),
        same=_close, mistakes=_batch_hard_mistakes(),
        after=[_gradient_check("loss", 1, "embeddings")],
        advice="For the example, print the (B, B) distances, the hardest positive and hardest negative "
               "of each anchor, and which anchors have a positive.")


# ==============================================================================================
# 9. nearest_neighbours (lesson 7)
# ==============================================================================================

_NEIGHBOURS_TODO = """\
Squared distances from the query to every gallery row: ops.sum(ops.square(gallery - query), axis=1)
(or np.sum); then the indices of the k smallest, closest first: np.argsort(distances)[:k]."""


def _neighbour_cases(rng) -> list[_Case]:
    plan = [  # (M, D, k or None = default 5, dtype, tensor?)
        (5, 3, None, np.float32, False),
        (12, 16, 3, np.float64, True),
        (40, 64, 5, np.float32, True),
        (8, 3, 1, np.float64, False),
        (20, 16, 7, np.float32, False),
        (30, 8, None, np.float64, True),
        (6, 64, 2, np.float32, True),
        (15, 4, 4, np.float64, False),
    ]
    cases = []
    for m, dim, k, dtype, tensor in plan:
        gap = 0.0
        while gap < 1e-3:                    # no near-ties in the order
            query = _unit_rows(rng.normal(size=dim)).astype(dtype)
            gallery = _unit_rows(rng.normal(size=(m, dim))).astype(dtype)
            dist = np.sum((gallery.astype(np.float64) - query.astype(np.float64)) ** 2, axis=1)
            gap = float(np.min(np.diff(np.sort(dist))))
        kk = 5 if k is None else k
        args = (_tensor_or_array(query, tensor), _tensor_or_array(gallery, tensor))
        if k is not None:
            args += (k,)
        cases.append(_Case(args=args, names=("query", "gallery", "k"), size=m * dim,
                           data={"dist": dist, "k": kk}, expected=np.argsort(dist, kind="stable")[:kk]))
    return cases


def _neighbour_result(raw, case: _Case) -> np.ndarray:
    k, dist = case.data["k"], case.data["dist"]
    if raw is None:
        raise _Bad(f"Expected an array of k={k} indices, got None. Did you forget `return`?")
    try:
        arr = _np(raw)
    except Exception:  # noqa: BLE001
        raise _Bad(f"Expected an array of k={k} indices, got {_kind(raw)}.") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        raise _Bad(f"You returned shape {arr.shape}; expected a 1-D array of shape ({k},): take row [0] "
                   "(or reshape(-1)) — the query is one vector, so there is one list of neighbours.")
    if arr.ndim != 1:
        raise _Bad(f"Expected a 1-D array of shape ({k},), got shape {arr.shape}.")
    if arr.dtype.kind == "f":
        if len(arr) == k and np.allclose(np.sort(arr), np.sort(dist)[:k], atol=1e-4):
            raise _Bad("You returned the distances instead of the indices: np.argsort(distances)[:k] gives "
                       "the positions of the closest rows (np.sort gives the distances themselves).")
        if not np.all(arr == np.round(arr)):
            raise _Bad(f"Expected integer indices (positions in the gallery), got floats: {_fmt(arr)}.")
    elif arr.dtype.kind not in "iu":
        raise _Bad(f"Expected integer indices, got dtype {arr.dtype}.")
    if len(arr) != k:
        if abs(len(arr) - k) == 1:
            raise _Bad(f"You returned {len(arr)} indices; expected exactly k={k}. Slice with [:k] — a Python "
                       "slice excludes its end, so [:k] has k items.")
        raise _Bad(f"Expected exactly k={k} indices, got {len(arr)}.")
    return arr.astype(np.int64)


def check_nearest_neighbours(fn):
    """Check ``nearest_neighbours(query, gallery, k=5)`` → ``(k,)`` int indices, closest first."""
    from course_utils.exercises import nearest_neighbours

    def same_order(got, expected, case):
        return np.array_equal(got, expected)

    mistakes = [
        _Mistake("these are the FARTHEST rows: sort by increasing distance (np.argsort(distances)[:k]); "
                 "if you sort similarities instead, reverse them (np.argsort(-similarities)[:k]).",
                 lambda d: np.argsort(-d["dist"], kind="stable")[:d["k"]]),
        _Mistake("the right k neighbours but not in order: list them closest first. np.argpartition does "
                 "not sort; use np.argsort(distances)[:k].", lambda d: np.argsort(d["dist"])[:d["k"]],
                 same=lambda got, exp, case: set(got.tolist()) == set(exp.tolist())),
    ]
    return _run("nearest_neighbours", fn, _neighbour_cases(_rng()),
                reference=nearest_neighbours, ref_path="course_utils.exercises.nearest_neighbours",
                todo=_NEIGHBOURS_TODO, convert=_neighbour_result, same=same_order, mistakes=mistakes,
                advice="Print the distances for the example and check the order of the indices you return.")



# ==============================================================================================
# 10. threshold_for_far / frr_at (lesson 8)
# ==============================================================================================

_FAR_TODO = """\
FAR(t) = accepted impostor pairs / all impostor pairs, with accepted ⇔ distance <= t. Try the
observed distances as thresholds (sorted) and return the LARGEST one whose FAR <= far
(-inf if none: then nothing can be accepted)."""

_FRR_TODO = """\
FRR = rejected genuine pairs / all genuine pairs, where a pair is rejected when distance > threshold:
np.mean(distances[same] > threshold)."""


def _pair_cases(rng, kind: str) -> list[_Case]:
    plan = [  # (genuine, impostor, step of the distance grid, dtype, special)
        (10, 30, 1 / 1024, np.float64, None),
        (25, 25, 1 / 1024, np.float32, "impostor-first"),
        (50, 150, 1 / 1024, np.float64, None),
        (20, 40, 1 / 32, np.float64, "ties"),
        (5, 20, 1 / 1024, np.float32, None),
        (100, 100, 1 / 16, np.float64, "ties"),
        (30, 10, 1 / 1024, np.float64, None),
        (15, 60, 1 / 1024, np.float32, None),
    ]
    fars = [0.1, 0.0, 0.01, 0.25, 0.05, 0.1, 0.5, 1.0]
    cases = []
    for (n_gen, n_imp, step, dtype, special), far in zip(plan, fars):
        genuine = rng.uniform(0.1, 1.6, size=n_gen)
        impostor = rng.uniform(0.7, 3.2, size=n_imp)
        if special == "impostor-first":
            impostor[0] = genuine.min() / 2
        d = np.round(np.concatenate([genuine, impostor]) / step) * step      # exact in float32
        same = np.concatenate([np.ones(n_gen, bool), np.zeros(n_imp, bool)])
        order = rng.permutation(len(d))
        d, same = d[order], same[order]
        data = {"d": d, "same": same, "far": far}
        if kind == "far":
            cases.append(_Case(args=(d.astype(dtype), same, far), names=("distances", "same", "far"),
                               data=data, size=len(d)))
        else:
            gen_sorted = np.sort(d[same])
            choices = [gen_sorted[len(gen_sorted) // 2], gen_sorted[-1], float(rng.uniform(0.5, 2.0)),
                       gen_sorted[0] - 0.5, gen_sorted[len(gen_sorted) // 3], gen_sorted[0],
                       round(float(rng.uniform(0.8, 1.4)), 2), float(d.max()) + 0.5]
            threshold = float(choices[len(cases)])
            data["threshold"] = threshold
            cases.append(_Case(args=(d.astype(dtype), same, threshold), names=("distances", "same", "threshold"),
                               data=data, size=len(d), tol=1e-9))
    return cases


def _decisions(t: float, data) -> tuple:
    """Canonical form of a threshold: (t, which pairs it accepts, the pair labels)."""
    return float(t), data["d"] <= t, data["same"]


def _show_threshold(value) -> str:
    t, accept, same = value
    fp, n_imp = int(np.sum(accept & ~same)), int(np.sum(~same))
    return (f"{t:.6g}  (accepts {int(np.sum(accept & same))} of {int(same.sum())} genuine and "
            f"{fp} of {n_imp} impostor pairs: FAR = {fp}/{n_imp} = {fp / max(n_imp, 1):.3g})")


def _largest(candidates, ok) -> float:
    good = [t for t in candidates if ok(t)]
    return max(good) if good else -math.inf


def _far_mistakes():
    def parts(data):
        d, same, far = data["d"], data["same"], data["far"]
        return d, same, far, np.concatenate([[-math.inf], np.unique(d)])

    def over_all(data):
        d, same, far, cand = parts(data)
        return _decisions(_largest(cand, lambda t: np.sum((d <= t) & ~same) / len(d) <= far), data)

    def frr_instead(data):
        d, same, far, cand = parts(data)
        tar_t = _largest(cand, lambda t: np.mean(d[same] <= t) <= far)
        frr_ok = [t for t in cand if np.mean(d[same] > t) <= far]
        return _AnyOf((_decisions(tar_t, data), _decisions(min(frr_ok) if frr_ok else math.inf, data)))

    def strict(data):
        d, same, far, cand = parts(data)
        return _decisions(_largest(np.concatenate([cand, [math.inf]]),
                                   lambda t: np.mean(d[~same] < t) <= far), data)

    def smallest(data):
        d, same, far, cand = parts(data)
        good = [t for t in cand[1:] if np.mean(d[~same] <= t) <= far]
        return _decisions(min(good) if good else -math.inf, data)

    def rate(data):
        from course_utils.metrics import confusion_at, threshold_for_far
        d, same, far, _ = parts(data)
        c = confusion_at(d, same, threshold_for_far(d, same, far))
        return _AnyOf(tuple(_decisions(v, data) for v in (c["far"], c["tar"], c["frr"]) if not math.isnan(v)))

    def same_rate(got, expected, case):      # the value itself is one of the rates
        return math.isclose(got[0], expected[0], rel_tol=1e-9, abs_tol=1e-12)

    return [
        _Mistake("the FAR was divided by ALL pairs: FAR = accepted impostor pairs / number of IMPOSTOR "
                 "pairs (same == False), not / all pairs.", over_all),
        _Mistake("FAR and FRR/TAR are mixed up: the false ACCEPT rate is about impostor pairs "
                 "(same == False) that get accepted (distance <= t); genuine pairs do not enter it.",
                 frr_instead),
        _Mistake("`<` instead of `<=`: a pair is accepted when distance <= threshold, so count the impostors "
                 "with distance <= t (your threshold accepts one impostor distance too many).", strict),
        _Mistake("this is the SMALLEST threshold with FAR <= far; the exercise asks for the LARGEST one "
                 "(accept as many genuine pairs as the FAR budget allows).", smallest),
        _Mistake("you returned a rate (FAR/TAR/FRR) instead of the threshold: return the distance t itself.",
                 rate, same=same_rate),
    ]


def _threshold_result(raw, case: _Case) -> tuple:
    return _decisions(_float_scalar(raw, "threshold", allow_inf=True), case.data)


def check_threshold_for_far(fn):
    """Check ``threshold_for_far(distances, same, far)``: compared by its decisions (``d <= t``)."""
    from course_utils.metrics import threshold_for_far

    cases = _pair_cases(_rng(), "far")
    for case in cases:
        case.expected = _decisions(threshold_for_far(case.data["d"], case.data["same"], case.data["far"]), case.data)
    return _run("threshold_for_far", fn, cases,
                reference=threshold_for_far, ref_path="course_utils.metrics.threshold_for_far", todo=_FAR_TODO,
                convert=_threshold_result, same=lambda got, exp, case: np.array_equal(got[1], exp[1]),
                mistakes=_far_mistakes(), show=_show_threshold,
                advice="Any threshold that accepts exactly the same pairs is fine. Count, for your threshold, "
                       "the impostor pairs with distance <= t and divide by the number of impostor pairs.")


def check_frr_at(fn):
    """Check ``frr_at(distances, same, threshold)`` → float."""
    from course_utils.exercises import frr_at

    cases = _pair_cases(_rng(), "frr")
    for case in cases:
        d, same, t = case.data["d"], case.data["same"], case.data["threshold"]
        case.expected = float(np.mean(d[same] > t))

    def pick(fn):
        return lambda data: fn(data["d"], data["same"], data["threshold"])

    mistakes = [
        _Mistake("this is the FAR (impostor pairs accepted); the FRR counts GENUINE pairs (same == True) "
                 "that are rejected (distance > threshold).", pick(lambda d, s, t: float(np.mean(d[~s] <= t)))),
        _Mistake("`<` instead of `<=`: a pair at exactly the threshold is accepted, so it is rejected only "
                 "when distance > threshold.", pick(lambda d, s, t: float(np.mean(d[s] >= t)))),
        _Mistake("you divided by ALL pairs: FRR = rejected genuine pairs / number of GENUINE pairs.",
                 pick(lambda d, s, t: float(np.sum((d > t) & s) / len(d)))),
        _Mistake("this is the TAR (1 − FRR): the FRR counts the genuine pairs that are REJECTED "
                 "(distance > threshold).", pick(lambda d, s, t: float(np.mean(d[s] <= t)))),
        _Mistake("you returned a count; return a rate between 0 and 1 (divide by the number of genuine pairs).",
                 pick(lambda d, s, t: float(np.sum((d > t) & s)))),
    ]
    return _run("frr_at", fn, cases,
                reference=frr_at, ref_path="course_utils.exercises.frr_at", todo=_FRR_TODO,
                convert=lambda raw, case: _float_scalar(raw, "FRR"),
                same=lambda got, exp, case: math.isclose(got, exp, abs_tol=1e-9), mistakes=mistakes,
                advice="FRR = (genuine pairs with distance > threshold) / (number of genuine pairs).")


# ==============================================================================================
# 11. who_is_it (lesson 9)
# ==============================================================================================

_WHO_TODO = """\
Squared distances from the embedding to every database row; a person's distance is the MIN over
their rows; sort the people by that distance and keep the first k as (name, distance) pairs.
The answer is the first name, or "unknown" if its distance > threshold."""


def _who_cases(rng) -> list[_Case]:
    from course_utils.exercises import who_is_it
    plan = [  # (people, D, k or None, dtype, names as np.array?, tensor?, known?)
        (4, 16, None, np.float32, False, False, True),
        (3, 8, 1, np.float64, True, False, False),
        (6, 32, 5, np.float32, False, True, True),
        (4, 16, 5, np.float64, False, False, True),
        (5, 8, 2, np.float32, True, False, False),
        (6, 16, None, np.float64, False, True, False),
        (3, 32, 3, np.float32, False, False, True),
        (5, 16, 4, np.float64, False, False, True),
    ]
    cases = []
    for people, dim, k, dtype, as_array, tensor, known in plan:
        gap = 0.0
        while gap < 1e-3:
            names = [str(n) for n in rng.choice(_NAMES, size=people, replace=False)]
            counts = rng.integers(1, 5, size=people)
            counts[0] = max(counts[0], 3)
            centres = _unit_rows(rng.normal(size=(people, dim)))
            owner = rng.permutation(np.repeat(np.arange(people), counts))
            db = _unit_rows(centres[owner] + 0.35 * rng.normal(size=(len(owner), dim))).astype(dtype)
            if known:
                query = _unit_rows(centres[0] + 0.25 * rng.normal(size=dim)).astype(dtype)
            else:
                query = _unit_rows(rng.normal(size=dim)).astype(dtype)
            rows = np.sum((db.astype(np.float64) - query.astype(np.float64)) ** 2, axis=1)
            per_person = np.array([rows[owner == p].min() for p in range(people)])
            means = np.array([rows[owner == p].mean() for p in range(people)])
            gap = min(np.min(np.diff(np.sort(per_person))), np.min(np.diff(np.sort(means))))
        best = float(per_person.min())
        second = float(np.sort(per_person)[1])
        threshold = (round(best + float(rng.uniform(0.2, 0.8)) * (second - best), 4) if known
                     else round(best * float(rng.uniform(0.5, 0.9)), 4))
        db_names = [names[p] for p in owner]
        names_arg = np.array(db_names) if as_array else db_names
        args = (_tensor_or_array(query, tensor), _tensor_or_array(db, tensor), names_arg, threshold)
        if k is not None:
            args += (k,)
        name, top_k = who_is_it(query.astype(np.float64), db.astype(np.float64), db_names, threshold,
                                3 if k is None else k)
        data = {"rows": rows, "row_names": db_names, "threshold": threshold, "k": 3 if k is None else k}
        cases.append(_Case(args=args, names=("embedding", "db_embeddings", "db_names", "threshold", "k"),
                           data=data, expected=(str(name), tuple((str(n), float(x)) for n, x in top_k)),
                           size=db.size, tol=1e-4 if dtype == np.float32 else 1e-8))
    return cases


def _who_result(raw, case: _Case) -> tuple:
    name, top_k = _pair(raw, "(name, top_k)")
    if name is None:
        raise _Bad('For a face that matches nobody, return the string "unknown" as the name, not None.')
    if not isinstance(name, (str, np.str_)):
        raise _Bad(f"Expected a name (a string) first, got {_kind(name)} {_fmt(name)}.")
    if isinstance(top_k, dict):
        raise _Bad("top_k should be a list of (name, distance) pairs, closest first — not a dict "
                   "(a dict has no reliable order to read the ranking from): sorted(d.items(), key=...)[:k].")
    if _is_tensor(top_k) or isinstance(top_k, np.ndarray):
        top_k = [tuple(row) for row in _np(top_k).tolist()] if _np(top_k).ndim == 2 else _np(top_k).tolist()
    if not isinstance(top_k, (list, tuple)):
        raise _Bad(f"top_k should be a list of (name, distance) pairs, got {_kind(top_k)}.")
    pairs = []
    for item in top_k:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise _Bad(f"Each entry of top_k should be a (name, distance) pair, got {_fmt(item)}.")
        if not isinstance(item[0], (str, np.str_)):
            raise _Bad(f"Each entry of top_k should be (name, distance) with the name first, got {_fmt(tuple(item))}.")
        pairs.append((str(item[0]), _float_scalar(item[1], "distance in top_k")))
    return str(name), tuple(pairs)


def _same_who(got, expected, case) -> bool:
    if got[0] != expected[0] or len(got[1]) != len(expected[1]):
        return False
    return all(a[0] == b[0] and math.isclose(a[1], b[1], rel_tol=1e-5, abs_tol=case.tol)
               for a, b in zip(got[1], expected[1]))


def check_who_is_it(fn):
    """Check ``who_is_it(embedding, db_embeddings, db_names, threshold, k=3)`` → ``(name, top_k)``."""
    from course_utils.exercises import who_is_it

    def people(data, reduce=min):
        per = {}
        for name, x in zip(data["row_names"], data["rows"]):
            per.setdefault(name, []).append(float(x))
        return {name: float(reduce(xs)) if reduce is min else float(np.mean(xs)) for name, xs in per.items()}

    def answer(top_k, threshold, inverted=False):
        name, x = top_k[0]
        accept = x <= threshold
        return (name if accept != inverted else "unknown"), tuple(top_k)

    def ranked(data, reduce=min, reverse=False):
        return sorted(people(data, reduce).items(), key=lambda item: item[1], reverse=reverse)[:data["k"]]

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
        return _AnyOf((answer(top, data["threshold"]), (closest, tuple(top))))

    def mean(data):
        return answer(ranked(data, reduce=np.mean), data["threshold"])

    mistakes = [
        _Mistake('the answer is never "unknown": if the closest person\'s distance > threshold, the '
                 'name must be "unknown" (top_k is still listed).', never_unknown),
        _Mistake('the threshold test is inverted: the name when distance <= threshold, "unknown" when '
                 'distance > threshold.', inverted),
        _Mistake("the same person appears several times in top_k: rank PEOPLE, not rows — first take each "
                 "person's distance (the min over their rows), then sort the people.", duplicates),
        _Mistake("top_k is sorted farthest first: sort by increasing distance (closest first).", descending),
        _Mistake("a person's distance is the MIN over their rows (their closest photo), not the mean.", mean),
    ]
    return _run("who_is_it", fn, _who_cases(_rng()),
                reference=who_is_it, ref_path="course_utils.exercises.who_is_it", todo=_WHO_TODO,
                convert=_who_result, same=_same_who, mistakes=mistakes,
                advice="Print each person's distance (min over their rows) for the example, sorted.")



# ==============================================================================================
# 12. the experiment record (lesson 6)
# ==============================================================================================

_EXPERIMENT_KEYS = ("change", "prediction", "val_auc_before", "val_auc_after")
_PLACEHOLDERS = {"", "...", "…", "todo", "tbd", "your answer here", "?"}


def _not_done_value(name: str, todo: str, fallback_text: str, fallback=None):
    """Like ``_not_done`` for a value (not a function) the student has to fill in."""
    if grading_mode():
        raise AssertionError(f"{name} is not implemented yet")
    lines = [f"⏳ {name} is not done yet."]
    lines += ["   " + line for line in textwrap.dedent(todo).strip().splitlines()]
    lines.append(fallback_text)
    print("\n".join(lines))
    return fallback


def _val_auc_list(history, which: str) -> list[float]:
    values = getattr(history, "history", history)
    if not isinstance(values, dict):
        raise AssertionError(f"{which} should be a training history (a dict of lists, e.g. result.history); "
                             f"got {_kind(history)}.")
    if "val_auc" not in values or not len(values["val_auc"]):
        raise AssertionError(f"{which} has no 'val_auc' values (keys: {sorted(values)}). Pass result.history of "
                             "a run trained with validation pairs (course_utils.training.train_encoder).")
    return [float(v) for v in values["val_auc"]]


def _auc_matches(value: float, aucs: list[float]) -> bool:
    return any(math.isclose(value, ref, abs_tol=1e-6) for ref in (aucs[-1], max(aucs)))


def check_experiment(experiment, history_before, history_after):
    """Check the lesson-6 experiment record and print a short reflection on it."""
    todo = """\
Fill in the dict: {"change": what you changed, "prediction": what you expected to happen,
"val_auc_before": last (or best) val_auc of the first run, "val_auc_after": the same for the second}."""
    if experiment is None:
        return _not_done_value("experiment", todo, "The lesson continues; come back to it once both runs are trained.")
    if not isinstance(experiment, dict):
        raise AssertionError(f"experiment should be a dict with the keys {list(_EXPERIMENT_KEYS)}; got {_kind(experiment)}.")
    missing = [k for k in _EXPERIMENT_KEYS if k not in experiment]
    if missing:
        raise AssertionError(f"experiment is missing the key(s) {missing}; it needs {list(_EXPERIMENT_KEYS)}.")
    for key in ("change", "prediction"):
        text = experiment[key]
        if not isinstance(text, str):
            raise AssertionError(f'experiment["{key}"] should be a sentence (a string); got {_kind(text)} {_fmt(text)}.')
        if text.strip().lower() in _PLACEHOLDERS:
            raise AssertionError(f'experiment["{key}"] is empty: write a sentence '
                                 + ("saying what you changed." if key == "change"
                                    else "saying what you expected to happen, and why."))
    aucs = {"before": _val_auc_list(history_before, "history_before"),
            "after": _val_auc_list(history_after, "history_after")}
    values = {}
    for side in ("before", "after"):
        key = f"val_auc_{side}"
        raw = experiment[key]
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer, np.floating)):
            raise AssertionError(f'experiment["{key}"] should be a number (an AUC); got {_kind(raw)} {_fmt(raw)}.')
        value = float(raw)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            hint = " (an AUC is between 0 and 1 — did you give a percentage?)" if 1 < value <= 100 else ""
            raise AssertionError(f'experiment["{key}"] = {value} is not an AUC between 0 and 1{hint}.')
        values[side] = value
    if (not _auc_matches(values["before"], aucs["before"]) and not _auc_matches(values["after"], aucs["after"])
            and _auc_matches(values["before"], aucs["after"]) and _auc_matches(values["after"], aucs["before"])):
        raise AssertionError("val_auc_before and val_auc_after are swapped: 'before' comes from history_before "
                             "(the first run), 'after' from history_after (the run with your change).")
    for side in ("before", "after"):
        if not _auc_matches(values[side], aucs[side]):
            raise AssertionError(
                f"val_auc_{side} = {values[side]:.6g} does not match history_{side}['val_auc']: its last value is "
                f"{aucs[side][-1]:.6g} and its best is {max(aucs[side]):.6g}. Copy the number from the history, "
                f"e.g. history_{side}['val_auc'][-1], rather than typing it.")
    delta = values["after"] - values["before"]
    if abs(delta) < 0.005:
        verdict = "about the same (a change smaller than 0.005 is within run-to-run noise)"
    elif delta > 0:
        verdict = "it improved"
    else:
        verdict = "it got worse"
    print("✓ experiment: recorded.\n"
          f"  Change:         {experiment['change'].strip()}\n"
          f"  Prediction:     {experiment['prediction'].strip()}\n"
          f"  Validation AUC: {values['before']:.4f} → {values['after']:.4f} ({delta:+.4f}): {verdict}.\n"
          "  Does this match your prediction? One run is one sample: a second run with another seed "
          "tells you how much of the difference is noise.")
    return experiment


# ==============================================================================================
# 13. the clustering threshold (lesson 9)
# ==============================================================================================

def _clustering_f1(embeddings, true_labels, threshold) -> tuple[float, dict]:
    from course_utils.clustering import cluster_embeddings
    from course_utils.metrics import clustering_report
    report = clustering_report(true_labels, cluster_embeddings(embeddings, threshold))
    return report["f1"], report


def check_cluster_threshold(cluster_threshold, verification_threshold, embeddings, true_labels):
    """Check a clustering threshold (squared distance) against an F1 sweep and the verification threshold."""
    from course_utils.clustering import cluster_embeddings
    from course_utils.metrics import pairwise_precision_recall_f1

    todo = """\
Pick a SQUARED distance (like the verification threshold, 0…4 for unit embeddings): faces closer than
it are grouped together. Start from the verification threshold and look at the clusters."""
    if cluster_threshold is None:
        return _not_done_value("cluster_threshold", todo,
                               f"For now the lesson continues with the verification threshold ({float(verification_threshold):.4g}).",
                               fallback=float(verification_threshold))
    if isinstance(cluster_threshold, (bool, np.bool_)) or not _is_number(cluster_threshold):
        raise AssertionError(f"cluster_threshold should be a number (a squared distance); got {_kind(cluster_threshold)} "
                             f"{_fmt(cluster_threshold)}.")
    ct, vt = float(_np(cluster_threshold)), float(verification_threshold)
    x = np.asarray(_np(embeddings), dtype=np.float64)
    from course_utils.metrics import squared_distance_matrix
    labels = np.asarray(_np(true_labels)).reshape(-1)
    similarity = 1.0 - vt / 2.0                       # cosine similarity of unit vectors at distance vt
    if not (math.isfinite(ct) and 0.0 < ct <= 4.0):
        hint = ""
        if ct <= 0 or math.isclose(ct, similarity, abs_tol=0.05):
            hint = (" A negative value or one near the cosine similarity suggests a SIMILARITY; thresholds here are "
                    "squared distances: d = 2 − 2·similarity.")
        raise AssertionError(f"cluster_threshold = {ct:.4g} must be a squared distance in (0, 4] (unit embeddings are "
                             f"at most 4 apart).{hint}")
    d_all = squared_distance_matrix(x)[np.triu_indices(len(x), 1)] if len(x) > 1 else np.array([1.0])
    quantiles = np.quantile(d_all, np.linspace(0.02, 0.98, 12)) if len(d_all) else []
    sweep = np.unique(np.concatenate([np.geomspace(0.02, 4.0, 28), [q for q in quantiles if q > 0],
                                      [vt] if 0 < vt <= 4 else []]))
    f1s = [pairwise_precision_recall_f1(labels, cluster_embeddings(x, t))[2] for t in sweep]
    best = int(np.argmax(f1s))
    best_f1, best_t = float(f1s[best]), float(sweep[best])
    f1, report = _clustering_f1(x, labels, ct)
    plural = "" if report["n_clusters"] == 1 else "s"
    numbers = (f"At {ct:.4g}: {report['n_clusters']} cluster{plural} for {report['n_true']} people, pairwise F1 = {f1:.3f} "
               f"(best on a sweep: F1 = {best_f1:.3f} at {best_t:.3g}; verification threshold {vt:.4g}).")
    f1_at_vt = _clustering_f1(x, labels, vt)[0] if 0 < vt <= 4 else 0.0
    # As good as the best of the sweep (within 20 %), or at least as good as simply reusing the
    # verification threshold (a weak encoder can make every threshold mediocre).
    good_f1 = f1 >= 0.8 * best_f1 or f1 >= f1_at_vt - 1e-12
    near_verification = vt / 3.0 <= ct <= 3.0 * vt
    if good_f1 and near_verification:
        print(f"✓ cluster_threshold: {numbers}")
        return cluster_threshold
    sizes = np.bincount(cluster_embeddings(x, ct))
    if vt > 0 and math.isclose(ct, math.sqrt(vt), rel_tol=0.05) and not math.isclose(vt, 1.0, rel_tol=0.1):
        why = (f"{ct:.4g} ≈ √{vt:.4g}: that is a plain Euclidean distance, but the course's thresholds are SQUARED "
               f"distances — use the same units as the verification threshold (square your value: {ct * ct:.4g}).")
    elif math.isclose(ct, similarity, abs_tol=0.05) and not math.isclose(ct, vt, rel_tol=0.2):
        why = (f"{ct:.4g} ≈ 1 − {vt:.4g}/2, the cosine SIMILARITY at the verification threshold: clustering uses "
               "squared distances (d = 2 − 2·similarity).")
    elif not good_f1 and ct > best_t and report["n_clusters"] < report["n_true"]:
        why = ("the threshold is too large: different people merge into big clusters "
               f"(the biggest holds {int(sizes.max())} of {len(labels)} faces). Lower it.")
    elif not good_f1 and ct < best_t and report["n_clusters"] > report["n_true"]:
        why = ("the threshold is too small: faces of the same person stay apart "
               f"({int(np.sum(sizes == 1))} single-face clusters). Raise it.")
    elif not near_verification:
        side = "more than 3 times" if ct > 3.0 * vt else "less than a third of"
        why = (f"it is {side} the verification threshold. Both are squared distances for the same question "
               "(\"same person?\"), so they should be of similar size; start from the verification threshold.")
    else:
        why = "the F1 is below 80 % of the best one: move the threshold towards the best value of the sweep."
    raise AssertionError(f"cluster_threshold is not right yet: {why}\n{numbers}")

