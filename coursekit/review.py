"""Review flags: what a human should look at in a submission, found statically (``ast``).

The flags never change a score; they land in the ``review`` column of the grades CSV so that an
instructor can open the few notebooks that did something a solution has no reason to do.

>>> review_flags(["import os\\nos._exit(0)"])
['process exit (os._exit)']
"""
from __future__ import annotations

import ast

from course_utils.exercises.protocol import parse_python

_EXIT = {"os._exit", "sys.exit", "os.kill", "os.killpg", "os.abort", "exit", "quit", "signal.signal",
         "os.setsid", "os.fork", "os.forkpty", "signal.pthread_kill"}
_ENV = {"os.environ", "os.putenv", "os.unsetenv", "os.chdir", "sys.path", "sys.modules", "os.setenv"}
_HOOKS = {"set_custom_exc", "showtraceback", "showsyntaxerror", "events", "register_magic_function",
          "run_cell", "ast_transformers", "input_transformers_post", "input_transformer_manager",
          "excepthook", "displayhook", "register", "user_ns"}
_TRACE = {"sys.setprofile", "sys.settrace", "threading.settrace", "threading.setprofile", "sys.monitoring"}
_PROC = {"subprocess", "os.system", "os.popen", "os.spawnl", "os.spawnv", "os.execv", "os.execl",
         "os.execvp", "os.posix_spawn", "multiprocessing", "pty"}
_INTERNAL = ("course_utils.exercises", "course_utils.checks", "course_utils.losses",
             "course_utils.reference", "course_utils.metrics", "checks", "losses", "reference")
_WRITE_MODES = set("wax+")
_FRAMES = {"sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack", "inspect.getouterframes",
           "traceback.extract_stack", "traceback.walk_stack"}
# Strings that name the interpreter's start-up machinery: a file planted there runs in later processes.
_STARTUP = ("site-packages", "dist-packages", ".pth", "sitecustomize", "usercustomize", ".ipython", "startup/",
            "PYTHONSTARTUP", ".venv")
_MODULES = {"sys", "os", "json", "builtins", "numpy", "np", "keras", "ops", "tf", "importlib",
            "course_utils", "checks", "losses", "reference", "metrics", "database", "models"}


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


