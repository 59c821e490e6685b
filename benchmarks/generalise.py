"""Does a threshold travel? The same encoders on LFW and on AT&T, nothing trained.

    python3 course.py bench generalise [--lfw PATH] [--att PATH] [--encoder PATH] [--quick]
                                       [--pairs 1000] [--skip-dlib] [--seed 0]

Sets (each face embedded once, as a ``FaceDatabase`` does; 64×64 crops for every encoder):

* **LFW DevTest**: the 1,000 official ``pairsDevTest.txt`` pairs (500 same, 500 different, 10
  folds), cut with the course's fixed LFW crop (``images.LFW_CROP``, what ``datasets.load_lfw``
  does; only the images those pairs name are decoded);
* **AT&T crop**: ``datasets.load_att`` (centre crop, as the course's AT&T loader does);
* **AT&T aligned**: the same folder through the own-photos path, ``datasets.load_folder(align=True)``:
  MTCNN detection + 5-landmark alignment (about 0.1–0.3 s a photo on 2 cores the first time,
  cached in ``data/cache`` after; photos without a face found are left out);

with ``--pairs`` balanced AT&T pairs (``datasets.make_pairs``, seeded, half same, half different,
10 folds) so that the best-accuracy threshold means the same on every set.

Encoders: (a) raw pixels (``models.pixel_embed``), (b) the course encoder saved in ``data/models``
(``encoder.keras``, else the quick-mode ``encoder-quick.keras``; the header says which, from its
provenance file; without one nothing is trained and the bench says how to get one), (c) dlib's
ResNet (``course_utils.pretrained``, optional extra ``pretrained``; a row "not installed" otherwise).

Columns: ROC-AUC, 10-fold accuracy (LFW protocol: threshold chosen on 9 folds, scored on the
10th), TAR at FAR = 1 %, the best-accuracy threshold on all pairs (squared distance), and the FAR
and FRR that LFW's best threshold gives on this set: what happens when a threshold is carried over.
Last lines: the spread (max − min) of the best threshold across the sets, per encoder.
``--quick``: 200 LFW pairs (20 per fold, both kinds), 200 AT&T pairs, AT&T alignment on 20 people.
The metrics are machine-independent; only the timings depend on the load of the machine.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

TRAIN_HINT = ("no trained encoder in data/models/: run lesson 6 (python3 course.py lab, then "
              "notebooks/06_training.ipynb), which saves data/models/encoder.keras; this bench trains nothing")


def lfw_devtest(root, size: int, n_pairs: int | None, seed: int):
    """The DevTest pairs as a ``datasets.Pairs`` over only the images they name (LFW crop)."""
    from course_utils import datasets, images

    pairs, same, fold = datasets.read_lfw_pairs(datasets.lfw_pairs_file(root, "pairsDevTest.txt"))
    chosen = np.arange(len(pairs))
    if n_pairs and n_pairs < len(pairs):          # an equal share of each fold and class, seeded
        rng = np.random.default_rng(seed)
        per_cell = max(1, n_pairs // 20)
        chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero((fold == f) & (same == s)), per_cell, replace=False)
                                         for f in range(10) for s in (True, False)]))
    pairs = [pairs[k] for k in chosen]
    needed = sorted({(a, n) for a, n1, b, n2 in pairs for a, n in ((a, n1), (b, n2))})
    index = {key: k for k, key in enumerate(needed)}
    paths = [datasets.lfw_image_path(root, a, n) for a, n in needed]
    faces = images.load_and_preprocess(paths, size=size, crop=images.LFW_CROP)
    people = sorted({a for a, _ in needed})
    labels = np.array([people.index(a) for a, _ in needed], dtype=np.int32)
    face_set = datasets.FaceSet(faces, labels, people, "lfw", [str(p) for p in paths])
    ii = [index[(a, n1)] for a, n1, _, _ in pairs]
    jj = [index[(b, n2)] for _, _, b, n2 in pairs]
    return datasets.Pairs(face_set, ii, jj, same[chosen], fold[chosen])


def att_sets(root, size: int, n_pairs: int, seed: int, quick: bool) -> dict:
    """``{"AT&T crop": Pairs, "AT&T aligned": Pairs}`` (balanced pairs, seeded)."""
    from course_utils import datasets

    folder = datasets.find_att(root)
    people = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.startswith("s")),
                    key=lambda d: int(d.name[1:]) if d.name[1:].isdigit() else 10**9)
    if quick:
        people = people[:20]
    crop = datasets.load_att(root, size=size, download_ok=False).people([d.name for d in people])
    t0 = time.perf_counter()
    with warnings.catch_warnings():               # photos without a face are counted below instead
        warnings.simplefilter("ignore")
        aligned = datasets.load_folder(folder, size=size, people=people, source="att", align=True, verbose=False)
    photos = sum(1 for d in people for f in d.iterdir() if f.is_file())
    print(f"AT&T aligned: MTCNN found a face in {len(aligned)} of {photos} photos ({photos - len(aligned)} left "
          f"out) in {time.perf_counter() - t0:.1f} s (cached after the first run)", flush=True)
    return {"AT&T crop": datasets.make_pairs(crop, n_pairs=n_pairs, seed=seed),
            "AT&T aligned": datasets.make_pairs(aligned, n_pairs=n_pairs, seed=seed)}


def course_encoder(path_arg):
    """``(model or None, one line saying which file and what it was trained on)``."""
    from pathlib import Path
    from course_utils import training

    candidates = [Path(path_arg)] if path_arg else [training.default_encoder_path(quick=False),
                                                    training.default_encoder_path(quick=True)]
    for path in candidates:
        if path.exists():
            from course_utils.models import load_encoder
            info = training.read_provenance(path)
            quick = " — a seconds-long quick-mode run, not the lesson-6 encoder" if info.get("quick_mode") else ""
            return load_encoder(path), f"course encoder: {training.describe_encoder(path)}{quick}"
    return None, f"course encoder: {TRAIN_HINT}"


def evaluate(embed, pairs) -> dict:
    from course_utils import metrics

    used, where = np.unique(np.concatenate([pairs.i, pairs.j]), return_inverse=True)   # each face once
    t0 = time.perf_counter()
    vectors = embed(pairs.faces.images[used])
    seconds = time.perf_counter() - t0
    d = metrics.pair_distances(vectors, where[:len(pairs)], where[len(pairs):])
    report = metrics.verification_report(d, pairs.same, far=1e-2, folds=pairs.fold)
    report["distances"], report["same"], report["faces_per_s"] = d, pairs.same, len(vectors) / max(seconds, 1e-9)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", default=os.environ.get("COURSE_TEST_LFW_DIR") or None,
                        help="LFW folder (default: COURSE_TEST_LFW_DIR, else the course's LFW: COURSE_LFW_DIR or data/lfw)")
    parser.add_argument("--att", default=os.environ.get("COURSE_TEST_ATT_DIR") or None,
                        help="AT&T folder s1..s40 (default: COURSE_TEST_ATT_DIR, else COURSE_ATT_DIR or data/att_faces)")
    parser.add_argument("--encoder", help="a saved .keras encoder (default: data/models/encoder.keras, "
                                          "else encoder-quick.keras)")
    parser.add_argument("--pairs", type=int, default=1000, help="balanced AT&T pairs (default 1000, as DevTest)")
    parser.add_argument("--quick", action="store_true", help="200 LFW pairs, 200 AT&T pairs, alignment on 20 people")
    parser.add_argument("--skip-dlib", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.pairs < 20:
        parser.error("--pairs must be at least 20 (10 folds of both kinds).")
    import course_utils  # noqa: F401  (quiet TensorFlow start-up)
    from course_utils import datasets, metrics, models, pretrained

    n_pairs = 200 if args.quick else args.pairs
    model, which = course_encoder(args.encoder)
    size = int(model.input_shape[1]) if model is not None else 64
    print(f"{os.cpu_count()} CPU cores (timings depend on the load of the machine; the metrics do not)")
    print(which, flush=True)

    sets = {}
    lfw_root = datasets.find_lfw(args.lfw)
    if lfw_root is None:
        print(f"LFW DevTest: skipped, no LFW folder found ({args.lfw or 'COURSE_LFW_DIR / data/lfw'}); pass --lfw PATH")
    else:
        sets["LFW DevTest"] = lfw_devtest(lfw_root, size, 200 if args.quick else None, args.seed)
    if datasets.find_att(args.att) is None:
        print(f"AT&T: skipped, no folder with s1/1.pgm found ({args.att or 'COURSE_ATT_DIR / data/att_faces'}); "
              "pass --att PATH")
    else:
        sets.update(att_sets(args.att, size, n_pairs, args.seed, args.quick))
    if not sets:
        return 2
    for name, pairs in sets.items():
        used = np.unique(np.concatenate([pairs.i, pairs.j]))
        print(f"{name}: {len(pairs)} pairs ({int(pairs.same.sum())} same) over {len(used)} faces "
              f"of {len(np.unique(pairs.faces.labels[used]))} people", flush=True)

    encoders = {"raw pixels": models.pixel_embed}
    missing = {}
    if model is not None:
        encoders["course encoder"] = lambda x: models.embed(model, x)
    else:
        missing["course encoder"] = "no saved encoder (see above)"
    if args.skip_dlib:
        missing["dlib ResNet"] = "skipped (--skip-dlib)"
    elif pretrained.available():
        dlib = pretrained.load_pretrained()
        encoders["dlib ResNet"] = lambda x: dlib.predict(x, verbose=0)
    else:
        missing["dlib ResNet"] = f"not installed: {pretrained.INSTALL_HINT}"

    reports = {}
    for label, embed in encoders.items():
        for name, pairs in sets.items():
            reports[label, name] = evaluate(embed, pairs)

    print(f"\n{'encoder':<15} {'set':<13} {'AUC':>6} {'10-fold acc':>14} {'TAR@FAR=1%':>11} {'best τ':>7} "
          f"{'FAR@τ_LFW':>10} {'FRR@τ_LFW':>10} {'faces/s':>8}")
    for label in [*encoders, *missing]:
        if label in missing:
            print(f"{label:<15} {missing[label]}")
            continue
        lfw = reports.get((label, "LFW DevTest"))
        for name in sets:
            r = reports[label, name]
            carried = "" if lfw is None else "  ".join(
                f"{metrics.confusion_at(r['distances'], r['same'], lfw['best_threshold'])[k]:>8.1%}"
                for k in ("far", "frr"))
            print(f"{label:<15} {name:<13} {r['auc']:>6.3f} {r['accuracy_mean']:>7.3f} ± {r['accuracy_std']:.3f} "
                  f"{r['tar_at_far']:>11.3f} {r['best_threshold']:>7.3f} {carried:>21} {r['faces_per_s']:>8.0f}")
    print("\nspread of the best-accuracy threshold τ across the sets (squared distance, max − min):")
    for label in encoders:
        taus = {name: reports[label, name]["best_threshold"] for name in sets}
        low, high = min(taus.values()), max(taus.values())
        print(f"  {label:<15} {high - low:.3f}  ({', '.join(f'{n} {t:.3f}' for n, t in taus.items())})")
    if "LFW DevTest" in sets:
        print("LFW here = View 1 DevTest (pairsDevTest.txt), not the View 2 protocol of published results; "
              "FAR/FRR@τ_LFW: this set's rates at the best threshold found on LFW DevTest.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
