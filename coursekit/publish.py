"""Slide decks and the course websites, built from the notebooks themselves (no second copy).

    python3 course.py slides [--execute] [--student] [--offline] [--reveal-prefix URL]  → build/slides/
    python3 course.py site   [--execute] [--offline]            → build/site/ (students)
    python3 course.py site --instructor [--execute] [--offline] → build/instructor-site/

Both read *executed* notebooks. ``python3 course.py test`` leaves executed copies of every
notebook in ``build/executed/`` (captured while nbval runs them), so after a test run nothing
is executed twice; ``--execute`` runs the notebooks afresh instead, with the caller's
``COURSE_DATASET`` / ``COURSE_QUICK`` (unset: synthetic faces, quick mode) — e.g.
``COURSE_DATASET=lfw COURSE_QUICK=0`` after lesson 6 trained the real encoder. Nothing in
``build/`` is committed.

Slides use nbconvert's reveal.js exporter and the cells' ``slideshow`` metadata, laid out for a
1280×720 projector by ``coursekit.decks`` (sub-slides, hidden long code, figures on their own
slides, speaker notes per section from the instructor guide — press ``s``). ``--offline``
bundles reveal.js, require.js, jQuery, MathJax and the HTML widget manager into the build folder
(``coursekit.webassets``; fetched once from the npm registry). Lesson 8's browser threshold
explorer stays live in decks and site (its state is embedded in the page, its maths runs there);
the kernel-driven widgets appear as their saved pictures (``coursekit.decks.page_widgets``).
The student site holds the README and the student lessons; the instructor site adds the guide
and the authored lessons with their solutions.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

from course_utils.config import REPO_ROOT
from course_utils.progress import Countdown

BUILD = REPO_ROOT / "build"
EXECUTED = BUILD / "executed"
DEFAULT_REVEAL = "https://unpkg.com/reveal.js@4.6.1"


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return re.sub(r"[*_`]", "", m.group(1)).strip()
    return fallback


def executed_notebooks(version: str, execute: bool) -> list[Path]:
    """Executed copies of ``solutions/`` or ``notebooks/`` (running them first if asked or missing)."""
    src_dir = REPO_ROOT / version
    out_dir = EXECUTED / version
    sources = sorted(src_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"No notebooks in {src_dir}.")
    missing = [s for s in sources if not (out_dir / s.name).exists()]
    if execute or missing:
        from coursekit.authoring import execute as run, run_settings
        out_dir.mkdir(parents=True, exist_ok=True)
        settings = " ".join(f"{k}={v}" for k, v in run_settings(caller=True).items())
        print(f"Executing with {settings} (set COURSE_DATASET / COURSE_QUICK to change).", flush=True)
        todo = sources if execute else missing
        countdown = Countdown(len(todo), "executed")
        for src in todo:
            print(f"executing {src.relative_to(REPO_ROOT)} ({countdown.starting()}) ...", flush=True)
            nbformat.write(run(src, caller_settings=True), out_dir / src.name)
            countdown.step()
    return [out_dir / s.name for s in sources]


def build_slides(execute: bool = False, student: bool = False, reveal_prefix: str = DEFAULT_REVEAL,
                 assets: str | None = None, offline: bool = False, out: Path | None = None,
                 sources: list[Path] | None = None) -> Path:
    """Decks in ``build/slides``, laid out for a 1280×720 projector (``coursekit.decks``).
    ``offline``: reveal.js, require.js, jQuery, MathJax and the widget manager are bundled into
    ``build/slides/vendor`` (fetched once with ``npm pack``, see ``coursekit.webassets``).
    ``assets``: a folder (relative to the decks) holding ``require.js`` and ``jquery.min.js``
    (older manual way). ``out`` and ``sources`` (executed notebooks) replace ``build/slides`` and
    ``build/executed`` (tests)."""
    from nbconvert import SlidesExporter

    from coursekit import decks

    out = Path(out or BUILD / "slides")
    out.mkdir(parents=True, exist_ok=True)
    extra = {"require_js_url": f"{assets}/require.js", "jquery_url": f"{assets}/jquery.min.js"} if assets else {}
    # Without --offline the widget manager comes from the CDN, in the version the explorer is tested with.
    extra["widget_renderer_url"] = _embed_amd_url()
    if offline:
        from coursekit.webassets import bundle
        extra = bundle(out)
        reveal_prefix = extra.pop("reveal_url_prefix")
    exporter = SlidesExporter(reveal_url_prefix=reveal_prefix, reveal_scroll=False, reveal_number="c/t",
                              reveal_width=str(decks.WIDTH), reveal_height=str(decks.HEIGHT), reveal_theme="white",
                              exclude_input_prompt=True, exclude_output_prompt=True, **extra)
    guide = REPO_ROOT / "instructor" / "guide.md"
    guide_text = guide.read_text() if guide.exists() else ""
    links = []
    decks_in = sources or executed_notebooks("notebooks" if student else "solutions", execute)
    countdown = Countdown(len(decks_in), "decks")
    for path in decks_in:
        nb = nbformat.read(path, as_version=4)
        notes = decks.guide_notes(guide_text, path.stem, decks.lesson_headings(nb))
        body, _ = exporter.from_notebook_node(decks.projector_layout(nb, notes))
        target = out / f"{path.stem}.slides.html"
        target.write_text(decks.finish_deck_html(body))
        links.append((target.name, _title(nb, path.stem)))
        print(f"slides: {target}  [{countdown.step()}]")
    _write_index(out, "Slide decks — FaceNet from scratch", links,
                 "Open a deck; arrow keys move (→ next section, ↓ the rest of a section), <kbd>s</kbd> opens "
                 "speaker notes, <kbd>Esc</kbd> the overview. Lesson 8's browser threshold explorer works in "
                 "its deck; the other widgets are shown as pictures: for a live demo of those switch to the "
                 "notebook in JupyterLab.")
    return out


def build_site(execute: bool = False, solutions: bool = False, instructor: bool = False,
               offline: bool = False, out: Path | None = None, sources: list[Path] | None = None) -> Path:
    """The student website in ``build/site`` (student notebooks, README; no guide, no answers),
    or with ``instructor=True`` the instructor website in ``build/instructor-site`` (the guide
    and the authored lessons with their solutions). ``solutions`` alone is kept as a synonym of
    ``instructor`` so that a student site never holds answers. ``offline``: MathJax, require.js,
    jQuery and the widget manager are bundled into the site's ``vendor/`` folder."""
    from nbconvert import HTMLExporter
    from nbconvert.filters import markdown2html

    from coursekit import decks

    instructor = instructor or solutions
    out = Path(out or BUILD / ("instructor-site" if instructor else "site"))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    urls = {"widget_renderer_url": _embed_amd_url()}
    if offline:
        from coursekit.webassets import bundle
        urls = bundle(out)
        urls.pop("reveal_url_prefix")
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True, **urls)
    mathjax = urls.get("mathjax_url", exporter.mathjax_url)
    pages = []
    notebooks = sources or executed_notebooks("solutions" if instructor else "notebooks", execute)
    for path in notebooks:
        nb = decks.page_widgets(nbformat.read(path, as_version=4))
        pages.append((f"{path.stem}.html", _title(nb, path.stem), nb))
    docs = [("index.html", "Home", REPO_ROOT / "README.md")]
    guide = REPO_ROOT / "instructor" / "guide.md"
    if instructor and guide.exists():
        docs.append(("instructor-guide.html", "Instructor guide", guide))
    nav = _nav([(f, t) for f, t, _ in docs] + [(f, t) for f, t, _ in pages])
    countdown = Countdown(len(pages), "pages")
    for filename, title, nb in pages:
        body, _ = exporter.from_notebook_node(nb)
        (out / filename).write_text(decks.finish_site_html(_inject_nav(body, nav, title)))
        print(f"site: {out / filename}  [{countdown.step()}]")
    for filename, title, md_path in docs:
        text = _site_links(md_path.read_text(), instructor)
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{_CSS}</style>{_mathjax_tag(mathjax)}</head><body>{nav}<main class='doc'>"
                f"{markdown2html(text)}</main></body></html>")
        (out / filename).write_text(page)
        print(f"site: {out / filename}")
    return out


