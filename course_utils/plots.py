"""Figures the lessons draw: face grids, distance histograms, ROC curves, embedding maps.

Every function returns the matplotlib ``Figure`` (or draws on the ``ax`` it is given), so a
notebook can show it, save it, or draw several side by side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

SAME_COLOR, DIFF_COLOR = "#2a9d8f", "#e76f51"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, nbval, nbclient)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:
        return False


def show_faces(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.3, title: str | None = None, marks: Sequence[bool | None] | None = None):
    """A grid of faces ``(N, H, W, 3)``; optional per-face titles and ✓/✗ coloured frames."""
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if title else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if k >= n:
            ax.axis("off")
            continue
        ax.imshow(displayable(images[k]))
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=7)
        if marks is not None and marks[k] is not None:
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(SAME_COLOR if marks[k] else DIFF_COLOR)
                spine.set_linewidth(3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_pairs(pairs, indices: Sequence[int], distances: np.ndarray | None = None,
               threshold: float | None = None, title: str | None = None):
    """Pairs side by side (one column per pair), titled with distance and same/different."""
    indices = list(indices)
    fig, axes = plt.subplots(2, max(1, len(indices)), figsize=(1.5 * max(1, len(indices)), 3.4), squeeze=False)
    for c, m in enumerate(indices):
        a, b = pairs.image_pair(m)
        for r, img in enumerate((a, b)):
            ax = axes[r, c]
            ax.imshow(displayable(img))
            ax.set_xticks([]), ax.set_yticks([])
        label = "same" if pairs.same[m] else "different"
        text = label if distances is None else f"{label}\nd = {distances[m]:.3g}"
        if threshold is not None and distances is not None:
            decided = distances[m] <= threshold
            text += "\n✓" if decided == pairs.same[m] else "\n✗ wrong"
        axes[0, c].set_title(text, fontsize=8, color=SAME_COLOR if pairs.same[m] else DIFF_COLOR)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def distance_histograms(distances: np.ndarray, same: np.ndarray, threshold: float | None = None,
                        ax=None, title: str | None = None, bins: int = 40):
    """Histograms of same-person vs different-person distances (the overlap is the error)."""
    distances, same = np.asarray(distances), np.asarray(same, dtype=bool)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    edges = np.histogram_bin_edges(distances, bins=bins)
    ax.hist(distances[same], bins=edges, alpha=0.6, color=SAME_COLOR, label=f"same person ({same.sum()})")
    ax.hist(distances[~same], bins=edges, alpha=0.6, color=DIFF_COLOR, label=f"different people ({(~same).sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("squared distance")
    ax.set_ylabel("pairs")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig or ax.figure


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], ax=None, point=None, log_far: bool = False):
    """ROC curves ``{name: (distances, same)}``; AUC in the legend; optional operating point (far, tar)."""
    from course_utils.metrics import roc, roc_auc

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4))
    for name, (d, s) in curves.items():
        fpr, tpr, _ = roc(d, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(d, s):.3f})")
    if point is not None:
        ax.plot(*point, "ko", markersize=7)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    if log_far:
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 1)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.legend(fontsize=8, loc="lower right")
    return fig or ax.figure


DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999)


def det_points(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The DET curve of one set of pairs in normal-deviate units (Martin et al., 1997).

    distances: ``(M,)`` squared distances; same: ``(M,)`` bool, True = same person.
    Returns ``(x, y)``, each ``(T,)``: ``x = Φ⁻¹(FAR)``, ``y = Φ⁻¹(FRR)`` for every threshold,
    where Φ⁻¹ is the standard normal quantile (``scipy.stats.norm.ppf``). Thresholds whose FAR
    or FRR is exactly 0 or 1 are left out: they have no finite normal deviate.
    """
    from scipy.stats import norm

    from course_utils.metrics import roc

    fpr, tpr, _ = roc(distances, same, drop_intermediate=False)
    frr = 1.0 - tpr
    keep = (fpr > 0) & (fpr < 1) & (frr > 0) & (frr < 1)
    return norm.ppf(fpr[keep]), norm.ppf(frr[keep])


DET_TICK_PRIORITY = (0.01, 0.1, 0.001, 0.9, 0.99, 0.999, 0.05, 0.2, 0.4, 0.6, 0.8, 0.02, 0.005, 0.95, 0.002)


