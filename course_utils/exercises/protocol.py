"""The grading protocol: run a student's answer in the kernel, judge its results elsewhere.

The grader must decide verdicts out of the student's reach (issue 10). So an exercise is split in
three steps that only exchange **data**:

1. ``cases = exercise.cases(seed)`` (grader process) — randomized inputs: NumPy arrays, numbers,
   strings, lists/dicts/tuples of these, :class:`AsTensor` (an array the kernel passes as a
   ``tf.Tensor``) and :class:`FakeEncoder` (a stand-in encoder built from an array). Never code.
2. ``probe_source(exercise, cases_path, out_path)`` (grader) → Python source that the grader runs
   in the student's kernel. It does **not** import ``course_utils`` (the student could have patched
   it): it carries its own copy of the codec below, reads the cases, fetches the answer(s) by name
   from the kernel's globals, calls them and writes what came back as data (see *Outputs*).
3. ``exercise.judge(cases, outputs) -> Verdict`` (grader process) — recomputes the reference and
   the mistake catalogue from the cases and compares. Patching anything in the kernel changes
   nothing here.

Grader recipe: ``ex = GRADED[grade_id]; cases = ex.cases(seed); write_cases(cases, cases_path);``
run ``probe_source(ex, cases_path, out_path)`` in the kernel (after the student's cells, instead of
the check cell); ``verdict = ex.judge(cases, read_outputs(out_path))``. ``judge`` never raises for
bad student data; it imports TensorFlow/Keras only where the reference needs them.

The in-kernel student path ``check_<name>(fn)`` does the same three steps in one process (with
``provenance=False``: the course's own implementation is accepted there, so that the reference
itself passes its check).

API (final)
-----------
    GRADED: dict[str, Exercise]                 # in course_utils.exercises, keyed by grade_id
    Exercise.grade_id: str                      # "ex_triplet_loss_check" (the CHECK cell's id)
    Exercise.lesson: str                        # "04"
    Exercise.name: str                          # "triplet_loss" (exercise function name)
    Exercise.answer_names: tuple[str, ...]      # names read from the notebook's namespace
    Exercise.mode: str                          # "function" (call answer on cases) | "values"
    Exercise.cases(seed: int) -> list[Case]     # deterministic given the seed ([] for "values")
    Exercise.judge(cases, outputs: dict) -> Verdict
    Verdict(passed: bool, message: str, reason: str)
        reason ∈ {"correct", "not_done", "missing", "not_callable", "raised", "wrong_kind",
                  "wrong_value", "requirement", "course_implementation", "probe_failed"}
    encode(obj) -> str ; decode(text: str) -> obj        # JSON; arrays as base64 .npy; no pickle
    write_cases(cases, path)            # what the kernel needs: args, kwargs, probe_inputs (no answers)
    read_outputs(path) -> dict          # the probe's outputs + "out_dir" (folder of path: saved models)
    probe_source(exercise, cases_path, out_path) -> str  # source to run in the kernel
    run_in_process(exercise, answers: dict, cases, out_dir, provenance=True) -> dict
        # the probe's work without a kernel (tests; the student path)

Outputs (what the probe writes to ``out_path``, as ``encode``\\ d data)::

    {"version": 1, "exercise": name,
     "missing": [names not found in the kernel],
     "answer": {"kind", "module", "qualname", "file"} | None,  # about answer_names[0]
     "records": [ {"result": observation} | {"raised": {"type", "summary", "hint",
                   "not_implemented"}} ...one per case...],
     "values": {name: observation}                       # mode "values"
     "gradient": True | False | None,                   # probes["gradient"]
     "tf_function": [record per case] | None,           # probes["tf_function"]
     "source": str | None,                              # probes["source"]
     "models": [{"path": file name of the saved .keras beside out_path | "raised": ...,
                 "outputs": record of model(case.probe_inputs["model_inputs"])}],  # probes["model"]
     "calls": [[module, function, file], ...] | None}   # course_utils functions it called

An *observation* is ``{"kind": "tf.Tensor" | "np.ndarray" | "NumPy float32" | "Python float" |
"None" | "Python tuple" | ..., "value": data}`` (containers hold ``"items"``).
"""
from __future__ import annotations

