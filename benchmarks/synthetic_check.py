"""Evidence that the synthetic faces are fast, hard for pixels and learnable by a ConvNet.

    .venv/bin/python benchmarks/synthetic_check.py            # full check (~4 minutes)
    .venv/bin/python benchmarks/synthetic_check.py --budget 60 # shorter ConvNet training

Prints:
1. rendering speed at 64x64x3 (wall-clock and CPU-time images/s; this is single-threaded
   NumPy, so on a busy shared machine the CPU-time figure is the fairer one);
2. verification ROC-AUC of raw pixels (squared Euclidean distance between flattened float
   images) on balanced same/different pairs of held-out identities -- should be low;
3. verification ROC-AUC of a small ConvNet embedding trained with a softmax classifier on
   300 other identities for a fixed wall-clock budget -- should be high.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from course_utils.synthetic import make_synthetic_faces  # noqa: E402

HELD_OUT_START = 100_000   # evaluation identities: far away from the training ones


def balanced_pairs(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All same-identity pairs and as many random different-identity pairs: (a, b, is_same)."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    pick = rng.choice(np.flatnonzero(~same), same.sum(), replace=False)
    a = np.concatenate([i[same], i[pick]])
    b = np.concatenate([j[same], j[pick]])
    return a, b, np.r_[np.ones(same.sum()), np.zeros(same.sum())]


def verification_auc(features: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC of -(squared Euclidean distance) for telling same from different pairs."""
    a, b, is_same = balanced_pairs(labels)
    distance = ((features[a] - features[b]) ** 2).sum(axis=1)
    return float(roc_auc_score(is_same, -distance))


def check_speed(n_identities: int = 400, per_identity: int = 10) -> None:
    make_synthetic_faces(4, 4)   # warm-up (noise bank, imports)
    rates = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        images, _, _ = make_synthetic_faces(n_identities, per_identity, size=64)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rates.append((len(images) / wall, len(images) / cpu))
    best_wall = max(r[0] for r in rates)
    best_cpu = max(r[1] for r in rates)
    print(f"speed: {len(images)} images 64x64x3 -> best of 3: {best_wall:,.0f} images/s "
          f"wall-clock, {best_cpu:,.0f} images/s CPU time "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def check_pixels(n_identities: int, per_identity: int) -> None:
    images, labels, _ = make_synthetic_faces(n_identities, per_identity, start=HELD_OUT_START)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    print(f"pixel AUC: {verification_auc(pixels, labels):.3f} "
          f"({n_identities} held-out identities x {per_identity} images)")


def build_models(n_classes: int, widths=(32, 64, 128, 128), embedding_dim: int = 128,
                 stem_stride: int = 2):
    """(encoder, classifier): encoder image -> unit-norm embedding; classifier adds softmax.

    Four blocks Conv-BN-ReLU-MaxPool. The first conv is 5x5 with stride ``stem_stride``
    (2 by default): with stride 1 the net does ~4x more work at full resolution and only
    manages a few epochs in a 3-minute CPU budget.
    """
    import keras
    from keras import layers

    inputs = keras.Input((64, 64, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    for k, width in enumerate(widths):
        kernel, stride = (5, stem_stride) if k == 0 else (3, 1)
        x = layers.Conv2D(width, kernel, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(embedding_dim)(x)
    embedding = layers.UnitNormalization()(features)
    encoder = keras.Model(inputs, embedding, name="encoder")
    logits = layers.Dense(n_classes)(layers.ReLU()(layers.BatchNormalization()(features)))
    classifier = keras.Model(inputs, logits, name="classifier")
    return encoder, classifier


def check_convnet(budget_s: float, n_train: int, per_identity: int, batch: int, lr: float,
                  eval_identities: int, eval_per_identity: int, stem_stride: int = 2) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)

    x_train, y_train, _ = make_synthetic_faces(n_train, per_identity, seed=0)
    x_test, y_test, _ = make_synthetic_faces(eval_identities, eval_per_identity,
                                             start=HELD_OUT_START)
    encoder, classifier = build_models(n_train, stem_stride=stem_stride)
    classifier.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])

    class Budget(keras.callbacks.Callback):
        """Stops after ``budget_s`` seconds; the learning rate follows a cosine over that time."""

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            progress = min(1.0, (time.perf_counter() - self.start) / budget_s)
            cosine = 0.5 * (1 + np.cos(np.pi * progress))
            self.model.optimizer.learning_rate.assign(lr * (0.02 + 0.98 * cosine))

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.start > budget_s:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.perf_counter() - self.start
            auc = verification_auc(encoder.predict(x_test, batch_size=256, verbose=0), y_test)
            print(f"  epoch {epoch + 1}: {elapsed:5.0f} s, train acc {logs['accuracy']:.3f}, "
                  f"held-out AUC {auc:.3f}", flush=True)

    budget = Budget()
    t0 = time.perf_counter()
    classifier.fit(x_train, y_train, batch_size=batch, epochs=1000, shuffle=True, verbose=0,
                   callbacks=[budget])
    train_s = time.perf_counter() - t0
    auc = verification_auc(encoder.predict(x_test, batch_size=256, verbose=0), y_test)
    print(f"ConvNet AUC: {auc:.3f} after {train_s:.0f} s of training (incl. per-epoch evaluation) "
          f"on {n_train} identities x {per_identity} images; Conv 32(5x5, stride "
          f"{stem_stride})-64-128-128 + BN + ReLU + MaxPool, GAP, Dense 128, softmax; evaluated "
          f"on {eval_identities} held-out identities x {eval_per_identity} images, squared "
          f"distance between unit-norm embeddings")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=170, help="ConvNet training seconds")
    parser.add_argument("--train-identities", type=int, default=300)
    parser.add_argument("--per-identity", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--stem-stride", type=int, default=2, choices=(1, 2))
    parser.add_argument("--skip-convnet", action="store_true")
    args = parser.parse_args(argv)
    check_speed()
    check_pixels(200, 5)
    if not args.skip_convnet:
        check_convnet(args.budget, args.train_identities, args.per_identity, args.batch,
                      args.lr, eval_identities=200, eval_per_identity=5,
                      stem_stride=args.stem_stride)


if __name__ == "__main__":
    main()
