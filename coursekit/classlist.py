"""Who gets a row in ``grades.csv``: notebooks matched to lessons, duplicates, the roster, regrades.

Nobody may silently disappear from a grade sheet:

* a notebook is matched to its lesson by the nbgrader ids of its cells first (a renamed copy such as
  ``04_triplet_loss-Copy1.ipynb`` or ``Triplet loss homework.ipynb`` still carries them), by its
  file name second; one that matches nothing gets a row with status ``unmatched`` and the reason;
* two notebooks of one student for one lesson: the one named like the lesson (else the newest) is
  graded, the row says which others were not;
* with a roster, every listed student has a row per graded lesson (``missing`` where nothing came)
  and a submission from someone not listed is flagged;
* a regrade of some students or lessons replaces just their rows in the existing CSV;
* ``overrides.csv`` beside the grades (``student,lesson,total,comment``) sets a total by hand and
  survives every regrade, the automatic total kept beside it.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

# JupyterLab's "Duplicate" (-Copy1), a browser's second download ( (1)), "copy of …".
_COPY = re.compile(r"(?:-Copy\d*|\s*\(\d+\)|[ _-]copy\d*)$", re.IGNORECASE)
_ROSTER_COLUMNS = ("student", "id", "student_id", "username", "user", "login", "name")


@dataclass
class Submission:
    student: str
    path: Path
    lesson: object | None         # grading.Lesson, or None when unmatched
    how: str                      # "file name", "cell ids", or why nothing matched
    notes: list[str]


def _lesson_stem(path: Path) -> str:
    return path.stem.split("__")[-1]


def nbgrader_meta(cell) -> dict:
    """A cell's ``metadata.nbgrader`` (empty when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def notebook_ids(nb) -> set[str]:
    """The nbgrader ``grade_id`` of every cell that has one (exercise and check cells alike)."""
    return {str(nbgrader_meta(c)["grade_id"]) for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def _ids_of(path: Path) -> set[str]:
    try:
        return notebook_ids(nbformat.read(path, as_version=4))
    except Exception:  # noqa: BLE001 — an unreadable file is matched by name (and scored 0 as unreadable)
        return set()


def match_lesson(path: Path, lessons: dict) -> tuple[object | None, str]:
    """``(lesson, how)`` for one notebook: the lesson sharing most of its cell ids, else the lesson
    its file name (less a copy suffix) names; ``(None, reason)`` when neither decides."""
    stem = _lesson_stem(path)
    by_name = lessons.get(stem) or lessons.get(_COPY.sub("", stem).strip())
    ids = _ids_of(path)
    overlap = {name: len(ids & lesson.ids) for name, lesson in lessons.items()}
    best = max(overlap.values(), default=0)
    if best > 0:
        top = [name for name, n in overlap.items() if n == best]
        if len(top) == 1:
            return lessons[top[0]], "cell ids"
        if by_name is not None and by_name.name in top:
            return by_name, "cell ids and file name"
        return None, f"its cells belong to {len(top)} lessons at once ({', '.join(sorted(top))})"
    if by_name is not None:
        return by_name, "file name"
    return None, ("no lesson has its cells or its name: it holds no nbgrader cells of the course "
                  f"(was it made from a released lesson?) and no lesson is called {stem!r}")


def match_all(found: list[tuple[str, Path]], lessons: dict) -> list[Submission]:
    """Every found notebook as a :class:`Submission`; of several for one student and lesson, only
    the one named like the lesson (else the newest file) is kept, its notes naming the others."""
    subs = [Submission(student, path, *match_lesson(path, lessons), []) for student, path in found]
    groups: dict[tuple[str, str], list[Submission]] = {}
    dropped: set[int] = set()
    for sub in subs:
        if sub.lesson is not None:
            groups.setdefault((sub.student, sub.lesson.name), []).append(sub)
    for (_, name), group in groups.items():
        if len(group) == 1:
            if _lesson_stem(group[0].path) != name:
                group[0].notes.append(f"notebook {group[0].path.name!r} graded as {name} (matched by {group[0].how})")
            continue
        group.sort(key=lambda s: (_lesson_stem(s.path) == name, s.path.stat().st_mtime), reverse=True)
        chosen, others = group[0], group[1:]
        why = "named like the lesson" if _lesson_stem(chosen.path) == name else "the newest file"
        chosen.notes.append(f"{len(group)} notebooks for {name}: graded {chosen.path.name!r} ({why}); "
                            "not graded: " + ", ".join(repr(o.path.name) for o in others))
        dropped.update(id(o) for o in others)     # named in the graded row's review, no row of their own
    return [sub for sub in subs if id(sub) not in dropped]


NO_RESULT = {"possible": {}, "scores": {}, "messages": {}}    # what feedback renders for an unmatched file


def unmatched_row(sub: Submission) -> dict:
    return {"student": sub.student, "lesson": sub.path.stem, "total": 0.0, "max": 0.0,
            "status": f"unmatched: {sub.path.name}: {sub.how}", "review": "", "seconds": 0.0}


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")   # OWASP's CSV-injection list


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet shows as text: a string that begins like a formula (``= + - @``,
    tab or carriage return) gets a leading apostrophe. Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``(student, notebook path)`` pairs from either supported layout."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        if path.parent != folder:
            found.append((path.parent.name, path))
        elif "__" in path.stem:
            found.append((path.stem.split("__")[0], path))
    return found


def write_csv(out: Path, rows: list[dict]) -> None:
    """``rows`` as ``out``: student, lesson, one column per check, then total … seconds (and the
    override columns when any row has them); every cell safe to open in a spreadsheet."""
    tail = ("total", "max", "status", "review", "seconds", "auto_total", "override")
    columns = ["student", "lesson"]
    for row in rows:
        columns += [k for k in row if k not in columns and k not in tail]
    columns += [k for k in tail if k in tail[:5] or any(k in r for r in rows)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows([{k: spreadsheet_safe(v) for k, v in row.items()} for row in rows])


def read_roster(path: str | Path) -> list[str]:
    """Student ids from a CSV (a column called student/id/username/login/… or else the first one)
    or a plain list, one per line. Raises ``ValueError`` for an empty roster."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Roster not found: {path} (a CSV with a 'student' column, or one id per line)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        table = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    column = 0
    if table:
        header = [cell.strip().lower() for cell in table[0]]
        named = [header.index(c) for c in _ROSTER_COLUMNS if c in header]
        if named:
            column, table = named[0], table[1:]
    ids = list(dict.fromkeys(row[column].strip() for row in table if len(row) > column and row[column].strip()))
    if not ids:
        raise ValueError(f"Roster {path} lists no students")
    return ids


def roster_rows(roster: list[str], lessons: list, rows: list[dict]) -> list[dict]:
    """A ``missing`` row for every roster student with no row for a lesson in ``lessons``; rows of
    students not on the roster get a review note (in place)."""
    listed, have = set(roster), {(r["student"], r["lesson"]) for r in rows}
    for row in rows:
        if row["student"] not in listed:
            row["review"] = "; ".join(x for x in (row.get("review"), "not on the roster") if x)
    return [{"student": s, "lesson": lesson.name, **{gid: 0.0 for gid in lesson.possible}, "total": 0.0,
             "max": sum(lesson.possible.values()), "status": "missing: nothing submitted", "review": "",
             "seconds": 0.0}
            for s in roster for lesson in lessons if (s, lesson.name) not in have]


def merged(out: Path, rows: list[dict]) -> list[dict]:
    """The rows already in ``out`` whose (student, lesson) was not regraded, then ``rows``."""
    if not out.is_file():
        return rows
    fresh = {(r["student"], r["lesson"]) for r in rows}
    with open(out, newline="", encoding="utf-8") as f:
        kept = [r for r in csv.DictReader(f) if (r["student"], r["lesson"]) not in fresh]
    for row in kept:
        for key in ("total", "max", "auto_total"):
            if row.get(key) not in (None, ""):
                row[key] = float(row[key])
    return sorted(kept + rows, key=lambda r: (r["student"], r["lesson"]))


def apply_overrides(path: Path, rows: list[dict]) -> int:
    """Totals set by hand in ``path`` (``student,lesson,total,comment``); returns how many applied.
    The automatic total stays in ``auto_total`` and the comment in ``override``; a row whose
    override was removed from the file gets its automatic total back."""
    table = {}
    if path.is_file():
        with open(path, newline="", encoding="utf-8-sig") as f:
            table = {((r.get("student") or "").strip(), (r.get("lesson") or "").strip()): r for r in csv.DictReader(f)}
    count = 0
    for row in rows:
        auto = row["total"] if row.get("auto_total") in (None, "") else float(row["auto_total"])
        entry = table.get((row["student"], row["lesson"]))
        if entry is None:
            if row.get("override"):
                row["total"], row["override"], row["auto_total"] = auto, "", ""
            continue
        try:
            total = float(entry["total"])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: total {entry.get('total')!r} for {row['student']} / {row['lesson']} "
                             "is not a number") from None
        row["auto_total"], row["total"] = auto, total
        row["override"] = (entry.get("comment") or "set by hand").strip()
        count += 1
    return count
