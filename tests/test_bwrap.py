"""The sandbox's mount order (coursekit.bwrap.command): later mounts cover earlier ones."""
from pathlib import Path

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
