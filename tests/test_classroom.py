"""The classroom for real: JupyterHub + configurable-http-proxy + nbgrader on loopback ports.

The hub and the instructor's steps are classroom/README.md's command blocks run as written (with
a temporary CLASSROOM_ROOT outside the repository). An instructor and 3 students log in through
the hub's REST API (shared-password authenticator); each student's server is spawned
(SimpleLocalProcessSpawner); lesson 4 is generated from solutions/04_triplet_loss.ipynb and
released with nbgrader; each student fetches it through the nbgrader server extension of their
own server (via the proxy), writes an answer through the Jupyter contents API (correct / wrong /
empty) and submits; the instructor collects, grades with ``course.py grade --nbgrader`` and
releases feedback, which a student fetches. The three scores are read from nbgrader's gradebook.

Skips when Node / the proxy (``cd classroom && npm install``) or loopback ports are unavailable.
"""
from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLASSROOM = ROOT / "classroom"
PROXY = CLASSROOM / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
LESSON = "04_triplet_loss"
STUDENTS = {"alice": "correct", "bob": "wrong", "carol": "empty"}
USER_PASSWORD = "students-of-facenet"
ADMIN_PASSWORD = "instructor-password-for-the-facenet-course-0123"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requirements() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (configurable-http-proxy needs it)"
    if not PROXY.exists():
        return "configurable-http-proxy is not installed: run `cd classroom && npm install`"
    if not (BIN / "jupyterhub").exists() or not (BIN / "jupyterhub-singleuser").exists():
        return "jupyterhub is not installed in this environment"
    try:
        import jupyterhub_idle_culler  # noqa: F401
        import nbgrader  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed"
    try:
        _free_port()
    except OSError as err:
        return f"cannot bind a loopback port: {err}"
    return None


