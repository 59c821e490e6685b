"""The machinery every exercise check shares: cases, mistakes, judging, messages.

An :class:`Exercise` describes one graded exercise: how to draw its randomized cases (pure data,
see :mod:`course_utils.exercises.protocol`), its hints, the course function the lesson falls back
to and those an answer must not use (:class:`~.course_function.CourseFunction`). A
:class:`FunctionExercise` then says how to turn what the answer returned into a canonical value
(``convert``), how to compare it with the reference (``same``), its catalogue of known mistakes
(:class:`Mistake`: a hint and the wrong result it would give), and the extra requirements once the
values are right (gradients flow, no Python loops, …); a :class:`JudgedExercise` (a split, a
model, a recipe) brings a judge of its own instead.

``Exercise.judge(cases, outputs)`` decides from data alone (it runs in the grader's process);
:func:`check` is the student's path inside the notebook:

* **Correct** → one line such as ``✓ triplet_loss: correct on 12 randomized tests.``; the
  student's function is returned.
* **Not done yet** (``NotImplementedError``, as the generated stub raises) → a friendly message,
  and the *reference* function is returned so the lesson keeps running. In grading mode
  (``COURSE_GRADING=1`` or ``NBGRADER_EXECUTION`` set) ``AssertionError("<name> is not
  implemented yet")`` instead.
* **Wrong** → ``AssertionError``: the likely mistake when the results agree with a catalogued
  wrong variant on every test, otherwise the smallest failing example (inputs, expected, got).
* **Wrong kind of result** (``None``, a float where a tensor is needed, a wrong shape, NaN, an
  exception) → ``AssertionError`` saying what was expected and what came back.

A student's check draws its randomized inputs from a seed fixed per exercise (``seed=`` changes
it), so the same answer gets the same verdict on every run and a failure names the seed that
repeats it; the grader draws a fresh seed per submission, so a hard-coded answer cannot pass. Conventions: embeddings
``(N, D)``, unit length; distance = **squared** Euclidean; "same person" ⇔ ``distance <= threshold``.
"""
from __future__ import annotations

import math
import os
import tempfile
import textwrap
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from course_utils.config import env_flag
from course_utils.exercises.course_function import CourseFunction
from course_utils.exercises.protocol import AsTensor, Verdict, course_implementation, run_in_process
# The checks read the judge's view of values through the harness (``h.revive``, ``h.fmt``, …).
from course_utils.exercises.values import (OtherValue, TensorValue, as_array, fmt, is_tensor, kind,  # noqa: F401
                                           revive)

NAMES = (  # people of the small random worlds of lessons 1 and 9
    "Ada", "Alan", "Barbara", "Claude", "Edsger", "Grace", "Katherine", "Linus", "Margaret",
    "Niklaus", "Radia", "Tim")


def grading_mode() -> bool:
    """True while an autograder runs the notebook (``COURSE_GRADING=1`` or nbgrader's variable)."""
    return env_flag("COURSE_GRADING") or "NBGRADER_EXECUTION" in os.environ


class Bad(Exception):
    """The student's result has the wrong kind/shape; the message says expected vs got."""


class AnyOf(tuple):
    """A variant with several acceptable forms: the student matches it if any form matches."""


@dataclass
class Case:
    """One randomized test: the arguments (pure data) and what the judge needs to decide."""

    args: tuple                      # positional arguments (NumPy, numbers, AsTensor, FakeEncoder…)
    kwargs: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)   # float64 NumPy copies etc. for the variants
    expected: Any = None             # canonical expected result
    names: tuple = ()                # argument names, for messages
    size: int = 0                    # used to pick the smallest failing example
    tol: float = 1e-5                # absolute tolerance for float comparisons
    diagnose: bool = True            # use this case when matching known mistakes
    probe_inputs: dict = field(default_factory=dict)   # data the probe needs besides the arguments


@dataclass
class Mistake:
    """A known wrong answer: the hint shown to the student and the result it would give."""

    hint: str
    variant: Callable                # case.data -> canonical result (or AnyOf of them)
    same: Callable | None = None     # comparison to use instead of the exercise's own


def show_inputs(case: Case) -> str:
    names = list(case.names) + [f"arg{i}" for i in range(len(case.names), len(case.args))]
    pairs = list(zip(names, case.args)) + list(case.kwargs.items())
    width = max((len(name) for name, _ in pairs), default=0)
    return "\n".join(f"  {name:<{width}} = {fmt(value)}" for name, value in pairs)


# ---------------------------------------------------------------------------------------------
# Converters and comparisons shared by several exercises
# ---------------------------------------------------------------------------------------------

