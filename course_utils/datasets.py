"""Face datasets: LFW, AT&T/Olivetti, any folder of photos, and the synthetic default.

Why one long module: every source returns the same :class:`FaceSet` / :class:`Benchmark`, shares
the cache keys and the ``load_faces("auto")`` order of choice; a student looking for "where do
the faces come from" finds all of it here.

Every loader returns a :class:`FaceSet` — the same three things whatever the source:

- ``images``: ``(N, size, size, 3) uint8`` preprocessed faces (default size 64)
- ``labels``: ``(N,) int32`` identity ids ``0 .. n_identities-1``
- ``names``:  ``list[str]``, ``names[label]`` is that person's name

Splits are always **by identity**: nobody is in both train and test, because an encoder is
judged on people it has never seen. :class:`Pairs` holds verification pairs (two image indices
and whether they show the same person) over a FaceSet.

Where the data comes from (``load_faces("auto")`` / ``load_benchmark("auto")``):

1. ``COURSE_DATASET`` if set (``lfw``, ``att``, ``synthetic`` or a folder path);
2. LFW if a local copy is found (``COURSE_LFW_DIR``, ``data/lfw``, or an earlier download);
3. LFW downloaded now (about 230 MB, once) if the machine is online and ``COURSE_OFFLINE`` is unset;
4. otherwise the embedded synthetic faces (no download, no real person's data).
"""
from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from course_utils import cache, images as imgs
from course_utils.config import IMAGE_SIZE, data_dir, env_setting, offline, quick_mode
from course_utils.download import DownloadError, download
from course_utils.progress import progress

LFW_PAIR_FILES = ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt")
_LOADER_VERSION = "2"          # 2: aligned folders keep the small/blurred-face notes


# ----------------------------------------------------------------------------- containers
@dataclass
class FaceSet:
    """Faces with identity labels. ``images (N,H,W,3) uint8``, ``labels (N,) int32``."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    source: str = "unknown"
    paths: list[str] | None = None

    def __post_init__(self):
        self.images = np.asarray(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int32)
        if self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"FaceSet images must have shape (N, H, W, 3); got {self.images.shape}.")
        if len(self.images) != len(self.labels):
            raise ValueError(f"FaceSet has {len(self.images)} images but {len(self.labels)} labels.")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.names)):
            raise ValueError("FaceSet labels must be in 0 .. len(names)-1.")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_identities(self) -> int:
        return len(self.names)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def counts(self) -> np.ndarray:
        """``(n_identities,) int`` — how many images each person has."""
        return np.bincount(self.labels, minlength=self.n_identities)

    def subset(self, indices: Iterable[int] | np.ndarray) -> "FaceSet":
        """The images at ``indices`` (ints or a boolean mask), relabelled ``0..k-1`` in order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        kept, new_labels = np.unique(self.labels[idx], return_inverse=True)
        paths = [self.paths[i] for i in idx] if self.paths is not None else None
        return FaceSet(self.images[idx], new_labels.astype(np.int32),
                       [self.names[k] for k in kept], self.source, paths)

    def with_min_images(self, k: int) -> "FaceSet":
        """Only the people who have at least ``k`` images."""
        keep = self.counts()[self.labels] >= k
        return self.subset(keep)

    def people(self, names: Iterable[str]) -> "FaceSet":
        """Only the images of the named people."""
        wanted = set(names)
        ids = [i for i, n in enumerate(self.names) if n in wanted]
        return self.subset(np.isin(self.labels, ids))

    def summary(self) -> str:
        c = self.counts()
        return (f"{self.source}: {len(self)} images of {self.n_identities} people, "
                f"{self.image_size}×{self.image_size} px; images per person "
                f"min {c.min() if len(c) else 0} / median {int(np.median(c)) if len(c) else 0} / "
                f"max {c.max() if len(c) else 0}")

    def __repr__(self) -> str:
        return f"FaceSet({self.summary()})"


