"""Interactive explorers for the lessons (ipywidgets 8 + matplotlib; no ``ipympl`` needed).

* :class:`ThresholdExplorer` / :func:`threshold_explorer` (lesson 8): move the threshold α
  and watch the distance histograms, the ROC operating point, FAR / FRR / TAR / accuracy, the
  confusion counts and the pairs whose decision flips near α.
* :class:`PairSlider` / :func:`pair_slider` (lesson 1): a few pairs, a threshold and the accuracy.
* :class:`ClusterExplorer` (lesson 10): cluster faces at a threshold, one row of thumbnails
  per cluster, and the clustering scores when the true identities are known.
* :class:`EnrolWidget` (lesson 9): upload photos, enrol them under a name or ask "who is it?".

Each explorer is two layers:

* **pure functions** (no widgets, no matplotlib): :func:`operating_point`,
  :func:`named_thresholds`, :func:`flipping_pairs`, :func:`pair_verdicts`, :func:`choose_pairs`,
  :func:`clusters_at`, :func:`cluster_rows`, :func:`decode_upload`. The tests check these
  against scikit-learn and plain NumPy;
* a **view**: ipywidgets controls whose callbacks call the pure functions, draw a matplotlib
  ``Figure`` (created without pyplot, so the inline backend never shows a stray copy), turn it
  into PNG bytes and put them in an ``ipywidgets.Image``. Updating an ``Image`` widget's value
  is synchronous, needs no output capture (so it also works in callbacks, threads and tests),
  and never flickers.

Static fallback (exported HTML, nbclient/nbval runs, the course website)
-----------------------------------------------------------------------
Displaying an explorer (``display(explorer)``, the last line of a cell, or the helper
functions) emits **one** output whose MIME bundle holds *both* the widget view and a PNG of the
current (initial) state, plus a one-line ``text/plain`` summary:

* JupyterLab with a live kernel ranks the widget view first → the interactive widget;
* a renderer without the widget manager (nbconvert without saved widget state, GitHub, most
  static site builders, an untrusted notebook) falls back to the PNG → the figure still shows;
* the live view never shows the figure twice.

``static=`` on every explorer: ``None`` (default, the bundle above), ``True`` (the PNG only, no
widget — e.g. for a website build) or ``False`` (the widget only). Setting the environment
variable ``COURSE_STATIC_WIDGETS=1`` turns ``None`` into ``True`` everywhere (useful when the
exported page is viewed offline: a saved widget *state* needs the widget JavaScript from a CDN).

Threshold convention as in :mod:`course_utils.metrics`: distances are squared Euclidean
distances and a pair is declared "same person" when ``distance <= threshold``.
"""
from __future__ import annotations

import base64
import html
import io
import os
from collections import OrderedDict
from typing import Callable

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils import clustering, metrics
from course_utils.plots import DIFF_COLOR, SAME_COLOR, distance_histograms, roc_plot

__all__ = [
    # pure computation
    "operating_point", "named_thresholds", "flipping_pairs", "pair_verdicts", "choose_pairs",
    "clusters_at", "cluster_rows", "decode_upload", "DecodedUploads",
    # views
    "ThresholdExplorer", "threshold_explorer", "PairSlider", "pair_slider", "ClusterExplorer",
    "cluster_explorer", "EnrolWidget", "enrol_widget",
]

STATIC_ENV = "COURSE_STATIC_WIDGETS"
WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
OK_MARK, WRONG_MARK = "✓", "✗"
_DPI = 90


# ==============================================================================================
# Pure computation: verification at a threshold
# ==============================================================================================

def operating_point(distances, same, threshold: float) -> dict:
    """Everything about one threshold: counts and rates when ``distance <= threshold`` is accepted.

    Returns a dict with ``threshold``, ``tp, fp, tn, fn`` (int), ``far, frr, tar, accuracy,
    precision`` (float; NaN when undefined, e.g. ``far`` with no different-person pairs) and
    ``n_pairs, n_same, n_different``. The counts and rates come from ``metrics.confusion_at``.
    """
    point = metrics.confusion_at(distances, same, threshold)
    point["threshold"] = float(threshold)
    point["n_same"] = point["tp"] + point["fn"]
    point["n_different"] = point["fp"] + point["tn"]
    point["n_pairs"] = point["n_same"] + point["n_different"]
    return point


def _far_name(far: float) -> str:
    return f"FAR = {far * 100:g}%"


def named_thresholds(distances, same, far: float = 1e-2) -> dict:
    """The thresholds worth a button: ``{"EER": …, "FAR = 1%": …, "best accuracy": …}``.

    * ``"EER"``: where FAR = FRR (``metrics.equal_error_rate``, interpolated);
    * ``"FAR = 1%"`` (the key follows ``far``): the largest threshold with FAR <= ``far``
      (``metrics.threshold_for_far``; ``-inf`` if no threshold achieves it);
    * ``"best accuracy"``: the most accurate threshold on these pairs (``metrics.best_threshold``).

    Needs both same-person and different-person pairs.
    """
    d, s = metrics._as_pairs(distances, same)
    metrics._require_both_classes(s, "named_thresholds")
    _, eer_threshold = metrics.equal_error_rate(d, s)
    return {
        "EER": float(eer_threshold),
        _far_name(far): float(metrics.threshold_for_far(d, s, far)),
        "best accuracy": float(metrics.best_threshold(d, s)[0]),
    }


