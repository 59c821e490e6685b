"""Lesson 6 — training: ``check_describe_experiment`` (``check_my_recipe`` is in :mod:`.lesson06_recipe`).

``describe_experiment(before, after)`` turns two training runs into the experiment record, a dict
with ``change`` (names the recipe field that differs and its new value), ``prediction`` (a
sentence) and ``val_auc_before`` / ``val_auc_after`` (the BEST ``val_auc`` of each run). The
student's own runs have one or two epochs, too few to tell the best epoch from the last, so the
grader calls the function on made-up runs (:class:`~course_utils.exercises.probe.FakeRun`: a
``Recipe``-like dataclass and a history of 1–6 epochs where best, last, first and mean all
differ, and before ≠ after). The student's own check also judges the record of their real runs
and prints a short reflection on it.

How a change text is matched (what the hints promise): the text must name the field that differs
— its name with ``_``, ``-`` or spaces, or a usual word for it (``alpha`` for the margin,
``mining`` for the strategy, ``augmentation``, ``lr``, …: :data:`FIELD_WORDS`; the longest
match wins, so "final strategy" is not also "strategy") — and its new value (a number in any
notation, ``50%`` for 0.5; a name with ``_``, ``-`` or spaces; on/off words for True/False/None).
A text that names another field instead, or lists four fields or more, is refused.
"""
from __future__ import annotations

import functools
import math
import re

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.lesson06_recipe import changes_text, is_number, plain, recipe_changes, recipe_spec, show
from course_utils.exercises.probe import MAX_TEXT, FakeRun
from course_utils.exercises.protocol import Verdict, observe

# --------------------------------------------------------------------------------------------- describe_experiment

_EXPERIMENT_KEYS = ("change", "prediction", "val_auc_before", "val_auc_after")
_PLACEHOLDERS = {"", "...", "…", "todo", "tbd", "your answer here", "?", "-"}
_NO_PREDICTION = {"i don't know", "i dont know", "don't know", "dont know", "idk", "no idea", "not sure",
                  "i do not know", "unknown", "?", "no prediction", "none"}

# Words that name a field in a change text (lower case; "_" and "-" count as spaces). The field's
# own name always counts. P and K are matched as capital letters on their own.
FIELD_WORDS = {
    "P": ("people per batch", "persons per batch", "identities per batch", "number of people", "people"),
    "K": ("photos per person", "images per person", "pictures per person", "faces per person",
          "images per identity", "photos per identity", "per person"),
    "margin": ("alpha", "α"),
    "strategy": ("mining", "miner", "mining strategy", "triplet strategy"),
    "final_strategy": ("final mining", "final mining strategy", "later mining", "second strategy"),
    "switch_start": ("start of the switch", "switch starts"),
    "switch_end": ("end of the switch", "switch ends"),
    "learning_rate": ("lr", "step size", "learning rates"),
    "warmup": ("warm up", "warmups"),
    "final_lr_fraction": ("final lr", "final learning rate", "final learning rate fraction", "lr floor"),
    "weight_decay": ("wd", "l2", "l2 regularisation", "l2 regularization"),
    "stem": ("stem filters", "first convolution"),
    "widths": ("width", "channels", "conv widths", "block widths"),
    "head": ("pooling", "global average pooling"),
    "embedding_dim": ("embedding dimension", "embedding size", "embedding dimensions", "embedding", "dimension",
                      "dimensions"),
    "augment": ("augmentation", "augmentations", "augmented", "augmenting", "data augmentation"),
    "steps_per_epoch": ("steps per epochs", "steps each epoch"),
    "seed": ("random seed", "seeds"),
    "bn_momentum": ("batch norm momentum", "batchnorm momentum", "batch normalization momentum",
                    "batch normalisation momentum", "momentum"),
    "reestimate_bn": ("re estimate bn", "reestimate", "re estimate", "re estimation", "bn statistics",
                      "batch norm statistics", "batch norm pass"),
    "precision": ("mixed precision", "number format", "bfloat16"),
}
_TRUE_WORDS = ("true", "on", "yes", "enabled", "enable", "with", "added", "add")
_FALSE_WORDS = ("false", "off", "no", "not", "disabled", "disable", "without", "removed", "remove", "dropped",
                "none")
_NONE_WORDS = ("none", "no", "off", "without", "removed", "remove", "disabled", "null", "dropped")
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+−]?\d+)?(%?)")