@dataclass
class Pairs:
    """Verification pairs over ``faces``: ``(faces.images[i[m]], faces.images[j[m]])`` is pair m.

    ``same (M,) bool`` says whether a pair shows one person; ``fold (M,) int`` is the
    cross-validation fold (LFW's 10-fold protocol, or contiguous folds for made-up pairs).
    """

    faces: FaceSet
    i: np.ndarray
    j: np.ndarray
    same: np.ndarray
    fold: np.ndarray = field(default=None)

    def __post_init__(self):
        self.i = np.asarray(self.i, dtype=np.int64)
        self.j = np.asarray(self.j, dtype=np.int64)
        self.same = np.asarray(self.same, dtype=bool)
        if self.fold is None:
            self.fold = np.arange(len(self.i)) * 10 // max(len(self.i), 1)
        self.fold = np.asarray(self.fold, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.same)

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        """``(M,)`` squared Euclidean distances of each pair, given embeddings of ``faces``."""
        e = np.asarray(embeddings, dtype=np.float32)
        if len(e) != len(self.faces):
            raise ValueError(f"Expected one embedding per face of this pair set ({len(self.faces)}), "
                             f"got {len(e)}. Embed pairs.faces.images, not another set.")
        return np.sum((e[self.i] - e[self.j]) ** 2, axis=1)

    def image_pair(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        return self.faces.images[self.i[m]], self.faces.images[self.j[m]]

    def __repr__(self) -> str:
        return (f"Pairs({len(self)} pairs: {int(self.same.sum())} same, {int((~self.same).sum())} "
                f"different; over {len(self.faces)} images of {self.faces.n_identities} people)")


@dataclass
class Benchmark:
    """A train set and identity-disjoint validation/test pairs: what training and evaluation use."""

    name: str
    train: FaceSet
    val: Pairs
    test: Pairs
    note: str = ""

    def __repr__(self) -> str:
        return (f"Benchmark({self.name}: train {self.train.summary()}; val {len(self.val)} pairs; "
                f"test {len(self.test)} pairs)")


# ----------------------------------------------------------------------------- splits & pairs
def split_by_identity(faces: FaceSet, test_fraction: float = 0.25, seed: int = 0) -> tuple[FaceSet, FaceSet]:
    """Split people (not images) into train and test: nobody appears in both."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    if faces.n_identities < 2:
        raise ValueError("Need at least 2 people to split by identity.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(faces.n_identities)
    n_test = min(max(1, round(test_fraction * faces.n_identities)), faces.n_identities - 1)
    test_ids = order[:n_test]
    in_test = np.isin(faces.labels, test_ids)
    return faces.subset(~in_test), faces.subset(in_test)


def make_pairs(faces: FaceSet, n_pairs: int = 1000, seed: int = 0, n_folds: int = 10) -> Pairs:
    """Balanced random verification pairs: ``n_pairs//2`` same-person, the rest different-person.

    Same-person pairs come from people with ≥ 2 images (two distinct images); different-person
    pairs from two distinct people. No pair of images appears twice (in either order) unless the
    faces have fewer distinct pairs than asked for. Deterministic for a given ``seed``.
    """
    counts = faces.counts()
    multi = np.flatnonzero(counts >= 2)
    if len(multi) == 0:
        raise ValueError("No person has 2 or more images, so no same-person pair can be made. "
                         "Add more photos per person.")
    if faces.n_identities < 2:
        raise ValueError("Need at least 2 people to make different-person pairs.")
    rng = np.random.default_rng(seed)
    by_id = indices_by_label(faces.labels, faces.n_identities)
    n_same = n_pairs // 2
    ii, jj, seen = [], [], set()

    def draw(make, n):
        for _ in range(n):
            for _attempt in range(100):              # a repeat counts a look-alike twice: draw again
                a, b = make()
                if (min(a, b), max(a, b)) not in seen:
                    break
            seen.add((min(a, b), max(a, b)))
            ii.append(a), jj.append(b)

    draw(lambda: tuple(rng.choice(by_id[rng.choice(multi)], size=2, replace=False)), n_same)
    draw(lambda: tuple(rng.choice(by_id[p]) for p in rng.choice(faces.n_identities, size=2, replace=False)),
         n_pairs - n_same)
    same = np.arange(n_pairs) < n_same
    order = rng.permutation(n_pairs)
    same = same[order]
    fold = np.zeros(n_pairs, dtype=np.int64)
    for cls in (True, False):            # each fold gets an equal share of both kinds of pair
        idx = np.flatnonzero(same == cls)
        fold[idx] = np.arange(len(idx)) * n_folds // max(len(idx), 1)
    return Pairs(faces, np.array(ii)[order], np.array(jj)[order], same, fold)


def indices_by_label(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """``labels`` (N,) ints in 0..n−1 → ``n`` int arrays: the image indices of each person, in order."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(n)]


# ----------------------------------------------------------------------------- synthetic
def load_synthetic(n_identities: int = 500, images_per_identity: int = 10, size: int = IMAGE_SIZE,
                   seed: int = 0, start: int = 0, nuisance: float = 1.0) -> FaceSet:
    """Procedural cartoon faces (see :mod:`course_utils.synthetic`); no download, no real people.

    People ``start .. start+n_identities-1``; the same person index always has the same face, so
    different ``start`` ranges give disjoint identities (how the benchmark splits train/test).
    """
    from course_utils.synthetic import make_synthetic_faces

    images, labels, names = make_synthetic_faces(n_identities, images_per_identity, size=size,
                                                 seed=seed, start=start, nuisance=nuisance)
    return FaceSet(images, labels, list(names), source="synthetic")


# ----------------------------------------------------------------------------- LFW
def find_lfw(root: str | Path | None = None) -> Path | None:
    """The first folder that looks like LFW (``Name/Name_0001.jpg``), or ``None``."""
    candidates = [root, env_setting("COURSE_LFW_DIR") or None, data_dir() / "lfw",
                  data_dir() / "lfw_home" / "lfw_funneled"]
    for cand in candidates:
        if cand and _looks_like_lfw(Path(cand).expanduser()):
            return Path(cand).expanduser().resolve()
    return None


def _looks_like_lfw(path: Path) -> bool:
    if not path.is_dir():
        return False
    for sub in path.iterdir():
        if sub.is_dir() and (sub / f"{sub.name}_0001.jpg").exists():
            return True
    return False


def lfw_image_path(root: Path, name: str, number: int) -> Path:
    return root / name / f"{name}_{number:04d}.jpg"


def download_lfw(dest: str | Path | None = None) -> Path:
    """Download LFW (funneled, ~230 MB) and its pair lists into ``data/lfw_home``; return the image folder.

    Uses the archive locations and SHA-256 checksums that scikit-learn's ``fetch_lfw_*`` use.
    Raises :class:`~course_utils.download.DownloadError` within seconds when offline.
    """
    home = Path(dest) if dest else data_dir() / "lfw_home"
    folder = home / "lfw_funneled"
    if _looks_like_lfw(folder) and all((home / f).exists() for f in LFW_PAIR_FILES):
        return folder
    try:
        from sklearn.datasets._lfw import FUNNELED_ARCHIVE, TARGETS
    except ImportError as err:  # scikit-learn moved them: let its public fetcher download
        if offline():
            raise DownloadError("Not downloading LFW: COURSE_OFFLINE=1 is set.") from None
        from sklearn.datasets import fetch_lfw_people
        try:
            fetch_lfw_people(data_home=str(home.parent), download_if_missing=True)
        except Exception as inner:  # noqa: BLE001 — report any failure as a download error
            raise DownloadError(f"LFW download through scikit-learn failed: {inner}") from err
        return folder
    for target in TARGETS:
        download(target.url, home / target.filename, sha256=target.checksum, desc=target.filename)
    archive = download(FUNNELED_ARCHIVE.url, home / FUNNELED_ARCHIVE.filename,
                       sha256=FUNNELED_ARCHIVE.checksum, desc="LFW images")
    print("Unpacking LFW ...")
    tmp = home / "lfw_funneled.partial"
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    inner = tmp / "lfw_funneled"
    os.replace(inner if inner.exists() else tmp, folder)
    archive.unlink(missing_ok=True)
    return folder


def _resolve_lfw(root, download_ok: bool) -> Path:
    found = find_lfw(root)
    if found:
        return found
    if root:
        raise FileNotFoundError(f"No LFW images found in {root}: expected folders like {root}/Name/Name_0001.jpg.")
    if not download_ok:
        raise FileNotFoundError("LFW was not found locally (set COURSE_LFW_DIR or put it in data/lfw).")
    return download_lfw()


def lfw_pairs_file(root: Path, filename: str) -> Path:
    for folder in (root, root.parent):
        if (folder / filename).exists():
            return folder / filename
    raise FileNotFoundError(f"{filename} not found next to the LFW images in {root} or {root.parent}. "
                            "It is part of the official LFW download; put it in that folder.")


def read_lfw_pairs(path: str | Path) -> tuple[list[tuple[str, int, str, int]], np.ndarray, np.ndarray]:
    """Parse an official LFW pairs file → (pairs, same (M,) bool, fold (M,) int).

    ``pairs.txt`` starts with ``"10\\t300"`` (10 folds × 300 same + 300 different); the View-1
    files start with one number (``"1100"``, ``"500"``: same pairs then as many different) and
    get 10 folds made of equal shares of both classes.
    Lines are ``name n1 n2`` (same person) or ``name1 n1 name2 n2`` (different people).
    """
    lines = Path(path).read_text().strip().splitlines()
    header = lines[0].split()
    n_folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs, same, fold = [], [], []
    for k, line in enumerate(lines[1:]):
        parts = line.split()
        if len(parts) == 3:
            pairs.append((parts[0], int(parts[1]), parts[0], int(parts[2])))
            same.append(True)
        elif len(parts) == 4:
            pairs.append((parts[0], int(parts[1]), parts[2], int(parts[3])))
            same.append(False)
        else:
            raise ValueError(f"{path}, line {k + 2}: expected 3 or 4 fields, got {line!r}.")
        fold.append(k // (2 * per_fold))
    if len(pairs) != 2 * n_folds * per_fold:
        raise ValueError(f"{path}: header promises {2 * n_folds * per_fold} pairs, found {len(pairs)}.")
    same, fold = np.array(same), np.array(fold)
    if n_folds == 1:
        # The View-1 files list all same pairs, then all different ones: cut each class into 10
        # parts separately, so every fold holds both kinds (50 + 50 for pairsDevTest.txt).
        for cls in (True, False):
            idx = np.flatnonzero(same == cls)
            fold[idx] = np.arange(len(idx)) * 10 // max(len(idx), 1)
    return pairs, same, fold


def load_lfw(root: str | Path | None = None, size: int = IMAGE_SIZE, download_ok: bool = True,
             verbose: bool = True) -> FaceSet:
    """All of LFW as one FaceSet (13,233 images of 5,749 people when complete), cached.

    The first call decodes every JPEG (about half a minute on 2 cores) and caches the
    preprocessed arrays under ``data/cache``; later calls take about a second.
    """
    root = _resolve_lfw(root, download_ok and not offline())
    files = sorted(root.glob("*/*.jpg"))
    if not files:
        raise FileNotFoundError(f"No .jpg files in the LFW folder {root}.")
    rel = [f"{p.parent.name}/{p.name}" for p in files]
    key = cache.cache_key("lfw", _LOADER_VERSION, root, size, imgs.LFW_CROP, len(rel), rel[0], rel[-1])

    def build():
        faces = imgs.load_and_preprocess(files, size=size, crop=imgs.LFW_CROP,
                                         progress="Reading LFW" if verbose else None)
        return {"images": faces, "paths": np.array(rel)}

    arrays = cache.cached(f"lfw_{size}_{key}", build, verbose=verbose)
    paths = [str(p) for p in arrays["paths"]]
    people = [p.split("/")[0] for p in paths]
    names, labels = np.unique(people, return_inverse=True)
    return FaceSet(arrays["images"], labels.astype(np.int32), [str(n) for n in names], "lfw", paths)


def lfw_pairs(faces: FaceSet, root: str | Path | None = None, filename: str = "pairsDevTest.txt") -> Pairs:
    """The official pairs of ``filename`` over the LFW FaceSet ``faces`` (from :func:`load_lfw`)."""
    root = _resolve_lfw(root, download_ok=False)
    pairs, same, fold = read_lfw_pairs(lfw_pairs_file(root, filename))
    index = {p: k for k, p in enumerate(faces.paths)}
    needed = []
    for name1, n1, name2, n2 in pairs:
        needed += [f"{name1}/{name1}_{n1:04d}.jpg", f"{name2}/{name2}_{n2:04d}.jpg"]
    missing = [p for p in needed if p not in index]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images named in {filename} are missing from {root}, "
                                f"e.g. {missing[0]}. Is the LFW folder complete?")
    used = sorted(set(index[p] for p in needed))
    sub = faces.subset(used)
    local = {faces.paths[g]: k for k, g in enumerate(used)}
    ij = np.array([local[p] for p in needed]).reshape(-1, 2)
    return Pairs(sub, ij[:, 0], ij[:, 1], same, fold)


def lfw_view1(root: str | Path | None = None, size: int = IMAGE_SIZE, val_people: int = 150,
              seed: int = 0, download_ok: bool = True, verbose: bool = True) -> Benchmark:
    """LFW View 1: train on everyone *not* in ``pairsDevTest.txt``; test on its 1,000 pairs.

    ``val_people`` of the training people (with ≥ 2 images) are held out for validation pairs
    used during training, so the test pairs are only looked at once at the end.
    """
    faces = load_lfw(root, size=size, download_ok=download_ok, verbose=verbose)
    root = _resolve_lfw(root, download_ok=False)
    test = lfw_pairs(faces, root, "pairsDevTest.txt")
    test_people = set(test.faces.names)
    train_all = faces.subset(~np.isin(faces.labels, [i for i, n in enumerate(faces.names) if n in test_people]))
    multi = np.flatnonzero(train_all.counts() >= 2)
    rng = np.random.default_rng(seed)
    val_ids = rng.choice(multi, size=min(val_people, len(multi) // 5), replace=False)
    in_val = np.isin(train_all.labels, val_ids)
    val = make_pairs(train_all.subset(in_val), n_pairs=1000, seed=seed)
    return Benchmark("lfw", train_all.subset(~in_val), val, test,
                     note="LFW View 1 (train: people not in pairsDevTest.txt; test: its 1,000 pairs)")


# ----------------------------------------------------------------------------- AT&T / Olivetti
def find_att(root: str | Path | None = None) -> Path | None:
    for cand in (root, env_setting("COURSE_ATT_DIR") or None, data_dir() / "att_faces"):
        if cand and (Path(cand).expanduser() / "s1").is_dir():
            return Path(cand).expanduser().resolve()
    return None


def load_att(root: str | Path | None = None, size: int = IMAGE_SIZE, download_ok: bool = True) -> FaceSet:
    """AT&T / ORL faces (40 people × 10): a local ``s1/1.pgm`` folder, else scikit-learn's Olivetti download."""
    folder = find_att(root)
    if folder is not None:
        dirs = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.startswith("s")),
                      key=lambda d: int(d.name[1:]) if d.name[1:].isdigit() else 10**9)
        return load_folder(folder, size=size, people=dirs, source="att")
    if root:
        raise FileNotFoundError(f"No AT&T faces in {root}: expected {root}/s1/1.pgm ... s40/10.pgm.")
    if not download_ok or offline():
        raise FileNotFoundError("AT&T faces not found locally (set COURSE_ATT_DIR or put them in data/att_faces).")
    from course_utils.download import can_reach
    if not can_reach("https://ndownloader.figshare.com"):
        raise DownloadError("No internet connection: cannot download the Olivetti faces.")
    from sklearn.datasets import fetch_olivetti_faces
    bunch = fetch_olivetti_faces(data_home=str(data_dir() / "sklearn"), download_if_missing=True)
    faces = np.stack([imgs.preprocess(im, size=size) for im in bunch.images])
    names = [f"s{k + 1}" for k in range(40)]
    return FaceSet(faces, bunch.target.astype(np.int32), names, "att")


# ----------------------------------------------------------------------------- any folder
SPLIT_FOLDER_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing", "dev"}


def load_folder(path: str | Path, size: int = IMAGE_SIZE, crop=None, min_images: int = 1,
                people: list[Path] | None = None, source: str | None = None, align: bool = False,
                verbose: bool = True) -> FaceSet:
    """A folder with one sub-folder per person: ``path/Alice/any_name.jpg``.

    - Files are recognised as images by their **content** (jpg, png, pgm, gif, bmp, tif, webp,
      ...), so a wrong ending or no ending at all is fine; photos in deeper folders
      (``path/Alice/2023/holiday/x.jpg``) belong to the first-level folder's person.
    - Photos are read upright (EXIF) and 16-bit images are scaled correctly.
    - ``align=False``: each photo is centre-cropped to a square (or cut to ``crop``) and resized.
      ``align=True``: faces are found and aligned (:mod:`course_utils.align`); the largest face of
      each photo is used, photos without a face are skipped.
    - Skipped files (hidden, marked bad or temporary by their name — ``*.bad``, ``*.tmp``, ``*~``
      — not an image, no face) are reported in one warning, grouped by reason, naming every file
      (the first 10 of each reason, then a count); faces kept with a note (small, blurred) are
      listed there too. A file that looks like an image but cannot be read stops with an error
      naming it.
    - People with fewer than ``min_images`` images are left out. The result is cached.
    """
    import warnings

    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"Folder not found: {root}. Check the path (absolute paths are safest).")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; give the folder that holds one sub-folder per person.")
    dirs = people if people is not None else sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    split_dirs = [d for d in dirs if d.name.lower() in SPLIT_FOLDER_NAMES and any(x.is_dir() for x in d.iterdir())]
    if dirs and people is None and len(split_dirs) == len(dirs):
        names = ", ".join(d.name + "/" for d in split_dirs)
        raise ValueError(f"{root} holds {names}: that looks like a dataset already split into parts, each with "
                         f"one sub-folder per person. Load one part: load_faces({str(split_dirs[0])!r}), "
                         "or put all people's folders directly in one folder (the course splits by person itself).")
    skipped: dict[str, list[str]] = {}
    files, owners = [], []
    for d in dirs:
        mine = []
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            rel = f.relative_to(d)
            if any(part.startswith(".") for part in rel.parts):
                skipped.setdefault("hidden file", []).append(str(f))
            elif f.name.lower().endswith(MARKED_BAD):
                # Datasets mark broken files this way (Extended Yale B's *.pgm.bad): content alone
                # would load them as faces.
                skipped.setdefault("file marked bad or temporary by its name", []).append(str(f))
            elif f.suffix.lower() in imgs.IMAGE_SUFFIXES or imgs.is_image_file(f):
                mine.append(f)
            else:
                skipped.setdefault("not an image", []).append(str(f))
        files += mine
        owners += [d.name] * len(mine)
    images, kept = _read_folder_images(root, files, size, crop, align, skipped, verbose)
    owners = [owners[k] for k in kept]
    files = [files[k] for k in kept]
    counts = {o: owners.count(o) for o in owners}
    few = {o for o, c in counts.items() if c < max(min_images, 1)}
    if few:
        skipped.setdefault(f"person with fewer than {min_images} images", []).extend(sorted(few))
        keep = [k for k, o in enumerate(owners) if o not in few]
        images, owners, files = images[keep], [owners[k] for k in keep], [files[k] for k in keep]
    notes = skipped.pop(_KEPT_WITH_A_NOTE, [])
    if skipped or notes:
        warnings.warn(skip_report(f"load_folder({root})", skipped, notes), stacklevel=2)
    if not files:
        loose = [f for f in root.iterdir() if f.is_file() and imgs.is_image_file(f)]
        hint = (f" It holds {len(loose)} images directly; move each person's photos into a sub-folder "
                f"named after them." if loose else "")
        raise ValueError(f"No people with at least {max(min_images, 1)} image(s) found in {root}. Expected "
                         f"{root}/Alice/photo1.jpg, {root}/Bob/photo1.png, ...{hint}")
    names, labels = np.unique(owners, return_inverse=True) if people is None else _ordered(owners)
    return FaceSet(images, labels.astype(np.int32), [str(n) for n in names], source or f"folder:{root.name}",
                   [str(f) for f in files])


