"""Clustering faces by a distance threshold ("which photos show the same person?").

The threshold means exactly what it means in verification: two faces whose **squared**
Euclidean distance is ``<= threshold`` count as "the same person". So a threshold tuned on
verification pairs (``metrics.best_threshold``) can be reused here as it is.

* ``method="agglomerative"`` (default): scikit-learn's ``AgglomerativeClustering`` on the
  squared-distance matrix. Start with one cluster per face, keep merging the two closest
  clusters while their linkage distance is ``<= threshold``. ``linkage`` says how far apart
  two clusters are: ``"single"`` (closest pair of faces — chains; equals the connected
  components of the graph "distance <= threshold"), ``"complete"`` (farthest pair — every
  pair inside a cluster is within the threshold), ``"average"`` (mean over pairs — in between).
* ``method="dbscan"``: scikit-learn's ``DBSCAN`` with ``eps = threshold``; faces in sparse
  regions ("noise") each become their own cluster of one.

Memory: both build the full ``(N, N)`` distance matrix, so keep N to a few thousand faces.
This module imports only NumPy and scikit-learn (no TensorFlow).
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering

from course_utils.metrics import as_embeddings, squared_distance_matrix

__all__ = ["cluster_embeddings", "cluster_sizes"]

LINKAGES = ("average", "complete", "single")
METHODS = ("agglomerative", "dbscan")


def _check_options(threshold, linkage: str, method: str, min_samples) -> float:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if linkage == "ward":
        raise ValueError("linkage='ward' cannot be used here: Ward works on raw feature vectors with plain "
                         "Euclidean distance, not on a precomputed squared-distance matrix, so its threshold would "
                         f"not mean what a verification threshold means. Use one of {LINKAGES} "
                         "('average' is a good default).")
    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {LINKAGES}; got {linkage!r}.")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number (a squared distance, e.g. 1.0); got {threshold!r}.") from None
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive squared distance (between 0 and 4 for unit embeddings, "
                         f"e.g. the one from metrics.best_threshold); got {threshold}.")
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise ValueError(f"min_samples must be an int >= 1 (DBSCAN: neighbours, itself included, needed to "
                         f"start a cluster); got {min_samples!r}.")
    return threshold


def _relabel_in_order(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, 2, … in the order their first face appears (stable, readable ids)."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank_of_cluster = np.argsort(np.argsort(first_index))
    return rank_of_cluster[inverse].astype(np.int64)


def _noise_to_singletons(labels: np.ndarray) -> np.ndarray:
    """DBSCAN marks noise with −1; give each noise point a fresh cluster of its own."""
    labels = labels.copy()
    noise = labels == -1
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(int(noise.sum()))
    return labels


def cluster_embeddings(embeddings, threshold: float, linkage: str = "average",
                       method: str = "agglomerative", min_samples: int = 2) -> np.ndarray:
    """Group faces so that faces of the same person share a label.

    embeddings: ``(N, D)`` float (unit-length rows). threshold: squared distance, same
    meaning as in verification (``<=`` joins). linkage: ``"average" | "complete" | "single"``
    (agglomerative only). method: ``"agglomerative" | "dbscan"``. min_samples: DBSCAN only.
    Returns: ``(N,)`` int64 labels 0 … K−1, numbered in order of first appearance; never −1.
    """
    threshold = _check_options(threshold, linkage, method, min_samples)
    x = as_embeddings(embeddings, "embeddings")
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    distances = squared_distance_matrix(x)
    if method == "dbscan":
        model = DBSCAN(eps=threshold, min_samples=int(min_samples), metric="precomputed")
        labels = _noise_to_singletons(model.fit_predict(distances))
    else:
        # scikit-learn stops merging at linkage distance >= distance_threshold; nudging the
        # threshold up by one float makes it "merge while <= threshold", like verification.
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=np.nextafter(threshold, np.inf),
                                        metric="precomputed", linkage=linkage)
        labels = model.fit_predict(distances)
    return _relabel_in_order(labels)


def cluster_sizes(labels) -> list[tuple[int, int]]:
    """``[(cluster_id, size), …]`` biggest cluster first (ties: smaller id first). Plain ints."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one cluster id per face); got shape {labels.shape}.")
    ids, counts = np.unique(labels, return_counts=True)
    order = np.lexsort((ids, -counts))
    return [(ids[i].item(), int(counts[i])) for i in order]


def clusters_at(embeddings, threshold: float, linkage: str = "average", method: str = "agglomerative") -> np.ndarray:
    """Cluster labels at ``threshold`` (``cluster_embeddings``; ``<=`` joins)."""
    return cluster_embeddings(embeddings, threshold, linkage=linkage, method=method)


def cluster_rows(labels, max_rows: int = 8, max_per_row: int = 10, min_size: int = 1) -> list[list[int]]:
    """Which faces to show: one row per cluster, biggest cluster first (ties: smaller cluster id).

    Each row lists up to ``max_per_row`` face indices of one cluster, in index order. At most
    ``max_rows`` rows; clusters smaller than ``min_size`` are left out. Plain ints.
    """
    labels = np.asarray(labels)
    rows = []
    for cluster_id, size in cluster_sizes(labels):
        if len(rows) >= max_rows or size < min_size:
            break
        rows.append(np.flatnonzero(labels == cluster_id)[:max_per_row].tolist())
    return rows
