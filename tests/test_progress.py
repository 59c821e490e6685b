"""Progress on long work (course_utils.progress): a bar in a terminal and in a notebook for long
work, nothing for short work, in quick mode, under captured output or in committed notebooks.

Images are tiny random-noise pictures generated here; the face detector is replaced by a stub
that "finds" one face per photo, so no real person's photo is used and MTCNN never runs.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils import align, datasets, images, progress as prog
from tests.conftest import REPO, write_image

BAR_END = re.compile(r"(\d+)/(\d+) \[\d+:\d+<")      # tqdm's "300/300 [00:01<00:00, …]"


class Terminal(io.StringIO):
    """A stand-in for a terminal's stderr: tqdm sees a TTY and draws its text bar here."""

    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """stderr is a terminal and quick mode is off (the suite may run with COURSE_QUICK=1).

    Installed lazily, on first use inside the test: pytest puts its own capturing stderr back
    between a fixture's set-up and the test's call."""
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    screen = Terminal()

    class Lazy:
        def install(self):
            if sys.stderr is not screen:
                monkeypatch.setattr(sys, "stderr", screen)
            return screen

        def getvalue(self):
            return screen.getvalue()

    return Lazy()


def final_count(text: str) -> tuple[int, int] | None:
    """``(n, total)`` of the last bar drawn in ``text``, or None when nothing was drawn."""
    found = BAR_END.findall(text.split("\r")[-1] if "\r" in text else text)
    return tuple(map(int, found[-1])) if found else None


# ---------------------------------------------------------------- the helper itself
def test_every_item_in_order_with_or_without_a_bar(terminal):
    terminal.install()
    items = [f"item{k}" for k in range(300)]
    assert list(prog.progress(items, desc="long")) == items                       # a bar
    assert list(prog.progress(items[:5], desc="short")) == items[:5]              # no bar
    assert list(prog.progress(iter(items), total=300)) == items                  # a generator with total
    assert list(prog.progress(x for x in items)) == items                        # no length: no bar
    assert list(prog.progress(items, verbose=False)) == items


def test_long_work_draws_a_bar_in_a_terminal(terminal):
    terminal.install()
    for _ in prog.progress(range(300), desc="Decoding", unit="img"):
        pass
    out = terminal.getvalue()
    assert "Decoding" in out and "img/s" in out
    assert final_count(out) == (300, 300)


def test_short_work_and_verbose_false_draw_nothing(terminal):
    terminal.install()
    short = list(range(prog.MIN_ITEMS - 1))
    assert prog.progress(short) is short                        # the list itself: no wrapper at all
    long = list(range(500))
    assert prog.progress(long, verbose=False) is long
    assert terminal.getvalue() == ""
    assert prog.progress(short, min_items=0) is not short       # the caller can ask for a bar


def test_no_bar_in_quick_mode_or_when_stderr_is_not_a_terminal(terminal, monkeypatch):
    terminal.install()
    long = list(range(500))
    monkeypatch.setenv("COURSE_QUICK", "1")                     # test runs, committed notebook outputs
    assert prog.progress(long) is long
    monkeypatch.delenv("COURSE_QUICK")
    monkeypatch.setattr(sys, "stderr", io.StringIO())          # pytest capturing, a log file, CI
    assert prog.progress(long) is long
    assert terminal.getvalue() == ""


def test_an_imported_ipykernel_does_not_fool_the_terminal_check(terminal, monkeypatch):
    terminal.install()
    pytest.importorskip("ipykernel.zmqshell")                   # what makes tqdm.auto pick the widget
    assert not prog.in_notebook()
    for _ in prog.progress(range(300)):
        pass
    assert final_count(terminal.getvalue()) == (300, 300)


def test_countdown_suffix(monkeypatch):
    clock = iter([100.0, 110.0, 120.0, 130.0])
    monkeypatch.setattr(prog.time, "monotonic", lambda: next(clock))
    c = prog.Countdown(3, "graded")                              # t0 = 100
    assert c.starting() == "1 of 3"                              # no estimate before the first ends
    assert c.step() == "1 of 3 graded, ETA 0:20"                 # 10 s for one → 20 s for two more
    assert c.step() == "2 of 3 graded, ETA 0:10"
    assert c.step() == "3 of 3 graded in 0:30"
    assert prog.duration(3725) == "1:02:05" and prog.duration(59.6) == "1:00"


# ---------------------------------------------------------------- where the course uses it
def fake_detector(image):
    """One "face" per photo: a box around the whole picture and the template's 5 landmarks."""
    h, w = image.shape[:2]
    marks = align.template(min(h, w)).astype(np.float32)[None]
    return {"boxes": np.array([[0, 0, w, h]], np.float32), "landmarks": marks,
            "confidence": np.ones(1, np.float32)}


def photo_folder(root: Path, n: int, people: int = 3) -> Path:
    for k in range(n):
        write_image(root / f"person{k % people}" / f"{k}.png", size=(24, 20), fmt="PNG", seed=k)
    return root


def test_folder_alignment_reports_one_step_per_photo(terminal, tmp_path, monkeypatch):
    terminal.install()
    monkeypatch.setattr(align, "_run_detector", fake_detector)
    n = align.ALIGN_BAR_MIN + 3
    faces = datasets.load_folder(photo_folder(tmp_path, n), size=16, align=True)
    assert len(faces) == n
    out = terminal.getvalue()
    assert "Aligning faces" in out and final_count(out) == (n, n)
    assert len(BAR_END.findall(out.split("\n")[-2])) >= 1 and out.count("\n") == 1   # one bar, closed once