def close(got, expected, case: Case, rtol: float = 1e-4) -> bool:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=case.tol))


def finite_or_bad(arr: np.ndarray, what: str = "result") -> None:
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        n_nan = int(np.sum(np.isnan(arr)))
        raise Bad(f"Expected finite numbers, got {'NaN' if n_nan else 'inf'} in the {what} "
                  f"({fmt(arr)}). NaN usually comes from a sqrt of a (tiny) negative number or a 0/0.")


def scalar_tensor(raw, batch: int | None = None, name: str = "loss", allow_tuple: bool = False) -> float:
    """A loss must be a 0-d tensor (so gradients flow); returns its value as a float.

    ``allow_tuple``: a ``(loss, ...)`` tuple is accepted and its first element checked.
    """
    if allow_tuple and isinstance(raw, (tuple, list)) and len(raw) >= 1:
        raw = raw[0]
    if raw is None:
        raise Bad("Expected a scalar tensor, got None. Did you forget `return`?")
    if isinstance(raw, (bool, np.bool_)):
        raise Bad(f"Expected a scalar float tensor, got the boolean {raw!r}.")
    if isinstance(raw, (int, float)):
        raise Bad(f"Return a tensor (keras.ops/tf result), not a Python {type(raw).__name__}: gradients "
                  f"cannot flow through a float. Got {fmt(raw)}; drop the float(...) / .numpy() at the end.")
    if isinstance(raw, np.number):
        raise Bad(f"Return a tensor, not a NumPy {type(raw).__name__} ({fmt(raw)}): your result is a NumPy "
                  "value; use keras.ops (ops.sum, ops.maximum, ops.mean instead of np.*, no .numpy() at the "
                  "end) so gradients flow.")
    if isinstance(raw, np.ndarray):
        raise Bad(f"Return a tensor (keras.ops/tf result), not a NumPy array: gradients cannot flow "
                  f"through NumPy. Got {fmt(raw)}; use keras.ops (ops.sum, ops.maximum, ops.mean) "
                  "instead of np.*.")
    if not is_tensor(raw):
        raise Bad(f"Expected a scalar tensor, got {kind(raw)}: {fmt(raw)}.")
    arr = as_array(raw)
    if arr.shape != ():
        if batch is not None and arr.shape == (batch,):
            raise Bad(f"You returned shape {arr.shape} (one {name} per example): take the mean over "
                      "the batch (ops.mean) to get a single number.")
        raise Bad(f"Expected a scalar (shape ()), got shape {arr.shape}: {fmt(raw)}.")
    if arr.dtype.kind != "f":
        raise Bad(f"Expected a float tensor, got dtype {arr.dtype}.")
    finite_or_bad(arr, name)
    return float(arr)


def float_scalar(raw, what: str = "result", allow_inf: bool = False) -> float:
    """A plain number (Python/NumPy float, 0-d array or tensor) → float (±inf only if allowed)."""
    if raw is None:
        raise Bad(f"Expected a number for the {what}, got None. Did you forget `return`?")
    if isinstance(raw, (bool, np.bool_)):
        raise Bad(f"Expected a number for the {what}, got the boolean {raw!r}.")
    if isinstance(raw, str):
        raise Bad(f"Expected a number for the {what}, got the string {raw!r}.")
    try:
        arr = as_array(raw)
    except Exception:  # noqa: BLE001
        raise Bad(f"Expected a number for the {what}, got {kind(raw)}.") from None
    if arr.dtype.kind not in "iuf":
        raise Bad(f"Expected a number for the {what}, got {kind(raw)} of dtype {arr.dtype}: {fmt(raw)}.")
    if arr.shape != ():
        raise Bad(f"Expected a single number for the {what}, got an array of shape {arr.shape}: "
                  f"{fmt(raw)}. Take the element you mean (e.g. [0]) or float(...).")
    value = float(arr)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise Bad(f"Expected a finite number for the {what}, got {value}.")
    return value


def pair(raw, what: str) -> tuple:
    """A 2-tuple/list → its two items; ``Bad`` saying what came back otherwise."""
    if raw is None:
        raise Bad(f"Expected a pair {what}, got None. Did you forget `return`?")
    if not isinstance(raw, (tuple, list)) or len(raw) != 2:
        got = f"{kind(raw)} of length {len(raw)}" if isinstance(raw, (tuple, list)) else f"{kind(raw)} {fmt(raw)}"
        raise Bad(f"Expected a pair {what} (return a, b), got {got}.")
    return raw[0], raw[1]


