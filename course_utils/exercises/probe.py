"""The probe: the only course code that runs inside a graded student's kernel.

The grader runs this file, whole, in the student's kernel after the student's cells (in place of a
check cell): :func:`main` reads the cases the grader wrote, fetches the answer(s) by name from the
kernel's namespace, calls them and writes what came back as plain data. Everything that decides a
verdict — the reference, the catalogue of mistakes, the judge — stays in the grader's process
(:mod:`course_utils.exercises.protocol`); nothing here is trusted, so a student who patches this
code (or anything else in the kernel) can only spoil their own data.

Why a file run whole rather than imported: in the graded kernel every module of the exercise kit
is a placeholder (:mod:`coursekit.hidden`), and an imported module is an object the student's
cells could replace; the grader reads this file's text from its own package and runs it in a
fresh namespace. So it imports only the standard library and NumPy (TensorFlow lazily, where a
case passes tensors), and no ``course_utils`` module. The student's own ``check_<name>`` in a
lesson imports it like any module (:func:`course_utils.exercises.protocol.run_in_process`).

Data crosses as JSON with arrays as base64 ``.npy`` bytes (:func:`encode`/:func:`decode`): no
pickle, no code. What the probe writes is described in :mod:`course_utils.exercises.protocol`.
"""
import base64
import io
import json
import math
import os

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
        self.images_seen = 0      # images embedded since the probe last reset it (a call's cost)

    def _embed(self, images):
        x = images.numpy() if hasattr(images, "numpy") and callable(images.numpy) else images
        x = np.asarray(x)
        shape = ", ".join(map(str, self.image_shape))
        if x.shape == self.image_shape:
            raise EncoderNeedsBatch(f"encoder expects a batch of shape (N, {shape}); got one image of "
                                    f"shape {x.shape}")
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            raise ValueError(f"encoder expects images of shape (N, {shape}); got shape {x.shape}")
        self.images_seen += len(x)
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


class FakeRun:
    """A stand-in for a finished training run (a ``TrainingResult`` of the course), pure data.

    ``recipe`` (field → value) becomes an instance of a dataclass called ``Recipe`` with the
    fields, defaults (``defaults``) and ``to_dict()`` of the course's, so an answer reads it the way
    it reads a real one (attributes, ``to_dict()``, ``dataclasses.asdict``, ``==``); ``history`` is
    a dict of per-epoch lists and ``report`` the run's summary. A made-up run has no weights:
    ``model`` and ``checkpoint`` are None.
    """

    def __init__(self, recipe, defaults, history, seconds=0.0, images_seen=0, report=None):
        self.recipe_data = dict(recipe)
        self.defaults = dict(defaults)
        self.recipe = _recipe_class(self.defaults)(**self.recipe_data)
        self.history = {k: list(v) for k, v in dict(history).items()}
        self.seconds = float(seconds)
        self.images_seen = int(images_seen)
        self.report = dict(report or {})
        self.model = None
        self.checkpoint = None

    @property
    def images_per_second(self):
        return self.images_seen / max(self.seconds, 1e-9)

    def __repr__(self):
        changed = ", ".join(f"{k}={v!r}" for k, v in self.recipe_data.items() if self.defaults.get(k) != v)
        return f"<training run: Recipe({changed}), val_auc {self.history.get('val_auc')}>"


_RECIPE_CLASSES = {}


def _recipe_class(defaults):
    """The dataclass ``Recipe`` with these fields and defaults: one class per set of defaults, so
    that the recipes of two made-up runs compare with ``==`` as two real recipes do."""
    import dataclasses as _dataclasses
    key = repr(list(defaults.items()))
    if key not in _RECIPE_CLASSES:
        fields = [(name, type(value), _dataclasses.field(default=value)) for name, value in defaults.items()]
        _RECIPE_CLASSES[key] = _dataclasses.make_dataclass(
            "Recipe", fields, namespace={"to_dict": lambda self: _dataclasses.asdict(self)})
    return _RECIPE_CLASSES[key]


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
    if isinstance(obj, FakeRun):
        return {"__run__": {"recipe": _to_json(obj.recipe_data), "defaults": _to_json(obj.defaults),
                            "history": _to_json(obj.history), "seconds": obj.seconds,
                            "images_seen": obj.images_seen, "report": _to_json(obj.report)}}
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
        if tag == "__run__":
            run = {k: _from_json(v) for k, v in value.items()}
            return FakeRun(run["recipe"], run["defaults"], run["history"], run["seconds"],
                           run["images_seen"], run["report"])
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
    """A returned value → data saying what it was (its kind) and what it held (its value).

    A dataclass instance (a ``Recipe``) is ``{"kind": "dataclass", "type": "module.QualName",
    "fields": {name: observation}}``: its values cross as data, never the object."""
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
    if depth < 4 and _is_dataclass_instance(x):
        return _observe_dataclass(x, depth)
    return {"kind": "other", "type": type(x).__name__, "module": type(x).__module__,
            "mro": [f"{c.__module__}.{c.__name__}" for c in type(x).__mro__][:20],
            "repr": repr(x)[:MAX_TEXT] if not callable(x) else str(getattr(x, "__name__", ""))}


