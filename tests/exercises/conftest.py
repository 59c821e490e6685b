"""Shared helpers of the exercise-kit tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def normal_mode(monkeypatch):
    """Tests run outside grading mode unless they switch it on."""
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