def _spaced(ticks, position, gap: float) -> list:
    """Of ``ticks``, those kept at least ``gap`` apart (decades first, see DET_TICK_PRIORITY), in
    order: their labels never run into each other where the normal-deviate scale crowds them."""
    kept = []
    for t in sorted(ticks, key=DET_TICK_PRIORITY.index):
        if all(abs(position(t) - position(k)) >= gap for k in kept):
            kept.append(t)
    return sorted(kept)


def det_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], ax=None):
    """DET curves ``{name: (distances, same)}``: FRR against FAR on normal-deviate axes.

    Both axes are drawn at Φ⁻¹(rate) (Martin et al., 1997) and labelled with the rates in %;
    if genuine and impostor distances were both normal, each curve would be a straight line.
    The dotted diagonal is FAR = FRR: a curve crosses it at its equal error rate.
    """
    from scipy.stats import norm

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4))
    lo, hi = np.inf, -np.inf
    for name, (d, s) in curves.items():
        x, y = det_points(d, s)
        ax.plot(x, y, label=name)
        if len(x):
            lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
    if not np.isfinite(lo):                       # nothing drawable: show 1 %–50 %
        lo, hi = norm.ppf(0.01), 0.0
    limits = (lo - 0.15, hi + 0.15)
    ticks = _spaced([t for t in DET_TICKS if lo - 0.3 <= norm.ppf(t) <= hi + 0.3], norm.ppf,
                    (limits[1] - limits[0]) / 9)
    ax.plot(limits, limits, color="grey", linewidth=0.8, linestyle=":", label="FAR = FRR (EER)")
    labels = [f"{100 * t:g}" for t in ticks]
    ax.set_xticks(norm.ppf(ticks), labels)
    ax.set_yticks(norm.ppf(ticks), labels)
    ax.set(xlim=limits, ylim=limits)
    ax.grid(True, linewidth=0.3)
    ax.set_xlabel("false accept rate FAR (%), normal-deviate scale")
    ax.set_ylabel("false reject rate FRR (%), normal-deviate scale")
    ax.legend(fontsize=8)
    return fig or ax.figure


def triplet_loss_map(d_ap: np.ndarray, d_an: np.ndarray, kinds: np.ndarray, alpha: float, ax=None):
    """The triplet loss ``max(d_ap − d_an + α, 0)`` as a map over the (d(a,p), d(a,n)) plane, the
    lines d(a,n) = d(a,p) and d(a,n) = d(a,p) + α between its regions, and the triplets on it.

    d_ap, d_an: ``(N,)`` squared distances anchor→positive and anchor→negative; kinds: ``(N,)``
    "easy" / "semi-hard" / "hard" for each triplet; alpha: the margin (squared-distance units).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5.8))
    fig = ax.figure
    lim = max(4 * alpha, 1.15 * float(max(d_ap.max(), d_an.max())))
    grid = np.linspace(0, lim, 300)
    d_pos, d_neg = np.meshgrid(grid, grid)                      # x: d(a,p), y: d(a,n)
    im = ax.imshow(np.maximum(d_pos - d_neg + alpha, 0), origin="lower", extent=(0, lim, 0, lim),
                   cmap="magma_r", aspect="auto")
    fig.colorbar(im, ax=ax, label="triplet loss")
    ax.plot(grid, grid, "k-", lw=1.5, label="d(a,n) = d(a,p)")
    ax.plot(grid, grid + alpha, "k--", lw=1.5, label="d(a,n) = d(a,p) + α")
    colors = {"easy": SAME_COLOR, "semi-hard": "#1d3fbf", "hard": "white"}   # dark on the light band, light on the dark region
    for k, c in colors.items():
        sel = kinds == k
        ax.scatter(d_ap[sel], d_an[sel], s=10, color=c, edgecolor="k", linewidth=0.3, label=f"{k} ({sel.sum()})")
    ax.text(0.1 * lim, 0.8 * lim, "EASY\nloss = 0", fontsize=10)
    ax.text(0.72 * lim, 0.22 * lim, "HARD\nloss ≥ α", fontsize=10,
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    ax.set(xlim=(0, lim), ylim=(0, lim), xlabel="d(a,p)  (same person)", ylabel="d(a,n)  (different people)",
           title=f"max(d(a,p) − d(a,n) + α, 0) with α = {alpha:g}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)   # below: the HARD corner stays free
    fig.tight_layout()
    return fig


def timing_plot(sizes, times: dict[str, Sequence[float]], ax=None, title: str = ""):
    """Log-log lines of run time (seconds, shown in ms) against batch size, one per implementation."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    sizes = np.asarray(sizes)
    for (label, seconds), marker in zip(times.items(), ("o-", "s-", "^-", "d-", "v-")):
        ax.loglog(sizes, 1000 * np.asarray(seconds), marker, label=label)
    ax.set(xlabel="batch size B", ylabel="time (ms)", title=title)
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.legend(fontsize=8)
    return ax.figure


