"""Train the course recipe for a fixed CPU budget and print a verification table.

    python3 course.py bench train                       # LFW if available, 5 minutes
    python3 course.py bench train --dataset both --minutes 5

For each dataset: the pixel baseline, the untrained encoder and the trained encoder on the
same identity-disjoint test pairs (LFW: the official 1,000 pairsDevTest.txt pairs, 10 folds):
10-fold accuracy, ROC-AUC, TAR at FAR = 1e-2, EER, training images/s and peak memory.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(source: str, minutes: float, seed: int, save_figure: str | None) -> list[dict]:
    from course_utils import training
    from course_utils.config import set_seed
    from course_utils.datasets import load_benchmark
    from course_utils.metrics import verification_report
    from course_utils.models import build_encoder, pixel_embed

    set_seed(seed)
    t0 = time.perf_counter()
    bench = load_benchmark(source, seed=seed, verbose=False)
    load_s = time.perf_counter() - t0
    print(f"\n{bench}\n(loaded in {load_s:.1f} s)", flush=True)
    test = bench.test
    rows = []

    def row(name, report, extra=None):
        rows.append({"dataset": bench.name, "model": name, "acc10": report["accuracy_mean"],
                     "acc_std": report["accuracy_std"], "auc": report["auc"], "tar@1e-2": report["tar_at_far"],
                     "eer": report["eer"], **(extra or {})})

    pixels = test.distances(pixel_embed(test.faces.images))
    row("pixels", verification_report(pixels, test.same, far=1e-2, folds=test.fold))
    row("untrained encoder", training.evaluate(build_encoder(), test))
    result = training.train_encoder(bench, minutes=minutes, checkpoint=None, live=False, verbose=True)
    row("trained encoder", training.evaluate(result.model, test),
        {"train_s": result.seconds, "images/s": result.images_per_second, "peak_rss_mb": peak_rss_mb()})
    if save_figure:
        from course_utils.plots import training_curves
        training_curves(result.history).savefig(save_figure, dpi=80)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="auto", help="auto | lfw | synthetic | both (default auto)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per dataset (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--figure", help="save the training curves of the last run to this PNG")
    args = parser.parse_args(argv)
    import course_utils  # noqa: F401

    sources = ["lfw", "synthetic"] if args.dataset == "both" else [args.dataset]
    rows = []
    for source in sources:
        rows += run(source, args.minutes, args.seed, args.figure)
    print(f"\n{os.cpu_count()} CPU cores, {args.minutes:g}-minute budget\n")
    print(f"{'dataset':<10} {'model':<18} {'10-fold acc':>14} {'ROC-AUC':>8} {'TAR@1e-2':>9} {'EER':>6} "
          f"{'img/s':>6} {'peak RSS':>9}")
    for r in rows:
        extra = (f"{r['images/s']:>6.0f} {r['peak_rss_mb']:>7.0f}MB" if "images/s" in r else "")
        print(f"{r['dataset']:<10} {r['model']:<18} {r['acc10']:>7.3f} ± {r['acc_std']:.3f} {r['auc']:>8.3f} "
              f"{r['tar@1e-2']:>9.3f} {r['eer']:>6.3f} {extra}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
