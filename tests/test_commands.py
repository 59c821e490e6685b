"""Every ``python3 course.py ...`` command line written in the README and the instructor guide
is accepted, as written, by course.py's parser *and* by the parser of the tool it runs.

Nothing is executed: course.py's installer and runner are replaced by recorders, and the tool's
``argparse`` parse is stopped right after it succeeded (a dry run through the real parsers). An
unknown option makes argparse exit with status 2, which fails the test with the command line.
"""
from __future__ import annotations

import argparse
import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "instructor" / "guide.md"]
COMMAND = re.compile(r"python3 course\.py[^`\n|#]*")
# Placeholders written in the docs, and what a real user would type in their place.
PLACEHOLDERS = {"SUBMISSIONS": "submissions/", "URL": "https://example.org/reveal.js"}


def documented_commands() -> list[str]:
    found = []
    for doc in DOCS:
        for m in COMMAND.finditer(doc.read_text()):
            line = m.group(0).strip().rstrip(".,;:)")
            line = re.sub(r"\s*\((or|e\.g\.)\b.*$", "", line).strip()
            if line not in found:
                found.append(line)
    return found


COMMANDS = documented_commands()


def test_the_docs_contain_commands_with_options():
    # Guards the extraction itself: these lines are in the README today.
    assert "python3 course.py prepare" in COMMANDS
    assert any(c.startswith("python3 course.py grade") and "--out" in c for c in COMMANDS)
    assert any(c.startswith("python3 course.py bench train") and "--minutes" in c for c in COMMANDS)


class Parsed(Exception):
    """Raised by the patched parser once the tool's own argparse accepted the arguments."""


@pytest.fixture
def course(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("course", None)
    mod = importlib.import_module("course")
    calls = []
    monkeypatch.setattr(mod, "ensure_env", lambda extras="test": calls.append(["env", extras]) or Path("python"))
    monkeypatch.setattr(mod, "run", lambda cmd, **kw: calls.append(["run", *map(str, cmd)]) or 0)
    monkeypatch.setattr(mod, "_tool", lambda module, args: calls.append(["tool", module, *args.rest]) or 0)
    monkeypatch.setattr(mod, "classroom_proxy", lambda: None)      # no npm install from a parser test
    return mod, calls


def dry_parse(module: str, rest: list[str], monkeypatch) -> argparse.Namespace | None:
    """Run the tool's ``main(rest)`` until its argparse has parsed ``rest`` and stop there."""
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise Parsed(real(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    tool = importlib.import_module(module if module != "benchmarks" else "benchmarks.__main__")
    try:
        tool.main(rest)
    except Parsed as done:
        return done.args[0]
    except SystemExit as err:
        pytest.fail(f"{module} rejected {rest}: exit {err.code}")
    pytest.fail(f"{module}.main({rest}) returned without parsing its arguments")


@pytest.mark.parametrize("line", COMMANDS)
def test_documented_command_is_accepted(line, course, monkeypatch):
    mod, calls = course
    words = [PLACEHOLDERS.get(w, w) for w in shlex.split(line)[2:]]
    try:
        assert mod.main(words) == 0
    except SystemExit as err:
        pytest.fail(f"course.py rejected `{line}`: exit {err.code}")
    assert calls, f"`{line}` ran nothing"
    kind, *cmd = calls[-1]
    if kind == "tool":
        module, *rest = cmd
        # Every word after the subcommand reached the tool unchanged (slides/site get their name first).
        assert rest[len(rest) - len(words) + 1:] == words[1:]
        dry_parse(module, rest, monkeypatch)
    elif kind == "run":   # lab / test run a program directly; the words after the command reach it
        assert all(w in cmd for w in words[1:]), (line, cmd)
    else:                 # setup: its own options, parsed by course.py
        assert words == ["setup", "--instructor"] and cmd == [mod.FULL]


@pytest.mark.parametrize("words, module, rest", [
    (["prepare", "--check"], "coursekit.prepare", ["--check"]),
    (["slides", "--execute"], "coursekit.publish", ["slides", "--execute"]),
    (["slides", "--reveal-prefix", "package"], "coursekit.publish", ["slides", "--reveal-prefix", "package"]),
    (["site", "--solutions"], "coursekit.publish", ["site", "--solutions"]),
    (["student", "--check"], "coursekit.authoring", ["--check"]),
    (["grade", "subs/", "--out", "g.csv"], "coursekit.grading", ["subs/", "--out", "g.csv"]),
    (["bench", "train", "--minutes", "5"], "benchmarks", ["train", "--minutes", "5"]),
])
def test_options_after_a_subcommand_reach_the_tool(words, module, rest, course, monkeypatch):
    mod, calls = course
    assert mod.main(words) == 0
    assert calls[-1] == ["tool", module, *rest]
    dry_parse(module, rest, monkeypatch)


def test_an_unknown_option_is_still_rejected_by_the_tool(course, monkeypatch):
    mod, calls = course
    mod.main(["prepare", "--no-such-option"])
    with pytest.raises(pytest.fail.Exception, match="rejected"):
        dry_parse("coursekit.prepare", calls[-1][2:], monkeypatch)


def test_test_options_keep_the_default_targets(course):
    mod, calls = course
    mod.main(["test", "-k", "x"])
    cmd = calls[-1]
    assert "-k" in cmd and "x" in cmd and "tests" in cmd and "solutions" in cmd
    mod.main(["test", "tests/test_commands.py", "-x"])
    assert "solutions" not in calls[-1] and "tests/test_commands.py" in calls[-1]


def test_grade_reads_paths_from_the_folder_it_is_typed_in(tmp_path):
    """``python3 path/to/course.py grade subs/`` from a course folder grades that folder's
    ``subs/`` (the hub README runs ``grade --nbgrader .``), not one in the repository."""
    import subprocess
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), "grade", "no-such-subs", "--out", "g.csv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"looked for {tmp_path.resolve() / 'no-such-subs'}" in done.stderr, done.stderr