def embedding_map(points: np.ndarray, labels: np.ndarray, images: np.ndarray | None = None, ax=None,
                  title: str | None = None, zoom: float = 0.35, thumbnails: int = 200):
    """2-D points coloured by identity, with face thumbnails drawn at (up to ``thumbnails``) points."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 6))
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab20")
    colors = cmap(np.unique(labels, return_inverse=True)[1] % 20)
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=12)
    if images is not None:
        step = max(1, len(points) // thumbnails)
        for k in range(0, len(points), step):
            box = AnnotationBbox(OffsetImage(displayable(images[k]), zoom=zoom), points[k], frameon=True,
                                 pad=0.1, bboxprops={"edgecolor": colors[k], "linewidth": 1.5})
            ax.add_artist(box)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return fig or ax.figure


def training_curves(history: dict[str, list[float]], axes=None):
    """Loss, fraction of active triplets and validation AUC per epoch (three panels)."""
    fig = None
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    panels = [("loss", "triplet loss", None), ("active_triplets", "fraction of active triplets", (0, 1)),
              ("val_auc", "validation ROC-AUC", None)]
    for ax, (key, label, ylim) in zip(axes, panels):
        ax.clear()
        if key in history and len(history[key]):
            ax.plot(epochs[: len(history[key])], history[key], marker="o", markersize=3)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        if ylim:
            ax.set_ylim(*ylim)
    return fig or axes[0].figure


class LiveTrainingView:
    """Redraws :func:`training_curves` after every epoch in JupyterLab; a static figure otherwise."""

    def __init__(self):
        self.fig, self.axes = plt.subplots(1, 3, figsize=(11, 3))
        plt.close(self.fig)  # we display it ourselves; stop inline backends from showing it twice
        self.handle = None
        self.live = in_notebook()

    def update(self, history):
        if not self.live:
            return
        training_curves(history, self.axes)
        self.fig.tight_layout()
        from IPython.display import display
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self, history):
        training_curves(history, self.axes)
        self.fig.tight_layout()
        if self.live and self.handle is not None:
            self.handle.update(self.fig)
        elif self.live:
            from IPython.display import display
            display(self.fig)


def show_detections(image: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray,
                    faces: np.ndarray | None = None, title: str | None = None, size: float = 6.0):
    """What detection and alignment did: the photo with each face's box and 5 landmarks.

    image ``(H, W, 3) uint8``; boxes ``(K, 4)`` ``(left, top, right, bottom)`` px; landmarks
    ``(K, 5, 2)`` ``(x, y)`` px; faces (optional) ``(K, S, S, 3)``: the aligned faces, drawn in
    a row underneath with the same numbers as their boxes (1 = largest).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    landmarks = np.asarray(landmarks, dtype=float).reshape(-1, 5, 2)
    k = len(boxes)
    h, w = np.asarray(image).shape[:2]
    with_row = faces is not None and len(faces) > 0
    height = size * h / w
    fig = plt.figure(figsize=(size, height + (size / max(k, 4) + 0.3 if with_row else 0.2)),
                     layout="constrained")
    if with_row:
        grid = fig.add_gridspec(2, max(k, 4), height_ratios=[height, size / max(k, 4)])
        ax = fig.add_subplot(grid[0, :])
    else:
        ax = fig.add_subplot(1, 1, 1)
    ax.imshow(image)
    ax.set_xticks([]), ax.set_yticks([])
    colors = ["#e9c46a", "#2a9d8f", "#e76f51", "#264653", "#f4a261"]   # eyes, nose, mouth
    for n, (box, marks) in enumerate(zip(boxes, landmarks)):
        left, top, right, bottom = box
        ax.add_patch(plt.Rectangle((left, top), right - left, bottom - top, fill=False, lw=2, ec=SAME_COLOR))
        ax.text(left, top - 3, str(n + 1), color="white", fontsize=9, va="bottom",
                bbox=dict(facecolor=SAME_COLOR, edgecolor="none", pad=1))
        ax.scatter(marks[:, 0], marks[:, 1], c=colors, s=18, edgecolors="black", linewidths=0.5, zorder=3)
    ax.set_title(title or f"{k} face(s) found: boxes and landmarks (eyes, nose, mouth corners)", fontsize=10)
    if with_row:
        for n, face in enumerate(faces):
            sub = fig.add_subplot(grid[1, n])
            sub.imshow(face)
            sub.set_xticks([]), sub.set_yticks([])
            sub.set_title(f"{n + 1} aligned", fontsize=8)
    return fig


