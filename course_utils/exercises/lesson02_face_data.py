"""Lesson 2 — face data: ``check_split_people``.

``split_people(labels, test_fraction=0.25, seed=0)`` → ``(train_idx, test_idx)``: image indices,
every image exactly once, nobody on both sides (the classic leak: splitting images at random
inflates accuracy), about ``round(test_fraction × people)`` test people (±1), both sides
non-empty; the same seed gives the same split, another seed another split. Mistakes named:
boolean masks instead of indices; person ids instead of image indices; the two sides swapped;
``test_fraction`` applied to images.
"""
from __future__ import annotations

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.course_function import CourseFunction as CF

_SPLIT_HINTS = (
    'Split PEOPLE, not images: shuffle the distinct labels with the given seed, send a share test_fraction of the people (rounded to the nearest whole person, and at least one person on each side) to the test side, and return two int arrays of IMAGE indices: (train_idx, test_idx). No person may appear on both sides.',
    'The key operations: np.unique for the people, a NumPy Generator made by np.random.default_rng from the seed, and its permutation, round, min/max to keep one person on each side, np.isin to mark the test images, np.flatnonzero for the indices.',
)

_LEAK_EXPLANATION = (
    "If the images are split at random, the same person ends up in train AND test: the test then "
    "measures how well the model recognises people it has already seen, which is much easier: it "
    "inflates the accuracy, which then looks better than it will be on new people. Split the PEOPLE "
    "first, then take all images of each test person.")


