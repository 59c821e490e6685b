"""Repository-wide pytest hooks.

While nbval executes the notebooks, keep each cell's fresh outputs and, at the end of the run,
write executed copies to ``build/executed/<folder>/<name>.ipynb``. The slide decks and the
website are built from these copies (``coursekit.publish``), so the test run executes every
notebook once and the publishing step needs no second execution.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
EXECUTED = ROOT / "build" / "executed"
_runs: dict[Path, dict[int, list]] = defaultdict(dict)
_failed: set[Path] = set()


def pytest_runtest_makereport(item, call):
    cell = getattr(item, "cell", None)
    if cell is None or call.when != "call" or not hasattr(item, "test_outputs"):
        return
    path = Path(str(item.fspath))
    if item.test_outputs is not None:
        _runs[path][item.cell_num] = copy.deepcopy(item.test_outputs)
    if call.excinfo is not None:
        _failed.add(path)


def pytest_sessionfinish(session, exitstatus):
    if not _runs:
        return
    import nbformat

    for path, outputs in _runs.items():
        if path in _failed:
            continue
        nb = nbformat.read(path, as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        for num, outs in outputs.items():
            if num < len(code_cells):
                code_cells[num].outputs = [nbformat.from_dict(o) for o in outs]
        target = EXECUTED / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
