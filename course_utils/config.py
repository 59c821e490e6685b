"""Paths, seeds, quick mode and a quiet TensorFlow start-up.

Environment variables (all optional):

``COURSE_DATA_DIR``  where caches and checkpoints go (default: ``data/`` in the repository)
``COURSE_LFW_DIR``   a local LFW folder (``Name/Name_0001.jpg`` layout + ``pairs*.txt``)
``COURSE_ATT_DIR``   a local AT&T faces folder (``s1/1.pgm`` layout)
``COURSE_OFFLINE``   ``1`` = never try to download (classrooms without internet)
``COURSE_QUICK``     ``1`` = shrink training budgets (used by the test suite)
"""
from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 64          # the course's default input: 64×64×3
EMBEDDING_DIM = 128      # the course's default embedding size
DEFAULT_SEED = 42


def data_dir() -> Path:
    """Folder for caches, downloads and checkpoints (created on demand)."""
    path = Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


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
