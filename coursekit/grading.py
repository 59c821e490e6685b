"""Autograde a folder of submitted student notebooks into a CSV of points, plus feedback files.

    python3 course.py grade submissions/ --out grades.csv [--jobs 2] [--timeout 300] [--cap 1200]

Layout of ``submissions/``: one folder per student holding their lesson notebooks
(``submissions/alice/04_triplet_loss.ipynb``), or flat files named ``<student>__<lesson>.ipynb``.

How a check is scored (issue 10; the README's "Grading" section says what this does not protect):

1. Before any student code runs, the grader reads the instructor's ``solutions/*.ipynb`` and the
   whole ``course_utils`` package (the exercise kit included) into memory and imports the kit.
2. Each submission runs in its own temporary folders (working dir, ``COURSE_DATA_DIR``, ``HOME``)
   with its own copy of ``course_utils`` in which the exercise kit and every function that
   computes a graded exercise's answer are placeholders (:mod:`coursekit.hidden`), in a kernel
   inside the OS sandbox (:mod:`coursekit.bwrap`: no network, own PID namespace, read-only system
   and venv, nothing of the repository mounted, memory capped) whose whole environment the grader
   builds (grading mode, quick mode and synthetic data are the grader's decision). Without bwrap
   the kernel runs unconfined and every row is flagged.
3. Execution counts and outputs are cleared. Every check cell (nbgrader ``grade: true``, matched
   by ``grade_id``) is replaced by a **probe**: code that calls the student's functions on inputs
   the grader drew with a fresh random seed and writes what came back as plain data (JSON + .npy,
   no pickle) to a file with a random name. Right after that cell ran, the grader reads that file
   and the kit's ``judge`` — running here, in the grader's process — decides the verdict against
   the reference and the catalogue of mistakes. A check counts only if its probe ran in this run
   and the judge passed it; an answer that leans on the course's code finds only placeholders.
4. Cells run one by one with a per-cell timeout (a timed-out cell is interrupted and the next
   cells still run; a kernel that ignores the interrupt is killed), a cap on the whole notebook's
   time and on the size of its outputs. A dead kernel scores every check that had not run 0.
5. Afterwards every process of the submission is killed (process group, descendants, and any
   process carrying the submission's random token or sitting in its folders), the course's real
   files are compared with the snapshot (restored and flagged if changed) and the folders removed.

Outputs: ``grades.csv`` (one row per student and lesson: points per check, total, max, status,
``review`` = statically found things a human should look at) and ``feedback/<student>/<lesson>.md``
next to it (each check's message, for the student), ``summary.md`` (per check: how many passed, the
most common mistake). Which rows exist — renamed, duplicated, unmatched, missing — is
:mod:`coursekit.classlist`'s business.
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from course_utils.progress import Countdown
from coursekit import bwrap, classlist, feedback, hidden, sandbox
from coursekit.classlist import nbgrader_meta
from coursekit.review import review_flags

SOLUTIONS = sandbox.REPO_ROOT / "solutions"
NEEDS_ENCODER = ("07_", "08_", "09_", "10_")      # lessons that load (or train) an encoder
DEFAULT_CELL_TIMEOUT = 300
DEFAULT_NOTEBOOK_CAP = 1800
DEFAULT_OUTPUT_CAP = 5_000_000                    # bytes of outputs kept per notebook


# ------------------------------------------------------------------------------ lesson metadata
def is_grade_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade", False))


def grade_cells(nb) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a notebook."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
            for c in nb.cells if is_grade_cell(c)}


@dataclass
class Lesson:
    """One instructor notebook, parsed from the in-memory snapshot."""
    name: str
    nb: nbformat.NotebookNode
    possible: dict[str, float]
    checks: dict[str, str]                 # grade_id -> the instructor's check source
    given: set[str] = field(default_factory=set)   # sources of the cells students did not write
    ids: set[str] = field(default_factory=set)     # every nbgrader grade_id (to recognise a renamed copy)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> "Lesson":
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        checks = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if is_grade_cell(c)}
        given = {c.source.strip() for c in nb.cells if c.cell_type == "code" and not nbgrader_meta(c).get("solution")}
        return cls(name, nb, grade_cells(nb), checks, given, classlist.notebook_ids(nb))


# ------------------------------------------------------------------------------ verdict sources
@dataclass
class Verdict:
    passed: bool
    message: str
    reason: str


class KitVerdicts:
    """Verdicts from the exercise kit (``course_utils.exercises``): probe in the kernel, judge here.

    The single place where the grader meets the kit; every other part of the grader only sees
    ``prepare(grade_id, folder) -> (probe source, state)`` and ``judge(state) -> Verdict``.
    """

    def __init__(self):
        import importlib
        import pkgutil

        import course_utils
        import course_utils.exercises as kit
        from course_utils.exercises import protocol
        # Import the whole package now, before any student code runs: a judge that imported a
        # module lazily later could read a file a submission rewrote.
        for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 — an optional module (widgets without a display)
                pass
        self.graded = dict(getattr(kit, "GRADED", {}))
        self.protocol = protocol

    def covers(self, grade_id: str) -> bool:
        return grade_id in self.graded

    def prepare(self, grade_id: str, folder: Path, seed: int):
        exercise = self.graded[grade_id]
        cases = exercise.cases(seed)
        tag = secrets.token_hex(8)
        cases_path, out_path = folder / f"cases-{tag}.json", folder / f"out-{tag}.json"
        self.protocol.write_cases(cases, cases_path)
        return self.protocol.probe_source(exercise, cases_path, out_path), (exercise, cases, cases_path, out_path)

    def judge(self, state) -> Verdict:
        exercise, cases, cases_path, out_path = state
        try:
            if not out_path.is_file():
                return Verdict(False, "the check did not run to the end (no result was recorded)", "missing")
            outputs = self.protocol.read_outputs(out_path)
        except Exception as err:  # noqa: BLE001 — unreadable result → 0, never a crash
            return Verdict(False, f"the check's result could not be read ({type(err).__name__})", "probe_failed")
        finally:
            for path in (cases_path, out_path):
                try:
                    path.unlink()
                except OSError:
                    pass
        if not isinstance(outputs, dict):
            return Verdict(False, "the check's result was not valid data", "probe_failed")
        if outputs.get("probe_failed"):
            summary = outputs["probe_failed"].get("summary", "") if isinstance(outputs["probe_failed"], dict) else ""
            return Verdict(False, f"the check could not run: {summary}", "probe_failed")
        try:
            v = exercise.judge(cases, outputs)
        except Exception as err:  # noqa: BLE001 — forged or malformed data must not crash grading
            return Verdict(False, f"the check's result was malformed ({type(err).__name__}: {str(err)[:120]})",
                           "probe_failed")
        return Verdict(bool(v.passed), str(v.message), str(v.reason))


class CellVerdicts:
    """For a check the kit does not cover: run the instructor's check cell itself and count it
    when it finished without an exception *in this run* (weaker: the check runs in the kernel).

    The marker file is read right after the cell, so a later cell cannot forge it.
    """

    def prepare(self, grade_id: str, source: str, folder: Path):
        marker = folder / f"done-{secrets.token_hex(8)}"
        body = (f"import os as __course_os\n__course_os.environ['COURSE_GRADING'] = '1'\n{source}\n"
                f"open({str(marker)!r}, 'w').close()\n")
        return body, marker

    def judge(self, marker: Path) -> Verdict:
        ran = marker.is_file()
        try:
            marker.unlink()
        except OSError:
            pass
        return (Verdict(True, "passed (the instructor's check ran in the kernel)", "correct") if ran else
                Verdict(False, "the check raised an error or did not run", "raised"))


# ------------------------------------------------------------------------------ execution
def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient with a cap on the bytes of output kept for the whole notebook."""
        output_cap = DEFAULT_OUTPUT_CAP
        output_bytes = 0
        truncated = False

        timed_out = False

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            self.output_bytes += size
            if self.output_bytes > self.output_cap:
                if not self.truncated:
                    self.truncated = True
                    outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                       text="[grader: output limit reached; further output dropped]\n"))
                return None
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


