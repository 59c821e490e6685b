"""One submission: its notebook prepared, run in a sandboxed kernel, and each check scored.

:func:`run_submission` is what :mod:`coursekit.grading` calls once per notebook: the student's
cells run in order in a fresh workspace (:mod:`coursekit.sandbox`) whose kernel sits in the OS
sandbox (:mod:`coursekit.bwrap`); every check cell is replaced by the exercise kit's probe and
judged in this process right after it ran (:class:`KitVerdicts`), or — for a check the kit does
not cover — run as the instructor wrote it (:class:`CellVerdicts`). Timeouts, caps and the
clean-up of every process the submission started are here too; which rows a grading run has, and
its files, are :mod:`coursekit.grading`'s and :mod:`coursekit.classlist`'s business.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from course_utils.exercises.protocol import Verdict
from coursekit import bwrap, classlist, hidden, sandbox
from coursekit.classlist import nbgrader_meta
from coursekit.review import review_flags

DEFAULT_CELL_TIMEOUT = 300
DEFAULT_NOTEBOOK_CAP = 1800
DEFAULT_OUTPUT_CAP = 5_000_000                    # bytes of outputs kept per notebook


# ------------------------------------------------------------------------------ lesson metadata
def is_grade_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade", False))


def grade_cells(nb) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a notebook."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
            for c in nb.cells if is_grade_cell(c)}


@dataclass
class Lesson:
    """One instructor notebook, parsed from the in-memory snapshot."""
    name: str
    nb: nbformat.NotebookNode
    possible: dict[str, float]
    checks: dict[str, str]                 # grade_id -> the instructor's check source
    given: set[str] = field(default_factory=set)   # sources of the cells students did not write
    ids: set[str] = field(default_factory=set)     # every nbgrader grade_id (to recognise a renamed copy)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> "Lesson":
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        checks = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if is_grade_cell(c)}
        given = {c.source.strip() for c in nb.cells if c.cell_type == "code" and not nbgrader_meta(c).get("solution")}
        return cls(name, nb, grade_cells(nb), checks, given, classlist.notebook_ids(nb))


# ------------------------------------------------------------------------------ verdict sources
class KitVerdicts:
    """Verdicts from the exercise kit (``course_utils.exercises``): probe in the kernel, judge here.

    The single place where the grader meets the kit; every other part of the grader only sees
    ``prepare(grade_id, folder) -> (probe source, state)`` and ``judge(state) -> Verdict``.
    """

    def __init__(self):
        import importlib
        import pkgutil

        import course_utils
        import course_utils.exercises as kit
        from course_utils.exercises import protocol
        # Import the whole package now, before any student code runs: a judge that imported a
        # module lazily later could read a file a submission rewrote.
        for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 — an optional module (widgets without a display)
                pass
        self.graded = dict(getattr(kit, "GRADED", {}))
        self.protocol = protocol

    def covers(self, grade_id: str) -> bool:
        return grade_id in self.graded

    def prepare(self, grade_id: str, folder: Path, seed: int):
        exercise = self.graded[grade_id]
        cases = exercise.cases(seed)
        tag = secrets.token_hex(8)
        cases_path, out_path = folder / f"cases-{tag}.json", folder / f"out-{tag}.json"
        self.protocol.write_cases(cases, cases_path)
        return self.protocol.probe_source(exercise, cases_path, out_path), (exercise, cases, cases_path, out_path)

    def judge(self, state) -> Verdict:
        exercise, cases, cases_path, out_path = state
        try:
            if not out_path.is_file():
                return Verdict(False, "the check did not run to the end (no result was recorded)", "missing")
            outputs = self.protocol.read_outputs(out_path)
        except Exception as err:  # noqa: BLE001 — unreadable result → 0, never a crash
            return Verdict(False, f"the check's result could not be read ({type(err).__name__})", "probe_failed")
        finally:
            for path in (cases_path, out_path):
                try:
                    path.unlink()
                except OSError:
                    pass
        if not isinstance(outputs, dict):
            return Verdict(False, "the check's result was not valid data", "probe_failed")
        if outputs.get("probe_failed"):
            summary = outputs["probe_failed"].get("summary", "") if isinstance(outputs["probe_failed"], dict) else ""
            return Verdict(False, f"the check could not run: {summary}", "probe_failed")
        try:
            v = exercise.judge(cases, outputs)
        except Exception as err:  # noqa: BLE001 — forged or malformed data must not crash grading
            return Verdict(False, f"the check's result was malformed ({type(err).__name__}: {str(err)[:120]})",
                           "probe_failed")
        return v if isinstance(v, Verdict) else Verdict(False, "the check's judge gave no verdict", "probe_failed")


class CellVerdicts:
    """For a check the kit does not cover: run the instructor's check cell itself and count it
    when it finished without an exception *in this run* (weaker: the check runs in the kernel).

    The marker file is read right after the cell, so a later cell cannot forge it.
    """

    def prepare(self, grade_id: str, source: str, folder: Path):
        marker = folder / f"done-{secrets.token_hex(8)}"
        body = (f"import os as __course_os\n__course_os.environ['COURSE_GRADING'] = '1'\n{source}\n"
                f"open({str(marker)!r}, 'w').close()\n")
        return body, marker

    def judge(self, marker: Path) -> Verdict:
        ran = marker.is_file()
        try:
            marker.unlink()
        except OSError:
            pass
        return (Verdict(True, "passed (the instructor's check ran in the kernel)", "correct") if ran else
                Verdict(False, "the check raised an error or did not run", "raised"))


# ------------------------------------------------------------------------------ execution
def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient with a cap on the bytes of output kept for the whole notebook."""
        output_cap = DEFAULT_OUTPUT_CAP
        output_bytes = 0
        truncated = False

        timed_out = False

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            self.output_bytes += size
            if self.output_bytes > self.output_cap:
                if not self.truncated:
                    self.truncated = True
                    outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                       text="[grader: output limit reached; further output dropped]\n"))
                return None
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


