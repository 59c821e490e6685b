"""Face search at scale: brute force vs FAISS exact (IndexFlatIP) vs FAISS HNSW.

Synthetic unit-norm 128-d embeddings, one per enrolled identity (N = 10k, 100k, 1M by default);
each query is an enrolled embedding plus noise (a new photo of someone enrolled, cosine ≈ 0.8 to
its source), so the true nearest key is well defined. For each method: build time, index memory,
queries/s (batches of 100 queries, all cores faiss/NumPy use), recall@1 = fraction of queries whose
top key equals the brute-force (float64) top key.

    python3 course.py bench search [--sizes 10000 100000 1000000] [--queries 1000]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _embeddings(n: int, dim: int, rng) -> np.ndarray:
    keys = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):                      # in chunks: 1M × 128 float64 is 1 GB
        stop = min(n, start + 100_000)
        keys[start:stop] = _unit(rng.standard_normal((stop - start, dim)))
    return keys


def _brute_top1(keys: np.ndarray, queries: np.ndarray, batch: int = 100) -> np.ndarray:
    return np.concatenate([np.argmax(queries[i:i + batch] @ keys.T, axis=1) for i in range(0, len(queries), batch)])


def _timed_queries(search, queries: np.ndarray, batch: int = 100, min_seconds: float = 2.0):
    """Run ``search`` over all queries in batches (at least once, repeating up to min_seconds)."""
    t0, done, top1 = time.perf_counter(), 0, None
    while top1 is None or time.perf_counter() - t0 < min_seconds:
        top1 = np.concatenate([search(queries[i:i + batch]) for i in range(0, len(queries), batch)])
        done += len(queries)
        if time.perf_counter() - t0 > 30:                  # slow methods: one pass is enough
            break
    return done / (time.perf_counter() - t0), top1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--noise", type=float, default=0.06, help="per-dimension std of the query noise")
    args = parser.parse_args(argv)
    try:
        import faiss
    except ImportError:
        print("faiss is not installed (pip install faiss-cpu): only brute force is available; nothing to compare.")
        return 1
    from course_utils.index import HNSW_EF_SEARCH, KeyIndex

    print(f"{os.cpu_count()} CPU cores, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads), "
          f"dim {args.dim}, {args.queries} queries, HNSW efSearch {HNSW_EF_SEARCH}")
    print(f"| {'N':>9} | {'method':<11} | {'build s':>8} | {'memory MB':>9} | {'queries/s':>10} | {'recall@1':>8} |")
    print(f"|{'-' * 11}|{'-' * 13}|{'-' * 10}|{'-' * 11}|{'-' * 12}|{'-' * 10}|")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        keys = _embeddings(n, args.dim, rng)
        sources = rng.integers(0, n, size=args.queries)
        queries = _unit(keys[sources] + args.noise * rng.standard_normal((args.queries, args.dim)))
        truth = _brute_top1(keys.astype(np.float64) if n <= 100_000 else keys, queries.astype(keys.dtype)
                            if n <= 100_000 else queries)
        rows = [("brute NumPy", 0.0, keys.nbytes, lambda q: np.argmax(q @ keys.T, axis=1))]
        for kind in ("exact", "hnsw"):
            t0 = time.perf_counter()
            index = KeyIndex(keys, kind=kind)
            build = time.perf_counter() - t0
            memory = faiss.serialize_index(index._index).nbytes
            rows.append((f"faiss {kind}", build, memory,
                         lambda q, index=index: index._index.search(np.ascontiguousarray(q), 1)[1][:, 0]))
        for name, build, memory, search in rows:
            qps, top1 = _timed_queries(search, queries)
            recall = float(np.mean(top1 == truth))
            print(f"| {n:>9,} | {name:<11} | {build:>8.1f} | {memory / 2**20:>9.0f} | {qps:>10,.0f} | {recall:>8.3f} |",
                  flush=True)
        del rows, keys
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
