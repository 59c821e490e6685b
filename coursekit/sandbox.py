"""Isolation for grading: an in-memory snapshot of the course, one throw-away folder per
submission, and a clean-up that leaves no process and no changed course file behind.

What it does (and what it cannot do) is described in the README, section "Grading".

* :class:`CourseSnapshot` reads every file the grader relies on (``course_utils/`` and the
  instructor's ``solutions/*.ipynb``) into memory **before any student code runs**, with their
  SHA-256, so later runs and verdicts never read a file a submission could have rewritten.
* :class:`Workspace` is one submission's private world: ``work/`` (the kernel's working
  directory, where the notebook "lives"), ``data/`` (``COURSE_DATA_DIR``), ``pkg/`` (a private
  copy of ``course_utils`` written from the snapshot, first on ``PYTHONPATH``) and ``home/``
  (``HOME``, so Keras/Matplotlib caches land there too). Every process started for the submission
  carries a random token in its environment (``COURSE_GRADING_TOKEN``).
* :func:`kill_submission_processes` kills the kernel's process group, its descendants, every
  process whose environment carries the token and every process whose working directory is inside
  the workspace (this catches ``setsid``/double-fork escapes that kept their environment).
* :meth:`CourseSnapshot.verify_and_restore` compares the real course files with the snapshot and
  rewrites (or deletes) whatever changed; the grader flags the submission that did it.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN_VAR = "COURSE_GRADING_TOKEN"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``root`` (caches left out)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


@dataclass
class CourseSnapshot:
    """The course as it was when grading started, held in memory.

    ``package``: ``{path relative to course_utils/: bytes}``; ``solutions``:
    ``{notebook file name: bytes}``; ``guarded``: ``{absolute path: sha256}`` of every real file
    checked (and restored) after each submission.
    """
    root: Path
    package: dict[str, bytes]
    solutions: dict[str, bytes]
    guarded: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def take(cls, root: Path = REPO_ROOT, solutions: Path | None = None,
             package: Path | None = None) -> "CourseSnapshot":
        root = Path(root)
        solutions = Path(solutions) if solutions else root / "solutions"
        package = Path(package) if package else root / "course_utils"
        pkg = _tree(package)
        sols = {p.name: p.read_bytes() for p in sorted(solutions.glob("*.ipynb"))}
        contents = {str(package / rel): data for rel, data in pkg.items()}
        contents.update({str(solutions / name): data for name, data in sols.items()})
        for extra in ("notebooks", "coursekit"):
            if (root / extra).is_dir():
                contents.update({str(root / extra / rel): data for rel, data in _tree(root / extra).items()})
        if (root / "course.py").is_file():
            contents[str(root / "course.py")] = (root / "course.py").read_bytes()
        snap = cls(root, pkg, sols, {k: _sha(v) for k, v in contents.items()}, contents)
        snap._dirs = [d for d in (package, solutions, root / "notebooks", root / "coursekit") if d.is_dir()]
        return snap

    def write_package(self, target: Path, files: dict[str, bytes] | None = None) -> Path:
        """Write the private ``course_utils`` copy under ``target`` (``files`` instead of the
        snapshot's own when given, e.g. :func:`coursekit.hidden.kernel_package`); returns ``target``."""
        for rel, data in (self.package if files is None else files).items():
            path = target / "course_utils" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return target

    def _set_aside(self, path: Path) -> str:
        """Keep the changed version of ``path`` (nothing anyone wrote is lost: it may be the
        instructor's own edit made while grading ran); returns " (kept in ...)" or ""."""
        try:
            if not path.is_file():
                return ""
            if getattr(self, "_aside", None) is None:
                self._aside = Path(tempfile.mkdtemp(prefix="course-grading-changed-"))
            try:
                rel = path.relative_to(self.root)
            except ValueError:
                rel = Path(path.name)
            target = self._aside / f"{time.strftime('%H%M%S')}-{secrets.token_hex(2)}" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            return f" (changed version kept in {target})"
        except OSError:
            return ""

    def verify_and_restore(self) -> list[str]:
        """Real course files that changed since the snapshot (restored now), plus new files
        written into the guarded folders (deleted now). Empty when nothing was touched."""
        changed = []
        for name, digest in self.guarded.items():
            path = Path(name)
            try:
                same = path.is_file() and _sha(path.read_bytes()) == digest
            except OSError:
                same = False
            if not same:
                changed.append(name + self._set_aside(path))
                try:
                    if path.is_symlink() or path.is_dir():
                        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(self.contents[name])
                except OSError as err:   # reported, never silently ignored
                    changed.append(f"{name} (could not restore: {err})")
        for folder in getattr(self, "_dirs", []):
            for path in folder.rglob("*"):
                if (path.is_file() and str(path) not in self.guarded and "__pycache__" not in path.parts
                        and ".ipynb_checkpoints" not in path.parts):
                    changed.append(f"{path} (new file, removed{self._set_aside(path)})")
                    try:
                        path.unlink()
                    except OSError:
                        pass
        return changed


@dataclass
class Workspace:
    """One submission's temporary folders and token (see the module docstring)."""
    root: Path
    token: str

    @classmethod
    def create(cls, snapshot: CourseSnapshot, seed_data: Path | None = None,
               package: dict[str, bytes] | None = None) -> "Workspace":
        """``package``: the files of the kernel's ``course_utils`` (default: the snapshot's)."""
        root = Path(tempfile.mkdtemp(prefix="course-grade-"))
        ws = cls(root, secrets.token_hex(16))
        for sub in ("work", "data", "home"):
            (root / sub).mkdir()
        snapshot.write_package(root / "pkg", package)
        if seed_data is not None and Path(seed_data).is_dir():
            shutil.copytree(seed_data, ws.data, dirs_exist_ok=True)
        return ws

    work = property(lambda self: self.root / "work")
    data = property(lambda self: self.root / "data")
    pkg = property(lambda self: self.root / "pkg")
    home = property(lambda self: self.root / "home")

    def kernel_env(self) -> dict[str, str]:
        """The kernel's whole environment: built by the grader, nothing inherited that the
        student could have set (grading mode is the grader's decision)."""
        keep = {k: v for k, v in os.environ.items()
                if k in ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "CONDA_PREFIX")}
        return {**keep,
                "PYTHONPATH": str(self.pkg),
                "HOME": str(self.home),
                "MPLCONFIGDIR": str(self.home / ".matplotlib"),
                "COURSE_DATA_DIR": str(self.data),
                "COURSE_GRADING": "1",
                "COURSE_QUICK": "1",
                "COURSE_DATASET": "synthetic",
                "COURSE_OFFLINE": "1",
                "PYTHONHASHSEED": "0",
                "MPLBACKEND": "Agg",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
                TOKEN_VAR: self.token}

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_ACTIVE: set[int] = set()      # pids of kernels (and helpers) running right now, any submission
START_LOCK = threading.RLock()  # held while a kernel starts and is registered, and while orphans are reaped


