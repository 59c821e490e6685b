"""Lesson 8's browser threshold explorer works in the decks and on the website: offline, no kernel.

A small executed notebook (a BrowserThresholdExplorer output, as nbval or nbclient leave it, next to
a kernel-driven widget that must stay a picture) is built into a deck and a site page with
``--offline``; Chromium opens them with every network request blocked, the slider is moved and
the numbers the page shows are compared with :mod:`course_utils.metrics` on the distances decoded
from the page's own saved widget state. The last test does the same with lesson 8's executed copy
in ``build/executed/solutions`` (left there by ``python3 course.py test``).

The browser tests skip, saying why, when Chromium, Playwright or the npm tarballs (``.cache/web``,
fetched once with ``npm pack``) are missing.
"""
from __future__ import annotations

import base64
import copy

import nbformat
import numpy as np
import pytest

from course_utils.widgets.explorer_js import STATE_MIME, BrowserThresholdExplorer
from coursekit import decks, publish

from browser_pages import chromium, local_only_page, move_and_check
from test_decks import image_output, offline_assets, png  # noqa: F401 (offline_assets: a fixture)
from test_widget_browser_explorer import MOVE, ROOT, verification_set

LESSON_8 = ROOT / "build" / "executed" / "solutions" / "08_choosing_a_threshold.ipynb"
STEPS = (0, 13, 137, 250, 333, 455, 500, 611, 777, 999, 1000)    # slider steps (k of 0…1000)
READ = "() => ({...document.querySelector('.cu-browser-explorer').dataset})"


# ------------------------------------------------------------------------------ a small executed lesson
def explorer_lesson(widget: BrowserThresholdExplorer, state_in_metadata: bool = False) -> nbformat.NotebookNode:
    """Title, the explorer's output (its bundle as the kernel displays it), a kernel-driven widget
    (a view of a model whose state was never saved, next to its PNG). ``state_in_metadata``: the
    notebook's saved widget state holds the explorer too, as nbclient stores it."""
    data, _ = widget._repr_mimebundle_()
    live = nbformat.v4.new_code_cell("fast = widgets.BrowserThresholdExplorer(d, same, pairs=pairs)\nfast",
                                     metadata={"slideshow": {"slide_type": "slide"}})
    live.outputs = [nbformat.v4.new_output("execute_result", data=copy.deepcopy(data), execution_count=1)]
    static = nbformat.v4.new_code_cell("widgets.threshold_explorer(d, same)",
                                       metadata={"slideshow": {"slide_type": "slide"}})
    static.outputs = [image_output(png(8, 4), widget=True)]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Lesson 98 — explorer test\n\nShort intro.", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell("## 1. The explorer\n\nMove the slider.", metadata={"slideshow": {"slide_type": "slide"}}),
        live, static])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if state_in_metadata:
        nb.metadata["widgets"] = {STATE_MIME: data[STATE_MIME]}
    return nb


def explorer_data(nb) -> tuple[np.ndarray, np.ndarray, dict]:
    """(distances, same, state) of the one live explorer in a page-ready notebook's saved state:
    the numbers the page itself receives, decoded here independently of the widget."""
    states = nb.metadata["widgets"][decks.WIDGET_STATE]["state"]
    [model] = [m for m in states.values() if m["state"].get("_anywidget_id") in decks.live_widget_ids()]
    buffers = {b["path"][0]: base64.b64decode(b["data"]) for b in model["buffers"]}
    return (np.frombuffer(buffers["distance_bytes"], "<f8"), np.frombuffer(buffers["same_bytes"], np.uint8).astype(bool),
            model["state"])


@pytest.fixture(scope="module")
def explorer():
    pairs, d = verification_set()
    return BrowserThresholdExplorer(d, pairs.same, pairs=pairs, n_examples=6, title="deck test")


# ------------------------------------------------------------------------------ no browser
@pytest.mark.parametrize("state_in_metadata", [False, True], ids=["state in the output", "state in metadata"])
def test_the_explorer_stays_live_with_just_the_state_it_needs(explorer, state_in_metadata):
    nb = explorer_lesson(explorer, state_in_metadata)
    # The kernel-driven widget's state was saved too (nbclient saves every widget): it must not travel.
    nb.metadata.setdefault("widgets", {STATE_MIME: {"version_major": 2, "version_minor": 0, "state": {}}})
    nb.metadata["widgets"][STATE_MIME]["state"]["abc"] = {"model_name": "ImageModel", "state": {"value": "x" * 1000}}
    page = decks.page_widgets(nb)
    live, static = page.cells[2].outputs[0].data, page.cells[3].outputs[0].data
    assert decks.WIDGET_VIEW in live and STATE_MIME not in live          # the view stays, the output's copy goes
    assert decks.WIDGET_VIEW not in static and "image/png" in static      # kernel-driven: its picture
    kept = page.metadata["widgets"][STATE_MIME]["state"]
    layout = explorer.layout.model_id
    assert set(kept) == {explorer.model_id, layout}                       # the explorer and its layout only
    d, same, state = explorer_data(page)
    assert np.array_equal(d, explorer.distances) and np.array_equal(same, explorer.same)
    assert state["slider_min"] == explorer.slider_min and state["threshold"] == explorer.threshold


def test_a_view_without_its_state_becomes_a_note(explorer):
    nb = explorer_lesson(explorer)
    data = nb.cells[2].outputs[0].data
    del data[STATE_MIME]["state"][explorer.layout.model_id]               # a dependency was not saved
    page = decks.page_widgets(nb)
    assert page.cells[2].outputs[0].data == {"text/plain": decks.NO_WIDGET_TEXT}
    assert "widgets" not in page.metadata


