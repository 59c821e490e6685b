"""Lesson 6 — the recipe: ``check_my_recipe``, and what the judge knows of the course's ``Recipe``.

``my_recipe()`` returns the course's ``Recipe`` with exactly ONE field changed to a valid value.
The probe sends the returned dataclass back as data (its fields); the judge compares it with the
course's defaults and validates the changed value from the field's type and range. The helpers
that read and compare recipes (:func:`recipe_spec`, :func:`recipe_changes`, :func:`field_problem`)
also serve ``check_describe_experiment`` in :mod:`.lesson06_training`.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import fields as dataclass_fields

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.protocol import Verdict

# --------------------------------------------------------------------------------------------- the recipe

@functools.lru_cache(maxsize=1)
def recipe_spec() -> tuple[dict, dict, dict]:
    """``(defaults, annotations, choices)`` of the course's ``Recipe``, read from
    :mod:`course_utils.training` (imported on first use: it loads Keras, which the kit itself does
    not import). ``choices``: the names a string field accepts, from the modules that check them."""
    from course_utils import losses, models, precision
    from course_utils.training import Recipe
    default = Recipe()
    defaults = {f.name: getattr(default, f.name) for f in dataclass_fields(Recipe)}
    annotations = {f.name: str(f.type) for f in dataclass_fields(Recipe)}
    choices = {"strategy": tuple(losses.STRATEGIES), "final_strategy": tuple(losses.STRATEGIES),
               "head": tuple(models.HEADS), "precision": tuple(precision.PRECISIONS)}
    return defaults, annotations, choices


def plain(value):
    """A field value as the judge compares it: NumPy scalars → Python, lists → tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(float(value)))


# Ranges beyond the type, with the reason a student reads. Squared distances between unit vectors
# lie in [0, 4], so a margin above 4 can never be met.
_RANGES = {
    "P": (2, None, "a batch needs at least 2 people, or there are no negatives"),
    "K": (2, None, "each person needs at least 2 photos in the batch, or there are no positives"),
    "margin": (0, 4, "α must be above 0 (0 asks for nothing) and at most 4 (squared distances between unit "
                     "vectors are at most 4)", "open-low"),
    "learning_rate": (0, 1, "a learning rate is a small positive number (the default is 1e-3)", "open-low"),
    "warmup": (0, 1, "the warm-up is a fraction of the budget, from 0 up to (not including) 1", "open-high"),
    "final_lr_fraction": (0, 1, "a fraction of the learning rate, between 0 and 1"),
    "weight_decay": (0, 1, "weight decay is 0 or a small positive number (the default is 1e-4)"),
    "switch_start": (0, 1, "a fraction of the budget, between 0 and 1"),
    "switch_end": (0, 1, "a fraction of the budget, between 0 and 1"),
    "bn_momentum": (0, 1, "batch-norm momentum is at least 0 and below 1 (Keras' default is 0.99)", "open-high"),
    "embedding_dim": (2, None, "an embedding needs at least 2 numbers"),
    "steps_per_epoch": (1, None, "an epoch needs at least 1 step"),
    "seed": (0, None, "a seed is a whole number from 0 up"),
    "reestimate_bn": (0, None, "a number of batches, 0 for none"),
    "stem": (1, None, "the stem needs at least 1 filter (None: no stem)"),
}


def _kind_of(annotation: str) -> tuple[str, bool]:
    """``"int | None"`` → ``("int", True)``: the base type and whether None is allowed."""
    parts = [p.strip() for p in annotation.split("|")]
    optional = "None" in parts
    base = next((p for p in parts if p != "None"), "object")
    return ("tuple" if base.startswith("tuple") else base), optional


