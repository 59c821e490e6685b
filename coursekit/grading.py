"""Autograde a folder of submitted student notebooks into a CSV of points per exercise.

    python3 course.py grade submissions/ --out grades.csv

Layout of ``submissions/``: one folder per student holding their lesson notebooks
(``submissions/alice/04_triplet_loss.ipynb``), or flat files named ``<student>__<lesson>.ipynb``.

For each submission:

1. The graded cells (nbgrader ``grade: true`` cells — the checks) are **replaced by the
   instructor's originals** from ``solutions/`` (matched by ``grade_id``), so editing a check
   does not help.
2. The notebook runs with ``COURSE_GRADING=1`` (checks then fail an unsolved exercise instead of
   falling back to the reference), in quick mode, on synthetic data, with a per-cell timeout,
   and with a temporary ``COURSE_DATA_DIR`` (grading never touches your ``data/``).
   Errors do not stop the run (``allow_errors``); a cell that runs past the timeout is
   interrupted and the remaining cells score 0 — a submission that crashes or loops forever is
   scored, never fatal.
3. A graded cell earns its points when it ran without an error.

The CSV has one row per (student, lesson): each ``grade_id``'s points, the total and the maximum.
This is the same metadata nbgrader uses, so on JupyterHub ``nbgrader autograde`` works as well.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import nbformat

from course_utils.authoring import SOLUTIONS, is_grade_cell


def grade_cells(nb) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a notebook."""
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = float(meta.get("points", 0))
    return out


def restore_checks(submission, source) -> int:
    """Overwrite the submission's graded cells with the source's; returns how many were restored."""
    originals = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if is_grade_cell(c)}
    restored = 0
    for k, cell in enumerate(submission.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in originals:
            submission.cells[k] = nbformat.from_dict(dict(originals[gid]))
            submission.cells[k].outputs = []
            restored += 1
    return restored   # a check cell the student deleted is simply never run: it scores 0


def run_submission(path: Path, source_path: Path, cell_timeout: int = 300, data_dir: Path | None = None) -> dict:
    """Execute one submission and score its graded cells → ``{grade_id: points, ...}``.

    ``data_dir`` is the ``COURSE_DATA_DIR`` the submission runs with (default: a fresh temporary
    folder), so grading never overwrites the instructor's own trained encoder or databases.
    """
    import tempfile
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="course-grading-"))
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    source = nbformat.read(source_path, as_version=4)
    possible = grade_cells(source)
    scores = {gid: 0.0 for gid in possible}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 — an unreadable file scores 0, it does not stop grading
        return {"scores": scores, "possible": possible, "status": f"unreadable notebook: {err}"}
    restore_checks(nb, source)
    env = {"COURSE_GRADING": "1", "COURSE_QUICK": "1", "COURSE_DATASET": "synthetic", "MPLBACKEND": "Agg",
           "COURSE_DATA_DIR": str(data_dir)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    status = "ok"
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(source_path.parent)}})
    try:
        client.execute()
    except CellTimeoutError:
        status = f"a cell ran longer than {cell_timeout} s and was stopped"
    except DeadKernelError:
        status = "the kernel died (out of memory?)"
    except Exception as err:  # noqa: BLE001
        status = f"execution failed: {type(err).__name__}: {err}"
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in possible and cell.get("execution_count") is not None:
            failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            scores[gid] = 0.0 if failed else possible[gid]
    return {"scores": scores, "possible": possible, "status": status}


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``(student, notebook path)`` pairs from either supported layout."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        if path.parent != folder:
            found.append((path.parent.name, path))
        elif "__" in path.stem:
            found.append((path.stem.split("__")[0], path))
    return found


def lesson_source(path: Path, solutions: Path = SOLUTIONS) -> Path | None:
    name = path.name.split("__")[-1]
    candidate = solutions / name
    return candidate if candidate.exists() else None


def grade_folder(folder: str | Path, out: str | Path = "grades.csv", cell_timeout: int = 300,
                 solutions: str | Path = SOLUTIONS) -> list[dict]:
    """Grade every submission under ``folder`` against the lessons in ``solutions``; write ``out``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Submissions folder not found: {folder}")
    import tempfile
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))   # shared by this grading run only
    for student, path in find_submissions(folder):
        source = lesson_source(path, Path(solutions))
        if source is None:
            print(f"skip {path}: no lesson called {path.name.split('__')[-1]} in solutions/")
            continue
        t0 = time.time()
        result = run_submission(path, source, cell_timeout, data_dir=scratch)
        row = {"student": student, "lesson": source.stem, **result["scores"],
               "total": sum(result["scores"].values()), "max": sum(result["possible"].values()),
               "status": result["status"]}
        rows.append(row)
        print(f"{student:>16}  {source.stem:<28} {row['total']:g}/{row['max']:g}  "
              f"({time.time() - t0:.0f} s; {result['status']})", flush=True)
    columns = ["student", "lesson"]
    for row in rows:
        columns += [k for k in row if k not in columns and k not in ("total", "max", "status")]
    columns += ["total", "max", "status"]
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"Wrote {out} ({len(rows)} submissions).")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="folder of submissions")
    parser.add_argument("--out", default="grades.csv", help="CSV file to write (default grades.csv)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default 300)")
    args = parser.parse_args(argv)
    grade_folder(args.folder, args.out, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