def _embed_amd_url() -> str:
    from course_utils.widgets.explorer_js import EMBED_AMD_URL
    return EMBED_AMD_URL


def _mathjax_tag(url: str) -> str:
    return (f"<script src='{url}'></script><script type='text/x-mathjax-config'>MathJax.Hub.Config("
            "{tex2jax:{inlineMath:[['$','$'],['\\\\(','\\\\)']],processEscapes:true},messageStyle:'none'});</script>")


def _site_links(markdown: str, instructor: bool) -> str:
    """Links in the README/guide point at the site's pages: ``notebooks/04_x.ipynb`` →
    ``04_x.html``, ``instructor/guide.md`` → the guide page (instructor site) or plain text."""
    markdown = re.sub(r"\]\((?:notebooks|solutions)/([\w-]+)\.ipynb\)", r"](\1.html)", markdown)
    if instructor:
        markdown = markdown.replace("](instructor/guide.md)", "](instructor-guide.html)")
    else:
        markdown = re.sub(r"\[([^\]]*)\]\(instructor/guide\.md\)", r"\1 (in the repository, for instructors)",
                          markdown)
    # Any other repository file (classroom/README.md, ARCHITECTURE.md, ...) is not a page of the
    # site: say where it lives instead of leaving a broken link.
    return re.sub(r"\[([^\]]*)\]\((?!https?:|mailto:|#)([^)\s]+?)(?<!\.html)\)",
                  lambda m: m.group(1) if m.group(2).strip("`") in m.group(1) else f"{m.group(1)} (`{m.group(2)}` in the repository)",
                  markdown)