def tensor_or_array(x: np.ndarray, as_tensor: bool):
    """Case data: ``AsTensor(x)`` (the kernel passes a ``tf.Tensor``) or the NumPy array itself."""
    return AsTensor(x) if as_tensor else x


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def gradient_requirement(what: str, label: str):
    """A requirement: the probe found that a gradient flows back to argument ``label``."""
    def requirement(cases, results, outputs):
        if outputs.get("gradient") is False:
            return (f"no gradient flows from the {what} back to `{label}`. Somewhere the computation left "
                    "TensorFlow (a .numpy(), float(...), np.* call, or tf.constant of a computed value). "
                    "Use keras.ops (or tf) operations all the way.")
        return None
    return requirement


# ---------------------------------------------------------------------------------------------
# Exercises: two kinds, by how they are judged
# ---------------------------------------------------------------------------------------------

@dataclass
class Exercise:
    """One graded exercise (see :mod:`course_utils.exercises.protocol` for the protocol): what the
    probe calls in the kernel and what it passes. The two kinds say how the outputs are judged:
    :class:`FunctionExercise` (each result compared with the reference, mistakes named) and
    :class:`JudgedExercise` (a judge of its own)."""

    grade_id: str                    # the nbgrader id of the notebook's CHECK cell
    lesson: str                      # "04"
    name: str                        # the exercise function's name
    answer_names: tuple              # names the check reads from the notebook's namespace
    make_cases: Callable | None = None        # rng -> list[Case]
    hints: tuple = ()                # (what to compute + shapes, the key operation named): never code
    reference: CourseFunction | None = None   # what the lesson falls back to while not done
    forbidden: tuple = ()            # CourseFunction: the course's own implementations (hidden while graded)
    probes: dict = field(default_factory=dict)   # extra observations the judge needs

    def cases(self, seed: int) -> list[Case]:
        """The randomized tests, deterministic given ``seed``."""
        if self.make_cases is None:
            return []
        return self.make_cases(np.random.default_rng(seed))

    def judge(self, cases: list[Case], outputs: dict) -> Verdict:
        """The verdict from data alone (cases drawn here, outputs written by the probe)."""
        early = _early_verdict(self, outputs)
        return early if early is not None else self.judge_outputs(cases, outputs)

    def judge_outputs(self, cases: list[Case], outputs: dict) -> Verdict:
        """The verdict once the answer was found, callable, and not the course's own code."""
        raise NotImplementedError


@dataclass
class FunctionExercise(Exercise):
    """An exercise whose every result is converted, compared with the expected value, and, when
    wrong, matched against the catalogue of known mistakes (:func:`judge_results`)."""

    convert: Callable | None = None           # (revived result, case) -> canonical value; raises Bad
    same: Callable | None = None              # (got, expected, case) -> bool
    mistakes: Callable = lambda: []           # () -> list[Mistake]
    requirements: tuple = ()                  # (cases, results, outputs) -> problem text | None
    advice: str = ""
    show: Callable = fmt
    raised_mistakes: tuple = ()      # (text in the exception, hint): the likely mistake behind a raise

    def judge_outputs(self, cases: list[Case], outputs: dict) -> Verdict:
        return judge_results(self, cases, outputs)


@dataclass
class JudgedExercise(Exercise):
    """An exercise with a judge of its own (a split, a model, a recipe, a record of runs): the
    answer is still a function the probe calls on each case."""

    judge_with: Callable | None = None        # (exercise, cases, outputs) -> Verdict

    def judge_outputs(self, cases: list[Case], outputs: dict) -> Verdict:
        return self.judge_with(self, cases, outputs)


HIDDEN_MARK = "is not available while grading"    # what the grader's hidden course functions raise


def _hidden_call(outputs, depth: int = 0) -> str | None:
    """The message of the first exception in ``outputs`` raised by a course function the grader
    hid from the kernel (see ``coursekit.hidden``), else None."""
    if depth > 6:
        return None
    if isinstance(outputs, dict):
        raised = outputs.get("raised")
        if isinstance(raised, dict) and HIDDEN_MARK in str(raised.get("summary", "")):
            return str(raised["summary"])
        items = outputs.values()
    elif isinstance(outputs, (list, tuple)):
        items = outputs
    else:
        return None
    for item in items:
        found = _hidden_call(item, depth + 1)
        if found:
            return found
    return None


