"""Lesson 6 check: the experiment record (describe_experiment)."""
from __future__ import annotations

import pytest

from course_utils import exercises as checks
from course_utils.exercises import harness

from kit_helpers import failure


BEFORE = {"loss": [0.5, 0.3, 0.2], "val_auc": [0.71, 0.83, 0.82]}
AFTER = {"loss": [0.4, 0.2, 0.1], "val_auc": [0.74, 0.86, 0.88]}


def _experiment(**changes):
    record = {"change": "margin 0.2 → 0.5", "prediction": "better: harder triplets", "val_auc_before": 0.83,
              "val_auc_after": 0.88}
    record.update(changes)
    return record


def test_experiment_accepts_the_best_auc(capsys):
    record = _experiment(val_auc_before=0.83, val_auc_after=0.88)      # best of each history
    assert checks.check_describe_experiment(record, BEFORE, AFTER) is record
    out = capsys.readouterr().out
    assert out.startswith("✓ experiment: recorded.") and "0.8300 → 0.8800 (+0.0500): it improved." in out
    assert "Prediction:     better" in out


def test_experiment_with_the_last_auc_instead_of_the_best_is_named():
    """Issue 12: the last AUC passed (and the hint suggested [-1]); the exercise asks for the best."""
    message = failure(checks.check_describe_experiment, _experiment(val_auc_before=0.82), BEFORE, AFTER)
    assert "is the LAST val_auc" in message and "max(history_before['val_auc'])" in message, message


@pytest.mark.parametrize("prediction", ["I don't know", "idk", "Not sure.", "no idea"])
def test_i_dont_know_is_not_a_prediction(prediction):
    message = failure(checks.check_describe_experiment, _experiment(prediction=prediction), BEFORE, AFTER)
    assert "is not a prediction" in message, message


def test_experiment_reflection_says_worse_or_about_the_same(capsys):
    checks.check_describe_experiment(_experiment(val_auc_before=0.88, val_auc_after=0.83), AFTER, BEFORE)
    checks.check_describe_experiment(_experiment(val_auc_before=0.83, val_auc_after=0.832),
                                     BEFORE, {"val_auc": [0.832]})
    out = capsys.readouterr().out
    assert "(-0.0500): it got worse." in out and "about the same" in out


def test_experiment_reads_a_history_object():
    class Result:
        history = AFTER
    checks.check_describe_experiment(_experiment(), BEFORE, Result())


@pytest.mark.parametrize("record, words", [
    (_experiment(change="  "), 'experiment["change"] is empty'),
    (_experiment(prediction="..."), 'experiment["prediction"] is empty'),
    (_experiment(prediction=3), "should be a sentence"),
    (_experiment(val_auc_before=0.88, val_auc_after=0.83), "swapped"),
    (_experiment(val_auc_before=0.8), "does not match history_before['val_auc']"),
    (_experiment(val_auc_after=88.0), "did you give a percentage?"),
    (_experiment(val_auc_after="0.88"), "should be a number"),
    ({"change": "x", "prediction": "y"}, "missing the key(s) ['val_auc_before', 'val_auc_after']"),
    (["margin", "better", 0.82, 0.88], "should be a dict"),
])
def test_experiment_mistakes(record, words):
    assert words in failure(checks.check_describe_experiment, record, BEFORE, AFTER)


def test_experiment_not_done(monkeypatch, capsys):
    monkeypatch.setattr(harness, "_hint_level", {})
    assert checks.check_describe_experiment(None, BEFORE, AFTER) is None
    first = capsys.readouterr().out
    assert first.startswith("⏳ experiment is not done yet. Hint 1 of 2:")
    assert "hint('describe_experiment', 2)" in first
    assert checks.check_describe_experiment(None, BEFORE, AFTER) is None
    second = capsys.readouterr().out
    assert second.startswith("⏳ experiment is not done yet. Hint 2 of 2:") and "max" in second
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^experiment is not implemented yet$"):
        checks.check_describe_experiment(None, BEFORE, AFTER)


def test_experiment_needs_val_auc_in_the_histories():
    assert "no 'val_auc'" in failure(checks.check_describe_experiment, _experiment(), {"loss": [1.0]}, AFTER)

