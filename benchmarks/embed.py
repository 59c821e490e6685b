"""Embedding throughput of the course encoder (``Recipe().build_encoder()``, images/s) at batch 1, 32 and 256."""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per batch size")
    args = parser.parse_args(argv)
    import course_utils  # noqa: F401  (quiet TensorFlow start-up)
    from course_utils.training import Recipe

    model = Recipe().build_encoder((64, 64, 3))
    print(f"encoder: {model.count_params():,} parameters, input 64×64×3, {os.cpu_count()} CPU cores")
    print(f"{'batch':>6} {'images/s':>10} {'ms/batch':>10}")
    for batch in (1, 32, 256):
        x = np.random.default_rng(0).uniform(0, 255, size=(batch, 64, 64, 3)).astype(np.float32)
        model(x, training=False)                       # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            model(x, training=False)
            n += 1
        dt = (time.perf_counter() - t0) / n
        print(f"{batch:>6} {batch / dt:>10.0f} {dt * 1e3:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