def _is_dataclass_instance(x):
    import dataclasses as _dataclasses
    return _dataclasses.is_dataclass(x) and not isinstance(x, type)


def _observe_dataclass(x, depth):
    """Each field of a dataclass instance observed, with the instance's qualified type name."""
    import dataclasses as _dataclasses
    fields = {}
    for f in _dataclasses.fields(x):
        try:
            fields[f.name] = observe(getattr(x, f.name), depth + 1)
        except Exception as err:  # noqa: BLE001 — a property that raises is recorded, not fatal
            fields[f.name] = {"kind": "other", "type": "unreadable field",
                              "repr": f"{type(err).__name__}: {str(err)[:MAX_TEXT]}"}
    cls = type(x)
    return {"kind": "dataclass", "type": f"{cls.__module__}.{cls.__qualname__}", "fields": fields}


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


def _arrays_in(args, kwargs):
    """(where, array) for every NumPy array the answer is handed: an argument's position or
    keyword, with the key when the array is a value of a dict argument (a database)."""
    found = []
    for where, value in (*enumerate(args), *kwargs.items()):
        if isinstance(value, np.ndarray):
            found.append(([where], value))
        elif isinstance(value, dict):
            found += [([where, key], v) for key, v in value.items() if isinstance(v, np.ndarray)]
    return found


def _unchanged(before, after) -> bool:
    same = (before == after) | ((before != before) & (after != after))      # NaN stays NaN
    return before.shape == after.shape and before.dtype == after.dtype and bool(np.all(same))