def _lower(text: str) -> str:
    """Lower case, "_"/"-" as spaces, one character for one (so positions match the text)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text).replace("_", " ").replace("-", " ")


def _phrase(phrase: str) -> re.Pattern:
    words = _lower(phrase).split()
    return re.compile(r"(?<![a-z0-9])" + r"\s+".join(map(re.escape, words)) + r"(?![a-z0-9])")


@functools.lru_cache(maxsize=1)
def _field_patterns() -> list[tuple[str, re.Pattern, bool]]:
    patterns = []
    for name, words in FIELD_WORDS.items():
        if name in ("P", "K"):
            patterns.append((name, re.compile(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])"), False))
        else:
            patterns.append((name, _phrase(name), True))
        patterns += [(name, _phrase(w), True) for w in words]
    return patterns


def fields_named(text: str) -> set[str]:
    """The recipe fields a change text names: every match of :data:`FIELD_WORDS`, longest first, a
    shorter one counting only where no longer one already matched ("final strategy" ≠ "strategy")."""
    low = _lower(text)
    spans = []
    for name, pattern, lowered in _field_patterns():
        for m in pattern.finditer(low if lowered else text):
            spans.append((m.end() - m.start(), m.start(), m.end(), name))
    taken, named = [], set()
    for _, start, end, name in sorted(spans, key=lambda s: (-s[0], s[1])):
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        named.add(name)
    return named


def _numbers(text: str) -> list[float]:
    found = []
    for m in _NUMBER.finditer(text):
        raw = m.group(0).rstrip("%").replace("−", "-")
        try:
            value = float(raw)
        except ValueError:
            continue
        found.append(value / 100 if m.group(1) else value)
    return found


def says_value(text: str, value) -> bool:
    """True when the change text states ``value`` (see the module docstring for the forms)."""
    low = _lower(text)

    def any_word(words):
        return any(_phrase(w).search(low) for w in words)
    if isinstance(value, (bool, np.bool_)):
        return any_word(_TRUE_WORDS if value else _FALSE_WORDS)
    if value is None:
        return any_word(_NONE_WORDS)
    if isinstance(value, str):
        squeezed = re.sub(r"[\s_\-]", "", text.lower())
        return bool(_phrase(value).search(low)) or re.sub(r"[\s_\-]", "", value.lower()) in squeezed
    numbers = _numbers(text)
    if isinstance(value, tuple):
        n = len(value)
        return any(all(math.isclose(numbers[i + j], float(v)) for j, v in enumerate(value))
                   for i in range(len(numbers) - n + 1))
    if is_number(value):
        return any(math.isclose(x, float(value), rel_tol=1e-9, abs_tol=1e-12) for x in numbers)
    return False


_EXPERIMENT_HINTS = (
    'Return a dict with four keys: "change" (the recipe field that differs between the two runs, with its old and '
    "new value — read it from the two runs' recipes, so that the text fits any pair of runs), \"prediction\" (the "
    'prediction you wrote before training, a sentence) and "val_auc_before" / "val_auc_after" (the BEST '
    "validation AUC of each run, as numbers).",
    "Compare the two recipes field by field (as dicts) and write the field that differs with its new value, for "
    "example margin from 0.2 to 0.5; the check accepts the field's name or a usual word for it (alpha, mining, "
    "augmentation, lr). For the numbers take the largest value of each run's 'val_auc' history (max), not the last "
    "epoch's or the mean, and neither round it nor type it in.",
)

_CHANGES = (   # (field, new values) of the made-up experiments: each valid, each printed unlike the default
    ("margin", (0.5, 0.1, 0.3, 1.0)), ("strategy", ("batch_hard", "semi_hard")), ("augment", (False,)),
    ("learning_rate", (0.003, 0.0005, 0.01)), ("P", (8, 32)), ("K", (2, 8)), ("embedding_dim", (64, 32, 256)),
    ("head", ("gap",)), ("final_strategy", ("batch_hard", "semi_hard")), ("weight_decay", (0.0, 0.001)),
    ("widths", ((16, 32, 64), (32, 64, 128, 256))), ("stem", (None, 32)), ("steps_per_epoch", (25, 100)),
    ("warmup", (0.1, 0.0)), ("bn_momentum", (0.9,)), ("precision", ("float32",)), ("reestimate_bn", (0, 50)),
)
N_RUNS = 5          # made-up pairs of runs per check


def _stats(aucs: list[float]) -> dict:
    return {"best": max(aucs), "last": aucs[-1], "first": aucs[0], "mean": float(np.mean(aucs)), "min": min(aucs)}


def _separated(before: list[float], after: list[float]) -> bool:
    """Every wrong reading of either history is far (≥ 2e-3) from the right one, and the wrong
    readings differ from each other: a mistake is named the same way on every draw."""
    readings = []
    for aucs, other in ((before, after), (after, before)):
        s = _stats(aucs)
        best = s["best"]
        if (len(aucs) >= 2 and aucs[-1] == best) or (len(aucs) >= 3 and aucs[0] == best):
            return False
        wrong = [v for k, v in s.items() if k != "best" and v != best] + [max(other)]
        if any(abs(w - best) < 2e-3 for w in wrong):
            return False
        if any(abs(round(best, k) - best) < 1e-6 for k in range(1, 6)):
            return False
        if len(aucs) >= 3:       # the smallest may be the first or the last epoch: not a reading of its own
            readings += [s["last"], s["first"], s["mean"]]
    readings.sort()
    return all(b - a > 1e-4 for a, b in zip(readings, readings[1:]))


def _history(rng, aucs: list[float]) -> dict:
    n = len(aucs)
    loss = np.sort(rng.uniform(0.12, 0.21, n))[::-1]
    active = np.sort(rng.uniform(0.05, 0.9, n))[::-1]
    return {"loss": [float(v) for v in loss], "active_triplets": [float(v) for v in active],
            "val_auc": [float(v) for v in aucs], "val_d_same": [float(v) for v in rng.uniform(0.3, 0.8, n)],
            "val_d_diff": [float(v) for v in rng.uniform(0.9, 1.4, n)]}


def _run(rng, recipe: dict, defaults: dict, aucs: list[float]) -> FakeRun:
    steps = len(aucs) * recipe["steps_per_epoch"]
    seconds = float(np.round(rng.uniform(5, 300), 1))
    return FakeRun(recipe, defaults, _history(rng, aucs), seconds, steps * recipe["P"] * recipe["K"],
                   {"collapsed": False, "epochs": len(aucs), "best_val_auc": max(aucs)})


def _experiment_cases(rng) -> list[h.Case]:
    defaults, _, _ = recipe_spec()
    picks = rng.choice(len(_CHANGES), size=N_RUNS, replace=False)
    # Like the lesson's own runs, the first two have 2 and 1 epochs; the others 3 to 6, where the
    # best epoch is neither the first nor the last.
    epochs = [(2, 2), (1, 1)] + [tuple(int(e) for e in rng.integers(3, 7, size=2)) for _ in range(N_RUNS - 2)]
    cases = []
    for pick, (n_before, n_after) in zip(picks, epochs):
        field, options = _CHANGES[pick]
        new = options[int(rng.integers(len(options)))]
        after_recipe = {**defaults, field: new}
        while True:
            before_aucs = list(np.round(rng.uniform(0.55, 0.95, n_before), 12))
            after_aucs = list(np.round(rng.uniform(0.55, 0.95, n_after), 12))
            for aucs in (before_aucs, after_aucs):      # best epoch neither last nor (from 3 epochs) first
                if len(aucs) >= 2 and int(np.argmax(aucs)) == len(aucs) - 1:
                    aucs[-1], aucs[0] = aucs[0], aucs[-1]
                if len(aucs) >= 3 and int(np.argmax(aucs)) == 0:
                    aucs[0], aucs[1] = aucs[1], aucs[0]
            if _separated(before_aucs, after_aucs):
                break
        data = {"before": before_aucs, "after": after_aucs, "recipe_before": dict(defaults),
                "recipe_after": after_recipe, "changes": [(field, plain(defaults[field]), plain(new))]}
        cases.append(h.Case(args=(_run(rng, defaults, defaults, before_aucs), _run(rng, after_recipe, defaults, after_aucs)),
                            names=("before", "after"), data=data, size=n_before + n_after))
    return cases


def _about(data: dict, i: int | None = None) -> str:
    where = f"test {i + 1}: " if i is not None else ""
    return (f"({where}before.history['val_auc'] = {[round(v, 6) for v in data['before']]}, "
            f"after.history['val_auc'] = {[round(v, 6) for v in data['after']]}; "
            f"the recipes differ in {changes_text(data['changes']) or 'nothing'})")


def _form_problem(record) -> str | None:
    """What is wrong with the record's shape, texts or numbers (before comparing with the runs)."""
    if not isinstance(record, dict):
        return f"the record should be a dict with the keys {list(_EXPERIMENT_KEYS)}; got {h.kind(record)} {h.fmt(record)}."
    missing = [k for k in _EXPERIMENT_KEYS if k not in record]
    if missing:
        return f"the record is missing the key(s) {missing}; it needs {list(_EXPERIMENT_KEYS)}."
    for key in ("change", "prediction"):
        text = record[key]
        if key == "prediction" and text is None:
            return ('record["prediction"] is None: write my_prediction() (what you expect, before the runs) and put '
                    "its sentence in the record.")
        if not isinstance(text, str):
            return f'record["{key}"] should be a sentence (a string); got {h.kind(text)} {h.fmt(text)}.'
        if key == "prediction" and text.strip().lower().rstrip(".!") in _NO_PREDICTION:
            return (f'record["prediction"] = {text!r} is not a prediction: write what you expect to happen '
                    "(better, worse, about the same) and why — a guess is fine; the point is to check it against "
                    "the result.")
        if text.strip().lower().rstrip(".!") in _PLACEHOLDERS:
            return (f'record["{key}"] is empty: write a sentence '
                    + ("saying which field you changed, and to what." if key == "change"
                       else "saying what you expected to happen, and why."))
    for side in ("before", "after"):
        key = f"val_auc_{side}"
        raw = record[key]
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer, np.floating)):
            return f'record["{key}"] should be a number (an AUC); got {h.kind(raw)} {h.fmt(raw)}.'
        value = float(raw)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            hint = " (an AUC is between 0 and 1 — did you give a percentage?)" if 1 < value <= 100 else ""
            return f'record["{key}"] = {value} is not an AUC between 0 and 1{hint}.'
    return None


