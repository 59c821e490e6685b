"""Reference solutions — try the exercise first!

These are the answers to the exercises of the lesson notebooks. The checks (``course_utils.exercises``) compare
your code with them, and hands one of them back when an exercise is not done yet, so that the
rest of the lesson can still run.

Where the package already implements an exercise (the triplet loss, the pairwise distances,
the masks, batch-hard mining, the FAR threshold, the L2-normalisation layer) the solution *is*
that function: it is imported here, not copied, so there is one implementation to trust.

Conventions (as everywhere in the course): embeddings are ``(N, D)`` float rows of unit
length; the distance between two faces is the **squared** Euclidean distance; two faces are
"the same person" when ``distance <= threshold``.

| lesson | exercise                                         | solution                           |
|--------|--------------------------------------------------|------------------------------------|
| 1      | ``verify``, ``identify``                         | below                              |
| 2      | ``split_people``                                 | below                              |
| 3      | ``build_my_encoder``                             | below (uses ``models.L2Normalize``)|
| 4      | ``triplet_loss``, ``pairwise_squared_distances`` | ``course_utils.losses``            |
| 5      | ``positive_mask``, ``negative_mask``             | ``course_utils.losses``            |
| 5      | ``batch_hard_triplet_loss`` (loss only)          | wraps ``losses.batch_hard_triplet_loss`` |
| 7      | ``nearest_neighbours``                           | below                              |
| 8      | ``threshold_for_far``, ``frr_at``                | ``course_utils.metrics``           |
| 9      | ``who_is_it``                                    | below                              |
| 10     | ``cluster_threshold_for_far``                    | below                              |
"""
from __future__ import annotations

import numpy as np
import keras
from keras import layers

from course_utils.database import UNKNOWN
from course_utils.losses import (  # noqa: F401  (re-exported: these are the solutions)
    negative_mask,
    pairwise_squared_distances,
    positive_mask,
    triplet_loss,
)
from course_utils.losses import batch_hard_triplet_loss as _batch_hard_with_stats
from course_utils.metrics import confusion_at, threshold_for_far  # noqa: F401
from course_utils.models import L2Normalize

__all__ = [
    "UNKNOWN",
    "verify", "identify",
    "split_people",
    "build_my_encoder",
    "triplet_loss", "pairwise_squared_distances",
    "positive_mask", "negative_mask", "batch_hard_triplet_loss",
    "nearest_neighbours",
    "threshold_for_far", "frr_at",
    "who_is_it",
]


# ----------------------------------------------------------------------------------------------
# Lesson 1: verification and identification with a database of embeddings
# ----------------------------------------------------------------------------------------------

def _embed_one(image, encoder) -> np.ndarray:
    """One ``(H, W, 3)`` image → its ``(D,)`` embedding (float64).

    The encoder works on *batches* ``(N, H, W, 3)``, so we add a batch axis of size 1 with
    ``[None]`` and take row 0 of the result.
    """
    batch = np.asarray(image, dtype=np.float32)[None]
    return np.asarray(encoder(batch), dtype=np.float64)[0]


def verify(image, claimed_name, database, encoder, threshold):
    """Is ``image`` really ``claimed_name``?

    Args:
        image: ``(H, W, 3)`` face image.
        claimed_name: a key of ``database``.
        database: dict ``name -> (D,) embedding``.
        encoder: callable ``(N, H, W, 3) -> (N, D)``.
        threshold: squared-distance threshold.

    Returns:
        ``(accepted, distance)``: ``distance`` (a float) is the squared distance between the
        image's embedding and the claimed person's; ``accepted`` is ``distance <= threshold``.
    """
    embedding = _embed_one(image, encoder)
    key = np.asarray(database[claimed_name], dtype=np.float64)
    distance = float(np.sum((embedding - key) ** 2))
    return bool(distance <= threshold), distance


def identify(image, database, encoder, threshold):
    """Who is in ``image``?

    Returns:
        ``(name, distance)``: the closest person in ``database`` and the squared distance to
        them, or ``("unknown", distance)`` when even the closest person is farther than
        ``threshold``.
    """
    embedding = _embed_one(image, encoder)
    best_name, best_distance = None, float("inf")
    for name, key in database.items():
        distance = float(np.sum((embedding - np.asarray(key, dtype=np.float64)) ** 2))
        if distance < best_distance:
            best_name, best_distance = name, distance
    if best_distance > threshold:
        return UNKNOWN, best_distance
    return best_name, best_distance


# ----------------------------------------------------------------------------------------------
# Lesson 2: split people, not images
# ----------------------------------------------------------------------------------------------

def split_people(labels, test_fraction=0.25, seed=0):
    """Split a dataset into train and test so that nobody appears on both sides.

    Args:
        labels: ``(N,)`` identity id of each image.
        test_fraction: share of the *people* that go to the test side.
        seed: the same seed always gives the same split.

    Returns:
        ``(train_idx, test_idx)``: int arrays of *image* indices (every image exactly once).
    """
    labels = np.asarray(labels).reshape(-1)
    people = np.unique(labels)
    rng = np.random.default_rng(seed)
    n_test = min(max(1, round(test_fraction * len(people))), len(people) - 1)
    test_people = rng.choice(people, size=n_test, replace=False)
    in_test = np.isin(labels, test_people)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