def displayable(img: np.ndarray) -> np.ndarray:
    """Any face image as something ``imshow`` shows faithfully: ``uint8`` kept as it is; floats
    in 0..255 scaled to [0, 1], floats clipped to [0, 1]; a single channel ``(H, W, 1)`` → ``(H, W)``."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img / 255.0 if img.size and img.max() > 1.0 else img, 0, 1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


# (point marker, colour, threshold line style) of the first, second, ... marked threshold
_MARK_STYLES = [("o", "C3", "--"), ("s", "k", ":"), ("^", "C2", "-.")]


def open_set_plot(curve: dict, marks: dict[str, tuple[float, float, float]], axes=None):
    """Open-set recognition's trade-off in two panels: DIR against the false-alarm rate (left),
    and both rates against the threshold (right).

    curve  ``metrics.open_set_identification``'s result: ``fars``, ``dirs`` and ``thresholds``
           (one per step of the curve, squared distances) and ``rank1`` (DIR's ceiling)
    marks  ``{label: (threshold, false-alarm rate, DIR)}``: a point on the left, a line on the right
    Returns the two axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    left, right = axes
    fars, dirs, thresholds = curve["fars"], curve["dirs"], curve["thresholds"]
    left.plot(fars, dirs, drawstyle="steps-post")
    right.plot(thresholds[1:], dirs[1:], label="DIR", drawstyle="steps-post")
    right.plot(thresholds[1:], fars[1:], label="false alarm rate", drawstyle="steps-post", color="C1")
    for (label, (threshold, alarms, dir_)), (marker, colour, line) in zip(marks.items(), _MARK_STYLES):
        left.plot(alarms, dir_, marker, color=colour, label=f"{label} ({threshold:.3f})")
        right.axvline(threshold, color=colour, linestyle=line, label=label)
    left.axhline(curve["rank1"], color="grey", linestyle=":", label="rank-1 ceiling")
    left.set(xlabel="false alarm rate (strangers given a name)", ylabel="DIR (enrolled people named correctly)",
             xlim=(0, 1), ylim=(0, 1.02))
    left.set_xscale("symlog", linthresh=0.01)
    left.legend(fontsize=7, loc="lower right")
    left.set_title("open-set trade-off (test people)", fontsize=10)
    right.set(xlabel="threshold (squared distance)", ylabel="rate")
    right.legend(fontsize=7)
    right.set_title("both rates grow with the threshold", fontsize=10)
    left.figure.tight_layout()
    return axes


def clustering_sweep_plot(thresholds: np.ndarray, reports: list[dict], chosen: float, n_true: int, axes=None):
    """How a clustering threshold trades precision for recall (left) and how many clusters it
    makes (right, log scale).

    thresholds  ``(T,)`` squared distances that were tried
    reports     ``metrics.clustering_report`` of each (``precision``, ``recall``, ``f1``, ``nmi``, ``n_clusters``)
    chosen      the threshold actually used, drawn dashed on both panels
    n_true      the true number of people, dotted on the right
    Returns the two axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    left, right = axes
    for key in ("precision", "recall", "f1", "nmi"):
        left.plot(thresholds, [r[key] for r in reports], label=key, linewidth=2.5 if key == "f1" else 1.2)
    left.axvline(chosen, color="k", linestyle="--", label="chosen threshold")
    left.set(xlabel="threshold (squared distance)", ylabel="score")
    left.legend(fontsize=8)
    left.set_title("over-merging costs precision, under-merging recall", fontsize=10)
    right.plot(thresholds, [r["n_clusters"] for r in reports], marker="o", markersize=3)
    right.axhline(n_true, color="grey", linestyle=":", label=f"true number of people ({n_true})")
    right.axvline(chosen, color="k", linestyle="--")
    right.set(xlabel="threshold (squared distance)", ylabel="number of clusters")
    right.set_yscale("log")
    right.legend(fontsize=8)
    left.figure.tight_layout()
    return axes