MARKED_BAD = (".bad", ".tmp", ".part", ".crdownload", "~")   # name endings of files not to load
_KEPT_WITH_A_NOTE = "kept with a note"
_LIST_AT_MOST = 10


_PLURALS = {"hidden file": "hidden files", "not an image": "files that are not images",
            "file marked bad or temporary by its name": "files marked bad or temporary by their names",
            "photo with no face found": "photos with no face found"}


def _plural(n: int, what: str) -> str:
    """"1 hidden file", "2 hidden files", "3 people with fewer than 2 images"."""
    if n == 1:
        return f"1 {what}"
    if what.startswith("person "):
        return f"{n} people {what[len('person '):]}"
    return f"{n} {_PLURALS.get(what, what)}"


def skip_report(what: str, skipped: dict[str, list[str]], notes: list[str] = ()) -> str:
    """One readable message: per reason a count and the files (the first 10, then how many more);
    then the faces that were kept with a note."""
    total = sum(len(v) for v in skipped.values())
    lines = [f"{what} skipped {total} item{'s' if total != 1 else ''}:"] if skipped else [f"{what}:"]
    for why, items in skipped.items():
        shown = ", ".join(items[:_LIST_AT_MOST])
        more = f", and {len(items) - _LIST_AT_MOST} more" if len(items) > _LIST_AT_MOST else ""
        lines.append(f"  - {_plural(len(items), why)}: {shown}{more}")
    if notes:
        lines.append(f"  {len(notes)} face{'s' if len(notes) != 1 else ''} kept with a note:")
        lines += [f"  - {n}" for n in notes[:_LIST_AT_MOST]]
        if len(notes) > _LIST_AT_MOST:
            lines.append(f"  - and {len(notes) - _LIST_AT_MOST} more")
    return "\n".join(lines)


