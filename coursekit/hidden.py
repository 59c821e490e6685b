"""The package a graded kernel sees: the course without the answers.

A student's answer could call the course's own implementation of the exercise (``losses.triplet_loss``,
the kit's ``solutions``, a loop reference, a mistake catalogue that computes the right value on the
way). Catching that from inside the kernel means trusting objects the student can replace
(``sys.setprofile``, ``json``, the recorder itself), so instead the kernel never gets those functions:

* every module of ``course_utils/exercises/`` is replaced by a small one whose every name is a
  ``Hidden`` placeholder, so ``from course_utils.exercises import check_x, loop_references`` still
  runs, but calling anything from it raises ``CourseCodeHidden``;
* every function the graded lesson's exercises list as ``forbidden`` (module functions and methods
  of module-level classes) keeps its signature and docstring, and its body becomes a ``raise``.

An answer that leans on any of them therefore cannot produce a single right value: the probe records
the exception and the judge (in the grader's process) says which course function it reached. The
rest of the package is left byte for byte, so the lesson's other cells still run.

With the OS sandbox (:mod:`coursekit.bwrap`) this copy is the only ``course_utils`` the kernel can
read: the repository, ``solutions/`` and other submissions are not mounted.
"""
from __future__ import annotations

import ast

from course_utils.exercises.course_function import course_functions
from course_utils.exercises.harness import HIDDEN_MARK    # the judge recognises the hidden code by it
from course_utils.exercises.protocol import parse_python

HIDDEN_ERROR = "CourseCodeHidden"

_KIT_STUB = '''"""The exercise kit HIDDEN_MARK: write each exercise yourself."""


class CourseCodeHidden(RuntimeError):
    """Raised by every name of the kit while grading."""


class Hidden:
    """A placeholder for a name of the kit: importing it works, using it raises."""

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        raise CourseCodeHidden(
            f"course_utils.exercises.{self._name} HIDDEN_MARK: "
            "the grader runs its own check, and an answer must not use the course's code for the exercise.")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Hidden(f"{self._name}.{attr}")

    def __repr__(self):
        return f"<hidden while grading: course_utils.exercises.{self._name}>"


def grading_mode():
    return True


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return Hidden(name)
'''


_KIT_STUB = _KIT_STUB.replace("HIDDEN_MARK", HIDDEN_MARK)


def _stub_body(module: str, qualname: str, indent: str) -> list[str]:
    message = (f"{module}.{qualname} {HIDDEN_MARK}: it computes what the exercise asks, "
               "so an answer must not call it.")
    return [f"{indent}raise RuntimeError({message!r})  # {HIDDEN_ERROR}\n"]


def _targets(tree: ast.Module, names: set[str]):
    """Function nodes named in ``names``: at module level, or methods of a module-level class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in names:
                    yield f"{node.name}.{item.name}", item


def stub_functions(source: str, module: str, names: set[str]) -> tuple[str, list[str]]:
    """``source`` with the body of every function in ``names`` replaced by a ``raise`` (docstring and
    signature kept, every other line untouched). Returns ``(new source, qualnames stubbed)``."""
    tree = parse_python(source)
    lines = source.splitlines(keepends=True)
    edits = []
    for qualname, node in _targets(tree, names):
        body = node.body
        keep = 1 if (body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                     and isinstance(body[0].value.value, str)) else 0
        first = body[keep] if keep < len(body) else None
        if first is None:
            continue
        start, end = first.lineno - 1, node.end_lineno
        indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())] or " " * (node.col_offset + 4)
        edits.append((start, end, _stub_body(module, qualname, indent), qualname))
    for start, end, new, _ in sorted(edits, reverse=True):
        lines[start:end] = new
    return "".join(lines), [q for *_, q in edits]


# Course functions that also compute (most of) an exercise's answer without being its reference:
# hidden too while that lesson is graded. Keyed by lesson number.
ALSO_COMPUTES = {
    "01": (*course_functions("course_utils.database", "FaceDatabase._distances_to_people"),
           *course_functions("course_utils.metrics", "_identity_distances", "squared_distances")),
    "04": (*course_functions("course_utils.metrics", "squared_distances"),
           *course_functions("course_utils.database", "_unit_squared_distance_matrix")),
    "07": (*course_functions("course_utils.metrics", "squared_distance_matrix", "_closed_set_ranks"),
           *course_functions("course_utils.database", "_unit_squared_distance_matrix")),
    "08": course_functions("course_utils.metrics", "roc", "best_threshold", "operating_point", "verification_report",
                           "named_thresholds", "pair_verdicts", "equal_error_rate"),
    "09": (*course_functions("course_utils.database", "FaceDatabase._distances_to_people"),
           *course_functions("course_utils.metrics", "_identity_distances", "open_set_identification")),
    "10": course_functions("course_utils.metrics", "threshold_for_far", "_pairs_within"),
}


def hidden_names(exercises) -> dict[str, set[str]]:
    """``{module file relative to course_utils/: {function names}}`` hidden for these exercises:
    what they forbid plus :data:`ALSO_COMPUTES` of their lessons, outside the kit."""
    found: dict[str, set[str]] = {}
    for ex in exercises:
        for ref in (*ex.forbidden, *ALSO_COMPUTES.get(ex.lesson, ())):
            if not ref.module.startswith("course_utils.") or ref.module.startswith("course_utils.exercises"):
                continue
            rel = ref.module[len("course_utils."):].replace(".", "/") + ".py"
            # By the bare name, as stub_functions finds it: module level or a method of any class.
            found.setdefault(rel, set()).add(ref.function)
    return found


def kernel_package(package: dict[str, bytes], exercises) -> tuple[dict[str, bytes], list[str]]:
    """The files of the kernel's ``course_utils`` (relative paths → bytes) for a lesson whose graded
    ``exercises`` are given, and the list of ``module.function`` names hidden."""
    out = {rel: data for rel, data in package.items() if not rel.startswith("exercises/")}
    for rel in package:          # every module of the kit keeps its name (imports work), not its code
        if rel.startswith("exercises/") and rel.endswith(".py"):
            out[rel] = (_KIT_STUB if rel == "exercises/__init__.py" else
                        _KIT_STUB.replace("course_utils.exercises.{self._name}",
                                          f"course_utils.exercises.{rel[10:-3]}.{{self._name}}")).encode()
    hidden = ["course_utils.exercises (the whole kit)"]
    for rel, names in sorted(hidden_names(exercises).items()):
        if rel not in out:
            continue
        module = "course_utils." + rel[:-3].replace("/", ".")
        source, done = stub_functions(out[rel].decode(), module, names)
        out[rel] = source.encode()
        hidden += [f"{module}.{q}" for q in done]
    return out, hidden
