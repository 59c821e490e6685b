"""P×K batches for triplet training: P people, K images of each, with light augmentation.

Online triplet mining needs positives *inside* every batch, so batches are not drawn image by
image: we pick P identities, then K images of each. :class:`PKSampler` is a
``keras.utils.PyDataset``, so one ``model.fit(sampler, epochs=...)`` call trains on it (much
faster on a CPU than many small ``fit`` calls).

A batch is ``(x, y)``: ``x`` is ``(P*K, H, W, 3) float32`` in 0..255 (the encoder rescales),
``y`` is ``(P*K,) int32`` identity labels, grouped: ``[a,a,a,a, b,b,b,b, ...]``.
"""
from __future__ import annotations

import numpy as np

from course_utils.config import quiet_tensorflow

quiet_tensorflow()   # before Keras starts TensorFlow: keeps its C++ start-up log out of notebooks
import keras

from course_utils.datasets import FaceSet, indices_by_label


class PKSampler(keras.utils.PyDataset):
    """Batches of ``P`` people × ``K`` images from ``faces`` (a :class:`FaceSet`).

    Args:
        faces: training faces; people with fewer than ``min_images`` images are skipped.
        P, K: people per batch and images per person (batch size ``P*K``).
        steps_per_epoch: batches per epoch (default: about one pass over the eligible images).
        augment: random horizontal flip, shifts of up to ``max_shift`` pixels, brightness and
            contrast jitter — the same face never looks exactly the same twice.
        seed: batches depend only on ``(seed, epoch, batch index)``, so training is repeatable.
        min_images: people need at least this many images (≥ 2: a positive needs a second photo).
            People with fewer than ``K`` images repeat some (augmentation makes them differ).
    """

    def __init__(self, faces: FaceSet, P: int = 16, K: int = 4, steps_per_epoch: int | None = None,
                 augment: bool = True, seed: int = 0, min_images: int = 2, max_shift: int = 4, **kwargs):
        super().__init__(**kwargs)
        if P < 2:
            raise ValueError(f"P (people per batch) must be at least 2 so every anchor has negatives; got {P}.")
        if K < 2:
            raise ValueError(f"K (images per person) must be at least 2 so every anchor has a positive; got {K}.")
        if min_images < 2:
            raise ValueError("min_images must be at least 2: a person with one photo has no positive pair.")
        counts = faces.counts()
        self.eligible = np.flatnonzero(counts >= min_images)
        if len(self.eligible) < P:
            raise ValueError(
                f"Only {len(self.eligible)} people have at least {min_images} images, but P={P} people are "
                f"needed per batch. Use a smaller P, or add people with several photos each "
                f"(images per person here: max {counts.max() if len(counts) else 0})."
            )
        self.faces, self.P, self.K = faces, P, K
        self.augment, self.seed, self.max_shift = augment, seed, max_shift
        self.by_id = indices_by_label(faces.labels, faces.n_identities)
        n_eligible_images = int(counts[self.eligible].sum())
        self.steps = steps_per_epoch or max(1, n_eligible_images // (P * K))
        self.epoch = 0           # index of the epoch being drawn (set by on_epoch_begin)
        self._epochs_started = 0

    def __len__(self) -> int:
        return self.steps

    def batch_indices(self, index: int) -> np.ndarray:
        """``(P*K,)`` image indices of batch ``index`` in the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        people = rng.choice(self.eligible, size=self.P, replace=False)
        chosen = [rng.choice(self.by_id[p], size=self.K, replace=len(self.by_id[p]) < self.K) for p in people]
        return np.concatenate(chosen)

    def __getitem__(self, index: int):
        idx = self.batch_indices(index)
        x = self.faces.images[idx].astype(np.float32)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            x = augment_batch(x, rng, self.max_shift)
        return x, self.faces.labels[idx].astype(np.int32)

    def on_epoch_begin(self) -> None:
        """Keras calls this before each epoch: epoch k draws batches from seed (seed, k, ·)."""
        self.epoch = self._epochs_started
        self._epochs_started += 1


def augment_batch(x: np.ndarray, rng: np.random.Generator, max_shift: int = 4) -> np.ndarray:
    """Random flip, shift (edge-padded), brightness and contrast on ``(B, H, W, 3)`` float 0..255.

    Per image, in this order: mirror with probability ½; shift by up to ``max_shift`` pixels each
    way (the border pixels repeat); then ``(x − mean)·contrast + mean + brightness`` with contrast
    in [0.8, 1.2] and brightness in [−20, 20], clipped to 0..255. Returns a new float32 array
    (``x`` is not changed). Done with one pad and views (a flip is a reversed view of the
    padded image), because it runs for every batch between two training steps.
    """
    b, h, w, _ = x.shape
    flip = rng.random(b) < 0.5
    if max_shift > 0:
        padded = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
        dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, b))
    else:
        padded, dy, dx = x, np.zeros(b, int), np.zeros(b, int)
    out = np.empty((b, h, w, x.shape[-1]), np.float32)
    for k in range(b):          # mirroring the padded image = padding the mirrored image (same margins)
        rows = padded[k, dy[k]:dy[k] + h]
        out[k] = (rows[:, ::-1] if flip[k] else rows)[:, dx[k]:dx[k] + w]
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    contrast = rng.uniform(0.8, 1.2, size=(b, 1, 1, 1)).astype(np.float32)
    brightness = rng.uniform(-20, 20, size=(b, 1, 1, 1)).astype(np.float32)
    out *= contrast
    out += mean * (1 - contrast) + brightness
    return np.clip(out, 0, 255, out=out)


def random_triplets(faces: FaceSet, n: int, seed: int = 0) -> np.ndarray:
    """``(n, 3) int`` image indices (anchor, positive, negative), drawn at random as in lesson 4:
    a person with at least two photos, two of them, then one photo of anyone else. The same
    ``seed`` gives the same triplets (the lesson-4 version draws them in the same order)."""
    rng = np.random.default_rng(seed)
    by_person = {k: np.flatnonzero(faces.labels == k) for k in np.flatnonzero(faces.counts() >= 2)}
    if not by_person or faces.n_identities < 2:
        raise ValueError("random_triplets needs at least one person with 2 photos and one other person")
    people = np.array(sorted(by_person))
    out = []
    for _ in range(n):
        who = rng.choice(people)
        a, p = rng.choice(by_person[who], size=2, replace=False)
        other = rng.choice(np.setdiff1d(np.arange(faces.n_identities), [who]))
        out.append((a, p, rng.choice(np.flatnonzero(faces.labels == other))))
    return np.array(out, dtype=int).reshape(n, 3)
