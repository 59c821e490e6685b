"""The exercise kit: one module per lesson with its checks and their catalogues of known mistakes.

| file                            | checks (``check_<exercise function>``)                            |
|---------------------------------|-------------------------------------------------------------------|
| ``lesson01_verification.py``    | ``check_verify``, ``check_identify``                              |
| ``lesson02_face_data.py``       | ``check_split_people``                                            |
| ``lesson03_encoder.py``         | ``check_build_my_encoder``                                        |
| ``lesson04_triplet_loss.py``    | ``check_triplet_loss``, ``check_pairwise_squared_distances``      |
| ``lesson05_mining.py``          | ``check_positive_mask``, ``check_negative_mask``,                 |
|                                 | ``check_batch_hard_triplet_loss``                                 |
| ``lesson06_recipe.py``          | ``check_my_recipe``                                               |
| ``lesson06_training.py``        | ``check_describe_experiment``                                     |
| ``lesson07_embedding_space.py`` | ``check_nearest_neighbours``                                      |
| ``lesson08_threshold.py``       | ``check_threshold_for_far``, ``check_frr_at``                     |
| ``lesson09_database.py``        | ``check_who_is_it``                                               |
| ``lesson10_clustering.py``      | ``check_cluster_threshold_for_far``                               |

Also here: ``harness.py`` (what every check shares: cases, mistakes, judging, messages),
``protocol.py`` (how the grader runs an answer in the notebook's kernel and judges it outside),
``solutions.py`` (the answers — try the exercise first!) and ``loop_references.py`` (slow,
obviously-correct loop versions to compare with).

``GRADED`` maps the nbgrader id of each check cell to its :class:`~.harness.Exercise`.
Importing this package does not import TensorFlow (``solutions`` does: import it explicitly).
"""
from __future__ import annotations

from course_utils.exercises.harness import Exercise, grading_mode
from course_utils.exercises.lesson01_verification import IDENTIFY, VERIFY, check_identify, check_verify
from course_utils.exercises.lesson02_face_data import SPLIT_PEOPLE, check_split_people
from course_utils.exercises.lesson03_encoder import BUILD_MY_ENCODER, check_build_my_encoder
from course_utils.exercises.lesson04_triplet_loss import (PAIRWISE_SQUARED_DISTANCES, TRIPLET_LOSS,
                                                          check_pairwise_squared_distances,
                                                          check_triplet_loss)
from course_utils.exercises.lesson05_mining import (BATCH_HARD_TRIPLET_LOSS, NEGATIVE_MASK, POSITIVE_MASK,
                                                    check_batch_hard_triplet_loss, check_negative_mask,
                                                    check_positive_mask)
from course_utils.exercises.lesson06_recipe import MY_RECIPE, check_my_recipe
from course_utils.exercises.lesson06_training import DESCRIBE_EXPERIMENT, check_describe_experiment
from course_utils.exercises.lesson07_embedding_space import NEAREST_NEIGHBOURS, check_nearest_neighbours
from course_utils.exercises.lesson08_threshold import FRR_AT, THRESHOLD_FOR_FAR, check_frr_at, check_threshold_for_far
from course_utils.exercises.lesson09_database import WHO_IS_IT, check_who_is_it
from course_utils.exercises.lesson10_clustering import CLUSTER_THRESHOLD_FOR_FAR, check_cluster_threshold_for_far
from course_utils.exercises.protocol import EncoderNeedsBatch, Verdict

EXERCISES: tuple[Exercise, ...] = (
    VERIFY, IDENTIFY, SPLIT_PEOPLE, BUILD_MY_ENCODER, TRIPLET_LOSS, PAIRWISE_SQUARED_DISTANCES,
    POSITIVE_MASK, NEGATIVE_MASK, BATCH_HARD_TRIPLET_LOSS, MY_RECIPE, DESCRIBE_EXPERIMENT, NEAREST_NEIGHBOURS,
    THRESHOLD_FOR_FAR, FRR_AT, WHO_IS_IT, CLUSTER_THRESHOLD_FOR_FAR,
)
GRADED: dict[str, Exercise] = {ex.grade_id: ex for ex in EXERCISES}


def hint(name: str, level: int = 2) -> None:
    """Print hint ``level`` for exercise ``name`` (1: what to compute and the shapes; 2: the key
    operation). Hints never show the answer: that is for you to write."""
    import difflib

    from course_utils.exercises import harness
    by_name = {ex.name: ex for ex in EXERCISES}
    if name not in by_name:
        close = difflib.get_close_matches(str(name), by_name, n=1)
        raise ValueError(f"no exercise called {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; exercises: {', '.join(sorted(by_name))}.")
    text = harness.hint_text(name, harness.exercise_hints(by_name[name]), int(level))
    print(f"Hint {max(1, min(int(level), harness.HINT_LEVELS))} for {name}:\n" + "\n".join(
        "   " + line for line in (text or "no hint written for this exercise yet").splitlines()))

__all__ = [
    "GRADED", "EXERCISES", "Exercise", "Verdict", "EncoderNeedsBatch", "grading_mode", "hint",
    "check_verify", "check_identify", "check_split_people", "check_build_my_encoder",
    "check_triplet_loss", "check_pairwise_squared_distances", "check_positive_mask",
    "check_negative_mask", "check_batch_hard_triplet_loss", "check_my_recipe", "check_describe_experiment",
    "check_nearest_neighbours", "check_threshold_for_far", "check_frr_at", "check_who_is_it",
    "check_cluster_threshold_for_far",
]
