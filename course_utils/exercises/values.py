"""Values as the judge sees them: what the probe observed in the kernel, revived, and shown.

The probe (:mod:`course_utils.exercises.probe`) writes what an answer returned as data (an
*observation*, see :mod:`course_utils.exercises.protocol`); :func:`revive` turns it back into
values the converters inspect (a returned ``tf.Tensor`` becomes a :class:`TensorValue`, an object
the probe could only describe an :class:`OtherValue`); :func:`kind` and :func:`fmt` write them in
messages for the student.
"""
from __future__ import annotations

import numpy as np

from course_utils.exercises.protocol import AsTensor, FakeEncoder


class TensorValue:
    """What a returned ``tf.Tensor`` looks like to the judge: its value, and that it was a tensor."""

    def __init__(self, array):
        self.array = np.asarray(array)
        self.shape = self.array.shape
        self.dtype = self.array.dtype

    def numpy(self):
        return self.array

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __repr__(self):
        return f"<tf.Tensor {self.array.dtype} {self.array.shape}>"


class OtherValue:
    """A returned object the probe could only describe (a model, a function, a symbolic tensor…)."""

    def __init__(self, obs: dict):
        self.kind = obs.get("type") or obs.get("kind", "object")
        self.text = obs.get("repr", "")
        self.obs = obs

    def __repr__(self):
        return f"{self.kind} {self.text}".strip()


def revive(obs):
    """An observation (see protocol) → a value the converters can inspect."""
    kind = obs.get("kind")
    if kind == "None":
        return None
    if kind == "tf.Tensor":
        return TensorValue(obs["value"])
    if kind == "Python tuple":
        return tuple(revive(o) for o in obs["items"])
    if kind == "Python list":
        return [revive(o) for o in obs["items"]]
    if kind == "Python dict":
        return {_key(revive(k)): revive(v) for k, v in obs["items"]}
    if kind == "History":
        return revive(obs["history"])
    if "value" in obs:
        return obs["value"]
    return OtherValue(obs)


def _key(k):
    return k.item() if isinstance(k, np.generic) else (k.array.item() if isinstance(k, TensorValue) else k)


def is_tensor(x) -> bool:
    return isinstance(x, (TensorValue, AsTensor))


def kind(x) -> str:
    """A short name of the type of ``x``: 'tf.Tensor', 'np.ndarray', 'Python float', …"""
    if x is None:
        return "None"
    if is_tensor(x):
        return "tf.Tensor"
    if isinstance(x, OtherValue):
        return x.kind
    if isinstance(x, np.ndarray):
        return "np.ndarray"
    if isinstance(x, np.generic):
        return f"NumPy {type(x).__name__}"
    if isinstance(x, (bool, int, float, str, list, tuple, dict)):
        return f"Python {type(x).__name__}"
    return type(x).__name__


def as_array(x) -> np.ndarray:
    """Tensor / array / list → NumPy array (no copy when possible)."""
    if isinstance(x, AsTensor):
        return x.array
    if isinstance(x, OtherValue):
        raise TypeError(f"{x.kind} is not an array")
    if hasattr(x, "numpy") and callable(x.numpy):
        try:
            return np.asarray(x.numpy())
        except Exception:  # noqa: BLE001
            pass
    return np.asarray(x)


def fmt(x, precision: int = 4, nested: bool = False) -> str:
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
        inner = ", ".join(f"{k!r}: {fmt(v, precision, nested=True)}" for k, v in items[:6])
        return "{" + inner + (", …" if len(items) > 6 else "") + "}"
    long_numbers = (len(x) > 8 and all(isinstance(v, (int, float)) for v in x)
                    if isinstance(x, (list, tuple)) else False)
    if isinstance(x, (list, tuple)) and not long_numbers:    # long lists of numbers: shown as arrays
        inner = ", ".join(fmt(v, precision) for v in x[:8]) + (", …" if len(x) > 8 else "")
        return ("(" + inner + ("," if len(x) == 1 else "") + ")") if isinstance(x, tuple) else "[" + inner + "]"
    if x is None:
        return "None"
    if isinstance(x, (FakeEncoder, OtherValue)):
        return repr(x)
    if callable(x) and not hasattr(x, "shape"):
        return getattr(x, "__name__", type(x).__name__)
    try:
        arr = as_array(x)
    except Exception:  # noqa: BLE001
        return repr(x)[:80]
    head = f"{kind(x)} {arr.dtype} {tuple(arr.shape)}"
    if nested:
        return f"{arr.dtype} {tuple(arr.shape)}"
    if arr.size <= 16:
        body = np.array2string(arr, precision=precision, suppress_small=True, separator=", ",
                               max_line_width=90)
        body = " ".join(body.split())
        return f"{head}: {body}"
    return head
