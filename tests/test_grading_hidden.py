"""The package a graded kernel gets (coursekit.hidden): the lesson's answers are not in it, the rest is."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from coursekit import hidden, sandbox
from course_utils.exercises import EXERCISES
from course_utils.exercises.harness import HIDDEN_MARK

LESSONS = sorted({ex.lesson for ex in EXERCISES})


@pytest.fixture(scope="module")
def snapshot():
    return sandbox.CourseSnapshot.take()


def _write(files, root):
    for rel, data in files.items():
        path = root / "course_utils" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


PROBE = textwrap.dedent('''
    import importlib, inspect, json, pkgutil, sys
    import course_utils
    assert course_utils.__file__.startswith(sys.argv[1]), course_utils.__file__
    failed = {}
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        if info.name.startswith("course_utils.widgets"):
            continue                      # needs a display stack; imports nothing hidden
        try:
            importlib.import_module(info.name)
        except Exception as err:
            failed[info.name] = repr(err)
    calls = {}
    for ref in json.loads(sys.argv[2]):
        parts = ref.split(".")
        for cut in range(len(parts) - 1, 0, -1):          # the longest prefix that is a module
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        try:
            params = inspect.signature(obj).parameters.values()    # None for every required argument
            obj(*[None for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
                **{p.name: None for p in params if p.default is p.empty and p.kind == p.KEYWORD_ONLY})
            calls[ref] = "returned"
        except Exception as err:
            calls[ref] = str(err)
    from course_utils.exercises import check_triplet_loss, loop_references
    from course_utils.exercises.solutions import triplet_loss
    try:
        triplet_loss(1, 2, 3)
    except Exception as err:
        calls["solutions.triplet_loss"] = str(err)
    print(json.dumps({"failed": failed, "calls": calls}))
''')


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_kernel_package_imports_and_hides_the_lessons_answers(lesson, snapshot, tmp_path):
    exercises = [ex for ex in EXERCISES if ex.lesson == lesson]
    files, names = hidden.kernel_package(snapshot.package, exercises)
    _write(files, tmp_path)
    refs = names[1:]          # module.function or module.Class.method, called with dummy arguments
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), json.dumps(refs)], capture_output=True,
                         text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin",
                                                       "COURSE_QUICK": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    for ref, message in report["calls"].items():
        assert HIDDEN_MARK in message, (ref, message)
    # Every forbidden reference outside the kit is among the hidden names.
    for ex in exercises:
        for ref in ex.forbidden:
            if not ref.module.startswith("course_utils.exercises"):
                assert any(n.startswith(ref.module + ".") and n.endswith("." + ref.function) for n in names), (
                    ref, names)


def test_modules_without_hidden_functions_are_byte_for_byte_the_course(snapshot):
    files, names = hidden.kernel_package(snapshot.package, [ex for ex in EXERCISES if ex.lesson == "04"])
    touched = {n.split(".")[1] for n in names[1:]}
    for rel, data in snapshot.package.items():
        if rel.startswith("exercises/"):
            assert HIDDEN_MARK.encode() not in files[rel] or rel.endswith(".py")
            assert b"def triplet_loss" not in files[rel]      # no solution code at all in the kit
        elif rel[:-3] not in touched:
            assert files[rel] == data, rel


def test_stub_keeps_signature_and_docstring():
    source = textwrap.dedent('''
        import math

        def kept(x):
            return x + 1

        def gone(a, b=2):
            """Add them."""
            total = a + b
            return total

        class Box:
            def size(self):
                return 3
    ''')
    new, done = hidden.stub_functions(source, "m", {"gone", "size"})
    assert done == ["gone", "Box.size"]
    namespace = {}
    exec(new, namespace)
    assert namespace["kept"](1) == 2 and namespace["gone"].__doc__ == "Add them."
    for call in (lambda: namespace["gone"](1), lambda: namespace["Box"]().size()):
        with pytest.raises(RuntimeError, match=HIDDEN_MARK):
            call()
    assert "total = a + b" not in new
