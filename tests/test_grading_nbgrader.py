"""Real nbgrader round trip (issue 10): the lessons drop into an nbgrader course.

A temporary nbgrader course directory with lesson 04 as an assignment and the course's
``coursekit/nbgrader_config.py``; ``nbgrader generate_assignment``, then ``autograde`` and
``generate_feedback`` of a solved, an unsolved and a wrong submission made from the student
notebook students actually open (``notebooks/``). The points per check must equal
``course.py grade``'s on the same files.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit import grading

pytest.importorskip("nbgrader")
sys.path.insert(0, str(Path(__file__).parent))
from test_grading_attacks import BOTH, LESSON, WRONG_TRIPLET, build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "lesson04"


def nbgrader(course: Path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           # nbgrader runs its database migrations with the `alembic` command of its environment
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_nbgrader_round_trip_matches_course_grade(tmp_path):
    from test_grading_attacks import _fix
    course = tmp_path / "course"
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    shutil.copy(ROOT / "coursekit" / "nbgrader_config.py", course / "nbgrader_config.py")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.CourseDirectory.course_id = 'facenet'\nc.CourseDirectory.root = {str(course)!r}\n"
                f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n")
    sol = nbformat.read(ROOT / "solutions" / f"{LESSON}.ipynb", as_version=4)
    for cell in sol.cells:
        cell.source = _fix(cell.source)
    nbformat.write(sol, source / f"{LESSON}.ipynb")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert (course / "release" / ASSIGNMENT / f"{LESSON}.ipynb").is_file()

    subs = {"solved": build(solve=BOTH, trim=False), "unsolved": build(trim=False),
            "wrong": build(replace={"ex_triplet_loss": WRONG_TRIPLET}, solve=("ex_pairwise_distances",), trim=False)}
    mine = tmp_path / "mine"
    for student, nb in subs.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LESSON}.ipynb")
        (mine / student).mkdir(parents=True)
        nbformat.write(nb, mine / student / f"{LESSON}.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")

    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        theirs = {s: {g.name: g.score for g in gb.find_submission_notebook(LESSON, ASSIGNMENT, s).grades
                      if g.max_score} for s in subs}
    guarded = tmp_path / "guarded"           # the grader guards (and restores) a copy, not the repository
    shutil.copytree(ROOT / "course_utils", guarded / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    ours = grading.grade_folder(mine, tmp_path / "grades.csv", solutions=course / "source" / ASSIGNMENT,
                                jobs=2, cell_timeout=300, course_root=guarded)
    for row in ours:
        for gid, points in theirs[row["student"]].items():
            assert row[gid] == points, (row["student"], gid, row[gid], points)
    assert sum(theirs["solved"].values()) == 4 and sum(theirs["unsolved"].values()) == 0
    assert theirs["wrong"] == {"ex_triplet_loss_check": 0, "ex_pairwise_distances_check": 2}
    html = (course / "feedback" / "wrong" / ASSIGNMENT / f"{LESSON}.html").read_text()
    assert "Likely mistake" in html