# ----------------------------------------------------------------------------------------------
# Lesson 3: the encoder
# ----------------------------------------------------------------------------------------------

def build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128):
    """Images ``(batch, *input_shape)`` with values 0..255 → unit-length ``(batch, embedding_dim)``.

    rescale (÷255) → 3 × [3×3 conv (no bias) → batch-norm → ReLU → 2×2 max-pool]
    → global average pooling → Dense(embedding_dim) → L2Normalize.
    (``course_utils.models.build_encoder`` builds the same network with more options.)
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for width in (32, 64, 128):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)   # BN adds the offset
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(embedding_dim)(x)
    outputs = L2Normalize()(x)
    return keras.Model(inputs, outputs, name="my_encoder")


# ----------------------------------------------------------------------------------------------
# Lesson 5 (optional): batch-hard mining, the loss only
# ----------------------------------------------------------------------------------------------

def batch_hard_triplet_loss(labels, embeddings, margin=0.2):
    """Batch-hard triplet loss (scalar tensor): per anchor, farthest positive vs closest
    negative, ``max(d_pos − d_neg + margin, 0)``, averaged over anchors that have both.

    ``course_utils.losses.batch_hard_triplet_loss`` computes it (and statistics); this returns
    only the loss, as the exercise asks.
    """
    return _batch_hard_with_stats(labels, embeddings, margin)[0]


# ----------------------------------------------------------------------------------------------
# Lesson 7: nearest neighbours
# ----------------------------------------------------------------------------------------------

def nearest_neighbours(query, gallery, k=5):
    """Indices of the ``k`` gallery rows closest to ``query``, closest first.

    Args:
        query: ``(D,)`` embedding. gallery: ``(M, D)`` embeddings. k: how many.

    Returns:
        ``(k,)`` int array of row indices, by increasing squared distance.
    """
    query = np.asarray(query, dtype=np.float64).reshape(-1)
    gallery = np.asarray(gallery, dtype=np.float64)
    distances = np.sum((gallery - query) ** 2, axis=1)
    return np.argsort(distances, kind="stable")[:k]


# ----------------------------------------------------------------------------------------------
# Lesson 8: operating points
# ----------------------------------------------------------------------------------------------

def frr_at(distances, same, threshold):
    """False reject rate at ``threshold``: rejected genuine pairs / all genuine pairs.

    A pair is rejected when ``distance > threshold`` (accepted when ``<=``).
    ``threshold_for_far`` (the other lesson-8 exercise) is ``course_utils.metrics.threshold_for_far``.
    """
    return float(confusion_at(distances, same, threshold)["frr"])


# ----------------------------------------------------------------------------------------------
# Lesson 9: who is it? (several photos per person)
# ----------------------------------------------------------------------------------------------

def who_is_it(embedding, db_embeddings, db_names, threshold, k=3):
    """Recognise one face against a database with several rows per person.

    Args:
        embedding: ``(D,)`` query. db_embeddings: ``(M, D)``. db_names: ``M`` names (a person
            may own several rows). threshold: squared-distance threshold. k: list length.

    Returns:
        ``(name, top_k)``: ``top_k`` lists up to ``k`` ``(name, distance)`` pairs for distinct
        people, closest first, where a person's distance is the minimum over their rows;
        ``name`` is the first of them, or ``"unknown"`` if its distance > threshold.
    """
    query = np.asarray(embedding, dtype=np.float64).reshape(-1)
    keys = np.asarray(db_embeddings, dtype=np.float64)
    distances = np.sum((keys - query) ** 2, axis=1)
    best = {}
    for name, distance in zip(db_names, distances):
        if name not in best or distance < best[name]:
            best[name] = float(distance)
    top_k = sorted(best.items(), key=lambda item: item[1])[:k]
    name, distance = top_k[0]
    return (name if distance <= threshold else UNKNOWN), top_k


# ----------------------------------------------------------------------------------------------
# Lesson 10: the clustering cut from a wrong-merge budget
# ----------------------------------------------------------------------------------------------

def cluster_threshold_for_far(embeddings, labels, far, linkage="average"):
    """The largest clustering threshold whose merge FAR on labelled people is at most ``far``.

    Args:
        embeddings: ``(N, D)`` embeddings of validation photos. labels: ``N`` person ids (any
            comparable values). far: budget in [0, 1], the share of pairs of DIFFERENT people
            that may be merged. linkage: ``"single"`` | ``"average"`` | ``"complete"``.

    Returns:
        float squared distance ``t``: the largest linkage distance between two different people
        such that the share of people pairs with linkage distance ``<= t`` is ``<= far``;
        ``-inf`` when even the closest pair of people is over budget.
    """
    reduce = {"single": np.min, "average": np.mean, "complete": np.max}[linkage]
    x = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    sq = np.sum(x ** 2, axis=1)
    d = np.maximum(sq[:, None] - 2.0 * x @ x.T + sq[None, :], 0.0)
    people = np.unique(labels)
    groups = np.array([reduce(d[labels == p][:, labels == q])
                       for i, p in enumerate(people) for q in people[i + 1:]])
    merged = np.searchsorted(np.sort(groups), groups, side="right")   # people pairs with distance <= each
    ok = merged / len(groups) <= far
    return float(groups[ok].max()) if ok.any() else -np.inf
