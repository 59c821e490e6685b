"""The strip of example pairs under a threshold view: the two faces, the truth, the decision.

:class:`PairStrip` draws it with matplotlib axes (the pair slider of lesson 1, and the threshold
explorer's figure for saving); :class:`PairPanels` assembles the same strip from cached Pillow
pictures for the threshold explorer's live view (a slider move pays for it).

Colours mean what they mean in the distance histograms: teal (``plots.SAME_COLOR``) a pair of the
same person, orange (``plots.DIFF_COLOR``) a pair of different people — the faces' frame and the
heading above them. Whether the decision at the threshold is right is the mark below, ✓ or ✗, in
a neutral colour (:data:`STRIP_LEGEND` says so under the strip).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure

from course_utils.images import as_uint8_rgb
from course_utils.plots import DIFF_COLOR, SAME_COLOR, displayable
from course_utils.widgets.base import as_short_number
from course_utils.widgets.png import DPI

OK_MARK, WRONG_MARK = "✓", "✗"
VERDICT_COLOR = "#333333"     # the ✓/✗ line: not teal/orange, which already say same/different
STRIP_LEGEND = "frame: teal = same person, orange = different people (as in the histograms); ✓ / ✗: decision right / wrong"


def truth_color(verdict: dict) -> str:
    """The colour of a pair's truth: ``SAME_COLOR`` for the same person, else ``DIFF_COLOR``."""
    return SAME_COLOR if verdict["same"] else DIFF_COLOR


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
                    spine.set_color(truth_color(v))
                    spine.set_linewidth(3)
            truth = "same" if v["same"] else "different"
            decided = "same" if v["accepted"] else "different"
            mark = OK_MARK if v["correct"] else f"{WRONG_MARK} wrong"
            top.set_title(f"{truth}\nd = {as_short_number(v['distance'])}", fontsize=8, color=truth_color(v))
            bottom.set_xlabel(f"→ {decided} {mark}", fontsize=8, color=VERDICT_COLOR,
                              fontweight="normal" if v["correct"] else "bold")


class PairPanels:
    """The example strip of a live view, assembled from a small picture of each pair.

    A slider drag brings new pairs into the strip on almost every move, and drawing 2 × n
    matplotlib axes was most of a move's time. Here each pair's picture (truth and distance
    above, the two faces framed in the truth's colour, the decision and its ✓/✗ below; the same content
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
        truth = truth_color(v)
        mark = OK_MARK if v["correct"] else f"{WRONG_MARK} wrong"
        panel = Image.new("RGB", (pitch, h), "white")
        draw = ImageDraw.Draw(panel)
        for k, text in enumerate(("same" if v["same"] else "different", f"d = {as_short_number(v['distance'])}")):
            draw.text((pitch / 2, 2 + k * self._line), text, fill=truth, font=self.font, anchor="mt")
        boxes = self.face_boxes()
        for (top, left, side), img in zip(boxes, self.pairs.image_pair(v["index"])):
            face = Image.fromarray(as_uint8_rgb(img)).convert("RGB")
            panel.paste(face.resize((side, side), Image.BICUBIC), (left, top))
            draw.rectangle((left - 3, top - 3, left + side + 2, top + side + 2), outline=truth, width=3)
        top, _, side = boxes[-1]
        decided = "same" if v["accepted"] else "different"
        draw.text((pitch / 2, top + side + 6), f"→ {decided} {mark}", fill=VERDICT_COLOR, font=self.font,
                  anchor="mt")
        return np.asarray(panel)

    def paste(self, rgb: np.ndarray, verdicts: list[dict]) -> np.ndarray:
        """``rgb`` (the main picture, ``(H, W, 3) uint8``) with the strip of ``verdicts`` pasted in."""
        top, left, h, pitch = self.box
        rgb[top:top + h] = 255
        for c, v in enumerate(verdicts[:self.n]):
            rgb[top:top + h, left + c * pitch:left + (c + 1) * pitch] = self.picture(v)
        return rgb


def check_pairs_match(pairs, n: int):
    if pairs is None:
        return
    if len(pairs) != n:
        raise ValueError(f"pairs has {len(pairs)} pairs but there are {n} distances; pass the Pairs the "
                         "distances were computed for (distances = pairs.distances(embeddings)).")