@dataclass
class Limits:
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    notebook_cap: float = DEFAULT_NOTEBOOK_CAP
    output_cap: int = DEFAULT_OUTPUT_CAP
    kernel_name: str = "python3"
    memory: int = bwrap.DEFAULT_MEMORY      # bytes of address space per kernel (OS sandbox)
    os_sandbox: bool = True                 # False only for tests that compare with and without


def _prepared_notebook(nb, lesson: Lesson) -> tuple[list, list[str], list[str]]:
    """Code cells to run, in order, as ``(cell, grade_id or None, written by the student?)``; the
    student-written sources; review flags. Every check of the lesson runs once: an edited one as the
    original, a deleted one restored after the student's cell it followed in ``solutions/``."""
    cells, seen, written, flags = [], set(), [], []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if gid in lesson.possible:
            if gid in seen:            # a copied check cell runs (and counts) once
                continue
            seen.add(gid)
            if src.strip() != lesson.checks[gid].strip():
                flags.append(f"check cell {gid} was edited (the original ran)")
            cells.append((new_code_cell(""), gid, False))
        else:
            mine = src.strip() not in lesson.given
            if mine:
                written.append(src)
            cells.append((new_code_cell(src), gid, mine))
    order = [nbgrader_meta(c).get("grade_id") for c in lesson.nb.cells if c.get("cell_type") == "code"]
    for gid in [g for g in lesson.possible if g not in seen]:
        before = [g for g in order[:order.index(gid)] if g]
        anchor = next((i for i in range(len(cells) - 1, -1, -1) if before and cells[i][1] == before[-1]), None)
        at = len(cells) if anchor is None else anchor + 1
        while at < len(cells) and cells[at][1] in lesson.possible:   # after checks restored there already
            at += 1
        cells.insert(at, (new_code_cell(""), gid, False))
        flags.append(f"check cell {gid} was deleted (restored from solutions/)")
    return cells, written, flags


