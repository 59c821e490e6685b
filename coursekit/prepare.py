"""Prepare a machine (or a lab image) so the whole course then runs offline.

    python3 course.py prepare            # download + cache LFW and the Olivetti faces, warm caches
    python3 course.py prepare --check    # only report what is ready

After this, set ``COURSE_OFFLINE=1`` (or just unplug): no lesson downloads anything at run time.
The datasets go to ``data/`` (or ``COURSE_DATA_DIR``). For a lab image, run this once in the
image's copy of the course; students then work in their own copy (lessons write trained
encoders to ``data/models`` and databases to ``data/databases``, so ``data/`` must stay
writable), or point ``COURSE_LFW_DIR`` at a shared read-only LFW folder.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time

from course_utils.config import data_dir


def folder_size_mb(path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.exists() else 0.0


LESSONS_ON_LFW = "lessons 0-10"          # every lesson that loads faces with load_faces/load_benchmark("auto")
LESSONS_ON_ENCODER = "lessons 7-10"      # the lessons that reuse lesson 6's saved encoder


def encoder_status() -> str:
    """What ``data/models/encoder.keras`` is, read from its provenance sidecar ``encoder.json``."""
    from course_utils.training import default_encoder_path, read_provenance

    path = default_encoder_path(quick=False)       # the lessons' real encoder, whatever mode this runs in
    if not path.exists():
        return f"not yet (lesson 6 trains it; until then {LESSONS_ON_ENCODER} train a quick one)"
    info = read_provenance(path)
    if not info:
        return f"{path} (no provenance file encoder.json: {LESSONS_ON_ENCODER} cannot tell what it is)"
    seen = info.get("images_seen")
    what = f"trained on {info.get('dataset', '?')}" + (f", {seen:,} images" if isinstance(seen, int) else "")
    auc = info.get("best_val_auc")
    if isinstance(auc, (int, float)) and auc == auc:
        what += f", validation AUC {auc:.3f}"
    if info.get("quick_mode"):
        return (f"only a quick test-mode encoder ({what}); {LESSONS_ON_ENCODER} will retrain — "
                "run lesson 6 without COURSE_QUICK to train the real one")
    return f"trained encoder ({what}) at {path}"


def report() -> dict:
    from course_utils.config import offline
    from course_utils.datasets import find_att, find_lfw

    skipped = " (downloading skipped: COURSE_OFFLINE=1)" if offline() else ""
    status = {"data folder": str(data_dir()), "LFW": str(find_lfw() or f"missing{skipped}"),
              "AT&T/Olivetti": str(find_att() or ("cached" if (data_dir() / "sklearn").exists() else f"missing{skipped}")),
              "encoder": encoder_status(),
              "disk used by data/": f"{folder_size_mb(data_dir()):.0f} MB",
              "disk free": f"{shutil.disk_usage(data_dir()).free / 2**30:.1f} GB"}
    for k, v in status.items():
        print(f"{k:>18}: {v}")
    return status


def prepare() -> int:
    """Fetch (or, offline, only look for) each dataset. Exit code 1 only when LFW is missing:
    the Olivetti faces are an optional extra that no lesson needs by default."""
    from course_utils.config import offline
    from course_utils.datasets import load_att, load_lfw
    from course_utils.download import DownloadError

    if offline():
        print("COURSE_OFFLINE=1 is set: nothing is downloaded; only local copies are used.\n")
    missing = []
    for name, load in [("LFW", lambda: load_lfw(verbose=True)), ("AT&T / Olivetti", load_att)]:
        t0 = time.time()
        try:
            faces = load()
            print(f"✓ {name}: {faces.summary()} ({time.time() - t0:.0f} s)")
        except (DownloadError, FileNotFoundError, OSError) as err:
            missing.append(name)
            why = " Downloading was skipped because COURSE_OFFLINE=1 is set." if offline() else ""
            print(f"✗ {name}: {err}{why}")
    print()
    report()
    if "LFW" in missing:
        print(f"\nLFW is missing: {LESSONS_ON_LFW} will use the synthetic faces instead (they work offline). "
              "To get LFW, run this again online without COURSE_OFFLINE, or set COURSE_LFW_DIR to a copy.")
    if "AT&T / Olivetti" in missing:
        print("\nThe Olivetti faces are missing: no lesson needs them; only COURSE_DATASET=att and "
              "load_faces('att') do.")
    return 1 if "LFW" in missing else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report what is ready")
    args = parser.parse_args(argv)
    if args.check:
        report()
        return 0
    return prepare()


if __name__ == "__main__":
    sys.exit(main())
