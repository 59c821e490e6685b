"""Benchmark: vectorised triplet mining (keras.ops) vs the Python-loop reference.

    .venv/bin/python benchmarks/losses.py                  # B = 32 64 128 256, 1 thread
    .venv/bin/python benchmarks/losses.py --sizes 64 128 --threads 2

For each batch size B (P×K batch with K = 4, dim 128, unit-norm float32 embeddings) and each
strategy it prints the time per call of

* ``loop``   — ``course_utils.exercises.loop_references`` (plain Python loops, float64): best of a few calls,
  only one call once a call takes longer than ``--loop-budget`` seconds;
* ``eager``  — ``course_utils.losses`` on the TensorFlow backend, eager (op by op);
* ``tf.fn``  — the same function wrapped in ``tf.function`` (traced once, shapes fixed),

after one warm-up call, and the speed-ups loop/eager and loop/tf.fn. Memory:

* ``loop MiB``  — peak Python allocation during one loop call (``tracemalloc``, separate call);
* ``TF MiB``    — peak increase of the process RSS while the eager function runs, sampled
  every 0.5 ms by a thread, in a fresh process per strategy (sizes in increasing order, so
  memory cached from a smaller size can hide a little of a larger one). Rough, but it shows
  the B³ growth; ``--no-memory`` skips it;
* ``B³ MiB``    — size of one (B, B, B) float32 tensor, which batch-all and semi-hard build;
* ``max|Δ|``    — largest difference between the two results (float32 vs float64).

The ``distances`` row times ``pairwise_squared_distances`` alone (matrix product vs B² loops).

TensorFlow is limited to ``--threads`` CPU threads (default 1, a fair match for the
single-threaded loop and polite on shared machines).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cases(losses, reference):
    """name -> (vectorised fn(labels, embeddings) -> tensor, loop fn(labels, embeddings))."""
    return {
        "distances": (lambda y, x: losses.pairwise_squared_distances(x),
                      lambda y, x: reference.pairwise_squared_distances_loop(x)),
        "batch_all": (lambda y, x: losses.batch_all_triplet_loss(y, x)[0],
                      lambda y, x: reference.batch_all_loop(y, x)[0]),
        "batch_hard": (lambda y, x: losses.batch_hard_triplet_loss(y, x)[0],
                       lambda y, x: reference.batch_hard_loop(y, x)[0]),
        "semi_hard": (lambda y, x: losses.semi_hard_triplet_loss(y, x)[0],
                      lambda y, x: reference.semi_hard_loop(y, x)[0]),
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=4, help="images per identity (K of P×K)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow CPU threads")
    parser.add_argument("--min-time", type=float, default=0.3,
                        help="seconds spent timing each vectorised variant")
    parser.add_argument("--loop-budget", type=float, default=1.0,
                        help="time the loop once when one call takes longer than this (s)")
    parser.add_argument("--no-memory", action="store_true", help="skip the TF memory column")
    parser.add_argument("--memory-worker", choices=["distances", "batch_all", "batch_hard",
                                                     "semi_hard"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def time_per_call(fn, min_time, max_calls=200):
    """Median seconds per call of ``fn()`` (after the caller's warm-up)."""
    times = []
    start = time.perf_counter()
    while len(times) < max_calls and (time.perf_counter() - start < min_time or len(times) < 3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_loop(fn, budget):
    """Best of up to 3 calls; a single call when one call exceeds ``budget`` seconds."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if best > budget:
            break
    return best


def tracemalloc_peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def release_free_memory():
    """Ask glibc to hand freed heap memory back to the OS, so RSS starts low (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_peak_increase_mib(fn, calls=3):
    """Sampled peak RSS increase (MiB) while ``fn`` runs ``calls`` times."""
    import psutil

    release_free_memory()
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for _ in range(calls):
            fn()
    finally:
        done.set()
        sampler.join()
    return max(peak - baseline, 0) / 2**20


def make_batch(batch, dim, k, rng):
    """P×K labels (plus singletons if K does not divide B) and unit-norm float32 embeddings."""
    import numpy as np

    labels = np.repeat(np.arange(batch // k), k)
    labels = np.append(labels, np.arange(batch - len(labels)) + batch)
    emb = rng.normal(size=(batch, dim)).astype("float32")
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return labels, emb


def import_tensorflow(threads):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import course_utils  # noqa: F401  (quiet TensorFlow start-up)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def memory_worker(args):
    """Child process: peak RSS increase of one strategy (eager) for each size, printed as JSON.

    A fresh process per strategy, so one strategy cannot reuse memory another one left in the
    allocator. Sizes run in increasing order after a tiny warm-up (one-time set-up costs).
    """
    import numpy as np

    tf = import_tensorflow(args.threads)
    from course_utils import losses
    from course_utils.exercises import loop_references as reference

    fast, _ = cases(losses, reference)[args.memory_worker]
    rng = np.random.default_rng(0)
    labels, emb = make_batch(8, args.dim, args.k, rng)
    fast(tf.constant(labels), tf.constant(emb)).numpy()
    result = {}
    for batch in sorted(args.sizes):
        labels, emb = make_batch(batch, args.dim, args.k, rng)
        y, x = tf.constant(labels), tf.constant(emb)
        result[batch] = rss_peak_increase_mib(lambda: fast(y, x).numpy(), calls=2)
    print(json.dumps(result))


def tf_memory_by_strategy(args, names):
    """Run ``memory_worker`` once per strategy; {name: {B: MiB}} (NaN if a worker failed)."""
    out = {}
    for name in names:
        command = [sys.executable, __file__, "--memory-worker", name, "--threads", str(args.threads),
                   "--dim", str(args.dim), "--k", str(args.k), "--sizes", *map(str, args.sizes)]
        done = subprocess.run(command, capture_output=True, text=True)
        try:
            out[name] = {int(b): v for b, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
        except (ValueError, IndexError):
            out[name] = {}
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.memory_worker:
        memory_worker(args)
        return
    import numpy as np

    tf = import_tensorflow(args.threads)
    from course_utils import losses
    from course_utils.exercises import loop_references as reference

    names = list(cases(losses, reference))
    tf_mib = tf_memory_by_strategy(args, names) if not args.no_memory else {}
    print(f"TensorFlow {tf.__version__}, keras.ops on the TF backend, {args.threads} thread(s), "
          f"dim {args.dim}, P×K batches with K={args.k}, float32 (loop reference in float64)\n")
    header = (f"{'B':>4} {'strategy':<10} {'loop ms':>9} {'eager ms':>9} {'tf.fn ms':>9} "
              f"{'loop/eager':>10} {'loop/tf.fn':>10} {'loop MiB':>9} {'TF MiB':>7} "
              f"{'B³ MiB':>7} {'max|Δ|':>8}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for batch in args.sizes:
        labels, emb = make_batch(batch, args.dim, args.k, rng)
        y, x = tf.constant(labels), tf.constant(emb)
        for name, (fast, loop) in cases(losses, reference).items():
            graph = tf.function(fast)
            fast(y, x).numpy()                                           # warm-up
            graph(y, x).numpy()                                          # trace once
            eager_s = time_per_call(lambda: fast(y, x).numpy(), args.min_time)
            graph_s = time_per_call(lambda: graph(y, x).numpy(), args.min_time)
            loop_s = time_loop(lambda: loop(labels, emb), args.loop_budget)
            loop_mib = tracemalloc_peak_mib(lambda: loop(labels, emb))
            diff = np.max(np.abs(np.asarray(fast(y, x), np.float64) - loop(labels, emb)))
            memory = tf_mib.get(name, {}).get(batch, float("nan"))
            print(f"{batch:>4} {name:<10} {loop_s * 1e3:>9.2f} {eager_s * 1e3:>9.3f} "
                  f"{graph_s * 1e3:>9.3f} {loop_s / eager_s:>9.0f}× {loop_s / graph_s:>9.0f}× "
                  f"{loop_mib:>9.2f} {memory:>7.1f} {batch ** 3 * 4 / 2**20:>7.1f} {diff:>8.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
