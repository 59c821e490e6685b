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
