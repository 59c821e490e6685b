"""Shared fixtures. Real datasets are used when present on this machine and skipped otherwise."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def _dataset_dir(env: str, default: Path, marker: str) -> Path | None:
    path = Path(os.environ.get(env, default))
    return path if (path / marker).exists() else None


LFW_DIR = _dataset_dir("COURSE_TEST_LFW_DIR", SHARED / "lfw", "pairsDevTest.txt")
ATT_DIR = _dataset_dir("COURSE_TEST_ATT_DIR", SHARED / "att_faces", "s1")

needs_lfw = pytest.mark.skipif(LFW_DIR is None, reason=(
    "LFW not found: put the deep-funneled LFW folder (with pairs*.txt) at ../shared/data/lfw "
    "or set COURSE_TEST_LFW_DIR"))
needs_att = pytest.mark.skipif(ATT_DIR is None, reason=(
    "AT&T faces not found: put them at ../shared/data/att_faces or set COURSE_TEST_ATT_DIR"))


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test writes caches into its own temporary data folder, never into data/."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("COURSE_DATASET", raising=False)
    monkeypatch.delenv("COURSE_LFW_DIR", raising=False)
    monkeypatch.delenv("COURSE_ATT_DIR", raising=False)


@pytest.fixture(scope="session")
def lfw_cache_dir(tmp_path_factory):
    """One data folder for the LFW tests, so LFW is decoded once per test session."""
    return tmp_path_factory.mktemp("lfw-cache")


@pytest.fixture
def offline_network(monkeypatch):
    """Simulate a machine without internet: every socket connection fails at once."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)


def write_image(path: Path, size=(40, 50), mode="RGB", fmt=None, seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt)
    return path


# The longest files first (minutes each: kernels, a hub, a lesson run under bfloat16), so that
# on two pytest-xdist workers (course.py test) they overlap instead of finishing last on one.
LONGEST_FIRST = ("test_grading_attacks.py", "test_notebooks.py", "test_grading_nbgrader.py", "test_classroom.py",
                 "test_lesson04_triplet_loss.py", "test_lesson05_mining.py", "test_lesson03_encoder.py",
                 "test_backend_jax.py", "test_wheel.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))     # stable: the rest keep their order
