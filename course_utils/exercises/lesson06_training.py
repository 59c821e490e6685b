"""Lesson 6 — training: ``check_describe_experiment``.

``describe_experiment(before, after)`` returns the experiment record, a dict with ``change`` and
``prediction`` (sentences) and ``val_auc_before`` / ``val_auc_after`` (AUCs in [0, 1] equal to the
best — or last — ``val_auc`` of each run's history; before/after swapped is named). The check
prints a short reflection on it.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.protocol import Verdict, run_in_process

_EXPERIMENT_KEYS = ("change", "prediction", "val_auc_before", "val_auc_after")
_PLACEHOLDERS = {"", "...", "…", "todo", "tbd", "your answer here", "?", "-"}
_NO_PREDICTION = {"i don't know", "i dont know", "don't know", "dont know", "idk", "no idea", "not sure",
                  "i do not know", "unknown", "?", "no prediction", "none"}


def not_done_value(name: str, hints, fallback_text: str, fallback=None, exercise: str | None = None):
    """Like ``harness.not_done`` for a value (not a function) the student has to fill in."""
    if h.grading_mode():
        raise h.CheckFailed(f"{name} is not implemented yet")
    heading, body = h.hint_ladder(exercise or name, hints)     # exercise: the name hint() knows it by
    lines = [f"⏳ {name} is not done yet.{heading}", *body, fallback_text]
    print("\n".join(lines))
    return fallback


def _val_auc_list(history, which: str) -> list[float]:
    values = getattr(history, "history", history)
    if not isinstance(values, dict):
        raise h.CheckFailed(f"{which} should be a training history (a dict of lists, e.g. result.history); "
                             f"got {h.kind(history)}.")
    if "val_auc" not in values or not len(values["val_auc"]):
        raise h.CheckFailed(f"{which} has no 'val_auc' values (keys: {sorted(values)}). Pass result.history of "
                             "a run trained with validation pairs (course_utils.training.train_encoder).")
    return [float(v) for v in values["val_auc"]]


def _auc_matches(value: float, aucs: list[float]) -> bool:
    """The record holds the BEST validation AUC of the run (what the exercise asks for)."""
    return math.isclose(value, max(aucs), abs_tol=1e-6)


_EXPERIMENT_HINTS = (
    'Fill in the dict with four keys: "change" (the one recipe field you changed, and to what), "prediction" (what you expected it to do to validation AUC, written BEFORE training), and "val_auc_before" / "val_auc_after" (the BEST validation AUC of each run, as numbers).',
    "Read the numbers from the two histories: the largest value in each run's 'val_auc' list (max), not the last epoch's. The change text should name the field that differs between the two recipes.",
)


def _experiment_message(experiment, history_before, history_after) -> str:
    """The reflection printed for a right record; AssertionError naming what is wrong otherwise."""
    if not isinstance(experiment, dict):
        raise h.CheckFailed(f"experiment should be a dict with the keys {list(_EXPERIMENT_KEYS)}; got {h.kind(experiment)}.")
    missing = [k for k in _EXPERIMENT_KEYS if k not in experiment]
    if missing:
        raise h.CheckFailed(f"experiment is missing the key(s) {missing}; it needs {list(_EXPERIMENT_KEYS)}.")
    for key in ("change", "prediction"):
        text = experiment[key]
        if not isinstance(text, str):
            raise h.CheckFailed(f'experiment["{key}"] should be a sentence (a string); got {h.kind(text)} {h.fmt(text)}.')
        if key == "prediction" and text.strip().lower().rstrip(".!") in _NO_PREDICTION:
            raise h.CheckFailed(f'experiment["prediction"] = {text!r} is not a prediction: write what you '
                                 "expect to happen (better, worse, about the same) and why — a guess is fine; "
                                 "the point is to check it against the result.")
        if text.strip().lower().rstrip(".!") in _PLACEHOLDERS:
            raise h.CheckFailed(f'experiment["{key}"] is empty: write a sentence '
                                 + ("saying what you changed." if key == "change"
                                    else "saying what you expected to happen, and why."))
    aucs = {"before": _val_auc_list(history_before, "history_before"),
            "after": _val_auc_list(history_after, "history_after")}
    values = {}
    for side in ("before", "after"):
        key = f"val_auc_{side}"
        raw = experiment[key]
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer, np.floating)):
            raise h.CheckFailed(f'experiment["{key}"] should be a number (an AUC); got {h.kind(raw)} {h.fmt(raw)}.')
        value = float(raw)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            hint = " (an AUC is between 0 and 1 — did you give a percentage?)" if 1 < value <= 100 else ""
            raise h.CheckFailed(f'experiment["{key}"] = {value} is not an AUC between 0 and 1{hint}.')
        values[side] = value
    if (not _auc_matches(values["before"], aucs["before"]) and not _auc_matches(values["after"], aucs["after"])
            and _auc_matches(values["before"], aucs["after"]) and _auc_matches(values["after"], aucs["before"])):
        raise h.CheckFailed("val_auc_before and val_auc_after are swapped: 'before' comes from history_before "
                             "(the first run), 'after' from history_after (the run with your change).")
    for side in ("before", "after"):
        if not _auc_matches(values[side], aucs[side]):
            if math.isclose(values[side], aucs[side][-1], abs_tol=1e-6):
                raise h.CheckFailed(
                    f"val_auc_{side} = {values[side]:.6g} is the LAST val_auc of history_{side}; the record holds "
                    f"the BEST one, {max(aucs[side]):.6g}: max(history_{side}['val_auc']). The last epoch is not "
                    "always the best, and we compare the runs at their best.")
            raise h.CheckFailed(
                f"val_auc_{side} = {values[side]:.6g} does not match history_{side}['val_auc']: its best value is "
                f"{max(aucs[side]):.6g}. Copy the number from the history, max(history_{side}['val_auc']), "
                "rather than typing it.")
    delta = values["after"] - values["before"]
    if abs(delta) < 0.005:
        verdict = "about the same (a change smaller than 0.005 is within run-to-run noise)"
    elif delta > 0:
        verdict = "it improved"
    else:
        verdict = "it got worse"
    return ("✓ experiment: recorded.\n"
          f"  Change:         {experiment['change'].strip()}\n"
          f"  Prediction:     {experiment['prediction'].strip()}\n"
          f"  Validation AUC: {values['before']:.4f} → {values['after']:.4f} ({delta:+.4f}): {verdict}.\n"
          "  Does this match your prediction? One run is one sample: a second run with another seed "
          "tells you how much of the difference is noise.")


def _judge_experiment(ex, cases, outputs) -> Verdict:
    values = {name: h.revive(obs) for name, obs in outputs["values"].items()}
    experiment, before, after = (values[n] for n in ex.answer_names)
    if experiment is None:
        return Verdict(False, "experiment is not implemented yet", "not_done")
    try:
        return Verdict(True, _experiment_message(experiment, before, after), "correct")
    except AssertionError as err:
        return Verdict(False, str(err), "wrong_value")


DESCRIBE_EXPERIMENT = h.Exercise(
    grade_id="ex_experiment_check", lesson="06", name="describe_experiment",
    answer_names=("experiment", "before", "after"), mode="values", custom_judge=_judge_experiment,
    hints=_EXPERIMENT_HINTS)


def check_describe_experiment(experiment, history_before, history_after):
    """Check the lesson-6 experiment record and print a short reflection on it."""
    if experiment is None:
        return not_done_value("experiment", _EXPERIMENT_HINTS,
                              "The lesson continues; come back to it once both runs are trained.",
                              exercise="describe_experiment")
    answers = dict(zip(DESCRIBE_EXPERIMENT.answer_names, (experiment, history_before, history_after)))
    try:
        outputs = run_in_process(DESCRIBE_EXPERIMENT, answers, [], ".")
    except TypeError as err:                       # something that is not data (e.g. a function)
        raise h.CheckFailed(f"experiment should be a dict of strings and numbers: {err}.") from None
    verdict = DESCRIBE_EXPERIMENT.judge([], outputs)
    if not verdict.passed:
        raise h.CheckFailed(verdict.message)
    print(verdict.message)
    return experiment