import ast
import inspect
import re
import threading
from dataclasses import dataclass

# ---- codec: begin ---------------------------------------------------------------------------
# Everything between the two "codec" markers is copied verbatim into the probe that runs in the
# student's kernel: stdlib + NumPy only at import; TensorFlow imported lazily when needed.
import base64
import io
import json
import math
import os
import sys

import numpy as np

PROTOCOL_VERSION = 1
MAX_ITEMS = 200_000        # longest list/tuple recorded element by element
MAX_TEXT = 300             # characters kept from an exception message or a repr


class AsTensor:
    """An array that the kernel passes to the answer as a ``tf.Tensor`` (``tf.constant``)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = np.asarray(array)

    def __repr__(self):
        return f"AsTensor({self.array.dtype} {tuple(self.array.shape)})"


class EncoderNeedsBatch(ValueError):
    """Raised by :class:`FakeEncoder` when it is given one image instead of a batch."""

    course_hint = ("the encoder expects a batch of images (N, H, W, 3), not one image (H, W, 3): "
                   "pass image[None] (or np.expand_dims(image, 0)) and take row [0] of the result.")


class FakeEncoder:
    """A deterministic stand-in for a Keras encoder: ``(N, H, W, 3)`` → ``(N, D)`` float32 rows.

    Pure data (a projection matrix ``w`` of shape ``(H·W·3, D)``): random projection of the pixels,
    L2-normalised, then rounded to multiples of 2⁻¹⁰ so that every squared distance between two
    embeddings is exact in float32 and float64 (a test can put the threshold exactly on a
    distance). Calling it returns a ``tf.Tensor`` (like a Keras model) when ``as_tensor``;
    ``predict`` returns a NumPy array.
    """

    def __init__(self, w, image_shape, as_tensor=True):
        self.w = np.asarray(w, dtype=np.float64)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.as_tensor = bool(as_tensor)
        self.output_shape = (None, self.w.shape[1])

    def _embed(self, images):
        x = images.numpy() if hasattr(images, "numpy") and callable(images.numpy) else images
        x = np.asarray(x)
        shape = ", ".join(map(str, self.image_shape))
        if x.shape == self.image_shape:
            raise EncoderNeedsBatch(f"encoder expects a batch of shape (N, {shape}); got one image of "
                                    f"shape {x.shape}")
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            raise ValueError(f"encoder expects images of shape (N, {shape}); got shape {x.shape}")
        flat = x.reshape(len(x), -1).astype(np.float64) / 255.0 - 0.5
        e = flat @ self.w
        e = e / np.linalg.norm(e, axis=-1, keepdims=True)
        return (np.round(e * 1024.0) / 1024.0).astype(np.float32)

    def __call__(self, images, training=False, **kwargs):
        out = self._embed(images)
        if self.as_tensor:
            import tensorflow as tf
            return tf.constant(out)
        return out

    def predict(self, images, verbose=0, batch_size=None, **kwargs):
        return self._embed(images)

    def __repr__(self):
        return f"<encoder: (N, {', '.join(map(str, self.image_shape))}) → (N, {self.w.shape[1]})>"


def _array_text(a):
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _text_array(text):
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def _to_json(obj):
    """Python/NumPy data → JSON-able structure with tagged arrays (no pickle, no code)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            raise TypeError("object arrays cannot be encoded")
        return {"__ndarray__": _array_text(obj)}
    if isinstance(obj, np.generic):
        return {"__npscalar__": _array_text(np.asarray(obj))}
    if isinstance(obj, AsTensor):
        return {"__tensor__": _array_text(obj.array)}
    if isinstance(obj, FakeEncoder):
        return {"__encoder__": {"w": _array_text(obj.w), "image_shape": list(obj.image_shape),
                                "as_tensor": obj.as_tensor}}
    if isinstance(obj, tuple):
        return {"__tuple__": [_to_json(v) for v in obj]}
    if isinstance(obj, list):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _to_json(v) for k, v in obj.items()}
        return {"__dict__": [[_to_json(k), _to_json(v)] for k, v in obj.items()]}
    raise TypeError(f"cannot encode {type(obj).__name__} as data")


