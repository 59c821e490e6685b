"""Autograde a folder of submitted student notebooks into a CSV of points, plus feedback files.

    python3 course.py grade submissions/ --out grades.csv [--jobs 2] [--timeout 300] [--cap 1200]

Layout of ``submissions/``: one folder per student holding their lesson notebooks
(``submissions/alice/04_triplet_loss.ipynb``), or flat files named ``<student>__<lesson>.ipynb``.

How a check is scored (the README's "Grading" section says what this does not protect):

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
   by ``grade_id``) is replaced by a **probe** (``course_utils/exercises/probe.py``, sent whole as
   text and run in a private namespace): code that calls the student's functions on inputs
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
most common mistake), ``lms/canvas.csv`` and ``lms/moodle.csv`` (gradebook imports) and
``feedback.zip``. With ``--due`` (and ``--late-penalty``) each graded row says when it was handed in
and how late, and loses the penalty. Which rows exist — renamed, duplicated, unmatched, missing —
and the late arithmetic are :mod:`coursekit.classlist`'s business.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_utils.progress import Countdown
from coursekit import bwrap, classlist, feedback, sandbox
# One submission's run lives in coursekit.submission; grade_folder calls run_submission through
# this module's name (tests replace it here).
from coursekit.submission import (DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_CAP, DEFAULT_OUTPUT_CAP,  # noqa: F401
                                  CellVerdicts, KitVerdicts, Lesson, Limits, blank_result, unconfined_reason,
                                  lesson_package, run_submission)

SOLUTIONS = sandbox.REPO_ROOT / "solutions"
NEEDS_ENCODER = ("07_", "08_", "09_", "10_")      # lessons that load (or train) an encoder


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
                 students: list[str] | None = None, only_lessons: list[str] | None = None,
                 due: dict | None = None, late_penalty: float = 0.0, people: dict[str, dict] | None = None,
                 lms: bool = True) -> list[dict]:
    """Grade every submission under ``folder`` against the lessons in ``solutions``; write ``out``,
    ``summary.md`` and ``feedback/`` next to it. Returns the CSV rows. ``os_sandbox=False`` (or a
    host without bubblewrap) runs the kernels unconfined: every row then carries a review flag
    saying so. ``roster`` gives every listed student a row per graded lesson; ``students`` /
    ``only_lessons`` regrade just those and merge the rows into an existing ``out``; totals in
    ``overrides.csv`` beside ``out`` replace the automatic ones (see :mod:`coursekit.classlist`).
    ``due`` (:func:`classlist.parse_due`: ``{None: for every lesson, lesson: for that one}``) adds
    ``late`` and ``penalty`` to each graded row, ``late_penalty`` percent of its automatic total per
    started day late. ``people`` (:func:`classlist.read_roster_people`) fills the identity columns
    of ``lms/canvas.csv`` and ``lms/moodle.csv``; ``feedback.zip`` holds ``feedback/``."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise FileNotFoundError(f"Submissions folder not found: {folder} (looked for {folder.resolve()})")
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
    due = due or {}
    unknown = sorted(set(due) - {None} - set(lessons))
    if unknown:
        raise ValueError(f"--due names no lesson called {', '.join(unknown)} in {solutions} "
                         f"(have: {', '.join(sorted(lessons))})")
    found = [(st, p) for st, p in classlist.find_submissions(folder) if not students or st in students]
    subs = classlist.match_all(found, lessons)
    unmatched = [classlist.unmatched_row(sub) for sub in subs if sub.lesson is None]
    work = [(sub.student, sub.path, sub.lesson, sub.notes) for sub in subs
            if sub.lesson is not None and (not only_lessons or sub.lesson.name in only_lessons)]
    for row in unmatched:
        print(f"{row['student']:>16}  {row['status']}", flush=True)
    seed_dir = prepare_seed_data(snapshot, {lesson.name for _, _, lesson, _ in work}) if (seed_data and work) else None
    limits = Limits(cell_timeout, notebook_cap, output_cap, os_sandbox=os_sandbox)
    if work and unconfined_reason(os_sandbox):
        print(f"WARNING: grading WITHOUT the OS sandbox ({unconfined_reason(os_sandbox)}): a "
              "submission can read the course folder, use the network and leave files behind. Install "
              "bubblewrap (Debian: apt-get install bubblewrap) for anything that counts.", flush=True)
    elif work and bwrap.task_cap_problem():
        print(f"Note: no cap on a kernel's processes ({bwrap.task_cap_problem()}); memory, time and file "
              "size are still capped.", flush=True)
    # Built once per lesson, before any thread starts: same files for every student, less work.
    packages = {lesson.name: lesson_package(lesson, snapshot, verdicts) for _, _, lesson, _ in work}
    lock, countdown = threading.Lock(), Countdown(len(work), "graded")
    # Read before any student code runs: a notebook could touch its own file or timestamp.txt.
    submitted = {path: classlist.submission_time(path, folder) for _, path, _, _ in work}

    def one(item):
        student, path, lesson, notes = item
        t0 = time.time()
        try:
            result = run_submission(path, lesson, snapshot, verdicts, limits, seed_dir, package=packages[lesson.name])
        except Exception as err:  # noqa: BLE001 — the grader's own failure on one file must not lose the others
            result = blank_result(lesson)
            result["status"] = f"grader error: {type(err).__name__}: {str(err)[:200]}"
            result["review"].append("the grader failed on this submission: grade it again "
                                    "(python3 course.py grade … with only this file)")
        result["review"] = notes + result["review"]
        row = {"student": student, "lesson": lesson.name, **result["scores"],
               "total": sum(result["scores"].values()), "max": sum(result["possible"].values()),
               "status": result["status"], "review": "; ".join(result["review"]),
               "seconds": round(time.time() - t0, 1)}
        # Before the overrides (applied to every row below): a total set by hand replaces the
        # automatic total after its penalty, and removing the override brings that one back.
        classlist.apply_late(row, *submitted[path], due.get(lesson.name, due.get(None)), late_penalty)
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
    if lms:
        classlist.write_lms(out.parent / "lms", rows, people)
    written = feedback.write_all(out.parent / "feedback", [*done, *((r, classlist.NO_RESULT) for r in unmatched)])
    feedback.write_zip(out.parent / "feedback", out.parent / "feedback.zip")
    feedback.write_summary(out.parent / "summary.md", rows, done)
    counts = {k: sum(str(r["status"]).startswith(k) for r in rows) for k in ("unmatched", "missing")}
    print(f"Wrote {out} ({len(rows)} rows: {len(done)} graded, {counts['unmatched']} unmatched, "
          f"{counts['missing']} missing{f', {overridden} overridden by hand' if overridden else ''}), "
          f"{out.parent / 'summary.md'}{', ' + str(out.parent / 'lms') + '/{canvas,moodle}.csv' if lms else ''} "
          f"and {written} feedback files in {out.parent / 'feedback'} (all of them in feedback.zip).")
    late = sum(bool(r.get("late")) for r in rows)
    if due:
        print(f"{late} late submission(s) ({late_penalty:g}% per started day"
              f"{'' if late_penalty else ': reported, no points taken'}).")
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
                        "listed student gets a row per lesson, 'missing' where nothing came; its name, email, "
                        "sis_id, section columns go into lms/canvas.csv and lms/moodle.csv")
    parser.add_argument("--due", action="append", metavar="[LESSON=]WHEN",
                        help="due date and time, ISO (2026-12-10T23:59 is this machine's time zone; "
                             "2026-12-10T23:59+01:00 names one); LESSON=WHEN for one lesson (with --nbgrader also "
                             "ASSIGNMENT=WHEN), repeatable, beats the one without a lesson; with --nbgrader an assignment's due "
                             "date in the gradebook counts where --due names none")
    parser.add_argument("--late-penalty", metavar="RATE",
                        help="with --due: percent of the automatic total taken per started day late, e.g. "
                             "10%%/day (capped at 100%%); 0 or left out: lateness is only reported")
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
    if args.late_penalty is not None and not args.due and not args.nbgrader:
        parser.error("--late-penalty needs --due (the date it counts from; with --nbgrader the "
                     "assignments' due dates in the gradebook count too)")
    try:
        due, per_day = classlist.parse_due(args.due), classlist.parse_penalty(args.late_penalty)
        people = classlist.read_roster_people(args.roster) if args.roster else None
        if args.nbgrader:
            from coursekit import gradebook
            by_assignment = gradebook.grade_course(args.nbgrader, args.assignment, jobs=args.jobs,
                                                   cell_timeout=args.timeout, notebook_cap=args.cap,
                                                   os_sandbox=not args.no_os_sandbox, people=people,
                                                   due=due, late_penalty=per_day)
            rows = [row for rows in by_assignment.values() for row in rows]
        else:
            rows = grade_folder(args.folder, args.out, args.timeout, args.solutions, jobs=args.jobs,
                                notebook_cap=args.cap, os_sandbox=not args.no_os_sandbox,
                                roster=list(people) if people is not None else None,
                                students=args.student, only_lessons=args.lesson,
                                due=due, late_penalty=per_day, people=people)
    except (FileNotFoundError, ValueError) as err:
        print(f"course.py grade: {err}", file=sys.stderr)
        return 2
    return 1 if any(_grader_failed(row) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
