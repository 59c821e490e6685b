"""Slow but obviously correct loop versions of ``course_utils.losses``.

Every function here is written with plain Python loops over the batch (NumPy only for the
per-pair vector arithmetic), straight from the definitions, and in float64. They share no
code with ``losses.py``: the tests compare the two, the benchmark times them, and a lesson
uses them to show what vectorisation buys.

Inputs: ``labels`` of shape ``(B,)`` or ``(B, 1)``; ``embeddings`` of shape ``(B, D)``
(NumPy arrays, lists, or anything ``np.asarray`` accepts, e.g. eager tensors).
Distances are squared Euclidean unless stated. Losses return ``(loss, stats)`` with plain
Python floats; ``stats`` has the keys ``fraction_active``, ``mean_positive_distance`` and
``mean_negative_distance`` (see ``losses.py`` for their meaning).
"""
from __future__ import annotations

import math

import numpy as np


def _rows(embeddings):
    return np.asarray(embeddings, dtype=np.float64)


def _ids(labels):
    """Labels as a list of Python ints (float labels are rounded)."""
    flat = np.asarray(labels).reshape(-1)
    return [int(round(float(x))) for x in flat]


def _mean(values):
    return sum(values) / len(values) if values else 0.0


# --- distances ---------------------------------------------------------------------------

def squared_distance_matrix(x) -> np.ndarray:
    """``(B, D)`` → ``(B, B)`` squared Euclidean distances by broadcasting in float64: the truth the
    checks of lessons 4, 5 and 10 compare with (fast enough for every case; the tests compare it
    with :func:`squared_distance_loop`)."""
    x = _rows(x)
    return np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)


