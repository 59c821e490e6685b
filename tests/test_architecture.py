"""The package's shape, as ARCHITECTURE.md describes it: read from the source files (AST), so
these tests fail as soon as a change breaks a rule, whoever wrote it.

* no import cycles among the modules of ``course_utils`` and ``coursekit`` (module-level imports);
* no module imports another module's private names (``from m import _x`` or ``m._x``);
* the library (``course_utils``) never imports the instructor tools (``coursekit``);
* ``import course_utils`` and the NumPy-only modules do not start TensorFlow (checked in a
  fresh interpreter);
* no module is longer than 600 lines unless its docstring says why ("Why one long module:").
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("course_utils", "coursekit")
MAX_LINES = 600
LONG_REASON = "Why one long module:"


def module_files() -> dict[str, Path]:
    """``{"course_utils.metrics": path, "course_utils.widgets": …/__init__.py, …}``."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = module_files()


def _resolve(module: str, importer: str, level: int) -> str:
    if level == 0:
        return module
    base = importer.split(".")
    if not MODULES[importer].name == "__init__.py":
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, top_level_only: bool):
    """``(target module, imported names, node)`` for every import in module ``name`` that targets
    one of our packages. ``from pkg import sub`` counts as importing the module ``pkg.sub``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield alias.name, [], node
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", name, node.level)
            if target.split(".")[0] not in PACKAGES:
                continue
            plain = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, [], node
                else:
                    plain.append(alias.name)
            if plain:
                yield target, plain, node


def import_graph(top_level_only: bool = True) -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _, _ in imports_of(name, top_level_only):
            if target in MODULES and target != name and not name.startswith(target + "."):
                graph[name].add(target)    # a submodule importing its own package is not a cycle
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_rule_checkers_see_what_they_should():
    # The graph helpers on a made-up graph (a cycle, then none), and the real graph is not empty.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    graph = import_graph()
    assert "course_utils.metrics" in graph["course_utils.clustering"]
    assert "course_utils.widgets.base" in graph["course_utils.widgets.threshold"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph(top_level_only=True))
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def private_uses(name: str) -> list[str]:
    """Private names of *other* modules of ours that module ``name`` imports or reads."""
    found = []
    module_aliases: dict[str, str] = {}
    for target, names, node in imports_of(name, top_level_only=False):
        for plain in names:
            if plain.startswith("_") and not plain.startswith("__") and target != name:
                found.append(f"line {node.lineno}: from {target} import {plain}")
        if not names:
            for alias in node.names:
                if isinstance(node, ast.ImportFrom) and f"{target}".endswith("." + alias.name):
                    module_aliases[alias.asname or alias.name] = target
                elif isinstance(node, ast.Import) and alias.asname:
                    module_aliases[alias.asname] = target
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and node.attr.startswith("_")
                and not node.attr.startswith("__") and module_aliases[node.value.id] != name):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_from_other_modules(name):
    uses = private_uses(name)
    assert not uses, (f"{name} uses private names of other modules: {uses}. Make the helper public "
                      "(no underscore, a docstring) in the module that owns it, or keep it local.")


def test_private_name_checker_catches_both_forms(tmp_path, monkeypatch):
    fake = tmp_path / "course_utils" / "fake.py"
    fake.parent.mkdir()
    fake.write_text("from course_utils.metrics import _hidden\nfrom course_utils import metrics\nmetrics._other(1)\n")
    monkeypatch.setitem(MODULES, "course_utils.fake", fake)
    assert private_uses("course_utils.fake") == ["line 1: from course_utils.metrics import _hidden",
                                                 "line 3: metrics._other"]


def test_library_never_imports_instructor_tools():
    bad = [f"{name} {node.lineno}: {target}" for name in MODULES if name.startswith("course_utils")
           for target, _, node in imports_of(name, top_level_only=False) if target.startswith("coursekit")]
    assert not bad, f"course_utils must not import coursekit (students import course_utils): {bad}"


LIGHT_MODULES = ["course_utils", "course_utils.config", "course_utils.cache", "course_utils.download",
                 "course_utils.images", "course_utils.synthetic", "course_utils.datasets",
                 "course_utils.metrics", "course_utils.clustering", "course_utils.database",
                 "course_utils.plots", "course_utils.widgets"]


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            f"for name in {LIGHT_MODULES!r}:\n"
            "    __import__(name)\n"
            "    if 'tensorflow' in sys.modules or 'keras' in sys.modules:\n"
            "        print('HEAVY', name); break\n"
            "else:\n"
            "    print('LIGHT')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LIGHT", (
        f"{out.stdout.strip()}: this module starts TensorFlow; import keras only inside the modules "
        "that need it (models, losses, sampler, training).")


def test_a_tensorflow_module_still_imports_it_quietly():
    code = "import course_utils.models, sys; assert 'tensorflow' in sys.modules; print('ok')"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    noise = [line for line in out.stderr.splitlines() if "absl" in line or "oneDNN" in line or "cpu_feature" in line]
    assert not noise, f"TensorFlow's start-up log leaked: {noise}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small_or_say_why(name):
    path = MODULES[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if lines <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert LONG_REASON in doc, (f"{path.relative_to(REPO)} has {lines} lines (> {MAX_LINES}): split it along its "
                                f"seams, or say why it is one module in its docstring ('{LONG_REASON} …').")
