"""What every explorer view shares: one output holding the widget *and* a PNG fallback.

:class:`View` gives an explorer its display logic (``_repr_mimebundle_``: the live widget for
JupyterLab, the PNG of the current state for renderers without a widget manager, a one-line
``text/plain``), the "pinned slider" echo handling, and ``show()``. The helpers below turn a
matplotlib ``Figure`` into PNG bytes for an ``ipywidgets.Image`` and format numbers for the
read-outs. :class:`PairStrip` draws a row of example pairs with matplotlib (the pair slider of
lesson 1, and the threshold explorer's figure for saving); :class:`PairPanels` assembles the same
row from cached Pillow pictures for the explorer's live view. Nothing here computes a metric:
that is :mod:`course_utils.metrics`.
"""
from __future__ import annotations

import base64
import html
import io
import struct
import zlib
from collections import OrderedDict

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils import metrics
from course_utils.config import env_flag
from course_utils.images import as_uint8_rgb
from course_utils.plots import DIFF_COLOR, SAME_COLOR, displayable

STATIC_ENV = "COURSE_STATIC_WIDGETS"
WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
OK_MARK, WRONG_MARK = "✓", "✗"
DPI = 90   # resolution of every explorer's PNG


def static_mode(static) -> str:
    """``"both"`` (widget + PNG fallback), ``"static"`` (PNG only) or ``"live"`` (widget only)."""
    if static is None:
        flag = env_flag(STATIC_ENV)
        return "static" if flag else "both"
    return "static" if static else "live"


