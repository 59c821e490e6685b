"""The grading protocol: data codec, the probe run in a fresh namespace, judging from data alone."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from course_utils.exercises import GRADED, protocol
from course_utils.exercises.protocol import AsTensor, FakeEncoder, decode, encode


# --- codec ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, bool,
                                   np.complex64, "U5"])
def test_arrays_round_trip_with_dtype_and_shape(dtype):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 4)) * 50).astype(dtype) if dtype != "U5" else np.array([["ab", "cdefg"]])
    y = decode(encode(x))
    assert isinstance(y, np.ndarray) and y.dtype == x.dtype and y.shape == x.shape
    assert np.array_equal(x, y)


def test_nested_data_round_trips():
    rng = np.random.default_rng(1)
    data = {"a": [1, 2.5, "three", None, True], "t": (np.float32(1.5), np.int64(7), (1, 2)),
            "nan": float("nan"), "inf": -float("inf"), "x": rng.normal(size=(2, 0)),
            "scalar": np.array(3.0), 3: "int key", "__tricky": "key", "s": "ünïcode α"}
    back = decode(encode(data))
    assert back["a"] == [1, 2.5, "three", None, True]
    assert isinstance(back["t"], tuple) and isinstance(back["t"][0], np.float32) and back["t"][0] == 1.5
    assert isinstance(back["t"][1], np.int64) and back["t"][2] == (1, 2)
    assert np.isnan(back["nan"]) and back["inf"] == -float("inf")
    assert back["x"].shape == (2, 0) and back["scalar"].shape == ()
    assert back[3] == "int key" and back["__tricky"] == "key" and back["s"] == "ünïcode α"


def test_tensors_and_fake_encoders_are_data():
    w = np.random.default_rng(2).normal(size=(4 * 4 * 3, 5))
    enc = FakeEncoder(w, (4, 4, 3), as_tensor=False)
    back = decode(encode([AsTensor(np.ones((2, 3), np.float32)), enc]))
    assert isinstance(back[0], AsTensor) and back[0].array.dtype == np.float32
    images = np.random.default_rng(3).uniform(0, 255, size=(2, 4, 4, 3))
    assert np.array_equal(back[1].predict(images), enc.predict(images))


def test_no_pickle_and_no_code():
    with pytest.raises(TypeError):
        encode(lambda x: x)
    with pytest.raises(TypeError):
        encode(np.array([object()], dtype=object))
    source = protocol.probe_module_source()
    assert "import pickle" not in source and "pickle." not in source and "allow_pickle=True" not in source


def test_the_probe_is_one_module_run_whole_that_imports_no_course_code():
    """What runs in the graded kernel is course_utils/exercises/probe.py, all of it: stdlib and
    NumPy at import, TensorFlow only inside functions, never course_utils (the kernel's is hidden)."""
    import ast
    import sys
    from pathlib import Path

    from course_utils.exercises import probe
    text = Path(probe.__file__).read_text(encoding="utf-8")
    assert text == protocol.probe_module_source()
    source = protocol.probe_source(TRIPLET, "cases.json", "out.json")
    assert repr(text) in source
    tree = ast.parse(text)
    allowed_at_import = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert all(n.split(".")[0] in allowed_at_import for n in names), ast.unparse(node)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] == "course_utils" for n in names), ast.unparse(node)


def test_every_graded_id_is_a_check_cell_of_the_solutions():
    import json
    import pathlib
    ids = set()
    for path in pathlib.Path(__file__).resolve().parents[2].joinpath("solutions").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if grade_id.endswith("_check"):
                ids.add(grade_id)
    assert set(GRADED) == ids


def test_every_reference_and_forbidden_function_is_a_real_function():
    """A renamed course function must fail here, not silently stop being hidden while grading."""
    import inspect

    from course_utils.exercises.course_function import CourseFunction
    from coursekit.hidden import ALSO_COMPUTES
    refs = [(ex.name, ref) for ex in GRADED.values() for ref in (ex.reference, *ex.forbidden) if ref is not None]
    refs += [(f"lesson {lesson}", ref) for lesson, also in ALSO_COMPUTES.items() for ref in also]
    assert len(refs) > 40
    for owner, ref in refs:
        assert isinstance(ref, CourseFunction), (owner, ref)
        found = ref.resolve()
        assert inspect.isfunction(found), (owner, ref.path, found)
        assert found.__name__ == ref.function, (owner, ref.path)       # not some other object under that name


def test_a_misspelt_course_function_does_not_resolve():
    from course_utils.exercises.course_function import CourseFunction
    with pytest.raises(AttributeError):
        CourseFunction("course_utils.metrics", "squared_distance").resolve()
    assert CourseFunction("course_utils.database", "FaceDatabase.verify").path == "course_utils.database:FaceDatabase.verify"