def _index_array(raw, side: str, n: int, labels: np.ndarray) -> np.ndarray:
    if raw is None:
        raise h.Bad(f"{side} is None; expected an array of image indices.")
    try:
        arr = h.as_array(raw)
    except Exception:  # noqa: BLE001
        raise h.Bad(f"{side}: expected an array of image indices, got {h.kind(raw)}.") from None
    if arr.dtype == bool:
        raise h.Bad(f"{side} is a boolean mask (dtype bool, shape {arr.shape}); return the image INDICES "
                   "instead: np.flatnonzero(mask) (or np.where(mask)[0]).")
    if arr.ndim != 1:
        raise h.Bad(f"{side}: expected a 1-D array of image indices, got shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "iu":
        raise h.Bad(f"{side}: image indices must be integers, got dtype {arr.dtype}. "
                   "np.flatnonzero / np.where give int arrays.")
    return arr.astype(np.int64)


def _looks_swapped(raws, cases) -> bool:
    """True when, in every test, the TRAIN side has about the number of test people asked for."""
    far_somewhere = False
    for raw, case in zip(raws, cases):
        try:
            labels = case.args[0]
            n_people = len(np.unique(labels))
            target = round(case.data["fraction"] * n_people)
            n_train = len(np.unique(labels[h.as_array(raw[0]).astype(np.int64)]))
            n_test = len(np.unique(labels[h.as_array(raw[1]).astype(np.int64)]))
        except Exception:  # noqa: BLE001 — malformed results are reported elsewhere
            return False
        if abs(n_train - target) > 1:
            return False
        far_somewhere |= abs(n_test - target) > 1
    return far_somewhere


def _split_problem(raw, labels: np.ndarray, test_fraction: float, swapped: bool = False) -> str | None:
    """What is wrong with one split (a message), or None."""
    n = len(labels)
    people = np.unique(labels)
    try:
        first, second = h.pair(raw, "(train_idx, test_idx)")
        train = _index_array(first, "train_idx", n, labels)
        test = _index_array(second, "test_idx", n, labels)
    except h.Bad as bad:
        return str(bad)
    both = np.concatenate([train, test])
    if len(both) == len(people) and len(people) < n and set(both.tolist()) <= set(people.tolist()):
        return (f"you returned person ids ({len(train)} + {len(test)} values for {len(people)} people); "
                f"return the indices of their IMAGES ({n} in total): "
                "np.flatnonzero(np.isin(labels, test_people)) for the test side, the rest for train.")
    if both.size and (both.min() < 0 or both.max() >= n):
        return f"indices must be between 0 and {n - 1} (one per image); got values from {both.min()} to {both.max()}."
    counts = np.bincount(both, minlength=n)
    if np.any(counts != 1):
        missing, repeated = int(np.sum(counts == 0)), int(np.sum(counts > 1))
        return (f"every image must be in exactly one of the two sides: {missing} image(s) are missing and "
                f"{repeated} appear more than once ({len(train)} + {len(test)} indices for {n} images).")
    leaked = np.intersect1d(labels[train], labels[test])
    if len(leaked):
        return (f"{len(leaked)} of {len(people)} people have images on BOTH sides (e.g. person "
                f"{h.fmt(leaked[0])}). {_LEAK_EXPLANATION}")
    n_test = len(np.unique(labels[test]))
    n_train = len(np.unique(labels[train]))
    target = round(test_fraction * len(people))
    if swapped and abs(n_test - target) > 1:
        return (f"the two sides look swapped: {n_train} people on the train side and {n_test} on the test side, "
                f"but test_fraction={test_fraction} of {len(people)} people is about {target}. "
                "Return (train_idx, test_idx), train first.")
    if n_test == 0 or n_test == len(people):
        side = "test" if n_test == 0 else "train"
        hint = (f" int({test_fraction} × {len(people)}) rounds down to 0: use round(...) and keep at least one "
                "person on each side, e.g. max(1, round(test_fraction * n_people)).") if n_test == 0 else ""
        return f"the {side} side is empty; both sides need people (test_fraction={test_fraction}).{hint}"
    if abs(n_test - target) > 1:
        return (f"{n_test} of {len(people)} people are on the test side, but test_fraction={test_fraction} asks "
                f"for about round({test_fraction} × {len(people)}) = {target}. test_fraction is a share of "
                "the PEOPLE (not of the images).")
    return None


def _split_labels(rng, people: int, per_person: tuple, ids: bool) -> np.ndarray:
    """Labels of ``people`` people: 0..people−1, or (``ids``) arbitrary person ids such as 17, 402, …"""
    counts = rng.integers(per_person[0], per_person[1] + 1, size=people)
    labels = rng.permutation(np.repeat(np.arange(people), counts)).astype(np.int64)
    return np.sort(rng.choice(5000, size=people, replace=False))[labels] if ids else labels



def _split_cases(rng) -> list[h.Case]:
    plan = [  # (people, images per person (min, max), test_fraction or None, seed or None, person ids?)
        (8, (1, 5), None, None, False),
        (10, (2, 4), 0.2, 3, True),
        (25, (1, 6), 0.25, 7, False),
        (4, (2, 3), 0.5, 11, True),
        (12, (1, 8), 0.33, 0, False),
        (3, (2, 3), 0.25, 5, True),      # round(0.75) = 1 test person; int(0.75) = 0 leaves it empty
    ]
    cases = []
    for people, per_person, fraction, seed, ids in plan:
        labels = _split_labels(rng, people, per_person, ids)
        kwargs = {}
        if fraction is not None:
            kwargs["test_fraction"] = fraction
        if seed is not None:
            kwargs["seed"] = seed
        cases.append(h.Case(args=(labels,), kwargs=kwargs, names=("labels",),
                            data={"fraction": 0.25 if fraction is None else fraction, "role": "split"}))
    big = cases[2]                           # then: the same seed again, and three other seeds
    cases.append(h.Case(args=big.args, kwargs=dict(big.kwargs), names=big.names,
                        data={**big.data, "role": "again"}))
    for other in (1, 2, 3):
        cases.append(h.Case(args=big.args, kwargs={**big.kwargs, "seed": big.kwargs["seed"] + other},
                            names=big.names, data={**big.data, "role": "other seed"}))
    return cases


N_TESTS = 8                                  # 6 splits + "same seed, same split" + "other seed, other split"


def _judge_split(ex, cases, outputs) -> h.Verdict:
    records = outputs.get("records", [])
    for i, record in enumerate(records):
        if "raised" in record:
            raised = record["raised"]
            if raised.get("not_implemented"):
                return h.Verdict(False, "split_people is not implemented yet", "not_done")
            lines = [f"split_people raised {raised['summary']}",
                     f"Inputs (test {min(i, N_TESTS - 1) + 1} of {N_TESTS}):", h.show_inputs(cases[i])]
            if raised.get("hint"):
                lines.insert(1, f"Likely mistake: {raised['hint']}")
            return h.Verdict(False, "\n".join(lines), "raised")
    if len(records) != len(cases):
        return h.Verdict(False, f"the grading probe returned {len(records)} results for {len(cases)} calls.",
                         "probe_failed")
    raws = [h.revive(r["result"]) for r in records]
    splits = [i for i, c in enumerate(cases) if c.data["role"] == "split"]
    swapped = _looks_swapped([raws[i] for i in splits], [cases[i] for i in splits])
    for i in splits:
        case = cases[i]
        problem = _split_problem(raws[i], case.args[0], case.data["fraction"], swapped)
        if problem:
            labels = case.args[0]
            return h.Verdict(False,
                f"split_people is not right yet (test {i + 1} of {N_TESTS}): {problem}\nInputs:\n"
                f"  labels = {len(labels)} images of {len(np.unique(labels))} people "
                f"{h.fmt(labels) if len(labels) <= 16 else ''}".rstrip()
                + "".join(f"\n  {k} = {v}" for k, v in case.kwargs.items()), "wrong_value")
    big = cases[splits[2]]
    again = raws[next(i for i, c in enumerate(cases) if c.data["role"] == "again")]
    if not all(np.array_equal(h.as_array(a), h.as_array(b)) for a, b in zip(raws[splits[2]], again)):
        return h.Verdict(False,
            "split_people is not right yet: the same seed must give the same split, but two calls with "
            f"seed={big.kwargs['seed']} gave different results. Make ALL the randomness come from "
            "rng = np.random.default_rng(seed) (no unseeded np.random.* / random.* calls).", "requirement")
    test_people = set(big.args[0][h.as_array(raws[splits[2]][1])].tolist())
    for i, case in enumerate(cases):
        if case.data["role"] != "other seed":
            continue
        problem = _split_problem(raws[i], big.args[0], big.data["fraction"])
        if problem:
            return h.Verdict(False, f"split_people is not right yet (seed={case.kwargs['seed']}): {problem}",
                             "wrong_value")
        if set(big.args[0][h.as_array(raws[i][1])].tolist()) != test_people:
            return h.Verdict(True, f"✓ split_people: correct on {N_TESTS} randomized tests.", "correct")
    return h.Verdict(False,
        "split_people is not right yet: another seed must give another split, but seeds "
        f"{big.kwargs['seed']}…{big.kwargs['seed'] + 3} all put the same people on the test side. "
        "Create the generator from the argument: np.random.default_rng(seed).", "requirement")


SPLIT_PEOPLE = h.JudgedExercise(
    grade_id="ex_split_people_check", lesson="02", name="split_people", answer_names=("split_people",),
    make_cases=_split_cases, judge_with=_judge_split,
    hints=_SPLIT_HINTS, reference=CF("course_utils.exercises.solutions", "split_people"),
    forbidden=(CF("course_utils.exercises.solutions", "split_people"), CF("course_utils.datasets", "split_by_identity")))


def check_split_people(fn, seed: int | None = None):
    """Check ``split_people(labels, test_fraction=0.25, seed=0)`` → ``(train_idx, test_idx)``."""
    return h.check(SPLIT_PEOPLE, fn, seed=seed)
