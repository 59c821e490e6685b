"""The exercise kit: one module per lesson with its checks and their catalogues of known mistakes.

| file                          | checks (``check_<exercise function>``)                        |
|-------------------------------|---------------------------------------------------------------|
| ``lesson04_triplet_loss.py``  | ``check_triplet_loss``, ``check_pairwise_squared_distances``  |

Also here: ``harness.py`` (what every check shares), ``protocol.py`` (how the grader runs an
answer in the notebook's kernel and judges it outside), ``solutions.py`` (the answers — try the
exercise first!) and ``loop_references.py`` (slow, obviously-correct loop versions).

``GRADED`` maps the nbgrader id of each check cell to its :class:`~.harness.Exercise`.
Importing this package does not import TensorFlow.
"""
from __future__ import annotations

from course_utils.exercises.harness import Exercise, grading_mode
from course_utils.exercises.lesson04_triplet_loss import (PAIRWISE_SQUARED_DISTANCES, TRIPLET_LOSS,
                                                          check_pairwise_squared_distances,
                                                          check_triplet_loss)
from course_utils.exercises.protocol import Verdict

EXERCISES: tuple[Exercise, ...] = (
    TRIPLET_LOSS, PAIRWISE_SQUARED_DISTANCES,
)
GRADED: dict[str, Exercise] = {ex.grade_id: ex for ex in EXERCISES}

__all__ = [
    "GRADED", "EXERCISES", "Exercise", "Verdict", "grading_mode",
    "check_triplet_loss", "check_pairwise_squared_distances",
]