def _unconfined(os_sandbox: bool) -> str | None:
    """Why kernels run without the OS sandbox ("switched off", or what the host lacks); None if they don't."""
    if not os_sandbox:
        return "switched off"
    return bwrap.problem()


def lesson_package(lesson: Lesson, snapshot: sandbox.CourseSnapshot, verdicts) -> dict[str, bytes]:
    """The kernel's ``course_utils`` for ``lesson``: the kit and what its exercises forbid hidden."""
    exercises = [verdicts.graded[g] for g in lesson.possible if getattr(verdicts, "covers", lambda _: False)(g)]
    return hidden.kernel_package(snapshot.package, exercises)[0]


def _blank_result(lesson: Lesson) -> dict:
    """What :func:`run_submission` returns before anything has run: 0 points, every check "not run"."""
    return {"scores": {gid: 0.0 for gid in lesson.possible}, "possible": lesson.possible,
            "messages": {gid: "not run (the check cell is missing or was never reached)" for gid in lesson.possible},
            "reasons": {}, "status": "ok", "review": [], "course_changed": [], "killed": []}


def run_submission(path: Path, lesson: Lesson, snapshot: sandbox.CourseSnapshot, verdicts,
                   limits: Limits = Limits(), seed_data: Path | None = None, seed: int | None = None,
                   package: dict[str, bytes] | None = None) -> dict:
    """Execute one submission in a fresh workspace and score it (see the module docstring).
    ``package`` is :func:`lesson_package` for the lesson, built here when not given.

    Returns ``{"scores", "possible", "messages", "status", "review", "course_changed", "killed"}``.
    """
    result = _blank_result(lesson)
    scores, messages = result["scores"], result["messages"]
    try:
        nb = nbformat.read(path, as_version=4)
        cells, written, restored = _prepared_notebook(nb, lesson)
    except Exception as err:  # noqa: BLE001 — an unreadable file scores 0, it does not stop grading
        result["status"] = f"unreadable notebook: {type(err).__name__}: {str(err)[:200]}"
        return result
    result["review"] = review_flags(written) + restored
    seed = secrets.randbelow(2**31) if seed is None else seed
    package = package if package is not None else lesson_package(lesson, snapshot, verdicts)
    ws = sandbox.Workspace.create(snapshot, seed_data, package)
    unconfined = _unconfined(limits.os_sandbox)
    confined = unconfined is None
    if unconfined:
        result["review"].append(f"graded WITHOUT the OS sandbox: {unconfined}")
    run_nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": limits.kernel_name, "language": "python",
                                                               "display_name": "Python 3"}})
    run_nb.cells = [c for c, _, _ in cells]
    client = _client_class()(run_nb, timeout=limits.cell_timeout, kernel_name=limits.kernel_name,
                             allow_errors=True, interrupt_on_timeout=True, startup_timeout=120,
                             error_on_timeout={"ename": "CellTimeoutError", "evalue": "stopped by the grader",
                                               "traceback": ["cell stopped: it ran past the time limit"]},
                             resources={"metadata": {"path": str(ws.work)}}, record_timing=False)
    client.output_cap = limits.output_cap
    kernel_pid = None
    problems = []
    t0 = time.monotonic()
    try:
        with sandbox.START_LOCK:        # no orphan reaping between the start and the registration
            client.km = (bwrap.kernel_manager(limits.kernel_name, ws.root, [ws.pkg], ws.work, limits.memory)
                         if confined else client.create_kernel_manager())
            client.start_new_kernel(env=ws.kernel_env(), cwd=str(ws.work))
            kernel_pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            sandbox.register(kernel_pid)
        with client.setup_kernel(cleanup_kc=True):
            broken = None               # the first exercise cell that could not even be compiled
            for index, (cell, gid, mine) in enumerate(cells):
                remaining = limits.notebook_cap - (time.monotonic() - t0)
                if remaining <= 1:
                    problems.append(f"stopped after {limits.notebook_cap:g} s (time cap per notebook)")
                    break
                state, kit = None, False
                if gid in lesson.possible:
                    kit = hasattr(verdicts, "covers") and verdicts.covers(gid)
                    if kit:
                        cell.source, state = verdicts.prepare(gid, ws.work, seed + index)
                    else:
                        cell.source, state = CellVerdicts().prepare(gid, lesson.checks[gid], ws.work)
                client.timeout = max(1, int(min(limits.cell_timeout, remaining)))
                client.timed_out = False
                from nbclient.exceptions import DeadKernelError
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    problems.append("the kernel died (the notebook ended its own process or ran out of memory)")
                    if gid in lesson.possible:
                        (verdicts.judge(state) if kit else CellVerdicts().judge(state))
                    break
                timed_out = client.timed_out
                if mine and broken is None:
                    broken = _syntax_error(cell)
                if gid in lesson.possible:
                    v = verdicts.judge(state) if kit else CellVerdicts().judge(state)
                    scores[gid] = lesson.possible[gid] if v.passed else 0.0
                    messages[gid] = v.message if not timed_out else "the check ran past the time limit"
                    result["reasons"][gid] = v.reason if not timed_out else "timeout"
                    if broken and not v.passed and not timed_out:
                        messages[gid] = f"{broken}: nothing in that cell ran, so fix it first. ({v.message})"
                    if timed_out:
                        scores[gid] = 0.0
                if timed_out:
                    problems.append(f"cell {index + 1} ran past {client.timeout} s and was interrupted")
                    if not _responsive(client):
                        problems.append("the kernel ignored the interrupt and was stopped")
                        break
    except Exception as err:  # noqa: BLE001 — a kernel that cannot start or breaks: scored, not fatal
        problems.append(f"execution failed: {type(err).__name__}: {str(err)[:200]}")
    finally:
        sandbox.unregister(kernel_pid)
        result["killed"] = sandbox.kill_submission_processes(ws, kernel_pid)
        result["course_changed"] = snapshot.verify_and_restore()
        ws.remove()
    if getattr(client, "truncated", False):
        problems.append("output limit reached")
    if result["course_changed"]:
        result["review"].append("changed course files (restored): " + ", ".join(
            Path(p.split(" ")[0]).name for p in result["course_changed"][:5]))
    result["status"] = "; ".join(problems) or "ok"
    return result