def test_cases_are_deterministic_given_the_seed():
    for exercise in GRADED.values():
        assert encode(protocol._case_data(exercise.cases(5))) == encode(protocol._case_data(exercise.cases(5)))
        assert encode(protocol._case_data(exercise.cases(5))) != encode(protocol._case_data(exercise.cases(6)))


# --- the probe, run in a fresh namespace as the grader runs it in the kernel ---------------------------

def _probe(exercise, namespace: dict, tmp_path, seed=11):
    cases = exercise.cases(seed)
    cases_path, out_path = tmp_path / "cases.json", tmp_path / "out.json"
    protocol.write_cases(cases, cases_path)
    exec(protocol.probe_source(exercise, cases_path, out_path), namespace)
    assert not [k for k in namespace if "course_probe" in k]          # nothing left behind
    return exercise.judge(cases, protocol.read_outputs(out_path))


TRIPLET = GRADED["ex_triplet_loss_check"]
PAIRWISE = GRADED["ex_pairwise_distances_check"]

CORRECT_TRIPLET = """
from keras import ops
def triplet_loss(anchor, positive, negative, alpha=0.2):
    d_pos = ops.sum(ops.square(anchor - positive), axis=1)
    d_neg = ops.sum(ops.square(anchor - negative), axis=1)
    return ops.mean(ops.maximum(d_pos - d_neg + alpha, 0.0))
"""


