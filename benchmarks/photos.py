"""Real photos: MTCNN detection rate and speed on LFW frames; dlib's encoder on LFW DevTest pairs.

    python3 course.py bench photos [--lfw PATH] [--images 300] [--skip-dlib]

Prints (1) how many of ``--images`` random LFW frames (seed 0) get a face, images/s of
detection with an empty cache and of the cached second pass, and how many faces trigger the
small/blurred warnings; (2) the production encoder (optional extra ``pretrained``) on the
1,000 official ``pairsDevTest.txt`` pairs: 10-fold accuracy, AUC, TAR@FAR=1 %, EER, for the
course's 64×64 LFW crops, the 112×112 crops at native resolution, and full 250×250 frames
with MTCNN alignment (``course_utils.align``, 112 px). Needs a local LFW copy.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", default=os.environ.get("COURSE_LFW_DIR", "data/lfw"))
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--skip-dlib", action="store_true")
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--inputs", default="crop64,crop112,aligned",
                        help="comma-separated dlib inputs: crop64, crop112, aligned")
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_DATA_DIR", tempfile.mkdtemp(prefix="bench-photos-"))   # a cold cache
    import course_utils  # noqa: F401  (quiet TensorFlow start-up)
    from course_utils import align, datasets, images, metrics

    root = datasets.find_lfw(args.lfw)
    if root is None:
        print(f"No LFW folder at {args.lfw}; pass --lfw PATH.")
        return 2
    print(f"{os.cpu_count()} CPU cores (figures depend on the load of the machine)")
    files = sorted(root.glob("*/*.jpg"))
    if args.skip_detection:
        return _dlib(args, root, datasets, images, metrics, align)
    pick = [files[k] for k in np.random.default_rng(0).choice(len(files), args.images, replace=False)]
    frames = [images.read_image(f) for f in pick]
    align.detect_faces(frames[0], use_cache=False)                      # load the model once
    for label in ("cold cache", "cached"):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = align.align_faces(frames, all_faces=False, on_no_face="skip", warn=False)
        dt = time.perf_counter() - t0
        print(f"detect+align {label}: {len(frames) / dt:.2f} images/s ({dt:.1f} s for {len(frames)})")
    found = len(result)
    small = sum("small" in n for n in result.notes)
    blurred = sum("blurred" in n for n in result.notes)
    print(f"detection rate: {found}/{len(frames)} = {found / len(frames):.3f}; warnings: {small} small, {blurred} blurred")
    if args.skip_dlib:
        return 0
    return _dlib(args, root, datasets, images, metrics, align)


def _dlib(args, root, datasets, images, metrics, align) -> int:
    from course_utils import pretrained
    if not pretrained.available():
        print(f"dlib encoder not installed: {pretrained.INSTALL_HINT}")
        return 0
    enc = pretrained.load_pretrained()
    pairs, same, fold = datasets.read_lfw_pairs(datasets.lfw_pairs_file(root, "pairsDevTest.txt"))
    needed = sorted({(a, n) for a, n1, b, n2 in pairs for a, n in ((a, n1), (b, n2))})
    index = {k: i for i, k in enumerate(needed)}
    paths = [datasets.lfw_image_path(root, a, n) for a, n in needed]
    ii = np.array([index[(a, n1)] for a, n1, b, n2 in pairs])
    jj = np.array([index[(b, n2)] for a, n1, b, n2 in pairs])
    print(f"\nDevTest: {len(pairs)} pairs over {len(paths)} images; dlib encoder: {enc.name}")
    variants = {
        "crop64": lambda: images.load_and_preprocess(paths, size=64, crop=images.LFW_CROP),
        "crop112": lambda: images.load_and_preprocess(paths, size=112, crop=images.LFW_CROP),
        "aligned": lambda: _aligned(align, images, paths),
    }
    print(f"{'input':<34} {'img/s':>6} {'acc (10-fold)':>15} {'AUC':>6} {'TAR@1%':>7} {'EER':>6}")
    labels = {"crop64": "course crop 64×64 (LFW_CROP)", "crop112": "crop 112×112 (LFW_CROP, native)",
              "aligned": "MTCNN-aligned 112×112 (align.py)"}
    for key in args.inputs.split(","):
        label, crops = labels[key], variants[key]()
        t0 = time.perf_counter()
        emb = enc.predict(crops)
        speed = len(crops) / (time.perf_counter() - t0)
        d = metrics.pair_distances(emb, ii, jj)
        r = metrics.verification_report(d, same, far=0.01, folds=fold)
        print(f"{label:<34} {speed:>6.1f} {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} "
              f"{r['auc']:>6.3f} {r['tar_at_far']:>7.3f} {r['eer']:>6.3f}")
    return 0


def _aligned(align, images, paths):
    out = []
    for p in paths:
        frame = images.read_image(p)
        r = align.align_faces([frame], size=112, all_faces=False, on_no_face="skip", warn=False)
        # No face found: fall back to the fixed crop, so every pair keeps its two images.
        out.append(r.faces[0] if len(r) else images.preprocess(frame, size=112, crop=images.LFW_CROP))
    return np.stack(out)


if __name__ == "__main__":
    raise SystemExit(main())
