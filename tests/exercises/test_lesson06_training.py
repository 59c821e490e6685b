"""Lesson 6 checks: my_recipe (one valid change of the Recipe) and describe_experiment (the record
of two runs, judged on made-up runs where the best epoch is not the last, then on the student's own)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_utils import exercises as checks
from course_utils.exercises import harness, lesson06_recipe, lesson06_training as l6, protocol
from course_utils.exercises.probe import FakeRun, decode, encode, observe

from kit_helpers import STABILITY_SEEDS, failure, probe_message

training = pytest.importorskip("course_utils.training")
Recipe = training.Recipe
DEFAULTS = Recipe().to_dict()


# --- the probe: a Recipe crosses as data, a made-up run reads like a real one ----------------------

def test_a_dataclass_is_observed_field_by_field():
    obs = observe(Recipe(margin=0.5))
    assert obs["kind"] == "dataclass" and obs["type"] == "course_utils.training.Recipe"
    assert obs["fields"]["margin"] == {"kind": "Python float", "value": 0.5}
    assert obs["fields"]["widths"]["kind"] == "Python tuple"
    assert decode(encode(obs)) == obs


def test_a_made_up_run_reads_like_a_training_result():
    run = decode(encode(FakeRun({**DEFAULTS, "margin": 0.5}, DEFAULTS, {"val_auc": [0.7, 0.6]}, 3.0, 640,
                                {"epochs": 2})))
    same = decode(encode(FakeRun(DEFAULTS, DEFAULTS, {"val_auc": [0.7]})))
    assert run.recipe.margin == 0.5 and run.recipe.to_dict() == {**DEFAULTS, "margin": 0.5}
    assert dataclasses.asdict(run.recipe) == run.recipe.to_dict() and type(run.recipe)() == same.recipe
    assert run.recipe != same.recipe and run.history["val_auc"] == [0.7, 0.6] and run.model is None
    assert run.images_per_second == pytest.approx(640 / 3.0) and run.report == {"epochs": 2}


# --- my_recipe ------------------------------------------------------------------------------------

def returns(make):
    def my_recipe():
        return make()
    return my_recipe


RECIPE_CORRECT = [returns(lambda: Recipe(margin=0.5)), returns(lambda: Recipe(strategy="batch_hard")),
                  returns(lambda: Recipe(augment=False)), returns(lambda: Recipe(learning_rate=3e-3)),
                  returns(lambda: Recipe(widths=[16, 32, 64])), returns(lambda: Recipe(final_strategy="batch_hard")),
                  returns(lambda: dataclasses.replace(Recipe(), P=8))]

RECIPE_WRONG = [
    ("default", returns(Recipe), "returns the default Recipe() unchanged"),
    ("two fields", returns(lambda: Recipe(margin=0.5, augment=False)), "changes 2 fields (margin: 0.2 → 0.5, augment"),
    ("a dict", returns(lambda: Recipe(margin=0.5).to_dict()), "returned a dict"),
    ("None", returns(lambda: None), "returned None"),
    ("negative margin", returns(lambda: Recipe(margin=-0.1)), "margin=-0.1 is out of range"),
    ("zero margin", returns(lambda: Recipe(margin=0)), "margin=0 is out of range"),
    ("margin as text", returns(lambda: Recipe(margin="0.5")), "margin is a number, not the string '0.5'"),
    ("unknown strategy", returns(lambda: Recipe(strategy="hardest")), "strategy must be one of 'batch_all'"),
    ("one person", returns(lambda: Recipe(P=1)), "P=1 is out of range"),
    ("K a float", returns(lambda: Recipe(K=2.5)), "K must be a whole number"),
    ("augment as text", returns(lambda: Recipe(augment="no")), "augment is True or False"),
    ("no such field", returns(lambda: Recipe(alpha=0.5)), "Recipe has no field 'alpha'"),
    ("the class", returns(lambda: Recipe), "returned the class Recipe itself"),
    ("a string", returns(lambda: "margin=0.5"), "should return a Recipe"),
    ("zero width", returns(lambda: Recipe(widths=(32, 0))), "widths is a tuple of positive whole numbers"),
    ("unknown head", returns(lambda: Recipe(head="max")), "head must be one of"),
    ("switch backwards", returns(lambda: Recipe(switch_start=0.9)), "the switch must start before it ends"),
]


@pytest.mark.parametrize("fn", RECIPE_CORRECT, ids=range(len(RECIPE_CORRECT)))
def test_my_recipe_accepts_one_valid_change(fn, capsys):
    assert checks.check_my_recipe(fn) is fn
    out = capsys.readouterr().out
    assert out.startswith("✓ my_recipe: one field changed — ") and out.count("\n") == 1, out


@pytest.mark.parametrize("fn, words", [(f, w) for _, f, w in RECIPE_WRONG], ids=[n for n, _, _ in RECIPE_WRONG])
def test_my_recipe_names_the_mistake(fn, words):
    assert words in failure(checks.check_my_recipe, fn)


@pytest.mark.parametrize("fn", RECIPE_CORRECT[:3] + [f for _, f, _ in RECIPE_WRONG],
                         ids=[f"ok{i}" for i in range(3)] + [n for n, _, _ in RECIPE_WRONG])
def test_my_recipe_grader_decides_like_the_check(fn, tmp_path):
    message, reason = probe_message(checks.MY_RECIPE, fn, 3, tmp_path)
    try:
        checks.check_my_recipe(fn)
        expected = None
    except AssertionError as err:
        expected = str(err)
    assert message == expected, (message, reason)


def test_my_recipe_not_done_climbs_the_hints_and_fails_when_grading(monkeypatch, capsys):
    monkeypatch.setattr(harness, "_hint_level", {})

    def my_recipe():
        raise NotImplementedError()
    for level in (1, 2):
        assert checks.check_my_recipe(my_recipe) is my_recipe
        out = capsys.readouterr().out
        assert out.startswith(f"⏳ my_recipe is not implemented yet. Hint {level} of 2:"), out
        assert "example change (margin 0.2 → 0.5)" in out
    assert "check_my_recipe" not in out and "(Run the check again" not in out
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^my_recipe is not implemented yet$"):
        checks.check_my_recipe(my_recipe)
    assert "expects your function my_recipe itself" in failure(checks.check_my_recipe, Recipe(margin=0.5))


# --- describe_experiment --------------------------------------------------------------------------

PREDICTION = "Higher AUC: a larger margin asks for more separation."


def run(recipe: dict, aucs):
    return FakeRun(recipe, DEFAULTS, {"loss": [0.2] * len(aucs), "val_auc": list(aucs)}, 10.0, 256,
                   {"epochs": len(aucs), "best_val_auc": max(aucs, default=float("nan"))})


# The student's own runs, as in the lesson: two epochs, the best one first.
BEFORE = run(DEFAULTS, [0.7134, 0.7011])
AFTER = run({**DEFAULTS, "margin": 0.5}, [0.7342, 0.7290])


def record(change, before_auc, after_auc, prediction=PREDICTION):
    return {"change": change, "prediction": prediction, "val_auc_before": before_auc, "val_auc_after": after_auc}


def diff(before, after):
    old, new = before.recipe.to_dict(), after.recipe.to_dict()
    return ", ".join(f"{k}: {old[k]} → {new[k]}" for k in old if old[k] != new[k])


def solution(before, after):
    return record(diff(before, after), max(before.history["val_auc"]), max(after.history["val_auc"]))


def with_fields(before, after):
    name = next(f.name for f in dataclasses.fields(after.recipe)
                if getattr(after.recipe, f.name) != getattr(before.recipe, f.name))
    return record(f"I changed {name.replace('_', ' ')} from {getattr(before.recipe, name)} to "
                  f"{getattr(after.recipe, name)}.", float(np.max(before.history["val_auc"])),
                  np.float32(np.max(after.history["val_auc"])))


def with_report(before, after):
    old, new = dataclasses.asdict(before.recipe), vars(after.recipe)
    (name, value), = [(k, v) for k, v in new.items() if old[k] != v]
    return record(f"Recipe({name}={value!r})", before.report["best_val_auc"], sorted(after.history["val_auc"])[-1])


def wrong(**how):
    """The solution with one thing done wrongly: ``aucs`` (history → number) and/or ``change``."""
    def describe_experiment(before, after):
        pick = how.get("aucs", max)
        b, a = pick(before.history["val_auc"]), pick(after.history["val_auc"])
        if how.get("swap"):
            b, a = a, b
        change = how.get("change", diff)(before, after)
        rec = record(change, b, a, how.get("prediction", PREDICTION))
        for key in how.get("drop", ()):
            del rec[key]
        return rec
    return describe_experiment


def ignores_its_arguments(before, after):
    return record("margin: 0.2 → 0.5", 0.7134, 0.7342)


EXPERIMENT_CORRECT = [solution, with_fields, with_report]

EXPERIMENT_WRONG = [
    ("last", wrong(aucs=lambda h: h[-1]), "is the LAST val_auc of"),
    ("first", wrong(aucs=lambda h: h[0]), "is the FIRST epoch's val_auc"),
    ("mean", wrong(aucs=lambda h: sum(h) / len(h)), "is the MEAN of"),
    ("swapped", wrong(swap=True), "are swapped"),
    ("rounded", wrong(aucs=lambda h: round(max(h), 3)), "ROUNDED"),
    ("typed numbers", wrong(aucs=lambda h: 0.7342), "it looks typed in"),
    ("percent", wrong(aucs=lambda h: 100 * max(h)), "did you give a percentage?"),
    ("as text", wrong(aucs=lambda h: f"{max(h):.4f}"), "should be a number"),
    ("the whole history", wrong(aucs=list), "should be a number"),
    ("hard-coded change", wrong(change=lambda b, a: "margin: 0.2 → 0.5"), "names margin, but the two recipes differ in"),
    ("no field named", wrong(change=lambda b, a: "I made the training harder."), "does not name the field that differs"),
    ("no new value", wrong(change=lambda b, a: diff(b, a).split(":")[0] + " changed"), "but not its new value"),
    ("the whole recipe", wrong(change=lambda b, a: str(a.recipe.to_dict())), "fields of the recipe"),
    ("empty change", wrong(change=lambda b, a: "  "), 'record["change"] is empty'),
    ("no prediction", wrong(prediction="I don't know"), "is not a prediction"),
    ("prediction not written", wrong(prediction=None), "write my_prediction()"),
    ("empty prediction", wrong(prediction="..."), 'record["prediction"] is empty'),
    ("missing key", wrong(drop=("prediction",)), "missing the key(s) ['prediction']"),
    ("None", lambda before, after: None, "the record should be a dict"),
    ("ignores its arguments", ignores_its_arguments, "returns the same record for every pair of runs"),
    ("raises", lambda before, after: before.history["auc"], "raised KeyError"),
]


def check(fn, seed=None):
    return checks.check_describe_experiment(fn, BEFORE, AFTER, seed=seed)


@pytest.mark.parametrize("fn", EXPERIMENT_CORRECT, ids=[f.__name__ for f in EXPERIMENT_CORRECT])
def test_experiment_accepts_correct_code_and_reflects_on_the_real_runs(fn, capsys):
    rec = check(fn)
    assert float(rec["val_auc_before"]) == pytest.approx(0.7134) and float(rec["val_auc_after"]) == pytest.approx(0.7342)
    out = capsys.readouterr().out
    assert out.startswith("✓ describe_experiment: correct on 5 randomized pairs of runs.\n"), out
    assert "0.7134 → 0.7342 (+0.0208): it improved." in out and f"Prediction:     {PREDICTION}" in out


@pytest.mark.parametrize("fn, words", [(f, w) for _, f, w in EXPERIMENT_WRONG], ids=[n for n, _, _ in EXPERIMENT_WRONG])
def test_experiment_names_the_mistake(fn, words):
    message = failure(check, fn)
    assert words in message, message
    assert "seed=" in message


@pytest.mark.parametrize("hint, fn", [(None, f) for f in EXPERIMENT_CORRECT] + [(w, f) for _, f, w in EXPERIMENT_WRONG],
                         ids=[f.__name__ for f in EXPERIMENT_CORRECT] + [n for n, _, _ in EXPERIMENT_WRONG])
def test_experiment_the_same_verdict_on_every_seed(hint, fn, capsys):
    for seed in range(STABILITY_SEEDS):
        if hint is None:
            assert check(fn, seed=seed) is not None, seed
        else:
            with pytest.raises(AssertionError) as info:
                check(fn, seed=seed)
            assert hint in str(info.value), (seed, str(info.value))
    capsys.readouterr()


@pytest.mark.parametrize("fn", EXPERIMENT_CORRECT[:1] + [f for _, f, _ in EXPERIMENT_WRONG],
                         ids=["solution"] + [n for n, _, _ in EXPERIMENT_WRONG])
def test_experiment_grader_decides_like_the_check(fn, tmp_path, capsys):
    message, reason = probe_message(checks.DESCRIBE_EXPERIMENT, fn, 5, tmp_path)
    try:
        check(fn, seed=5)
        expected = None
    except AssertionError as err:
        expected = str(err).rsplit("\n", 1)[0]              # without the line that says how to repeat it
    assert message == expected, (message, reason)


def test_best_is_not_last_in_made_up_runs_of_one_to_six_epochs():
    for seed in range(20):
        cases = checks.DESCRIBE_EXPERIMENT.cases(seed)
        epochs = [len(c.data["before"]) for c in cases]
        assert epochs[:2] == [2, 1] and all(3 <= e <= 6 for e in epochs[2:])
        for c in cases:
            for side in ("before", "after"):
                aucs = c.data[side]
                assert len(aucs) == 1 or aucs[-1] < max(aucs)
            assert len(c.data["changes"]) == 1 and not lesson06_recipe.field_problem(*c.data["changes"][0][::2], c.data["recipe_after"])
        assert len({c.data["changes"][0][0] for c in cases}) == len(cases)


def test_a_wrong_record_of_the_real_runs_is_named_after_the_made_up_ones_pass():
    real_only = lambda before, after: (record("margin: 0.2 → 0.5", 0.7011, 0.7290) if before is BEFORE
                                       else solution(before, after))
    message = failure(check, real_only)
    assert "on your own two runs" in message and "is the LAST val_auc of before.history" in message, message


def test_experiment_not_done_climbs_the_hints_and_fails_when_grading(monkeypatch, capsys):
    monkeypatch.setattr(harness, "_hint_level", {})

    def describe_experiment(before, after):
        raise NotImplementedError()
    assert check(describe_experiment) is None
    first = capsys.readouterr().out
    assert first.startswith("⏳ describe_experiment is not implemented yet. Hint 1 of 2:")
    assert "hint('describe_experiment', 2)" in first
    assert check(describe_experiment) is None
    second = capsys.readouterr().out
    assert second.startswith("⏳ describe_experiment is not implemented yet. Hint 2 of 2:") and "max" in second
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(AssertionError, match="^describe_experiment is not implemented yet$"):
        check(describe_experiment)


def test_the_check_wants_the_function_and_two_runs():
    assert "expects your function describe_experiment itself" in failure(
        checks.check_describe_experiment, solution(BEFORE, AFTER), BEFORE, AFTER)
    assert "should be a training run" in failure(checks.check_describe_experiment, solution, {"val_auc": [0.7]}, AFTER)
    assert "no 'val_auc'" in failure(checks.check_describe_experiment, solution, run(DEFAULTS, []), AFTER)


@pytest.mark.parametrize("text, field, value", [
    ("margin: 0.2 → 0.5", "margin", 0.5), ("alpha from 0.2 to 0.5", "margin", 0.5),
    ("final_strategy: None → batch_hard", "final_strategy", "batch_hard"),
    ("mining: batch-all → batch-hard", "strategy", "batch_hard"), ("switched off augmentation", "augment", False),
    ("lr 1e-3 -> 3e-3", "learning_rate", 0.003), ("P: 16 → 8", "P", 8), ("widths (32, 96, 192) → (16, 32, 64)",
                                                                         "widths", (16, 32, 64)),
    ("no stem any more", "stem", None), ("warm-up 3% → 10%", "warmup", 0.1), ("head: flatten → GAP", "head", "gap"),
])
def test_the_change_matcher_accepts_usual_spellings(text, field, value):
    assert l6.fields_named(text) == {field}, l6.fields_named(text)
    assert l6.says_value(text, value)


def test_the_change_matcher_keeps_fields_apart():
    assert l6.fields_named("final lr fraction 0.01 → 0.1") == {"final_lr_fraction"}
    assert l6.fields_named("strategy batch_all → batch_hard") == {"strategy"}
    assert not l6.says_value("margin: 0.2", 0.5) and not l6.says_value("augment: True", False)
    assert not l6.says_value("precision float32", "mixed_bfloat16")


# --- the grader on a lesson-6 notebook --------------------------------------------------------------

FAKE_RUNS = """
import dataclasses
from course_utils.training import Recipe