@dataclass
class Limits:
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    notebook_cap: float = DEFAULT_NOTEBOOK_CAP
    output_cap: int = DEFAULT_OUTPUT_CAP
    kernel_name: str = "python3"
    memory: int = bwrap.DEFAULT_MEMORY      # bytes of address space per kernel (OS sandbox)
    tasks: int = bwrap.DEFAULT_TASKS        # processes + threads per kernel (OS sandbox, where cgroups allow)
    os_sandbox: bool = True                 # False only for tests that compare with and without


def _prepared_notebook(nb, lesson: Lesson) -> tuple[list, list[str], list[str]]:
    """Code cells to run, in order, as ``(cell, grade_id or None, written by the student?)``; the
    student-written sources; review flags. Every check of the lesson runs once: an edited one as the
    original, a deleted one restored after the student's cell it followed in ``solutions/``."""
    cells, seen, written, flags = [], set(), [], []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if gid in lesson.possible:
            if gid in seen:            # a copied check cell runs (and counts) once
                continue
            seen.add(gid)
            if src.strip() != lesson.checks[gid].strip():
                flags.append(f"check cell {gid} was edited (the original ran)")
            cells.append((new_code_cell(""), gid, False))
        else:
            mine = src.strip() not in lesson.given
            if mine:
                written.append(src)
            cells.append((new_code_cell(src), gid, mine))
    order = [nbgrader_meta(c).get("grade_id") for c in lesson.nb.cells if c.get("cell_type") == "code"]
    for gid in [g for g in lesson.possible if g not in seen]:
        before = [g for g in order[:order.index(gid)] if g]
        anchor = next((i for i in range(len(cells) - 1, -1, -1) if before and cells[i][1] == before[-1]), None)
        at = len(cells) if anchor is None else anchor + 1
        while at < len(cells) and cells[at][1] in lesson.possible:   # after checks restored there already
            at += 1
        cells.insert(at, (new_code_cell(""), gid, False))
        flags.append(f"check cell {gid} was deleted (restored from solutions/)")
    return cells, written, flags


def unconfined_reason(os_sandbox: bool) -> str | None:
    """Why kernels run without the OS sandbox ("switched off", or what the host lacks); None if they don't."""
    if not os_sandbox:
        return "switched off"
    return bwrap.problem()


def lesson_package(lesson: Lesson, snapshot: sandbox.CourseSnapshot, verdicts) -> dict[str, bytes]:
    """The kernel's ``course_utils`` for ``lesson``: the kit and what its exercises forbid hidden."""
    exercises = [verdicts.graded[g] for g in lesson.possible if getattr(verdicts, "covers", lambda _: False)(g)]
    return hidden.kernel_package(snapshot.package, exercises)[0]


