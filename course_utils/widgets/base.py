"""What every explorer view shares: one output holding the widget *and* a PNG fallback.

:class:`View` gives an explorer its display logic (``_repr_mimebundle_``: the live widget for
JupyterLab, the PNG of the current state for renderers without a widget manager, a one-line
``text/plain``) and ``show()``; :class:`ThresholdView` adds the threshold slider (the "pinned
slider" echo handling) and the maths of its grid (:func:`slider_range`, :func:`on_grid`,
:func:`grid_equivalent`). Number formatters for the read-outs are here too. PNG encoding is
:mod:`course_utils.widgets.png`, the strip of example pairs :mod:`course_utils.widgets.pairs`.
Nothing here computes a metric: that is :mod:`course_utils.metrics`.
"""
from __future__ import annotations

import base64
import html

import numpy as np
import ipywidgets as widgets

from course_utils import metrics
from course_utils.config import env_flag
from course_utils.plots import DIFF_COLOR

STATIC_ENV = "COURSE_STATIC_WIDGETS"
WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"


def static_mode(static) -> str:
    """``"both"`` (widget + PNG fallback), ``"static"`` (PNG only) or ``"live"`` (widget only)."""
    if static is None:
        flag = env_flag(STATIC_ENV)
        return "static" if flag else "both"
    return "static" if static else "live"


def execution_count():
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return None if shell is None else shell.execution_count
    except ImportError:
        return None


def as_percent(x: float) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def as_short_number(x: float) -> str:
    return f"{x:.4g}"

def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def error_html(err: Exception) -> str:
    return (f"<div style='color:{DIFF_COLOR}'><b>Could not update the view:</b> "
            f"{html.escape(f'{type(err).__name__}: {err}')}</div>")


class View:
    """Display logic shared by the explorers: one output = widget view + PNG fallback."""

    widget: widgets.Widget
    static = None
    _swallow_at = None        # the execution count of the cell whose automatic display is skipped

    def static_png(self) -> bytes:
        """PNG of the current state (what renderers without live widgets show)."""
        raise NotImplementedError

    def summary(self) -> str:
        return type(self).__name__

    def _mimebundle(self) -> dict:
        mode = static_mode(self.static)
        data = {"text/plain": self.summary()}
        if mode != "live":
            png = self.static_png()
            if png:
                data["image/png"] = base64.b64encode(png).decode("ascii")
        if mode != "static":
            data[WIDGET_VIEW_MIMETYPE] = self.widget._repr_mimebundle_()[WIDGET_VIEW_MIMETYPE]
        return data

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self._mimebundle()

    def _ipython_display_(self):
        count = execution_count()
        if self._swallow_at is not None and self._swallow_at == count:
            self._swallow_at = None               # the helper already showed it in this cell
            return
        from IPython.display import display
        display(self._mimebundle(), raw=True)

    def show(self):
        """Display the explorer (same as ``display(explorer)``)."""
        from IPython.display import display
        display(self)
        return self

    def _show_once(self):
        """Display now, and skip the automatic display of the same object at the end of the cell."""
        from IPython import get_ipython
        if get_ipython() is None:
            return self
        self.show()
        self._swallow_at = execution_count()
        return self

    def __repr__(self) -> str:
        return self.summary()


class ThresholdView(View):
    """A view driven by a threshold slider whose values may be pinned (see :meth:`_set_slider`).

    Subclasses set ``self.slider`` and ``_update(threshold)`` (which sets ``self.stats``), then
    call :meth:`_follow_slider` at the end of ``__init__``."""

    slider: widgets.FloatSlider
    stats: dict | None = None        # what the view shows now; "threshold" among it

    # -------------------------------------------------------------- slider values set from Python
    # The browser's slider snaps every value it is sent to its step grid and, with
    # continuous_update=True, sends the snapped value straight back. A value set from Python
    # (the start value, a button) would then be replaced by a slightly different one and the
    # figure drawn twice; worse, "FAR = 1%" could move past a distance and stop meaning
    # FAR <= 1%. So values set from Python are "pinned": the first change that arrives within
    # half a step of the pinned value is that echo and is absorbed (the exact value is kept).
    _pinned = None

    def _set_slider(self, value: float):
        self._pinned = None
        self.slider.value = float(np.clip(value, self.slider.min, self.slider.max))
        self._pinned = float(self.slider.value)

    def _absorb_echo(self, new: float) -> bool:
        pinned, self._pinned = self._pinned, None
        return pinned is not None and abs(new - pinned) <= 0.5 * self.slider.step * (1 + 1e-9)

    def _same_as_shown(self, new: float) -> bool:
        """True for a rounding-level change (the browser's float arithmetic): not worth a redraw."""
        shown = self.stats or {}
        return "threshold" in shown and abs(new - shown["threshold"]) <= 1e-9 * max(1.0, abs(new))

    def _follow_slider(self):
        """Draw the slider's start value, pin it, and redraw on every real change from then on."""
        self.slider.observe(self._on_change, names="value")
        self._update(self.slider.value)
        self._pinned = float(self.slider.value)

    @property
    def threshold(self) -> float:
        """The threshold the view shows now (the slider value, or the exact value a button set)."""
        return float(self.stats["threshold"])

    def _on_change(self, change):
        if not (self._absorb_echo(change["new"]) or self._same_as_shown(change["new"])):
            self._update(change["new"])


def slider_range(d: np.ndarray) -> tuple[float, float, float]:
    lo, hi = float(d.min()), float(d.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    lo, hi = max(0.0, lo - 0.05 * span), hi + 0.05 * span
    return lo, hi, (hi - lo) / 1000


def on_grid(value: float, lo: float, hi: float, step: float) -> float:
    """The point of the slider's grid ``lo + k·step`` nearest ``value`` (within [lo, hi])."""
    k = round((value - lo) / step)
    return float(min(max(lo + k * step, lo), hi))


def grid_equivalent(value: float, distances: np.ndarray, lo: float, hi: float, step: float) -> float:
    """A slider-grid point that makes exactly the same decisions as ``value`` (nearest one), or
    ``value`` itself when no grid point falls between the neighbouring distances."""
    below, above = distances[distances <= value], distances[distances > value]
    low = below.max() if len(below) else -np.inf         # thresholds in [low, high) decide alike
    high = above.min() if len(above) else np.inf
    k_min = int(np.ceil((max(low, lo) - lo) / step))
    k_max = int(np.floor((min(high, hi) - lo) / step))
    nearest = min(max(round((value - lo) / step), k_min), k_max)
    for k in (nearest, k_min, k_max, k_min + 1, k_max - 1):    # the others guard float rounding
        g = lo + k * step
        if low <= g < high and lo <= g <= hi:
            return float(g)
    return float(value)


def tune_pairs(tune, who: str) -> tuple[np.ndarray, np.ndarray]:
    """An explorer's ``tune=(distances, same)`` (validation pairs the jump buttons choose on),
    checked → ``(distances (M,), same (M,) bool)``; ``who`` names the widget in the errors."""
    if not (isinstance(tune, (tuple, list)) and len(tune) == 2):
        raise TypeError("tune must be a (distances, same) pair of arrays of validation pairs, "
                        f"got {type(tune).__name__}")
    tune_d, tune_s = metrics.as_pairs(*tune)
    metrics.require_both_classes(tune_s, f"{who}(tune=...)")
    return tune_d, tune_s


