"""The autograder on tiny notebooks: right, unsolved, wrong, tampered, crashing and looping."""
import csv

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import classlist, grading

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def lesson(body: str, check: str = "assert add_one(1) == 2, 'add_one is wrong'"):
    return new_notebook(metadata=KERNEL, cells=[
        new_code_cell(body, metadata={"nbgrader": {"solution": True, "grade": False, "locked": False,
                                                   "grade_id": "ex_add", "schema_version": 3}}),
        new_code_cell(check, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                     "grade_id": "ex_add_check", "points": 2, "schema_version": 3}}),
        new_code_cell("print('after')"),
        new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                            "grade_id": "free_point", "points": 1,
                                                            "schema_version": 3}}),
    ])


def test_grade_folder(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), solutions / "01_demo.ipynb")
    subs = tmp_path / "subs"
    cases = {
        "ana": lesson("def add_one(x):\n    return 1 + x"),                       # right
        "ben": lesson("def add_one(x):\n    raise NotImplementedError()"),         # unsolved
        "cy": lesson("def add_one(x):\n    return x"),                              # wrong
        "dee": lesson("def add_one(x):\n    return x", check="pass  # check removed"),  # tampered check
        "eve": lesson("while True:\n    pass"),                                     # loops forever
    }
    for name, nb in cases.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "01_demo.ipynb")
    (subs / "fay").mkdir()
    (subs / "fay" / "01_demo.ipynb").write_text("{not json")                     # unreadable
    rows = grading.grade_folder(subs, tmp_path / "grades.csv", cell_timeout=5, solutions=solutions,
                               seed_data=False)
    by = {r["student"]: r for r in rows}
    assert by["ana"]["total"] == 3 and by["ana"]["max"] == 3
    assert by["ben"]["ex_add_check"] == 0 and by["ben"]["free_point"] == 1
    assert by["cy"]["ex_add_check"] == 0
    assert by["dee"]["ex_add_check"] == 0          # the original check was restored and failed
    # the loop is interrupted and grading goes on: the later free point still counts
    assert by["eve"]["ex_add_check"] == 0 and by["eve"]["free_point"] == 1
    assert "interrupted" in by["eve"]["status"]
    assert by["fay"]["total"] == 0 and "unreadable" in by["fay"]["status"]
    with open(tmp_path / "grades.csv") as f:
        table = list(csv.DictReader(f))
    assert {r["student"] for r in table} == set(by) and float(table[0]["max"]) == 3
    feedback = (tmp_path / "feedback" / "cy" / "01_demo.md").read_text()
    assert "0/2" in feedback and "add_one is wrong" not in feedback or "raised" in feedback


def test_flat_layout_is_found(tmp_path):
    nbformat.write(lesson("x = 1"), tmp_path / "zoe__01_demo.ipynb")
    assert classlist.find_submissions(tmp_path) == [("zoe", tmp_path / "zoe__01_demo.ipynb")]


def test_review_flags_name_what_to_look_at():
    from coursekit.review import review_flags
    cases = {
        "import os\nos._exit(0)": "process exit",
        "import sys\nsys.exit()": "process exit",
        "import os\nos.environ['COURSE_GRADING'] = '0'": "environment change",
        "%env COURSE_GRADING=0": "environment change",
        "get_ipython().set_custom_exc((Exception,), h)": "IPython",
        "ip = get_ipython()\nip.showtraceback = lambda *a: None": "IPython",
        "from course_utils.exercises.solutions import triplet_loss": "course internals",
        "x = losses.triplet_loss": "course internals",
        "checks.check_triplet_loss = lambda f: f": "module attribute assignment",
        "open('/work/solutions/04.ipynb', 'w').write('')": "file write outside",
        "import sys\nsys.setprofile(None)": "tracing hook",
        "import subprocess\nsubprocess.Popen(['sleep', '9'])": "subprocess",
        "!sleep 100 &": "subprocess",
        "import threading\nthreading.Thread(target=forge).start()": "background threads",
        "class checks:\n    pass": "course name shadowed",
        # the same, spelt so that no name above appears
        "import sys\nsys.__dict__.update(setprofile=lambda *a: None)": "reaching past names (sys.__dict__)",
        "import json\njson.__dict__['dumps'] = forged": "reaching past names (json.__dict__)",
        "import sys\nnames = [sys._getframe(i).f_code.co_name for i in range(5)]": "stack inspection",
        "f = getattr(losses, 'triplet' + '_loss')": "dynamic attribute access (getattr(losses",
        "import gc\nrefs = gc.get_objects()": "introspection (gc)",
        "import ctypes": "native code (ctypes)",
        "b = __builtins__": "reaching past names (__builtins__)",
        "import importlib\nm = importlib.import_module('course_' + 'utils.losses')": "introspection (importlib)",
        "open(site_dir + '/evil.pth', 'w')": "interpreter start-up files",
        "p = '/home/me/.ipython/profile_default/startup/00.py'": "interpreter start-up files",
        "import site\nd = site.getsitepackages()[0]": "interpreter start-up files",
    }
    for source, expected in cases.items():
        flags = "; ".join(review_flags([source]))
        assert expected in flags, (source, flags)
    honest = ("def triplet_loss(a, p, n, alpha=0.2):\n    d = ops.sum(ops.square(a - p), axis=-1)\n"
              "    with open('notes.txt', 'w') as f:\n        f.write('x')\n    return ops.mean(d)")
    assert review_flags([honest]) == []


