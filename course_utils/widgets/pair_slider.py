"""Lesson 1: a threshold slider over a few example pairs, with ✓/✗ per pair and the accuracy."""
from __future__ import annotations

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils import metrics
from course_utils.metrics import operating_point, pair_verdicts
from course_utils.widgets.base import ThresholdView, as_percent, as_short_number, error_html, on_grid, slider_range
from course_utils.widgets.pairs import STRIP_LEGEND, PairStrip, check_pairs_match
from course_utils.widgets.png import figure_png, image_widget, set_png

def choose_pairs(same, n: int = 8, seed: int = 0, distances=None) -> np.ndarray:
    """``n`` example pairs, half same-person and half different-person (as far as they exist),
    drawn at random with ``seed``; sorted by distance when ``distances`` is given."""
    s = np.asarray(same, dtype=bool)
    rng = np.random.default_rng(seed)
    same_idx, diff_idx = np.flatnonzero(s), np.flatnonzero(~s)
    k_same = min(len(same_idx), n // 2)
    k_diff = min(len(diff_idx), n - k_same)
    k_same = min(len(same_idx), n - k_diff)
    chosen = np.concatenate([rng.choice(same_idx, k_same, replace=False),
                             rng.choice(diff_idx, k_diff, replace=False)]).astype(np.int64)
    if distances is not None:
        return chosen[np.argsort(np.asarray(distances)[chosen], kind="stable")]
    return np.sort(chosen)



class PairSlider(ThresholdView):
    """A threshold slider over a few example pairs, with ✓/✗ per pair and the accuracy on all pairs.

    pairs: :class:`course_utils.datasets.Pairs`; distances: ``(M,)`` (any units: pixels too);
    n: how many example pairs (half same, half different); indices: pick them yourself;
    threshold: start value (default: the median distance).
    Attributes: ``slider``, ``indices``, ``examples`` (current :func:`pair_verdicts`), ``stats``
    (current :func:`operating_point`), ``stats_html``, ``image``, ``widget``.
    """

    def __init__(self, pairs, distances, n: int = 8, indices=None, threshold: float | None = None,
                 seed: int = 0, title: str | None = None, static: bool | None = None):
        d, s = metrics.as_pairs(distances, pairs.same)
        check_pairs_match(pairs, len(d))
        self.pairs, self.distances, self.same = pairs, d, s
        self.title, self.static = title, static
        self.indices = (choose_pairs(s, n, seed, distances=d) if indices is None
                        else np.asarray(indices, dtype=np.int64))
        lo, hi, step = slider_range(d)
        start = float(np.median(d)) if threshold is None else float(threshold)
        self.slider = widgets.FloatSlider(
            value=on_grid(start, lo, hi, step), min=lo, max=hi, step=step, description="threshold",
            readout_format=".4g", continuous_update=True, layout=widgets.Layout(width="min(640px, 95%)"))
        self.stats_html = widgets.HTML()
        self.image = image_widget()
        self.widget = widgets.VBox([self.slider, self.stats_html, self.image])
        self._fig = Figure(figsize=(max(4.0, 1.35 * len(self.indices)), 3.5), layout="constrained")
        self._strip = PairStrip(self._fig, pairs, len(self.indices))
        self._fig.supxlabel(STRIP_LEGEND, fontsize=8)
        self.stats, self.examples = {}, []
        self._follow_slider()

    def _update(self, threshold: float):
        try:
            self.stats = operating_point(self.distances, self.same, threshold)
            self.examples = pair_verdicts(self.distances, self.same, threshold, self.indices)
            n_right = sum(v["correct"] for v in self.examples)
            self.stats_html.value = (
                f"<div style='font-family:sans-serif;font-size:14px'>"
                f"same person ⇔ distance ≤ <b>{as_short_number(threshold)}</b>: these {len(self.examples)} pairs "
                f"{n_right}/{len(self.examples)} right; all {self.stats['n_pairs']} pairs: accuracy "
                f"<b>{as_percent(self.stats['accuracy'])}</b></div>")
            self._strip.update(self.examples)
            head = f"{self.title}\n" if self.title else ""
            self._fig.suptitle(f"{head}threshold {as_short_number(threshold)}: accuracy on all {self.stats['n_pairs']} "
                               f"pairs {as_percent(self.stats['accuracy'])}", fontsize=10)
            set_png(self.image, figure_png(self._fig, freeze=True))
        except Exception as err:
            self.stats_html.value = error_html(err)

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        if not self.stats:
            return "PairSlider()"
        return f"PairSlider: threshold {as_short_number(self.threshold)}, accuracy {as_percent(self.stats['accuracy'])}"


def pair_slider(pairs, distances, **kwargs) -> PairSlider:
    """Build a :class:`PairSlider`, display it (in IPython/Jupyter) and return it."""
    return PairSlider(pairs, distances, **kwargs)._show_once()
