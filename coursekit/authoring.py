"""Generate the student notebooks from the authored lessons (one source, two versions).

Lessons are written once, in ``solutions/``, with the answers between nbgrader's markers::

    def triplet_loss(anchor, positive, negative, alpha=0.2):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and nbgrader cell metadata (``solution`` cells hold answers; ``grade`` cells hold the checks and
their points). The student version in ``notebooks/`` is made by nbgrader's own
``ClearSolutions`` preprocessor (the answer becomes ``# YOUR CODE HERE`` +
``raise NotImplementedError()``), so the same sources also work in a full nbgrader course on
JupyterHub.

Outputs: only cells tagged ``nbval-check-output`` keep their outputs (text only — no pictures),
because nbval compares exactly those when the test suite executes the notebooks. In the
student version the outputs of check cells are dropped (they differ until the exercise is
solved). Commands::

    python -m coursekit.authoring                 # regenerate notebooks/ from solutions/
    python -m coursekit.authoring --execute       # first re-run solutions/ to refresh kept outputs
    python -m coursekit.authoring --check         # exit 1 if notebooks/ is out of date (CI)

Why not ``nbgrader generate_assignment``? It needs a course directory and a gradebook database
and writes into ``release/``; students here open ``notebooks/`` straight from the repository, and
we also want the kept nbval outputs handled. We therefore call nbgrader's preprocessor directly —
the part that matters — and keep this file small.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat

from course_utils.config import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"
STUDENTS = REPO_ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
TEXT_MIMES = {"text/plain"}


def lesson_files(folder: Path = SOLUTIONS) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_grade_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade", False))


INSTRUCTOR_TAG = "instructor"


def is_instructor_cell(cell) -> bool:
    """Speaker notes (slide type "notes", e.g. the "*Live demo:* ..." cells) and cells tagged
    ``instructor``: they stay in ``solutions/`` and the decks, never in the student version."""
    slide_type = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    return slide_type == "notes" or INSTRUCTOR_TAG in tags(cell)


def keep_text_outputs(outputs: list) -> list:
    """Only streams and ``text/plain`` results survive: no images, no HTML, no widgets."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            kept.append(copy.deepcopy(out))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = {k: v for k, v in out.get("data", {}).items() if k in TEXT_MIMES}
            if data:
                new = copy.deepcopy(out)
                new["data"], new["metadata"] = data, {}
                if new.get("output_type") == "execute_result":
                    new["execution_count"] = None
                kept.append(new)
    return kept


def clean_source(nb) -> nbformat.NotebookNode:
    """The authored notebook as committed: outputs only on tagged cells, no execution counts."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = keep_text_outputs(cell.outputs) if CHECK_TAG in tags(cell) else []
        # nbval refuses saved outputs on a cell that looks unrun, so kept outputs keep a count.
        cell.execution_count = 1 if cell.outputs else None
    nb.metadata.pop("widgets", None)
    return nb


def student_version(nb) -> nbformat.NotebookNode:
    """Answers replaced by stubs (nbgrader's ClearSolutions); check-cell outputs dropped."""
    from nbgrader.preprocessors import ClearSolutions

    nb = clean_source(nb)
    nb.cells = [c for c in nb.cells if not is_instructor_cell(c)]
    nb, _ = ClearSolutions().preprocess(nb, {})
    for cell in nb.cells:
        if cell.cell_type == "code" and is_grade_cell(cell):
            cell.outputs = []
            cell.metadata["tags"] = [t for t in tags(cell) if t != CHECK_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
    nb.metadata["course"] = {"version": "student", "generated_from": "solutions/ by coursekit.authoring"}
    return nb


TEST_SETTINGS = {"COURSE_QUICK": "1", "COURSE_DATASET": "synthetic", "PYTHONHASHSEED": "0"}


def run_settings(caller: bool) -> dict[str, str]:
    """Environment for executing lessons. ``caller=False`` (refreshing the committed outputs):
    always quick mode on synthetic faces, so the saved outputs never depend on this machine.
    ``caller=True`` (decks and site): the caller's ``COURSE_QUICK`` / ``COURSE_DATASET`` win;
    only unset ones default to quick mode and synthetic faces."""
    if not caller:
        return dict(TEST_SETTINGS)
    return {k: os.environ.get(k) or v for k, v in TEST_SETTINGS.items()}


def execute(path: Path, timeout: int = 900, caller_settings: bool = False) -> nbformat.NotebookNode:
    """Run a notebook (settings: see ``run_settings``)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # No MPLBACKEND here: kernels use the inline backend, so executed copies hold the figures.
    env = run_settings(caller_settings)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return nb


def _dump(nb) -> str:
    return nbformat.writes(nb) + ("" if nbformat.writes(nb).endswith("\n") else "\n")


def generate(execute_first: bool = False, only: list[str] | None = None, check: bool = False) -> int:
    STUDENTS.mkdir(exist_ok=True)
    stale = []
    for src in lesson_files():
        if only and not any(o in src.name for o in only):
            continue
        nb = execute(src) if execute_first else nbformat.read(src, as_version=4)
        clean = clean_source(nb)
        student = student_version(nb)
        dst = STUDENTS / src.name
        wanted = {src: _dump(clean), dst: _dump(student)}
        for path, text in wanted.items():
            current = path.read_text() if path.exists() else None
            if current != text:
                if check:
                    stale.append(path)
                else:
                    path.write_text(text)
                    print(f"wrote {path.relative_to(REPO_ROOT)}")
    if check:
        extra = sorted(set(p.name for p in STUDENTS.glob("*.ipynb")) - set(p.name for p in lesson_files()))
        for name in extra:
            stale.append(STUDENTS / name)
        if stale:
            print("Out of date (run `python3 course.py student`):\n  " +
                  "\n  ".join(str(p.relative_to(REPO_ROOT)) for p in stale))
            return 1
        print("Student notebooks are in sync with solutions/.")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execute", action="store_true", help="re-run solutions/ first to refresh kept outputs")
    parser.add_argument("--check", action="store_true", help="only report whether notebooks/ is in sync")
    parser.add_argument("only", nargs="*", help="only lessons whose file name contains one of these")
    args = parser.parse_args(argv)
    return generate(execute_first=args.execute, only=args.only, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
