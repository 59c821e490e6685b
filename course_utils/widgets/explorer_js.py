"""Lesson 8: a threshold explorer whose maths runs in the browser (anywidget + a <canvas>).

:class:`ThresholdExplorer` (``threshold.py``) redraws a matplotlib figure in the kernel on every
slider move: each move is a round trip to Python (about a tenth of a second in JupyterLab).
:class:`BrowserThresholdExplorer` sends the pair distances, the labels and small face pictures
to the browser **once**; the JavaScript next to this module (``explorer_js.js``) then computes
the counts, the rates, the ROC operating point and the pairs that flip, and draws them on a
canvas, on every move, without asking the kernel. The matplotlib explorer stays the fallback
(a static copy of a notebook, saved figures).

The decision rule is the one of :mod:`course_utils.metrics`: a pair is accepted as "same person"
when ``distance <= threshold`` (ties accepted), distances travel as float64 bytes so the browser
compares exactly the numbers Python compares, and the strip of pairs follows
:func:`course_utils.metrics.flipping_pairs` (ties broken by pair index).

Pages with no kernel: :func:`standalone_html` writes the widget into an HTML page with
``ipywidgets.embed`` (the maths runs in the page). anywidget's own front-end (the AMD build its
package ships for the classic notebook) is inlined in the page (:func:`frontend_script`); the
widget manager (``@jupyter-widgets/html-manager``'s ``embed-amd.js``) and ``require.js`` load from
the URLs given — a CDN by default, local copies for a page that must open offline. The decks and
the website (``coursekit.decks``) keep this widget live the same way: its output carries its own
widget state (:data:`STATE_MIME`, see :meth:`BrowserThresholdExplorer._repr_mimebundle_`), so an
executed notebook holds what the page needs however it was run (nbval, nbclient, JupyterLab).
"""
from __future__ import annotations

import io
import json
import math
import pathlib

import anywidget
import numpy as np
import traitlets

from course_utils import metrics
from course_utils.images import as_uint8_rgb
from course_utils.plots import DIFF_COLOR, SAME_COLOR
from course_utils.widgets.base import as_percent, as_short_number, slider_range, tune_pairs
from course_utils.widgets.pairs import check_pairs_match

ESM = pathlib.Path(__file__).with_name("explorer_js.js")
REQUIREJS_URL = "https://cdn.jsdelivr.net/npm/requirejs@2.3.7/require.js"
EMBED_AMD_URL = "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.15/dist/embed-amd.js"
STATE_MIME = "application/vnd.jupyter.widget-state+json"     # ipywidgets' name for saved widget state


def float64_bytes(x: np.ndarray) -> bytes:
    """Little-endian float64 bytes of ``x`` (what the browser reads with ``getFloat64(…, true)``)."""
    return np.ascontiguousarray(x, dtype="<f8").tobytes()