def flipping_pairs(distances, same, threshold: float, n: int = 6) -> np.ndarray:
    """The ``n`` pairs nearest to the threshold: those whose decision flips if α moves a little.

    Half (``n // 2``) are the accepted pairs just below or at α (the largest distances
    ``<= threshold``), the rest the rejected pairs just above it (the smallest distances
    ``> threshold``); if one side runs short, the other side fills in. Returns int64 indices
    sorted by distance (left to right = the order along the distance axis). Use
    :func:`pair_verdicts` to see which are currently wrong.
    """
    d, s = metrics._as_pairs(distances, same)
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}.")
    threshold = float(threshold)
    below = np.flatnonzero(d <= threshold)
    above = np.flatnonzero(d > threshold)
    below = below[np.argsort(-d[below], kind="stable")]      # closest to α first
    above = above[np.argsort(d[above], kind="stable")]
    k_below = min(len(below), n // 2)
    k_above = min(len(above), n - k_below)
    k_below = min(len(below), n - k_above)
    chosen = np.concatenate([below[:k_below], above[:k_above]]).astype(np.int64)
    return chosen[np.argsort(d[chosen], kind="stable")]


def pair_verdicts(distances, same, threshold: float, indices) -> list[dict]:
    """What the threshold decides for each pair in ``indices``.

    Returns one dict per pair: ``index, distance, same`` (the truth), ``accepted``
    (``distance <= threshold``), ``correct`` (``accepted == same``) and ``wrong``.
    """
    d, s = metrics._as_pairs(distances, same)
    out = []
    for m in np.asarray(indices, dtype=np.int64).tolist():
        accepted = bool(d[m] <= threshold)
        out.append({"index": int(m), "distance": float(d[m]), "same": bool(s[m]), "accepted": accepted,
                    "correct": accepted == bool(s[m]), "wrong": accepted != bool(s[m])})
    return out


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


# ==============================================================================================
# Pure computation: clustering at a threshold
# ==============================================================================================

def clusters_at(embeddings, threshold: float, linkage: str = "average", method: str = "agglomerative") -> np.ndarray:
    """Cluster labels at ``threshold`` (``clustering.cluster_embeddings``; ``<=`` joins)."""
    return clustering.cluster_embeddings(embeddings, threshold, linkage=linkage, method=method)


def cluster_rows(labels, max_rows: int = 8, max_per_row: int = 10, min_size: int = 1) -> list[list[int]]:
    """Which faces to show: one row per cluster, biggest cluster first (ties: smaller cluster id).

    Each row lists up to ``max_per_row`` face indices of one cluster, in index order. At most
    ``max_rows`` rows; clusters smaller than ``min_size`` are left out. Plain ints.
    """
    labels = np.asarray(labels)
    rows = []
    for cluster_id, size in clustering.cluster_sizes(labels):
        if len(rows) >= max_rows or size < min_size:
            break
        rows.append(np.flatnonzero(labels == cluster_id)[:max_per_row].tolist())
    return rows


# ==============================================================================================
# Pure computation: uploads
# ==============================================================================================

class DecodedUploads(list):
    """A list of ``(filename, image (H, W, 3) uint8)`` plus ``errors``: one friendly message
    per upload that could not be read (those files are left out of the list)."""

    def __init__(self, items=(), errors=()):
        super().__init__(items)
        self.errors: list[str] = list(errors)


def _upload_entries(value) -> list[tuple[str, object]]:
    """ipywidgets 8 (tuple of dicts), ipywidgets 7 (dict name → {metadata, content}), one dict,
    or raw bytes → ``[(name, content), …]``."""
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [("upload", value)]
    if isinstance(value, dict):
        if "content" in value:                     # one ipywidgets 8 entry
            value = [value]
        else:                                      # ipywidgets 7: {filename: {"metadata":…, "content":…}}
            value = [{"name": name, **(entry if isinstance(entry, dict) else {"content": entry})}
                     for name, entry in value.items()]
    entries = []
    for k, entry in enumerate(value):
        if isinstance(entry, (bytes, bytearray, memoryview)):
            entries.append((f"upload {k + 1}", entry))
        elif isinstance(entry, dict):
            name = entry.get("name") or entry.get("metadata", {}).get("name") or f"upload {k + 1}"
            entries.append((str(name), entry.get("content")))
        else:
            entries.append((f"upload {k + 1}", entry))
    return entries


def _decode_image_bytes(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)                                # animated GIF/WebP: the first frame
        im = ImageOps.exif_transpose(im)          # phone photos: honour the EXIF rotation
        return np.array(im.convert("RGB"), dtype=np.uint8)


def decode_upload(value) -> DecodedUploads:
    """Decode the ``value`` of an ``ipywidgets.FileUpload`` into images.

    value: ipywidgets 8's tuple of dicts (``name``, ``type``, ``size``, ``content`` as
    memoryview/bytes), ipywidgets 7's dict, one such dict, or raw bytes.
    Returns a :class:`DecodedUploads`: a list of ``(filename, (H, W, 3) uint8 RGB)`` for the
    files Pillow could read, and ``.errors`` with a friendly message for each file it could
    not (nothing is raised for a bad file).
    """
    decoded = DecodedUploads()
    for name, content in _upload_entries(value):
        try:
            data = bytes(content) if content is not None else b""
        except (TypeError, ValueError):
            data = b""
        if not data:
            decoded.errors.append(f"“{name}” is empty (0 bytes): upload the photo again.")
            continue
        try:
            decoded.append((name, _decode_image_bytes(data)))
        except Exception as err:                  # noqa: BLE001 — any decoding failure is the file's fault
            from PIL import UnidentifiedImageError
            if isinstance(err, UnidentifiedImageError):
                why = "is not an image file that Pillow can read"
            else:
                why = f"could not be decoded ({type(err).__name__}: {err})"
            decoded.errors.append(f"“{name}” {why}: upload a photo (JPEG, PNG, WebP, …).")
    return decoded


# ==============================================================================================
# Shared view machinery
# ==============================================================================================

def _static_mode(static) -> str:
    """``"both"`` (widget + PNG fallback), ``"static"`` (PNG only) or ``"live"`` (widget only)."""
    if static is None:
        flag = os.environ.get(STATIC_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
        return "static" if flag else "both"
    return "static" if static else "live"


def _figure_png(fig: Figure, dpi: int = _DPI, freeze: bool = False) -> bytes:
    """PNG bytes of ``fig``. ``freeze=True``: keep the current layout for later renders (the
    constrained-layout solve is a third of the cost of a redraw; the artists only move)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if freeze and fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    return buffer.getvalue()


def _image_widget() -> widgets.Image:
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))


def _set_png(image: widgets.Image, png: bytes) -> None:
    """Show ``png`` at its own pixel width (never stretched; shrunk only if the page is narrower)."""
    image.value = png
    if png[:8] == b"\x89PNG\r\n\x1a\n":
        image.layout.width = f"{int.from_bytes(png[16:20], 'big')}px"


def _execution_count():
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return None if shell is None else shell.execution_count
    except ImportError:
        return None


def _pct(x: float) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _displayable(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img / 255.0 if img.size and img.max() > 1.0 else img, 0, 1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _error_html(err: Exception) -> str:
    return (f"<div style='color:{DIFF_COLOR}'><b>Could not update the view:</b> "
            f"{html.escape(f'{type(err).__name__}: {err}')}</div>")


class _View:
    """Display logic shared by the explorers: one output = widget view + PNG fallback."""

    widget: widgets.Widget
    static = None

    def static_png(self) -> bytes:
        """PNG of the current state (what renderers without live widgets show)."""
        raise NotImplementedError

    def summary(self) -> str:
        return type(self).__name__

    def _mimebundle(self) -> dict:
        mode = _static_mode(self.static)
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
        count = _execution_count()
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
        self._swallow_at = _execution_count()
        return self

    def __repr__(self) -> str:
        return self.summary()


class _PairStrip:
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
                self.artists[r, c].set_data(_displayable(img))
                for spine in ax.spines.values():
                    spine.set_color(SAME_COLOR if v["correct"] else DIFF_COLOR)
                    spine.set_linewidth(3)
            truth = "same" if v["same"] else "different"
            decided = "same" if v["accepted"] else "different"
            mark = OK_MARK if v["correct"] else f"{WRONG_MARK} wrong"
            top.set_title(f"{truth}\nd = {_fmt(v['distance'])}", fontsize=8,
                          color=SAME_COLOR if v["same"] else DIFF_COLOR)
            bottom.set_xlabel(f"→ {decided} {mark}", fontsize=8,
                              color=SAME_COLOR if v["correct"] else DIFF_COLOR)


def _slider_range(d: np.ndarray) -> tuple[float, float, float]:
    lo, hi = float(d.min()), float(d.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    lo, hi = max(0.0, lo - 0.05 * span), hi + 0.05 * span
    return lo, hi, (hi - lo) / 1000


def _on_grid(value: float, lo: float, hi: float, step: float) -> float:
    """The point of the slider's grid ``lo + k·step`` nearest ``value`` (within [lo, hi])."""
    k = round((value - lo) / step)
    return float(min(max(lo + k * step, lo), hi))


def _grid_equivalent(value: float, distances: np.ndarray, lo: float, hi: float, step: float) -> float:
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


def _check_pairs_match(pairs, n: int):
    if pairs is None:
        return
    if len(pairs) != n:
        raise ValueError(f"pairs has {len(pairs)} pairs but there are {n} distances; pass the Pairs the "
                         "distances were computed for (distances = pairs.distances(embeddings)).")


# ==============================================================================================
# Lesson 8: the threshold explorer
# ==============================================================================================

class ThresholdExplorer(_View):
    """Interactive threshold explorer for a verification set.

    distances: ``(M,)`` squared distances; same: ``(M,)`` bool (True = same person);
    pairs: optional :class:`course_utils.datasets.Pairs` for the example strip (the pairs
    nearest to α); threshold: the starting α (default: the EER threshold); far: the FAR of the
    "FAR = 1%" button; n_examples: how many pairs in the strip; log_far: log-scale FAR axis.

    Attributes for code and tests: ``slider`` (FloatSlider), ``buttons`` (dict name → Button),
    ``named`` (dict name → threshold), ``stats`` (the current :func:`operating_point`),
    ``examples`` (current :func:`pair_verdicts` of the strip), ``stats_html`` (HTML widget),
    ``image`` (Image widget with the figure), ``widget`` (the whole VBox),
    ``figure()`` (a fresh matplotlib Figure of the current state).
    """

    def __init__(self, distances, same, pairs=None, title: str | None = None, threshold: float | None = None,
                 far: float = 1e-2, n_examples: int = 6, log_far: bool = False, static: bool | None = None):
        d, s = metrics._as_pairs(distances, same)
        metrics._require_both_classes(s, "ThresholdExplorer")
        _check_pairs_match(pairs, len(d))
        self.distances, self.same, self.pairs = d, s, pairs
        self.title, self.log_far, self.static = title, log_far, static
        self.n_examples = int(n_examples) if pairs is not None else 0
        self.named = named_thresholds(d, s, far)
        self._auc = metrics.roc_auc(d, s)

        lo, hi, step = _slider_range(d)
        start = self.named["EER"] if threshold is None else float(threshold)
        start = _grid_equivalent(float(np.clip(start, lo, hi)), d, lo, hi, step)
        self.slider = widgets.FloatSlider(
            value=start, min=lo, max=hi, step=step, description="threshold α",
            readout_format=".4g", continuous_update=True,
            style={"description_width": "initial"}, layout=widgets.Layout(width="min(640px, 95%)"))
        self.buttons = {}
        for name, t in self.named.items():
            button = widgets.Button(description=name, tooltip=f"move α to {_fmt(t)}",
                                    layout=widgets.Layout(width="auto"))
            button.on_click(lambda _b, t=t: self.set_threshold(t))
            self.buttons[name] = button
        self.stats_html = widgets.HTML()
        self.image = _image_widget()
        self.widget = widgets.VBox([
            self.slider,
            widgets.HBox([widgets.Label("jump to:")] + list(self.buttons.values())),
            self.stats_html, self.image,
        ])
        self._fig, self._artists = self._build_figure()
        self.stats: dict = {}
        self.examples: list[dict] = []
        self.slider.observe(self._on_change, names="value")
        self._update(self.slider.value)
        self._pinned = float(self.slider.value)

    # ------------------------------------------------------------------ control
    @property
    def threshold(self) -> float:
        """The threshold the view shows now (the slider value, or the exact value a button set)."""
        return float(self.stats["threshold"])

    def set_threshold(self, threshold: float):
        """Move the slider to ``threshold`` (clipped to its range); the view follows.

        The slider is put on the nearest point of its step grid that makes exactly the same
        decisions (so the browser does not have to move it); if there is none, the exact value
        is kept and the browser's snapped echo is ignored.
        """
        s = self.slider
        t = float(np.clip(threshold, s.min, s.max))
        self._set_slider(_grid_equivalent(t, self.distances, s.min, s.max, s.step))

    def _on_change(self, change):
        if self._absorb_echo(change["new"]) or self._same_as_shown(change["new"]):
            return
        self._update(change["new"])

    def _update(self, threshold: float):
        try:
            self.stats = operating_point(self.distances, self.same, threshold)
            if self.pairs is not None:
                idx = flipping_pairs(self.distances, self.same, threshold, self.n_examples)
                self.examples = pair_verdicts(self.distances, self.same, threshold, idx)
            self.stats_html.value = self._stats_html(self.stats)
            self._draw(self.stats)
            _set_png(self.image, _figure_png(self._fig, freeze=True))
        except Exception as err:                  # show it: callback errors are otherwise invisible
            self.stats_html.value = _error_html(err)

    # ------------------------------------------------------------------ drawing
    def _build_figure(self):
        with_pairs = self.pairs is not None and self.n_examples > 0
        fig = Figure(figsize=(11, 6.6 if with_pairs else 3.9), layout="constrained")
        if with_pairs:
            top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 0.95])
        else:
            top, bottom = fig, None
        ax_hist, ax_roc = top.subplots(1, 2, width_ratios=[1.7, 1])
        d, s = self.distances, self.same
        distance_histograms(d, s, ax=ax_hist, bins=40)
        ax_hist.set_title("accepted as the same person: distance ≤ α", fontsize=9)
        a = {"hist": ax_hist, "roc": ax_roc, "span": None}
        ax_hist.set_xlim(self.slider.min, self.slider.max)
        a["line"] = ax_hist.axvline(self.slider.value, color="k", linestyle="--", linewidth=1.5, label="threshold α")
        ax_hist.legend(fontsize=8, loc="upper right")
        trans = ax_hist.get_xaxis_transform()
        box = {"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "edgecolor": "none"}
        a["fa_text"] = ax_hist.text(0, 0.62, "", transform=trans, ha="right", va="center", fontsize=8,
                                    color=DIFF_COLOR, bbox=box)
        a["fr_text"] = ax_hist.text(0, 0.50, "", transform=trans, ha="left", va="center", fontsize=8,
                                    color=SAME_COLOR, bbox=box)

        roc_plot({"ROC": (d, s)}, ax=ax_roc, log_far=self.log_far)
        for (name, t), marker in zip(self.named.items(), ("s", "^", "D")):
            p = operating_point(d, s, t)
            ax_roc.plot([p["far"]], [p["tar"]], marker=marker, color="grey", markersize=5, linestyle="none",
                        label=name)
        a["point"], = ax_roc.plot([], [], "o", color="k", markersize=8, label="α")
        ax_roc.legend(fontsize=7, loc="lower right")
        ax_roc.set_title("ROC: TAR against FAR", fontsize=9)
        a["strip"] = _PairStrip(bottom, self.pairs, self.n_examples) if with_pairs else None
        if with_pairs:
            bottom.suptitle("pairs nearest to α (their decision flips if α moves a little)", fontsize=9)
        return fig, a

    def _draw(self, p: dict):
        a, t = self._artists, p["threshold"]
        a["line"].set_xdata([t, t])
        if a["span"] is not None:
            a["span"].remove()
        a["span"] = a["hist"].axvspan(self.slider.min, t, color=SAME_COLOR, alpha=0.08, zorder=0)
        a["hist"].set_xlim(self.slider.min, self.slider.max)
        a["fa_text"].set_x(t), a["fr_text"].set_x(t)
        a["fa_text"].set_text(f"{p['fp']} false accepts ← ")
        a["fr_text"].set_text(f" → {p['fn']} false rejects")
        a["point"].set_data([p["far"]], [p["tar"]])
        if a["strip"] is not None:
            a["strip"].update(self.examples)
        head = f"{self.title}\n" if self.title else ""
        self._fig.suptitle(
            f"{head}α = {_fmt(t)}:  FAR {_pct(p['far'])}   FRR {_pct(p['frr'])}   TAR {_pct(p['tar'])}   "
            f"accuracy {_pct(p['accuracy'])}   (TP {p['tp']}, FP {p['fp']}, TN {p['tn']}, FN {p['fn']})",
            fontsize=10)

    def _stats_html(self, p: dict) -> str:
        cell = "padding:1px 8px;text-align:right"
        head = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        rates = (
            f"<table style='font-size:13px'>"
            f"<tr><td>FAR (false accept rate)</td><td style='{cell}'>{p['fp']} / {p['n_different']}</td>"
            f"<td style='{cell}'><b>{_pct(p['far'])}</b></td></tr>"
            f"<tr><td>FRR (false reject rate)</td><td style='{cell}'>{p['fn']} / {p['n_same']}</td>"
            f"<td style='{cell}'><b>{_pct(p['frr'])}</b></td></tr>"
            f"<tr><td>TAR (true accept rate)</td><td style='{cell}'>{p['tp']} / {p['n_same']}</td>"
            f"<td style='{cell}'><b>{_pct(p['tar'])}</b></td></tr>"
            f"<tr><td>accuracy</td><td style='{cell}'>{p['tp'] + p['tn']} / {p['n_pairs']}</td>"
            f"<td style='{cell}'><b>{_pct(p['accuracy'])}</b></td></tr></table>")
        td = "style='border:1px solid #ccc;padding:2px 10px;text-align:center'"
        confusion = (
            f"<table style='font-size:13px;border-collapse:collapse'>"
            f"<tr><td></td><td {td}>decided <i>same</i></td><td {td}>decided <i>different</i></td></tr>"
            f"<tr><td {td}>truly same</td><td {td}>TP <b>{p['tp']}</b></td><td {td}>FN <b>{p['fn']}</b></td></tr>"
            f"<tr><td {td}>truly different</td><td {td}>FP <b>{p['fp']}</b></td><td {td}>TN <b>{p['tn']}</b></td></tr>"
            f"</table>")
        return (f"<div style='font-family:sans-serif'>{head}α = <b>{_fmt(p['threshold'])}</b> "
                f"(AUC {self._auc:.3f})<div style='display:flex;gap:28px;align-items:flex-start'>"
                f"{rates}{confusion}</div></div>")

    # ------------------------------------------------------------------ output
    def figure(self) -> Figure:
        """A new matplotlib Figure of the current state (for saving or a static notebook)."""
        copy = ThresholdExplorer.__new__(ThresholdExplorer)
        copy.__dict__.update(self.__dict__)
        fig, copy._artists = copy._build_figure()
        copy._fig = fig
        copy._draw(self.stats)
        return fig

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        p = self.stats
        if not p:
            return "ThresholdExplorer()"
        return (f"ThresholdExplorer: α = {_fmt(p['threshold'])}, FAR {_pct(p['far'])}, FRR {_pct(p['frr'])}, "
                f"TAR {_pct(p['tar'])}, accuracy {_pct(p['accuracy'])} "
                f"(TP {p['tp']}, FP {p['fp']}, TN {p['tn']}, FN {p['fn']})")


def threshold_explorer(distances, same, pairs=None, **kwargs) -> ThresholdExplorer:
    """Build a :class:`ThresholdExplorer`, display it (in IPython/Jupyter) and return it.

    Keyword arguments go to :class:`ThresholdExplorer` (``title``, ``threshold``, ``far``,
    ``n_examples``, ``log_far``, ``static``). Ending the cell with this call shows it once.
    """
    return ThresholdExplorer(distances, same, pairs=pairs, **kwargs)._show_once()


# ==============================================================================================
# Lesson 1: the pixel-distance slider
# ==============================================================================================

class PairSlider(_View):
    """A threshold slider over a few example pairs, with ✓/✗ per pair and the accuracy on all pairs.

    pairs: :class:`course_utils.datasets.Pairs`; distances: ``(M,)`` (any units: pixels too);
    n: how many example pairs (half same, half different); indices: pick them yourself;
    threshold: start value (default: the median distance).
    Attributes: ``slider``, ``indices``, ``examples`` (current :func:`pair_verdicts`), ``stats``
    (current :func:`operating_point`), ``stats_html``, ``image``, ``widget``.
    """

    def __init__(self, pairs, distances, n: int = 8, indices=None, threshold: float | None = None,
                 seed: int = 0, title: str | None = None, static: bool | None = None):
        d, s = metrics._as_pairs(distances, pairs.same)
        _check_pairs_match(pairs, len(d))
        self.pairs, self.distances, self.same = pairs, d, s
        self.title, self.static = title, static
        self.indices = (choose_pairs(s, n, seed, distances=d) if indices is None
                        else np.asarray(indices, dtype=np.int64))
        lo, hi, step = _slider_range(d)
        start = float(np.median(d)) if threshold is None else float(threshold)
        self.slider = widgets.FloatSlider(
            value=_on_grid(start, lo, hi, step), min=lo, max=hi, step=step, description="threshold",
            readout_format=".4g", continuous_update=True, layout=widgets.Layout(width="min(640px, 95%)"))
        self.stats_html = widgets.HTML()
        self.image = _image_widget()
        self.widget = widgets.VBox([self.slider, self.stats_html, self.image])
        self._fig = Figure(figsize=(max(4.0, 1.35 * len(self.indices)), 3.5), layout="constrained")
        self._strip = _PairStrip(self._fig, pairs, len(self.indices))
        self.stats, self.examples = {}, []
        self.slider.observe(self._on_change, names="value")
        self._update(self.slider.value)
        self._pinned = float(self.slider.value)

    @property
    def threshold(self) -> float:
        return float(self.stats["threshold"])

    def _on_change(self, change):
        if not (self._absorb_echo(change["new"]) or self._same_as_shown(change["new"])):
            self._update(change["new"])

    def _update(self, threshold: float):
        try:
            self.stats = operating_point(self.distances, self.same, threshold)
            self.examples = pair_verdicts(self.distances, self.same, threshold, self.indices)
            n_right = sum(v["correct"] for v in self.examples)
            self.stats_html.value = (
                f"<div style='font-family:sans-serif;font-size:14px'>"
                f"same person ⇔ distance ≤ <b>{_fmt(threshold)}</b>: these {len(self.examples)} pairs "
                f"{n_right}/{len(self.examples)} right; all {self.stats['n_pairs']} pairs: accuracy "
                f"<b>{_pct(self.stats['accuracy'])}</b></div>")
            self._strip.update(self.examples)
            head = f"{self.title}\n" if self.title else ""
            self._fig.suptitle(f"{head}threshold {_fmt(threshold)}: accuracy on all {self.stats['n_pairs']} "
                               f"pairs {_pct(self.stats['accuracy'])}", fontsize=10)
            _set_png(self.image, _figure_png(self._fig, freeze=True))
        except Exception as err:
            self.stats_html.value = _error_html(err)

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        if not self.stats:
            return "PairSlider()"
        return f"PairSlider: threshold {_fmt(self.threshold)}, accuracy {_pct(self.stats['accuracy'])}"


def pair_slider(pairs, distances, **kwargs) -> PairSlider:
    """Build a :class:`PairSlider`, display it (in IPython/Jupyter) and return it."""
    return PairSlider(pairs, distances, **kwargs)._show_once()


# ==============================================================================================
# Lesson 10: the cluster explorer
# ==============================================================================================

def _thumbnail(img: np.ndarray, size: int) -> np.ndarray:
    """Any face image → float ``(size, size, 3)`` in [0, 1] (Pillow resize, aspect kept, white padding)."""
    from PIL import Image
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.asarray(_displayable(arr), dtype=np.float64)
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    im = Image.fromarray(arr).convert("RGB")
    scale = size / max(im.size)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR)
    out = np.ones((size, size, 3))
    small = np.asarray(im, dtype=np.float64) / 255.0
    h, w = small.shape[:2]
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = small
    return out


