"""Grading day: renamed, duplicated, missing, broken and edited submissions all end in the right row."""
import csv
import os

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import classlist, grading

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _meta(gid, grade, points=0):
    meta = {"grade": grade, "solution": not grade, "locked": grade, "grade_id": gid, "schema_version": 3}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def lesson(name: str, body: str, check: str | None = None, with_check: bool = True):
    """A two-check lesson: ``ex_<name>`` (the student's cell), its 2-point check, a free point."""
    check = check if check is not None else f"assert {name}(3) == {'4' if name == 'add_one' else '6'}"
    cells = [new_code_cell(body, metadata=_meta(f"ex_{name}", False))]
    if with_check:
        cells.append(new_code_cell(check, metadata=_meta(f"ex_{name}_check", True, 2)))
    cells.append(new_code_cell("assert True", metadata=_meta(f"free_{name}", True, 1)))
    return new_notebook(metadata=KERNEL, cells=cells)


ADD = "def add_one(x):\n    return x + 1"
DOUBLE = "def double(x):\n    return 2 * x"


def read(out):
    with open(out, newline="") as f:
        return {(r["student"], r["lesson"]): r for r in csv.DictReader(f)}


def test_every_student_has_a_row_with_the_right_status(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("add_one", ADD), solutions / "01_demo.ipynb")
    nbformat.write(lesson("double", DOUBLE), solutions / "02_other.ipynb")
    subs = tmp_path / "subs"
    files = {
        ("ana", "01_demo.ipynb"): lesson("add_one", ADD),
        ("ben", "01_demo-Copy1.ipynb"): lesson("add_one", ADD),                 # JupyterLab's duplicate
        ("cy", "Homework week 2.ipynb"): lesson("double", DOUBLE),               # renamed: matched by its cells
        ("dee", "01_demo.ipynb"): lesson("add_one", "def add_one(x):\n    return x"),
        ("dee", "01_demo (1).ipynb"): lesson("add_one", ADD),                    # a second copy, not graded
        ("eve", "01_demo.ipynb"): lesson("add_one", "def add_one(x)\n    return x + 1"),
        ("fay", "01_demo.ipynb"): lesson("add_one", "def add_one(x):\n    return x", check="assert True"),
        ("gus", "01_demo.ipynb"): lesson("add_one", ADD, with_check=False),     # check cell deleted
        ("hal", "my notes.ipynb"): new_notebook(metadata=KERNEL, cells=[new_code_cell("print(1)")]),
        ("zed", "02_other.ipynb"): lesson("double", DOUBLE),                     # not on the roster
    }
    for (student, name), nb in files.items():
        (subs / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / student / name)
    os.utime(subs / "dee" / "01_demo.ipynb", (1, 1))    # the lesson-named file is older, still chosen
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,email\nana,a@x\nben,b@x\ncy,c@x\ndee,d@x\neve,e@x\nfay,f@x\ngus,g@x\nhal,h@x\nivy,i@x\n")
    out = tmp_path / "grades" / "grades.csv"
    code = grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--jobs", "2",
                         "--roster", str(roster), "--timeout", "30"])
    assert code == 0
    rows = read(out)
    total = {key: float(r["total"]) for key, r in rows.items()}
    assert total[("ana", "01_demo")] == 3 and total[("ben", "01_demo")] == 3
    assert "graded as 01_demo (matched by cell ids)" in rows[("ben", "01_demo")]["review"]
    assert total[("cy", "02_other")] == 3
    assert total[("dee", "01_demo")] == 1 and "not graded: '01_demo (1).ipynb'" in rows[("dee", "01_demo")]["review"]
    assert total[("eve", "01_demo")] == 1
    eve = (out.parent / "feedback" / "eve" / "01_demo.md").read_text()
    assert "SyntaxError in your exercise cell, line 1" in eve
    assert total[("fay", "01_demo")] == 1 and "check cell ex_add_one_check was edited" in rows[("fay", "01_demo")]["review"]
    assert total[("gus", "01_demo")] == 3 and "ex_add_one_check was deleted (restored" in rows[("gus", "01_demo")]["review"]
    assert rows[("hal", "my notes")]["status"].startswith("unmatched: my notes.ipynb")
    assert (out.parent / "feedback" / "hal" / "my_notes.md").is_file()
    assert {rows[("ivy", lesson)]["status"] for lesson in ("01_demo", "02_other")} == {"missing: nothing submitted"}
    assert rows[("ivy", "01_demo")]["max"] == "3.0"
    assert "not on the roster" in rows[("zed", "02_other")]["review"]
    # every roster student has a row per graded lesson; nobody else is invented
    students = {s for s, _ in rows}
    assert students == {"ana", "ben", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "zed"}
    assert all((s, lesson) in rows for s in students - {"zed"} for lesson in ("01_demo", "02_other"))
    printed = capsys.readouterr().out
    assert "1 unmatched" in printed and "missing" in printed
    summary = (out.parent / "summary.md").read_text()
    assert "| ex_add_one_check | 3 / 6 | raised (3) |" in summary and "my_notes" in summary

    # A manual override survives a regrade of someone else; eve's fixed notebook replaces her row only.
    (out.parent / "overrides.csv").write_text("student,lesson,total,comment\nfay,01_demo,2,talked it through\n")
    nbformat.write(lesson("add_one", ADD), subs / "eve" / "01_demo.ipynb")
    assert grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--student", "eve",
                         "--lesson", "01_demo", "--roster", str(roster), "--timeout", "30"]) == 0
    again = read(out)
    assert float(again[("eve", "01_demo")]["total"]) == 3
    assert set(again) == set(rows)
    assert again[("ana", "01_demo")]["total"] == rows[("ana", "01_demo")]["total"]
    fay = again[("fay", "01_demo")]
    assert float(fay["total"]) == 2 and float(fay["auto_total"]) == 1 and fay["override"] == "talked it through"
    # …and taking the override out of the file gives the automatic total back on the next run
    (out.parent / "overrides.csv").write_text("student,lesson,total,comment\n")
    grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--student", "ana",
                  "--lesson", "01_demo", "--timeout", "30"])
    assert float(read(out)[("fay", "01_demo")]["total"]) == 1


