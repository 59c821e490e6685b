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
  survives every regrade, the automatic total kept beside it;
* a due date makes a late submission's row say when it came and how late, and a late penalty takes
  a share of its automatic total (before any override);
* the same rows go out as gradebook imports for Canvas and Moodle (``lms/``).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

# JupyterLab's "Duplicate" (-Copy1), a browser's second download ( (1)), "copy of …".
_COPY = re.compile(r"(?:-Copy\d*|\s*\(\d+\)|[ _-]copy\d*)$", re.IGNORECASE)
_ROSTER_COLUMNS = ("student", "id", "student_id", "username", "user", "login", "name")


@dataclass
class Submission:
    student: str
    path: Path
    lesson: object | None         # submission.Lesson, or None when unmatched
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
    always = ("total", "max", "status", "review", "seconds")
    tail = ("submitted", "late", "penalty", *always, "auto_total", "override")
    columns = ["student", "lesson"]
    for row in rows:
        columns += [k for k in row if k not in columns and k not in tail]
    columns += [k for k in tail if k in always or any(k in r for r in rows)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows([{k: spreadsheet_safe(v) for k, v in row.items()} for row in rows])


# Roster columns besides the id, by what they are called in university exports (header text is
# compared lower-case, spaces and hyphens read as "_"); they only feed the LMS files.
_PERSON_COLUMNS = {
    "name": ("name", "full_name", "display_name"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "email": ("email", "e_mail", "email_address", "mail"),
    "sis_id": ("sis_id", "sis_user_id", "idnumber", "id_number", "student_number"),
    "login": ("sis_login_id", "login"),
    "lms_id": ("lms_id", "lms_user_id", "canvas_id", "canvas_user_id"),
    "section": ("section",),
}


def _header_key(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def read_roster_people(path: str | Path) -> dict[str, dict]:
    """``{student id: {"name", "email", "sis_id", "login", "lms_id", "section"}}`` (only the fields
    the roster has) from the same file as :func:`read_roster`, in roster order. The id column is
    chosen as there; the other fields are read only from a roster with a header row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Roster not found: {path} (a CSV with a 'student' column, or one id per line)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        table = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    column, fields = 0, {}
    if table:
        header = [_header_key(cell) for cell in table[0]]
        named = [header.index(c) for c in _ROSTER_COLUMNS if c in header]
        if named:
            column, table = named[0], table[1:]
            fields = {field: next(header.index(a) for a in aliases if a in header)
                      for field, aliases in _PERSON_COLUMNS.items() if any(a in header for a in aliases)}
    people: dict[str, dict] = {}
    for row in table:
        if len(row) <= column or not row[column].strip() or row[column].strip() in people:
            continue
        cell = {field: row[i].strip() for field, i in fields.items() if i < len(row) and row[i].strip()}
        first_last = " ".join(cell.pop(k) for k in ("first_name", "last_name") if k in cell)
        if first_last and "name" not in cell:
            cell["name"] = first_last
        people[row[column].strip()] = cell
    if not people:
        raise ValueError(f"Roster {path} lists no students")
    return people


def read_roster(path: str | Path) -> list[str]:
    """Student ids from a CSV (a column called student/id/username/login/… or else the first one)
    or a plain list, one per line. Raises ``ValueError`` for an empty roster."""
    return list(read_roster_people(path))


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
    kept = [r for r in read_csv(out) if (r["student"], r["lesson"]) not in fresh]
    return sorted(kept + rows, key=lambda r: (r["student"], r["lesson"]))


def read_csv(path: Path) -> list[dict]:
    """The rows of a ``grades.csv`` this module wrote, the totals as numbers again (the apostrophe
    :func:`spreadsheet_safe` put before a formula-like text stays: it is written back unchanged)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("total", "max", "auto_total", "penalty"):
            if row.get(key) not in (None, ""):
                row[key] = float(row[key])
    return rows


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


# ------------------------------------------------------------------------------ due dates, late work
DUE_FORMAT = ("an ISO date and time such as 2026-12-10T23:59 (the grading machine's time zone) or "
              "2026-12-10T23:59+01:00, optionally for one lesson: 04_triplet_loss=2026-12-10T23:59")
PENALTY_FORMAT = "a percentage per started day such as 10%/day (or 10%), or 0 to only report lateness"
DAY = 86400.0


def parse_time(text: str) -> datetime:
    """An ISO date/time as an aware datetime: without an offset it is the local time of this machine;
    a date alone means the end of that day (23:59:59). Raises ``ValueError`` naming the value."""
    value = str(text).strip()
    try:        # "Z" by hand: Python 3.10's fromisoformat does not read it
        when = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time; expected {DUE_FORMAT}") from None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        when = when.replace(hour=23, minute=59, second=59)
    return when if when.tzinfo is not None else when.astimezone()


def parse_due(values: list[str] | None) -> dict[str | None, datetime]:
    """``--due`` values as ``{None: due for every lesson, lesson: due for that lesson}``."""
    due: dict[str | None, datetime] = {}
    for value in values or ():
        lesson, _, when = str(value).rpartition("=")
        key = lesson.strip() or None
        if key in due:
            raise ValueError(f"--due {value!r}: {'lesson ' + key if key else 'the due date for every lesson'} "
                             "is given twice")
        try:
            due[key] = parse_time(when)
        except ValueError as err:
            raise ValueError(f"--due {value!r}: {err}") from None
    return due


def parse_penalty(text: str | None) -> float:
    """``--late-penalty`` as a percentage per started day: ``10%/day``, ``10%``, ``10`` or ``0``."""
    if text is None:
        return 0.0
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*(?:/\s*(?:day|d))?\s*", str(text))
    if not match or float(match.group(1)) > 100:
        raise ValueError(f"--late-penalty {text!r}: expected {PENALTY_FORMAT} (at most 100%)")
    return float(match.group(1))


def parse_exchange_timestamp(text: str) -> datetime | None:
    """A ``timestamp.txt`` of nbgrader's exchange (``%Y-%m-%d %H:%M:%S.%f %Z``, ``Exchange.timezone``
    UTC unless configured, e.g. ``2026-12-10 22:15:03.123456 UTC``) or an ISO time; None if unreadable."""
    from zoneinfo import ZoneInfo
    text = text.strip()
    try:
        when = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)   # nbgrader's default zone
    except ValueError:
        pass
    stamp, _, zone = text.rpartition(" ")
    try:
        when = datetime.fromisoformat(stamp)
        if zone.upper() in ("UTC", "GMT", "Z"):
            return when.replace(tzinfo=timezone.utc)
        if re.fullmatch(r"[+-]\d{4}", zone):
            return datetime.fromisoformat(f"{stamp}{zone[:3]}:{zone[3:]}")
        return when.replace(tzinfo=ZoneInfo(zone))
    except (ValueError, KeyError, OSError):
        pass
    try:                           # other zone abbreviations: the parser nbgrader itself uses
        from dateutil import parser, tz
        when = parser.parse(stamp)
        zone_info = tz.gettz(zone)
        return when.replace(tzinfo=zone_info) if zone_info else None
    except (ImportError, ValueError, OverflowError):
        return None


def submission_time(path: Path, root: Path) -> tuple[datetime, str]:
    """When ``path`` was handed in, and from where: the ``timestamp.txt`` that nbgrader's exchange
    writes into a submitted folder (kept by ``nbgrader collect``) when the notebook's own student
    folder has a readable one, otherwise the notebook file's modification time (which a copy
    without ``-p`` or an unzip may have reset)."""
    stamp = path.parent / "timestamp.txt"
    if path.parent != root and stamp.is_file():
        try:
            when = parse_exchange_timestamp(stamp.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            when = None
        if when is not None:
            return when, "timestamp.txt"
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc), "file time"


def late_text(seconds: float) -> str:
    """A delay in words: ``2 days 3 h``, ``5 h 10 min``, ``12 min``; minutes are rounded up, so a
    second late reads ``1 min`` (never nothing)."""
    minutes = max(1, math.ceil(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    return f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"


def lateness(submitted: datetime, due: datetime, per_day: float) -> tuple[str, int, float]:
    """``(late in words or "", started days late, penalty in percent)``: every started day counts as
    a whole one (1 minute late is 1 day), capped at 100 %. On time (or at the due second): ``("", 0, 0)``."""
    seconds = (submitted - due).total_seconds()
    if seconds <= 0:
        return "", 0, 0.0
    days = math.ceil(seconds / DAY)
    return late_text(seconds), days, min(100.0, float(days * per_day))


def apply_late(row: dict, submitted: datetime, source: str, due: datetime | None, per_day: float) -> None:
    """Write ``submitted`` (ISO, this machine's time zone) into a graded row and, with a due date,
    ``late`` and ``penalty`` (points taken off the automatic total, which ``total`` then holds:
    overrides still replace it, :func:`apply_overrides`)."""
    row["submitted"] = submitted.astimezone().isoformat(timespec="seconds")
    if due is None:
        return
    late, days, percent = lateness(submitted, due, per_day)
    row["late"] = late
    penalty = round(float(row["total"]) * percent / 100, 2)
    row["penalty"] = penalty
    row["total"] = round(float(row["total"]) - penalty, 2)
    if late and source != "timestamp.txt":
        note = "late according to the notebook's file time (no exchange timestamp): check it before it counts"
        row["review"] = "; ".join(x for x in (row.get("review"), note) if x)


# ------------------------------------------------------------------------------ LMS gradebook imports
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("username", "email", "idnumber")


def _points(value) -> str:
    return "" if value in (None, "") else f"{round(float(value), 2):g}"


def lms_tables(rows: list[dict], people: dict[str, dict] | None = None) -> dict[str, list[list]]:
    """``{"canvas": table, "moodle": table}`` (lists of rows, the header first): one row per student,
    one column per lesson holding ``total`` (after any late penalty and override; 0 for
    ``missing``, empty where the student has no row for that lesson). Unmatched files are no grade
    item and are left out. Canvas: its five identity columns, then a ``Points Possible`` row.
    Moodle: ``username`` (the student id), ``email``, ``idnumber`` (the roster's SIS id)."""
    people = people or {}
    graded = [r for r in rows if not str(r.get("status", "")).startswith("unmatched")]
    lessons = sorted({r["lesson"] for r in graded})
    students = list(dict.fromkeys([*people, *sorted({r["student"] for r in graded})]))
    total = {(r["student"], r["lesson"]): r.get("total") for r in graded}
    top = {lesson: max(float(r.get("max") or 0) for r in graded if r["lesson"] == lesson) for lesson in lessons}
    canvas = [[*CANVAS_COLUMNS, *lessons], ["Points Possible", "", "", "", "", *(_points(top[x]) for x in lessons)]]
    moodle = [[*MOODLE_COLUMNS, *lessons]]
    for student in students:
        who = people.get(student, {})
        marks = [_points(total.get((student, lesson))) for lesson in lessons]
        canvas.append([who.get("name", student), who.get("lms_id", ""), who.get("sis_id", ""),
                       who.get("login", student), who.get("section", ""), *marks])
        moodle.append([student, who.get("email", ""), who.get("sis_id", ""), *marks])
    return {"canvas": canvas, "moodle": moodle}


def write_lms(folder: Path, rows: list[dict], people: dict[str, dict] | None = None) -> list[Path]:
    """``folder/canvas.csv`` and ``folder/moodle.csv`` (:func:`lms_tables`), every cell safe to open
    in a spreadsheet like ``grades.csv``. Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in lms_tables(rows, people).items():
        path = folder / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([[spreadsheet_safe(cell) for cell in line] for line in table])
        written.append(path)
    return written
