"""Lay an executed lesson out for a projector (1280×720) before nbconvert turns it into a deck.

The lessons are written as notebooks, not as slides, so a section can be far taller than a
screen. Rather than hand-editing every notebook, :func:`projector_layout` applies a few rules to
a *copy* of the executed notebook at build time, from the cells' own metadata and outputs:

* **estimated heights** — every cell gets an estimated height in CSS pixels at 1280×720
  (markdown lines, table rows, code lines, text outputs, PNG sizes read from the images); when
  the next cell would overflow the slide it starts a new sub-slide (↓ in reveal.js);
* **long markdown** cells are split at blank lines into several sub-slides;
* **code inputs** longer than :data:`MAX_CODE_LINES` lines, and every input above a figure, are
  hidden on the slide (tag ``deck-hide-input``) and copied into that slide's speaker notes;
* **figures** get a slide of their own (several figures of one cell: one sub-slide each), scaled
  to the space left (tag ``deck-imgmax-<px>``);
* **long text outputs** scroll inside a fixed box (tag ``deck-scroll``) — scrolling by design;
* **speaker notes per section**: the instructor guide's plan rows and live-demo notes that
  mention "section k" go into section k's notes; notes cells of the lesson stay where they are;
* **widgets**: a widget whose maths runs in the browser (lesson 8's ``BrowserThresholdExplorer``)
  stays **live**: its view and the saved state of the models it needs go into the page, and
  ipywidgets' HTML widget manager renders it there with no kernel (slider, buttons, read-out
  work). The kernel-driven explorers cannot work without Python: their output keeps its saved PNG
  and drops the widget view (:func:`page_widgets`). A live widget gets a slide of its own.

``DECK_CSS`` holds the matching style rules; it also hides speaker notes with CSS, so notes stay
hidden even when the deck's JavaScript fails to load.
"""
from __future__ import annotations

import base64
import copy
import json
import math
import re
import struct

import nbformat

WIDTH, HEIGHT = 1280, 720
BUDGET = 600                 # px of content per slide (the rest: margins, slide number, controls)
MAX_CODE_LINES = 10          # longer inputs are hidden on the slide (speaker notes keep them)
FIGURE_INPUT_LINES = 3       # inputs above a figure longer than this are hidden too
SCROLL_BOX = 220             # px: text outputs taller than this scroll inside a box
MD_CHARS, CODE_CHARS = 105, 100   # characters per line before wrapping (20 px text, 19 px code)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LIVE_WIDGET_PX = 530         # a live explorer: its controls and its 1000×490 canvas
NO_WIDGET_TEXT = ("(An interactive widget: open this lesson in JupyterLab to use it — "
                  "slides and the website cannot run Python.)")
IMG_STEPS = list(range(160, BUDGET + 1, 40))

DECK_CSS = """
/* course decks: a 1280x720 projector */
.reveal aside.notes { display: none !important; }         /* even if reveal.js fails to load */
.reveal pre, .reveal code, .reveal .jp-OutputArea-output pre { white-space: pre-wrap; word-break: break-word; }
.reveal .jp-OutputArea-output { overflow-x: auto; }
.reveal table { font-size: 17px; }
.reveal .jp-RenderedHTMLCommon td, .reveal .jp-RenderedHTMLCommon th { padding: 2px 8px; }
.reveal .jp-OutputArea-output img { max-width: 100%; height: auto; width: auto; }
.reveal .celltag_deck-hide-input .jp-Cell-inputWrapper { display: none; }
.reveal .celltag_deck-hide-input::before { content: "⋯ code on this slide: see the notebook or the speaker notes (s)";
  display: block; font-size: 14px; color: #888; }
.reveal .celltag_deck-scroll .jp-OutputArea-output pre { max-height: SCROLL_BOXpx; overflow-y: auto; }
""".replace("SCROLL_BOX", str(SCROLL_BOX)) + "".join(
    f".reveal .celltag_deck-imgmax-{px} .jp-OutputArea-output img {{ max-height: {px}px; }}\n" for px in IMG_STEPS)

