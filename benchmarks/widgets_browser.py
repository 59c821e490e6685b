"""Threshold explorer in a real browser: milliseconds from a slider move to the new picture.

    python3 course.py bench widgets --browser            # 40 moves per variant
    python3 course.py bench widgets --browser --moves 80

Starts JupyterLab (no token, a free local port, a scratch folder) with a notebook that builds
the lesson-8 ``ThresholdExplorer`` on the same 1,000 synthetic pairs as ``bench widgets``,
opens it in Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright), runs it, and then
moves the slider with the keyboard (→: one grid step per key press, as a student nudging it;
PageUp: a jump of a tenth of the range). Each move is timed *in the page*, from the key press
to the moment the browser has decoded the new PNG of the ``Image`` widget: the kernel's
callback, both websocket hops and the image decode. Once with ``blit=False`` (the whole figure
rendered on every move), once with ``blit=True`` (what lesson 8 uses), and once for the floor: a
bare slider whose callback hands the ``Image`` a PNG of the same pixel size made in advance (what
JupyterLab, the websocket and the browser cost with no drawing at all).

Painting the decoded picture (one frame, ~16 ms at 60 Hz) is not included. The kernel and the
browser share this machine's cores, as on a student's laptop.

Beside them, the ``BrowserThresholdExplorer`` (``course_utils/widgets/explorer_js.py``), whose
JavaScript computes and draws every move without the kernel, on ``--browser-pairs`` pairs (6,000
by default, about LFW's test set): each move sets its range input and sends an ``input`` event,
and is timed from that event until the ``requestAnimationFrame`` callback after the canvas was
drawn (the frame that shows it: the wait for the next frame is included); also the drawing alone.
Afterwards the value the kernel received is compared with the page's, since ``threshold`` stays
synced to Python.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

CELL = """\
import sys
sys.path.insert(0, {repo!r})
from benchmarks.widgets import _data
from course_utils.widgets import ThresholdExplorer

pairs, d = _data(1000)
explorer = ThresholdExplorer(d, pairs.same, pairs=pairs, n_examples=6, blit={blit}, static=False)
explorer
"""

# The floor: the same slider and Image widget, but the callback only hands over a PNG made in
# advance — what JupyterLab, the websocket and the browser cost, with no drawing at all.
FLOOR_CELL = """\
import sys
sys.path.insert(0, {repo!r})
import ipywidgets as widgets
import numpy as np
from course_utils.widgets.png import rgb_png

frames = [rgb_png(np.full((594, 990, 3), 255 - k, np.uint8)) for k in range(2)]
slider = widgets.FloatSlider(value=0.9, min=0.0, max=2.1, step=0.0021, continuous_update=True)
image = widgets.Image(format="png", value=frames[0])
moves = [0]


def show_next(change):
    moves[0] += 1
    image.value = frames[moves[0] % 2]


slider.observe(show_next, names="value")
widgets.VBox([slider, image])
"""

# The explorer computed in the browser; every value the kernel receives goes to a file, so the
# benchmark can check that Python sees the slider's value.
BROWSER_CELL = """\
import sys
sys.path.insert(0, {repo!r})
from benchmarks.widgets import _data
from course_utils.widgets import BrowserThresholdExplorer

