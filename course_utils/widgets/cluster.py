"""Lesson 10: cluster faces at a threshold and look at the clusters (one row of thumbnails each)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils import clustering, metrics
from course_utils.clustering import cluster_rows, clusters_at
from course_utils.plots import DIFF_COLOR, SAME_COLOR, displayable
from course_utils.widgets.base import View, as_short_number, error_html, on_grid, plural
from course_utils.widgets.png import figure_png, image_widget, set_png

def _thumbnail(img: np.ndarray, size: int) -> np.ndarray:
    """Any face image → float ``(size, size, 3)`` in [0, 1] (Pillow resize, aspect kept, white padding)."""
    from PIL import Image
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.asarray(displayable(arr), dtype=np.float64)
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


class ClusterExplorer(View):
    """Cluster faces at a threshold and look at the clusters (one row of thumbnails each).

    embeddings: ``(N, D)``; images: ``(N, H, W, 3)`` (uint8 or float); true_labels: optional
    ``(N,)`` identities → pairwise precision/recall/F1, NMI, ARI and purity
    (``metrics.clustering_report``) and teal/orange frames (the cluster's majority person or not);
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
        x = metrics.as_embeddings(embeddings, "embeddings")
        images = np.asarray(images)
        if len(images) != len(x):
            raise ValueError(f"images has {len(images)} faces but embeddings has {len(x)} rows; "
                             "give one image per embedding, in the same order.")
        if true_labels is not None:
            true_labels = metrics.as_labels(true_labels, "true_labels", len(x))
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
        start = on_grid(default, lo, hi, step) if threshold is None else float(np.clip(threshold, lo, hi))
        self.slider = widgets.FloatSlider(
            value=start, min=lo, max=hi, step=step, description="threshold",
            readout_format=".4g", continuous_update=False, layout=widgets.Layout(width="min(640px, 95%)"))
        self.summary_html = widgets.HTML()
        self.image = image_widget()
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
            set_png(self.image, figure_png(fig))
        except Exception as err:
            self.summary_html.value = error_html(err)

    def _summary_html(self, threshold: float) -> str:
        sizes = [size for _, size in clustering.cluster_sizes(self.labels)]
        singletons = sum(1 for size in sizes if size == 1)
        biggest = ", ".join(str(size) for size in sizes[:8]) + (", …" if len(sizes) > 8 else "")
        text = (f"threshold <b>{as_short_number(threshold)}</b> → <b>{plural(len(sizes), 'cluster')}</b> of "
                f"{len(self.labels)} faces ({plural(singletons, 'single face')}); sizes: {biggest}")
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
            label = f"cluster {cluster}: {plural(len(members), 'face')}"
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
        fig.suptitle(f"threshold {as_short_number(threshold)}: {plural(n_clusters, 'cluster')} ({shown})", fontsize=10)
        return fig

    def figure(self) -> Figure:
        """A new matplotlib Figure of the current clusters."""
        return self._figure(self.threshold)

    def static_png(self) -> bytes:
        return bytes(self.image.value)

    def summary(self) -> str:
        text = f"ClusterExplorer: threshold {as_short_number(self.threshold)}, {plural(len(np.unique(self.labels)), 'cluster')}"
        if self.report is not None:
            text += f", pairwise F1 {self.report['f1']:.3f}, NMI {self.report['nmi']:.3f}"
        return text


def cluster_explorer(embeddings, images, true_labels=None, **kwargs) -> ClusterExplorer:
    """Build a :class:`ClusterExplorer`, display it (in IPython/Jupyter) and return it."""
    return ClusterExplorer(embeddings, images, true_labels, **kwargs)._show_once()