def squared_distance_loop(a, b) -> float:
    """‖a − b‖² for two vectors."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.dot(diff, diff))


def pairwise_squared_distances_loop(embeddings):
    """``(B, B)`` float64 array with ``[i, j] = ‖e_i − e_j‖²``, one pair at a time."""
    rows = _rows(embeddings)
    n = len(rows)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = squared_distance_loop(rows[i], rows[j])
    return out


def pairwise_distances_loop(embeddings, squared=False):
    """``(B, B)`` Euclidean distances (or squared ones)."""
    d = pairwise_squared_distances_loop(embeddings)
    if squared:
        return d
    n = len(d)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = math.sqrt(d[i, j])
    return out


# --- the plain triplet loss --------------------------------------------------------------

def triplet_loss_loop(anchor, positive, negative, alpha=0.2) -> float:
    """Mean over rows of max(‖a−p‖² − ‖a−n‖² + α, 0)."""
    anchor, positive, negative = _rows(anchor), _rows(positive), _rows(negative)
    losses = []
    for a, p, n in zip(anchor, positive, negative):
        losses.append(max(squared_distance_loop(a, p) - squared_distance_loop(a, n) + alpha, 0.0))
    return _mean(losses)


# --- masks -------------------------------------------------------------------------------

def positive_mask_loop(labels):
    """``(B, B)`` bool: same id and not the same row."""
    ids = _ids(labels)
    n = len(ids)
    mask = np.zeros((n, n), dtype=bool)
    for a in range(n):
        for p in range(n):
            mask[a, p] = a != p and ids[a] == ids[p]
    return mask


def negative_mask_loop(labels):
    """``(B, B)`` bool: different ids."""
    ids = _ids(labels)
    n = len(ids)
    mask = np.zeros((n, n), dtype=bool)
    for a in range(n):
        for b in range(n):
            mask[a, b] = ids[a] != ids[b]
    return mask


def triplet_mask_loop(labels):
    """``(B, B, B)`` bool: a != p, id[a] == id[p], id[a] != id[n]."""
    ids = _ids(labels)
    n = len(ids)
    mask = np.zeros((n, n, n), dtype=bool)
    for a in range(n):
        for p in range(n):
            for k in range(n):
                mask[a, p, k] = a != p and ids[a] == ids[p] and ids[a] != ids[k]
    return mask


# --- statistics shared by the three strategies -------------------------------------------

def _pair_means(ids, d):
    n = len(ids)
    positive, negative = [], []
    for i in range(n):
        for j in range(n):
            if i != j and ids[i] == ids[j]:
                positive.append(d[i][j])
            elif ids[i] != ids[j]:
                negative.append(d[i][j])
    return {"mean_positive_distance": _mean(positive), "mean_negative_distance": _mean(negative)}


# --- the three mining strategies ---------------------------------------------------------

def batch_all_loop(labels, embeddings, margin=0.2):
    """Every valid triplet; loss = sum of their losses / number of triplets with loss > 0."""
    ids = _ids(labels)
    d = pairwise_squared_distances_loop(embeddings).tolist()   # nested lists of floats
    n = len(ids)
    total, num_active, num_valid = 0.0, 0, 0
    for a in range(n):
        for p in range(n):
            if p == a or ids[p] != ids[a]:
                continue
            for k in range(n):
                if ids[k] == ids[a]:
                    continue
                loss = max(d[a][p] - d[a][k] + margin, 0.0)
                num_valid += 1
                if loss > 0:
                    num_active += 1
                    total += loss
    stats = {"fraction_active": num_active / num_valid if num_valid else 0.0, "num_active": float(num_active)}
    stats.update(_pair_means(ids, d))
    return (total / num_active if num_active else 0.0), stats


def batch_hard_loop(labels, embeddings, margin=0.2, squared=True):
    """Per anchor: farthest positive vs closest negative; mean over anchors having both."""
    ids = _ids(labels)
    d2 = pairwise_squared_distances_loop(embeddings).tolist()
    n = len(ids)
    d = [[d2[i][j] if squared else math.sqrt(d2[i][j]) for j in range(n)] for i in range(n)]
    losses = []
    for a in range(n):
        pos = [d[a][p] for p in range(n) if p != a and ids[p] == ids[a]]
        neg = [d[a][k] for k in range(n) if ids[k] != ids[a]]
        if not pos or not neg:
            continue
        losses.append(max(max(pos) - min(neg) + margin, 0.0))
    active = [x for x in losses if x > 0]
    stats = {"fraction_active": len(active) / len(losses) if losses else 0.0}
    stats.update(_pair_means(ids, d2))
    return _mean(losses), stats


def semi_hard_loop(labels, embeddings, margin=0.2):
    """Per positive pair (a, p): closest negative farther than p, else the farthest negative.

    Pairs whose anchor has no negative in the batch are skipped. Mean over the other pairs.
    """
    ids = _ids(labels)
    d = pairwise_squared_distances_loop(embeddings).tolist()   # nested lists of floats
    n = len(ids)
    losses = []
    for a in range(n):
        negatives = [d[a][k] for k in range(n) if ids[k] != ids[a]]
        if not negatives:
            continue
        for p in range(n):
            if p == a or ids[p] != ids[a]:
                continue
            farther = [x for x in negatives if x > d[a][p]]
            chosen = min(farther) if farther else max(negatives)
            losses.append(max(d[a][p] - chosen + margin, 0.0))
    active = [x for x in losses if x > 0]
    stats = {"fraction_active": len(active) / len(losses) if losses else 0.0}
    stats.update(_pair_means(ids, d))
    return _mean(losses), stats


def triplet_loss_from_batch_loop(labels, embeddings, strategy="batch_all", margin=0.2):
    """Dispatch by strategy name, like ``losses.triplet_loss_from_batch``."""
    functions = {"batch_all": batch_all_loop, "batch_hard": batch_hard_loop,
                 "semi_hard": semi_hard_loop}
    if strategy not in functions:
        raise ValueError(f"Unknown strategy {strategy!r}; expected one of {sorted(functions)}.")
    return functions[strategy](labels, embeddings, margin)
