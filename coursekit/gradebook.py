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

Every student of the gradebook (``nbgrader db student add``, or a roster given with ``--roster``)
gets a row per notebook of each graded assignment — ``missing`` when nothing was submitted — by the
same :mod:`coursekit.classlist` rules as a folder. The submission time is the exchange's
``timestamp.txt`` that ``collect`` keeps in each submitted folder, for ``--due`` (default: the
assignment's due date in the gradebook, ``nbgrader db assignment add NAME --duedate=…``); it goes
with ``submission_secret.txt`` into the feedback folder, as ``release_feedback`` needs; the combined
``lms/canvas.csv`` and ``lms/moodle.csv`` are built from every ``grades-<assignment>.csv``.
"""
from __future__ import annotations

import html
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from coursekit import classlist, feedback, grading


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
    """Copy ``submitted/<student>/<assignment>/*.ipynb`` to ``into/<student>/``, with the exchange's
    ``timestamp.txt`` beside them and their file times kept (both say when it was handed in);
    returns the count."""
    count = 0
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted((course / "submitted").glob(f"*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        (into / student).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, into / student / path.name)
        if (path.parent / "timestamp.txt").is_file():
            shutil.copy2(path.parent / "timestamp.txt", into / student / "timestamp.txt")
        count += 1
    return count


def _gradebook_exists(db_url: str) -> bool:
    """False for a SQLite gradebook file that is not there yet (opening it would create it)."""
    return not db_url.startswith("sqlite:///") or Path(db_url.removeprefix("sqlite:///")).is_file()


def gradebook_people(db_url: str) -> dict[str, dict]:
    """The students nbgrader's gradebook knows, as :func:`classlist.read_roster_people` gives them
    (name, email, ``lms_user_id`` as the LMS id); empty when there is no gradebook yet."""
    from nbgrader.api import Gradebook
    if not _gradebook_exists(db_url):
        return {}
    with Gradebook(db_url) as gb:
        people = {}
        for st in sorted(gb.students, key=lambda st: st.id):      # nbgrader sorts by last name
            name = " ".join(x for x in (st.first_name, st.last_name) if x)
            who = {"name": name, "email": st.email or "", "lms_id": st.lms_user_id or ""}
            people[st.id] = {k: v for k, v in who.items() if v}
    return people


def gradebook_due(db_url: str, assignments: list[str]) -> dict[str, datetime]:
    """The due dates nbgrader's gradebook holds (``nbgrader db assignment add NAME --duedate=…``),
    ``{assignment: aware UTC datetime}`` for those that have one. nbgrader stores them as naive UTC."""
    from nbgrader.api import Gradebook, MissingEntry
    if not _gradebook_exists(db_url):
        return {}
    found = {}
    with Gradebook(db_url) as gb:
        for name in assignments:
            try:
                when = gb.find_assignment(name).duedate
            except MissingEntry:
                continue
            if when is not None:
                found[name] = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when
    return found


def _due_for(due: dict, assignment: str, notebooks: list[str], in_gradebook: datetime | None = None) -> dict:
    """``--due`` for one assignment: ``ASSIGNMENT=…`` stands for all its notebooks, ``NOTEBOOK=…``
    for one, a value without a name for everything; where ``--due`` names none of them, the
    assignment's due date in nbgrader's gradebook (``in_gradebook``), if it has one."""
    mine = {None: due[assignment]} if assignment in due else ({None: due[None]} if None in due else {})
    mine.update({nb: due[nb] for nb in notebooks if nb in due})
    return mine or ({None: in_gradebook} if in_gradebook is not None else {})


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
                 people: dict[str, dict] | None = None, due: dict | None = None,
                 **options) -> dict[str, list[dict]]:
    """Grade every collected submission of ``assignment`` (default: all) in the nbgrader course at
    ``course_dir`` and write its gradebook (default ``sqlite:///COURSE_DIR/gradebook.db``) and
    feedback. ``people`` (a roster, :func:`classlist.read_roster_people`) defaults to the
    gradebook's students; each gets a row per notebook. ``due`` as :func:`classlist.parse_due`, its
    names assignments or notebooks. ``options`` go to :func:`grading.grade_folder`. Returns
    ``{assignment: rows}``."""
    course = Path(course_dir).resolve()
    db_url = db_url or f"sqlite:///{course / 'gradebook.db'}"
    names = _assignments(course, assignment)
    notebooks = {name: sorted(p.stem for p in (course / "source" / name).glob("*.ipynb")) for name in names}
    due = due or {}
    known = set(_assignments(course, None)) | {nb for nbs in notebooks.values() for nb in nbs}
    unknown = sorted(set(due) - {None} - known)
    if unknown:
        raise ValueError(f"--due names no assignment or notebook called {', '.join(unknown)} in {course / 'source'}")
    set_in_nbgrader = gradebook_due(db_url, names)
    people = people if people is not None else gradebook_people(db_url)
    roster = list(people) or None        # no students in the gradebook: nobody to report missing
    done = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="course-nbgrader-") as tmp:
            tmp = Path(tmp)
            if not _collect(course, name, tmp / "subs") and roster is None:
                print(f"{name}: no submissions in {course / 'submitted'} (run nbgrader collect first)")
                continue
            # With a roster, every notebook of the assignment is named so that a student who handed
            # in none of them still gets a row for each (classlist gives rows per graded lesson).
            rows = grading.grade_folder(tmp / "subs", tmp / "grades" / "grades.csv", solutions=course / "source" / name,
                                        jobs=jobs, roster=roster, only_lessons=notebooks[name] if roster else None,
                                        due=_due_for(due, name, notebooks[name], set_in_nbgrader.get(name)),
                                        people=people, lms=False,
                                        **options)
            count = write_scores(db_url, name, rows)
            for md in (tmp / "grades" / "feedback").glob("*/*.md"):
                target = course / "feedback" / md.parent.name / name / (md.stem + ".html")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_html(md.read_text()))
                # release_feedback names each file after the submission's secret and time.
                for kept in ("timestamp.txt", "submission_secret.txt"):
                    handed_in = course / "submitted" / md.parent.name / name / kept
                    if handed_in.is_file():
                        shutil.copyfile(handed_in, target.parent / kept)
            shutil.copyfile(tmp / "grades" / "grades.csv", course / f"grades-{feedback.safe_name(name)}.csv")
            print(f"{name}: {count} grades written to {db_url}; feedback in {course / 'feedback'}")
            done[name] = rows
    # One LMS file for the whole course: every assignment graded so far, this run's included.
    every = [row for path in sorted(course.glob("grades-*.csv")) for row in classlist.read_csv(path)]
    if every:
        written = classlist.write_lms(course / "lms", every, people)
        print(f"LMS imports: {', '.join(str(p) for p in written)}")
    return done
