"""course_utils.timing: the best of several runs, and the speed-up text of the lesson 4 table."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from course_utils import timing
from course_utils.timing import best_time, speed_up


def test_best_time_is_the_fastest_run_and_passes_the_arguments(monkeypatch):
    # A clock that reads what each run "took" (0.03 s, 0.001 s, 0.02 s): no real time is measured,
    # so the test says the same on a loaded machine.
    ticks = iter([0.0, 0.03, 1.0, 1.001, 2.0, 2.02])
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    seen = []

    def slow(x, scale=1):
        seen.append((x, scale))

    t = timing.best_time(slow, 5, repeats=3, scale=2)
    assert seen == [(5, 2)] * 3
    assert t == pytest.approx(0.001)


def test_best_time_needs_a_run():
    with pytest.raises(ValueError):
        best_time(print, repeats=0)


@pytest.mark.parametrize("ratio, text", [(0.083, "×0.083"), (0.004, "×0.004"), (2.54, "×2.5"),
                                         (58.4, "×58"), (12345.0, "×12,345")])
def test_speed_up_never_rounds_a_slow_down_to_zero(ratio, text):
    assert speed_up(ratio) == text
