"""The notebooks as files: in sync, well-formed, no pictures of real people in saved outputs."""
import json
import re

import nbformat
import pytest

from coursekit import authoring

SOLUTIONS = authoring.lesson_files()
LESSONS = [p for p in SOLUTIONS if re.match(r"\d\d_", p.name)]


def test_there_are_lessons():
    assert (authoring.SOLUTIONS / "00_welcome.ipynb").exists()


def test_student_versions_are_in_sync():
    assert authoring.generate(check=True) == 0, "notebooks/ is out of date: run `python3 course.py student`"


@pytest.mark.parametrize("path", SOLUTIONS + sorted(authoring.STUDENTS.glob("*.ipynb")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_outputs_are_text_only(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert not set(data) - {"text/plain"}, f"{path.name}: non-text output saved ({set(data)})"
        if cell.cell_type == "code" and cell.get("outputs"):
            assert authoring.CHECK_TAG in cell.metadata.get("tags", []), f"{path.name}: output on an untagged cell"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_lesson_shape(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "start with a title"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert all("slideshow" in c.metadata for c in nb.cells), "every cell needs slideshow metadata"
    if path.name.startswith("00_"):
        return
    for heading in ("objectives", "takeaways"):
        assert heading in text.lower(), f"{path.name}: no '{heading}' section"
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade ids"
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if "### BEGIN SOLUTION" in cell.source:
            assert meta.get("solution"), f"{path.name}: solution markers in a cell not marked as a solution"


@pytest.mark.parametrize("path", sorted(authoring.STUDENTS.glob("*.ipynb")), ids=lambda p: p.name)
def test_student_versions_hold_no_solutions(path):
    raw = path.read_text()
    assert "BEGIN SOLUTION" not in raw and "END SOLUTION" not in raw
    nb = nbformat.read(path, as_version=4)
    solution_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for cell in solution_cells:
        assert "raise NotImplementedError()" in cell.source


def test_student_version_replaces_only_the_marked_region():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f(x):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n",
        metadata={"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "f",
                               "schema_version": 3}})])
    out = authoring.student_version(nb)
    src = out.cells[0].source
    assert "return x + 1" not in src and "# YOUR CODE HERE" in src and 'def f(x):\n    """doc"""' in src


def test_lesson_5_under_mixed_bfloat16_training(tmp_path):
    """Lesson 5 trains encoders and then does its own maths on their embeddings. Forced to train
    under mixed_bfloat16 (as "auto" chooses on CPUs with bfloat16 instructions; emulated on
    others), every cell still runs, the kept outputs are unchanged, and the student's batch-hard
    loss and the course's agree to the printed digits."""
    import os

    from nbclient import NotebookClient

    path = authoring.SOLUTIONS / "05_mining_triplets.ipynb"
    nb = nbformat.read(path, as_version=4)
    kept = {i: authoring.keep_text_outputs(c.outputs) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and authoring.CHECK_TAG in c.metadata.get("tags", [])}
    env = {**os.environ, "COURSE_PRECISION": "mixed_bfloat16", "COURSE_QUICK": "1",
           "COURSE_DATASET": "synthetic", "COURSE_DATA_DIR": str(tmp_path)}
    old = dict(os.environ)
    os.environ.update(env)            # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    text = lambda outs: "".join(o.get("text", "") for o in outs)          # noqa: E731
    for i, outputs in kept.items():
        assert text(authoring.keep_text_outputs(nb.cells[i].outputs)) == text(outputs), nb.cells[i].source
    printed = "".join(text(c.outputs) for c in nb.cells if c.cell_type == "code")
    assert "Precision: mixed_bfloat16" in printed
    yours, course = re.search(r"yours: ([\d.]+)\s+course: ([\d.]+)", printed).groups()
    assert yours == course, printed
