"""The same judge on the hub: grade an nbgrader course's submissions and write nbgrader's gradebook.

    python3 course.py grade --nbgrader COURSE_DIR [--assignment lesson04] [--jobs 2]

nbgrader's own ``autograde`` runs each check *inside* the student's kernel, where the student's code
can reach it. This step replaces it: the submissions nbgrader collected
(``COURSE_DIR/submitted/<student>/<assignment>/<lesson>.ipynb``) are graded by
:func:`coursekit.grading.grade_folder` — probes in a sandboxed kernel that holds no answers, the
judge in this process — against the instructor notebooks of ``COURSE_DIR/source/<assignment>/``,
and each check's points land in the gradebook as nbgrader's *auto score* of that grade cell. The
hub's flow stays the same (``collect`` → this step → ``formgrader`` for manual marks →
``release_feedback``): the feedback written to ``COURSE_DIR/feedback/<student>/<assignment>/``
is the grader's messages as escaped HTML.
"""
from __future__ import annotations

import html
import shutil
import tempfile
from pathlib import Path

from coursekit import feedback, grading


def _assignments(course: Path, only: str | None) -> list[str]:
    source = course / "source"
    if not source.is_dir():
        raise FileNotFoundError(f"{course} has no source/ folder: is it an nbgrader course directory?")
    names = sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    if only is not None:
        if only not in names:
            raise FileNotFoundError(f"no assignment {only!r} in {source} (found: {', '.join(names) or 'none'})")
        return [only]
    return names


def _collect(course: Path, assignment: str, into: Path) -> int:
    """Copy ``submitted/<student>/<assignment>/*.ipynb`` to ``into/<student>/``; returns the count."""
    count = 0
    for path in sorted((course / "submitted").glob(f"*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        (into / student).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, into / student / path.name)
        count += 1
    return count


def write_scores(db_url: str, assignment: str, rows: list[dict]) -> int:
    """Set nbgrader's ``auto_score`` of every grade cell in ``rows`` (one row per student and
    notebook, as :func:`grading.grade_folder` returns them). Returns the number of grades written."""
    from nbgrader.api import Gradebook, MissingEntry

    written = 0
    with Gradebook(db_url) as gb:
        for row in rows:
            if str(row.get("status", "")).startswith(("unmatched", "missing")):
                continue          # no notebook of the assignment to score (grades.csv says why)
            student, notebook = row["student"], row["lesson"]
            gb.update_or_create_student(student)
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                gb.add_submission(assignment, student)
            try:
                graded = gb.find_submission_notebook(notebook, assignment, student)
            except MissingEntry:
                continue
            for grade in graded.grades:
                if grade.name in row:
                    grade.auto_score = float(row[grade.name])
                    written += 1
            gb.db.commit()
    return written


def _html(markdown: str) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Feedback</title></head><body>\n"
            f"<pre style='white-space: pre-wrap'>{html.escape(markdown)}</pre>\n</body></html>\n")


def grade_course(course_dir, assignment: str | None = None, db_url: str | None = None, jobs: int = 1,
                 **options) -> dict[str, list[dict]]:
    """Grade every collected submission of ``assignment`` (default: all) in the nbgrader course at
    ``course_dir`` and write its gradebook (default ``sqlite:///COURSE_DIR/gradebook.db``) and
    feedback. ``options`` go to :func:`grading.grade_folder`. Returns ``{assignment: rows}``."""
    course = Path(course_dir).resolve()
    db_url = db_url or f"sqlite:///{course / 'gradebook.db'}"
    done = {}
    for name in _assignments(course, assignment):
        with tempfile.TemporaryDirectory(prefix="course-nbgrader-") as tmp:
            tmp = Path(tmp)
            if not _collect(course, name, tmp / "subs"):
                print(f"{name}: no submissions in {course / 'submitted'} (run nbgrader collect first)")
                continue
            rows = grading.grade_folder(tmp / "subs", tmp / "grades" / "grades.csv", solutions=course / "source" / name,
                                        jobs=jobs, **options)
            count = write_scores(db_url, name, rows)
            for md in (tmp / "grades" / "feedback").glob("*/*.md"):
                target = course / "feedback" / md.parent.name / name / (md.stem + ".html")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_html(md.read_text()))
            shutil.copyfile(tmp / "grades" / "grades.csv", course / f"grades-{feedback.safe_name(name)}.csv")
            print(f"{name}: {count} grades written to {db_url}; feedback in {course / 'feedback'}")
            done[name] = rows
    return done
