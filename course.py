#!/usr/bin/env python3
"""One entry point for students, instructors and CI.

    python3 course.py lab       # install everything (once) and open the course in JupyterLab
    python3 course.py test      # install everything (once) and run unit tests + every notebook

Other commands (see ``python3 course.py --help``): ``setup``, ``student`` (regenerate the
student notebooks from ``solutions/``), ``grade`` (autograde a folder of submissions),
``slides``, ``site``, ``prepare`` (cache data for an offline classroom), ``bench``.

Only the Python standard library is used here, so this file runs before anything is
installed. Everything is installed into ``.venv/`` next to this file; nothing is installed
system-wide. Re-running a command re-installs only when ``pyproject.toml`` changed.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course-installed"
FIRST_LESSON = "notebooks/00_welcome.ipynb"
MIN_PYTHON = (3, 10)
MAX_PYTHON = (3, 13)     # the newest tested (README, "Python versions"); TensorFlow has no 3.14 wheel yet


def venv_python() -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENV / sub


def _requirements_hash(extras: str) -> str:
    data = (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    return hashlib.sha256(data).hexdigest()


def run(cmd: list[str], cwd: Path = ROOT, **kwargs) -> int:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=cwd, **kwargs)


def ensure_env(extras: str = "test") -> Path:
    """Create ``.venv`` and install the course (editable) with ``extras``; idempotent."""
    if not MIN_PYTHON <= sys.version_info[:2] <= MAX_PYTHON:
        sys.exit(f"Python {'.'.join(map(str, MIN_PYTHON))} to {'.'.join(map(str, MAX_PYTHON))} is needed; "
                 f"this is {sys.version.split()[0]}. "
                 "Install Python 3.11 (python.org or your package manager) and run this again with it.")
    py = venv_python()
    if not py.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    want = _requirements_hash(extras)
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return py
    t0 = time.time()
    print("Installing the course and its packages (first time: about 1-3 minutes) ...", flush=True)
    spec = f".[{extras}]" if extras else "."
    rc = run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", spec])
    if rc != 0:
        sys.exit("Installing failed (see the pip messages above). Check your internet connection or proxy, "
                 "then run the same command again; nothing else was changed on your machine.")
    STAMP.write_text(want)
    print(f"Installed in {time.time() - t0:.0f} s.", flush=True)
    return py


def test_env() -> dict:
    env = dict(os.environ)
    env.setdefault("COURSE_QUICK", "1")          # notebooks train for seconds, not minutes
    env["COURSE_DATASET"] = "synthetic"          # deterministic outputs; no real faces in them
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def cmd_setup(args) -> int:
    ensure_env(FULL if args.instructor else "test")
    print("Ready. Open the course with:  python3 course.py lab")
    return 0


def cmd_lab(args) -> int:
    py = ensure_env("test")
    return run([py, "-m", "jupyter", "lab", FIRST_LESSON, *args.rest])


# Everything the test suite and the instructor tools use: the production encoder (lesson 9, its
# tests), the classroom hub (its end-to-end test), nbgrader and the browser driver.
FULL = "test,instructor,pretrained,classroom"


def classroom_proxy() -> None:
    """JupyterHub's proxy comes from npm (classroom/package.json): install it once if npm exists.
    Without it the classroom test skips and says why; nothing else needs it."""
    if (ROOT / "classroom" / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        return
    import shutil
    npm = shutil.which("npm")
    if not npm:
        print("npm not found: the JupyterHub classroom test will skip (install Node.js to run it).", flush=True)
        return
    try:
        rc = subprocess.call([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=ROOT / "classroom", timeout=300)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc != 0:
        print(f"npm install in classroom/ failed ({rc}): the JupyterHub classroom test will skip.", flush=True)


def cmd_test(args) -> int:
    py = ensure_env(FULL)
    classroom_proxy()
    t0 = time.time()
    # Unit tests first, then the authored solutions (they save the trained encoder that later
    # lessons reuse), then the student versions. nbval compares the cells tagged as
    # deterministic (--nbval-lax + the "nbval-check-output" tag); every cell must run.
    # The unit tests run on two workers (most of them wait on one core or on kernels starting);
    # the lessons run in order on one, because later lessons load what lesson 6 saved.
    phases = [test_targets(args.rest)] if args.rest else [
        ["tests", "-n", test_workers(), "--dist", "loadfile"], ["solutions", "notebooks"]]
    codes = [run([py, "-m", "pytest", *targets, "--nbval-lax", "--nbval-cell-timeout=600",
                  "-p", "no:cacheprovider"], env=test_env()) for targets in phases]
    rc = next((code for code in codes if code), 0)
    if rc == 0 and not args.rest:
        # The decks and the website are built from the notebooks nbval just executed, so they
        # cannot silently break (and nothing is executed twice).
        rc = run([py, "-m", "coursekit.publish", "all"], env=test_env())
    if rc == 0 and not args.rest:
        # Every slide of every deck, built from those executed lessons, must fit a 1280×720
        # projector (headless Chromium; skips with the reason when no browser is installed).
        rc = run([py, "-m", "pytest", "tests/test_decks.py", "-k", "every_slide_of_every_deck",
                  "-p", "no:cacheprovider", "-q", "-rs"], env=test_env())
    print(f"Test suite finished in {time.time() - t0:.0f} s (exit code {rc}).")
    return rc


DEFAULT_TEST_TARGETS = ["tests", "solutions", "notebooks"]


def test_workers() -> str:
    """pytest-xdist's ``-n`` for the unit tests: 2 workers, or COURSE_TEST_WORKERS (1: one process)."""
    n = int(os.environ.get("COURSE_TEST_WORKERS", "2"))
    return str(n) if n > 1 else "0"


