"""The grading protocol: run a student's answer in the kernel, judge its results elsewhere.

The grader must decide verdicts out of the student's reach. So an exercise is split in three
steps that only exchange **data**, and the code of each step lives where it runs:

1. ``cases = exercise.cases(seed)`` (grader process) — randomized inputs: NumPy arrays, numbers,
   strings, lists/dicts/tuples of these, :class:`AsTensor` (an array the kernel passes as a
   ``tf.Tensor``) and :class:`FakeEncoder` (a stand-in encoder built from an array). Never code.
2. ``probe_source(exercise, cases_path, out_path)`` (grader) → Python source that the grader runs
   in the student's kernel: the whole of :mod:`course_utils.exercises.probe` (stdlib + NumPy; no
   ``course_utils`` import, which the student could have patched), run in a private namespace. It
   reads the cases, fetches the answer(s) by name from the kernel's globals, calls them and writes
   what came back as data (see *Outputs*).
3. ``exercise.judge(cases, outputs) -> Verdict`` (grader process) — recomputes the reference and
   the mistake catalogue from the cases and compares. Patching anything in the kernel changes
   nothing here.

Grader recipe: ``ex = GRADED[grade_id]; cases = ex.cases(seed); write_cases(cases, cases_path);``
run ``probe_source(ex, cases_path, out_path)`` in the kernel (after the student's cells, instead of
the check cell); ``verdict = ex.judge(cases, read_outputs(out_path))``. ``judge`` never raises for
bad student data; it imports TensorFlow/Keras only where the reference needs them.

The in-kernel student path ``check_<name>(fn)`` does the same three steps in one process
(:func:`run_in_process`). Whether an answer leans on the course's own implementation is not
recorded by the probe at all: in a graded kernel those implementations are placeholders
(:mod:`coursekit.hidden`), so such an answer simply produces no right value.

The kit's exercises (``course_utils.exercises.GRADED``, keyed by the check cell's ``grade_id``)
each give ``cases(seed)`` and ``judge(cases, outputs) -> Verdict``; :class:`Verdict` ``reason`` is
one of "correct", "not_done", "missing", "not_callable", "raised", "wrong_kind", "wrong_value",
"requirement", "course_implementation", "probe_failed".

Outputs (what the probe writes to ``out_path``, as ``encode``\\ d data)::

    {"version": 1, "exercise": name,
     "missing": [names not found in the kernel],
     "answer": {"kind", "module", "qualname", "file"} | None,  # about answer_names[0]
     "records": [ {"result": observation, "encoded": images} | {"raised": {"type", "summary",
                   "hint", "not_implemented"}} ...one per case...],  # "encoded": a FakeEncoder
                   # argument's images embedded by the call; "modified": [[position or keyword
                   # (, dict key)] of each input array the call wrote into] when there are any
     "gradient": True | False | None,                   # probes["gradient"]
     "tf_function": [record | None per case] | None,    # probes["tf_function"], see below
     "source": str | None,                              # probes["source"]
     "models": [{"path": file name of the saved .keras beside out_path | "raised": ...,
                 "outputs": record of model(case.probe_inputs["model_inputs"])}]}  # probes["model"]

``probes["tf_function"]``: ``True`` — the answer wrapped in ``tf.function`` (AutoGraph on) and
called on each case, so the shapes are known while tracing; ``"unknown_batch"`` — as Keras runs a
loss in ``fit``: every array argument a tensor whose first (batch) dimension is ``None`` in the
trace (the other dimensions and the dtype the case's), other arguments passed as they are, no
AutoGraph. Only the first case of each form (the same arguments, the same number of dimensions
per array) is traced; a later case gets a record when it matches one of those traces exactly (the
same dtypes, sizes past the batch dimension, other arguments) and ``None`` otherwise. Either way
the records are only written when every case's plain call returned.

An *observation* is ``{"kind": "tf.Tensor" | "np.ndarray" | "NumPy float32" | "Python float" |
"None" | "Python tuple" | ..., "value": data}`` (containers hold ``"items"``).
"""
from __future__ import annotations

