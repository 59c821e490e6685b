"""Lesson 8: the threshold explorer (histograms, ROC operating point, rates, flipping pairs)."""
from __future__ import annotations

import html

import numpy as np
import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from course_utils import metrics
from course_utils.metrics import flipping_pairs, named_thresholds, operating_point, pair_verdicts
from course_utils.plots import SAME_COLOR, DIFF_COLOR, distance_histograms, roc_plot
from course_utils.widgets.base import (ThresholdView, as_percent, as_short_number, error_html, grid_equivalent,
                                       slider_range, tune_pairs)
from course_utils.widgets.pairs import STRIP_LEGEND, PairPanels, PairStrip, check_pairs_match
from course_utils.widgets.png import DPI, figure_png, image_widget, rgb_png, set_png

class ThresholdExplorer(ThresholdView):
    """Interactive threshold explorer for a verification set.

    distances: ``(M,)`` squared distances; same: ``(M,)`` bool (True = same person);
    pairs: optional :class:`course_utils.datasets.Pairs` for the example strip (the pairs
    nearest to τ); threshold: the starting τ (default: the EER threshold); far: the FAR of the
    "FAR = 1%" button; n_examples: how many pairs in the strip; log_far: log-scale FAR axis;
    tune: optional ``(distances, same)`` of *other* pairs (validation) on which the jump buttons
    choose τ — a toggle then switches the buttons between those pairs and the shown ones, so a
    student sees what choosing on the test pairs would have flattered.

    Attributes for code and tests: ``slider`` (FloatSlider), ``buttons`` (dict name → Button),
    ``named`` (dict name → threshold, on the pairs the buttons use now), ``tune_on``
    (ToggleButtons "validation" / "shown pairs", or None), ``stats`` (the current :func:`operating_point`),
    ``examples`` (current :func:`pair_verdicts` of the strip), ``stats_html`` (HTML widget),
    ``image`` (Image widget with the figure), ``widget`` (the whole VBox),
    ``figure()`` (a fresh matplotlib Figure of the current state).

    Redrawing: the figure is rendered once in full; after that a slider move redraws only what
    moves (the τ line, the shaded region, the two counts, the ROC dot and the title) over the
    saved picture of the rest (matplotlib "blitting"), and the example strip is assembled from
    pictures of each pair drawn once (:class:`PairPanels`). ``blit=False`` renders the whole
    figure on every move instead; ``benchmarks/widgets.py`` times both.
    """

    def __init__(self, distances, same, pairs=None, title: str | None = None, threshold: float | None = None,
                 far: float = 1e-2, n_examples: int = 6, log_far: bool = False, static: bool | None = None,
                 blit: bool = True, tune=None):
        d, s = metrics.as_pairs(distances, same)
        metrics.require_both_classes(s, "ThresholdExplorer")
        check_pairs_match(pairs, len(d))
        self.distances, self.same, self.pairs = d, s, pairs
        self.title, self.log_far, self.static, self.blit = title, log_far, static, bool(blit)
        self.n_examples = int(n_examples) if pairs is not None else 0
        self._named_on = {"shown pairs": named_thresholds(d, s, far)}
        if tune is not None:
            self._named_on = {"validation": named_thresholds(*tune_pairs(tune, "ThresholdExplorer"), far),
                              **self._named_on}
        self.chosen_on = next(iter(self._named_on))
        self._auc = metrics.roc_auc(d, s)

        lo, hi, step = slider_range(d)
        start = self.named["EER"] if threshold is None else float(threshold)
        start = grid_equivalent(float(np.clip(start, lo, hi)), d, lo, hi, step)
        self.slider = widgets.FloatSlider(
            value=start, min=lo, max=hi, step=step, description="threshold τ",
            readout_format=".4g", continuous_update=True,
            style={"description_width": "initial"}, layout=widgets.Layout(width="min(640px, 95%)"))
        self.buttons = {}
        for name in self.named:
            button = widgets.Button(description=name, layout=widgets.Layout(width="auto"))
            button.on_click(lambda _b, name=name: self.set_threshold(self.named[name]))
            self.buttons[name] = button
        self.tune_on = None
        jump = [widgets.Label("jump to:"), *self.buttons.values()]
        if len(self._named_on) > 1:
            self.tune_on = widgets.ToggleButtons(options=list(self._named_on), value="validation",
                                                 description="chosen on", style={"button_width": "auto"})
            self.tune_on.observe(lambda change: self._choose_on(change["new"]), names="value")
            jump.append(self.tune_on)
        self._name_targets()
        self.stats_html = widgets.HTML()
        self.image = image_widget()
        self.widget = widgets.VBox([self.slider, widgets.HBox(jump), self.stats_html, self.image])
        self._fig, self._artists = self._build_figure(animated=self.blit)
        self._background = None
        self._panels = PairPanels(self.pairs, self.n_examples) if self.blit and self.n_examples else None
        self.stats: dict = {}
        self.examples: list[dict] = []
        self._follow_slider()

    # ------------------------------------------------------------------ control
    @property
    def named(self) -> dict[str, float]:
        """``{button name: τ}`` on the pairs the buttons choose on now (``chosen_on``)."""
        return self._named_on[self.chosen_on]

    def _name_targets(self):
        for name, button in self.buttons.items():
            button.tooltip = f"move τ to {as_short_number(self.named[name])} (chosen on the {self.chosen_on})"

    def _choose_on(self, which: str):
        """The jump buttons choose τ on ``which`` pairs ("validation" or "shown pairs"); the ROC
        marks move with them, so the figure is drawn again."""
        self.chosen_on = which
        self._name_targets()
        self._fig, self._artists = self._build_figure(animated=self.blit)
        self._background = None
        self._update(self.slider.value)

    def set_threshold(self, threshold: float):
        """Move the slider to ``threshold`` (clipped to its range); the view follows.

        The slider is put on the nearest point of its step grid that makes exactly the same
        decisions (so the browser does not have to move it); if there is none, the exact value
        is kept and the browser's snapped echo is ignored.
        """
        s = self.slider
        t = float(np.clip(threshold, s.min, s.max))
        self._set_slider(grid_equivalent(t, self.distances, s.min, s.max, s.step))

    def _update(self, threshold: float):
        try:
            self.stats = operating_point(self.distances, self.same, threshold)
            if self.pairs is not None:
                idx = flipping_pairs(self.distances, self.same, threshold, self.n_examples)
                self.examples = pair_verdicts(self.distances, self.same, threshold, idx)
            self.stats_html.value = self._stats_html(self.stats)
            self._draw(self.stats)
            set_png(self.image, self._render_png())
        except Exception as err:                  # show it: callback errors are otherwise invisible
            self.stats_html.value = error_html(err)

    # ------------------------------------------------------------------ drawing
    def _render_png(self) -> bytes:
        if not self.blit:
            return figure_png(self._fig, freeze=True)
        fig, canvas, a = self._fig, self._fig.canvas, self._artists
        if self._background is None:
            canvas.draw()                               # everything but the moving artists; solves the layout
            fig.set_layout_engine("none")               # … once: later draws keep it
            self._background = canvas.copy_from_bbox(fig.bbox)
            if self._panels is not None:
                self._panels.place(fig, a["strip_title"])
        canvas.restore_region(self._background)
        for artist in a["moving"]:
            fig.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        if self._panels is not None:                    # the example strip: cached pictures of each pair
            rgb = self._panels.paste(rgb.copy(), self.examples)
        return rgb_png(rgb)

    def _build_figure(self, animated: bool = False):
        """The figure and its artists; ``animated=True`` marks the ones that move (drawn by hand)."""
        with_pairs = self.pairs is not None and self.n_examples > 0
        fig = Figure(figsize=(11, 6.6 if with_pairs else 3.9), layout="constrained", dpi=DPI)
        FigureCanvasAgg(fig)
        if with_pairs:
            top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 0.95])
        else:
            top, bottom = fig, None
        ax_hist, ax_roc = top.subplots(1, 2, width_ratios=[1.7, 1])
        d, s = self.distances, self.same
        distance_histograms(d, s, ax=ax_hist, bins=40)
        ax_hist.set_title("accepted as the same person: distance ≤ τ", fontsize=9)
        a = {"hist": ax_hist, "roc": ax_roc}
        ax_hist.set_xlim(self.slider.min, self.slider.max)
        a["span"] = ax_hist.axvspan(self.slider.min, self.slider.value, color=SAME_COLOR, alpha=0.08, zorder=0)
        a["line"] = ax_hist.axvline(self.slider.value, color="k", linestyle="--", linewidth=1.5, label="threshold τ")
        ax_hist.legend(fontsize=8, loc="upper right")
        trans = ax_hist.get_xaxis_transform()
        box = {"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "edgecolor": "none"}
        a["fa_text"] = ax_hist.text(0, 0.62, "", transform=trans, ha="right", va="center", fontsize=8,
                                    color=DIFF_COLOR, bbox=box)
        a["fr_text"] = ax_hist.text(0, 0.50, "", transform=trans, ha="left", va="center", fontsize=8,
                                    color=SAME_COLOR, bbox=box)

        roc_plot({"ROC": (d, s)}, ax=ax_roc, log_far=self.log_far)
        # Hollow marks of three sizes: two choices that land on one ROC point stay visible.
        for (name, t), marker, size in zip(self.named.items(), ("s", "^", "D"), (9, 7, 5)):
            p = operating_point(d, s, t)
            ax_roc.plot([p["far"]], [p["tar"]], marker=marker, color="dimgrey", markersize=size, linestyle="none",
                        fillstyle="none", markeredgewidth=1.2, label=name)
        a["point"], = ax_roc.plot([], [], "o", color="k", markersize=8, label="τ")
        ax_roc.legend(fontsize=7, loc="lower right")
        ax_roc.set_title("ROC: TAR against FAR" + ("\n(marks: τ chosen on the validation pairs)"
                                                    if self.chosen_on == "validation" else ""), fontsize=9)
        # Live (animated) views paste cached pictures of each pair into the strip's area (see
        # PairPanels); a figure for saving draws the strip with matplotlib axes.
        a["strip"] = PairStrip(bottom, self.pairs, self.n_examples) if with_pairs and not animated else None
        if with_pairs:
            a["strip_title"] = bottom.suptitle("pairs nearest to τ (their decision flips if τ moves a little)\n"
                                               + STRIP_LEGEND, fontsize=9)
        a["title"] = fig.suptitle(" ", fontsize=10)
        a["moving"] = [a["span"], a["line"], a["fa_text"], a["fr_text"], a["point"], a["title"]]
        for artist in a["moving"]:
            artist.set_animated(animated)
        return fig, a

    def _draw(self, p: dict):
        a, t = self._artists, p["threshold"]
        a["line"].set_xdata([t, t])
        a["span"].set_width(t - self.slider.min)
        a["fa_text"].set_x(t), a["fr_text"].set_x(t)
        a["fa_text"].set_text(f"{p['fp']} false accepts ← ")
        a["fr_text"].set_text(f" → {p['fn']} false rejects")
        a["point"].set_data([p["far"]], [p["tar"]])
        if a["strip"] is not None:
            a["strip"].update(self.examples)
        head = f"{self.title}\n" if self.title else ""
        a["title"].set_text(
            f"{head}τ = {as_short_number(t)}:  FAR {as_percent(p['far'])}   FRR {as_percent(p['frr'])}   TAR {as_percent(p['tar'])}   "
            f"accuracy {as_percent(p['accuracy'])}   (TP {p['tp']}, FP {p['fp']}, TN {p['tn']}, FN {p['fn']})",
        )

    def _stats_html(self, p: dict) -> str:
        cell = "padding:1px 8px;text-align:right"
        head = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        rates = (
            f"<table style='font-size:13px'>"
            f"<tr><td>FAR (false accept rate)</td><td style='{cell}'>{p['fp']} / {p['n_different']}</td>"
            f"<td style='{cell}'><b>{as_percent(p['far'])}</b></td></tr>"
            f"<tr><td>FRR (false reject rate)</td><td style='{cell}'>{p['fn']} / {p['n_same']}</td>"
            f"<td style='{cell}'><b>{as_percent(p['frr'])}</b></td></tr>"
            f"<tr><td>TAR (true accept rate)</td><td style='{cell}'>{p['tp']} / {p['n_same']}</td>"
            f"<td style='{cell}'><b>{as_percent(p['tar'])}</b></td></tr>"
            f"<tr><td>accuracy</td><td style='{cell}'>{p['tp'] + p['tn']} / {p['n_pairs']}</td>"
            f"<td style='{cell}'><b>{as_percent(p['accuracy'])}</b></td></tr></table>")
        td = "style='border:1px solid #ccc;padding:2px 10px;text-align:center'"
        confusion = (
            f"<table style='font-size:13px;border-collapse:collapse'>"
            f"<tr><td></td><td {td}>decided <i>same</i></td><td {td}>decided <i>different</i></td></tr>"
            f"<tr><td {td}>truly same</td><td {td}>TP <b>{p['tp']}</b></td><td {td}>FN <b>{p['fn']}</b></td></tr>"
            f"<tr><td {td}>truly different</td><td {td}>FP <b>{p['fp']}</b></td><td {td}>TN <b>{p['tn']}</b></td></tr>"
            f"</table>")
        return (f"<div style='font-family:sans-serif'>{head}τ = <b>{as_short_number(p['threshold'])}</b> "
                f"(AUC {self._auc:.3f})<div style='display:flex;gap:28px;align-items:flex-start'>"
                f"{rates}{confusion}</div></div>")

    # ------------------------------------------------------------------ output
    def figure(self) -> Figure:
        """A new matplotlib Figure of the current state (for saving or a static notebook)."""
        copy = ThresholdExplorer.__new__(ThresholdExplorer)
        copy.__dict__.update(self.__dict__)
        fig, copy._artists = copy._build_figure(animated=False)
        copy._fig = fig
        copy._draw(self.stats)
        return fig

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        p = self.stats
        if not p:
            return "ThresholdExplorer()"
        return (f"ThresholdExplorer: τ = {as_short_number(p['threshold'])}, FAR {as_percent(p['far'])}, FRR {as_percent(p['frr'])}, "
                f"TAR {as_percent(p['tar'])}, accuracy {as_percent(p['accuracy'])} "
                f"(TP {p['tp']}, FP {p['fp']}, TN {p['tn']}, FN {p['fn']})")


def threshold_explorer(distances, same, pairs=None, **kwargs) -> ThresholdExplorer:
    """Build a :class:`ThresholdExplorer`, display it (in IPython/Jupyter) and return it.

    Keyword arguments go to :class:`ThresholdExplorer` (``title``, ``threshold``, ``far``,
    ``n_examples``, ``log_far``, ``static``). Ending the cell with this call shows it once.
    """
    return ThresholdExplorer(distances, same, pairs=pairs, **kwargs)._show_once()