def test_small_folder_and_cached_reload_show_no_bar(terminal, tmp_path, monkeypatch):
    terminal.install()
    monkeypatch.setattr(align, "_run_detector", fake_detector)
    folder = photo_folder(tmp_path / "small", 6)
    datasets.load_folder(folder, size=16, align=True)
    assert BAR_END.search(terminal.getvalue()) is None
    big = photo_folder(tmp_path / "big", align.ALIGN_BAR_MIN)
    datasets.load_folder(big, size=16, align=True, verbose=False)     # verbose=False is respected
    assert BAR_END.search(terminal.getvalue()) is None


def test_align_faces_on_a_long_list_reports_each_photo(terminal, monkeypatch):
    terminal.install()
    monkeypatch.setattr(align, "_run_detector", fake_detector)
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(align.ALIGN_BAR_MIN)]
    result = align.align_faces(photos, size=16, warn=False)
    assert len(result) == len(photos)
    assert final_count(terminal.getvalue()) == (len(photos), len(photos))


def test_decoding_a_large_folder_reports_every_file(terminal, tmp_path):
    terminal.install()
    n = images.DECODE_BAR_MIN
    for k in range(n):
        write_image(tmp_path / f"p{k % 4}" / f"{k}.png", size=(8, 8), fmt="PNG", seed=k)
    faces = datasets.load_folder(tmp_path, size=8)
    assert len(faces) == n
    out = terminal.getvalue()
    assert f"Reading {tmp_path.name}" in out and final_count(out) == (n, n)


@pytest.mark.skipif(not __import__("course_utils.pretrained").pretrained.available(),
                    reason="optional extra 'pretrained' not installed")
def test_production_encoder_reports_each_face_and_chunks_do_not_change_results(terminal, monkeypatch):
    terminal.install()
    from course_utils import pretrained
    monkeypatch.setattr(pretrained, "EMBED_BAR_MIN", 3)                # 3 crops: seconds, not minutes
    crops = np.random.default_rng(1).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    enc = pretrained.load_pretrained()
    quiet = enc.predict(crops, verbose=0)
    assert BAR_END.search(terminal.getvalue()) is None                 # Keras' verbose=0: silent
    shown = enc.predict(crops, batch_size=2)                           # chunks of 2, 2 and 1
    assert final_count(terminal.getvalue()) == (5, 5)
    np.testing.assert_allclose(shown, quiet, atol=1e-6)


def test_grading_adds_k_of_n_to_its_lines(tmp_path, monkeypatch, capsys):
    """One line per submission, each ending in "[k of n graded, ETA …]": no bar, no \\r."""
    import nbformat

    from coursekit import grading
    from tests.test_grading import lesson

    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("def add_one(x):\n    return x + 1"), solutions / "01_demo.ipynb")
    for name in ("ana", "ben", "cy"):
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(lesson("def add_one(x):\n    return 1 + x"), tmp_path / "subs" / name / "01_demo.ipynb")
    monkeypatch.setattr(grading, "run_submission", lambda path, lesson, *a, **k: grading.blank_result(lesson))
    grading.grade_folder(tmp_path / "subs", tmp_path / "grades.csv", solutions=solutions, seed_data=False,
                         os_sandbox=False, verdicts=grading.CellVerdicts())    # no kit import: seconds
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "01_demo" in line and "graded" in line]
    assert len(lines) == 3 and "\r" not in out
    assert re.search(r"\[1 of 3 graded, ETA \d+:\d\d\]$", lines[0])
    assert re.search(r"\[3 of 3 graded in \d+:\d\d\]$", lines[2])


# ---------------------------------------------------------------- notebooks
def test_a_kernel_gets_the_widget_bar_and_quick_mode_gets_none(monkeypatch):
    """In Jupyter tqdm.auto's widget bar appears for long work; in quick mode (how the committed
    outputs are made) and for short work the cell prints nothing at all."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    code = ("import os\nfrom course_utils.progress import progress\n"
            "for _ in progress(range({n})):\n    pass\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(code.format(n=300)),
        nbformat.v4.new_code_cell(code.format(n=5)),
        nbformat.v4.new_code_cell("os.environ['COURSE_QUICK'] = '1'\n" + code.format(n=300)),
    ])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    long, short, quick = (cell.outputs for cell in nb.cells)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in long), long
    assert short == [] and quick == []


def bar_like_outputs(path: Path) -> list[str]:
    found = []
    for k, cell in enumerate(json.loads(path.read_text()).get("cells", [])):
        for out in cell.get("outputs", []):
            text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if "\r" in text or BAR_END.search(text) or "widget-view" in json.dumps(out.get("data", {})):
                found.append(f"{path.name} cell {k}: {text[:60]!r}")
    return found


def test_committed_notebooks_hold_no_progress_bars():
    paths = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))
    assert paths
    found = [hit for p in paths for hit in bar_like_outputs(p)]
    assert not found, f"progress-bar output in committed notebooks: {found[:5]}"


def test_exercise_checks_use_no_progress_bars():
    kit = sorted((REPO / "course_utils" / "exercises").rglob("*.py"))
    assert kit
    users = [p.name for p in kit if re.search(r"\btqdm\b|course_utils\.progress|from course_utils import .*progress",
                                              p.read_text(encoding="utf-8"))]
    assert not users, f"exercise checks must not draw progress bars: {users}"


def test_importing_the_helper_and_its_users_imports_neither_tqdm_nor_tensorflow():
    code = ("import sys, course_utils.progress, course_utils.datasets, course_utils.align, course_utils.images\n"
            "print(sorted(m for m in ('tqdm', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