def figure_png(fig: Figure, dpi: int = DPI, freeze: bool = False) -> bytes:
    """PNG bytes of ``fig``. ``freeze=True``: keep the current layout for later renders (the
    constrained-layout solve is a third of the cost of a redraw; the artists only move)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if freeze and fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    return buffer.getvalue()


def rgb_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3) uint8`` picture, encoded for speed (a slider move pays for it).

    Every row uses PNG's "Up" filter (the difference from the row above: zero wherever a plot
    is flat), then zlib at level 1. Pillow tries all five filters on every row, which took
    about twice as long for a figure of the threshold explorer at a similar size.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    rows = rgb.reshape(h, w * 3)
    raw = np.empty((h, w * 3 + 1), np.uint8)
    raw[:, 0] = 2                                   # filter type 2 = Up
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])   # uint8 arithmetic wraps mod 256, as PNG says

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)   # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + chunk(b"IEND", b""))


def image_widget() -> widgets.Image:
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))


def set_png(image: widgets.Image, png: bytes) -> None:
    """Show ``png`` at its own pixel width (never stretched; shrunk only if the page is narrower)."""
    image.value = png
    if png[:8] == b"\x89PNG\r\n\x1a\n":
        image.layout.width = f"{int.from_bytes(png[16:20], 'big')}px"


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
        if getattr(self, "_swallow_at", None) is not None and self._swallow_at == count:
            self._swallow_at = None               # the helper already showed it in this cell
            return
        from IPython.display import display
        display(self._mimebundle(), raw=True)

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
        shown = getattr(self, "stats", None) or {}
        return "threshold" in shown and abs(new - shown["threshold"]) <= 1e-9 * max(1.0, abs(new))

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
    """A view driven by a threshold slider whose values may be pinned (see :meth:`View._set_slider`).

    Subclasses set ``self.slider`` and ``_update(threshold)`` (which sets ``self.stats``), then
    call :meth:`_follow_slider` at the end of ``__init__``."""

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


class PairStrip:
    """Two rows of axes (first and second face of each pair), one column per pair."""

    def __init__(self, container, pairs, n: int):
        self.pairs = pairs
        self.n = max(1, int(n))
        self.axes = container.subplots(2, self.n, squeeze=False)
        h, w = pairs.faces.images.shape[1:3]
        blank = np.ones((h, w, 3))
        self.artists = np.empty((2, self.n), dtype=object)
        for r in range(2):
            for c in range(self.n):
                ax = self.axes[r, c]
                ax.set_xticks([]), ax.set_yticks([])
                self.artists[r, c] = ax.imshow(blank)

    def update(self, verdicts: list[dict]):
        for c in range(self.n):
            top, bottom = self.axes[0, c], self.axes[1, c]
            if c >= len(verdicts):
                for ax in (top, bottom):
                    ax.set_visible(False)
                continue
            v = verdicts[c]
            for r, img in enumerate(self.pairs.image_pair(v["index"])):
                ax = self.axes[r, c]
                ax.set_visible(True)
                self.artists[r, c].set_data(displayable(img))
                for spine in ax.spines.values():
                    spine.set_color(SAME_COLOR if v["correct"] else DIFF_COLOR)
                    spine.set_linewidth(3)
            truth = "same" if v["same"] else "different"
            decided = "same" if v["accepted"] else "different"
            mark = OK_MARK if v["correct"] else f"{WRONG_MARK} wrong"
            top.set_title(f"{truth}\nd = {as_short_number(v['distance'])}", fontsize=8,
                          color=SAME_COLOR if v["same"] else DIFF_COLOR)
            bottom.set_xlabel(f"→ {decided} {mark}", fontsize=8,
                              color=SAME_COLOR if v["correct"] else DIFF_COLOR)


class PairPanels:
    """The example strip of a live view, assembled from a small picture of each pair.

    A slider drag brings new pairs into the strip on almost every move, and drawing 2 × n
    matplotlib axes was most of a move's time. Here each pair's picture (truth and distance
    above, the two faces framed in the verdict's colour, the decision below; the same content
    as :class:`PairStrip`, in matplotlib's font) is put together with Pillow in well under a
    millisecond and kept, keyed by the pair and its decision; :meth:`paste` puts the pictures
    side by side into the strip's area of the main picture.
    """

    def __init__(self, pairs, n: int, dpi: int = DPI, fontsize: float = 8):
        self.pairs, self.n = pairs, max(1, int(n))
        self.cache: OrderedDict[tuple[int, bool], np.ndarray] = OrderedDict()   # the latest pictures
        self.cache_size = 8 * self.n
        self.box = None             # (top row, left column, height, pitch) in the main picture
        from matplotlib import font_manager
        from PIL import ImageFont
        self.font = ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans")),
                                       round(fontsize * dpi / 72))

    def place(self, fig: Figure, title) -> None:
        """Find the strip's area: under ``title`` (the strip's heading), across ``fig`` (laid out)."""
        height, width = int(fig.bbox.height), int(fig.bbox.width)
        top = height - int(title.get_window_extent(fig.canvas.get_renderer()).y0) + 2   # rows from the top
        pitch = width // self.n
        self.box = (top, (width - pitch * self.n) // 2, height - top, pitch)

    def picture(self, verdict: dict) -> np.ndarray:
        """``(height, pitch, 3) uint8`` picture of one pair (made on first use, kept while recent)."""
        key = (int(verdict["index"]), bool(verdict["accepted"]))
        if key in self.cache:
            self.cache.move_to_end(key)
        else:
            self.cache[key] = self._draw(verdict)
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return self.cache[key]

    @property
    def _line(self) -> int:
        """Pixels from one line of text to the next."""
        return self.font.size + 3

    def face_boxes(self) -> list[tuple[int, int, int]]:
        """``(top, left, side)`` of the two faces in a pair's picture, in pixels."""
        _, _, h, pitch = self.box
        side = max(8, min(pitch - 16, (h - 3 * self._line - 12) // 2))
        return [(2 + 2 * self._line + 2 + k * (side + 6), (pitch - side) // 2, side) for k in range(2)]

    def _draw(self, v: dict) -> np.ndarray:
        from PIL import Image, ImageDraw
        _, _, h, pitch = self.box
        truth_color = SAME_COLOR if v["same"] else DIFF_COLOR
        verdict_color = SAME_COLOR if v["correct"] else DIFF_COLOR
        mark = OK_MARK if v["correct"] else f"{WRONG_MARK} wrong"
        panel = Image.new("RGB", (pitch, h), "white")
        draw = ImageDraw.Draw(panel)
        for k, text in enumerate(("same" if v["same"] else "different", f"d = {as_short_number(v['distance'])}")):
            draw.text((pitch / 2, 2 + k * self._line), text, fill=truth_color, font=self.font, anchor="mt")
        boxes = self.face_boxes()
        for (top, left, side), img in zip(boxes, self.pairs.image_pair(v["index"])):
            face = Image.fromarray(as_uint8_rgb(img)).convert("RGB")
            panel.paste(face.resize((side, side), Image.BICUBIC), (left, top))
            draw.rectangle((left - 3, top - 3, left + side + 2, top + side + 2), outline=verdict_color, width=3)
        top, _, side = boxes[-1]
        decided = "same" if v["accepted"] else "different"
        draw.text((pitch / 2, top + side + 6), f"→ {decided} {mark}", fill=verdict_color, font=self.font,
                  anchor="mt")
        return np.asarray(panel)

    def paste(self, rgb: np.ndarray, verdicts: list[dict]) -> np.ndarray:
        """``rgb`` (the main picture, ``(H, W, 3) uint8``) with the strip of ``verdicts`` pasted in."""
        top, left, h, pitch = self.box
        rgb[top:top + h] = 255
        for c, v in enumerate(verdicts[:self.n]):
            rgb[top:top + h, left + c * pitch:left + (c + 1) * pitch] = self.picture(v)
        return rgb


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


def check_pairs_match(pairs, n: int):
    if pairs is None:
        return
    if len(pairs) != n:
        raise ValueError(f"pairs has {len(pairs)} pairs but there are {n} distances; pass the Pairs the "
                         "distances were computed for (distances = pairs.distances(embeddings)).")
