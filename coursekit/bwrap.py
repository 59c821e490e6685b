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
  (``MemoryError``) instead of taking the machine; core dumps off.

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


def command(argv: list[str], root: Path, readonly: list[Path], cwd: Path,
            memory: int = DEFAULT_MEMORY) -> list[str]:
    """``argv`` wrapped so that it runs inside the sandbox: ``root`` (the submission's workspace)
    writable, ``readonly`` paths inside it mounted read-only on top, ``cwd`` the working folder."""
    args = ["prlimit", f"--as={int(memory)}", "--core=0", "--", shutil.which("bwrap") or "bwrap",
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


def kernel_manager(kernel_name: str, root: Path, readonly: list[Path], cwd: Path, memory: int = DEFAULT_MEMORY):
    """A ``jupyter_client`` (async, as nbclient uses) KernelManager whose kernel runs inside the sandbox (see the module
    docstring); its sockets and connection file live in ``root/ipc``."""
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return command(super().format_kernel_cmd(extra_arguments), root, readonly, cwd, memory)

    ipc = Path(root) / "ipc"
    ipc.mkdir(exist_ok=True)
    km = SandboxedKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(ipc / "kernel"),
                                connection_file=str(ipc / "kernel.json"))
    km.kernel_spec.interrupt_mode = "message"
    return km
