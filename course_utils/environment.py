"""What lesson 0 checks: versions, hardware, the dataset this machine will use, a speed test."""
from __future__ import annotations

import os
import platform
import time

import numpy as np

REQUIRED = {"tensorflow": "2.18", "keras": "3.6", "numpy": "1.26", "sklearn": "1.4",
            "matplotlib": "3.8", "ipywidgets": "8.1", "PIL": "10.0"}


def _version(module: str) -> str:
    if module in ("tensorflow", "keras"):
        from course_utils.config import quiet_tensorflow
        quiet_tensorflow()                    # its start-up log would land in lesson 0's first cell
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "?")
    except ImportError:
        return "missing"


def _at_least(version: str, minimum: str) -> bool:
    def parts(v):
        out = []
        for p in v.split(".")[:3]:
            digits = "".join(ch for ch in p if ch.isdigit())
            out.append(int(digits) if digits else 0)
        return out
    return version not in ("missing", "?") and parts(version) >= parts(minimum)


def package_table() -> list[tuple[str, str, str, bool]]:
    """``(package, installed, minimum, ok)`` for every package the course needs."""
    return [(m, _version(m), need, _at_least(_version(m), need)) for m, need in REQUIRED.items()]


def hardware() -> dict:
    import psutil
    return {"python": platform.python_version(), "system": f"{platform.system()} {platform.machine()}",
            "cpu_cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


def check_packages() -> None:
    """Print the package table; raise if something is missing or too old (with the fix)."""
    bad = []
    for name, have, need, ok in package_table():
        print(f"  {'✓' if ok else '✗'} {name:<11} {have:<10} (need ≥ {need})")
        if not ok:
            bad.append(name)
    if bad:
        raise RuntimeError(f"Missing or too old: {', '.join(bad)}. Run `python3 course.py setup` "
                           "from the course folder, then restart the kernel (Kernel ▸ Restart).")


def speed_test(seconds: float = 3.0, batch: int = 64) -> float:
    """Training throughput of the course's encoder on this machine, in images per second."""
    from course_utils.models import build_encoder   # starts TensorFlow quietly
    import keras

    model = build_encoder()
    model.compile("adam", loss=lambda y, e: keras.ops.mean(keras.ops.square(e - 0.1)))
    x = np.random.default_rng(0).uniform(0, 255, size=(batch, 64, 64, 3)).astype(np.float32)
    y = np.zeros((batch, 128), np.float32)
    model.train_on_batch(x, y)                      # warm-up (builds the graph)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.train_on_batch(x, y)
        n += batch
    return n / (time.perf_counter() - t0)