def _read_folder_images(root: Path, files: list[Path], size: int, crop, align: bool,
                        skipped: dict[str, list[str]], verbose: bool) -> tuple[np.ndarray, list[int]]:
    """Decode (and align) ``files`` → ``(images (M, size, size, 3), kept indices)``, cached by content stamps."""
    if not files:
        return np.zeros((0, size, size, 3), np.uint8), []
    stamps = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    if not align:
        # A broken image file stops here, naming it (nothing is silently dropped).
        key = cache.cache_key("folder", _LOADER_VERSION, size, crop, stamps)
        label = f"Reading {root.name}" if verbose else None
        arrays = cache.cached(f"folder_{size}_{key}", lambda: {"images": imgs.load_and_preprocess(
            files, size=size, crop=crop, progress=label)}, verbose=verbose)
        return arrays["images"], list(range(len(files)))
    from course_utils import align as aligner

    key = cache.cache_key("folder-aligned", _LOADER_VERSION, size, aligner.DEFAULT_MARGIN, stamps)

    def build():
        out, kept, no_face, notes = [], [], [], []
        photos = progress(files, desc=f"Aligning faces in {root.name}", unit="photo", verbose=verbose,
                          min_items=aligner.ALIGN_BAR_MIN)
        for k, f in enumerate(photos):
            result = aligner.align_faces([imgs.read_image(f)], size=size, all_faces=False,
                                         on_no_face="skip", warn=False, verbose=False)
            if len(result):
                out.append(result.faces[0]), kept.append(k)
                # align_faces names an array "photo 1"; the file's path is what the student can find.
                notes += [n.replace(result.names[0], str(f)) for n in result.notes]
            else:
                no_face.append(str(f))
        return {"images": np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8),
                "kept": np.array(kept, np.int64), "no_face": np.array(no_face, dtype=str),
                "notes": np.array(notes, dtype=str)}

    arrays = cache.cached(f"folder_aligned_{size}_{key}", build, verbose=verbose)
    if len(arrays["no_face"]):
        skipped.setdefault("photo with no face found", []).extend(str(x) for x in arrays["no_face"])
    if len(arrays["notes"]):
        skipped.setdefault(_KEPT_WITH_A_NOTE, []).extend(str(x) for x in arrays["notes"])
    return arrays["images"], [int(k) for k in arrays["kept"]]


