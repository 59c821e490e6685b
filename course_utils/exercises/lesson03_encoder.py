"""Lesson 3 — a Keras encoder: ``check_build_my_encoder``.

``build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128)`` → ``keras.Model``. The model your
function returns is saved to a ``.keras`` file and judged after ``load_model(safe_mode=True)``:
output shape ``(None, embedding_dim)``; signed unit-length outputs (on a fixed batch some
coordinates are negative — a ReLU/softmax at the end is refused by behaviour and by the layer
config); the layers as the exercise states them, read from the loaded model: 3×3 convolutions with
strides 1, widths 32/64/128, exactly one ``MaxPooling2D(2)`` (2×2, stride 2) closing each block,
no ``AveragePooling2D``, no ``Dropout``, one ``Dense`` without activation after the global pooling,
normalisation over the last axis; parameter count equal to
``models.build_encoder(input_shape, embedding_dim, widths=(32, 64, 128), stem=None)``; no
``Lambda`` layer; the loaded model gives the same outputs as yours; the input shape is the one
asked for (not hard-coded). Harmless differences are accepted: layer names, ``keras.Sequential``
vs functional, ``layers.ReLU()`` vs ``Activation("relu")``, ``UnitNormalization`` vs
``L2Normalize``. Mistakes named: ``Flatten`` instead of ``GlobalAveragePooling2D``;
convolutions with a bias; BatchNormalization missing; ReLU before BatchNorm (a separate layer or
``Conv2D(activation="relu")``); ``padding="valid"``; wrong embedding size; L2 normalisation
missing; ``Rescaling`` missing; ``Lambda`` layers.
"""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF
from course_utils.exercises.protocol import summarise_exception

_ENCODER_HINTS = (
    "Return a keras.Model that maps images (batch, *input_shape), pixel values 0…255, to embeddings "
    "(batch, embedding_dim), float32, each row of length 1. Inside: scale the pixels to 0…1; three "
    "blocks of widths 32, 64, 128, each a 3×3 convolution that keeps the size (no bias), batch "
    "normalisation, ReLU, then halving the height and width with 2×2 max-pooling; then average each "
    "feature map to one number, a linear projection to embedding_dim numbers (no activation), and "
    "dividing each row by its length.",
    "The key layers: keras.Input, layers.Rescaling, layers.Conv2D (padding 'same', use_bias off), "
    "layers.BatchNormalization, layers.ReLU, layers.MaxPooling2D, layers.GlobalAveragePooling2D, "
    "layers.Dense and L2Normalize from course_utils.models; wrap them with keras.Model.",
)

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