class Run:                                 # two finished runs, without the minutes of training
    def __init__(self, recipe, aucs):
        self.recipe, self.history = recipe, {"loss": [0.2] * len(aucs), "val_auc": aucs}

try:
    changed_recipe = my_recipe()
except NotImplementedError:
    changed_recipe = Recipe(margin=0.5)
try:
    prediction = my_prediction()
except NotImplementedError:
    prediction = None
before, after = Run(Recipe(), [0.71, 0.70]), Run(changed_recipe, [0.73, 0.72])
"""


def test_grading_a_lesson_6_notebook(tmp_path):
    """Solved, unsolved and half-solved lesson-6 notebooks (the training replaced by two made-up
    runs), graded as course.py grade does: each check scores on its own."""
    import copy
    import shutil
    from pathlib import Path

    import nbformat

    from coursekit import grading
    root = Path(__file__).resolve().parents[2]
    lesson = "06_training"
    course = tmp_path / "course"
    shutil.copytree(root / "course_utils", course / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    (course / "solutions").mkdir()
    shutil.copy(root / "solutions" / f"{lesson}.ipynb", course / "solutions")
    sol = nbformat.read(root / "solutions" / f"{lesson}.ipynb", as_version=4)
    student = nbformat.read(root / "notebooks" / f"{lesson}.ipynb", as_version=4)
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in sol.cells}

    def notebook(solve):
        cells = [nbformat.v4.new_code_cell("from course_utils import exercises\nfrom course_utils.training import Recipe")]
        for cell in copy.deepcopy(student.cells):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type != "code" or not gid:
                continue
            if gid == "ex_describe_experiment":
                cells.append(nbformat.v4.new_code_cell(FAKE_RUNS))
            cell.source = answers[gid] if gid in solve else cell.source
            cells.append(cell)
        return nbformat.v4.new_notebook(cells=cells, metadata=student.metadata)

    subs = {"solved": notebook({"ex_my_recipe", "ex_describe_experiment"}), "unsolved": notebook(set()),
            "recipe_only": notebook({"ex_my_recipe"})}
    for name, nb in subs.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / name / f"{lesson}.ipynb")
    rows = grading.grade_folder(tmp_path / "subs", tmp_path / "grades.csv", solutions=course / "solutions",
                                course_root=course, jobs=1, cell_timeout=180, seed_data=False)
    by = {r["student"]: r for r in rows}
    assert by["solved"]["ex_my_recipe_check"] > 0 and by["solved"]["ex_experiment_check"] > 0, by["solved"]
    assert by["solved"]["total"] == by["solved"]["max"], by["solved"]
    assert by["unsolved"]["total"] == 0, by["unsolved"]
    assert by["recipe_only"]["ex_my_recipe_check"] > 0 and by["recipe_only"]["ex_experiment_check"] == 0