_CSS = """
body{margin:0;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
nav.course{position:sticky;top:0;z-index:1000;background:#264653;padding:6px 12px;display:flex;flex-wrap:wrap;gap:4px 14px}
nav.course a{color:#fff;text-decoration:none;font-size:14px} nav.course a:hover{text-decoration:underline}
main.doc{max-width:900px;margin:24px auto;padding:0 16px;line-height:1.5}
main.doc table{border-collapse:collapse} main.doc td,main.doc th{border:1px solid #ccc;padding:4px 8px}
main.doc pre{background:#f4f4f4;padding:8px;overflow:auto}
"""


def _nav(links: list[tuple[str, str]]) -> str:
    items = "".join(f"<a href='{f}'>{html.escape(t)}</a>" for f, t in links)
    return f"<nav class='course'>{items}</nav>"


def _inject_nav(page: str, nav: str, title: str) -> str:
    page = page.replace("</head>", f"<style>{_CSS}</style></head>", 1)
    page = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", page, count=1, flags=re.S)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, page, count=1)


def _write_index(folder: Path, title: str, links, note: str) -> None:
    items = "".join(f"<li><a href='{f}'>{html.escape(t)}</a></li>" for f, t in links)
    folder.joinpath("index.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head>"
        f"<body><main class='doc'><h1>{title}</h1><p>{note}</p><ul>{items}</ul></main></body></html>")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["slides", "site", "all"])
    parser.add_argument("--execute", action="store_true", help="run the notebooks afresh first")
    parser.add_argument("--student", action="store_true", help="slides: use the student versions")
    parser.add_argument("--instructor", action="store_true",
                        help="site: build the instructor site (guide + solutions) in build/instructor-site")
    parser.add_argument("--solutions", action="store_true", help="site: same as --instructor")
    parser.add_argument("--offline", action="store_true",
                        help="bundle reveal.js, require.js, jQuery, MathJax and the widget manager into the build folder "
                             "(fetched once from the npm registry into .cache/web/)")
    parser.add_argument("--reveal-prefix", default=DEFAULT_REVEAL, help="where reveal.js is loaded from")
    parser.add_argument("--assets", help="slides: folder with require.js and jquery.min.js (offline rooms)")
    args = parser.parse_args(argv)
    from coursekit.webassets import AssetError
    try:
        if args.what in ("slides", "all"):
            t0 = time.time()
            folder = build_slides(args.execute, args.student, args.reveal_prefix, args.assets, args.offline)
            print(f"Slides in {folder} ({time.time() - t0:.0f} s)")
        if args.what in ("site", "all"):
            t0 = time.time()
            folder = build_site(args.execute, args.solutions, args.instructor, args.offline)
            print(f"Site in {folder} ({time.time() - t0:.0f} s; open index.html)")
    except AssetError as err:
        print(f"Offline build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