def _from_json(obj):
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag == "__ndarray__":
            return _text_array(value)
        if tag == "__npscalar__":
            return _text_array(value)[()]
        if tag == "__tensor__":
            return AsTensor(_text_array(value))
        if tag == "__float__":
            return float(value)
        if tag == "__tuple__":
            return tuple(_from_json(v) for v in value)
        if tag == "__dict__":
            return {_hashable(_from_json(k)): _from_json(v) for k, v in value}
        if tag == "__encoder__":
            return FakeEncoder(_text_array(value["w"]), value["image_shape"], value["as_tensor"])
    return {k: _from_json(v) for k, v in obj.items()}


def _hashable(key):
    return key.item() if isinstance(key, np.generic) else key


def encode(obj) -> str:
    """Data → JSON text (arrays as base64 ``.npy`` bytes; tuples, non-string keys and NaN kept)."""
    return json.dumps(_to_json(obj))


def decode(text: str):
    """The inverse of :func:`encode` (``AsTensor``/``FakeEncoder`` come back as those objects)."""
    return _from_json(json.loads(text))


def materialize(obj):
    """Case data → the objects the answer is called with (``AsTensor`` → ``tf.constant``)."""
    if isinstance(obj, AsTensor):
        import tensorflow as tf
        return tf.constant(obj.array)
    if isinstance(obj, tuple):
        return tuple(materialize(v) for v in obj)
    if isinstance(obj, list):
        return [materialize(v) for v in obj]
    if isinstance(obj, dict):
        return {k: materialize(v) for k, v in obj.items()}
    return obj


def _is_live_tensor(x):
    module = type(x).__module__ or ""
    if not module.startswith(("tensorflow", "keras", "tf_keras")):
        return False
    return hasattr(x, "shape") and hasattr(x, "dtype")


def observe(x, depth=0):
    """A returned value → data saying what it was (its kind) and what it held (its value)."""
    if x is None:
        return {"kind": "None"}
    if isinstance(x, bool):
        return {"kind": "Python bool", "value": x}
    if isinstance(x, (int, float, str)):
        return {"kind": f"Python {type(x).__name__}", "value": x}
    if isinstance(x, np.generic):
        if x.dtype.kind == "O":
            return {"kind": "other", "type": type(x).__name__, "repr": repr(x)[:MAX_TEXT]}
        return {"kind": f"NumPy {type(x).__name__}", "value": x}
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "OV":
            return {"kind": "np.ndarray", "dtype": str(x.dtype), "shape": list(x.shape),
                    "repr": repr(x)[:MAX_TEXT]}
        return {"kind": "np.ndarray", "value": x}
    if _is_live_tensor(x):
        try:
            value = np.asarray(x.numpy())
        except Exception as err:  # noqa: BLE001 — a symbolic tensor has no value
            return {"kind": "symbolic tensor", "type": type(x).__name__,
                    "repr": f"{type(err).__name__}: {str(err)[:MAX_TEXT]}"}
        return {"kind": "tf.Tensor", "value": value}
    if depth < 4 and isinstance(x, (tuple, list)) and len(x) <= MAX_ITEMS:
        return {"kind": f"Python {type(x).__name__}", "items": [observe(v, depth + 1) for v in x]}
    if depth < 4 and isinstance(x, dict) and len(x) <= MAX_ITEMS:
        return {"kind": "Python dict", "items": [[observe(k, depth + 1), observe(v, depth + 1)]
                                                 for k, v in x.items()]}
    history = getattr(x, "history", None)
    if depth < 4 and isinstance(history, dict):
        return {"kind": "History", "history": observe(history, depth + 1)}
    return {"kind": "other", "type": type(x).__name__, "module": type(x).__module__,
            "mro": [f"{c.__module__}.{c.__name__}" for c in type(x).__mro__][:20],
            "repr": repr(x)[:MAX_TEXT] if not callable(x) else str(getattr(x, "__name__", ""))}


