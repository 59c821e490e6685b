"""PNG bytes for the explorers' ``ipywidgets.Image``: from a matplotlib figure or an RGB array.

A slider move redraws the figure and sends a new PNG to the browser, so the encoder is part of
every move's cost (:func:`rgb_png` is a small, fast one); :func:`set_png` shows the picture at its
own pixel width.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

DPI = 90   # resolution of every explorer's PNG


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
