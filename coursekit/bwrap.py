"""The OS sandbox a graded kernel runs in: bubblewrap (``bwrap``, Debian's ``bubblewrap`` package).

What the kernel gets (and nothing else):

* **no network** (its own, empty network namespace) and **its own PID namespace**: it cannot see
  or signal the grader or other submissions, and when the sandbox ends every process in it ends;
* **read-only** system folders (``/usr``, ``/etc``, the ``/lib`` links), the Python installation and
  the virtual environment it runs from (a planted ``.pth`` or ``sitecustomize.py`` cannot outlive the
  submission), and the submission's own copy of the package (:mod:`coursekit.hidden`);
* **writable** only: the submission's workspace (work, data, home) and a private ``/tmp`` of
  bounded size. The repository — ``solutions/``, the real package, other students' folders — is not
  mounted at all;
* an address-space limit (``prlimit --as``) so a runaway allocation fails inside the kernel
  (``MemoryError``) instead of taking the machine; a cap on the size of any one file it writes
  (``prlimit --fsize``: a write past it fails with ``OSError: File too large``); core dumps off;
* a cap on its processes and threads together (a ``pids`` cgroup, where the host lets the grader
  make one: cgroup v1, or v2 with the ``pids`` controller delegated), so a fork bomb ends as
  ``BlockingIOError: Resource temporarily unavailable`` inside the notebook. ``prlimit --nproc``
  would not do: it counts per user, and is ignored for root.

The kernel talks to the grader over ZeroMQ *ipc* sockets (files in the workspace), because TCP on
loopback does not cross network namespaces. Interrupts go as Jupyter ``interrupt_request``
messages (a signal to ``bwrap`` would not reach the kernel).

Where ``bwrap`` is missing or cannot make namespaces (some containers, non-Linux), grading still
runs, unconfined, and says so loudly: :func:`problem` gives the reason, the grader prints it and
flags every row it graded that way.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_MEMORY = 6 * 2**30           # bytes of address space per kernel (TensorFlow needs ~1.5 GiB)
TMP_SIZE = 512 * 2**20               # bytes of the kernel's private /tmp
FILE_SIZE = 1 * 2**30                # bytes of the largest file a kernel may write (a saved encoder: ~5 MB)
DEFAULT_TASKS = 1024                 # processes + threads per kernel (TensorFlow starts a few per core)
CGROUP_ROOT = Path("/sys/fs/cgroup")
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_DIRS = ("/usr", "/etc", "/opt")


@functools.lru_cache(maxsize=1)
def problem() -> str | None:
    """None when the OS sandbox works here; otherwise what is missing and how to get it."""
    if not sys.platform.startswith("linux"):
        return f"the OS sandbox (bubblewrap) needs Linux; this is {sys.platform}"
    exe = shutil.which("bwrap")
    if exe is None:
        return "bwrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap)"
    if shutil.which("prlimit") is None:
        return "prlimit is not installed (it comes with util-linux)"
    try:
        run = subprocess.run([exe, "--unshare-net", "--unshare-pid", "--die-with-parent",
                              "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not run ({type(err).__name__}: {err})"
    if run.returncode != 0:
        detail = (run.stderr or run.stdout).strip().splitlines()[-1:] or [f"exit code {run.returncode}"]
        return (f"bwrap cannot create namespaces here ({detail[0]}); on Ubuntu 24.04+ allow unprivileged user "
                "namespaces for bwrap (AppArmor), in Docker run with --security-opt seccomp=unconfined or as root")
    return None


def available() -> bool:
    return problem() is None


def _python_roots() -> list[str]:
    """Folders the kernel's Python needs: the installation and the virtual environment."""
    roots = []
    for path in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))):
        path = os.path.realpath(path)
        if path and os.path.isdir(path) and not any(path == r or path.startswith(r + os.sep) for r in roots):
            roots.append(path)
    return [r for r in roots if not any(r == d or r.startswith(d + os.sep) for d in _SYSTEM_DIRS)]