def become_subreaper() -> bool:
    """Linux: make this process adopt orphaned descendants (``PR_SET_CHILD_SUBREAPER``), so a
    process a submission detached with ``setsid`` + double fork, a cleared environment and
    another working directory still ends up as our child and is killed. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def register(pid: int | None) -> None:
    if pid:
        _ACTIVE.add(pid)


def unregister(pid: int | None) -> None:
    _ACTIVE.discard(pid)


def _orphans() -> set[int]:
    """Children of this process that are not a running kernel/helper: adopted orphans (and the
    descendants they started)."""
    found = set()
    try:
        for child in psutil.Process().children():
            if child.pid in _ACTIVE:
                continue
            found.add(child.pid)
            found.update(c.pid for c in child.children(recursive=True))
    except psutil.Error:
        pass
    return found


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return {}


def _inside(path: str | None, root: Path) -> bool:
    return bool(path) and (path == str(root) or path.startswith(str(root) + os.sep))


def kill_submission_processes(ws: Workspace, kernel_pid: int | None = None) -> list[int]:
    """Kill everything the submission started; returns the pids killed (empty = nothing left)."""
    me = os.getpid()
    victims: set[int] = set()
    if kernel_pid:
        try:
            victims.add(kernel_pid)
            victims.update(c.pid for c in psutil.Process(kernel_pid).children(recursive=True))
        except psutil.Error:
            pass
        try:
            group = os.getpgid(kernel_pid)
            if group != os.getpgid(0):      # never our own group
                os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    for _ in range(3):           # a forking process may spawn while we look: look again
        found = set()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me:
                continue
            try:
                cwd = proc.cwd()
            except (psutil.Error, OSError):
                cwd = None
            if _environ(proc).get(TOKEN_VAR) == ws.token or _inside(cwd, ws.root):
                found.add(proc.pid)
        with START_LOCK:
            found |= _orphans()
        found |= {p for p in victims if psutil.pid_exists(p)}
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        victims |= found
        time.sleep(0.2)
    for pid in victims:                 # reap the ones that were (or became) our children
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass
    return sorted(victims)
