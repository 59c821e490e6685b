"""Progress on long work: a tqdm bar with an estimate, and a "k of n, ETA" suffix for printed lines.

:func:`progress` wraps a loop. It returns ``tqdm.auto``'s bar — the widget bar in Jupyter, a
text bar on ``stderr`` in a terminal — only when a bar is worth showing, and the iterable itself
(no overhead at all) otherwise:

- ``verbose=False`` (the caller's own ``verbose=``): never a bar;
- fewer than ``min_items`` items: short work, no bar (each caller sets ``min_items`` from how
  slow one item is, so a bar means "this takes more than a few seconds");
- quick mode (``COURSE_QUICK=1``: the test suite and the runs that write the committed notebook
  outputs): no bar, so no widget or ``\\r`` text is ever saved into a notebook;
- outside Jupyter, ``stderr`` not a terminal (pytest capturing it, a log file, CI): no bar.

``TQDM_DISABLE=1`` (tqdm's own setting) turns every bar off. :class:`Countdown` is for work that
already prints one line per item (grading, deck building): a suffix instead of a bar that would
garble those lines. Importing this module does not import tqdm.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, TypeVar

from course_utils.config import quick_mode

T = TypeVar("T")

#: Work with fewer items than this gets no bar unless the caller says otherwise (fast items:
#: decoding runs at hundreds of images a second).
MIN_ITEMS = 200


def bars_allowed() -> bool:
    """True where a bar can be shown: not quick mode, and Jupyter or a terminal on ``stderr``."""
    if quick_mode():
        return False
    if in_notebook():
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def in_notebook() -> bool:
    """True inside a running Jupyter kernel (where ``tqdm.auto`` picks the widget bar); false in a
    terminal even when some test or tool has imported ``ipykernel`` (tqdm.auto would be fooled)."""
    zmq, ipython = sys.modules.get("ipykernel.zmqshell"), sys.modules.get("IPython")
    if zmq is None or ipython is None:
        return False
    return isinstance(ipython.get_ipython(), zmq.ZMQInteractiveShell)


def progress(iterable: Iterable[T], total: int | None = None, desc: str | None = None, unit: str = "it",
             verbose: bool = True, min_items: int = MIN_ITEMS) -> Iterable[T]:
    """``iterable`` with a progress bar when the work is long (see the module docstring), else itself.

    ``total``: the number of items (default ``len(iterable)`` when it has one; without a length
    and without ``total`` there is no bar: "long" cannot be judged). ``min_items=0`` shows a bar
    whenever bars are allowed at all.
    """
    if total is None:
        try:
            total = len(iterable)          # type: ignore[arg-type]
        except TypeError:
            return iterable
    if not verbose or total < min_items or not bars_allowed():
        return iterable
    if in_notebook():
        from tqdm.auto import tqdm         # the widget bar (a text bar in a Qt console)
    else:
        from tqdm.std import tqdm          # what tqdm.auto picks in a terminal, whatever was imported
    return tqdm(iterable, total=total, desc=desc, unit=unit, mininterval=0.5, dynamic_ncols=True)


def duration(seconds: float) -> str:
    """``75.2`` → ``"1:15"``; ``3725`` → ``"1:02:05"``."""
    s = max(0, int(round(seconds)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class Countdown:
    """``"3 of 12 graded, ETA 4:10"`` for loops that print one line per item (thread-safe if the
    caller prints under a lock, as grading does). The estimate is the wall-clock time so far per
    item finished, so with parallel work (``--jobs``) it is too high at first and right after the
    first round."""

    def __init__(self, total: int, verb: str = "done"):
        self.total, self.verb, self.finished, self.t0 = int(total), verb, 0, time.monotonic()

    def _left(self, finished: int) -> str:
        if finished == 0:
            return ""
        per_item = (time.monotonic() - self.t0) / finished
        return f", ETA {duration(per_item * (self.total - finished))}"

    def starting(self) -> str:
        """For a line printed *before* an item: ``"3 of 12, ETA 4:10"`` (no ETA before the first ends)."""
        return f"{min(self.finished + 1, self.total)} of {self.total}{self._left(self.finished)}"

    def step(self) -> str:
        """Count one item as finished → ``"3 of 12 graded, ETA 4:10"`` (the last: the total time)."""
        self.finished += 1
        if self.finished >= self.total:
            return f"{self.finished} of {self.total} {self.verb} in {duration(time.monotonic() - self.t0)}"
        return f"{self.finished} of {self.total} {self.verb}{self._left(self.finished)}"


__all__ = ["progress", "Countdown", "bars_allowed", "in_notebook", "duration", "MIN_ITEMS"]
