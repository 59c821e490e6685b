"""Train the course recipe at two budgets and print a verification table and the speed ratio.

    python3 course.py bench train                       # LFW if available
    python3 course.py bench train --dataset both --images 64000 --minutes 5
    python3 course.py bench train --previous            # also train the previous recipe at both budgets

For each dataset it prints:

1. **Speed ratio**: training images/s of the current ``Recipe()`` over ``Recipe.previous()`` (the
   recipe before issue 16), from short interleaved runs *in the same process* (A B A B ...), so
   load from other programs hits both and the ratio survives a noisy machine. The images/s of
   each is measured between the first and the last validation of the run, so it includes
   everything a run pays for on every step (batches, augmentation, callbacks, the validation
   after each epoch) but not the one-off costs (building and tracing the model, the final
   batch-norm pass) that a 5-minute run amortises. ``--speed-only`` prints just this.
2. **Accuracy at a fixed budget of images** (default 64,000; machine-independent) and **in a
   fixed time** (default 5 minutes; depends on this machine and its load).

The pixel baseline, the untrained and the trained encoders are scored on the same
identity-disjoint test pairs: 10-fold accuracy, ROC-AUC, TAR at FAR = 1e-2, EER.

On LFW the test pairs are **View 1 DevTest**: the 1,000 pairs of ``pairsDevTest.txt`` (500 same,
500 different), 10 folds of 100, with training on the ``pairsDevTrain.txt`` people. This is *not*
the View 2 protocol (``pairs.txt``, 6,000 pairs, 10-fold cross-validation) behind published
LFW accuracies, so the numbers are comparable with each other, not with papers.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

VIEW1_NOTE = ("LFW here = View 1 DevTest: the 1,000 pairsDevTest.txt pairs (10 folds of 100), trained on "
              "pairsDevTrain.txt people; NOT the View 2 pairs.txt protocol (6,000 pairs) of published results.")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def steady_images_per_second(result) -> float:
    """Training images/s between the first and the last validation: every step pays for its batch,
    augmentation, callbacks and the validation after each epoch, but not for the one-off costs
    (building and tracing the model, the batch-norm pass at the end) that a 5-minute run amortises."""
    times = result.history.get("time", [])
    if len(times) < 2:
        return result.images_per_second
    r = result.recipe
    first_epoch = r.steps_per_epoch * r.P * r.K             # images seen when times[0] was taken
    return (result.images_seen - first_epoch) / (times[-1] - times[0])   # (the last epoch may be short)


def speed_ratio(bench, steps: int, rounds: int) -> dict:
    """Images/s of ``Recipe()`` and ``Recipe.previous()``, interleaved, median of ``rounds`` each."""
    import numpy as np
    from course_utils import training

    recipes = {"current": training.Recipe(), "previous": training.Recipe.previous()}
    speeds = {name: [] for name in recipes}
    for r in range(rounds + 1):                      # round 0 warms both up and is discarded
        for name, recipe in (recipes.items() if r % 2 == 0 else reversed(recipes.items())):
            result = training.train_encoder(bench, steps=steps, recipe=recipe, checkpoint=None,
                                            live=False, verbose=False)
            if r:
                speeds[name].append(steady_images_per_second(result))
    out = {name: float(np.median(v)) for name, v in speeds.items()}
    out["ratio"] = out["current"] / out["previous"]
    return out


def run(source: str, images: int, minutes: float, seed: int, previous: bool, timing_steps: int,
        timing_rounds: int, save_figure: str | None, speed_only: bool = False) -> tuple[list[dict], dict]:
    from course_utils import training
    from course_utils.config import set_seed
    from course_utils.datasets import load_benchmark
    from course_utils.metrics import verification_report
    from course_utils.models import pixel_embed

    set_seed(seed)
    t0 = time.perf_counter()
    bench = load_benchmark(source, seed=seed, verbose=False)
    print(f"\n{bench}\n(loaded in {time.perf_counter() - t0:.1f} s)", flush=True)
    if bench.name == "lfw":
        print(VIEW1_NOTE)
    test = bench.test
    rows = []

    def row(name, budget, report, extra=None):
        rows.append({"dataset": bench.name, "model": name, "budget": budget, "acc10": report["accuracy_mean"],
                     "acc_std": report["accuracy_std"], "auc": report["auc"], "tar@1e-2": report["tar_at_far"],
                     "eer": report["eer"], **(extra or {})})

    speed = {}
    if timing_rounds > 0:
        print(f"Timing Recipe() against Recipe.previous(): {timing_rounds} interleaved rounds of "
              f"{timing_steps} steps each (images/s between the first and last validation) ...", flush=True)
        speed = speed_ratio(bench, timing_steps, timing_rounds)
        speed["dataset"] = bench.name
        print(f"  current {speed['current']:.0f} images/s, previous {speed['previous']:.0f} images/s: "
              f"ratio {speed['ratio']:.2f}x (same run)", flush=True)
    if speed_only:
        return rows, speed

    pixels = test.distances(pixel_embed(test.faces.images))
    row("pixels", "-", verification_report(pixels, test.same, far=1e-2, folds=test.fold))
    row("untrained encoder", "-", training.evaluate(training.Recipe().build_encoder(bench.train.images.shape[1:]), test))
    recipes = [("recipe", training.Recipe())] + ([("previous recipe", training.Recipe.previous())] if previous else [])
    for label, recipe in recipes:
        steps = max(1, images // (recipe.P * recipe.K))
        for budget, kwargs in ((f"{steps * recipe.P * recipe.K:,} images", {"steps": steps}),
                               (f"{minutes:g} min", {"minutes": minutes})):
            print(f"Training the {label} for {budget} ...", flush=True)
            result = training.train_encoder(bench, recipe=recipe, checkpoint=None, live=False, verbose=True,
                                            **kwargs)
            row(label, budget, training.evaluate(result.model, test),
                {"images": result.images_seen, "train_s": result.seconds,
                 "images/s": result.images_per_second, "peak_rss_mb": peak_rss_mb(),
                 "val_auc_by_epoch": result.history.get("val_auc", [])})
            if save_figure:
                from course_utils.plots import training_curves
                training_curves(result.history).savefig(save_figure, dpi=80)
    return rows, speed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="auto", help="auto | lfw | synthetic | both (default auto)")
    parser.add_argument("--images", type=int, default=64_000, help="fixed image budget (default 64,000)")
    parser.add_argument("--minutes", type=float, default=5.0, help="fixed time budget (default 5)")
    parser.add_argument("--previous", action="store_true", help="also train Recipe.previous() at both budgets")
    parser.add_argument("--timing-steps", type=int, default=200, help="steps per timing run (default 200)")
    parser.add_argument("--timing-rounds", type=int, default=3, help="timing rounds per recipe (0: skip)")
    parser.add_argument("--speed-only", action="store_true", help="only the speed ratio (no training budgets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--figure", help="save the training curves of the last run to this PNG")
    args = parser.parse_args(argv)
    if args.images <= 0 or args.minutes <= 0:
        parser.error("--images and --minutes must be positive.")
    import course_utils  # noqa: F401

    sources = ["lfw", "synthetic"] if args.dataset == "both" else [args.dataset]
    rows, speeds = [], {}
    for source in sources:
        new_rows, speed = run(source, args.images, args.minutes, args.seed, args.previous, args.timing_steps,
                              args.timing_rounds, args.figure, args.speed_only)
        rows += new_rows
        if speed:
            speeds[speed["dataset"]] = speed
    budgets = "speed only" if args.speed_only else f"budgets: {args.images:,} images and {args.minutes:g} minutes"
    print(f"\n{os.cpu_count()} CPU cores; {budgets}; seed {args.seed}")
    if any(r["dataset"] == "lfw" for r in rows):
        print(VIEW1_NOTE)
    for name, s in speeds.items():
        print(f"{name}: speed Recipe() / Recipe.previous() = {s['ratio']:.2f}x "
              f"({s['current']:.0f} vs {s['previous']:.0f} training images/s, interleaved in this run)")
    if rows:
        print(f"\n{'dataset':<10} {'model':<18} {'budget':>15} {'10-fold acc':>14} {'ROC-AUC':>8} {'TAR@1e-2':>9} "
              f"{'EER':>6} {'img/s':>6} {'peak RSS':>9}")
        for r in rows:
            extra = (f"{r['images/s']:>6.0f} {r['peak_rss_mb']:>7.0f}MB" if "images/s" in r else "")
            budget = r["budget"] if r["budget"] == "-" or "images" in r["budget"] else \
                f"{r['budget']} ({r['images']:,})"
            print(f"{r['dataset']:<10} {r['model']:<18} {budget:>15} {r['acc10']:>7.3f} ± {r['acc_std']:.3f} "
                  f"{r['auc']:>8.3f} {r['tar@1e-2']:>9.3f} {r['eer']:>6.3f} {extra}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "speed": speeds}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