def _outside_path(node) -> bool:
    """A string literal path that is absolute or climbs out (``..``) of the working folder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value
        return value.startswith(("/", "~")) or value.startswith("..") or "/../" in value
    if isinstance(node, ast.JoinedStr):
        return any(_outside_path(v) for v in node.values)
    return not isinstance(node, ast.Constant)   # a computed path: worth a look


class _Visitor(ast.NodeVisitor):
    def __init__(self):
        self.flags: list[str] = []

    def add(self, text):
        if text not in self.flags:
            self.flags.append(text)

    def visit_Import(self, node):
        for alias in node.names:
            self._module(alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(module)
        for alias in node.names:
            self._module(f"{module}.{alias.name}")
        self.generic_visit(node)

    def _module(self, name):
        if name.split(".")[0] in ("subprocess", "multiprocessing", "pty", "ctypes"):
            self.add(f"subprocess/native code ({name.split('.')[0]})")
        if name.startswith(("course_utils.exercises", "course_utils.checks", "course_utils.losses",
                            "course_utils.reference", "course_utils.solutions")) or name in (
                "course_utils.exercises", "course_utils.losses"):
            self.add(f"course internals ({name})")
        if name.split(".")[0] in ("threading", "_thread", "concurrent", "asyncio", "signal"):
            self.add(f"background threads/signals ({name.split('.')[0]})")
        if name in ("importlib", "builtins", "gc", "inspect", "site", "sysconfig") or name.startswith("importlib."):
            self.add(f"introspection ({name})")

    def visit_Attribute(self, node):
        name = _dotted(node)
        if node.attr in ("__dict__", "__globals__", "__builtins__", "__code__", "__closure__", "f_globals",
                         "f_locals", "f_back", "gi_frame", "tb_frame"):
            self.add(f"reaching past names ({name})")
        if name.startswith(_INTERNAL) and "." in name:
            self.add(f"course internals ({name})")
        if name.split(".")[-1] in _HOOKS and ("get_ipython" in name or "ip." in name or name.startswith("sys.")):
            self.add(f"IPython/interpreter hook ({name})")
        if name in _ENV or name.startswith("os.environ"):
            self.add(f"environment change ({name})")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self.add(f"reaching past names ({node.id})")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and any(mark in node.value for mark in _STARTUP):
            self.add("interpreter start-up files (site-packages, .pth, sitecustomize, ~/.ipython)")

    def visit_Call(self, node):
        name = _dotted(node.func)
        last = name.split(".")[-1]
        if name in _FRAMES or last in ("_getframe", "currentframe"):
            self.add(f"stack inspection ({name})")
        if name in ("getattr", "vars", "globals") and node.args:
            target = _dotted(node.args[0])
            if name == "globals" or target.split(".")[0] in _MODULES or target.startswith("course_utils"):
                self.add(f"dynamic attribute access ({name}({target or '...'}, ...))")
        if name in ("site.addsitedir", "site.getsitepackages", "site.getusersitepackages", "sysconfig.get_paths",
                    "sysconfig.get_path"):
            self.add("interpreter start-up files (site-packages, .pth, sitecustomize, ~/.ipython)")
        if name in _EXIT or last in ("_exit", "abort", "killpg", "setsid"):
            self.add(f"process exit/kill ({name})")
        if name in _TRACE or last in ("setprofile", "settrace"):
            self.add(f"tracing hook ({name})")
        if name.split(".")[0] in ("subprocess",) or name in _PROC or last in ("system", "popen", "Popen"):
            self.add(f"subprocess ({name})")
        if last in ("set_custom_exc", "register", "register_magic_function"):
            self.add(f"IPython/interpreter hook ({name})")
        if name in ("setattr", "delattr"):
            self.add(f"module attribute assignment ({name})")
        if name in ("exec", "eval", "compile", "__import__"):
            self.add(f"dynamic code ({name})")
        if name == "open" or last in ("write_text", "write_bytes", "rmtree", "remove", "unlink", "rename",
                                      "replace", "copy", "copyfile", "move", "symlink", "chmod"):
            if name == "open":
                mode = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "mode"), None)
                writes = isinstance(mode, ast.Constant) and bool(set(str(mode.value)) & _WRITE_MODES)
                if writes and node.args and _outside_path(node.args[0]):
                    self.add("file write outside the working folder (open)")
            else:
                self.add(f"file change ({name})")
        self.generic_visit(node)

    def _target(self, target):
        if isinstance(target, ast.Attribute):
            base = _dotted(target.value)
            if base and base not in ("self", "cls"):
                self.add(f"module attribute assignment ({_dotted(target)})")
        elif isinstance(target, ast.Subscript):
            base = _dotted(target.value)
            if base.startswith(("os.environ", "sys.modules", "builtins", "__builtins__")):
                self.add(f"environment change ({base}[...])")
        elif isinstance(target, ast.Name) and target.id in ("checks", "losses", "reference", "get_ipython",
                                                              "course_utils"):
            self.add(f"course name shadowed ({target.id})")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt)

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name in ("checks", "get_ipython", "check_triplet_loss") or node.name.startswith("check_"):
            self.add(f"course name shadowed ({node.name})")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        if node.name in ("checks", "losses", "course_utils"):
            self.add(f"course name shadowed ({node.name})")
        self.generic_visit(node)


def review_flags(sources: list[str]) -> list[str]:
    """Flags for the given cell sources (IPython magics and shell escapes count as subprocesses)."""
    visitor = _Visitor()
    for src in sources:
        lines = []
        for line in src.splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("!", "%%bash", "%%sh", "%%script", "%system", "%sx")):
                visitor.add("subprocess (shell escape)")
                line = ""
            elif stripped.startswith(("%", "?")):
                if stripped.startswith(("%env", "%set_env")):
                    visitor.add("environment change (%env)")
                line = ""
            lines.append(line)
        try:
            tree = parse_python("\n".join(lines))
        except SyntaxError:
            visitor.add("syntax error in a solution cell")
            continue
        visitor.visit(tree)
    return visitor.flags
