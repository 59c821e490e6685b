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
