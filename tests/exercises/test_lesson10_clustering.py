"""Lesson 10 check: the clustering threshold."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import exercises as checks

from kit_helpers import failure


@pytest.fixture(scope="module")
def faces():
    """12 people × 6 tight embeddings (same person: d < 0.03; different people: d ≈ 2)."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 32))
    labels = np.repeat(np.arange(12), 6)
    x = centres[labels] / np.linalg.norm(centres[labels], axis=1, keepdims=True) + 0.015 * rng.normal(size=(72, 32))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_cluster_threshold_accepts_a_good_threshold(faces, capsys):
    x, labels = faces
    assert checks.check_choose_cluster_threshold(0.05, 0.05, x, labels) == 0.05
    assert checks.check_choose_cluster_threshold(0.12, 0.05, x, labels) == 0.12
    out = capsys.readouterr().out
    assert out.startswith("✓ cluster_threshold: At 0.05: 12 clusters for 12 people, pairwise F1 = 1.000")


@pytest.mark.parametrize("threshold, words", [
    (math.sqrt(0.05), "plain Euclidean distance"),
    (1 - 0.05 / 2, "SIMILARITY"),
    (3.9, "too large"),
    (0.001, "too small"),
    (-0.5, "must be a squared distance in (0, 4]"),
    (5.0, "must be a squared distance in (0, 4]"),
    ("0.05", "should be a number"),
])
def test_cluster_threshold_mistakes(faces, threshold, words):
    x, labels = faces
    message = failure(checks.check_choose_cluster_threshold, threshold, 0.05, x, labels)
    assert words in message, message
    if isinstance(threshold, float) and 0 < threshold <= 4:
        assert "clusters for 12 people, pairwise F1 =" in message or "1 cluster for 12 people" in message


def test_cluster_threshold_far_from_the_verification_threshold_is_explained(faces):
    x, labels = faces
    message = failure(checks.check_choose_cluster_threshold, 0.5, 0.05, x, labels)      # F1 fine, but 10× larger
    assert "more than 3 times the verification threshold" in message


def test_cluster_threshold_not_done(faces, monkeypatch, capsys):
    x, labels = faces
    assert checks.check_choose_cluster_threshold(None, 0.05, x, labels) == 0.05
    assert "continues with the verification threshold (0.05)" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^cluster_threshold is not implemented yet$"):
        checks.check_choose_cluster_threshold(None, 0.05, x, labels)
