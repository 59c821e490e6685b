"""Decks fit a 1280×720 projector, offline builds render with no network, the student site
holds no instructor material.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``) through Playwright and skip,
saying why, when either is missing. Offline builds need the npm tarballs in ``.cache/web`` (fetched
once from the npm registry); the tests skip when they cannot be fetched.
"""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest

from coursekit import decks
from coursekit import publish

from browser_pages import local_only_page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
EXECUTED = ROOT / "build" / "executed" / "solutions"


# ------------------------------------------------------------------------------ a test lesson
def png(width_in: float, height_in: float, dpi: int = 100) -> str:
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    fig.add_subplot().plot([0, 1, 2], [0, 1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def image_output(b64: str, widget: bool = False):
    data = {"image/png": b64, "text/plain": "<Figure>"}
    if widget:
        data[decks.WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    return nbformat.v4.new_output("display_data", data=data)


def slide(kind: str) -> dict:
    return {"slideshow": {"slide_type": kind}}


def tall_lesson() -> nbformat.NotebookNode:
    """Everything that overflowed a projector in the real lessons, in one small notebook."""
    paragraphs = "\n\n".join(f"Paragraph {k}: " + "words " * 60 for k in range(14))
    long_code = "\n".join(f"value_{k} = {k} * 2  # a line of setup code" for k in range(30))
    table = "| step | what |\n|---|---|\n" + "\n".join(f"| {k} | row {k} of a long recipe table |" for k in range(22))
    code = nbformat.v4.new_code_cell(long_code, metadata=slide("-"))
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"line {k}\n" for k in range(80)))]
    figs = nbformat.v4.new_code_cell("plot_two_figures()", metadata=slide("-"))
    figs.outputs = [image_output(png(9, 7)), image_output(png(9, 7))]
    widget = nbformat.v4.new_code_cell("explorer = widgets.threshold_explorer(...)", metadata=slide("slide"))
    widget.outputs = [image_output(png(8, 4), widget=True)]
    cells = [
        nbformat.v4.new_markdown_cell("# Lesson 99 — A test lesson\n\nShort intro.", metadata=slide("slide")),
        nbformat.v4.new_markdown_cell("*Live demo:* ask first.", metadata=slide("notes")),
        nbformat.v4.new_markdown_cell("## 1. A long section\n\n" + paragraphs, metadata=slide("slide")),
        code,
        nbformat.v4.new_markdown_cell("## 2. Equations and a table\n\nThe loss $\\max(d_{ap} - d_{an} + \\alpha, 0)$:\n\n"
                                      "$$L = \\sum_i \\max(\\|a_i - p_i\\|^2 - \\|a_i - n_i\\|^2 + \\alpha, 0)$$\n\n" + table,
                                      metadata=slide("slide")),
        figs,
        widget,
        nbformat.v4.new_markdown_cell("## Key takeaways\n\n- one\n- two", metadata=slide("slide")),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


# ------------------------------------------------------------------------------ layout rules (no browser)
def test_layout_splits_hides_and_moves_figures():
    laid = decks.projector_layout(tall_lesson(), {1: ["Plan for section 1"], -1: ["Questions"]})
    kinds = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in laid.cells]
    sources = [c.source for c in laid.cells]
    # the long markdown became several sub-slides, each short enough
    parts = [c for c in laid.cells if c.cell_type == "markdown" and "Paragraph" in c.source]
    assert len(parts) >= 2 and all(decks.markdown_height(c.source) <= decks.BUDGET for c in parts)
    # the 30-line input is hidden on the slide and kept in a speaker note
    code = next(c for c in laid.cells if c.cell_type == "code" and "value_0" in c.source)
    assert "deck-hide-input" in code.metadata["tags"] and "deck-scroll" in code.metadata["tags"]
    assert any(k == "notes" and "value_29 = 29 * 2" in s for k, s in zip(kinds, sources))
    # two figures of one cell → two cells, the second on its own sub-slide
    fig_cells = [c for c in laid.cells if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(fig_cells) == 3
    assert fig_cells[1].metadata["slideshow"]["slide_type"] == "subslide"
    # per-section notes from the guide, and the lesson's own notes kept
    assert any(k == "notes" and "Plan for section 1" in s for k, s in zip(kinds, sources))
    assert kinds[-1] == "notes" and "Questions" in sources[-1]
    assert any(k == "notes" and "Live demo" in s for k, s in zip(kinds, sources))


def test_widgets_keep_their_picture_and_lose_the_view():
    nb = decks.page_widgets(tall_lesson())
    out = nb.cells[6].outputs[0]
    assert "image/png" in out.data and decks.WIDGET_VIEW not in out.data
    assert "widgets" not in nb.metadata


def test_guide_notes_follow_the_sections_named_in_the_guide():
    guide = (ROOT / "instructor" / "guide.md").read_text()
    nb = nbformat.read(ROOT / "solutions" / "04_triplet_loss.ipynb", as_version=4)
    notes = decks.guide_notes(guide, "04_triplet_loss", decks.lesson_headings(nb))
    assert any("heat map" in t for t in notes[3])
    assert any("Exercise 1" in t for t in notes[4])          # found through the section's heading
    assert any("Discussion questions" in t for t in notes[-1])
    assert decks.guide_notes(guide, "99_no_such_lesson") == {}


def test_every_lesson_gets_notes_on_several_sections():
    guide = (ROOT / "instructor" / "guide.md").read_text()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        notes = decks.guide_notes(guide, path.stem, decks.lesson_headings(nb))
        assert len([k for k in notes if k > 0]) >= 2, f"{path.name}: speaker notes for fewer than 2 sections"


def test_notes_are_hidden_by_css_not_only_by_reveal():
    assert ".reveal aside.notes { display: none !important; }" in decks.DECK_CSS


# ------------------------------------------------------------------------------ browser
def _browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--headless=new", "--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def offline_assets():
    from coursekit.webassets import AssetError, PACKAGES, tarball
    try:
        for name in PACKAGES:
            tarball(name)
    except AssetError as err:
        pytest.skip(f"offline assets unavailable: {err}")


def offline_page(browser, javascript: bool = True):
    """A 1280×720 page that can load only local files: every network request is blocked and recorded."""
    return local_only_page(browser, decks.WIDTH, decks.HEIGHT, javascript)


MEASURE = """
() => {
  const out = [];
  for (const s of Reveal.getSlides()) {
    const i = Reveal.getIndices(s);
    Reveal.slide(i.h, i.v || 0, 99);
    out.push({h: i.h, v: i.v || 0, height: s.scrollHeight, width: s.scrollWidth,
              text: (s.innerText || '').trim().slice(0, 50).replace(/\\n/g, ' ')});
  }
  return out;
}
"""


def measure_deck(browser, path: Path) -> tuple[list[dict], list[str]]:
    context, page, blocked = offline_page(browser)
    try:
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.querySelector('.reveal.ready') && window.Reveal", timeout=60_000)
        return page.evaluate(MEASURE), blocked
    finally:
        context.close()


def too_big(slides: list[dict]) -> list[dict]:
    return [s for s in slides if s["height"] > decks.HEIGHT or s["width"] > decks.WIDTH]


def test_test_lesson_fits_and_renders_offline(tmp_path, browser, offline_assets):
    src = tmp_path / "99_test_lesson.ipynb"
    nbformat.write(tall_lesson(), src)
    out = publish.build_slides(offline=True, out=tmp_path / "slides", sources=[src])
    deck = out / "99_test_lesson.slides.html"
    # Without the layout rules the same notebook overflows (the test can fail).
    plain = out / "plain.slides.html"      # next to vendor/
    from nbconvert import SlidesExporter
    from coursekit.webassets import bundle
    urls = bundle(out)
    body, _ = SlidesExporter(reveal_url_prefix=urls.pop("reveal_url_prefix"), reveal_width="1280",
                             reveal_height="720", **urls).from_notebook_node(tall_lesson())
    plain.write_text(decks.finish_deck_html(body))
    plain_slides, _ = measure_deck(browser, plain)
    assert too_big(plain_slides), "the test lesson should overflow without the layout rules"

    slides, blocked = measure_deck(browser, deck)
    assert len(slides) >= 8
    assert not too_big(slides), too_big(slides)
    assert not blocked, f"the offline deck asked the network for {blocked}"

    context, page, blocked = offline_page(browser)
    page.goto(deck.resolve().as_uri())
    page.wait_for_function("document.querySelector('.reveal.ready') && window.Reveal", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('.MathJax_CHTML, mjx-container').length > 0", timeout=30_000)
    assert page.evaluate("[...document.querySelectorAll('aside.notes')].every(n => getComputedStyle(n).display === 'none')")
    context.close()


def test_notes_stay_hidden_when_scripts_fail(tmp_path, browser):
    src = tmp_path / "99_test_lesson.ipynb"
    nbformat.write(tall_lesson(), src)
    out = publish.build_slides(out=tmp_path / "slides", sources=[src])   # CDN build, no network here
    context, page, blocked = offline_page(browser, javascript=False)
    page.goto((out / "99_test_lesson.slides.html").resolve().as_uri())
    notes = page.evaluate("[...document.querySelectorAll('aside.notes')].map(n => getComputedStyle(n).display)")
    assert notes and set(notes) == {"none"}
    assert "Lesson 99" in page.inner_text("body") and "ask first" not in page.inner_text("body")
    context.close()


def test_offline_site_shows_equations_and_widget_pictures(tmp_path, browser, offline_assets):
    src = tmp_path / "99_test_lesson.ipynb"
    nbformat.write(tall_lesson(), src)
    out = publish.build_site(offline=True, out=tmp_path / "site", sources=[src])
    context, page, blocked = offline_page(browser)
    page.goto((out / "99_test_lesson.html").resolve().as_uri())
    page.wait_for_function("document.querySelectorAll('.MathJax_CHTML, mjx-container').length >= 2", timeout=30_000)
    assert "$$" not in page.inner_text("body")
    sizes = page.evaluate("[...document.querySelectorAll('.jp-OutputArea-output img')].map(i => [i.naturalWidth, i.offsetHeight])")
    assert len(sizes) == 3 and all(w > 0 and h > 0 for w, h in sizes)     # two figures + the widget's PNG
    assert not blocked, f"the offline site asked the network for {blocked}"
    context.close()


@pytest.mark.skipif(not any(EXECUTED.glob("*.ipynb")), reason=(
    "no executed lessons in build/executed/solutions: run `python3 course.py test` or "
    "`python3 course.py slides --execute` first"))
def test_every_slide_of_every_deck_fits_1280x720(tmp_path, browser, offline_assets):
    sources = sorted(EXECUTED.glob("*.ipynb"))
    out = publish.build_slides(offline=True, out=tmp_path / "slides", sources=sources)
    report, failures = [], []
    for src in sources:
        slides, blocked = measure_deck(browser, out / f"{src.stem}.slides.html")
        report.append(f"{src.stem}: {len(slides)} slides")
        failures += [f"{src.stem} slide {s['h']}.{s['v']} is {s['width']}×{s['height']} px: {s['text']}"
                     for s in too_big(slides)]
        assert not blocked, f"{src.stem} asked the network for {blocked}"
    print("\n".join(report))
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------ student vs instructor site
@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Both sites from the committed notebooks (not executed: the test is about what is published)."""
    tmp = tmp_path_factory.mktemp("sites")
    student = publish.build_site(out=tmp / "site", sources=sorted((ROOT / "notebooks").glob("*.ipynb")))
    instructor = publish.build_site(instructor=True, out=tmp / "instructor-site",
                                    sources=sorted((ROOT / "solutions").glob("0[45]*.ipynb")))
    return student, instructor


def test_student_site_holds_no_instructor_material(sites):
    student, _ = sites
    assert not (student / "instructor-guide.html").exists()
    guide_lines = [l for l in (ROOT / "instructor" / "guide.md").read_text().splitlines()
                   if l.startswith("**Common misconceptions")]
    assert guide_lines
    for page in student.glob("*.html"):
        text = page.read_text()
        if page.name != "index.html":      # the README names the markers when it explains authoring
            assert "BEGIN SOLUTION" not in text, page.name
        assert "Live demo" not in text, page.name
        assert "Common misconceptions" not in text, page.name
        assert "instructor-guide.html" not in text, page.name


def test_links_between_pages_are_not_broken(sites):
    for site in sites:
        for page in site.glob("*.html"):
            for href in re.findall(r"href=['\"]([^'\"#:]+\.(?:html|md|ipynb))['\"]", page.read_text()):
                assert (site / href).exists(), f"{site.name}/{page.name} links to missing {href}"


def test_instructor_site_has_the_guide_and_the_solutions(sites):
    _, instructor = sites
    assert "Common misconceptions" in (instructor / "instructor-guide.html").read_text()
    assert "instructor-guide.html" in (instructor / "index.html").read_text()
    assert any("BEGIN SOLUTION" in p.read_text() for p in instructor.glob("0*.html"))


def test_offline_build_without_npm_or_cache_says_what_to_do(tmp_path, monkeypatch):
    from coursekit import webassets
    monkeypatch.setattr(webassets.shutil, "which", lambda name: None)
    with pytest.raises(webassets.AssetError, match=r"`npm` is not installed.*npm pack reveal.js@4.6.1"):
        webassets.tarball("reveal.js", cache=tmp_path / "empty-cache")


def test_tall_lists_and_tables_without_blank_lines_are_cut_between_items():
    refs = nbformat.v4.new_markdown_cell("## References\n" + "\n".join(f"- Reference {k}: " + "word " * 40 for k in range(20)))
    table = nbformat.v4.new_markdown_cell("| a | b |\n|---|---|\n" + "\n".join(f"| {k} | x |" for k in range(40)))
    for cell in (refs, table):
        parts = decks._split_markdown(cell)
        assert len(parts) >= 2 and all(decks.markdown_height(p.source) <= decks.BUDGET for p in parts)
        body = [l for p in parts for l in p.source.splitlines() if not l.startswith(("| a |", "|---"))]
        original = [l for l in cell.source.splitlines() if not l.startswith(("| a |", "|---"))]
        assert body == original                       # nothing lost, nothing reordered
    assert all(p.source.startswith("| a | b |\n|---|---|") for p in decks._split_markdown(table))