def _ordered(owners: list[str]) -> tuple[list[str], np.ndarray]:
    names = list(dict.fromkeys(owners))
    lookup = {n: k for k, n in enumerate(names)}
    return names, np.array([lookup[o] for o in owners])


# ----------------------------------------------------------------------------- one entry point
def choose_source(source: str = "auto") -> tuple[str, str]:
    """Decide which dataset ``"auto"`` means here → (source, reason in plain words)."""
    forced = env_setting("COURSE_DATASET")
    if source == "auto" and forced:
        return forced, f"COURSE_DATASET={forced} is set"
    if source != "auto":
        return source, "you asked for it"
    found = find_lfw()
    if found:
        return "lfw", f"a local copy of LFW was found at {found}"
    if offline():
        return "synthetic", "COURSE_OFFLINE=1 is set, so nothing is downloaded"
    from course_utils.download import can_reach
    if can_reach("https://ndownloader.figshare.com"):
        return "lfw", "the machine is online, so LFW is downloaded once (~230 MB) into data/lfw_home"
    return "synthetic", "no local LFW was found and the machine is offline"


def load_faces(source: str = "auto", size: int = IMAGE_SIZE, verbose: bool = True, **kwargs) -> FaceSet:
    """Load a FaceSet from ``source``: ``"auto"``, ``"lfw"``, ``"att"``, ``"synthetic"`` or a folder path.

    A folder path means your own photos: faces are detected and aligned (``align=True``, the
    default; pass ``align=False`` for photos that are already cropped to the face).

    ``"auto"`` prefers LFW and falls back to synthetic faces (see the module docstring); it
    prints which dataset it chose and why. Extra keyword arguments go to the chosen loader.
    """
    chosen, why = choose_source(source)
    if chosen == "lfw":
        try:
            faces = load_lfw(size=size, verbose=verbose, **kwargs)
        except (DownloadError, FileNotFoundError) as err:
            if source != "auto":
                raise
            chosen, why = "synthetic", f"LFW could not be loaded ({err})"
    if chosen == "synthetic":
        faces = load_synthetic(size=size, **kwargs)
    elif chosen == "att":
        faces = load_att(size=size, **kwargs)
    elif chosen != "lfw":
        kwargs.setdefault("align", True)          # own photos: find and align the faces
        faces = load_folder(chosen, size=size, verbose=verbose, **kwargs)
    if verbose:
        print(f"Dataset: {faces.summary()}\n  (chosen because {why})")
    return faces