def test_targets(rest: list[str]) -> list[str]:
    """pytest arguments for ``course.py test REST``: options alone (``-k x``, ``-x``) keep the
    default targets; a path or node id (``tests/test_losses.py::test_x``) replaces them."""
    paths = [a for a in rest if not a.startswith("-") and (ROOT / a.split("::")[0]).exists()]
    return [*rest] if paths else [*DEFAULT_TEST_TARGETS, *rest]


# The grader's paths (submissions, --out, --nbgrader COURSE_DIR) are the user's, relative to the
# folder they typed the command in; the other tools work on this repository.
IN_CALLERS_FOLDER = {"coursekit.grading"}


def _tool(module: str, args) -> int:
    py = ensure_env(FULL)
    env, cwd = dict(os.environ), ROOT
    if module in IN_CALLERS_FOLDER:     # importable from there too, without an editable install
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        cwd = Path.cwd()
    return run([py, "-m", module, *args.rest], env=env, cwd=cwd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup", help="create .venv and install everything")
    p.add_argument("--instructor", action="store_true", help="also install nbgrader for instructors")
    p.set_defaults(func=cmd_setup, rest=[])
    for name, func, text in [
        ("lab", cmd_lab, "open the course in JupyterLab (extra arguments go to jupyter lab)"),
        ("test", cmd_test, "run unit tests and execute every notebook (extra arguments go to pytest)"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    for name, module, text in [
        ("student", "coursekit.authoring", "regenerate notebooks/ (student versions) from solutions/"),
        ("grade", "coursekit.grading", "autograde a folder of submitted notebooks into a CSV"),
        ("slides", "coursekit.publish", "build reveal.js slide decks of every lesson into build/slides"),
        ("site", "coursekit.publish", "build the course website into build/site"),
        ("prepare", "coursekit.prepare", "download and cache datasets for offline classroom use"),
        ("bench", "benchmarks", "run a benchmark: bench train|losses|embed|synthetic|widgets|search|photos|generalise"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=lambda a, m=module, n=name: _tool(m, _with_sub(a, n)))
    args = parse(parser, argv, passthrough=set(sub.choices) - {"setup"})
    return args.func(args)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None, passthrough: set[str]):
    """Parse ``course.py COMMAND ...``. For a pass-through command every word after the command
    (options included, ``--help`` too) goes unchanged to the tool it runs: argparse's REMAINDER
    alone rejects a leading option such as ``prepare --check``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in passthrough:
        args = parser.parse_args(argv[:1])
        args.rest = argv[1:]
        return args
    return parser.parse_args(argv)


def _with_sub(args, name):
    if name in ("slides", "site"):
        args.rest = [name, *args.rest]
    return args


if __name__ == "__main__":
    sys.exit(main())
