"""BrowserThresholdExplorer: the state it sends the browser, and the numbers its JavaScript computes.

The browser test writes the widget into a standalone page (``ipywidgets.embed``, no kernel), opens
it in Debian's Chromium through Playwright with every network request blocked, moves the slider to
20 thresholds and compares what the page computed with :mod:`course_utils.metrics`. It needs
``require.js`` and ``@jupyter-widgets/html-manager`` from npm (fetched once into ``.cache/web``) and
skips, saying why, when Chromium, Playwright or those files are missing.
"""
from __future__ import annotations

import base64
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import metrics
from course_utils.datasets import load_synthetic, make_pairs
from course_utils.widgets.base import slider_range
from course_utils.widgets.explorer_js import ESM, BrowserThresholdExplorer, standalone_html

from browser_pages import local_only_page, move_and_check

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CACHE = ROOT / ".cache" / "web"
HTML_MANAGER = ("@jupyter-widgets/html-manager", "1.0.15")   # the widget manager of ipywidgets 8
SNAPPED = (100, 137, 250, 333, 420, 500, 611, 700, 777, 900)  # slider steps that land exactly on a distance


def verification_set(m=1500, seed=0):
    """Synthetic faces and pairs with made-up distances; ten distances sit exactly on slider grid
    points (twice each), so the browser meets ties at the thresholds it is moved to."""
    faces = load_synthetic(n_identities=30, images_per_identity=4, seed=seed)
    pairs = make_pairs(faces, n_pairs=m, seed=seed)
    rng = np.random.default_rng(seed)
    d = np.clip(np.where(pairs.same, rng.normal(0.6, 0.2, len(pairs)), rng.normal(1.3, 0.25, len(pairs))), 0, None)
    lo, _, step = slider_range(d)
    inside = np.argsort(d)[len(d) // 10:-len(d) // 10]        # not the extremes: the slider range stays
    for n, k in enumerate(SNAPPED):
        d[inside[2 * n:2 * n + 2]] = lo + k * step
    assert slider_range(d)[0] == lo
    return pairs, d


@pytest.fixture(scope="module")
def data():
    return verification_set()


# ----------------------------------------------------------------------------------- Python side
def test_state_round_trips_the_data(data):
    pairs, d = data
    w = BrowserThresholdExplorer(d, pairs.same, pairs=pairs, n_examples=6, title="test pairs", thumb=24)
    state = w.get_state()
    assert np.array_equal(np.frombuffer(state["distance_bytes"], "<f8"), d)           # exact float64
    assert np.array_equal(np.frombuffer(state["same_bytes"], np.uint8).astype(bool), pairs.same)
    named = metrics.named_thresholds(d, pairs.same)
    assert state["named"] == named and state["threshold"] == named["EER"]
    # A FAR target no threshold reaches is -inf in metrics, which JSON cannot carry: None instead.
    worst_first = np.where(np.arange(len(d)) == np.argmin(d), False, pairs.same)
    unreachable = BrowserThresholdExplorer(d, worst_first, far=1e-9).named
    assert unreachable["FAR = 1e-07%"] is None and np.isfinite(unreachable["EER"])
    assert (state["slider_min"], state["slider_max"], state["slider_step"]) == slider_range(d)
    assert state["n_examples"] == 6 and state["title"] == "test pairs"
    assert state["_esm"] == ESM.read_text()
    # Each pair's two cells show its two faces: same face, same cell; the sheet holds them all.
    cells = np.frombuffer(state["cell_bytes"], "<i4").reshape(-1, 2)
    faces = np.stack([pairs.i, pairs.j], axis=1)
    assert cells.shape == faces.shape
    for cell in np.unique(cells):
        assert len(np.unique(faces[cells == cell])) == 1
    sheet = Image.open(io.BytesIO(state["sheet_jpeg"]))
    columns = state["sheet_columns"]
    assert sheet.size[0] == columns * 24 and sheet.size[1] >= (cells.max() // columns + 1) * 24
    # The embedded page's state (base64 buffers) decodes to the same bytes.
    from ipywidgets.embed import dependency_state
    embedded = dependency_state(w)[w.model_id]
    buffers = {tuple(b["path"]): base64.b64decode(b["data"]) for b in embedded["buffers"]}
    assert buffers[("distance_bytes",)] == state["distance_bytes"]
    assert w.stats == metrics.operating_point(d, pairs.same, named["EER"])
    assert "BrowserThresholdExplorer: 1500 pairs" in repr(w)


def test_threshold_from_python_is_kept_exactly_and_clipped(data):
    pairs, d = data
    w = BrowserThresholdExplorer(d, pairs.same)
    far_1 = metrics.threshold_for_far(d, pairs.same, 0.01)
    w.set_threshold(far_1)
    assert w.threshold == far_1 and w.stats["far"] <= 0.01
    w.set_threshold(-np.inf)
    assert w.threshold == w.slider_min
    w.threshold = 0.75
    assert w.get_state()["threshold"] == 0.75
    with pytest.raises(ValueError, match="NaN"):
        w.set_threshold(float("nan"))
    with pytest.raises(Exception, match="finite"):
        w.threshold = float("inf")


def test_bad_input_is_refused_with_a_reason(data):
    pairs, d = data
    with pytest.raises(ValueError, match="both same-person and different-person"):
        BrowserThresholdExplorer(d, np.ones(len(d), bool))
    with pytest.raises(ValueError, match="pairs has"):
        BrowserThresholdExplorer(d[:-1], pairs.same[:-1], pairs=pairs)
    with pytest.raises(ValueError, match="n_examples"):
        BrowserThresholdExplorer(d, pairs.same, n_examples=-1)
    with pytest.raises(TypeError, match="tune"):
        BrowserThresholdExplorer(d, pairs.same, tune=d)


def test_tune_chooses_the_buttons_on_other_pairs(data):
    pairs, d = data
    w = BrowserThresholdExplorer(d[::2], pairs.same[::2], tune=(d[1::2], pairs.same[1::2]))
    assert w.chosen_on == "validation" and w.named == metrics.named_thresholds(d[1::2], pairs.same[1::2])


# ----------------------------------------------------------------------------------- in Chromium
def npm_tarball(name: str, version: str) -> Path:
    """``.cache/web/<name>-<version>.tgz`` from ``npm pack`` (once); skips when it cannot be fetched."""
    path = CACHE / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if path.exists():
        return path
    if shutil.which("npm") is None:
        pytest.skip(f"npm is not installed: cannot fetch {name}@{version} for the offline page")
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(CACHE),
                               "--fetch-retries=0", "--fetch-timeout=30000", "--silent"],
                              capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip(f"fetching {name}@{version} from npm timed out (no network?)")
    if done.returncode != 0 or not path.exists():
        pytest.skip(f"could not fetch {name}@{version} from npm: {(done.stderr or done.stdout).strip()[-200:]}")
    return path


def unpack(tgz: Path, dest: Path, keep: str) -> None:
    """The files under ``package/<keep>`` of an npm tarball, into ``dest``."""
    with tarfile.open(tgz) as tar:
        for m in tar.getmembers():
            rel = m.name.split("/", 1)[1]
            if m.isfile() and rel.startswith(keep):
                target = dest / Path(rel).relative_to(keep) if keep.endswith("/") else dest / Path(rel).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(m).read())


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """A folder with ``vendor/require.js`` and ``vendor/html-manager/embed-amd.js`` (and its fonts)."""
    from coursekit.webassets import AssetError, tarball
    folder = tmp_path_factory.mktemp("explorer-page")
    try:
        unpack(tarball("requirejs"), folder / "vendor", "require.js")
    except AssetError as err:
        pytest.skip(f"require.js unavailable: {err}")
    unpack(npm_tarball(*HTML_MANAGER), folder / "vendor" / "html-manager", "dist/")
    return folder


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--headless=new", "--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