def test_a_live_explorer_gets_a_slide_of_its_own(explorer):
    laid = decks.projector_layout(explorer_lesson(explorer))
    cell = next(c for c in laid.cells if c.cell_type == "code" and decks.WIDGET_VIEW in c.outputs[0].get("data", {}))
    assert cell.metadata["slideshow"]["slide_type"] in ("slide", "subslide")


# ------------------------------------------------------------------------------ in Chromium
@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def moves_match_metrics(browser, page_file, d, same, state, steps=STEPS, reveal=False) -> dict:
    """Open ``page_file`` with the network blocked, move the explorer's slider to ``steps`` and
    compare each read-out with ``course_utils.metrics.operating_point``; return the last read-out."""
    context, page, blocked = local_only_page(browser, decks.WIDTH, decks.HEIGHT)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(page_file.resolve().as_uri())
        page.wait_for_selector(".cu-browser-explorer[data-faces='loaded']", state="attached", timeout=60_000)
        if reveal:                             # show the explorer's slide, as the presenter would
            page.wait_for_function("document.querySelector('.reveal.ready') && window.Reveal", timeout=60_000)
            page.evaluate("() => { const i = Reveal.getIndices(document.querySelector('.cu-browser-explorer')"
                          ".closest('section')); Reveal.slide(i.h, i.v || 0); }")
            page.wait_for_selector("input.cu-threshold", state="visible", timeout=10_000)
            box = page.evaluate("() => { const s = Reveal.getCurrentSlide(); return [s.scrollWidth, s.scrollHeight]; }")
            assert box[0] <= decks.WIDTH and box[1] <= decks.HEIGHT, f"the explorer's slide is {box} px"
        start = page.evaluate(READ)
        assert float(start["threshold"]) == state["threshold"]
        lo, step, shown_before = state["slider_min"], state["slider_step"], None
        for k in steps:
            shown = move_and_check(page, MOVE, k, lo, step, d, same)
            if shown_before is not None:       # the read-out really changes as the slider moves
                assert shown["threshold"] != shown_before["threshold"] and shown["draws"] != shown_before["draws"]
            shown_before = shown
        assert len({page.evaluate(MOVE, k)["fp"] for k in (0, 500, 1000)}) == 3
    finally:
        context.close()
    assert not blocked, f"the page asked the network for {blocked[:3]}"
    assert not errors, errors
    return shown


def test_the_offline_deck_explorer_computes_what_metrics_computes(tmp_path, explorer, browser, offline_assets):
    src = tmp_path / "98_explorer.ipynb"
    nbformat.write(explorer_lesson(explorer), src)
    out = publish.build_slides(offline=True, out=tmp_path / "slides", sources=[src])
    deck = out / "98_explorer.slides.html"
    page_nb = decks.page_widgets(explorer_lesson(explorer))
    moves_match_metrics(browser, deck, *explorer_data(page_nb), reveal=True)
    text = deck.read_text()
    assert "vendor/@jupyter-widgets/html-manager/dist/embed-amd.js" in text and 'define("anywidget"' in text
    assert text.count(f'<script type="{decks.WIDGET_VIEW}">') == 1      # the kernel-driven widget is a picture


def test_the_offline_site_explorer_computes_what_metrics_computes(tmp_path, explorer, browser, offline_assets):
    src = tmp_path / "98_explorer.ipynb"
    nbformat.write(explorer_lesson(explorer, state_in_metadata=True), src)
    out = publish.build_site(offline=True, out=tmp_path / "site", sources=[src])
    page_nb = decks.page_widgets(explorer_lesson(explorer, state_in_metadata=True))
    moves_match_metrics(browser, out / "98_explorer.html", *explorer_data(page_nb))


def lesson_8_has_a_live_explorer() -> bool:
    if not LESSON_8.exists():
        return False
    return "widgets" in decks.page_widgets(nbformat.read(LESSON_8, as_version=4)).metadata


@pytest.mark.skipif(not lesson_8_has_a_live_explorer(), reason=(
    "no executed lesson 8 with the browser explorer's state in build/executed/solutions: run "
    "`COURSE_QUICK=1 COURSE_DATASET=synthetic python -m pytest solutions/08_choosing_a_threshold.ipynb --nbval-lax` first"))
def test_lesson_8_deck_and_site_explorer_work_offline(tmp_path, browser, offline_assets):
    page_nb = decks.page_widgets(nbformat.read(LESSON_8, as_version=4))
    data = explorer_data(page_nb)
    out = publish.build_slides(offline=True, out=tmp_path / "slides", sources=[LESSON_8])
    moves_match_metrics(browser, out / f"{LESSON_8.stem}.slides.html", *data, steps=(0, 250, 500, 750, 1000), reveal=True)
    site = publish.build_site(offline=True, instructor=True, out=tmp_path / "site", sources=[LESSON_8])
    moves_match_metrics(browser, site / f"{LESSON_8.stem}.html", *data, steps=(0, 400, 1000))


def test_without_offline_the_widget_manager_comes_from_the_cdn_in_the_tested_version(tmp_path, explorer):
    from course_utils.widgets.explorer_js import EMBED_AMD_URL
    src = tmp_path / "98_explorer.ipynb"
    nbformat.write(explorer_lesson(explorer), src)
    deck = publish.build_slides(out=tmp_path / "slides", sources=[src]) / "98_explorer.slides.html"
    site = publish.build_site(out=tmp_path / "site", sources=[src]) / "98_explorer.html"
    for page in (deck, site):
        text = page.read_text()
        assert f"'{EMBED_AMD_URL}'" in text and "html-manager@1.0.15" in EMBED_AMD_URL
        assert text.index('define("anywidget"') < text.index("</head>")   # inlined, after require.js
        assert text.index("require.js") < text.index('define("anywidget"')