def _hex_rgb(color: str) -> np.ndarray:
    color = color.lstrip("#")
    return np.array([int(color[k:k + 2], 16) for k in (0, 2, 4)]) / 255.0


class ClusterExplorer(_View):
    """Cluster faces at a threshold and look at the clusters (one row of thumbnails each).

    embeddings: ``(N, D)``; images: ``(N, H, W, 3)`` (uint8 or float); true_labels: optional
    ``(N,)`` identities → pairwise precision/recall/F1, NMI, ARI and purity
    (``metrics.clustering_report``) and green/red frames (the cluster's majority person or not);
    thresholds: slider range ``(min, max)`` or ``(min, max, step)`` (default: from the pairwise
    distances); threshold: start value (default: the 10 % quantile of the pairwise distances;
    kept exactly, and it widens the default range if outside); linkage / method: see
    ``clustering.cluster_embeddings``;
    max_rows × max_per_row: how many clusters and faces to show.

    Clustering runs when the slider is released (``continuous_update=False``); results are
    cached per threshold. Attributes: ``slider``, ``labels`` (current cluster labels), ``rows``
    (current :func:`cluster_rows`), ``report`` (dict or None), ``summary_html``, ``image``, ``widget``.
    """

    def __init__(self, embeddings, images, true_labels=None, thresholds=None, threshold: float | None = None,
                 linkage: str = "average", method: str = "agglomerative", max_rows: int = 8,
                 max_per_row: int = 10, thumb: int = 64, static: bool | None = None):
        x = metrics._as_embeddings(embeddings, "embeddings")
        images = np.asarray(images)
        if len(images) != len(x):
            raise ValueError(f"images has {len(images)} faces but embeddings has {len(x)} rows; "
                             "give one image per embedding, in the same order.")
        if true_labels is not None:
            true_labels = metrics._as_labels(true_labels, "true_labels", len(x))
        self.embeddings, self.images, self.true_labels = x, images, true_labels
        self.linkage, self.method, self.static = linkage, method, static
        self.max_rows, self.max_per_row, self.thumb = int(max_rows), int(max_per_row), int(thumb)
        self._cache: OrderedDict[float, np.ndarray] = OrderedDict()

        if threshold is not None and not float(threshold) > 0:
            raise ValueError(f"threshold must be a positive squared distance; got {threshold!r}.")
        if thresholds is None:
            d = metrics.squared_distance_matrix(x)[np.triu_indices(len(x), k=1)] if len(x) > 1 else np.array([1.0])
            positive = d[d > 0]
            lo = float(positive.min()) if len(positive) else 1e-3
            hi = float(d.max()) if d.max() > lo else lo + 1.0
            if threshold is not None:                 # a start value outside the data's range widens it
                lo, hi = min(lo, float(threshold)), max(hi, float(threshold))
            step = (hi - lo) / 500
            default = float(np.quantile(d, 0.1)) if len(d) else lo
        else:
            if len(thresholds) not in (2, 3):
                raise ValueError(f"thresholds must be (min, max) or (min, max, step); got {thresholds!r}.")
            lo, hi = float(thresholds[0]), float(thresholds[1])
            step = float(thresholds[2]) if len(thresholds) == 3 else (hi - lo) / 500
            default = (lo + hi) / 2
            if not (0 < lo < hi and step > 0):
                raise ValueError(f"thresholds needs 0 < min < max and step > 0; got {thresholds!r}.")
        start = _on_grid(default, lo, hi, step) if threshold is None else float(np.clip(threshold, lo, hi))
        self.slider = widgets.FloatSlider(
            value=start, min=lo, max=hi, step=step, description="threshold",
            readout_format=".4g", continuous_update=False, layout=widgets.Layout(width="min(640px, 95%)"))
        self.summary_html = widgets.HTML()
        self.image = _image_widget()
        self.widget = widgets.VBox([self.slider, self.summary_html, self.image])
        self.labels = np.zeros(len(x), dtype=np.int64)
        self.rows: list[list[int]] = []
        self.report: dict | None = None
        self.slider.observe(lambda change: self._update(change["new"]), names="value")
        self._update(self.slider.value)

    @property
    def threshold(self) -> float:
        return float(self.slider.value)

    def labels_at(self, threshold: float) -> np.ndarray:
        """Cluster labels at ``threshold`` (cached)."""
        key = float(threshold)
        if key not in self._cache:
            self._cache[key] = clusters_at(self.embeddings, key, linkage=self.linkage, method=self.method)
            if len(self._cache) > 64:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _update(self, threshold: float):
        try:
            self.labels = self.labels_at(threshold)
            self.rows = cluster_rows(self.labels, self.max_rows, self.max_per_row)
            self.report = (metrics.clustering_report(self.true_labels, self.labels)
                           if self.true_labels is not None else None)
            self.summary_html.value = self._summary_html(threshold)
            fig = self._figure(threshold)
            _set_png(self.image, _figure_png(fig))
        except Exception as err:
            self.summary_html.value = _error_html(err)

    def _summary_html(self, threshold: float) -> str:
        sizes = [size for _, size in clustering.cluster_sizes(self.labels)]
        singletons = sum(1 for size in sizes if size == 1)
        biggest = ", ".join(str(size) for size in sizes[:8]) + (", …" if len(sizes) > 8 else "")
        text = (f"threshold <b>{_fmt(threshold)}</b> → <b>{_plural(len(sizes), 'cluster')}</b> of "
                f"{len(self.labels)} faces ({_plural(singletons, 'single face')}); sizes: {biggest}")
        if self.report is not None:
            r = self.report
            text += (f"<br>{r['n_true']} real people. Pairwise precision <b>{r['precision']:.3f}</b>, "
                     f"recall <b>{r['recall']:.3f}</b>, F1 <b>{r['f1']:.3f}</b>; NMI <b>{r['nmi']:.3f}</b>, "
                     f"ARI {r['ari']:.3f}, purity {r['purity']:.3f}")
        return f"<div style='font-family:sans-serif;font-size:14px'>{text}</div>"

    def _row_strip(self, row: list[int], majority) -> np.ndarray:
        t, border, gap = self.thumb, 3, 4
        cell = t + 2 * border
        strip = np.ones((cell, self.max_per_row * (cell + gap) - gap, 3))
        for k, face in enumerate(row):
            x0 = k * (cell + gap)
            if self.true_labels is not None:
                frame = _hex_rgb(SAME_COLOR if self.true_labels[face] == majority else DIFF_COLOR)
                strip[:, x0:x0 + cell] = frame
            else:
                strip[:, x0:x0 + cell] = 0.85
            strip[border:border + t, x0 + border:x0 + border + t] = _thumbnail(self.images[face], t)
        return strip

    def _figure(self, threshold: float) -> Figure:
        rows = self.rows
        n = max(1, len(rows))
        fig = Figure(figsize=(0.8 * self.max_per_row + 0.4, 0.95 * n + 0.45), layout="constrained")
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        for ax, row in zip(axes, rows):
            cluster = self.labels[row[0]]
            members = np.flatnonzero(self.labels == cluster)
            label = f"cluster {cluster}: {_plural(len(members), 'face')}"
            majority = None
            if self.true_labels is not None:
                values, counts = np.unique(self.true_labels[members], return_counts=True)
                majority = values[np.argmax(counts)]
                label += f" — {counts.max()} of them are {majority}"
            ax.imshow(self._row_strip(row, majority))
            ax.set_title(label, fontsize=8, loc="left")
            ax.axis("off")
        for ax in axes[len(rows):]:
            ax.axis("off")
        n_clusters = len(np.unique(self.labels))
        shown = "all shown" if len(rows) == n_clusters else f"showing the biggest {len(rows)}"
        fig.suptitle(f"threshold {_fmt(threshold)}: {_plural(n_clusters, 'cluster')} ({shown})", fontsize=10)
        return fig

    def figure(self) -> Figure:
        """A new matplotlib Figure of the current clusters."""
        return self._figure(self.threshold)

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        text = f"ClusterExplorer: threshold {_fmt(self.threshold)}, {_plural(len(np.unique(self.labels)), 'cluster')}"
        if self.report is not None:
            text += f", pairwise F1 {self.report['f1']:.3f}, NMI {self.report['nmi']:.3f}"
        return text


