"""Which precision training uses: float32, or mixed_bfloat16 where it is really faster.

Mixed precision is a training speed-up only. ``"auto"`` is float32 in quick/test mode and while
grading (the same numbers on every CPU) and on CPUs without bfloat16 instructions; on CPUs with
them it is decided by a short timing made **once per machine** and remembered in
``data/cache/precision.json``, so a loaded laptop cannot flip the choice from one run to the next.
:func:`course_utils.training.train_encoder` returns a float32 model whatever was chosen.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from course_utils.cache import cache_key
from course_utils.config import data_dir, env_flag, env_setting, quick_mode

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
_PRECISION_CHOICE: dict = {}     # (input shape, widths, stem, P*K) -> (policy, why), decided once per process


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The bfloat16 instruction sets this CPU reports (``avx512_bf16``, ``amx_bf16``); [] if none or unknown."""
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return [f for f in ("avx512_bf16", "amx_bf16") if f in flags]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:          # not Linux: no cheap way to know, so assume no bfloat16 instructions
        return ""


def _cpu_model(cpuinfo: str) -> str:
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                "unknown CPU")


def fixed_float32_reason() -> str | None:
    """Why ``"auto"`` must mean float32 here without measuring (quick/test mode, grading), else None.

    Results there must be the same on every CPU, so no timing race may pick the precision."""
    if quick_mode():
        return "quick test mode: always float32, so every CPU prints the same numbers"
    if env_flag("COURSE_GRADING") or "NBGRADER_EXECUTION" in os.environ:
        return "grading: always float32, so every CPU gives the same verdicts"
    return None


def _measured_choice(recipe, input_shape, flags: list[str], cpuinfo: str, timer: Callable,
                     version: str) -> tuple[str, str]:
    """Time both policies once per machine and recipe shape; the numbers are kept in
    ``data/cache/precision.json`` so every later run (and lesson) makes the same choice."""
    path = data_dir() / "cache" / "precision.json"
    key = cache_key(_cpu_model(cpuinfo), flags, tuple(input_shape), tuple(recipe.widths), recipe.stem,
                    recipe.head, recipe.P * recipe.K, version)
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict) or not isinstance(known.get(key), dict):
        f32 = timer("float32", recipe, input_shape)
        bf16 = timer("mixed_bfloat16", recipe, input_shape)
        known = known if isinstance(known, dict) else {}
        known[key] = {"cpu": _cpu_model(cpuinfo), "float32": round(f32, 1), "mixed_bfloat16": round(bf16, 1)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known, indent=1))
        except OSError:
            pass
    f32, bf16 = known[key]["float32"], known[key]["mixed_bfloat16"]
    ratio = bf16 / max(f32, 1e-9)
    where = f"measured once on this CPU ({'/'.join(flags)}) and remembered in {path.parent.name}/{path.name}"
    if ratio >= 1.1:
        return "mixed_bfloat16", (f"bfloat16 is ~{ratio:.1f}× faster here ({bf16:.0f} vs {f32:.0f} images/s, {where}); "
                                  "the weights stay float32 and the trained encoder embeds in float32, "
                                  "so accuracy is unchanged")
    return "float32", f"bfloat16 would be only {ratio:.2f}× as fast here ({where})"


def choose_precision(recipe, input_shape, timer: Callable, version: str = "", verbose: bool = True,
                     cpuinfo: str | None = None) -> str:
    """``"float32"`` or ``"mixed_bfloat16"`` for ``recipe.precision`` (``"auto"`` decides; others pass through).

    ``"auto"`` is **float32** in quick/test mode and while grading (the same numbers on every CPU),
    and on CPUs without bfloat16 instructions (AVX512-BF16 or AMX; there oneDNN emulates it,
    which measured 2.4× *slower* on this course's reference machine). With those instructions it
    uses ``mixed_bfloat16`` when a timing of a few training steps shows it at least 10 % faster;
    that timing is made once per machine and remembered, so every run makes the same choice.
    Either way mixed precision only speeds training up: the losses accumulate in float32, the
    variables are float32, and :func:`train_encoder` returns a float32 model.
    The choice is printed and remembered per process; ``COURSE_PRECISION`` overrides "auto".
    ``timer(policy, recipe, input_shape)`` → training images/s (only called where measuring).
    """
    if recipe.precision not in PRECISIONS:
        raise ValueError(f"Recipe.precision must be one of {', '.join(map(repr, PRECISIONS))}; "
                         f"got {recipe.precision!r}.")
    if recipe.precision != "auto":
        return recipe.precision
    forced = env_setting("COURSE_PRECISION")
    if forced:          # the tests run lessons under a forced policy on any CPU (oneDNN emulates bfloat16)
        if forced not in PRECISIONS[1:]:
            raise ValueError(f"COURSE_PRECISION must be one of {', '.join(map(repr, PRECISIONS[1:]))}; got {forced!r}.")
        if verbose:
            print(f"Precision: {forced} (set by COURSE_PRECISION).")
        return forced
    key = (tuple(input_shape), tuple(recipe.widths), recipe.stem, recipe.P * recipe.K)
    if key not in _PRECISION_CHOICE or cpuinfo is not None:
        info = _cpuinfo() if cpuinfo is None else cpuinfo
        flags = cpu_bf16_flags(info)
        fixed = fixed_float32_reason()
        if fixed:
            choice = ("float32", fixed)
        elif not flags:
            choice = ("float32", "this CPU has no bfloat16 instructions (avx512_bf16 / amx_bf16)")
        else:
            choice = _measured_choice(recipe, input_shape, flags, info, timer, version)
        _PRECISION_CHOICE[key] = choice
    policy, why = _PRECISION_CHOICE[key]
    if verbose:
        print(f"Precision: {policy} ({why}).")
    return policy