def thumbnail_sheet(pairs, size: int) -> tuple[bytes, np.ndarray, int]:
    """One JPEG holding a ``size``×``size`` picture of every face the pairs use, in a grid.

    Returns ``(jpeg, cells, columns)``: ``cells`` ``(M, 2)`` int32 — the grid cell of the first
    and second face of each pair (cell c is at column ``c % columns``, row ``c // columns``).
    One picture decodes once in the browser, where thousands of small ones would each cost a
    request and a decode. JPEG (quality 85), not PNG: faces compress about six times better
    (lesson 8's ~1000 faces at 40 px: about 500 KB instead of 3 MB), which is what a deck or a
    web page holding the explorer weighs.
    """
    from PIL import Image

    used, inverse = np.unique(np.concatenate([pairs.i, pairs.j]), return_inverse=True)
    columns = max(1, math.ceil(math.sqrt(len(used))))
    rows = math.ceil(len(used) / columns)
    sheet = Image.new("RGB", (columns * size, rows * size), "white")
    for c, face in enumerate(used.tolist()):
        picture = Image.fromarray(as_uint8_rgb(pairs.faces.images[face])).convert("RGB")
        sheet.paste(picture.resize((size, size), Image.BICUBIC), ((c % columns) * size, (c // columns) * size))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=85)
    cells = inverse.reshape(2, len(pairs)).T.astype(np.int32)
    return buffer.getvalue(), np.ascontiguousarray(cells), columns


class BrowserThresholdExplorer(anywidget.AnyWidget):
    """Interactive threshold explorer computed and drawn in the browser.

    distances: ``(M,)`` squared distances; same: ``(M,)`` bool (True = same person);
    pairs: optional :class:`course_utils.datasets.Pairs` (the faces of the strip of pairs nearest
    τ; their pictures travel once, as one JPEG of ``thumb``×``thumb``-pixel faces); threshold:
    the starting τ in distance units (default: the EER threshold); far: the FAR of the
    "FAR = 1%" button; n_examples: pairs in the strip; title: a heading; tune: optional
    ``(distances, same)`` of *other* pairs (validation) on which the jump buttons choose τ.

    Synced state (what the browser gets): ``distance_bytes`` (float64 LE, ``(M,)``),
    ``same_bytes`` (uint8, ``(M,)``), ``cell_bytes`` (int32 LE, ``(M, 2)``: sheet cells of each
    pair's faces), ``sheet_jpeg``, ``thumb``, ``sheet_columns``, ``slider_min/max/step`` (the slider's
    grid: τ = min + k·step, k = 0…1000), ``named`` (``{button: τ}``, None where no τ reaches it), ``chosen_on``, ``n_examples``,
    ``title``, ``auc`` and ``threshold`` — the one value that comes back: after a move Python
    sees it, and setting it from Python moves the slider. ``stats`` is :func:`metrics.operating_point`
    at the current ``threshold``, computed in Python on demand.
    """

    _esm = ESM
    distance_bytes = traitlets.Bytes().tag(sync=True)
    same_bytes = traitlets.Bytes().tag(sync=True)
    cell_bytes = traitlets.Bytes().tag(sync=True)
    sheet_jpeg = traitlets.Bytes().tag(sync=True)
    thumb = traitlets.Int(0).tag(sync=True)
    sheet_columns = traitlets.Int(0).tag(sync=True)
    threshold = traitlets.Float(0.0).tag(sync=True)
    slider_min = traitlets.Float(0.0).tag(sync=True)
    slider_max = traitlets.Float(1.0).tag(sync=True)
    slider_step = traitlets.Float(1e-3).tag(sync=True)
    named = traitlets.Dict().tag(sync=True)
    chosen_on = traitlets.Unicode("shown pairs").tag(sync=True)
    n_examples = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    auc = traitlets.Float(float("nan")).tag(sync=True)
    colors = traitlets.Dict({"same": SAME_COLOR, "different": DIFF_COLOR}).tag(sync=True)

    def __init__(self, distances, same, pairs=None, threshold: float | None = None, far: float = 1e-2,
                 n_examples: int = 6, title: str | None = None, tune=None, thumb: int = 40, **kwargs):
        d, s = metrics.as_pairs(distances, same)
        metrics.require_both_classes(s, "BrowserThresholdExplorer")
        check_pairs_match(pairs, len(d))
        if int(n_examples) < 0:
            raise ValueError(f"n_examples must be >= 0 (pairs in the strip); got {n_examples}.")
        if pairs is not None and not 8 <= int(thumb) <= 128:
            raise ValueError(f"thumb is the side of a face picture in pixels, 8 to 128; got {thumb}.")
        named, chosen_on = metrics.named_thresholds(d, s, far), "shown pairs"
        if tune is not None:
            named, chosen_on = metrics.named_thresholds(*tune_pairs(tune, "BrowserThresholdExplorer"), far), "validation"
        # JSON has no -inf ("FAR = 1%" when no threshold reaches it): such a button is sent as None
        # and shown disabled.
        named = {name: (t if math.isfinite(t) else None) for name, t in named.items()}
        lo, hi, step = slider_range(d)
        start = named["EER"] if threshold is None else float(threshold)
        if math.isnan(start):
            raise ValueError("threshold is NaN; pass a number in distance units (e.g. 1.0).")
        state = {"distance_bytes": float64_bytes(d), "same_bytes": s.astype(np.uint8).tobytes(),
                 "slider_min": lo, "slider_max": hi, "slider_step": step, "named": named, "chosen_on": chosen_on,
                 "threshold": float(min(max(start, lo), hi)), "auc": metrics.roc_auc(d, s), "title": title or "",
                 "n_examples": int(n_examples) if pairs is not None else 0}
        if pairs is not None and state["n_examples"]:
            jpeg, cells, columns = thumbnail_sheet(pairs, int(thumb))
            state.update(sheet_jpeg=jpeg, cell_bytes=cells.astype("<i4").tobytes(), thumb=int(thumb),
                         sheet_columns=columns)
        self.distances, self.same, self.pairs = d, s, pairs
        super().__init__(**state, **kwargs)

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal):
        value = proposal["value"]
        if not math.isfinite(value):
            raise traitlets.TraitError(f"threshold must be a finite number in distance units (e.g. 1.0); got {value}.")
        return value

    def set_threshold(self, threshold: float) -> None:
        """Move τ to ``threshold`` (distance units, clipped to the slider's range; the exact value is
        kept, so "FAR = 1%" still means FAR <= 1 %). A threshold of ``-inf`` (accept nothing) becomes
        the slider's minimum."""
        t = float(threshold)
        if math.isnan(t):
            raise ValueError("threshold is NaN; pass a number in distance units (e.g. 1.0).")
        self.threshold = float(min(max(t, self.slider_min), self.slider_max))

    @property
    def stats(self) -> dict:
        """:func:`metrics.operating_point` at the current ``threshold`` (what the browser shows)."""
        return metrics.operating_point(self.distances, self.same, self.threshold)

    def summary(self) -> str:
        p = self.stats
        return (f"BrowserThresholdExplorer: {p['n_pairs']} pairs, τ = {as_short_number(p['threshold'])}, "
                f"FAR {as_percent(p['far'])}, FRR {as_percent(p['frr'])}, TAR {as_percent(p['tar'])}")

    def __repr__(self) -> str:                  # the default repr would print every synced byte
        return self.summary()

    def _repr_mimebundle_(self, **kwargs):
        """anywidget's bundle (the widget view, the summary as text) plus :data:`STATE_MIME`:
        :func:`embed_state` at display time. A notebook's saved widget state depends on how it was
        run (nbval and a plain save keep none); with its state in its own output the explorer still
        works in a deck or on the website built from any executed copy. JupyterLab ignores the
        extra entry (no renderer claims it); it costs the notebook the widget's data once more."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        return {**data, STATE_MIME: embed_state(self)}, metadata


def anywidget_frontend() -> str:
    """anywidget's front-end as a named AMD module (``define("anywidget", …)``), ready to inline.

    The anywidget package ships this build for the classic notebook as an anonymous module; a
    name lets it sit in a page's own <script> instead of being fetched from a CDN.
    """
    path = pathlib.Path(anywidget.__file__).with_name("nbextension") / "index.js"
    if not path.exists():
        raise FileNotFoundError(f"anywidget's front-end is missing ({path}); reinstall it: pip install 'anywidget>=0.9'")
    source = path.read_text(encoding="utf-8")
    anonymous = 'define(["@jupyter-widgets/base"]'
    if source.count(anonymous) != 1:
        raise RuntimeError(f"{path} is not the AMD module this function knows (anywidget {anywidget.__version__}); "
                           "cannot inline it.")
    return source.replace(anonymous, 'define("anywidget", ["@jupyter-widgets/base"]')


def frontend_script() -> str:
    """A ``<script>`` element holding :func:`anywidget_frontend` (``</script`` inside escaped), for a
    page's ``<head>`` after ``require.js``: the widget manager then finds the module "anywidget"
    already defined and fetches nothing."""
    return "<script>" + anywidget_frontend().replace("</script", "<\\/script") + "</script>"


def embed_state(widget) -> dict:
    """The saved-widget-state document (``{"version_major": 2, "version_minor": 0, "state": …}``,
    as in a notebook's ``metadata.widgets``) of ``widget`` and the models it refers to (its
    layout), buffers base64-encoded. Every value is kept, defaults included: anywidget's front-end
    has no defaults of its own (no _esm), and a dropped slider_min of 0.0 would arrive as undefined."""
    from ipywidgets.embed import dependency_state

    return {"version_major": 2, "version_minor": 0, "state": dependency_state(widget, drop_defaults=False)}


def standalone_html(widget: BrowserThresholdExplorer, path, title: str = "Threshold explorer",
                    requirejs_url: str = REQUIREJS_URL, embed_url: str = EMBED_AMD_URL) -> pathlib.Path:
    """Write ``widget`` into a self-contained HTML page at ``path`` and return the path.

    The page needs no kernel. It loads ``require.js`` and the widget manager from the given URLs
    (relative URLs of local copies open offline) and carries anywidget's front-end inline.
    """
    from ipywidgets.embed import embed_minimal_html

    if not isinstance(widget, BrowserThresholdExplorer):
        raise TypeError(f"widget must be a BrowserThresholdExplorer, got {type(widget).__name__}")
    # embed_minimal_html's template is str.format'ed, so literal braces of the inlined code are doubled.
    template = ("<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='UTF-8'>\n<title>{title}</title>\n"
                f"<script src={json.dumps(requirejs_url)}></script>\n"
                + frontend_script().replace("{", "{{").replace("}", "}}") + "\n"
                "</head>\n<body>\n{snippet}\n</body>\n</html>\n")
    path = pathlib.Path(path)
    embed_minimal_html(str(path), views=[widget], title=title, template=template, requirejs=False,
                       embed_url=embed_url, cors=False, state=embed_state(widget)["state"])
    return path
