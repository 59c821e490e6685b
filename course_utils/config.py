"""Paths, seeds, quick mode and a quiet TensorFlow start-up.

Environment variables (all optional):

``COURSE_DATA_DIR``  where caches and checkpoints go (default: ``data/`` in the course folder;
                     installed from a wheel, a per-user cache folder: see :func:`data_dir`)
``COURSE_LFW_DIR``   a local LFW folder (``Name/Name_0001.jpg`` layout + ``pairs*.txt``)
``COURSE_ATT_DIR``   a local AT&T faces folder (``s1/1.pgm`` layout)
``COURSE_OFFLINE``   ``1`` = never try to download (classrooms without internet)
``COURSE_QUICK``     ``1`` = shrink training budgets (used by the test suite)
``COURSE_DATASET``   force a dataset (``synthetic``, ``att``, ``lfw``)
``COURSE_PRECISION`` force a training precision instead of ``"auto"``
``COURSE_STATIC_WIDGETS`` ``1`` = explorers render a PNG only (no live widget)
``COURSE_GRADING``   ``1`` = running under the grader
"""
from __future__ import annotations

import contextlib
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 64          # the course's default input: 64×64×3
EMBEDDING_DIM = 128      # the course's default embedding size
DEFAULT_SEED = 42


def data_dir() -> Path:
    """Folder for caches, downloads and checkpoints (created on demand).

    ``COURSE_DATA_DIR`` if set; else ``data/`` in the course folder when the package runs from
    one (a clone, an editable install); else — installed from a wheel, where ``REPO_ROOT`` is
    ``site-packages`` — a per-user folder: ``%LOCALAPPDATA%\\facenet-course`` on Windows,
    ``~/Library/Caches/facenet-course`` on macOS, ``$XDG_CACHE_HOME/facenet-course`` (default
    ``~/.cache/facenet-course``) elsewhere. Never inside ``site-packages``."""
    path = Path(os.environ.get("COURSE_DATA_DIR") or _default_data_dir()).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _default_data_dir() -> Path:
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir():
        return REPO_ROOT / "data"
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "facenet-course"


def atomic_write(final_path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file in ``final_path``'s folder, flush it to disk, then
    ``os.replace`` it onto ``final_path``.

    The one way the library writes a file that must never be seen half-written: a crash or an
    exception leaves either the old file or the new one (the temporary file is removed on error).
    Same folder, because ``os.replace`` is only atomic within one file system."""
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=final_path.parent, prefix=final_path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_name, final_path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return final_path


def env_setting(name: str, default: str = "") -> str:
    """The ``COURSE_*`` setting ``name``, stripped of spaces (``default`` when unset or blank).

    Every ``COURSE_*`` variable is read here or through :func:`env_flag`, so the list above is
    the whole of the course's environment."""
    return os.environ.get(name, "").strip() or default


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` reads 1/true/yes/on (any case)."""
    return env_setting(name).lower() in {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when the test suite runs the notebooks (``COURSE_QUICK=1``): budgets shrink."""
    return env_flag("COURSE_QUICK")


def offline() -> bool:
    return env_flag("COURSE_OFFLINE")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter before it is imported (idempotent, cheap once done).

    Every course module that needs Keras calls this right before ``import keras``, so
    ``import course_utils`` and the NumPy-only modules never start TensorFlow, yet a notebook
    gets no start-up log whichever TF-backed module it imports first.

    TensorFlow prints oneDNN/absl notices straight to file descriptor 2; inside Jupyter those
    land in the first cell that imports it and make notebook tests fail. We set the log level
    and import TensorFlow once with descriptor 2 pointed at ``/dev/null``. If the import fails
    we import again without the redirect so the real error is shown.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" in sys.modules or os.environ["KERAS_BACKEND"] != "tensorflow":
        return
    try:
        with _stderr_fd_to_devnull():
            import tensorflow  # noqa: F401
    except ImportError:
        import tensorflow  # noqa: F401  (re-raise with its message visible)
    import logging
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@contextlib.contextmanager
def _stderr_fd_to_devnull():
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):
        fd = 2
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def set_seed(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and Keras (TensorFlow) so a notebook gives the same numbers twice."""
    import numpy as np

    quiet_tensorflow()
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