def _labels(value: float, aucs: list[float], other: list[float]) -> set[str]:
    """The readings of a history that ``value`` matches: best, last, first, mean, min, rounded, swapped."""
    s = _stats(aucs)
    found = {k for k, v in s.items() if math.isclose(value, v, abs_tol=1e-6)}
    if math.isclose(value, max(other), abs_tol=1e-6):
        found.add("swapped")
    if "best" not in found and any(math.isclose(value, round(s["best"], k), abs_tol=1e-9) for k in range(1, 6)):
        found.add("rounded")
    return found


_READINGS = {
    "last": "is the LAST val_auc of {side}.history (the final epoch); the record holds the BEST one, {best:.6g}: the "
            "largest value of {side}.history['val_auc']. The last epoch is not always the best, and we compare the "
            "runs at their best.",
    "first": "is the FIRST epoch's val_auc of {side}.history; the record holds the BEST one, {best:.6g}: the largest "
             "value of {side}.history['val_auc'].",
    "mean": "is the MEAN of {side}.history['val_auc']; the record holds the BEST epoch's value, {best:.6g}: the "
            "largest value (max), not the average.",
    "min": "is the SMALLEST val_auc of {side}.history; the record holds the BEST one, {best:.6g}: the largest "
           "value (max, not min).",
    "rounded": "is the best val_auc ROUNDED ({best:.10g} in the history): store the number itself and round only "
               "when you print it.",
}


