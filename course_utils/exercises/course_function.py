"""A function of the course named without importing it: what an exercise falls back to or forbids.

An exercise's ``reference`` (what the lesson runs until the student's answer works) and its
``forbidden`` functions (the course's own implementations, which the grader hides from the kernel,
see ``coursekit.hidden``) live in modules that import TensorFlow. Importing the kit must not start
TensorFlow, so an exercise holds a :class:`CourseFunction` — the module and the name — and imports
the function only when it is needed (:meth:`CourseFunction.resolve`). A test resolves every entry,
so renaming a function without updating its exercise fails a test instead of silently un-hiding it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class CourseFunction:
    """``module`` (``"course_utils.losses"``) and ``name``: a module-level function
    (``"triplet_loss"``, private names too when that is what must be hidden) or a method of a
    module-level class (``"FaceDatabase.verify"``)."""

    module: str
    name: str

    @property
    def path(self) -> str:
        """``"course_utils.losses:triplet_loss"``."""
        return f"{self.module}:{self.name}"

    @property
    def function(self) -> str:
        """The function's own name, without its class (``"verify"`` for ``FaceDatabase.verify``)."""
        return self.name.rsplit(".", 1)[-1]

    def resolve(self):
        """The function itself (imports ``module``, which may start TensorFlow)."""
        found = importlib.import_module(self.module)
        for part in self.name.split("."):
            found = getattr(found, part)
        return found

    def __str__(self) -> str:
        return self.path


def course_functions(module: str, *names: str) -> tuple[CourseFunction, ...]:
    """One :class:`CourseFunction` per name, all in ``module``."""
    return tuple(CourseFunction(module, name) for name in names)
