"""The encoder: a small FaceNet-style ConvNet, image → unit-length embedding.

``build_encoder()`` gives ``(batch, 64, 64, 3)`` images (0..255, uint8 or float) →
``(batch, 128) float32`` embeddings of unit L2 norm — float32 whatever the mixed-precision policy
it was built or trained under (the normalisation runs in float32, and :func:`as_float32` turns
a mixed-precision model into a plain float32 one for use). Because every embedding lies on the unit
sphere, squared distances between embeddings lie in [0, 4] and a triplet margin of 0.2 means
the same thing whatever the scale of the features.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from course_utils.config import quiet_tensorflow

quiet_tensorflow()   # before Keras starts TensorFlow: keeps its C++ start-up log out of notebooks
import keras
from keras import layers, ops

from course_utils.config import EMBEDDING_DIM, IMAGE_SIZE


@keras.saving.register_keras_serializable(package="course_utils")
class L2Normalize(layers.Layer):
    """Divide each row by its L2 norm: ``(batch, d)`` → ``(batch, d)`` with ‖row‖ = 1."""

    def __init__(self, epsilon: float = 1e-10, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), self.epsilon))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def conv_block(x, filters: int, convs: int, name: str, bn_momentum: float = 0.99):
    """``convs`` × (3×3 conv → batch-norm → ReLU), then 2×2 max-pooling (halves height and width)."""
    for k in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{k + 1}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{k + 1}")(x)
        x = layers.ReLU(name=f"{name}_relu{k + 1}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


HEADS = ("gap", "flatten")


def build_encoder(input_shape: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 3),
                  embedding_dim: int = EMBEDDING_DIM, widths: tuple[int, ...] = (64, 128, 256),
                  convs_per_block: int = 1, stem: int | None = 32, dropout: float = 0.0,
                  name: str = "encoder", bn_momentum: float = 0.99, head: str = "gap") -> keras.Model:
    """A small ConvNet encoder (Functional API).

    rescale (÷255) → optional **stem**: one 5×5 convolution with stride 2 (``stem`` filters;
    halves the resolution at once, like the first layer of FaceNet's networks — every later
    layer then does a quarter of the work, so training is ~3× faster on a CPU) → one conv block
    per entry of ``widths`` (each halves the resolution) → the **head** → optional dropout →
    Dense(``embedding_dim``) → :class:`L2Normalize`.

    ``head``: how the last feature maps ``(h, w, c)`` become one vector —
    ``"gap"``: global average pooling, ``(c,)``: one number per channel, *where* a feature fired
    is forgotten, and the model accepts any image size (lesson 3's encoder);
    ``"flatten"``: all ``h·w·c`` numbers, so the Dense layer can weigh each position — on
    aligned faces (the eyes are always in the same place) that is information, and it measured
    better on LFW (the course's trained recipe uses it; see ``Recipe.head``). Fixed image size.

    ``bn_momentum``: how slowly batch-norm's running mean/variance (used at inference) follow
    the batches (Keras' default 0.99 averages over ~100 steps).
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}; got {head!r}.")
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3); got {input_shape}.")
    if min(input_shape[:2]) < 2 ** (len(widths) + (1 if stem else 0)):
        raise ValueError(f"{len(widths)} pooling blocks need images of at least {2 ** len(widths)} px.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if stem:
        x = layers.Conv2D(stem, 5, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name="stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
    for b, filters in enumerate(widths):
        x = conv_block(x, filters, convs_per_block, name=f"block{b + 1}", bn_momentum=bn_momentum)
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(embedding_dim, name="projection")(x)
    # float32 even under a mixed policy (Keras' guidance for the last layer): the unit-norm
    # embedding is what every loss, metric and database compares.
    outputs = L2Normalize(name="l2_normalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_vgg_encoder(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), embedding_dim: int = EMBEDDING_DIM,
                      name: str = "vgg_encoder") -> keras.Model:
    """A VGG-style variant: two convolutions per block (more compute, a bigger receptive field)."""
    return build_encoder(input_shape, embedding_dim, widths=(64, 128, 256), convs_per_block=2, name=name)


def embed(model, images: np.ndarray, batch_size: int = 256, flip_average: bool = False) -> np.ndarray:
    """Embeddings of ``images`` ``(N, H, W, 3)`` → ``(N, D) float32``, unit norm.

    ``flip_average=True`` also embeds each mirrored image and averages the two (then
    renormalises): a cheap test-time augmentation that makes embeddings steadier.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, 3); got {x.shape}.")
    out = _predict(model, x, batch_size)
    if flip_average:
        out = out + _predict(model, x[:, :, ::-1], batch_size)
        out /= np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)
    return out


def _predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    chunks = [np.asarray(model(x[k:k + batch_size].astype(np.float32), training=False))
              for k in range(0, len(x), batch_size)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, model.output_shape[-1]), np.float32)


def all_layers(model: keras.Model):
    """Every layer of ``model``, the layers of nested models included (depth first)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def is_float32(model: keras.Model) -> bool:
    """True when every layer of ``model`` (nested models too) computes in float32."""
    return all(getattr(layer, "compute_dtype", "float32") == "float32" for layer in all_layers(model))


def as_float32(model: keras.Model) -> keras.Model:
    """``model`` itself when it already computes in float32, else a float32 copy with its weights.

    Mixed precision (``mixed_bfloat16``) is a training speed-up only: its variables are float32
    already, so the copy holds exactly the trained weights and gives float32 outputs at every
    layer — the same numbers on every CPU, with or without bfloat16 instructions.
    """
    if is_float32(model):
        return model

    def float32_layer(layer):
        config = layer.get_config()
        config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


def save_encoder(model: keras.Model, path: str | Path) -> Path:
    """Save in the native ``.keras`` format (atomic: a crash never leaves half a file).

    A mixed-precision model is saved as its float32 copy (:func:`as_float32`)."""
    model = as_float32(model)
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Save encoders with a .keras file name; got {path.name}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


def load_encoder(path: str | Path) -> keras.Model:
    """Load an encoder saved with :func:`save_encoder` (safe mode: no arbitrary code runs)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No saved encoder at {path}. Train one first (lesson 6) or check the path.")
    # compile=False: an encoder is used for embedding; its training loss (a course_utils class)
    # need not be rebuilt, so loading works without importing course_utils.training first.
    # as_float32: a file saved from a mixed-precision model by an older version still embeds in float32.
    return as_float32(keras.models.load_model(path, safe_mode=True, compile=False))


def pixel_embed(images: np.ndarray) -> np.ndarray:
    """The "pixel encoder" baseline: each image flattened and scaled to unit length.

    ``(N, H, W, 3)`` → ``(N, H*W*3) float32`` with ‖row‖ = 1, so squared distances lie in
    [0, 4] like a trained encoder's. Comparing faces this way is what an encoder must beat.
    """
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