def _auc_problem(values: list[dict], datas: list[dict]) -> str | None:
    """The AUC mistake, named when one reading explains every wrong value (checked over all runs)."""
    per = []
    for record, data in zip(values, datas):
        per.append({side: _labels(float(record[f"val_auc_{side}"]), data[side], data["after" if side == "before" else "before"])
                    for side in ("before", "after")})
    wrong = [i for i, p in enumerate(per) if "best" not in p["before"] or "best" not in p["after"]]
    if not wrong:
        return None
    first = min(wrong, key=lambda i: (sum(map(len, (datas[i]["before"], datas[i]["after"]))), i))
    if all("swapped" in per[i]["before"] and "swapped" in per[i]["after"] for i in wrong):
        return ("val_auc_before and val_auc_after are swapped: 'before' comes from the first run (before.history), "
                f"'after' from the run with your change (after.history) {_about(datas[first], first if len(datas) > 1 else None)}.")
    for side in ("before", "after"):
        bad = [i for i in wrong if "best" not in per[i][side]]
        if not bad:
            continue
        i = min(bad, key=lambda k: (len(datas[k][side]), k))
        value, best = float(values[i][f"val_auc_{side}"]), max(datas[i][side])
        where = _about(datas[i], i if len(datas) > 1 else None)
        common = set.intersection(*(per[k][side] for k in bad))
        for reading in ("last", "first", "mean", "min", "rounded"):
            if reading in common:
                return f"val_auc_{side} = {value:.6g} {_READINGS[reading].format(side=side, best=best)} {where}"
        constant = {round(float(r[f"val_auc_{side}"]), 12) for r in values}
        if len(values) > 1 and len(constant) == 1:
            return (f"val_auc_{side} is {value:.6g} for every pair of runs, whatever their histories: it looks typed in. "
                    f"Read it from {side}.history['val_auc'] (its largest value) {where}.")
        return (f"val_auc_{side} = {value:.6g} does not match {side}.history['val_auc']: its best value is {best:.6g}. "
                f"Take the largest value of the history rather than typing a number {where}.")
    return None