SITE_CSS = """
/* course website: kernel-driven widgets are shown as their saved pictures */
.jp-OutputArea-output img { max-width: 100%; height: auto; }
"""


# ---------------------------------------------------------------------------------- widgets
def live_widget_ids() -> set[str]:
    """anywidget ids (``_anywidget_id``: module.Class) of the widgets that work with no kernel."""
    from course_utils.widgets.explorer_js import BrowserThresholdExplorer as live

    return {f"{live.__module__}.{live.__qualname__}"}


def needed_models(states: dict, model_id: str) -> dict | None:
    """The saved states (``{model_id: {"model_name", "state", "buffers", …}}``) of ``model_id`` and
    of every model it refers to (``"IPY_MODEL_<id>"`` values: its layout, children), or None when
    one of them was not saved (the view could not render)."""
    found, todo = {}, [model_id]
    while todo:
        mid = todo.pop()
        if mid in found:
            continue
        if mid not in states:
            return None
        found[mid] = states[mid]
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(states[mid].get("state", {})))
    return found


def page_widgets(nb) -> nbformat.NotebookNode:
    """A copy of ``nb`` for a page with no kernel (a deck, the website).

    A view of a widget listed by :func:`live_widget_ids` whose state was saved stays, and the
    notebook's ``metadata.widgets`` then holds the state of just the models such views need, so
    nbconvert adds the HTML widget manager. The state comes from the notebook's saved widget state
    (nbclient, JupyterLab) or, failing that, from the output itself (:data:`WIDGET_STATE` next to
    the view: the browser explorer puts it there, so nbval's executed copies carry it too); the
    output's copy is removed either way. Every other widget view is dropped: the output keeps its
    saved PNG (``image/png`` next to the view), a widget without a picture becomes a one-line note.
    """
    nb = copy.deepcopy(nb)
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    live_ids, kept = live_widget_ids(), {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            own = data.pop(WIDGET_STATE, {}).get("state", {})
            if WIDGET_VIEW not in data:
                continue
            models = needed_models({**own, **saved}, data[WIDGET_VIEW].get("model_id", ""))
            if models and models[data[WIDGET_VIEW]["model_id"]].get("state", {}).get("_anywidget_id") in live_ids:
                kept.update(models)
                continue
            del data[WIDGET_VIEW]
            if not any(k.startswith("image/") for k in data):
                data.clear()
                data["text/plain"] = NO_WIDGET_TEXT
    nb.metadata.pop("widgets", None)
    if kept:
        nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": kept}}
    return nb


def with_widget_frontend(page: str) -> str:
    """``page`` with anywidget's front-end inlined before ``</head>`` (after ``require.js``) when it
    holds saved widget state, so that the widget manager finds it without a network."""
    if f'type="{WIDGET_STATE}"' not in page:
        return page
    from course_utils.widgets.explorer_js import frontend_script

    return page.replace("</head>", frontend_script() + "\n</head>", 1)


# ---------------------------------------------------------------------------------- heights
def png_size(b64: str) -> tuple[int, int]:
    """(width, height) in pixels from a base64 PNG's IHDR chunk (0, 0 if unreadable)."""
    try:
        head = base64.b64decode(b64[:64] + "=" * (-len(b64[:64]) % 4))
        return struct.unpack(">II", head[16:24])
    except (ValueError, struct.error):
        return 0, 0


def _wrapped(lines, chars: int) -> int:
    return sum(max(1, math.ceil(len(line) / chars)) for line in lines)


def markdown_height(text: str) -> int:
    height, in_math = 0, False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("$$"):
            height += 0 if in_math else 56
            in_math = not in_math if s.count("$$") == 1 else in_math
        elif in_math:
            continue
        elif not s:
            height += 14
        elif s.startswith("# "):
            height += 78
        elif s.startswith("## "):
            height += 62
        elif s.startswith("### ") or s.startswith("#### "):
            height += 46
        elif s.startswith("|"):
            height += 0 if re.fullmatch(r"\|[\s:|-]+\|?", s) else 30 * _wrapped([s], 150)
        elif s.startswith("!["):
            height += 320
        else:
            height += 31 * _wrapped([s], MD_CHARS)
    return height + 16


def input_height(cell) -> int:
    return 20 + 24 * _wrapped(cell.source.splitlines() or [""], CODE_CHARS)


def output_height(out) -> tuple[int, bool]:
    """(estimated px, is_figure) of one output at the deck's scale."""
    kind = out.get("output_type")
    if kind == "stream":
        text = out.get("text", "")
        return 12 + 23 * _wrapped(text.rstrip("\n").splitlines() or [""], 110), False
    if kind == "error":
        return 150, False
    data = out.get("data", {})
    if WIDGET_VIEW in data:                  # only live ones are left (page_widgets)
        return LIVE_WIDGET_PX, True
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            w, h = png_size(data[mime]) if mime == "image/png" else (800, 500)
            scale = min(1.0, (WIDTH - 80) / w) if w else 1.0
            return int(h * scale) + 10 if h else 400, True
    if "text/html" in data and "<pre" not in data["text/html"]:
        return 40 + 34 * data["text/html"].count("<tr"), False
    if "text/markdown" in data:
        return markdown_height(data["text/markdown"]), False
    if "text/plain" in data:
        return 12 + 23 * _wrapped(data["text/plain"].splitlines() or [""], 110), False
    return 0, False


def _text_height(cell) -> int:
    return sum(min(h, SCROLL_BOX + 20) for h, fig in map(output_height, cell.get("outputs", [])) if not fig)


# ---------------------------------------------------------------------------------- notes from the guide
def guide_notes(guide_text: str, lesson_stem: str, headings: dict[int, str] | None = None) -> dict[int, list[str]]:
    """Speaker notes per section of one lesson, from the instructor guide: the 50-minute plan's
    rows and the live-demo bullets go to the section they name ("section 3", "sections 2-4",
    "Exercise 1" or a `name` found in that section's heading — ``headings``: number → heading);
    a bullet naming none follows the bullet before it; the rest (key 0) goes to the title slide,
    wrap-up rows and the discussion questions to the last slide (key -1)."""
    m = re.search(rf"^### Lesson \d+ .*?\(`{re.escape(lesson_stem)}`\)\s*$(.*?)(?=^### Lesson |^## |\Z)",
                  guide_text, re.M | re.S)
    if not m:
        return {}
    block = m.group(1)
    headings = headings or {}
    notes: dict[int, list[str]] = {}

    def part(title: str) -> str:
        p = re.search(rf"^\*\*{title}[^\n]*\n(.*?)(?=^\*\*|\Z)", block, re.M | re.S)
        return p.group(1) if p else ""

    def sections_named(text: str) -> list[int]:
        found = []
        for a, b in re.findall(r"\bsections? (\d+)(?:\s*[–-]\s*(\d+))?", text, re.I):
            found += list(range(int(a), int(b or a) + 1))
        if not found:
            for k, head in headings.items():
                ex = re.search(r"Exercise \d+", text)
                names = re.findall(r"`(\w+)", text)
                if (ex and ex.group(0) in head) or any(f"`{n}" in head for n in names):
                    found.append(k)
        if not found and re.search(r"wrap-up|takeaways", text, re.I):
            found = [-1]
        return sorted(set(found))

    for row in part("50-minute plan").splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 2 and re.match(r"\d", cells[0]):
            for k in sections_named(cells[1])[:1] or [0]:
                notes.setdefault(k, []).append(f"**{cells[0]} min** — {cells[1]}")
    bullets = re.split(r"\n(?=- )", "\n" + part("Live-demo notes").strip())
    previous = 0
    for bullet in (b.strip() for b in bullets):
        if bullet.startswith("- "):
            text = " ".join(bullet[2:].split())
            k = (sections_named(text)[:1] or [previous])[0]
            notes.setdefault(k, []).append(text)
            previous = k
    questions = part("Discussion questions").strip()
    if questions:
        notes.setdefault(-1, []).append("**Discussion questions**\n\n" + questions)
    return notes


def lesson_headings(nb) -> dict[int, str]:
    """Section number → heading line of every ``## k. ...`` markdown cell."""
    return {k: c.source.splitlines()[0] for c in nb.cells if (k := _section_number(c)) is not None}


def _section_number(cell) -> int | None:
    m = re.match(r"\s*##\s+(\d+)\.", cell.source) if cell.cell_type == "markdown" else None
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------- layout
def _slide_type(cell) -> str:
    return cell.metadata.get("slideshow", {}).get("slide_type", "-") or "-"


def _set_type(cell, kind: str) -> None:
    cell.metadata.setdefault("slideshow", {})["slide_type"] = kind


def _tag(cell, tag: str) -> None:
    tags = cell.metadata.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def _notes_cell(text: str):
    return nbformat.v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": "notes"}})


def _split_markdown(cell) -> list:
    """Cut a markdown cell that is taller than a slide at blank lines (never inside a table,
    a list or display math) into pieces that fit."""
    blocks = []
    for block in re.split(r"\n\s*\n", cell.source):
        if markdown_height(block) <= BUDGET:
            blocks.append(block)
            continue
        # A tall list or table without blank lines: cut between items / rows (a table's
        # header is repeated on every piece).
        lines = block.splitlines()
        header = lines[:2] if len(lines) > 2 and lines[0].startswith("|") and set(lines[1]) <= set("|-: ") else []
        items, current = [], []
        for line in lines[len(header):]:
            if current and re.match(r"\s{0,1}([-*+]|\d+\.)\s|\|", line):
                items.append(current)
                current = []
            current.append(line)
        items.append(current)
        group = []
        for item in items:
            if group and markdown_height("\n".join(header + group + item)) > BUDGET:
                blocks.append("\n".join(header + group))
                group = []
            group += item
        blocks.append("\n".join(header + group))
    pieces, current = [], []
    for block in blocks:
        if current and markdown_height("\n\n".join(current + [block])) > BUDGET:
            pieces.append("\n\n".join(current))
            current = []
        current.append(block)
    pieces.append("\n\n".join(current))
    cells = []
    for k, text in enumerate(pieces):
        new = copy.deepcopy(cell)
        new.source = text
        if k:
            new["id"] = f"{cell.get('id', 'md')}-part{k}"
            _set_type(new, "subslide")
        cells.append(new)
    return cells


def _split_figures(cell) -> list:
    """One code cell whose outputs hold several figures → one cell per figure (sub-slides)."""
    figures = [k for k, out in enumerate(cell.outputs) if output_height(out)[1]]
    if len(figures) <= 1:
        return [cell]
    cells, start = [], 0
    for n, k in enumerate(figures):
        end = figures[n + 1] if n + 1 < len(figures) else len(cell.outputs)
        new = copy.deepcopy(cell)
        new.outputs = cell.outputs[start:end]
        if n:
            new["id"] = f"{cell.get('id', 'code')}-fig{n}"
            new.source = ""
            _tag(new, "deck-hide-input")
            _set_type(new, "subslide")
        cells.append(new)
        start = end
    return cells


def projector_layout(nb, notes: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    """A copy of the executed notebook ``nb`` laid out for 1280×720 (rules: module docstring).
    ``notes``: extra speaker notes per section number (see :func:`guide_notes`)."""
    nb = page_widgets(nb)
    notes = dict(notes or {})
    cells = []
    for cell in nb.cells:
        if _slide_type(cell) == "skip":
            continue
        if cell.cell_type == "markdown" and markdown_height(cell.source) > BUDGET:
            cells += _split_markdown(cell)
        elif cell.cell_type == "code":
            cells += _split_figures(cell)
        else:
            cells.append(cell)
    cells = [c for c in cells if not (c.cell_type == "code" and not c.source.strip() and not c.outputs)]

    out, used, hidden_code = [], 0, []

    def close_slide():
        if hidden_code:
            out.append(_notes_cell("Code run on this slide:\n\n" + "\n\n".join(
                f"```python\n{src}\n```" for src in hidden_code)))
            hidden_code.clear()

    last_section = None
    for cell in cells:
        kind = _slide_type(cell)
        if kind == "notes":
            out.append(cell)
            continue
        if kind in ("slide", "subslide"):
            close_slide()
            used = 0
        section = _section_number(cell) if kind == "slide" else None

        if cell.cell_type == "markdown":
            height = markdown_height(cell.source)
            if used and used + height > BUDGET:
                close_slide()
                _set_type(cell, "subslide" if kind != "slide" else "slide")
                used = 0
            out.append(cell)
            used += height
        else:
            has_figure = any(output_height(o)[1] for o in cell.outputs)
            lines = len(cell.source.splitlines())
            hide = cell.source.strip() and (lines > MAX_CODE_LINES or (has_figure and lines > FIGURE_INPUT_LINES)
                                            or "deck-hide-input" in cell.metadata.get("tags", []))
            if hide:
                _tag(cell, "deck-hide-input")
                if cell.source.strip():
                    hidden_code.append(cell.source)
            in_h = 22 if hide else (input_height(cell) if cell.source.strip() else 0)
            text_h = _text_height(cell)
            if any(output_height(o)[0] > SCROLL_BOX + 20 and not output_height(o)[1] for o in cell.outputs):
                _tag(cell, "deck-scroll")
            fig_h = sum(h for h, fig in map(output_height, cell.outputs) if fig)
            # Figures get their own slide unless little is on the current one.
            if used and (used + in_h + text_h + min(fig_h, 240) > BUDGET or (has_figure and used > 200)):
                close_slide()
                _set_type(cell, "slide" if kind == "slide" else "subslide")
                used = 0
            if has_figure:
                room = BUDGET - used - in_h - text_h
                if fig_h > room:
                    px = max([s for s in IMG_STEPS if s <= room] or [IMG_STEPS[0]])
                    _tag(cell, f"deck-imgmax-{px}")
                    fig_h = px
            out.append(cell)
            used += in_h + text_h + fig_h

        if section is not None and section in notes:
            out.append(_notes_cell("\n\n".join(notes.pop(section))))
        if kind == "slide":
            last_section = section
        if len(out) == 1 and 0 in notes:          # the title slide
            out.append(_notes_cell("\n\n".join(notes.pop(0))))
    close_slide()
    leftover = [t for k in sorted(notes, key=lambda k: (k < 0, k)) for t in notes[k]]
    if leftover:
        out.append(_notes_cell("\n\n".join(leftover)))
    del last_section
    nb.cells = out
    return nb


def finish_deck_html(page: str) -> str:
    """Style rules for the projector, ``window.Reveal`` for scripts and tests, anywidget's
    front-end where a live widget is (:func:`with_widget_frontend`), no mermaid.js."""
    page = with_widget_frontend(page)
    page = page.replace("</head>", f"<style type='text/css'>{DECK_CSS}</style>\n</head>", 1)
    page = page.replace("function(Reveal, RevealNotes){", "function(Reveal, RevealNotes){ window.Reveal = Reveal;", 1)
    return re.sub(r"<script type=\"module\">\s*import mermaid.*?</script>", "", page, count=1, flags=re.S)


def finish_site_html(page: str) -> str:
    """anywidget's front-end where a live widget is (:func:`with_widget_frontend`); the website
    never needs mermaid.js (no diagrams): drop the CDN import."""
    page = with_widget_frontend(page)
    return re.sub(r"<script type=\"module\">\s*import mermaid.*?</script>", "", page, count=1, flags=re.S)