def _pids_parent() -> Path | None:
    """The cgroup folder under which this process may make a ``pids`` cgroup, or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path.lstrip("/")
    if (CGROUP_ROOT / "pids" / "tasks").exists() and "pids" in own:          # cgroup v1
        parent = CGROUP_ROOT / "pids" / own["pids"]
    elif (CGROUP_ROOT / "cgroup.controllers").exists() and "" in own:          # cgroup v2
        parent = CGROUP_ROOT / own[""]
        if "pids" not in (parent / "cgroup.subtree_control").read_text().split():
            return None
    else:
        return None
    return parent if os.access(parent, os.W_OK) else None


def make_task_cap(name: str, tasks: int = DEFAULT_TASKS) -> Path | None:
    """A new ``pids`` cgroup called ``name`` allowing ``tasks`` processes + threads; None where the
    host does not let the grader make one (then only the other limits apply)."""
    parent = _pids_parent()
    if parent is None:
        return None
    group = parent / name
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(int(tasks)))
    except OSError:
        remove_task_cap(group)
        return None
    return group


@functools.lru_cache(maxsize=1)
def task_cap_problem() -> str | None:
    """None when :func:`make_task_cap` works here; otherwise why not, in a line."""
    group = make_task_cap(f"course-grade-probe-{os.getpid()}")
    if group is None:
        return ("this host lets the grader make no pids cgroup: it needs cgroup v1's pids controller or "
                "cgroup v2 with pids delegated, writable by the grading user")
    remove_task_cap(group)
    return None


def remove_task_cap(group: Path | None) -> None:
    """Remove a cgroup from :func:`make_task_cap` (its processes are killed first, if any are left)."""
    if group is None or not group.exists():
        return
    import signal
    import time
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def command(argv: list[str], root: Path, readonly: list[Path], cwd: Path,
            memory: int = DEFAULT_MEMORY, task_cap: Path | None = None) -> list[str]:
    """``argv`` wrapped so that it runs inside the sandbox: ``root`` (the submission's workspace)
    writable, ``readonly`` paths inside it mounted read-only on top, ``cwd`` the working folder;
    ``task_cap`` a cgroup from :func:`make_task_cap` that the sandbox joins before it starts."""
    join = []
    if task_cap is not None:
        # The shell moves itself into the cgroup, then becomes prlimit → bwrap → the kernel, so
        # every process the notebook starts is counted there from the first one.
        join = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(task_cap)]
    args = [*join, "prlimit", f"--as={int(memory)}", f"--fsize={FILE_SIZE}", "--core=0", "--",
            shutil.which("bwrap") or "bwrap",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "grading",
            # ipykernel exits when its parent pid changes; inside the PID namespace it always looks
            # changed. "1" (init) switches that watch off; --die-with-parent ends the kernel with the grader.
            "--setenv", "JPY_PARENT_PID", "1"]
    # /tmp first: the Python or the venv may live under it (a CI clone), and later mounts go on top.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    for path in _SYSTEM_DIRS:
        if os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _SYSTEM_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _python_roots():
        args += ["--ro-bind", path, path]
    args += ["--bind", str(root), str(root)]
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", str(cwd), "--", *argv]
    return args


def kernel_manager(kernel_name: str, root: Path, readonly: list[Path], cwd: Path, memory: int = DEFAULT_MEMORY,
                   task_cap: Path | None = None):
    """A ``jupyter_client`` (async, as nbclient uses) KernelManager whose kernel runs inside the sandbox (see the module
    docstring); its sockets and connection file live in ``root/ipc``."""
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return command(super().format_kernel_cmd(extra_arguments), root, readonly, cwd, memory, task_cap)

    ipc = Path(root) / "ipc"
    ipc.mkdir(exist_ok=True)
    km = SandboxedKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(ipc / "kernel"),
                                connection_file=str(ipc / "kernel.json"))
    km.kernel_spec.interrupt_mode = "message"
    return km
