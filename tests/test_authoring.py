"""Instructor-only cells never reach the student notebooks; decks and site run on the caller's data."""
from __future__ import annotations

import nbformat
import pytest

from coursekit import authoring


def notes_cell(text):
    return nbformat.v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": "notes"}})


def test_student_version_drops_speaker_notes_and_instructor_cells():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title", metadata={"slideshow": {"slide_type": "slide"}}),
        notes_cell("*Live demo:* ask the room first."),
        nbformat.v4.new_markdown_cell("Answer: 42", metadata={"tags": ["instructor"]}),
        nbformat.v4.new_markdown_cell("Students read this."),
    ])
    out = authoring.student_version(nb)
    assert [c.source for c in out.cells] == ["# Title", "Students read this."]
    # The authored version keeps them (they feed the decks' speaker notes).
    assert len(authoring.clean_source(nb).cells) == 4


@pytest.mark.parametrize("path", sorted(authoring.STUDENTS.glob("*.ipynb")), ids=lambda p: p.name)
def test_student_notebooks_hold_no_instructor_notes(path):
    nb = nbformat.read(path, as_version=4)
    assert not [c for c in nb.cells if authoring.is_instructor_cell(c)]
    assert "Live demo" not in "\n".join(c.source for c in nb.cells)


def test_some_authored_lessons_do_have_notes():
    # Otherwise the test above would pass for the wrong reason.
    lessons = [nbformat.read(p, as_version=4) for p in authoring.lesson_files()]
    assert sum(any(authoring.is_instructor_cell(c) for c in nb.cells) for nb in lessons) >= 10


def test_committed_outputs_always_come_from_quick_synthetic_runs(monkeypatch):
    monkeypatch.setenv("COURSE_DATASET", "lfw")
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert authoring.run_settings(caller=False) == {"COURSE_QUICK": "1", "COURSE_DATASET": "synthetic",
                                                     "PYTHONHASHSEED": "0"}


def test_decks_and_site_respect_the_callers_settings(monkeypatch):
    monkeypatch.setenv("COURSE_DATASET", "lfw")
    monkeypatch.setenv("COURSE_QUICK", "0")
    got = authoring.run_settings(caller=True)
    assert got["COURSE_DATASET"] == "lfw" and got["COURSE_QUICK"] == "0"
    monkeypatch.delenv("COURSE_DATASET")
    monkeypatch.delenv("COURSE_QUICK")
    got = authoring.run_settings(caller=True)
    assert got["COURSE_DATASET"] == "synthetic" and got["COURSE_QUICK"] == "1"