def cluster_explorer(embeddings, images, true_labels=None, **kwargs) -> ClusterExplorer:
    """Build a :class:`ClusterExplorer`, display it (in IPython/Jupyter) and return it."""
    return ClusterExplorer(embeddings, images, true_labels, **kwargs)._show_once()


# ==============================================================================================
# Lesson 9: upload photos, enrol, identify
# ==============================================================================================

def _png_data_uri(img: np.ndarray) -> str:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(img, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class EnrolWidget(_View):
    """Upload photos; **Enrol** them under a name, or ask **Who is it?**.

    database: a :class:`course_utils.database.FaceDatabase`; encoder: images ``(N, S, S, 3)`` →
    embeddings ``(N, D)`` (a Keras model or any callable; ``None`` = the database's own
    encoder); preprocess: one decoded photo ``(H, W, 3) uint8`` → one model-ready face
    (default: ``images.preprocess`` to the encoder's input size, else 64); threshold: for
    "Who is it?" (default: the database's); k: how many candidates to list.

    Enrolment is all-or-nothing: if any uploaded file cannot be read, or the name is missing,
    or the encoder fails, nothing is enrolled and the output says why (never a traceback).
    After a successful enrolment the upload box is cleared; after "Who is it?" it is kept, so
    an unknown face can be enrolled next. ``enrol()`` and ``identify()`` can also be called
    from code; ``messages`` holds every message shown, ``last_results`` the last answers.
    """

    def __init__(self, database, encoder=None, preprocess: Callable | None = None,
                 threshold: float | None = None, k: int = 3):
        self.database, self.encoder, self.threshold, self.k = database, encoder, threshold, int(k)
        self.preprocess = preprocess or self._default_preprocess
        self.static = False
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Photos",
                                         tooltip="choose one or more photos of one person")
        self.name = widgets.Text(placeholder="name of the person", description="Name")
        self.enrol_button = widgets.Button(description="Enrol", button_style="success", icon="user-plus")
        self.identify_button = widgets.Button(description="Who is it?", button_style="info", icon="search")
        self.output = widgets.Output()
        self.enrol_button.on_click(lambda _b: self.enrol())
        self.identify_button.on_click(lambda _b: self.identify())
        self.widget = widgets.VBox([
            widgets.HBox([self.upload, self.name]),
            widgets.HBox([self.enrol_button, self.identify_button]),
            self.output,
        ])
        self.messages: list[str] = []
        self.last_results: list = []
        self._show(f"<i>{html.escape(self._database_line())}</i>", self._database_line())

    # ------------------------------------------------------------------ helpers
    def _input_size(self) -> int:
        from course_utils.config import IMAGE_SIZE
        for model in (self.encoder, getattr(self.database, "encoder", None)):
            try:
                shape = getattr(model, "input_shape", None)
            except Exception:                     # an unbuilt Keras model
                shape = None
            if isinstance(shape, (tuple, list)) and len(shape) == 4 and isinstance(shape[1], int):
                return int(shape[1])
        return IMAGE_SIZE

    def _default_preprocess(self, image: np.ndarray) -> np.ndarray:
        from course_utils.images import preprocess
        return preprocess(image, size=self._input_size())

    def _database_line(self) -> str:
        db = self.database
        if len(db) == 0:
            return "The database is empty: upload photos, type a name and press Enrol."
        people = ", ".join(f"{n} ({db.count(n)})" for n in db.names[:12]) + (", …" if len(db) > 12 else "")
        return f"Enrolled: {'1 person' if len(db) == 1 else f'{len(db)} people'} — {people}."

    def _show(self, body_html: str, text: str):
        self.messages.append(text)
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"text/html": f"<div style='font-family:sans-serif'>{body_html}</div>",
                                         "text/plain": text}},)

    def _problem(self, text: str) -> bool:
        self._show(f"<div style='color:{DIFF_COLOR}'>{html.escape(text)}</div>", text)
        return False

    def _faces(self, value):
        """Decode + preprocess the uploads → ``(names, batch (N, S, S, 3), errors)``."""
        decoded = decode_upload(self.upload.value if value is None else value)
        names, faces, errors = [], [], list(decoded.errors)
        for filename, image in decoded:
            try:
                faces.append(np.asarray(self.preprocess(image)))
                names.append(filename)
            except Exception as err:
                errors.append(f"“{filename}” could not be preprocessed ({type(err).__name__}: {err}).")
        batch = np.stack(faces) if faces else None
        return names, batch, errors

    def _query(self, batch: np.ndarray) -> dict:
        """``images=batch`` for the database's own encoder, else ``embeddings=`` from ours."""
        if self.encoder is None:
            return {"images": batch}
        out = self.encoder.predict(batch, verbose=0) if hasattr(self.encoder, "predict") else self.encoder(batch)
        return {"embeddings": np.asarray(out)}

    # ------------------------------------------------------------------ actions
    def enrol(self, name: str | None = None, value=None) -> bool:
        """Enrol the uploaded photos (or ``value``) under ``name`` (default: the Name box). True if done."""
        name = (self.name.value if name is None else name).strip()
        if not name:
            return self._problem("Type the person's name first, then press Enrol.")
        names, batch, errors = self._faces(value)
        if errors:
            return self._problem(" ".join(errors) + " Nothing was enrolled: remove that file and try again.")
        if batch is None:
            return self._problem("No photos uploaded: choose one or more photos with the Photos button first.")
        try:
            count = self.database.enroll(name, **self._query(batch))
        except Exception as err:                  # the database is unchanged: enroll checks before changing
            return self._problem(f"Nothing was enrolled: {err}")
        if value is None:
            self.upload.value = ()
        text = f"Enrolled {len(names)} photo(s) of {name} ({count} in total). {self._database_line()}"
        thumbs = "".join(f"<img src='{_png_data_uri(face)}' width=56 style='margin:2px'>" for face in batch)
        self._show(f"<div style='color:{SAME_COLOR}'><b>{html.escape(text.split('. ')[0])}.</b></div>"
                   f"{thumbs}<br><i>{html.escape(self._database_line())}</i>", text)
        return True

    def identify(self, value=None) -> list:
        """Identify each uploaded photo (or ``value``); returns the ``IdentifyResult`` list (``[]`` on a problem)."""
        self.last_results = []
        if len(self.database) == 0:
            self._problem("The database is empty: enrol someone first (photos + name + Enrol).")
            return []
        names, batch, errors = self._faces(value)
        if batch is None:
            self._problem(" ".join(errors) if errors else
                          "No photos uploaded: choose a photo with the Photos button first.")
            return []
        try:
            k = min(self.k, len(self.database))
            results = self.database.identify_batch(**self._query(batch), threshold=self.threshold, k=k)
        except Exception as err:
            self._problem(f"Could not identify: {err}")
            return []
        self.last_results = results
        lines, rows = [], []
        for filename, face, r in zip(names, batch, results):
            answer = r.name if r.is_known else "unknown"
            top = ", ".join(f"{n} {dist:.3f}" for n, dist in r.top_k)
            lines.append(f"{filename}: {answer} (distance {r.distance:.3f}, threshold {r.threshold:.3f}; top: {top})")
            color = SAME_COLOR if r.is_known else DIFF_COLOR
            rows.append(
                f"<tr><td style='text-align:left'><img src='{_png_data_uri(face)}' width=64></td>"
                f"<td style='padding:0 12px;text-align:left'><div style='color:{color};font-size:16px'><b>{html.escape(answer)}</b></div>"
                f"distance {r.distance:.3f} (threshold {r.threshold:.3f})<br>"
                f"<small>{html.escape(filename)} — top {len(r.top_k)}: {html.escape(top)}</small></td></tr>")
        errors = [f"Skipped: {e}" for e in errors]
        notes = "".join(f"<div style='color:{DIFF_COLOR}'>{html.escape(e)}</div>" for e in errors)
        self._show(f"<table>{''.join(rows)}</table>{notes}", " | ".join(lines + errors))
        return results

    def static_png(self) -> bytes:
        return b""

    def summary(self) -> str:
        return f"EnrolWidget: {self._database_line()}"


def enrol_widget(database, encoder=None, **kwargs) -> EnrolWidget:
    """Build an :class:`EnrolWidget`, display it (in IPython/Jupyter) and return it."""
    return EnrolWidget(database, encoder, **kwargs)._show_once()