def blank_result(lesson: Lesson) -> dict:
    """What :func:`run_submission` returns before anything has run: 0 points, every check "not run"."""
    return {"scores": {gid: 0.0 for gid in lesson.possible}, "possible": lesson.possible,
            "messages": {gid: "not run (the check cell is missing or was never reached)" for gid in lesson.possible},
            "reasons": {}, "status": "ok", "review": [], "course_changed": [], "killed": []}


def run_submission(path: Path, lesson: Lesson, snapshot: sandbox.CourseSnapshot, verdicts,
                   limits: Limits = Limits(), seed_data: Path | None = None, seed: int | None = None,
                   package: dict[str, bytes] | None = None) -> dict:
    """Execute one submission in a fresh workspace and score it (see the module docstring).
    ``package`` is :func:`lesson_package` for the lesson, built here when not given.

    Returns ``{"scores", "possible", "messages", "reasons", "status", "review", "course_changed", "killed"}``.
    """
    result = blank_result(lesson)
    try:
        nb = nbformat.read(path, as_version=4)
        cells, written, restored = _prepared_notebook(nb, lesson)
    except Exception as err:  # noqa: BLE001 — an unreadable file scores 0, it does not stop grading
        result["status"] = f"unreadable notebook: {type(err).__name__}: {str(err)[:200]}"
        return result
    result["review"] = review_flags(written) + restored
    seed = secrets.randbelow(2**31) if seed is None else seed
    package = package if package is not None else lesson_package(lesson, snapshot, verdicts)
    ws = sandbox.Workspace.create(snapshot, seed_data, package)
    unconfined = unconfined_reason(limits.os_sandbox)
    if unconfined:
        result["review"].append(f"graded WITHOUT the OS sandbox: {unconfined}")
    client = _new_client([c for c, _, _ in cells], limits, ws)
    kernel_pid, problems = None, []
    try:
        kernel_pid = _start_kernel(client, limits, ws, confined=unconfined is None)
        with client.setup_kernel(cleanup_kc=True):
            _run_cells(client, cells, lesson, verdicts, limits, ws.work, seed, result, problems)
    except Exception as err:  # noqa: BLE001 — a kernel that cannot start or breaks: scored, not fatal
        problems.append(f"execution failed: {type(err).__name__}: {str(err)[:200]}")
    finally:
        sandbox.unregister(kernel_pid)
        result["killed"] = sandbox.kill_submission_processes(ws, kernel_pid)
        bwrap.remove_task_cap(getattr(client, "task_cap", None))
        result["course_changed"] = snapshot.verify_and_restore()
        ws.remove()
    if getattr(client, "truncated", False):
        problems.append("output limit reached")
    if result["course_changed"]:
        result["review"].append("changed course files (restored): " + ", ".join(
            Path(p.split(" ")[0]).name for p in result["course_changed"][:5]))
    result["status"] = "; ".join(problems) or "ok"
    return result


def _new_client(cells: list, limits: Limits, ws: sandbox.Workspace):
    """An nbclient for ``cells`` that keeps going after errors and interrupts a cell at the timeout."""
    run_nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": limits.kernel_name, "language": "python",
                                                               "display_name": "Python 3"}})
    run_nb.cells = cells
    client = _client_class()(run_nb, timeout=limits.cell_timeout, kernel_name=limits.kernel_name,
                             allow_errors=True, interrupt_on_timeout=True, startup_timeout=120,
                             error_on_timeout={"ename": "CellTimeoutError", "evalue": "stopped by the grader",
                                               "traceback": ["cell stopped: it ran past the time limit"]},
                             resources={"metadata": {"path": str(ws.work)}}, record_timing=False)
    client.output_cap = limits.output_cap
    return client


