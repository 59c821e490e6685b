"""Per-student feedback written by ``course.py grade``: ``feedback/<student>/<lesson>.md``.

Each file lists the lesson's checks with the points earned and the check's message (the same short
message the student sees in the notebook: what is wrong and the likely mistake; no paths, no
tracebacks), then anything that stopped the run (time limit, a kernel that died).
"""
from __future__ import annotations

import re
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