def _syntax_error(cell) -> str | None:
    """"SyntaxError in your exercise cell, line N: …" when the cell did not compile, else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") in ("SyntaxError", "IndentationError", "TabError"):
            text = str(out.get("evalue", ""))
            line = re.search(r"line (\d+)\)?$", text)
            what = re.sub(r"\s*\([^()]*line \d+\)$", "", text)
            return f"{out['ename']} in your exercise cell{f', line {line.group(1)}' if line else ''}: {what}"
    return None


def _responsive(client) -> bool:
    """After an interrupt: does the kernel answer a trivial cell within 10 s?"""
    saved = client.timeout
    probe = new_code_cell("pass")
    client.timeout = 10
    try:
        client.nb.cells.append(probe)
        client.timed_out = False
        client.execute_cell(probe, len(client.nb.cells) - 1)
        return not client.timed_out
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.nb.cells.remove(probe)
        client.timeout = saved


# ------------------------------------------------------------------------------ a grading run
def prepare_seed_data(snapshot: sandbox.CourseSnapshot, lessons: set[str]) -> Path | None:
    """For lessons 7-10, train the quick encoder once per grading run (the course's own code, no
    student code); every submission gets a copy in its data folder instead of training its own."""
    import subprocess
    if not any(name.startswith(NEEDS_ENCODER) for name in lessons):
        return None                     # the synthetic benchmark is generated in memory: nothing to share
    ws = sandbox.Workspace.create(snapshot)
    steps = ["from course_utils.datasets import load_benchmark", "bench = load_benchmark()",
             "from course_utils.training import load_or_train_encoder",
             "load_or_train_encoder(bench, verbose=False)"]
    env = ws.kernel_env()
    t0 = time.time()
    done = subprocess.run([sys.executable, "-c", "; ".join(steps)], cwd=ws.work, env=env,
                          capture_output=True, text=True, timeout=900)
    sandbox.kill_submission_processes(ws)
    if done.returncode != 0:
        print(f"(seed data could not be prepared; each submission prepares its own: "
              f"{done.stderr.strip().splitlines()[-1:] })", flush=True)
        ws.remove()
        return None
    print(f"Prepared shared data for this grading run in {time.time() - t0:.0f} s.", flush=True)
    return ws.data


def grade_folder(folder: str | Path, out: str | Path = "grades.csv", cell_timeout: float = DEFAULT_CELL_TIMEOUT,
                 solutions: str | Path = SOLUTIONS, jobs: int = 1, notebook_cap: float = DEFAULT_NOTEBOOK_CAP,
                 output_cap: int = DEFAULT_OUTPUT_CAP, seed_data: bool = True, verdicts=None,
                 course_root: str | Path | None = None, os_sandbox: bool = True, roster: list[str] | None = None,
                 students: list[str] | None = None, only_lessons: list[str] | None = None) -> list[dict]:
    """Grade every submission under ``folder`` against the lessons in ``solutions``; write ``out``,
    ``summary.md`` and ``feedback/`` next to it. Returns the CSV rows. ``os_sandbox=False`` (or a
    host without bubblewrap) runs the kernels unconfined: every row then carries a review flag
    saying so. ``roster`` gives every listed student a row per graded lesson; ``students`` /
    ``only_lessons`` regrade just those and merge the rows into an existing ``out``; totals in
    ``overrides.csv`` beside ``out`` replace the automatic ones (see :mod:`coursekit.classlist`)."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise FileNotFoundError(f"Submissions folder not found: {folder}")
    solutions = Path(solutions)
    if not solutions.is_dir():
        raise FileNotFoundError(f"Instructor notebooks not found: {solutions} (give --solutions)")
    # 1. Everything the grader relies on is read (and the kit imported) before student code runs.
    sandbox.become_subreaper()
    snapshot = sandbox.CourseSnapshot.take(Path(course_root) if course_root else sandbox.REPO_ROOT, solutions)
    lessons = {Path(name).stem: Lesson.from_bytes(Path(name).stem, data) for name, data in snapshot.solutions.items()}
    verdicts = verdicts if verdicts is not None else _default_verdicts()
    unknown = sorted(set(only_lessons or ()) - set(lessons))
    if unknown:
        raise FileNotFoundError(f"no lesson called {', '.join(unknown)} in {solutions} (have: {', '.join(sorted(lessons))})")
    found = [(st, p) for st, p in classlist.find_submissions(folder) if not students or st in students]
    subs = classlist.match_all(found, lessons)
    unmatched = [classlist.unmatched_row(sub) for sub in subs if sub.lesson is None]
    work = [(sub.student, sub.path, sub.lesson, sub.notes) for sub in subs
            if sub.lesson is not None and (not only_lessons or sub.lesson.name in only_lessons)]
    for row in unmatched:
        print(f"{row['student']:>16}  {row['status']}", flush=True)
    seed_dir = prepare_seed_data(snapshot, {lesson.name for _, _, lesson, _ in work}) if (seed_data and work) else None
    limits = Limits(cell_timeout, notebook_cap, output_cap, os_sandbox=os_sandbox)
    if work and _unconfined(os_sandbox):
        print(f"WARNING: grading WITHOUT the OS sandbox ({_unconfined(os_sandbox)}): a "
              "submission can read the course folder, use the network and leave files behind. Install "
              "bubblewrap (Debian: apt-get install bubblewrap) for anything that counts.", flush=True)
    # Built once per lesson, before any thread starts: same files for every student, less work.
    packages = {lesson.name: lesson_package(lesson, snapshot, verdicts) for _, _, lesson, _ in work}
    lock, countdown = threading.Lock(), Countdown(len(work), "graded")

    def one(item):
        student, path, lesson, notes = item
        t0 = time.time()
        try:
            result = run_submission(path, lesson, snapshot, verdicts, limits, seed_dir, package=packages[lesson.name])
        except Exception as err:  # noqa: BLE001 — the grader's own failure on one file must not lose the others
            result = _blank_result(lesson)
            result["status"] = f"grader error: {type(err).__name__}: {str(err)[:200]}"
            result["review"].append("the grader failed on this submission: grade it again "
                                    "(python3 course.py grade … with only this file)")
        result["review"] = notes + result["review"]
        row = {"student": student, "lesson": lesson.name, **result["scores"],
               "total": sum(result["scores"].values()), "max": sum(result["possible"].values()),
               "status": result["status"], "review": "; ".join(result["review"]),
               "seconds": round(time.time() - t0, 1)}
        with lock:
            overall = f"  [{countdown.step()}]" if len(work) > 1 else ""
            print(f"{student:>16}  {lesson.name:<28} {row['total']:g}/{row['max']:g}  "
                  f"({row['seconds']:.0f} s; {result['status']}){overall}", flush=True)
            for change in result["course_changed"]:
                print(f"{'':>16}  restored course file: {change}", flush=True)
        return row, result

    if jobs > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(one, work))
    else:
        done = [one(item) for item in work]
    if seed_dir is not None:
        sandbox.Workspace(seed_dir.parent, "").remove()
    rows = [row for row, _ in done] + unmatched
    if roster is not None:
        graded = [lessons[n] for n in (only_lessons or sorted({r["lesson"] for r, _ in done}))]
        rows += classlist.roster_rows([s for s in roster if not students or s in students], graded, rows)
    if students or only_lessons:
        rows = classlist.merged(out, rows)
    overridden = classlist.apply_overrides(out.parent / "overrides.csv", rows)
    classlist.write_csv(out, rows)
    written = feedback.write_all(out.parent / "feedback", [*done, *((r, classlist.NO_RESULT) for r in unmatched)])
    feedback.write_summary(out.parent / "summary.md", rows, done)
    counts = {k: sum(str(r["status"]).startswith(k) for r in rows) for k in ("unmatched", "missing")}
    print(f"Wrote {out} ({len(rows)} rows: {len(done)} graded, {counts['unmatched']} unmatched, "
          f"{counts['missing']} missing{f', {overridden} overridden by hand' if overridden else ''}), "
          f"{out.parent / 'summary.md'} and {written} feedback files in {out.parent / 'feedback'}.")
    failed = [f"{row['student']} ({row['lesson']})" for row in rows if _grader_failed(row)]
    if failed:
        print(f"ERROR: the grader itself failed on {len(failed)} submission(s): {', '.join(failed)}. Their rows "
              "say 'grader error'; grade those files again.", file=sys.stderr, flush=True)
    return rows