def _encoder_problem(model, input_shape, embedding_dim, x) -> str | None:
    from keras import layers

    all_layers = _all_layers(model)
    kinds = [type(layer).__name__ for layer in all_layers]
    declared = getattr(model, "input_shape", None) if getattr(model, "inputs", None) else None
    if declared is not None and tuple(declared)[1:] != tuple(input_shape):
        return (f"the model's input shape is {tuple(declared)}, but input_shape={input_shape} was asked for: "
                "use keras.Input(shape=input_shape) rather than a fixed shape.")
    try:
        y = h.as_array(model(x, training=False))
    except Exception as err:  # noqa: BLE001
        return (f"calling the model on a batch of shape {x.shape} raised {summarise_exception(err)['summary']}. "
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
        return (f"it uses Flatten before the Dense layer ({got:,} parameters instead of {expected:,}): this "
                "exercise asks for GlobalAveragePooling2D(), which averages each feature map to one number — "
                "far fewer parameters, and the same model works for any image size. (Flatten is not wrong "
                "in general: lesson 6's encoder uses it on aligned faces, see section 3.)")
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
    problem = _block_problem(all_layers) or _layout_problem(all_layers) or _sign_problem(y)
    if problem:
        return problem
    norms = np.linalg.norm(y.astype(np.float64), axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        return (f"the embeddings are not unit length (norms {np.round(norms, 3).tolist()}): end the model with "
                "L2Normalize() from course_utils.models (not a Lambda).")
    if got != expected:
        return (f"the model has {got:,} parameters; the architecture of the exercise has {expected:,} "
                f"(difference {got - expected:+,}). Layers found: {', '.join(kinds)}. "
                "Compare with model.summary() and the list in the exercise (3 blocks of widths 32, 64, 128).")
    return None


_NONLINEAR = ("ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")


def _activation_name(layer) -> str:
    """``"relu"``, ``"linear"``, … of a layer's ``activation`` setting (from its config)."""
    try:
        value = layer.get_config().get("activation", "linear")
    except Exception:  # noqa: BLE001
        return "linear"
    if isinstance(value, dict):                 # a serialized activation object
        value = value.get("config", {}).get("name") or value.get("class_name", "")
    return str(value or "linear").lower()


def _is_nonlinearity(layer) -> bool:
    kind = type(layer).__name__
    return kind in _NONLINEAR or (kind == "Activation" and _activation_name(layer) != "linear")


def _block_problem(all_layers) -> str | None:
    """The conv blocks as the lesson specifies them: Conv2D(padding="same") → BatchNorm → ReLU.

    Same parameter count either way, so the count cannot tell; the layers (read back from the
    saved ``.keras`` file) can. ``all_layers`` is in the model's (topological) layer order.
    """
    from keras import layers

    seq = [layer for layer in all_layers if type(layer).__name__ != "InputLayer"]
    for i, layer in enumerate(seq):
        if not isinstance(layer, layers.Conv2D):
            continue
        if _activation_name(layer) != "linear":
            return (f"ReLU before BatchNorm: the Conv2D has activation={_activation_name(layer)!r}, so the "
                    "activation runs before the BatchNormalization. The block is Conv2D (no activation) → "
                    "BatchNormalization() → ReLU(): batch norm normalises the convolution's raw output, "
                    "then ReLU keeps the positive part.")
        for after in seq[i + 1:]:
            if isinstance(after, (layers.BatchNormalization, layers.Conv2D)):
                break
            if _is_nonlinearity(after):
                return ("ReLU before BatchNorm: in your blocks the activation comes right after the Conv2D "
                        "and BatchNormalization after it. The lesson's block is Conv2D → "
                        "BatchNormalization() → ReLU() → MaxPooling2D(2): batch norm normalises the "
                        "convolution's raw output, then ReLU keeps the positive part.")
    valid = [layer for layer in seq if isinstance(layer, layers.Conv2D) and getattr(layer, "padding", "same") != "same"]
    if valid:
        return (f"padding={valid[0].padding!r}: each 3×3 convolution without padding loses a 1-pixel border "
                "(64 → 62 → …), so the feature maps shrink and border pixels count less. The lesson's blocks "
                "keep the size in the convolution (Conv2D(width, 3, padding=\"same\", use_bias=False)) and "
                "only the pooling halves it.")
    return None


def _pair(value) -> tuple:
    """A Keras size setting (``2``, ``(2, 2)``, ``[2, 2]``) as a tuple of ints."""
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


_ASKED = ("The exercise asks for: Rescaling(1/255) → 3 × [Conv2D(width, 3, padding=\"same\", "
          "use_bias=False) → BatchNormalization() → ReLU() → MaxPooling2D(2)] → GlobalAveragePooling2D() → "
          "Dense(embedding_dim) → L2Normalize().")


def _layout_problem(all_layers) -> str | None:
    """Convolution settings, pooling (type, size, position), the head — read from the loaded model.

    These are rules the exercise states; harmless differences (layer names, Sequential vs
    functional, ``layers.ReLU()`` vs ``Activation("relu")``) are not looked at.
    """
    from keras import layers

    seq = [layer for layer in all_layers if type(layer).__name__ != "InputLayer"]
    convs = [layer for layer in seq if isinstance(layer, layers.Conv2D)]
    for layer in convs:
        if _pair(layer.kernel_size) != (3, 3):
            return (f"a Conv2D has kernel_size={_pair(layer.kernel_size)}; the exercise asks for 3×3 "
                    "convolutions (Conv2D(width, 3, ...)). " + _ASKED)
        if _pair(layer.strides) != (1, 1):
            return (f"a Conv2D has strides={_pair(layer.strides)}: the exercise's convolutions keep the size "
                    "(strides 1) and only MaxPooling2D(2) halves it. " + _ASKED)
    if [layer.filters for layer in convs] != list(_ENCODER_WIDTHS):
        return (f"the convolutions have widths {[layer.filters for layer in convs]}; the exercise asks for one "
                f"Conv2D per width in {_ENCODER_WIDTHS}. " + _ASKED)
    dropout = [layer for layer in seq if "Dropout" in type(layer).__name__]
    if dropout:
        return (f"it has a {type(dropout[0]).__name__} layer: the exercise's encoder has no Dropout (it is not "
                "wrong in general, but it is not what is asked, and it makes training-mode embeddings random). "
                + _ASKED)
    average = [layer for layer in seq if type(layer).__name__ in ("AveragePooling2D",)]
    if average:
        return ("it uses AveragePooling2D in the blocks: the exercise asks for MaxPooling2D(2) after each ReLU "
                "(max-pooling keeps the strongest response in each 2×2 window). " + _ASKED)
    pools = [i for i, layer in enumerate(seq) if isinstance(layer, layers.MaxPooling2D)]
    conv_at = [i for i, layer in enumerate(seq) if isinstance(layer, layers.Conv2D)]
    gap_at = [i for i, layer in enumerate(seq) if isinstance(layer, layers.GlobalAveragePooling2D)]
    if not gap_at:
        return "GlobalAveragePooling2D is missing before the Dense layer. " + _ASKED
    ends = conv_at[1:] + [gap_at[0]]
    for k, (start, end) in enumerate(zip(conv_at, ends)):
        inside = [i for i in pools if start < i < end]
        if len(inside) != 1:
            return (f"block {k + 1} (width {_ENCODER_WIDTHS[k]}) has {len(inside)} MaxPooling2D layer(s): each of "
                    "the 3 blocks ends with exactly one MaxPooling2D(2), the last block too. " + _ASKED)
        pool = seq[inside[0]]
        size, strides = _pair(pool.pool_size), _pair(pool.strides or pool.pool_size)
        if size != (2, 2) or strides != (2, 2) or pool.padding != "valid":
            return (f"block {k + 1}'s MaxPooling2D has pool_size={size}, strides={strides}, "
                    f"padding={pool.padding!r}; the exercise asks for MaxPooling2D(2) (2×2 windows, stride 2). "
                    + _ASKED)
    return _head_problem(seq[gap_at[0] + 1:])


def _head_problem(head) -> str | None:
    """After GlobalAveragePooling2D: exactly Dense(embedding_dim, no activation) → L2 normalisation."""
    from keras import layers

    dense = [layer for layer in head if isinstance(layer, layers.Dense)]
    if len(dense) != 1:
        return (f"the head after GlobalAveragePooling2D has {len(dense)} Dense layers; the exercise asks for "
                "one Dense(embedding_dim). " + _ASKED)
    act = _activation_name(dense[0])
    if act != "linear":
        return (f"activation={act!r} on the embedding: the Dense before L2Normalize must have no activation. "
                f"{'ReLU makes every coordinate ≥ 0' if act == 'relu' else 'It squashes the coordinates'}, "
                "so all embeddings crowd into one corner of the sphere (distances far below the 0…2 range "
                "a triplet loss needs). " + _ASKED)
    after = head[head.index(dense[0]) + 1:]
    extra = [layer for layer in after if _is_nonlinearity(layer)]
    if extra:
        return (f"a {type(extra[0]).__name__} layer comes after the Dense: the embedding must stay signed "
                "before (and after) the L2 normalisation. " + _ASKED)
    for layer in after:
        if type(layer).__name__ == "UnitNormalization":
            axis = layer.get_config().get("axis", -1)
            axis = axis if isinstance(axis, (list, tuple)) else [axis]
            if [a % 2 for a in axis] != [1]:
                return (f"the normalisation runs over axis={layer.get_config().get('axis')}: each embedding "
                        "(one row, the last axis) must have length 1, not each column of the batch.")
    return None


def _sign_problem(y) -> str | None:
    """Behaviour: an embedding is a signed direction. ``y`` (batch, D) outputs on a fixed batch."""
    y = np.asarray(y, dtype=np.float64)
    if np.all(y >= -1e-7):
        unit = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        cos = unit @ unit.T
        return ("every embedding coordinate is ≥ 0 on a test batch (pairwise cosine similarities "
                f"{np.round(cos[np.triu_indices(len(y), 1)], 3).tolist()}, all ≥ 0): a non-negative "
                "activation (ReLU, softmax, sigmoid) at the end squeezes all embeddings into one corner of "
                "the sphere. The Dense(embedding_dim) before L2Normalize has no activation.")
    return None


_LAMBDA = ("it uses a keras.layers.Lambda layer. A Lambda cannot be saved and loaded safely in Keras 3 "
           "(load_model(..., safe_mode=True) refuses it, because it would run arbitrary code). "
           "Use the L2Normalize layer from course_utils.models for the normalisation.")


def _has_lambda(path: str) -> bool:
    """Read the saved model's config (no code runs) and look for a Lambda layer."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except Exception:  # noqa: BLE001
        return False
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(config)
    return bool(found)


def _encoder_cases(rng) -> list[h.Case]:
    cases = []
    for input_shape, dim in [((64, 64, 3), 128), ((32, 32, 3), 16)]:
        cases.append(h.Case(args=(input_shape, dim), names=("input_shape", "embedding_dim"),
                            data={"input_shape": input_shape, "dim": dim,
                                  "check_inputs": rng.uniform(0, 255, size=(3, *input_shape)).astype(np.float32)},
                            probe_inputs={"model_inputs": rng.uniform(0, 255, size=(2, *input_shape)).astype(np.float32)}))
    return cases


def _is_keras_model(obs: dict) -> bool:
    return any(name.endswith(".Model") and "keras" in name for name in obs.get("mro", ()))


def _judge_encoder(ex, cases, outputs) -> h.Verdict:
    import keras

    records, models = outputs.get("records", []), outputs.get("models") or []
    total = len(cases)
    for i, record in enumerate(records):
        case = cases[i]
        input_shape, dim = case.data["input_shape"], case.data["dim"]
        if "raised" in record:
            raised = record["raised"]
            if raised.get("not_implemented"):
                return h.Verdict(False, "build_my_encoder is not implemented yet", "not_done")
            lines = [f"build_my_encoder raised {raised['summary']}", f"Inputs (test {i + 1} of {total}):",
                     h.show_inputs(case)]
            return h.Verdict(False, "\n".join(lines), "raised")
        prefix = f"build_my_encoder{input_shape, dim} is not right yet: "
        call = f"build_my_encoder({input_shape}, {dim})"
        obs = record["result"]
        if obs.get("kind") == "None":
            return h.Verdict(False, prefix + f"{call} returned None. Did you forget `return keras.Model(inputs, "
                                             "outputs)`?", "wrong_kind")
        if not _is_keras_model(obs):
            got = h.revive(obs)
            return h.Verdict(False, prefix + f"{call} should return a keras.Model, got {h.kind(got)}.", "wrong_kind")
        saved = models[i] if i < len(models) else None
        if not saved or "raised" in saved:
            why = saved["raised"]["summary"] if saved else "the probe saved nothing"
            return h.Verdict(False, prefix + f"model.save('my_encoder.keras') failed: {why}", "requirement")
        path = os.path.join(outputs.get("out_dir", "."), saved["path"])
        if _has_lambda(path):
            return h.Verdict(False, prefix + _LAMBDA, "requirement")
        try:
            model = keras.models.load_model(path, safe_mode=True)
        except Exception as err:  # noqa: BLE001
            return h.Verdict(False, prefix + "the saved model could not be loaded with keras.models.load_model(..., "
                             f"safe_mode=True): {summarise_exception(err)['summary']}. Custom layers must be "
                             "registered with @keras.saving.register_keras_serializable(); use "
                             "course_utils.models.L2Normalize.", "requirement")
        problem = _encoder_problem(model, input_shape, dim, case.data["check_inputs"])
        if problem is None and i == total - 1:
            problem = _reload_problem(model, case, saved)
        if problem:
            return h.Verdict(False, prefix + problem, "wrong_value")
    if len(records) != total:
        return h.Verdict(False, f"the grading probe returned {len(records)} results for {total} tests.", "probe_failed")
    return h.Verdict(True, f"✓ build_my_encoder: correct on {total} randomized tests "
                           "(layers as asked, signed unit-length embeddings, parameter count, save and reload).", "correct")


def _reload_problem(loaded, case, saved) -> str | None:
    record = saved.get("outputs") or {}
    if "result" not in record:
        return None
    x = case.probe_inputs["model_inputs"]
    before = h.as_array(h.revive(record["result"]))
    after = h.as_array(loaded(x, training=False))
    if before.shape != after.shape or not np.allclose(before, after, atol=1e-5):
        return ("after saving and loading, the model gives different embeddings: a layer does not save "
                "all its settings (get_config) or weights.")
    return None


BUILD_MY_ENCODER = h.JudgedExercise(
    grade_id="ex_build_my_encoder_check", lesson="03", name="build_my_encoder",
    answer_names=("build_my_encoder",), make_cases=_encoder_cases, judge_with=_judge_encoder,
    hints=_ENCODER_HINTS, reference=CF("course_utils.exercises.solutions", "build_my_encoder"),
    forbidden=(CF("course_utils.exercises.solutions", "build_my_encoder"), CF("course_utils.models", "build_encoder")),
    probes={"model": True})


def check_build_my_encoder(fn, seed: int | None = None):
    """Check ``build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128)`` → ``keras.Model``."""
    return h.check(BUILD_MY_ENCODER, fn, seed=seed)