def _early_verdict(ex: Exercise, outputs: dict) -> Verdict | None:
    hidden = _hidden_call({k: v for k, v in outputs.items() if k in ("records", "models", "tf_function")})
    if hidden:
        reached = hidden.split(HIDDEN_MARK)[0].split(":", 1)[-1].strip() or "the course's code"
        return Verdict(False, f"{ex.name} uses the course's own implementation of this exercise ({reached}), "
                              "which the grader does not provide: write the body yourself with keras.ops / NumPy.",
                       "course_implementation")
    if outputs.get("probe_failed"):
        return Verdict(False, f"the grading probe failed: {outputs['probe_failed']['summary']}", "probe_failed")
    if outputs.get("missing"):
        return Verdict(False, f"{', '.join(outputs['missing'])} is not defined in the notebook "
                              "(run the exercise cell, keep its name).", "missing")
    answer = outputs.get("answer") or {}
    if "value" in answer:
        got = revive(answer["value"])
        return Verdict(False, f"check_{ex.name} expects your function {ex.name} itself (no parentheses); "
                              f"got {kind(got)} {fmt(got)}.", "not_callable")
    problem = course_implementation(ex, outputs)
    if problem:
        return Verdict(False, problem, "course_implementation")
    return None


def judge_results(ex: FunctionExercise, cases: list[Case], outputs: dict) -> Verdict:
    """Convert each result, compare with the reference, name the mistake, then the requirements."""
    name, total = ex.name, len(cases)
    results = []
    for i, record in enumerate(outputs.get("records", [])):
        if "raised" in record:
            raised = record["raised"]
            if raised.get("not_implemented"):
                return Verdict(False, f"{name} is not implemented yet", "not_done")
            lines = [f"{name} raised {raised['summary']}", f"Inputs (test {i + 1} of {total}):",
                     show_inputs(cases[i])]
            hint = raised.get("hint") or next(
                (h for pattern, h in ex.raised_mistakes if pattern in lines[0]), None)
            if hint:
                lines.insert(1, f"Likely mistake: {hint}")
            return Verdict(False, "\n".join(lines), "raised")
        try:
            results.append(ex.convert(revive(record["result"]), cases[i]))
        except Bad as bad:
            return Verdict(False, f"{name} returned the wrong kind of result (test {i + 1} of {total}).\n"
                                  f"{bad}\nInputs:\n{show_inputs(cases[i])}", "wrong_kind")
    if len(results) != total:
        return Verdict(False, f"the grading probe returned {len(results)} results for {total} tests.",
                       "probe_failed")

    wrong = [i for i, (got, case) in enumerate(zip(results, cases)) if not ex.same(got, case.expected, case)]
    if wrong:
        hint = find_mistake(ex.mistakes(), ex.same, cases, results)
        i = min(wrong, key=lambda k: (cases[k].size, k))
        lines = [f"{name} gives a wrong result on {len(wrong)} of {total} randomized tests."]
        if hint:
            lines.append(f"Likely mistake: {hint}")
        lines += ["Smallest failing example:", show_inputs(cases[i]),
                  f"  expected: {ex.show(cases[i].expected)}",
                  f"  got:      {ex.show(results[i])}"]
        if not hint and ex.advice:
            lines.append(ex.advice)
        return Verdict(False, "\n".join(lines), "wrong_value")

    for requirement in (inputs_left_unmodified, *ex.requirements):
        problem = requirement(cases, results, outputs)
        if problem:
            return Verdict(False, f"{name} gives the right values, but: {problem}", "requirement")
    return Verdict(True, f"✓ {name}: correct on {total} randomized tests.", "correct")


def inputs_left_unmodified(cases, results, outputs) -> str | None:
    """Every answer leaves its inputs as they were: the caller's arrays are not scratch space."""
    for i, record in enumerate(outputs.get("records", [])):
        for where in record.get("modified", ()):
            position, *key = where
            names = cases[i].names
            label = names[position] if isinstance(position, int) and position < len(names) else str(position)
            label += f"[{key[0]!r}]" if key else ""
            return (f"it changes its input {label} in place (test {i + 1} of {len(cases)}): the caller's "
                    "array is not scratch space. Compute into a new array: x = x - y makes a new one, "
                    "while x -= y (or x[...] = …, x.sort(), np.random.shuffle(x)) writes into the input.")
    return None


def _matches(same, got, variant_out, case) -> bool:
    options = variant_out if isinstance(variant_out, AnyOf) else (variant_out,)
    for option in options:
        try:
            if same(got, option, case):
                return True
        except Exception:  # noqa: BLE001 — a variant that cannot be compared does not match
            continue
    return False


