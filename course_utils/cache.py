"""A small, crash-safe cache of NumPy arrays under ``data/cache/``.

Decoding thousands of JPEGs takes a while; the result is saved once as ``.npz``. Writes are
atomic (write a temporary file, flush it to disk, then rename), and every file carries a
SHA-256 checksum of its arrays, so an interrupted run never leaves a corrupt cache: a bad or
half-written file is detected, deleted and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from course_utils.config import atomic_write, data_dir

_CHECKSUM_KEY = "__sha256__"


def cache_path(name: str) -> Path:
    folder = data_dir() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.npz"


def cache_key(*parts) -> str:
    """A short stable hash of the things a cached result depends on (paths, sizes, versions)."""
    text = json.dumps([str(p) for p in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``arrays`` (plain numeric/str arrays, no objects) with a checksum."""
    path = Path(path)
    payload = dict(arrays)
    payload[_CHECKSUM_KEY] = np.array(checksum(arrays))
    atomic_write(path, lambda f: np.savez(f, **payload))


def load_arrays(path: str | Path) -> dict[str, np.ndarray] | None:
    """Read a file written by :func:`save_arrays`; ``None`` if missing, corrupt or tampered."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError):
        return None
    stored = arrays.pop(_CHECKSUM_KEY, None)
    if stored is None or str(stored) != checksum(arrays):
        return None
    return arrays


def cached(name: str, build: Callable[[], dict[str, np.ndarray]], verbose: bool = True) -> dict[str, np.ndarray]:
    """Return the arrays cached as ``name``, building and saving them first if needed."""
    path = cache_path(name)
    arrays = load_arrays(path)
    if arrays is not None:
        return arrays
    if path.exists():
        if verbose:
            print(f"Cache file {path.name} is incomplete or corrupt; rebuilding it.")
        path.unlink(missing_ok=True)
    arrays = build()
    try:
        save_arrays(path, arrays)
    except OSError as err:  # a read-only or full disk should not stop the lesson
        if verbose:
            print(f"Note: could not write the cache {path} ({err}); continuing without it.")
    return arrays