def test_roster_formats(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("ana\n\nben\nana\n")
    assert classlist.read_roster(plain) == ["ana", "ben"]
    nbgrader_like = tmp_path / "students.csv"
    nbgrader_like.write_text("first_name,last_name,id,email\nAna,A,ana01,a@x\n")
    assert classlist.read_roster(nbgrader_like) == ["ana01"]
    empty = tmp_path / "empty.csv"
    empty.write_text("student\n")
    try:
        classlist.read_roster(empty)
    except ValueError as err:
        assert "lists no students" in str(err)
    else:
        raise AssertionError("an empty roster was accepted")


def test_a_lesson_that_does_not_exist_is_a_clear_error(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("add_one", ADD), solutions / "01_demo.ipynb")
    (tmp_path / "subs").mkdir()
    assert grading.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--solutions", str(solutions),
                         "--lesson", "04_triplet"]) == 2
    assert "no lesson called 04_triplet" in capsys.readouterr().err


# ------------------------------------------------------------------------------ due dates, late work
from datetime import datetime, timedelta, timezone  # noqa: E402
import zipfile  # noqa: E402

import pytest  # noqa: E402

UTC = timezone.utc
DUE = datetime(2026, 12, 10, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("after, words, days, percent", [
    (timedelta(0), "", 0, 0.0),                          # at the due second: on time
    (-timedelta(hours=3), "", 0, 0.0),
    (timedelta(seconds=1), "1 min", 1, 10.0),            # a started day counts as a whole one
    (timedelta(hours=5, minutes=10), "5 h 10 min", 1, 10.0),
    (timedelta(days=1), "1 day", 1, 10.0),
    (timedelta(days=1, seconds=1), "1 day", 2, 20.0),
    (timedelta(days=2, hours=3), "2 days 3 h", 3, 30.0),
    (timedelta(days=15), "15 days", 15, 100.0),         # capped
])
def test_lateness_counts_started_days_and_caps_at_100_percent(after, words, days, percent):
    assert classlist.lateness(DUE + after, DUE, 10.0) == (words, days, percent)


def test_due_dates_across_time_zones():
    berlin = classlist.parse_time("2026-12-11T00:59+01:00")           # the same instant as DUE
    assert berlin == DUE and classlist.lateness(berlin, DUE, 10)[0] == ""
    assert classlist.lateness(classlist.parse_time("2026-12-10T23:30-05:00"), DUE, 10)[1] == 1   # 04:30 UTC
    local = classlist.parse_time("2026-12-10T23:59")                   # no offset: this machine's zone
    assert local.tzinfo is not None and local.replace(tzinfo=None) == datetime(2026, 12, 10, 23, 59)
    assert classlist.parse_time("2026-12-10").time().isoformat() == "23:59:59"   # a date: its end
    assert classlist.parse_time("2026-12-10T23:59Z") == DUE
    due = classlist.parse_due(["2026-12-10T23:59Z", "04_triplet_loss=2026-12-12T12:00+02:00"])
    assert due[None] == DUE and due["04_triplet_loss"] == datetime(2026, 12, 12, 10, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-13-01", "next friday", "04_triplet_loss=10/12/2026"])
def test_an_unparsable_due_date_names_the_value_and_the_format(bad):
    with pytest.raises(ValueError) as err:
        classlist.parse_due([bad])
    assert repr(bad) in str(err.value) and "2026-12-10T23:59" in str(err.value)


def test_late_penalty_formats():
    assert [classlist.parse_penalty(x) for x in ("10%/day", "10%", "10", "0", "2.5 % / day", None)] == \
        [10, 10, 10, 0, 2.5, 0]
    for bad in ("ten", "10%/week", "120%"):
        with pytest.raises(ValueError, match="10%/day"):
            classlist.parse_penalty(bad)


def test_the_exchange_timestamp_beats_the_file_time(tmp_path):
    folder = tmp_path / "subs" / "ana"
    folder.mkdir(parents=True)
    nb = folder / "04_triplet_loss.ipynb"
    nb.write_text("{}")
    os.utime(nb, (DUE.timestamp() - 3600,) * 2)
    assert classlist.submission_time(nb, tmp_path / "subs") == (DUE - timedelta(hours=1), "file time")
    # nbgrader's Exchange writes "%Y-%m-%d %H:%M:%S.%f %Z" in Exchange.timezone (UTC by default)
    (folder / "timestamp.txt").write_text("2026-12-12 08:30:00.250000 UTC")
    when, source = classlist.submission_time(nb, tmp_path / "subs")
    assert source == "timestamp.txt" and when == datetime(2026, 12, 12, 8, 30, 0, 250000, tzinfo=UTC)
    (folder / "timestamp.txt").write_text("2026-12-12 09:30:00.250000 +0100")
    assert classlist.submission_time(nb, tmp_path / "subs")[0] == datetime(2026, 12, 12, 8, 30, 0, 250000, tzinfo=UTC)
    (folder / "timestamp.txt").write_text("not a time")                 # unreadable: the file time
    assert classlist.submission_time(nb, tmp_path / "subs")[1] == "file time"
    flat = tmp_path / "subs" / "ben__04_triplet_loss.ipynb"               # flat layout: no folder of its own
    flat.write_text("{}")
    (tmp_path / "subs" / "timestamp.txt").write_text("2026-12-12 08:30:00.250000 UTC")
    assert classlist.submission_time(flat, tmp_path / "subs")[1] == "file time"


def test_the_penalty_applies_to_the_automatic_total_and_overrides_replace_it(tmp_path):
    row = {"student": "ana", "lesson": "01_demo", "total": 3.0, "max": 3.0, "status": "ok", "review": ""}
    classlist.apply_late(row, DUE + timedelta(days=1, hours=2), "timestamp.txt", DUE, 10.0)
    assert row["late"] == "1 day 2 h" and row["penalty"] == 0.6 and row["total"] == 2.4
    assert row["review"] == "" and datetime.fromisoformat(row["submitted"]) == DUE + timedelta(days=1, hours=2)
    by_mtime = {"total": 3.0, "review": ""}
    classlist.apply_late(by_mtime, DUE + timedelta(hours=1), "file time", DUE, 0.0)   # 0: only reported
    assert by_mtime["late"] == "1 h" and by_mtime["total"] == 3.0 and by_mtime["penalty"] == 0
    assert "file time" in by_mtime["review"]
    no_due = {"total": 3.0}
    classlist.apply_late(no_due, DUE, "file time", None, 10.0)
    assert set(no_due) == {"total", "submitted"}
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("student,lesson,total,comment\nana,01_demo,3,illness\n")
    assert classlist.apply_overrides(overrides, [row]) == 1
    assert row["total"] == 3.0 and row["auto_total"] == 2.4
    overrides.write_text("student,lesson,total,comment\n")
    classlist.apply_overrides(overrides, [row])
    assert row["total"] == 2.4                                            # the penalised automatic total


# ------------------------------------------------------------------------------ rosters and LMS files
def test_roster_people_columns(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,email,name,SIS User ID,Section\nana,a@x.edu,Ana Lima,1001,A\nben,,Ben,,\n"
                      "=cmd,evil@x,=HYPERLINK(\"x\"),,\n")
    people = classlist.read_roster_people(roster)
    assert people["ana"] == {"email": "a@x.edu", "name": "Ana Lima", "sis_id": "1001", "section": "A"}
    assert people["ben"] == {"name": "Ben"} and classlist.read_roster(roster) == ["ana", "ben", "=cmd"]
    nbgrader_like = tmp_path / "students.csv"
    nbgrader_like.write_text("first_name,last_name,id,email\nAna,Lima,ana01,a@x\n")
    assert classlist.read_roster_people(nbgrader_like) == {"ana01": {"name": "Ana Lima", "email": "a@x"}}
    plain = tmp_path / "plain.txt"
    plain.write_text("ana\nben\n")
    assert classlist.read_roster_people(plain) == {"ana": {}, "ben": {}}


def test_lms_files_have_the_columns_canvas_and_moodle_import(tmp_path):
    rows = [{"student": "ana", "lesson": "01_demo", "total": 2.4, "max": 3.0, "status": "ok"},
            {"student": "ana", "lesson": "02_other", "total": 3.0, "max": 3.0, "status": "ok"},
            {"student": "ben", "lesson": "01_demo", "total": 0.0, "max": 3.0, "status": "missing: nothing submitted"},
            {"student": "ben", "lesson": "my notes", "total": 0.0, "max": 0.0, "status": "unmatched: my notes.ipynb"},
            {"student": "=cmd", "lesson": "01_demo", "total": 1.0, "max": 3.0, "status": "ok"}]
    people = {"ana": {"name": "Ana Lima", "email": "a@x.edu", "sis_id": "1001", "section": "A", "lms_id": "77"},
              "=cmd": {"name": "=HYPERLINK(\"x\")", "email": "@evil"}}
    classlist.write_lms(tmp_path / "lms", rows, people)
    with open(tmp_path / "lms" / "canvas.csv", newline="") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_demo", "02_other"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "3", "3"]
    assert canvas[2] == ["Ana Lima", "77", "1001", "ana", "A", "2.4", "3"]
    assert canvas[3] == ["'=HYPERLINK(\"x\")", "", "", "'=cmd", "", "1", ""]      # neutralised like grades.csv
    assert canvas[4] == ["ben", "", "", "ben", "", "0", ""]                    # missing: 0; no row: empty
    with open(tmp_path / "lms" / "moodle.csv", newline="") as f:
        moodle = list(csv.reader(f))
    assert moodle[0] == ["username", "email", "idnumber", "01_demo", "02_other"]
    assert moodle[1] == ["ana", "a@x.edu", "1001", "2.4", "3"]
    assert moodle[2] == ["'=cmd", "'@evil", "", "1", ""]
    assert len(moodle) == 4 and all(len(r) == 5 for r in moodle)


def test_a_late_submission_end_to_end(tmp_path, capsys):
    """One grading run with a due date: the exchange timestamp decides, the penalty lands in
    ``total``, the LMS files and the feedback zip follow."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(lesson("add_one", ADD), solutions / "01_demo.ipynb")
    subs = tmp_path / "subs"
    for student in ("ana", "ben"):
        (subs / student).mkdir(parents=True)
        nbformat.write(lesson("add_one", ADD), subs / student / "01_demo.ipynb")
    os.utime(subs / "ana" / "01_demo.ipynb", (DUE.timestamp() - 60,) * 2)          # on time by its file time
    os.utime(subs / "ben" / "01_demo.ipynb", (DUE.timestamp() - 60,) * 2)          # …but the exchange says late
    (subs / "ben" / "timestamp.txt").write_text("2026-12-12 02:00:00.000000 UTC")   # 1 day 2 h 1 min late
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name,email\nana,Ana Lima,a@x.edu\nben,Ben Ode,b@x.edu\ncy,Cy,c@x.edu\n")
    out = tmp_path / "grades" / "grades.csv"
    assert grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--roster", str(roster),
                         "--due", "2026-12-11T00:59+01:00", "--late-penalty", "10%/day", "--timeout", "30"]) == 0
    rows = read(out)
    ana, ben, cy = rows[("ana", "01_demo")], rows[("ben", "01_demo")], rows[("cy", "01_demo")]
    assert (ana["late"], float(ana["penalty"]), float(ana["total"])) == ("", 0, 3)
    assert datetime.fromisoformat(ana["submitted"]) == DUE - timedelta(minutes=1)
    assert (ben["late"], float(ben["penalty"]), float(ben["total"])) == ("1 day 2 h", 0.6, 2.4)   # 2 started days
    assert datetime.fromisoformat(ben["submitted"]) == datetime(2026, 12, 12, 2, tzinfo=UTC)
    assert cy["status"] == "missing: nothing submitted" and cy["submitted"] == cy["late"] == ""
    header = open(out).readline().strip().split(",")
    assert header[header.index("submitted"):header.index("total") + 1] == ["submitted", "late", "penalty", "total"]
    assert "1 late submission(s) (10% per started day)" in capsys.readouterr().out
    assert "Handed in 1 day 2 h after the due date (0.6 points taken off)" in \
        (out.parent / "feedback" / "ben" / "01_demo.md").read_text()
    with open(out.parent / "lms" / "canvas.csv", newline="") as f:
        canvas = {r[0]: r for r in csv.reader(f)}
    assert canvas["Ben Ode"][-1] == "2.4" and canvas["Points Possible"][-1] == "3" and canvas["Cy"][-1] == "0"
    with zipfile.ZipFile(out.parent / "feedback.zip") as zf:
        assert sorted(zf.namelist()) == ["ana/01_demo.md", "ben/01_demo.md"]
    # an unparsable --due stops before anything is graded, naming the value and the format
    assert grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), "--due", "11/12/2026"]) == 2
    err = capsys.readouterr().err
    assert "'11/12/2026'" in err and "2026-12-10T23:59" in err


def test_a_regrade_keeps_the_other_rows_late_columns_and_all(tmp_path):
    out = tmp_path / "grades.csv"
    old = [{"student": "ana", "lesson": "01_demo", "ex_check": 2.0, "submitted": "2026-12-12T03:00:00+01:00",
            "late": "1 day 3 h", "penalty": 0.6, "total": 2.4, "max": 3.0, "status": "ok", "review": "=x",
            "seconds": 1.0},
           {"student": "ben", "lesson": "01_demo", "ex_check": 0.0, "total": 0.0, "max": 3.0,
            "status": "missing: nothing submitted", "review": "", "seconds": 0.0}]
    classlist.write_csv(out, old)
    header = out.read_text().splitlines()[0]
    assert header == "student,lesson,ex_check,submitted,late,penalty,total,max,status,review,seconds"
    fresh = [{"student": "ben", "lesson": "01_demo", "ex_check": 2.0, "total": 3.0, "max": 3.0, "status": "ok",
              "review": "", "seconds": 2.0}]
    rows = classlist.merged(out, fresh)
    assert [r["student"] for r in rows] == ["ana", "ben"] and rows[1] is fresh[0]
    assert rows[0]["penalty"] == 0.6 and rows[0]["total"] == 2.4 and rows[0]["late"] == "1 day 3 h"
    classlist.write_csv(out, rows)
    assert read(out)[("ana", "01_demo")]["review"] == "'=x"              # neutralised once, not twice