def _call_one(fn, args, kwargs):
    args, kwargs = materialize(tuple(args)), materialize(dict(kwargs))
    encoders = [a for a in (*args, *kwargs.values()) if isinstance(a, FakeEncoder)]
    for encoder in encoders:
        encoder.images_seen = 0
    inputs = [(where, array, array.copy()) for where, array in _arrays_in(args, kwargs)]
    try:
        value = fn(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 — recorded as data for the judge
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return {"raised": summarise_exception(err)}, None
    record = {"result": observe(value)}
    if encoders:                  # how many images the answer embedded for this one call
        record["encoded"] = sum(encoder.images_seen for encoder in encoders)
    changed = [where for where, array, copy in inputs if not _unchanged(copy, array)]
    if changed:                   # inputs the answer wrote into (the caller's arrays)
        record["modified"] = changed
    return record, value


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


def _is_batch_argument(x):
    """An array argument that Keras would hand over as a tensor with a batch dimension."""
    array = x.array if isinstance(x, AsTensor) else x
    return isinstance(array, np.ndarray) and array.ndim >= 1 and array.dtype.kind in "biuf"


def _with_tensors_in(fn, args, kwargs, slots):
    """``call(*tensors)``: ``fn`` on ``args``/``kwargs`` with the tensors put in at ``slots``."""
    def call(*tensors):
        a, kw = list(args), dict(kwargs)
        for (where, i), t in zip(slots, tensors):
            if where == "arg":
                a[i] = t
            else:
                kw[i] = t
        return fn(*a, **kw)
    return call


def _traced_unknown_batch(fn, cases):
    """``fn`` traced the way Keras traces a loss in ``fit``, then called: one record per case (as
    :func:`_call_one` writes them), or None for a case that was not traced.

    The trace is a graph whose array arguments are tensors with the batch dimension (the first)
    unknown, ``None``, the other dimensions and dtypes those of the case; it runs without
    AutoGraph, as Keras marks its train step do-not-convert, so a Python loop or ``if`` in the
    loss is not rewritten into graph ops. Other arguments (a margin) are passed as they are.
    Tracing costs far more than a call, so only the first case of each *form* is traced (the same
    arguments, the same number of dimensions for each array): what fails while tracing is the
    Python code's handling of shapes, which the form decides, not the sizes or dtypes. A later
    case of the same form is still called, and recorded, when it matches a trace exactly (the
    same dtypes, sizes past the batch dimension and other arguments); otherwise its record is None.
    """
    import tensorflow as tf
    traces, forms, records = {}, set(), []
    for case in cases:
        args, kwargs = list(case["args"]), dict(case["kwargs"])
        slots = [("arg", i) for i, a in enumerate(args) if _is_batch_argument(a)]
        slots += [("kwarg", k) for k, v in kwargs.items() if _is_batch_argument(v)]
        arrays = [np.asarray(getattr(v, "array", v)) for v in
                  (args[i] if where == "arg" else kwargs[i] for where, i in slots)]
        others = [repr(a) for i, a in enumerate(args) if ("arg", i) not in slots]
        others += [f"{k}={v!r}" for k, v in kwargs.items() if ("kwarg", k) not in slots]
        form = (len(args), tuple(sorted(kwargs)), tuple(slots), tuple(a.ndim for a in arrays))
        exact = (form, tuple((a.dtype.str, a.shape[1:]) for a in arrays), tuple(others))
        if exact not in traces:
            if form in forms:
                records.append(None)
                continue
            forms.add(form)
            specs = [tf.TensorSpec((None,) + a.shape[1:], tf.as_dtype(a.dtype)) for a in arrays]
            try:
                call = _with_tensors_in(fn, materialize(tuple(args)), materialize(kwargs), tuple(slots))
                traces[exact] = tf.function(call, input_signature=specs, autograph=False).get_concrete_function()
            except BaseException as err:  # noqa: BLE001 — recorded as data for the judge
                if isinstance(err, (KeyboardInterrupt, SystemExit)):
                    raise
                traces[exact] = {"raised": summarise_exception(err)}
                records.append(dict(traces[exact]))
                continue
        traced = traces[exact]
        if isinstance(traced, dict):          # that trace failed: recorded once, at its first case
            records.append(None)
            continue
        record, _ = _call_one(traced, [AsTensor(a) for a in arrays], {})
        records.append(record)
    return records


def run_probe(namespace, spec, cases, out_dir):
    """Call the answer(s) found in ``namespace`` on ``cases``; return the outputs as data.

    ``spec``: ``{"name", "answer_names", "probes"}``. ``cases``: a list of
    ``{"args": [...], "kwargs": {...}}`` (decoded case data). Saved models go to ``out_dir``.
    """
    out = {"version": PROTOCOL_VERSION, "exercise": spec["name"], "missing": [], "answer": None,
           "records": [], "gradient": None, "tf_function": None, "source": None,
           "models": None}
    names = list(spec["answer_names"])
    out["missing"] = [n for n in names if n not in namespace]
    if out["missing"]:
        return out
    fn = namespace[names[0]]
    out["answer"] = _describe_answer(fn)
    if not callable(fn):
        out["answer"]["value"] = observe(fn)
        return out
    probes = spec.get("probes", {})
    values = []
    for case in cases:
        record, value = _call_one(fn, case["args"], case["kwargs"])
        out["records"].append(record)
        values.append(value)
        if "raised" in record and record["raised"]["not_implemented"]:
            break
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
    if done and probes.get("tf_function") == "unknown_batch":
        out["tf_function"] = _traced_unknown_batch(fn, cases)
    elif done and probes.get("tf_function"):
        import tensorflow as tf
        traced = tf.function(fn)
        out["tf_function"] = []
        for case in cases:
            record, _ = _call_one(traced, case["args"], case["kwargs"])
            out["tf_function"].append(record)
    return out


def main(namespace, spec, cases_path, out_path):
    """Run ``spec``'s answer(s) from ``namespace`` on the cases in ``cases_path``; write the outputs
    (:func:`encode`\\ d) to ``out_path`` and saved models beside it. Never raises for the answer's
    sake: a failure of the probe itself is written as ``{"probe_failed": ...}``."""
    try:
        with open(cases_path, encoding="utf-8") as f:
            cases = decode(f.read())
        out = run_probe(namespace, spec, cases, os.path.dirname(out_path) or ".")
    except BaseException as err:  # noqa: BLE001 — reported as data; the judge scores it 0
        if isinstance(err, KeyboardInterrupt):
            raise
        out = {"version": PROTOCOL_VERSION, "probe_failed": summarise_exception(err)}
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(encode(out))
