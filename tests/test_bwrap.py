"""The sandbox's mount order (coursekit.bwrap.command): later mounts cover earlier ones."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import bwrap


def test_python_and_workspace_are_mounted_after_the_private_tmp(monkeypatch):
    # A CI clone keeps its venv under /tmp: a tmpfs mounted after it would hide the kernel's Python.
    monkeypatch.setattr(bwrap, "_python_roots", lambda: ["/tmp/clone/.venv", "/root/.pyenv/versions/3.11.7"])
    args = bwrap.command(["python", "-m", "ipykernel"], Path("/tmp/ws"), [Path("/tmp/ws/pkg")], Path("/tmp/ws/work"))
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    for path in ("/tmp/clone/.venv", "/root/.pyenv/versions/3.11.7", "/tmp/ws", "/tmp/ws/pkg"):
        mounts = [i for i, a in enumerate(args[:-3]) if a in ("--ro-bind", "--bind") and args[i + 1] == path]
        assert mounts and mounts[0] > tmpfs, path
    ro = [args[i + 1] for i, a in enumerate(args) if a == "--ro-bind"]
    assert "/tmp/ws/pkg" in ro and "/tmp/clone/.venv" in ro and "/tmp/ws" not in ro   # only the workspace is writable
    assert args[-3:] == ["python", "-m", "ipykernel"] and args[:2] == ["prlimit", f"--as={bwrap.DEFAULT_MEMORY}"]
    assert f"--fsize={bwrap.FILE_SIZE}" in args[:args.index("--")]


def test_a_task_cap_is_joined_before_the_sandbox_starts(tmp_path):
    args = bwrap.command(["python"], Path("/tmp/ws"), [], Path("/tmp/ws/work"), task_cap=tmp_path)
    assert args[:2] == ["/bin/sh", "-c"] and args[3] == str(tmp_path) and args[4] == "prlimit"


needs_cgroup = pytest.mark.skipif(bwrap.task_cap_problem() is not None,
                                  reason=f"no pids cgroup here: {bwrap.task_cap_problem()}")


@needs_cgroup
def test_the_task_cap_stops_a_fork_bomb_and_goes_away(tmp_path):
    """A process in the cap may start fewer processes than the cap, no more; the cgroup is removed after."""
    group = bwrap.make_task_cap(f"course-test-{os.getpid()}-{tmp_path.name}", tasks=20)
    try:
        assert group is not None and (group / "pids.max").read_text().strip() == "20"
        script = ("import subprocess\nkids, refused = [], 0\nfor _ in range(60):\n"
                  "    try:\n        kids.append(subprocess.Popen(['sleep', '30']))\n"
                  "    except OSError:\n        refused += 1\n"
                  "print(len(kids), refused)\nfor k in kids:\n    k.kill()\n")
        run = subprocess.run(["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$1" -c "$2"', str(group),
                              sys.executable, script], capture_output=True, text=True, timeout=60)
        started, refused = map(int, run.stdout.split())
        assert started < 20 and started + refused == 60, run.stdout      # 60 asked: the cap refuses the rest
    finally:
        bwrap.remove_task_cap(group)
    assert not group.exists()

