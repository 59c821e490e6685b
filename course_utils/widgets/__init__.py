"""Interactive explorers for the lessons (ipywidgets 8 + matplotlib; no ``ipympl`` needed).

* :class:`ThresholdExplorer` / :func:`threshold_explorer` (lesson 8): move the threshold τ
  and watch the distance histograms, the ROC operating point, FAR / FRR / TAR / accuracy, the
  confusion counts and the pairs whose decision flips near τ.
* :class:`BrowserThresholdExplorer` (lesson 8): the same explorer computed and drawn by
  JavaScript in the browser (anywidget; ``explorer_js.py``): a slider move needs no kernel.
* :class:`PairSlider` / :func:`pair_slider` (lesson 1): a few pairs, a threshold and the accuracy.
* :class:`ClusterExplorer` (lesson 10): cluster faces at a threshold, one row of thumbnails
  per cluster, and the clustering scores when the true identities are known.
* :class:`EnrolWidget` (lesson 9): upload photos, enrol them under a name or ask "who is it?".
* :class:`CameraWidget` (lesson 9): the same from the webcam (anywidget; ``camera.py``), with
  "Forget me".

One module per view (``threshold``, ``pair_slider``, ``cluster``, ``enrol``) plus ``base``
(what they share). Each view is the thin layer on top of **pure functions** that live with
the maths they belong to and are tested there against scikit-learn and plain NumPy:
``metrics.operating_point`` / ``named_thresholds`` / ``flipping_pairs`` / ``pair_verdicts``,
``clustering.clusters_at`` / ``cluster_rows`` and ``images.decode_upload``. A view's callbacks
call those functions, draw a matplotlib ``Figure`` (created without pyplot, so the inline
backend never shows a stray copy), turn it into PNG bytes and put them in an
``ipywidgets.Image``. Updating an ``Image`` widget's value is synchronous, needs no output
capture (so it also works in callbacks, threads and tests), and never flickers.

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
from course_utils.widgets.base import STATIC_ENV, WIDGET_VIEW_MIMETYPE
from course_utils.widgets.cluster import ClusterExplorer, cluster_explorer
from course_utils.widgets.enrol import EnrolWidget, enrol_widget
from course_utils.widgets.pair_slider import PairSlider, choose_pairs, pair_slider
from course_utils.widgets.threshold import ThresholdExplorer, threshold_explorer

try:
    from course_utils.widgets.explorer_js import BrowserThresholdExplorer
except ImportError as _missing:             # an environment made before anywidget was a dependency
    _reason = str(_missing)

    class BrowserThresholdExplorer:         # noqa: D101 - stands in to say what to install
        def __init__(self, *args, **kwargs):
            raise ImportError(f"BrowserThresholdExplorer needs anywidget ({_reason}); update the environment: "
                              "python3 course.py lab (or pip install 'anywidget>=0.9').")

try:
    from course_utils.widgets.camera import CameraWidget
except ImportError as _missing_camera:      # the same stand-in: anywidget is missing
    _camera_reason = str(_missing_camera)

    class CameraWidget:                     # noqa: D101 - stands in to say what to install
        def __init__(self, *args, **kwargs):
            raise ImportError(f"CameraWidget needs anywidget ({_camera_reason}); update the environment: "
                              "python3 course.py lab (or pip install 'anywidget>=0.9').")

__all__ = [
    "ThresholdExplorer", "threshold_explorer", "BrowserThresholdExplorer", "PairSlider", "pair_slider", "choose_pairs",
    "ClusterExplorer", "cluster_explorer", "EnrolWidget", "enrol_widget", "CameraWidget",
    "STATIC_ENV", "WIDGET_VIEW_MIMETYPE",
]