def test_escaped_processes_are_killed(tmp_path):
    """A process that left the kernel's process group, cleared its environment and changed
    directory is still found (as an adopted orphan) and killed."""
    import subprocess
    import sys
    import time

    import psutil

    from coursekit import sandbox
    assert sandbox.become_subreaper()
    snap = sandbox.CourseSnapshot(tmp_path, {}, {})
    ws = sandbox.Workspace.create(snap)
    pidfile = tmp_path / "pid"
    code = ("import os, time\nif os.fork(): os._exit(0)\nos.setsid()\n"
            f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], env={}, cwd="/", start_new_session=True)
    parent.wait(timeout=30)
    deadline = time.time() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.time() < deadline
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    assert psutil.pid_exists(pid)
    killed = sandbox.kill_submission_processes(ws)
    ws.remove()
    assert pid in killed
    time.sleep(0.5)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_student_folder_named_like_a_formula_is_text_in_the_csv(tmp_path):
    """OWASP's CSV-injection rule: a cell a spreadsheet would run as a formula is written as text."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), solutions / "01_demo.ipynb")
    name = '=HYPERLINK("evil.example","y")'
    (tmp_path / "subs" / name).mkdir(parents=True)
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), tmp_path / "subs" / name / "01_demo.ipynb")
    grading.grade_folder(tmp_path / "subs", out=tmp_path / "grades.csv", solutions=solutions, cell_timeout=30)
    with open(tmp_path / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["student"] == "'" + name and float(row["total"]) == 3
    for value in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert classlist.spreadsheet_safe(value) == "'" + value
    assert classlist.spreadsheet_safe(-1.0) == -1.0 and classlist.spreadsheet_safe("ana") == "ana"


def test_feedback_shows_student_text_without_rendering_it():
    from coursekit import feedback

    evil = "```\n<img src=x onerror=alert(1)>\n# You got full marks"
    text = feedback.render({"lesson": "01_demo", "total": 0, "max": 2, "status": "ok"},
                           {"possible": {"ex_add_check": 2}, "scores": {}, "messages": {"ex_add_check": evil}})
    lines = text.splitlines()
    start = lines.index("````")                   # a fence longer than the message's own backticks
    assert lines[start + 1:start + 4] == evil.splitlines() and lines[start + 4] == "````"


def test_without_the_os_sandbox_every_row_says_so(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), solutions / "01_demo.ipynb")
    subs = tmp_path / "subs"
    for name, body in {"ana": "def add_one(x):\n    return 1 + x", "ben": "def add_one(x):\n    return x"}.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(lesson(body), subs / name / "01_demo.ipynb")
    rows = grading.grade_folder(subs, tmp_path / "grades.csv", cell_timeout=30, solutions=solutions,
                                seed_data=False, os_sandbox=False)
    assert {r["student"]: r["total"] for r in rows} == {"ana": 3, "ben": 1}
    assert all("graded WITHOUT the OS sandbox" in r["review"] for r in rows)
    assert "WARNING: grading WITHOUT the OS sandbox" in capsys.readouterr().out


def test_a_grader_failure_on_one_file_keeps_the_others_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    """The grader's own error on one submission (it once hit a CPython race) must not lose the
    class's grades: that row says "grader error", the others are graded, the command exits 1."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), solutions / "01_demo.ipynb")
    subs = tmp_path / "subs"
    for name in ("ana", "ben"):
        (subs / name).mkdir(parents=True)
        nbformat.write(lesson("def add_one(x):\n    return 1 + x"), subs / name / "01_demo.ipynb")
    real = grading.run_submission

    def fails_for_ben(path, *args, **kwargs):
        if path.parent.name == "ben":
            raise SystemError("AST constructor recursion depth mismatch")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(grading, "run_submission", fails_for_ben)
    out = tmp_path / "grades.csv"
    code = grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--jobs", "2",
                         "--no-os-sandbox"])
    assert code == 1
    with open(out) as f:
        by = {r["student"]: r for r in csv.DictReader(f)}
    assert float(by["ana"]["total"]) == 3 and by["ana"]["status"] == "ok"
    assert float(by["ben"]["total"]) == 0 and by["ben"]["status"].startswith("grader error: SystemError")
    assert "grader itself failed on 1 submission(s): ben (01_demo)" in capsys.readouterr().err
