"""Nearest-neighbour search over enrolled embeddings: brute force, FAISS exact, FAISS approximate.

``FaceDatabase.identify`` compares a face with every enrolled embedding. That is one matrix
product — right for a class of 30, too slow for a city of a million. This module puts a
FAISS index (https://github.com/facebookresearch/faiss, package ``faiss-cpu``) behind the same
API:

* ``"brute"``  NumPy matrix product in float64 (no extra package; the reference).
* ``"exact"``  ``faiss.IndexFlatIP``: the same exhaustive search, in optimised float32 code.
  On unit vectors the inner product ranks exactly like the squared distance (d = 2 − 2·q·k).
* ``"hnsw"``   ``faiss.IndexHNSWFlat`` (inner product): a navigable small-world graph. Each query
  visits a few thousand keys instead of all of them — much faster at a million, but it can miss
  the true nearest key (recall@1 < 1). ``ef_search`` trades speed for recall.
* ``"auto"``   ``"brute"`` below ``EXACT_FROM`` keys, ``"exact"`` below ``APPROXIMATE_FROM``,
  ``"hnsw"`` above; ``"brute"`` whenever faiss is not installed.

Candidates from FAISS are re-scored in float64 from the stored keys, so distances are the same
numbers as the brute-force path (only which keys are *found* can differ, and only for ``hnsw``).

Saving uses FAISS's own binary index format (``faiss.write_index``; no pickle), in a file next
to the database's ``.npz``. TensorFlow is never imported here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from course_utils.config import atomic_write

__all__ = ["KINDS", "EXACT_FROM", "APPROXIMATE_FROM", "faiss_available", "resolve_kind", "KeyIndex",
           "nearest_people"]

KINDS = ("auto", "brute", "exact", "hnsw")
EXACT_FROM = 20_000          # keys: below this NumPy brute force is as fast and needs no package
APPROXIMATE_FROM = 200_000   # keys: from here an exact scan costs > ~10 ms per query on one core
HNSW_M = 32                  # graph neighbours per node (memory ≈ D·4 + M·8 bytes per key)
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


def faiss_available() -> bool:
    """True if ``import faiss`` works (package ``faiss-cpu``)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_kind(kind: str, n_keys: int) -> str:
    """``kind`` (one of ``KINDS``) and the number of keys → the kind actually used.

    ``"auto"`` picks by size; ``"exact"``/``"hnsw"`` need faiss and raise if it is missing.
    """
    if kind not in KINDS:
        raise ValueError(f"index must be one of {KINDS}; got {kind!r}.")
    if kind == "auto":
        if not faiss_available() or n_keys < EXACT_FROM:
            return "brute"
        return "exact" if n_keys < APPROXIMATE_FROM else "hnsw"
    if kind != "brute" and not faiss_available():
        raise ImportError(f"index={kind!r} needs FAISS: pip install faiss-cpu "
                          "(or use index='brute' / 'auto', which work without it).")
    return kind


class KeyIndex:
    """An index over ``keys`` ``(K, D)`` float32 unit vectors answering top-k inner-product queries.

    kind: ``"brute"``, ``"exact"`` or ``"hnsw"`` (resolve ``"auto"`` with ``resolve_kind`` first).
    """

    def __init__(self, keys: np.ndarray, kind: str = "exact", ef_search: int = HNSW_EF_SEARCH,
                 _faiss_index=None):
        if kind not in KINDS or kind == "auto":
            raise ValueError(f"KeyIndex kind must be 'brute', 'exact' or 'hnsw'; got {kind!r}.")
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        if keys.ndim != 2 or len(keys) == 0:
            raise ValueError(f"keys must be a non-empty (K, D) array; got shape {keys.shape}.")
        self.kind, self.keys, self.ef_search = kind, keys, int(ef_search)
        self._index = _faiss_index
        if kind != "brute" and self._index is None:
            self._index = self._build()
        if kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search

    def _build(self):
        import faiss
        dim = self.keys.shape[1]
        if self.kind == "exact":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(self.keys)
        return index

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``queries`` (Q, D) unit vectors → ``(dots (Q, k) float64, ids (Q, k) int64)``, best first.

        ``dots`` are recomputed in float64 from the stored keys; missing results (an HNSW search
        that found fewer than k keys) have id -1 and dot -inf.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = int(min(k, len(self.keys)))
        if self.kind == "brute":
            dots = queries.astype(np.float64) @ self.keys.astype(np.float64).T
            ids = np.argsort(-dots, axis=1, kind="stable")[:, :k]
        else:
            _, ids = self._index.search(queries, k)
            ids = ids.astype(np.int64)
        found = ids >= 0
        safe = np.where(found, ids, 0)
        dots = np.einsum("qd,qkd->qk", queries.astype(np.float64), self.keys[safe].astype(np.float64))
        dots = np.where(found, dots, -np.inf)
        order = np.argsort(-dots, axis=1, kind="stable")           # re-rank on the float64 scores
        return np.take_along_axis(dots, order, 1), np.take_along_axis(np.where(found, ids, -1), order, 1)

    # ---------------------------------------------------------------- save / load (no pickle)
    def save(self, path) -> Path | None:
        """Write the FAISS index to ``path`` (atomically). Brute force has nothing to save: returns None."""
        if self.kind == "brute":
            return None
        import faiss
        path = Path(path)
        # serialize_index gives the bytes, so the shared helper (fsync'd, same folder) writes them
        return atomic_write(path, lambda f: f.write(faiss.serialize_index(self._index).tobytes()))

    @classmethod
    def load(cls, path, keys: np.ndarray, ef_search: int = HNSW_EF_SEARCH) -> "KeyIndex":
        """Read an index written by ``save`` for these ``keys``; ValueError if it does not match them."""
        import faiss
        index = faiss.read_index(str(path))
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        if index.ntotal != len(keys) or index.d != keys.shape[1]:
            raise ValueError(f"{path} indexes {index.ntotal} keys of dimension {index.d} but the database has "
                             f"{len(keys)} of dimension {keys.shape[1]}; it is stale (delete it to rebuild).")
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "exact"
        return cls(keys, kind=kind, ef_search=ef_search, _faiss_index=index)


def nearest_people(index: KeyIndex, owner: np.ndarray, n_people: int, queries: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` closest distinct people for each query, through the key index.

    owner: ``(K,)`` person number of each key. Returns ``(people (Q, k) int64, distances (Q, k)
    float64)``, closest first, squared distances ``2 − 2·dot`` clipped to [0, 4]; a person whose
    keys were not found is padded with id -1 and distance inf.

    With reduce="min" a person's distance is that of their nearest key; the k-th closest person's
    nearest key ranks at most ``(k − 1)·max_keys_per_person + 1``, so that many keys suffice.
    """
    k = int(min(k, n_people))
    per_person = np.bincount(owner, minlength=n_people).max()
    dots, ids = index.search(queries, (k - 1) * int(per_person) + 1)
    people = np.full((len(queries), k), -1, dtype=np.int64)
    distances = np.full((len(queries), k), np.inf)
    for q in range(len(queries)):
        seen: list[int] = []
        for key, dot in zip(ids[q], dots[q]):
            if key < 0:
                break
            person = int(owner[key])
            if person in seen:
                continue
            people[q, len(seen)] = person
            distances[q, len(seen)] = float(np.clip(2.0 - 2.0 * dot, 0.0, 4.0))
            seen.append(person)
            if len(seen) == k:
                break
    return people, distances