def load_benchmark(source: str = "auto", size: int = IMAGE_SIZE, seed: int = 0, verbose: bool = True) -> Benchmark:
    """Train people + identity-disjoint validation and test pairs for ``source`` (see :func:`load_faces`).

    - LFW: View 1 (:func:`lfw_view1`), test = the official 1,000 ``pairsDevTest.txt`` pairs.
    - synthetic: train people 0..599 (12 images each), validation people 10,000+ and test
      people 20,000+ (1,000 pairs each) — three disjoint populations.
    - att / a folder: 75 % / 12.5 % / 12.5 % of the people.
    """
    chosen, why = choose_source(source)
    bench = None
    if chosen == "lfw":
        try:
            bench = lfw_view1(size=size, seed=seed, verbose=verbose)
        except (DownloadError, FileNotFoundError) as err:
            if source != "auto":
                raise
            chosen, why = "synthetic", f"LFW could not be loaded ({err})"
    if chosen == "synthetic":
        n_train = 300 if quick_mode() else 600
        train = load_synthetic(n_train, 12, size=size, seed=seed)
        val = make_pairs(load_synthetic(100, 6, size=size, seed=seed, start=10_000), 1000, seed=seed)
        test = make_pairs(load_synthetic(200, 6, size=size, seed=seed, start=20_000), 1000, seed=seed + 1)
        bench = Benchmark("synthetic", train, val, test, note="procedural faces, three disjoint populations")
    elif bench is None:
        faces = load_att(size=size) if chosen == "att" else load_folder(chosen, size=size, align=True, verbose=verbose)
        train, rest = split_by_identity(faces, 0.25, seed=seed)
        val_faces, test_faces = split_by_identity(rest, 0.5, seed=seed)
        bench = Benchmark(faces.source, train, make_pairs(val_faces, 400, seed=seed),
                          make_pairs(test_faces, 400, seed=seed + 1), note="split by identity 75/12.5/12.5 %")
    if verbose:
        print(f"{bench}\n  (chosen because {why})")
    return bench
