"""The ⏳ hint ladder: two rungs per exercise, written as words — never the answer's code."""
import re

import pytest

from course_utils.exercises import EXERCISES, harness, hint

# What code looks like in a sentence: a call with arguments glued to a name, an assignment,
# slicing/broadcasting syntax, a lambda or a return statement with an expression.
CODE = [
    (re.compile(r"[A-Za-z_][\w.]*\([^)\s][^)]*\)"), "a call with arguments"),
    (re.compile(r"(?<![<>!=])=(?!=)\s*[\w({\[]"), "an assignment"),
    (re.compile(r"\[[^\]]*(:|None)[^\]]*\]"), "slicing or broadcasting syntax"),
    (re.compile(r"\blambda\b|\breturn\s+[\w(]+[.(]"), "a lambda or a return expression"),
    (re.compile(r"\*\*|@"), "a Python operator"),
]


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.name for ex in EXERCISES])
def test_every_exercise_has_two_hints_in_words(ex):
    hints = harness.exercise_hints(ex)
    assert len(hints) == harness.HINT_LEVELS, f"{ex.name}: {len(hints)} hints, want {harness.HINT_LEVELS}"
    assert hints[0] != hints[1]
    for level, text in enumerate(hints, 1):
        assert len(text) > 60, (ex.name, level, text)
        for pattern, what in CODE:
            found = pattern.search(text)
            assert not found, f"{ex.name} hint {level} holds {what}: {found.group(0)!r}"


def test_the_code_detector_catches_the_old_hints():
    """The hints this ladder replaced printed lines of the answer: the detector must see them."""
    old = ["then return ops.mean(ops.maximum(d_pos − d_neg + alpha, 0)) — a scalar tensor.",
           "labels[:, None] != labels[None, :] (a boolean (B, B) mask).",
           "np.flatnonzero(~in_test), np.flatnonzero(in_test) with in_test = np.isin(labels, test_people)."]
    for text in old:
        assert any(p.search(text) for p, _ in CODE), text


def test_hint_prints_the_asked_level_and_names_typos(capsys):
    hint("triplet_loss", 1)
    first = capsys.readouterr().out
    hint("triplet_loss")
    second = capsys.readouterr().out
    assert first.startswith("Hint 1 for triplet_loss:") and second.startswith("Hint 2 for triplet_loss:")
    assert first != second
    with pytest.raises(ValueError, match="did you mean 'triplet_loss'"):
        hint("triplet_los")