def field_problem(name: str, value, recipe: dict) -> str | None:
    """Why ``value`` is not a valid ``Recipe.<name>`` (type from the dataclass, range/choices from the
    course), or None when it is."""
    defaults, annotations, choices = recipe_spec()
    base, optional = _kind_of(annotations.get(name, "object"))
    got = f"{name}={show(value)}"
    if value is None:
        return None if optional else f"{got}: {name} cannot be None (the default is {show(defaults[name])})."
    if isinstance(value, h.OtherValue):
        return f"{got}: {name} should be a value (a {base}), not {value.kind}."
    if base == "bool":
        if not isinstance(value, (bool, np.bool_)):
            return f"{got}: {name} is True or False, not {h.kind(value)} {show(value)}."
        return None
    if base == "int":
        if isinstance(value, str):
            return f"{got}: {name} is a whole number, not the string {value!r} (no quotes)."
        if not _is_int(value):
            return f"{got}: {name} must be a whole number (an int), got {h.kind(value)} {show(value)}."
    if base == "float":
        if isinstance(value, str):
            return f"{got}: {name} is a number, not the string {value!r} (no quotes)."
        if not is_number(value):
            return f"{got}: {name} must be a finite number, got {h.kind(value)} {show(value)}."
    if base == "str":
        if not isinstance(value, str):
            return f"{got}: {name} is a name (a string), got {h.kind(value)}."
        allowed = choices.get(name)
        if allowed and value not in allowed:
            return f"{got}: {name} must be one of {', '.join(map(repr, allowed))}" + (" or None." if optional else ".")
        return None
    if base == "tuple":
        if not isinstance(value, tuple) or not value or not all(_is_int(v) and v >= 1 for v in value):
            return f"{got}: {name} is a tuple of positive whole numbers (channels per block), e.g. (16, 32, 64)."
        from course_utils.config import IMAGE_SIZE
        if 2 ** len(value) > IMAGE_SIZE:
            return f"{got}: {len(value)} blocks each halve the image; {IMAGE_SIZE}-pixel faces allow at most {int(math.log2(IMAGE_SIZE))}."
        return None
    if name in _RANGES:
        low, high, why, *how = _RANGES[name]
        v = float(value)
        open_low, open_high = "open-low" in how, "open-high" in how
        if (low is not None and (v <= low if open_low else v < low)) or (
                high is not None and (v >= high if open_high else v > high)):
            return f"{got} is out of range: {why}."
    if name in ("switch_start", "switch_end"):
        start = float(recipe.get("switch_start", 0) if name == "switch_end" else value)
        end = float(value if name == "switch_end" else recipe.get("switch_end", 1))
        if start > end:
            return f"{got}: the switch must start before it ends (switch_start ≤ switch_end, here {start} > {end})."
    return None


def recipe_changes(before: dict, after: dict) -> list[tuple[str, object, object]]:
    """``[(field, old, new)]`` for every field where the two recipes differ (lists as tuples)."""
    return [(k, plain(before[k]), plain(after.get(k))) for k in before if plain(before[k]) != plain(after.get(k))]


def changes_text(changes) -> str:
    return ", ".join(f"{k}: {show(a)} → {show(b)}" for k, a, b in changes)


# --------------------------------------------------------------------------------------------- my_recipe

_RECIPE_HINTS = (
    "Return a Recipe object (the dataclass itself, not a dict) that is the course's default recipe with exactly ONE "
    "field set to a different, valid value: for example a larger margin, another mining strategy, no augmentation "
    "or a higher learning rate.",
    "Build the recipe with a single keyword argument, the field you change, and leave every other field at its "
    "default. The value must make sense for that field: a margin above zero, whole numbers of at least two for P "
    "and K, a strategy the loss knows (batch_all, batch_hard or semi_hard), True or False for augment.",
)


def _recipe_cases(rng) -> list[h.Case]:
    # my_recipe takes no arguments: nothing to draw but the seed itself, which keeps every
    # submission's case file different, as for every other function.
    return [h.Case(args=(), names=(), probe_inputs={"draw": int(rng.integers(2**31))})]


def _unexpected_field(summary: str) -> str | None:
    found = re.search(r"unexpected keyword argument '(\w+)'", summary)
    return found.group(1) if found else None