# Move the slider to step k as a drag does (value, then an input event); what the page computed.
MOVE = """
(k) => {
  const slider = document.querySelector('input.cu-threshold');
  slider.value = String(k);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  return {...document.querySelector('.cu-browser-explorer').dataset};
}
"""


def test_the_page_computes_what_metrics_computes(data, vendor, browser):
    pairs, d = data
    same = pairs.same
    w = BrowserThresholdExplorer(d, same, pairs=pairs, n_examples=6, title="offline page")
    page_file = standalone_html(w, vendor / "explorer.html", requirejs_url="vendor/require.js",
                                embed_url="vendor/html-manager/embed-amd.js")
    context, page, blocked = local_only_page(browser, 1100, 800)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_selector(".cu-browser-explorer[data-faces='loaded']", state="attached", timeout=60_000)
        start = page.evaluate("() => ({...document.querySelector('.cu-browser-explorer').dataset})")
        assert float(start["threshold"]) == w.threshold                        # the EER, exactly
        steps = sorted(set(SNAPPED) | {0, 1000, 13, 188, 455, 547, 666, 812, 950, 999})
        assert len(steps) == 20
        lo, step = w.slider_min, w.slider_step
        for k in steps:
            shown = move_and_check(page, MOVE, k, lo, step, d, same)
            t = float(shown["threshold"])
            assert [int(i) for i in shown["examples"].split(",")] == metrics.flipping_pairs(d, same, t, 6).tolist()
        ties = [k for k in SNAPPED if np.any(d == lo + k * step)]
        assert len(ties) == len(SNAPPED)                                       # ties were really met
        # A button sets the exact threshold (a distance: FAR = 1% accepts it, as distance <= τ does).
        page.click("button:text-is('FAR = 1%')")
        shown = page.evaluate("() => ({...document.querySelector('.cu-browser-explorer').dataset})")
        assert float(shown["threshold"]) == w.named["FAR = 1%"]
        assert float(shown["far"]) == metrics.operating_point(d, same, w.named["FAR = 1%"])["far"] <= 0.01
    finally:
        context.close()
    assert not blocked, f"the page tried to reach the network: {blocked[:3]}"
    assert not errors, errors