def _api(method, url, token=None, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


def _wait(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(1)
    raise TimeoutError(f"gave up waiting for {what} after {seconds} s")


def _solution_source(nb, grade_id) -> str:
    """The authored solution of one exercise cell, without nbgrader's markers."""
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(l for l in cell.source.splitlines() if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)


def _answers():
    import nbformat
    solved = nbformat.read(ROOT / "solutions" / f"{LESSON}.ipynb", as_version=4)
    correct = {gid: _solution_source(solved, gid) for gid in ("ex_triplet_loss", "ex_pairwise_distances")}
    wrong = dict(correct)
    wrong["ex_triplet_loss"] = correct["ex_triplet_loss"].replace(
        "ops.mean(ops.maximum(d_pos - d_neg + alpha, 0.0))", "ops.mean(d_pos - d_neg + alpha)")   # forgot the hinge
    assert wrong["ex_triplet_loss"] != correct["ex_triplet_loss"]
    return {"correct": correct, "wrong": wrong, "empty": {}}


class PeakRSS(threading.Thread):
    """Samples the resident memory of every descendant ipykernel process of ``pid``."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        import psutil
        while self.running:
            try:
                for child in psutil.Process(self.pid).children(recursive=True):
                    try:
                        if "ipykernel" in " ".join(child.cmdline()):
                            self.peak = max(self.peak, child.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            time.sleep(0.2)


def _readme_block(heading: str) -> list[str]:
    """The indented command block under the ``## heading…`` of classroom/README.md, a line each."""
    text = (CLASSROOM / "README.md").read_text()
    section = text.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    lines, started = [], False
    for line in section.splitlines():
        if line.startswith("    "):
            lines.append(line[4:].rstrip())
            started = True
        elif started and line.strip():
            break
    assert lines, f"no command block under '## {heading}' in classroom/README.md"
    return lines


def _hub_script(overrides: dict) -> str:
    """README "Running it on one machine" as written, from the repository root: the installs are
    left out (``course.py test`` did them; the ``cd`` in front of one is kept), and the test's
    class list, passwords and ports are exported just before ``jupyterhub`` starts."""
    lines = []
    for line in _readme_block("Running it on one machine"):
        command = line.split("#")[0]
        if " install" in command:
            head = command.split("&&")[0].strip()
            lines += [head] if "&&" in command and head.startswith("cd ") else []
            continue
        if line.startswith("jupyterhub "):
            lines += [f"export {k}={shlex.quote(v)}" for k, v in overrides.items()]
            line = "exec " + line
        lines.append(line)
    assert lines[-1].startswith("exec jupyterhub -f jupyterhub_config.py"), lines
    return "\n".join(["set -e", *lines])


def _instructor_steps() -> tuple[str, str]:
    """README "Assignments" as written, cut where the students take over: (before, after)."""
    block = _readme_block("Assignments")
    cut = next(i for i, line in enumerate(block) if line.startswith("# students"))
    return "\n".join(["set -e", *block[:cut]]), "\n".join(["set -e", *block[cut + 1:]])


def _shell(script: str, cwd: Path, env: dict, measure=False, timeout=1200):
    """Run README lines in bash as an instructor's shell would; with ``measure``, also the peak
    RSS of the kernels they start."""
    process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    sampler = PeakRSS(process.pid) if measure else None
    if sampler:
        sampler.start()
    out, _ = process.communicate(timeout=timeout)
    if sampler:
        sampler.running = False
        sampler.join()
    assert process.returncode == 0, f"the README's lines failed:\n{script}\n---\n{out[-4000:]}"
    return (out, sampler.peak) if measure else out


def test_a_class_of_three_on_jupyterhub(tmp_path):
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    import nbformat
    import psutil

    t0 = time.monotonic()
    port, hub_port = _free_port(), _free_port()
    while port + 1 == hub_port:
        hub_port = _free_port()
    base = f"http://127.0.0.1:{port}"
    classroom = {"CLASSROOM_ROOT": str(tmp_path), "CLASSROOM_PORT": str(port),
                 "CLASSROOM_HUB_PORT": str(hub_port), "CLASSROOM_STUDENTS": ",".join(STUDENTS),
                 "CLASSROOM_INSTRUCTORS": "instructor", "CLASSROOM_USER_PASSWORD": USER_PASSWORD,
                 "CLASSROOM_ADMIN_PASSWORD": ADMIN_PASSWORD, "CLASSROOM_CULL_IDLE": "600",
                 "CLASSROOM_SPAWN_TIMEOUT": "600"}
    # The lessons' own settings for a test; the README's exports set COURSE_REPO, PATH and the rest.
    env = {**os.environ, "COURSE_QUICK": "1", "COURSE_DATASET": "synthetic", "PYTHONPATH": str(ROOT),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path / "hub.log", "w")
    hub = subprocess.Popen(["bash", "-c", _hub_script(classroom)], cwd=ROOT, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    # The instructor's shell: the README's three exports, CLASSROOM_ROOT outside the repository.
    instructor = {**env, **classroom, "COURSE_REPO": str(ROOT),
                  "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}
    shell = tmp_path.parent / f"{tmp_path.name}-instructor-shell"      # any folder will do
    shell.mkdir()
    started: set[int] = set()
    try:
        _wait(lambda: _api("GET", f"{base}/hub/api/") is not None, 180, "the hub behind the proxy")
        started.update(p.pid for p in psutil.Process(hub.pid).children(recursive=True))

        # ---- everybody logs in through the REST API (the authenticator checks the passwords)
        tokens = {}
        for name in ["instructor", *STUDENTS]:
            password = ADMIN_PASSWORD if name == "instructor" else USER_PASSWORD
            reply = _api("POST", f"{base}/hub/api/users/{name}/tokens",
                         body={"auth": {"username": name, "password": password}, "note": "test login"})
            tokens[name] = reply["token"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            _api("POST", f"{base}/hub/api/users/mallory/tokens",
                 body={"auth": {"username": "mallory", "password": USER_PASSWORD}})
        assert refused.value.code == 403                       # not on the class list
        users = {u["name"]: u for u in _api("GET", f"{base}/hub/api/users", tokens["instructor"])}
        assert users["instructor"]["admin"] and set(STUDENTS) <= set(users)
        assert any(s["name"] == "jupyterhub-idle-culler-service"
                   for s in _api("GET", f"{base}/hub/api/services", tokens["instructor"]).values())

        # ---- each student's server starts
        for name in STUDENTS:
            try:
                _api("POST", f"{base}/hub/api/users/{name}/server", tokens[name])
            except urllib.error.HTTPError as err:
                assert err.code == 202, err
        for name in STUDENTS:
            _wait(lambda: _api("GET", f"{base}/hub/api/users/{name}", tokens[name])["servers"].get("", {}).get("ready"),
                  600, f"{name}'s server")
        started.update(p.pid for p in psutil.Process(hub.pid).children(recursive=True))

        # ---- the instructor makes the course and releases lesson 4: the README's lines
        before, after = _instructor_steps()
        _shell(before, shell, instructor)
        course = tmp_path / "course"
        assert (course / "release" / LESSON / f"{LESSON}.ipynb").is_file()

        # ---- each student fetches, answers and submits through their own server
        answers = _answers()
        for name, kind in STUDENTS.items():
            server, token = f"{base}/user/{name}", tokens[name]
            listed = _api("GET", f"{server}/assignments?course_id=facenet", token)
            assert any(a["assignment_id"] == LESSON and a["status"] == "released" for a in listed["value"]), listed
            _api("POST", f"{server}/assignments/fetch", token, {"course_id": "facenet", "assignment_id": LESSON})
            path = f"{server}/api/contents/facenet/{LESSON}/{LESSON}.ipynb"   # path_includes_course
            model = _api("GET", path, token)
            nb = nbformat.from_dict(model["content"])
            assert "raise NotImplementedError" in "".join(c.source for c in nb.cells)   # the student version
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers[kind]:
                    cell.source = answers[kind][gid]
            _api("PUT", path, token, {"type": "notebook", "format": "json", "content": nb})
            reply = _api("POST", f"{server}/assignments/submit", token, {"course_id": "facenet", "assignment_id": LESSON})
            assert reply.get("success", True), reply

        # ---- the instructor collects, grades with the sandboxed judge, releases feedback: the
        # rest of the README's lines, in the same folder the first ones left the shell in
        out, kernel_peak = _shell(f'cd "$CLASSROOM_ROOT/course"\n{after}', shell, instructor, measure=True)
        _api("POST", f"{base}/user/alice/assignments/fetch_feedback", tokens["alice"],
             {"course_id": "facenet", "assignment_id": LESSON})
        feedback = list((tmp_path / "homes" / "alice" / "facenet" / LESSON / "feedback").rglob("*.html"))
        assert feedback, "alice received no feedback"

        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            scores = {name: gradebook.find_submission(LESSON, name).score for name in STUDENTS}
            max_score = gradebook.find_assignment(LESSON).max_score
            due = gradebook.find_assignment(LESSON).duedate
        assert max_score == 4
        assert scores == {"alice": 4.0, "bob": 2.0, "carol": 0.0}, (scores, out[-3000:])
        # the README's due date is in the gradebook and every student's row is measured against it
        assert due is not None and f"--duedate=\"{due:%Y-%m-%d %H:%M:%S} UTC\"" in before, (due, before)
        with open(course / f"grades-{LESSON}.csv", newline="") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
        assert set(rows) == set(STUDENTS), rows
        due_utc = due.replace(tzinfo=timezone.utc)                       # nbgrader keeps naive UTC
        for name, row in rows.items():
            on_time = datetime.fromisoformat(row["submitted"]) <= due_utc
            assert (row["late"] == "") == on_time, row
        server_rss = {}
        for name in STUDENTS:
            pid = _api("GET", f"{base}/hub/api/users/{name}", tokens["instructor"])["servers"][""]["state"].get("pid")
            if pid:
                server_rss[name] = psutil.Process(pid).memory_info().rss
        print(f"\nclassroom: scores {scores}; lesson-4 grading kernel peak RSS {kernel_peak / 2**20:.0f} MiB; "
              f"idle jupyter server RSS {', '.join(f'{n} {r / 2**20:.0f} MiB' for n, r in server_rss.items())}; "
              f"{time.monotonic() - t0:.0f} s end to end")

        for name in STUDENTS:                      # students log out: their servers stop
            try:
                _api("DELETE", f"{base}/hub/api/users/{name}/server", tokens[name])
            except urllib.error.HTTPError as err:
                assert err.code == 202, err
    finally:
        try:
            started.update(p.pid for p in psutil.Process(hub.pid).children(recursive=True))
        except psutil.Error:
            pass
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)        # the hub stops the servers and the proxy
            try:
                hub.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
                hub.wait(10)
        for pid in started:                        # anything this test started and that survived
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        log.close()


def test_z2jh_values_file_parses_and_matches_the_local_hub():
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((CLASSROOM / "z2jh-values.yaml").read_text())
    assert set(values) <= {"hub", "proxy", "singleuser", "cull", "scheduling", "prePuller", "ingress"}
    assert values["cull"]["enabled"] is True
    assert values["singleuser"]["memory"] == {"guarantee": "2G", "limit": "3G"}    # same sizes as jupyterhub_config.py
    config = (CLASSROOM / "jupyterhub_config.py").read_text()
    assert 'mem_guarantee = "2G"' in config and 'mem_limit = "3G"' in config