def _judge_recipe(ex, cases, outputs) -> Verdict:
    records = outputs.get("records") or []
    if not records:
        return Verdict(False, "the grading probe returned no result for my_recipe.", "probe_failed")
    record = records[0]
    defaults, _, _ = recipe_spec()
    if "raised" in record:
        raised = record["raised"]
        if raised.get("not_implemented"):
            return Verdict(False, "my_recipe is not implemented yet", "not_done")
        message = f"my_recipe() raised {raised['summary']}"
        field = _unexpected_field(raised["summary"])
        if field:
            close = [k for k in defaults if k.lower() == field.lower()]
            message += (f"\nRecipe has no field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                        + f"; its fields are {', '.join(defaults)}.")
        return Verdict(False, message, "raised")
    obs = record["result"]
    kind = obs.get("kind")
    if kind == "None":
        return Verdict(False, "my_recipe() returned None: did you forget `return`? It should return a Recipe.",
                       "wrong_kind")
    if kind == "Python dict":
        return Verdict(False, "my_recipe() returned a dict: return the Recipe object itself (the dataclass, e.g. "
                              "Recipe(margin=0.5)), not its to_dict().", "wrong_kind")
    if kind == "other" and obs.get("type") == "type":
        return Verdict(False, f"my_recipe() returned the class {obs.get('repr') or 'Recipe'} itself: call it, with "
                              "the one field you change as a keyword argument, e.g. Recipe(margin=0.5).", "wrong_kind")
    if kind != "dataclass":
        got = h.revive(obs)
        shown = f" {h.fmt(got)}" if not isinstance(got, h.OtherValue) else ""
        return Verdict(False, f"my_recipe() should return a Recipe (e.g. Recipe(margin=0.5)); got {h.kind(got)}{shown}.",
                       "wrong_kind")
    type_name = str(obs.get("type", "")).rsplit(".", 1)[-1]
    values = {name: plain(h.revive(o)) for name, o in dict(obs.get("fields", {})).items()}
    if type_name != "Recipe" or set(values) != set(defaults):
        extra = sorted(set(values) - set(defaults))
        return Verdict(False, f"my_recipe() should return the course's Recipe; got a {type_name or 'dataclass'}"
                              + (f" with fields the Recipe does not have ({', '.join(extra)})" if extra else "")
                              + ".", "wrong_kind")
    changes = recipe_changes(defaults, values)
    if not changes:
        return Verdict(False, "my_recipe() returns the default Recipe() unchanged: change exactly one field (for "
                              "example margin, strategy, augment or learning_rate) to a new value.", "wrong_value")
    if len(changes) > 1:
        return Verdict(False, f"my_recipe() changes {len(changes)} fields ({changes_text(changes)}): a controlled "
                              "experiment changes exactly ONE, so that a difference in validation AUC can only come "
                              "from it. Keep one of them.", "wrong_value")
    name, old, new = changes[0]
    problem = field_problem(name, new, values)
    if problem:
        return Verdict(False, f"my_recipe() sets an invalid value: {problem}", "wrong_value")
    return Verdict(True, f"✓ my_recipe: one field changed — {name}: {show(old)} → {show(new)}.", "correct")


MY_RECIPE = h.JudgedExercise(
    grade_id="ex_my_recipe_check", lesson="06", name="my_recipe", answer_names=("my_recipe",),
    make_cases=_recipe_cases, judge_with=_judge_recipe, hints=_RECIPE_HINTS)


def check_my_recipe(my_recipe, seed: int | None = None):
    """Check ``my_recipe()``: a ``Recipe`` with exactly one field changed to a valid value."""
    if not callable(my_recipe):
        raise h.CheckFailed("check_my_recipe expects your function my_recipe itself (no parentheses); "
                            f"got {h.kind(my_recipe)} {h.fmt(my_recipe)}.")
    seed, verdict = h.judge_here(MY_RECIPE, my_recipe, seed)
    if verdict.reason == "not_done":
        return h.not_done("my_recipe", _RECIPE_HINTS, my_recipe, continues="the example change (margin 0.2 → 0.5)")
    if not verdict.passed:
        raise h.CheckFailed(verdict.message)
    print(verdict.message)
    return my_recipe