def _namespace(source: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace


def test_probe_accepts_a_correct_answer(tmp_path):
    verdict = _probe(TRIPLET, _namespace(CORRECT_TRIPLET), tmp_path)
    assert verdict.passed and verdict.reason == "correct", verdict.message


def test_probe_names_a_wrong_answer(tmp_path):
    verdict = _probe(TRIPLET, _namespace(CORRECT_TRIPLET.replace("+ alpha", "- alpha")), tmp_path)
    assert not verdict.passed and verdict.reason == "wrong_value"
    assert "the margin is subtracted" in verdict.message


def test_probe_rejects_a_numpy_loss(tmp_path):
    source = ("import numpy as np\ndef triplet_loss(a, p, n, alpha=0.2):\n"
              "    a, p, n = (np.asarray(x) for x in (a, p, n))\n"
              "    return np.mean(np.maximum(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + alpha, 0))\n")
    verdict = _probe(TRIPLET, _namespace(source), tmp_path)
    assert not verdict.passed and verdict.reason == "wrong_kind"
    assert "your result is a NumPy value; use keras.ops" in verdict.message


def test_probe_rejects_numpy_pairwise_distances_under_tf_function(tmp_path):
    source = ("import numpy as np\ndef pairwise_squared_distances(e):\n"
              "    e = np.asarray(e, dtype=np.float64)\n"
              "    return np.sum((e[:, None, :] - e[None, :, :]) ** 2, axis=-1)\n")
    verdict = _probe(PAIRWISE, _namespace(source), tmp_path)
    assert not verdict.passed and verdict.reason == "requirement"
    assert "tf.function" in verdict.message and "symbolic" in verdict.message


@pytest.mark.parametrize("source", [
    "from course_utils.losses import triplet_loss\n",
    "from course_utils.exercises.solutions import triplet_loss\n",
])
def test_the_graders_judge_scores_the_course_implementation_itself_zero(source, tmp_path):
    verdict = _probe(TRIPLET, _namespace(source), tmp_path)
    assert not verdict.passed and verdict.reason == "course_implementation", verdict.message
    assert "course" in verdict.message and "triplet_loss" in verdict.message


def test_a_students_own_check_accepts_the_course_implementation(tmp_path):
    """The in-notebook check runs the course's reference as a correct answer (the tests rely on it)."""
    from course_utils import losses
    outputs = protocol.run_in_process(TRIPLET, {"triplet_loss": losses.triplet_loss}, TRIPLET.cases(3), tmp_path)
    assert TRIPLET.judge(TRIPLET.cases(3), outputs).passed


LEANS_ON_THE_COURSE = {
    "wrapper": "from course_utils import losses\ndef triplet_loss(a, p, n, alpha=0.2):\n"
               "    return losses.triplet_loss(a, p, n, alpha) + 0.0\n",
    "lambda": "from course_utils.losses import triplet_loss as _t\n"
              "triplet_loss = lambda a, p, n, alpha=0.2: _t(a, p, n, alpha)\n",
    "profiler switched off around it": "import sys\nfrom course_utils import losses\n"
        "def triplet_loss(a, p, n, alpha=0.2):\n    old = sys.getprofile(); sys.setprofile(None)\n"
        "    try:\n        return losses.triplet_loss(a, p, n, alpha)\n    finally:\n        sys.setprofile(old)\n",
    "through getattr": "import importlib\ndef triplet_loss(a, p, n, alpha=0.2):\n"
        "    return getattr(importlib.import_module('course_utils.losses'), 'triplet_' + 'loss')(a, p, n, alpha)\n",
    "the kit's solution": "from course_utils.exercises import solutions\n"
        "def triplet_loss(a, p, n, alpha=0.2):\n    return solutions.triplet_loss(a, p, n, alpha)\n",
}

KERNEL = textwrap.dedent('''
    import json, sys
    import course_utils
    assert course_utils.__file__.startswith(sys.argv[1]), course_utils.__file__
    with open(sys.argv[2], encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        namespace = {"__name__": "__main__"}
        exec(job["source"], namespace)
        exec(job["probe"], namespace)
''')


def test_an_answer_that_leans_on_the_course_scores_zero_in_a_graded_kernel(tmp_path):
    """As in grading: the probe source runs in another process whose course_utils is the grader's
    hidden copy, and the judge here reads what it wrote. However the answer reaches the course's
    implementation, it finds a placeholder, and the verdict names it."""
    import json
    import subprocess
    import sys

    from coursekit import hidden, sandbox
    files, _ = hidden.kernel_package(sandbox.CourseSnapshot.take().package, [TRIPLET])
    for rel, data in files.items():
        path = tmp_path / "pkg" / "course_utils" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    cases = TRIPLET.cases(7)
    protocol.write_cases(cases, tmp_path / "cases.json")
    jobs = [{"source": source, "probe": protocol.probe_source(TRIPLET, tmp_path / "cases.json", tmp_path / f"out{i}.json")}
            for i, source in enumerate(LEANS_ON_THE_COURSE.values())]
    jobs.append({"source": CORRECT_TRIPLET, "probe": protocol.probe_source(TRIPLET, tmp_path / "cases.json",
                                                                           tmp_path / "honest.json")})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")     # too long for one argument
    run = subprocess.run([sys.executable, "-c", KERNEL, str(tmp_path / "pkg"), str(tmp_path / "jobs.json")], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300,
                         env={"PYTHONPATH": str(tmp_path / "pkg"), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-3000:]
    for i, name in enumerate(LEANS_ON_THE_COURSE):
        verdict = TRIPLET.judge(cases, protocol.read_outputs(tmp_path / f"out{i}.json"))
        assert not verdict.passed and verdict.reason == "course_implementation", (name, verdict)
        assert "the grader does not provide" in verdict.message, (name, verdict.message)
    honest = TRIPLET.judge(cases, protocol.read_outputs(tmp_path / "honest.json"))
    assert honest.passed, honest.message


def test_probe_reports_an_unsolved_exercise_and_a_missing_name(tmp_path):
    stub = "def triplet_loss(a, p, n, alpha=0.2):\n    raise NotImplementedError()\n"
    assert _probe(TRIPLET, _namespace(stub), tmp_path).reason == "not_done"
    assert _probe(TRIPLET, _namespace("x = 1\n"), tmp_path).reason == "missing"
    assert _probe(TRIPLET, _namespace("triplet_loss = 0.5\n"), tmp_path).reason == "not_callable"


def test_importing_the_kit_does_not_import_tensorflow():
    """The kit itself imports only NumPy (the parent package's own imports are bypassed here)."""
    import subprocess
    import sys
    import textwrap
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2]
    code = textwrap.dedent(f"""
        import sys, types
        package = types.ModuleType("course_utils")
        package.__path__ = [{str(root / "course_utils")!r}]
        sys.modules["course_utils"] = package
        import course_utils.exercises
        assert len(course_utils.exercises.GRADED) == 16
        heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print("heavy:", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "heavy: []" in out.stdout, out.stdout


def _parse_in_threads(parse, source: str) -> list[str]:
    """Parse ``source`` from four threads while a fifth makes cyclic garbage with finalizers (the
    collector then runs Python code mid-parse, which lets threads switch inside the AST builder)."""
    import sys
    import threading

    errors: list[str] = []

    class Finalized:
        def __del__(self):
            sum(range(50))

    def garbage():
        for _ in range(200_000):
            a, b = Finalized(), Finalized()
            a.other, b.other = b, a
            if errors:
                return

    def parse_often():
        for _ in range(40):
            try:
                parse(source)
            except SystemError as err:
                errors.append(str(err))
                return

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=parse_often) for _ in range(4)] + [threading.Thread(target=garbage)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return errors


def test_source_is_parsed_safely_from_many_threads():
    """The grader judges submissions in threads; on CPython 3.11 bare ``ast.parse`` there fails now
    and then ("AST constructor recursion depth mismatch"), which once failed a whole grading run."""
    import inspect

    from course_utils import database

    source = inspect.getsource(database)
    assert _parse_in_threads(protocol.parse_python, source) == []
