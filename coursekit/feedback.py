"""Per-student feedback written by ``course.py grade``: ``feedback/<student>/<lesson>.md``.

Each file lists the lesson's checks with the points earned and the check's message (the same short
message the student sees in the notebook: what is wrong and the likely mistake; no paths, no
tracebacks), then anything that stopped the run (time limit, a kernel that died). A late submission
says how late and what that cost. ``feedback.zip`` beside the folder holds every student's folder,
to hand out through an LMS or a file share.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """``name`` as one file or folder name: letters, digits, ``_ . -`` only (student text cannot climb
    out of the feedback folder or name a hidden file)."""
    return _SAFE.sub("_", str(name)).strip("._") or "student"


def fenced(text: str) -> list[str]:
    """``text`` as a Markdown code block it cannot break out of: the fence is longer than any run
    of backticks inside, so student-controlled text (an exception message, a name) is shown, never
    rendered as Markdown or HTML."""
    text = str(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def render(row: dict, result: dict) -> str:
    """Markdown feedback for one graded submission."""
    lines = [f"# {row['lesson']}: {row['total']:g} / {row['max']:g} points", ""]
    if row.get("late"):
        penalty = float(row.get("penalty") or 0)
        cost = f"{penalty:g} points taken off" if penalty else "no points taken off"
        lines += [f"Handed in {row['late']} after the due date ({cost}).", ""]
    for gid, possible in result["possible"].items():
        got = result["scores"].get(gid, 0.0)
        mark = "✓" if got == possible and possible > 0 else "✗"
        message = str(result["messages"].get(gid, "")).strip()
        lines.append(f"## {mark} {gid.removesuffix('_check').removeprefix('ex_')} ({got:g}/{possible:g})")
        lines.append("")
        lines += [*fenced(message), ""] if message else [""]
    if row.get("status") and row["status"] != "ok":
        lines += ["## What stopped the run", "", *fenced(row["status"]), ""]
    return "\n".join(lines)


def write_all(folder: Path, graded: list[tuple[dict, dict]]) -> int:
    """Write every submission's feedback under ``folder``; returns how many files were written."""
    count = 0
    for row, result in graded:
        path = Path(folder) / safe_name(row["student"]) / f"{safe_name(row['lesson'])}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(row, result), encoding="utf-8")
        count += 1
    return count


def write_summary(path: Path, rows: list[dict], graded: list[tuple[dict, dict]]) -> None:
    """``summary.md`` for the instructor — what to re-teach: per lesson, the rows by status and the
    mean total; per check, how many passed and the most common named mistake of those who did not
    (the judge's reason codes, never student text). Unmatched files are listed at the end."""
    from collections import Counter
    lines = ["# Grading summary", ""]
    for lesson in sorted({row["lesson"] for row, _ in graded}):
        mine = [(row, result) for row, result in graded if row["lesson"] == lesson]
        totals = [float(r["total"]) for r in rows if r["lesson"] == lesson and not str(r["status"]).startswith("missing")]
        missing = sum(r["lesson"] == lesson and str(r["status"]).startswith("missing") for r in rows)
        top = float(mine[0][0]["max"])
        lines += [f"## {lesson}", "",
                  f"{len(mine)} graded, {missing} missing; mean {sum(totals) / max(len(totals), 1):.2f} / {top:g}", "",
                  "| check | passed | most common mistake among the others |", "|---|---|---|"]
        for gid, possible in mine[0][1]["possible"].items():
            passed = sum(result["scores"].get(gid, 0.0) == possible for _, result in mine)
            wrong = Counter(result.get("reasons", {}).get(gid) or "not run" for _, result in mine
                            if result["scores"].get(gid, 0.0) != possible)
            common = ", ".join(f"{safe_name(reason)} ({n})" for reason, n in wrong.most_common(2)) or "—"
            lines.append(f"| {gid} | {passed} / {len(mine)} | {common} |")
        lines.append("")
    odd = [r for r in rows if str(r["status"]).startswith("unmatched")]
    if odd:
        lines += ["## Files matched to no lesson", ""] + [f"- {safe_name(r['student'])}: {safe_name(r['lesson'])}"
                                                          for r in odd] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_zip(folder: Path, target: Path) -> int:
    """Every file under ``folder`` into the zip ``target`` as ``<student>/<lesson>.md`` (rebuilt from
    scratch, in a stable order); returns the number of files. Nothing is written for an empty folder."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).is_dir() else []
    if not files:
        return 0
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, path.relative_to(folder).as_posix())
    partial.replace(target)
    return len(files)
