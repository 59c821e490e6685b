"""Pages for the browser tests that may load only local files (the decks, the standalone explorer)."""
from __future__ import annotations


def local_only_page(browser, width: int, height: int, javascript: bool = True):
    """``(context, page, blocked)``: a ``width``×``height`` page whose every request other than a
    ``file:`` URL is refused and its URL recorded in ``blocked`` (so "works offline" can be tested)."""
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=javascript)
    blocked = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context, context.new_page(), blocked


CHROMIUM = "/usr/bin/chromium"


def chromium():
    """A context manager giving Debian's Chromium through Playwright (headless, no sandbox, no
    background requests); skips the test, saying why, when either is missing."""
    import contextlib
    import os

    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed")

    @contextlib.contextmanager
    def launched():
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--headless=new", "--no-sandbox", "--disable-background-networking"])
            try:
                yield browser
            finally:
                browser.close()

    return launched()


def move_and_check(page, move, k: int, lo: float, step: float, d, same) -> dict:
    """Move the threshold explorer's slider to step ``k`` with the page function ``move`` (it
    returns the explorer's ``data-*`` read-out), check that τ is the grid value ``lo + k·step`` and
    that FAR, FRR, TAR and accuracy (to 1e-9) and the four counts (exactly) equal
    :func:`course_utils.metrics.operating_point` of ``(d, same)`` at τ; return the read-out."""
    import math

    from course_utils import metrics

    shown = page.evaluate(move, k)
    t = float(shown["threshold"])
    assert t == lo + k * step, (k, t)
    expected = metrics.operating_point(d, same, t)
    for rate in ("far", "frr", "tar", "accuracy"):
        got = float(shown[rate])
        assert (math.isnan(got) and math.isnan(expected[rate])) or abs(got - expected[rate]) <= 1e-9, (k, rate, got, expected[rate])
    assert [int(shown[c]) for c in ("tp", "fp", "tn", "fn")] == [expected[c] for c in ("tp", "fp", "tn", "fn")]
    return shown