def find_mistake(mistakes, same, cases, results) -> str | None:
    """The hint of the first mistake whose variant equals the results on every diagnosable case."""
    diagnosable = [i for i, case in enumerate(cases) if case.diagnose]
    for mistake in mistakes:
        ok = True
        for i in diagnosable:
            try:
                variant_out = mistake.variant(cases[i].data)
            except Exception:  # noqa: BLE001
                ok = False
                break
            if not _matches(mistake.same or same, results[i], variant_out, cases[i]):
                ok = False
                break
        if ok:
            return mistake.hint
    return None


# ---------------------------------------------------------------------------------------------
# The student's path, inside the notebook
# ---------------------------------------------------------------------------------------------

class CheckFailed(AssertionError):
    """A check's verdict for the student. In Jupyter (and in nbgrader's feedback) it shows as its
    message alone — no traceback into the course's files, no internal paths."""

    def _render_traceback_(self):           # IPython's hook for custom tracebacks
        return [f"\x1b[0;31m✗ {type(self).__name__}\x1b[0m", *str(self).splitlines()]


HINT_LEVELS = 2
_hint_level: dict[str, int] = {}    # exercise name -> the hint level shown last in this kernel


def hint_text(name: str, hints, level: int) -> str:
    """Hint ``level`` (1 = what to compute and the shapes; 2 = the key operation) of exercise ``name``."""
    hints = tuple(h for h in hints if h)
    if not hints:
        return ""
    return textwrap.dedent(hints[min(max(level, 1), len(hints)) - 1]).strip()


def hint_ladder(name: str, hints) -> tuple[str, list[str]]:
    """Climb one rung for exercise ``name`` (once per unimplemented run): the heading's ending
    (" Hint N of M:", "" without hints) and the indented hint lines, then how to get the next rung."""
    level = min(_hint_level.get(name, 0) + 1, max(len(tuple(h for h in hints if h)), 1))
    _hint_level[name] = level
    text = hint_text(name, hints, level)
    if not text:
        return "", []
    lines = ["   " + line for line in text.splitlines()]
    if level < HINT_LEVELS:
        lines.append(f"   (Run the check again, or hint({name!r}, {level + 1}), for a bigger hint.)")
    return f" Hint {level} of {HINT_LEVELS}:", lines


def not_done(name: str, hints, reference, continues: str = "the course's working version"):
    """The ⏳ message with the next hint (never the answer), then ``reference`` so the lesson can
    go on (normal mode); a failed check in grading mode."""
    if grading_mode():
        raise CheckFailed(f"{name} is not implemented yet")
    heading, body = hint_ladder(name, hints)
    lines = [f"⏳ {name} is not implemented yet.{heading}", *body,
             f"For now the lesson continues with {continues}, so the next cells still run."]
    print("\n".join(lines))
    return reference


def exercise_hints(ex: Exercise) -> tuple:
    return tuple(ex.hints)


def new_seed() -> int:
    """A fresh random seed (the grader draws one per submission: a hard-coded answer cannot pass)."""
    return int(np.random.default_rng().integers(2**31))


def default_seed(ex: Exercise) -> int:
    """The seed a student's check uses unless told otherwise: fixed per exercise, so the same
    answer gets the same verdict on every run and a failure can be reproduced."""
    return zlib.crc32(ex.grade_id.encode()) % 2**31


REPRODUCE = "(These tests used seed={seed}: check_{name}({name}, seed={seed}) repeats them; another seed draws new ones.)"


def judge_here(ex: Exercise, fn, seed: int | None = None) -> tuple[int, Verdict]:
    """``(seed, verdict)``: ``fn`` run on the exercise's cases in this process, then judged.

    ``seed``: which randomized cases to draw (default :func:`default_seed`: the same every run)."""
    seed = default_seed(ex) if seed is None else int(seed)
    cases = ex.cases(seed)
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        outputs = run_in_process(ex, {ex.answer_names[0]: fn}, cases, tmp)
        return seed, ex.judge(cases, outputs)


def check(ex: Exercise, fn, seed: int | None = None):
    """Run ``fn`` on the exercise's cases in this process, judge, then print ✓ or raise.

    ``seed``: which randomized cases to draw (default :func:`default_seed`: the same every run)."""
    if not callable(fn):
        raise CheckFailed(f"check_{ex.name} expects your function {ex.name} itself (no parentheses); "
                             f"got {kind(fn)} {fmt(fn)}.")
    seed, verdict = judge_here(ex, fn, seed)
    if verdict.passed:
        print(verdict.message)
        return fn
    if verdict.reason == "not_done":
        return not_done(ex.name, exercise_hints(ex), ex.reference.resolve())
    raise CheckFailed(f"{verdict.message}\n{REPRODUCE.format(seed=seed, name=ex.name)}")
