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


def report() -> dict:
    from course_utils.datasets import find_att, find_lfw

    status = {"data folder": str(data_dir()), "LFW": str(find_lfw() or "missing"),
              "AT&T/Olivetti": str(find_att() or ("cached" if (data_dir() / "sklearn").exists() else "missing")),
              "trained encoder": str(p) if (p := data_dir() / "models" / "encoder.keras").exists() else "not yet (lesson 6)",
              "disk used by data/": f"{folder_size_mb(data_dir()):.0f} MB",
              "disk free": f"{shutil.disk_usage(data_dir()).free / 2**30:.1f} GB"}
    for k, v in status.items():
        print(f"{k:>18}: {v}")
    return status


def prepare() -> int:
    from course_utils.datasets import load_att, load_lfw
    from course_utils.download import DownloadError

    ok = True
    for name, load in [("LFW", lambda: load_lfw(verbose=True)), ("AT&T / Olivetti", load_att)]:
        t0 = time.time()
        try:
            faces = load()
            print(f"✓ {name}: {faces.summary()} ({time.time() - t0:.0f} s)")
        except (DownloadError, FileNotFoundError, OSError) as err:
            ok = False
            print(f"✗ {name}: {err}")
    print()
    report()
    if not ok:
        print("\nSome datasets are missing. The course still works offline with its synthetic faces.")
    return 0 if ok else 1


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