def _change_problem(text: str, data: dict, where: str) -> tuple[str, str] | None:
    """``(kind, message)`` of what the change text gets wrong for these two runs, or None."""
    changes = data["changes"]
    if not changes:
        return None                     # nothing differs: the check of my_recipe says so
    named = fields_named(text)
    if len(named) >= 4:
        return "too_many", (f'record["change"] names {len(named)} fields of the recipe ({", ".join(sorted(named))}): say which ONE '
                f"differs between the two runs, and its new value {where}.")
    for field, old, new in changes:
        if field not in named:
            others = sorted(named - {c[0] for c in changes})
            if others:
                return "other_field", (f'record["change"] = {text!r} names {", ".join(others)}, but the two recipes differ in {field} '
                        f"({show(old)} → {show(new)}): build the text from before.recipe and after.recipe, so that it "
                        f"describes the runs it is given {where}.")
            return "no_field", (f'record["change"] = {text!r} does not name the field that differs: {field} ({show(old)} → '
                    f"{show(new)}). Name it (its name, or a usual word for it such as alpha, mining, augmentation, lr) "
                    f"and its new value {where}.")
        if not says_value(text, new):
            return "no_value", (f'record["change"] = {text!r} names {field} but not its new value {show(new)} (it was '
                    f"{show(old)}) {where}.")
    return None


def judge_records(values: list, datas: list[dict]) -> str | None:
    """The first problem of the records ``values`` (one per pair of runs ``datas``), or None."""
    many = len(datas) > 1
    for i, record in enumerate(values):
        problem = _form_problem(record)
        if problem:
            return problem + (f" {_about(datas[i], i)}" if many and isinstance(record, dict) else "")
    if many:
        seen = {repr((r["change"], float(r["val_auc_before"]), float(r["val_auc_after"]))) for r in values}
        if len(seen) == 1:
            r = values[0]
            return ("describe_experiment returns the same record for every pair of runs it is given (change "
                    f"{r['change']!r}, AUCs {float(r['val_auc_before']):.6g} and {float(r['val_auc_after']):.6g}): read "
                    "the change from before.recipe and after.recipe and the AUCs from before.history and after.history, "
                    "so that it describes the runs it is called with.")
    problem = _auc_problem(values, datas)
    if problem:
        return problem
    found = [_change_problem(record["change"], data, _about(data, i if many else None))
             for i, (record, data) in enumerate(zip(values, datas))]
    # A text that names another field on some pair of runs says most (a change typed in rather
    # than read from the recipes), whichever pairs were drawn first.
    for kind in ("other_field", "too_many", "no_field", "no_value"):
        for problem in found:
            if problem and problem[0] == kind:
                return problem[1]
    return None


def _judge_experiment(ex, cases, outputs) -> Verdict:
    records, total = outputs.get("records") or [], len(cases)
    values = []
    for i, record in enumerate(records):
        if "raised" in record:
            raised = record["raised"]
            if raised.get("not_implemented"):
                return Verdict(False, "describe_experiment is not implemented yet", "not_done")
            lines = [f"describe_experiment raised {raised['summary']} on test {i + 1} of {total} "
                     f"{_about(cases[i].data)}. The runs it gets have .recipe (a Recipe) and .history (a dict of "
                     "lists, one value per epoch)."]
            if raised.get("hint"):
                lines.insert(1, f"Likely mistake: {raised['hint']}")
            return Verdict(False, "\n".join(lines), "raised")
        values.append(h.revive(record["result"]))
    if len(values) != total:
        return Verdict(False, f"the grading probe returned {len(values)} results for {total} tests.", "probe_failed")
    problem = judge_records(values, [c.data for c in cases])
    if problem:
        return Verdict(False, f"describe_experiment gives a wrong record: {problem}", "wrong_value")
    return Verdict(True, f"✓ describe_experiment: correct on {total} randomized pairs of runs.", "correct")