def _start_kernel(client, limits: Limits, ws: sandbox.Workspace, confined: bool):
    """Start the submission's kernel (inside bubblewrap when ``confined``); its PID, registered so
    that the orphan reaper leaves it alone and the clean-up can find its processes."""
    client.task_cap = bwrap.make_task_cap(ws.root.name, limits.tasks) if confined else None
    with sandbox.START_LOCK:        # no orphan reaping between the start and the registration
        client.km = (bwrap.kernel_manager(limits.kernel_name, ws.root, [ws.pkg], ws.work, limits.memory,
                                          client.task_cap) if confined else client.create_kernel_manager())
        client.start_new_kernel(env=ws.kernel_env(), cwd=str(ws.work))
        kernel_pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        sandbox.register(kernel_pid)
    return kernel_pid


def _run_cells(client, cells, lesson: Lesson, verdicts, limits: Limits, work: Path, seed: int,
               result: dict, problems: list[str]) -> None:
    """Run the cells in order; each check cell is replaced by its probe and scored right after it."""
    from nbclient.exceptions import DeadKernelError
    t0 = time.monotonic()
    broken = None               # the first exercise cell that could not even be compiled
    for index, (cell, gid, mine) in enumerate(cells):
        remaining = limits.notebook_cap - (time.monotonic() - t0)
        if remaining <= 1:
            problems.append(f"stopped after {limits.notebook_cap:g} s (time cap per notebook)")
            return
        source = _CheckSource(lesson, verdicts, gid)
        if source.graded:
            cell.source = source.prepare(work, seed + index)
        client.timeout = max(1, int(min(limits.cell_timeout, remaining)))
        client.timed_out = False
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            problems.append("the kernel died (the notebook ended its own process or ran out of memory)")
            if source.graded:
                source.judge()          # removes the probe's files; the check scores 0
            return
        if mine and broken is None:
            broken = _syntax_error(cell)
        if source.graded:
            _score(result, gid, lesson.possible[gid], source.judge(), client.timed_out, broken)
        if client.timed_out:
            problems.append(f"cell {index + 1} ran past {client.timeout} s and was interrupted")
            if not _responsive(client):
                problems.append("the kernel ignored the interrupt and was stopped")
                return


class _CheckSource:
    """Where a check cell's verdict comes from: the kit's probe and judge when the kit covers the
    check, else the instructor's cell run as it is (:class:`CellVerdicts`). ``graded`` is False for
    a cell that is not a check."""

    def __init__(self, lesson: Lesson, verdicts, gid):
        self.graded = gid in lesson.possible
        self.kit = self.graded and hasattr(verdicts, "covers") and verdicts.covers(gid)
        self.verdicts = verdicts if self.kit else CellVerdicts()
        self.gid, self.check, self.state = gid, lesson.checks.get(gid), None

    def prepare(self, work: Path, seed: int) -> str:
        if self.kit:
            source, self.state = self.verdicts.prepare(self.gid, work, seed)
        else:
            source, self.state = self.verdicts.prepare(self.gid, self.check, work)
        return source

    def judge(self) -> Verdict:
        return self.verdicts.judge(self.state)


def _score(result: dict, gid: str, points: float, v: Verdict, timed_out: bool, broken: str | None) -> None:
    """Write one check's points, message and reason into ``result``."""
    if timed_out:
        result["scores"][gid], result["reasons"][gid] = 0.0, "timeout"
        result["messages"][gid] = "the check ran past the time limit"
        return
    result["scores"][gid] = points if v.passed else 0.0
    result["reasons"][gid] = v.reason
    result["messages"][gid] = (f"{broken}: nothing in that cell ran, so fix it first. ({v.message})"
                               if broken and not v.passed else v.message)


def _syntax_error(cell) -> str | None:
    """"SyntaxError in your exercise cell, line N: …" when the cell did not compile, else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") in ("SyntaxError", "IndentationError", "TabError"):
            text = str(out.get("evalue", ""))
            line = re.search(r"line (\d+)\)?$", text)
            what = re.sub(r"\s*\([^()]*line \d+\)$", "", text)
            return f"{out['ename']} in your exercise cell{f', line {line.group(1)}' if line else ''}: {what}"
    return None


def _responsive(client) -> bool:
    """After an interrupt: does the kernel answer a trivial cell within 10 s?"""
    saved = client.timeout
    probe = new_code_cell("pass")
    client.timeout = 10
    try:
        client.nb.cells.append(probe)
        client.timed_out = False
        client.execute_cell(probe, len(client.nb.cells) - 1)
        return not client.timed_out
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.nb.cells.remove(probe)
        client.timeout = saved
