"""Threshold explorer (lesson 8): server-side time per slider move, whole-figure render vs blitting.

Builds a ``ThresholdExplorer`` on 1,000 synthetic verification pairs with the example strip
(6 pairs of 64×64 faces), then moves its slider ``--moves`` times — a drag (a few grid steps per move, as a student
dragging it sends them) and jumps across the range — and prints the median and 90th-percentile milliseconds per move, first with
``blit=False`` (the whole figure rendered again on every move: the old behaviour) and then with
``blit=True`` (only what moves is redrawn, and the example strip is pasted from a small picture
of each pair made with Pillow). A move = the slider callback: operating point, flipping pairs,
HTML read-out, drawing and the PNG handed to the ``Image`` widget. The browser's own time to
receive and paint the PNG is not included.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _data(n_pairs: int, seed: int = 0):
    from course_utils.datasets import load_synthetic, make_pairs

    faces = load_synthetic(n_identities=100, images_per_identity=6, seed=seed)
    pairs = make_pairs(faces, n_pairs=n_pairs, seed=seed)
    rng = np.random.default_rng(seed)
    d = np.where(pairs.same, rng.normal(0.6, 0.2, len(pairs)), rng.normal(1.3, 0.25, len(pairs)))
    return pairs, np.clip(d, 0, None)


def time_moves(blit: bool, pairs, distances, values) -> tuple[np.ndarray, int]:
    from course_utils.widgets import ThresholdExplorer

    explorer = ThresholdExplorer(distances, pairs.same, pairs=pairs, n_examples=6, blit=blit,
                                 threshold=float(values[0]))
    times = []
    for v in values[1:]:
        t0 = time.perf_counter()
        explorer.slider.value = float(v)
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1e3, len(bytes(explorer.image.value))


def patterns(slider, moves: int) -> dict[str, np.ndarray]:
    """Slider values: a drag (3 grid steps per move from the middle) and jumps across the range."""
    lo, hi, step = slider.min, slider.max, slider.step
    mid = lo + round((0.5 * (lo + hi) - lo) / step) * step
    return {"drag (3 steps a move)": mid + 3 * step * np.arange(moves + 1),
            "jumps across the range": np.linspace(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo), moves + 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=40, help="slider moves per variant")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--browser", action="store_true",
                        help="time the moves in JupyterLab + Chromium instead (benchmarks/widgets_browser.py)")
    args = parser.parse_args(argv)
    if args.browser:
        from benchmarks.widgets_browser import main as in_browser
        return in_browser(["--moves", str(args.moves)])
    import matplotlib
    matplotlib.use("Agg")
    pairs, d = _data(args.pairs)
    from course_utils.widgets import ThresholdExplorer
    slider = ThresholdExplorer(d, pairs.same).slider
    print(f"ThresholdExplorer, {len(d)} pairs, 6 example pairs; {args.moves} slider moves per row; "
          f"{os.cpu_count()} CPU cores (other jobs may share them)")
    print(f"{'moves':<24} {'redraw':<28} {'median ms':>10} {'p90 ms':>8} {'PNG kB':>7}")
    for name, values in patterns(slider, args.moves).items():
        medians = {}
        for label, blit in (("whole figure (blit=False)", False), ("only what moves (blit=True)", True)):
            ms, size = time_moves(blit, pairs, d, values)
            medians[blit] = float(np.median(ms))
            print(f"{name:<24} {label:<28} {np.median(ms):>10.1f} {np.percentile(ms, 90):>8.1f} {size / 1e3:>7.0f}")
        print(f"{name:<24} {'speed-up (median)':<28} {'×' + format(medians[False] / medians[True], '.1f'):>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