def summarise_exception(err):
    """``{"type", "summary", "hint", "not_implemented"}`` (first useful line; TF traces cut)."""
    import re as _re
    text = _re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(err)).strip()
    text = _re.sub(r"\s*\[Op:\w+\]( name: \S*)?$", "", text, flags=_re.M)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0] == "in user code:":       # tf.function: the real error is the last line
        inner = [line for line in lines if _re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
        lines = [inner[-1]] if inner else lines[-1:]
    first = lines[0] if lines else ""
    for line in lines:                     # TF puts the useful line after a long header
        if line.startswith(("{{function_node", "Traceback", "File ")):
            continue
        first = line
        break
    if len(first) > MAX_TEXT:
        first = first[:MAX_TEXT] + " …"
    hint = getattr(err, "course_hint", None)
    return {"type": type(err).__name__,
            "summary": f"{type(err).__name__}: {first}" if first else type(err).__name__,
            "hint": hint if isinstance(hint, str) else None,
            "not_implemented": isinstance(err, NotImplementedError)}


class _CallRecorder:
    """Records which functions of the ``course_utils`` package run, via ``sys.setprofile``."""

    def __init__(self):
        self.calls = set()
        self.tampered = None          # what the answer did to the recorder, if anything
        self._leaving = False
        import threading as _threading
        self._hooks = (sys.setprofile, sys.settrace, _threading.setprofile, _threading.settrace)

    def __call__(self, frame, event, arg):
        if event == "c_call" and self.tampered is None and not self._leaving:
            if any(arg is hook for hook in self._hooks):
                self.tampered = f"called {getattr(arg, '__module__', None) or 'sys'}.{arg.__name__}"
            return
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        filename = frame.f_code.co_filename or ""
        inside = "course_utils" in filename.replace("\\", "/").split("/")
        if (isinstance(module, str) and module.startswith("course_utils")) or inside:
            self.calls.add((str(module), frame.f_code.co_name, filename))

    def __enter__(self):
        self._previous = sys.getprofile()
        self._leaving = False
        sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        self._leaving = True          # our own setprofile below is not the answer's
        if sys.getprofile() is not self and self.tampered is None:
            self.tampered = "replaced the call recorder"
        sys.setprofile(self._previous)
        return False


def _call_one(fn, args, kwargs, recorder=None):
    args, kwargs = materialize(tuple(args)), materialize(dict(kwargs))
    try:
        if recorder is None:
            value = fn(*args, **kwargs)
        else:
            with recorder:
                value = fn(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 — recorded as data for the judge
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return {"raised": summarise_exception(err)}, None
    return {"result": observe(value)}, value


def _gradient_flows(fn, args, kwargs, wrt):
    """True if d fn(...)/d args[wrt] exists (tf.GradientTape); None when it cannot be tested."""
    import tensorflow as tf
    args = list(materialize(tuple(args)))
    x = tf.Variable(args[wrt])
    args[wrt] = x
    try:
        with tf.GradientTape() as tape:
            out = fn(*args, **materialize(dict(kwargs)))
            if isinstance(out, (tuple, list)):
                out = out[0]
        if not _is_live_tensor(out):
            return None
        return tape.gradient(out, x) is not None
    except Exception:  # noqa: BLE001 — a function that cannot take a Variable is not judged here
        return None


def _source_of(fn):
    import inspect as _inspect
    try:
        target = _inspect.unwrap(getattr(fn, "python_function", fn))
        return _inspect.getsource(target)
    except Exception:  # noqa: BLE001
        return None


def _describe_answer(fn):
    code = getattr(getattr(fn, "python_function", fn), "__code__", None)
    return {"kind": type(fn).__name__, "module": str(getattr(fn, "__module__", None) or ""),
            "qualname": str(getattr(fn, "__qualname__", getattr(fn, "__name__", "")) or ""),
            "file": str(code.co_filename) if code is not None else ""}


def run_probe(namespace, spec, cases, out_dir, provenance=True):
    """Call the answer(s) found in ``namespace`` on ``cases``; return the outputs as data.

    ``spec``: ``{"name", "answer_names", "mode", "probes"}``. ``cases``: a list of
    ``{"args": [...], "kwargs": {...}}`` (decoded case data). Saved models go to ``out_dir``.
    """
    out = {"version": PROTOCOL_VERSION, "exercise": spec["name"], "missing": [], "answer": None,
           "records": [], "values": {}, "gradient": None, "tf_function": None, "source": None,
           "models": None, "calls": None}
    names = list(spec["answer_names"])
    out["missing"] = [n for n in names if n not in namespace]
    if out["missing"]:
        return out
    if spec["mode"] == "values":
        out["values"] = {n: observe(namespace[n]) for n in names}
        return out
    fn = namespace[names[0]]
    out["answer"] = _describe_answer(fn)
    if not callable(fn):
        out["answer"]["value"] = observe(fn)
        return out
    probes = spec.get("probes", {})
    recorder = _CallRecorder() if provenance else None
    values = []
    for case in cases:
        record, value = _call_one(fn, case["args"], case["kwargs"], recorder)
        out["records"].append(record)
        values.append(value)
        if "raised" in record and record["raised"]["not_implemented"]:
            break
    if recorder is not None:
        out["calls"] = sorted([list(c) for c in recorder.calls])
        out["tampered"] = recorder.tampered
    done = all("result" in r for r in out["records"])
    if probes.get("model"):
        out["models"] = []
        for i, value in enumerate(values):
            if value is None:
                out["models"].append(None)
                continue
            path = os.path.join(out_dir, f"model_{i}.keras")
            saved = {"path": os.path.basename(path)}
            try:
                value.save(path)
            except Exception as err:  # noqa: BLE001
                saved = {"raised": summarise_exception(err)}
            inputs = cases[i].get("probe_inputs", {}).get("model_inputs")
            if inputs is not None:
                record, _ = _call_one(lambda x: value(x, training=False), [inputs], {})
                saved["outputs"] = record
            out["models"].append(saved)
    if probes.get("source"):
        out["source"] = _source_of(fn)
    if done and "gradient" in probes:
        wrt = probes["gradient"]
        case = next((c for c in cases if len(c["args"]) > wrt and isinstance(c["args"][wrt], AsTensor)), None)
        if case is not None:
            out["gradient"] = _gradient_flows(fn, case["args"], case["kwargs"], wrt)
    if done and probes.get("tf_function"):
        import tensorflow as tf
        traced = tf.function(fn)
        out["tf_function"] = []
        for case in cases:
            record, _ = _call_one(traced, case["args"], case["kwargs"])
            out["tf_function"].append(record)
    return out

# ---- codec: end -----------------------------------------------------------------------------


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


def codec_source() -> str:
    """The codec/probe helpers above, as source text (what the probe embeds)."""
    text = inspect.getsource(sys.modules[__name__])
    start = text.index("# ---- codec: begin")
    end = text.index("# ---- codec: end")
    return text[start:end]


def _case_data(cases) -> list:
    return [{"args": list(c.args), "kwargs": dict(c.kwargs),
             "probe_inputs": dict(getattr(c, "probe_inputs", {}) or {})} for c in cases]


def write_cases(cases, path) -> None:
    """Write what the kernel needs of ``cases`` (arguments only, never the expected results)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode(_case_data(cases)))


def read_outputs(path) -> dict:
    """The probe's outputs, plus ``"out_dir"``: the folder of ``path`` (where saved models lie)."""
    with open(path, encoding="utf-8") as f:
        out = decode(f.read())
    out["out_dir"] = os.path.dirname(os.path.abspath(path))
    return out


def _spec(exercise) -> dict:
    return {"name": exercise.name, "answer_names": list(exercise.answer_names), "mode": exercise.mode,
            "probes": dict(exercise.probes)}


def probe_source(exercise, cases_path, out_path) -> str:
    """Python source for the student's kernel: run ``exercise``'s answer on the cases in
    ``cases_path`` and write the outputs (``encode``\\ d) to ``out_path``; models saved beside it.

    Leaves no names behind in the kernel's namespace (everything lives in a private dict).
    """
    body = codec_source() + textwrap_dedent(f"""
        def _probe_main(namespace):
            with open({str(cases_path)!r}, encoding="utf-8") as f:
                cases = decode(f.read())
            out_path = {str(out_path)!r}
            try:
                out = run_probe(namespace, {_spec(exercise)!r}, cases, os.path.dirname(out_path) or ".")
            except BaseException as err:  # noqa: BLE001
                if isinstance(err, KeyboardInterrupt):
                    raise
                out = {{"version": PROTOCOL_VERSION, "probe_failed": summarise_exception(err)}}
            with open(out_path, "w", encoding="utf-8") as f:
                f.write(encode(out))
        """)
    return ("__course_probe = {'__name__': 'course_probe'}\n"
            f"exec(compile({body!r}, '<course probe>', 'exec'), __course_probe)\n"
            "__course_probe['_probe_main'](globals())\n"
            "del __course_probe\n")


def textwrap_dedent(text: str) -> str:
    import textwrap
    return textwrap.dedent(text)


def run_in_process(exercise, answers: dict, cases, out_dir, provenance: bool = True) -> dict:
    """What the probe does, in this process, for ``answers`` (a namespace dict); via the codec,
    so the outputs are exactly the data the grader would read back."""
    cases_data = decode(encode(_case_data(cases)))
    out = decode(encode(run_probe(answers, _spec(exercise), cases_data, str(out_dir), provenance=provenance)))
    out["out_dir"] = str(out_dir)
    return out


def course_implementation(exercise, outputs: dict) -> str | None:
    """A reason when the answer is, or calls, the course's own implementation of the exercise.

    Judged only when the probe recorded provenance (``outputs["calls"]`` is a list): the student's
    in-notebook check accepts the course's reference, the grader's probe does not.
    """
    if outputs.get("calls") is None:
        return None
    if outputs.get("tampered"):
        return (f"{exercise.name} switches off the grader's record of what it calls "
                f"({outputs['tampered']}); an answer must not touch sys.setprofile / sys.settrace.")
    answer = outputs.get("answer") or {}
    module = answer.get("module") or ""
    where = f"{module}.{answer.get('qualname', '')}"
    if module.startswith("course_utils"):
        return (f"{exercise.name} is the course's own implementation ({where}), not your code: "
                "write the function body yourself.")
    if re.search(r"(^|[/\\])course_utils([/\\])", answer.get("file") or ""):
        return f"{exercise.name} is defined inside the course package ({answer['file']}), not in your notebook."
    forbidden = set(exercise.forbidden)
    for module, function, _ in outputs.get("calls") or ():
        if f"{module}:{function}" in forbidden:
            return (f"{exercise.name} calls the course's own implementation of this exercise "
                    f"({module}.{function}); write it yourself with keras.ops / NumPy.")
    return None