DESCRIBE_EXPERIMENT = h.JudgedExercise(
    grade_id="ex_experiment_check", lesson="06", name="describe_experiment", answer_names=("describe_experiment",),
    make_cases=_experiment_cases, judge_with=_judge_experiment, hints=_EXPERIMENT_HINTS)


def _val_auc_list(run, which: str) -> list[float]:
    values = getattr(run, "history", None)
    values = getattr(values, "history", values)          # a Keras History holds its dict in .history
    if not isinstance(values, dict):
        raise h.CheckFailed(f"{which} should be a training run (what train_encoder returns, with .history and "
                            f".recipe); got {h.kind(run)}.")
    if "val_auc" not in values or not len(values["val_auc"]):
        raise h.CheckFailed(f"{which}.history has no 'val_auc' values (keys: {sorted(values)}). Pass a run trained "
                            "with validation pairs (course_utils.training.train_encoder).")
    return [float(v) for v in values["val_auc"]]


def _recipe_dict(run, which: str) -> dict:
    recipe = getattr(run, "recipe", None)
    if hasattr(recipe, "to_dict"):
        return dict(recipe.to_dict())
    if isinstance(recipe, dict):
        return dict(recipe)
    raise h.CheckFailed(f"{which} should be a training run with a .recipe (what train_encoder returns); "
                        f"got {h.kind(run)}.")


def _reflection(record: dict, data: dict) -> str:
    before, after = float(record["val_auc_before"]), float(record["val_auc_after"])
    delta = after - before
    if abs(delta) < 0.005:
        verdict = "about the same (a change smaller than 0.005 is within run-to-run noise)"
    elif delta > 0:
        verdict = "it improved"
    else:
        verdict = "it got worse"
    return (f"  Your experiment ({len(data['before'])} and {len(data['after'])} epochs):\n"
            f"  Change:         {record['change'].strip()}\n"
            f"  Prediction:     {record['prediction'].strip()}\n"
            f"  Validation AUC: {before:.4f} → {after:.4f} ({delta:+.4f}): {verdict}.\n"
            "  Does this match your prediction? One run is one sample: a second run with another seed "
            "tells you how much of the difference is noise.")


def check_describe_experiment(describe_experiment, before, after, seed: int | None = None):
    """Check ``describe_experiment`` on made-up pairs of runs, then on your own ``before`` and
    ``after``; print a short reflection on your experiment and return its record."""
    if isinstance(describe_experiment, dict) or not callable(describe_experiment):
        raise h.CheckFailed("check_describe_experiment expects your function describe_experiment itself (no "
                            "parentheses) and the two runs: describe_experiment, before, after; got "
                            f"{h.kind(describe_experiment)} first.")
    data = {"before": _val_auc_list(before, "before"), "after": _val_auc_list(after, "after")}
    recipes = (_recipe_dict(before, "before"), _recipe_dict(after, "after"))
    data.update(recipe_before=recipes[0], recipe_after=recipes[1], changes=recipe_changes(*recipes))
    seed, verdict = h.judge_here(DESCRIBE_EXPERIMENT, describe_experiment, seed)
    if verdict.reason == "not_done":
        return h.not_done("describe_experiment", _EXPERIMENT_HINTS, None,
                          continues="no record of your experiment (come back once both runs are trained)")
    if not verdict.passed:
        raise h.CheckFailed(f"{verdict.message}\n{h.REPRODUCE.format(seed=seed, name='describe_experiment')}")
    try:
        record = describe_experiment(before, after)
    except Exception as err:  # noqa: BLE001 — the student's code on their own runs: reported, not a crash
        raise h.CheckFailed(f"describe_experiment is right on made-up runs but raised "
                            f"{type(err).__name__}: {str(err)[:MAX_TEXT]} on your own before and after.") from None
    problem = judge_records([h.revive(observe(record))], [data])
    if problem:
        raise h.CheckFailed(f"describe_experiment is right on made-up runs, but on your own two runs: {problem}")
    print(verdict.message)
    print(_reflection(record, data))
    return record