def _grader_failed(row: dict) -> bool:
    return str(row.get("status", "")).startswith("grader error")


def _default_verdicts():
    """The kit's verdicts; when the kit has no grading protocol, every check runs in the kernel."""
    try:
        return KitVerdicts()
    except ImportError:
        return CellVerdicts()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course.py grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="folder of submissions")
    parser.add_argument("--nbgrader", metavar="COURSE_DIR",
                        help="grade an nbgrader course's collected submissions and write its gradebook "
                             "(instead of a folder; see coursekit/gradebook.py)")
    parser.add_argument("--assignment", help="with --nbgrader: only this assignment")
    parser.add_argument("--out", default="grades.csv", help="CSV file to write (default grades.csv); "
                        "feedback/ is written next to it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds allowed per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--cap", type=float, default=DEFAULT_NOTEBOOK_CAP,
                        help=f"seconds allowed per notebook (default {DEFAULT_NOTEBOOK_CAP})")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default 1; "
                        "each needs about 1 GB of memory and one core)")
    parser.add_argument("--solutions", default=str(SOLUTIONS), help="instructor notebooks (default solutions/)")
    parser.add_argument("--roster", help="CSV of the class (a 'student' column, or one id per line): every "
                        "listed student gets a row per lesson, 'missing' where nothing came")
    parser.add_argument("--student", action="append", help="regrade only this student (repeat for more); "
                        "their rows replace the old ones in --out")
    parser.add_argument("--lesson", action="append", help="regrade only this lesson, e.g. 04_triplet_loss "
                        "(repeat for more); merged into --out like --student")
    parser.add_argument("--no-os-sandbox", action="store_true",
                        help="run the kernels without bubblewrap (every row is flagged; for debugging only)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    if (args.folder is None) == (args.nbgrader is None):
        parser.error("give a folder of submissions, or --nbgrader COURSE_DIR (one of the two)")
    try:
        if args.nbgrader:
            from coursekit import gradebook
            by_assignment = gradebook.grade_course(args.nbgrader, args.assignment, jobs=args.jobs,
                                                   cell_timeout=args.timeout, notebook_cap=args.cap,
                                                   os_sandbox=not args.no_os_sandbox)
            rows = [row for rows in by_assignment.values() for row in rows]
        else:
            rows = grade_folder(args.folder, args.out, args.timeout, args.solutions, jobs=args.jobs,
                                notebook_cap=args.cap, os_sandbox=not args.no_os_sandbox,
                                roster=classlist.read_roster(args.roster) if args.roster else None,
                                students=args.student, only_lessons=args.lesson)
    except (FileNotFoundError, ValueError) as err:
        print(f"course.py grade: {err}", file=sys.stderr)
        return 2
    return 1 if any(_grader_failed(row) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