import ast
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from course_utils.exercises import probe as _probe
# The kit and the grader use the probe's codec and stand-ins under their usual names.
from course_utils.exercises.probe import (PROTOCOL_VERSION, AsTensor, EncoderNeedsBatch, FakeEncoder,  # noqa: F401
                                          decode, encode, materialize, observe, run_probe,
                                          summarise_exception)


@dataclass(frozen=True)
class Verdict:
    """The judge's decision: ``passed``; ``message`` (what the student reads); ``reason`` (a code)."""

    passed: bool
    message: str
    reason: str


_PARSE_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """``ast.parse(source)``, one thread at a time: CPython 3.11 keeps the AST builder's recursion
    counter per interpreter, so two threads parsing at once can fail with "SystemError: AST
    constructor recursion depth mismatch" (python/cpython#106905) — the grader judges in threads."""
    with _PARSE_LOCK:
        return ast.parse(source)


def probe_module_source() -> str:
    """The text of :mod:`course_utils.exercises.probe`, read from this package's own file (what the
    grader runs in the kernel, whole)."""
    return Path(_probe.__file__).read_text(encoding="utf-8")


def _case_data(cases) -> list:
    return [{"args": list(c.args), "kwargs": dict(c.kwargs),
             "probe_inputs": dict(getattr(c, "probe_inputs", {}) or {})} for c in cases]


def write_cases(cases, path) -> None:
    """Write what the kernel needs of ``cases`` (arguments only, never the expected results)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode(_case_data(cases)))


def read_outputs(path) -> dict:
    """The probe's outputs, plus ``"out_dir"`` (the folder of ``path``: where saved models lie) and
    ``"graded": True`` (the grader read them, so :func:`course_implementation` applies)."""
    with open(path, encoding="utf-8") as f:
        out = decode(f.read())
    out["out_dir"] = os.path.dirname(os.path.abspath(path))
    out["graded"] = True          # set here, after parsing: whatever the kernel wrote under that key
    return out


def _spec(exercise) -> dict:
    return {"name": exercise.name, "answer_names": list(exercise.answer_names), "probes": dict(exercise.probes)}


def probe_source(exercise, cases_path, out_path) -> str:
    """Python source for the student's kernel: run ``exercise``'s answer on the cases in
    ``cases_path`` and write the outputs (``encode``\\ d) to ``out_path``; models saved beside it.

    The probe module runs whole in a private namespace, so it leaves no names behind in the
    kernel and does not depend on anything the student's cells could have replaced.
    """
    return ("__course_probe = {'__name__': 'course_probe'}\n"
            f"exec(compile({probe_module_source()!r}, '<course probe>', 'exec'), __course_probe)\n"
            f"__course_probe['main'](globals(), {_spec(exercise)!r}, {str(cases_path)!r}, {str(out_path)!r})\n"
            "del __course_probe\n")


def run_in_process(exercise, answers: dict, cases, out_dir) -> dict:
    """What the probe does, in this process, for ``answers`` (a namespace dict); via the codec,
    so the outputs are exactly the data the grader would read back."""
    cases_data = decode(encode(_case_data(cases)))
    out = decode(encode(run_probe(answers, _spec(exercise), cases_data, str(out_dir))))
    out["out_dir"] = str(out_dir)
    return out


def course_implementation(exercise, outputs: dict) -> str | None:
    """A reason when the answer *is* the course's own implementation of the exercise (imported
    rather than written), else None.

    This reads what the probe reported about the answer object, so it is advice, not evidence: in
    a graded kernel the course's implementations are placeholders that raise (``coursekit.hidden``),
    and an answer that calls one, however it reaches it, produces no right value.
    """
    if outputs.get("graded") is not True:
        return None               # a student's own check accepts the course's code (tests use it as the reference)
    answer = outputs.get("answer") or {}
    module = answer.get("module") or ""
    where = f"{module}.{answer.get('qualname', '')}"
    if module.startswith("course_utils"):
        return (f"{exercise.name} is the course's own implementation ({where}), not your code: "
                "write the function body yourself.")
    if re.search(r"(^|[/\\])course_utils([/\\])", answer.get("file") or ""):
        return f"{exercise.name} is defined inside the course package ({answer['file']}), not in your notebook."
    return None