pairs, d = _data({pairs})
explorer = BrowserThresholdExplorer(d, pairs.same, pairs=pairs, n_examples=6)
explorer.observe(lambda change: open({seen!r}, "w").write(repr(change["new"])), names="threshold")
explorer
"""

# In the page: move the browser explorer's slider to step k (an input event, as a drag sends);
# milliseconds until the animation frame after the draw, and the drawing alone.
BROWSER_MOVE = """
async (k) => {
  const root = document.querySelector('.jp-OutputArea-output .cu-browser-explorer');
  const slider = root.querySelector('input.cu-threshold');
  const t0 = performance.now();
  slider.value = String(k);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return {total: performance.now() - t0, draw: Number(root.dataset.drawMs), threshold: root.dataset.threshold};
}
"""

# In the page: press a key on the slider handle, resolve when the Image widget shows a new,
# decoded picture; returns milliseconds.
MOVE = """
async (key) => {
  const img = document.querySelector('.jp-OutputArea-output img.widget-image');
  const handle = document.querySelector('.widget-slider .noUi-handle');
  const before = img.src;
  const t0 = performance.now();
  handle.dispatchEvent(new KeyboardEvent('keydown', {key: key, bubbles: true}));
  return await new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error('no new picture within 20 s')), 20000);
    const done = async () => {
      if (img.src === before) return;
      observer.disconnect();
      try { await img.decode(); } catch (e) {}
      clearTimeout(limit);
      resolve(performance.now() - t0);
    };
    const observer = new MutationObserver(done);
    observer.observe(img, {attributes: true, attributeFilter: ['src']});
  });
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(folder: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(folder / ".runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           f"--ServerApp.root_dir={folder}", "--LabApp.news_url=", "--ServerApp.allow_root=True"]
    lab = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
            return lab
        except OSError:
            if lab.poll() is not None:
                raise RuntimeError("JupyterLab did not start (is jupyterlab installed in this environment?)")
            time.sleep(0.5)
    lab.kill()
    raise RuntimeError("JupyterLab did not answer within 60 s")


def _sessions(port: int) -> list[dict]:
    """The server's open notebook sessions (each with its kernel's ``execution_state``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions", timeout=5) as r:
        return json.load(r)


def wait_for_idle_kernel(port: int, timeout: float = 120) -> None:
    """Until the notebook's kernel has started and is idle (a cell run earlier may be lost)."""
    end = time.time() + timeout
    while time.time() < end:
        sessions = _sessions(port)
        if sessions and all(s["kernel"]["execution_state"] == "idle" for s in sessions):
            time.sleep(1)
            return
        time.sleep(0.5)
    raise RuntimeError("the notebook's kernel did not become idle")


def stop_kernels(port: int) -> None:
    """Shut down every session (so the next notebook's kernel has the cores to itself)."""
    for s in _sessions(port):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/sessions/{s['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def notebook(blit: bool | None, source: str | None = None) -> str:
    """The explorer with ``blit`` True/False, or (None) the no-drawing floor; or the cell ``source``."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    if source is None:
        source = FLOOR_CELL.format(repo=str(REPO)) if blit is None else CELL.format(repo=str(REPO), blit=blit)
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def run_first_cell(page, port: int, name: str) -> None:
    """Open notebook ``name`` in JupyterLab on a fresh kernel and run its first cell (Shift+Enter)."""
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
    wait_for_idle_kernel(port)
    page.click(".jp-Notebook .jp-Cell .cm-content")
    page.keyboard.press("Shift+Enter")


def time_in_browser(browser, port: int, name: str, moves: int, key: str) -> np.ndarray:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        run_first_cell(page, port, name)
        page.wait_for_selector(".widget-slider .noUi-handle", state="attached", timeout=180_000)
        page.wait_for_function("document.querySelector('.jp-OutputArea-output img.widget-image')?.src", timeout=60_000)
        page.wait_for_timeout(1000)
        times = [page.evaluate(MOVE, key) for _ in range(moves + 1)][1:]     # the first move warms up
        return np.array(times)
    finally:
        page.close()
        stop_kernels(port)


def time_browser_explorer(browser, port: int, name: str, moves: int, seen: Path) -> dict:
    """Moves of the browser explorer: a drag (one grid step a move) and jumps (a tenth of the range)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        run_first_cell(page, port, name)
        page.wait_for_selector(".jp-OutputArea-output .cu-browser-explorer[data-faces='loaded']", state="attached",
                               timeout=180_000)
        page.wait_for_timeout(1000)
        out = {}
        for label, steps in (("→ (one grid step a move)", [300 + k for k in range(moves + 1)]),
                             ("PageUp (a tenth of the range)", [(100 * k) % 1100 for k in range(moves + 1)])):
            runs = [page.evaluate(BROWSER_MOVE, k) for k in steps][1:]     # the first move warms up
            out[label] = (np.array([r["total"] for r in runs]), np.array([r["draw"] for r in runs]))
        page.wait_for_timeout(1500)                                       # the last value's trip to the kernel
        out["page threshold"] = runs[-1]["threshold"]
        out["kernel threshold"] = seen.read_text() if seen.exists() else "nothing received"
        return out
    finally:
        page.close()
        stop_kernels(port)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=40, help="slider moves per variant")
    parser.add_argument("--browser-pairs", type=int, default=6000, help="pairs of the explorer computed in the browser")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium): nothing measured.")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright for Python is not installed (pip install playwright; never `playwright install`).")
        return 2
    folder = Path(tempfile.mkdtemp(prefix="widgets-browser-"))
    port = free_port()
    lab = start_lab(folder, port)
    try:
        for blit in (False, True, None):
            (folder / f"explorer_blit_{blit}.ipynb").write_text(notebook(blit))
        seen = folder / "kernel_threshold.txt"
        (folder / "browser_explorer.ipynb").write_text(notebook(None, BROWSER_CELL.format(
            repo=str(REPO), pairs=args.browser_pairs, seen=str(seen))))
        print(f"ThresholdExplorer in JupyterLab + Chromium, 1,000 pairs, 6 example pairs; {args.moves} moves per row; "
              f"{os.cpu_count()} CPU cores shared by kernel and browser (other jobs may share them)")
        print(f"{'moves':<30} {'redraw':<28} {'median ms':>10} {'p90 ms':>8}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                        args=["--headless=new", "--no-sandbox", "--disable-background-networking"])
            try:
                for label, key in (("→ (one grid step a move)", "ArrowRight"), ("PageUp (a tenth of the range)", "PageUp")):
                    medians = {}
                    for blit in (False, True, None):
                        ms = time_in_browser(browser, port, f"explorer_blit_{blit}.ipynb", args.moves, key)
                        medians[blit] = float(np.median(ms))
                        redraw = {False: "whole figure (blit=False)", True: "only what moves (blit=True)",
                                  None: "floor: a ready-made PNG"}[blit]
                        print(f"{label:<30} {redraw:<28} {np.median(ms):>10.1f} {np.percentile(ms, 90):>8.1f}",
                              flush=True)
                    print(f"{label:<30} {'speed-up (median)':<28} {'×' + format(medians[False] / medians[True], '.1f'):>10}")
                result = time_browser_explorer(browser, port, "browser_explorer.ipynb", args.moves, seen)
                print(f"\nBrowserThresholdExplorer (computed and drawn in the browser), {args.browser_pairs:,} pairs, "
                      f"6 example pairs; input event → animation frame after the draw")
                print(f"{'moves':<30} {'median ms':>10} {'p90 ms':>8} {'p95 ms':>8} {'draw only: median':>18} {'p95':>6}")
                for label in ("→ (one grid step a move)", "PageUp (a tenth of the range)"):
                    total, draw = result[label]
                    print(f"{label:<30} {np.median(total):>10.1f} {np.percentile(total, 90):>8.1f} "
                          f"{np.percentile(total, 95):>8.1f} {np.median(draw):>18.2f} {np.percentile(draw, 95):>6.2f}")
                try:
                    same = float(result["kernel threshold"]) == float(result["page threshold"])
                except ValueError:
                    same = False
                print(f"threshold after the last move: page {result['page threshold']}, kernel {result['kernel threshold']}"
                      f" ({'the same' if same else 'DIFFERENT'})")
            finally:
                browser.close()
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
