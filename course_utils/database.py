"""``FaceDatabase``: the "database of keys" of a face-recognition system.

Enrol a few photos per person, then

* **verify**: "is this Alice?" → accepted if the distance to Alice is ``<= threshold``;
* **identify**: "who is this?" → the closest enrolled person, or ``"unknown"`` if even the
  closest one is farther than the threshold.

Distances are squared Euclidean distances between unit-length embeddings (0 … 4), the same
numbers as in ``metrics``: a threshold tuned there works here. The distance from a face to a
*person* is, with ``reduce="min"``, the distance to that person's closest enrolled embedding,
or with ``reduce="mean"``, the distance to the (re-normalised) mean of their embeddings.

Every embedding — from the encoder or given directly — is stored and compared as a unit
vector (re-normalised; a no-op for the course encoder, which ends with L2 normalisation).

Saving writes two files: ``path.npz`` (embeddings, owners, names and settings — the database
itself) and ``path.json`` (the same settings and names, human-readable), plus ``path.faiss``
when a FAISS index is in use (see "Search index" below). Each file is
written to a temporary file and moved into place with ``os.replace``, so an interrupted save
never leaves a half-written file: ``load`` gives the old database or the new one.

Search index: ``index="auto"`` (default) compares with every key by brute force (NumPy) for
small databases and switches to a FAISS index for large ones — exact (``IndexFlatIP``) from
``index.EXACT_FROM`` keys, approximate (HNSW) from ``index.APPROXIMATE_FROM``; pass
``index="brute" | "exact" | "hnsw"`` to choose. See ``course_utils.index``.

Threshold: ``db.calibrate(far=0.01)`` chooses it from the enrolled people's own photos
(``metrics.calibrate_threshold``), for when a threshold tuned on other photos does not suit them.

TensorFlow is never imported here; the encoder you pass in does the deep-learning part.

Why one long module: the database's state, the file format that saves it and the checks that
load it back (``_validated_people``) must change together — a setting added to ``save`` needs
its check in ``load`` — so they are read side by side.
"""
from __future__ import annotations

import difflib
import json
import math
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_utils.config import atomic_write
from course_utils import index as key_index
from course_utils import metrics

__all__ = ["FaceDatabase", "VerifyResult", "IdentifyResult", "Removal", "UNKNOWN"]

UNKNOWN = "unknown"          # the name identify() returns for a face that matches nobody
# Squared distance (unit vectors, 0 to 4) between where two encoders put the test image above which
# they are taken for different models: room for rounding (another CPU, mixed precision), far below
# the distance between two separately trained or initialised encoders.
ENCODER_TOLERANCE = 0.05
FORMAT_VERSION = 1
#: On load, a stored embedding whose length differs from 1 by more than this is re-normalised with a warning.
UNIT_TOLERANCE = 1e-2
REDUCTIONS = ("min", "mean")


@dataclass
class VerifyResult:
    """Answer to "is this ``name``?": ``accepted`` when ``distance <= threshold``."""
    accepted: bool
    name: str
    distance: float
    threshold: float


@dataclass
class Removal:
    """What ``FaceDatabase.remove`` forgot: ``rows`` embeddings of ``name`` and the saved ``files``
    rewritten without them (or deleted: a ``.faiss`` index no longer needed)."""
    name: str
    rows: int
    files: list = field(default_factory=list)

    def __str__(self) -> str:
        where = ("; saved files rewritten without them: " + ", ".join(f.name for f in self.files)) if self.files else ""
        return f"removed {self.name}: {self.rows} embedding(s) deleted{where}"


@dataclass
class IdentifyResult:
    """Answer to "who is this?".

    ``name``: the closest person, or ``"unknown"`` if their distance > threshold.
    ``distance``: squared distance to the closest person. ``top_k``: ``[(name, distance), …]``
    for the k closest distinct people, closest first (listed even when the answer is "unknown").
    """
    name: str
    distance: float
    top_k: list = field(default_factory=list)
    threshold: float = float("nan")

    @property
    def is_known(self) -> bool:
        return self.name != UNKNOWN


# ----------------------------------------------------------------------------------------------
# Small checks shared by the methods
# ----------------------------------------------------------------------------------------------

def _check_threshold(threshold) -> float:
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number (a squared distance, e.g. 1.0); got {threshold!r}.") from None
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a squared distance >= 0 (0 … 4 for unit embeddings); got {threshold}.")
    return threshold


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string such as 'Alice'; got {name!r}.")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cs")]
    if bad:
        raise ValueError(f"name {name!r} contains the invisible/control character {bad[0]!r} "
                         "(e.g. a NUL byte or a broken surrogate), which cannot be saved reliably; "
                         "type the name again without it.")
    if name != name.strip():
        raise ValueError(f"name {name!r} starts or ends with spaces; use {name.strip()!r}.")
    if name == UNKNOWN:
        raise ValueError(f"{UNKNOWN!r} is reserved: identify() answers {UNKNOWN!r} for faces that match nobody. "
                         "Pick another name.")
    return name


def _normalise(embeddings: np.ndarray, source: str) -> np.ndarray:
    """Check ``(N, D)`` embeddings for NaN/inf/zero rows and scale each row to length 1 (float32)."""
    if not np.all(np.isfinite(embeddings)):
        raise ValueError(f"{source} contains NaN or inf; nothing was changed. If these came from the encoder, "
                         "its weights have probably diverged (retrain with a lower learning rate).")
    norms = np.linalg.norm(embeddings.astype(np.float64), axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{source} contains an all-zero embedding, which has no direction; nothing was changed.")
    return (embeddings / norms).astype(np.float32)


def _unit_squared_distance_matrix(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(Q, D) × (K, D) unit vectors → (Q, K) float64 squared distances, 2 − 2·q·k, clipped to [0, 4].

    The unit-vector form (exact for them: ‖q‖² = ‖k‖² = 1 by construction here); for any vectors
    use ``metrics.squared_distance_matrix``.
    """
    dots = queries.astype(np.float64) @ keys.astype(np.float64).T
    return np.clip(2.0 - 2.0 * dots, 0.0, 4.0)


def _base_path(path) -> Path:
    """``"db"``, ``"db.npz"`` and ``"db.json"`` all mean the pair ``db.npz`` + ``db.json``."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path




class FaceDatabase:
    """Enrolled people and their embeddings; verify and identify faces against them.

    encoder: callable ``images (N, H, W, 3) → embeddings (N, D)`` (a Keras model works: its
    ``predict`` is used). Optional if you only ever pass embeddings.
    threshold: default squared-distance threshold (``distance <= threshold`` accepts).
    reduce: ``"min"`` (nearest enrolled image) or ``"mean"`` (normalised mean embedding).
    index: how identify searches: ``"auto"`` (by size), ``"brute"``, ``"exact"`` or ``"hnsw"``
    (the last two need ``faiss-cpu``); see ``course_utils.index``.
    """

    def __init__(self, encoder=None, threshold: float = 1.0, reduce: str = "min", index: str = "auto"):
        if index not in key_index.KINDS:
            raise ValueError(f"index must be one of {key_index.KINDS}; got {index!r}.")
        self.index = index
        self._search_cache = None                 # (names, owner, KeyIndex), rebuilt after any change
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}; got {reduce!r}.")
        if encoder is not None and not callable(encoder) and not hasattr(encoder, "predict"):
            raise ValueError(f"encoder must be a callable (images → embeddings) such as a Keras model; got {encoder!r}.")
        self.encoder = encoder
        self.threshold = _check_threshold(threshold)
        self.reduce = reduce
        self.dim: int | None = None              # fixed by the first enrolment
        self._people: dict[str, np.ndarray] = {}  # name → (n, D) float32 unit vectors
        #: Where ``save`` last wrote (or ``load`` read) this database, as the base path (no ending);
        #: ``remove`` rewrites the copy there.
        self.saved_to: Path | None = None
        # Which encoder made the rows: where it puts a fixed test image (see _encoder_mark), taken
        # at the first encoding and saved with the database; another encoder is refused.
        self._encoder_mark: dict | None = None
        self._marked_encoder = None              # the encoder object last found to match the mark

    # ---------------------------------------------------------------- small queries
    @property
    def names(self) -> list[str]:
        """Enrolled names, sorted."""
        return sorted(self._people)

    def __len__(self) -> int:
        """Number of enrolled *people* (not images)."""
        return len(self._people)

    def __contains__(self, name) -> bool:
        return name in self._people

    def count(self, name: str) -> int:
        """How many embeddings ``name`` has enrolled (0 if not enrolled)."""
        return len(self._people.get(name, ()))

    def embeddings_of(self, name: str) -> np.ndarray:
        """A copy of ``name``'s enrolled embeddings, ``(n, D)`` float32."""
        self._require_person(name)
        return self._people[name].copy()

    def __repr__(self) -> str:
        n_images = sum(len(e) for e in self._people.values())
        return (f"FaceDatabase({len(self)} people, {n_images} embeddings, dim={self.dim}, "
                f"threshold={self.threshold}, reduce={self.reduce!r})")

    # ---------------------------------------------------------------- turning input into embeddings
    def _check_images(self, images) -> np.ndarray:
        """One image ``(H, W, 3)`` or a batch ``(N, H, W, 3)`` → a batch."""
        images = np.asarray(images)
        if images.ndim == 2:
            raise ValueError(f"got a 2-D array of shape {images.shape}: that looks like one greyscale image. "
                             "The encoder needs colour images (H, W, 3): use np.stack([img] * 3, axis=-1).")
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4:
            raise ValueError(f"images must be one image (H, W, 3) or a batch (N, H, W, 3); got shape {images.shape}.")
        if len(images) == 0:
            raise ValueError("got an empty batch of images (N = 0); pass at least one image.")
        if images.shape[-1] != 3:
            hint = " (greyscale: repeat it with np.repeat(images, 3, axis=-1))" if images.shape[-1] == 1 else ""
            raise ValueError(f"images must have 3 colour channels in the last axis; got shape {images.shape}{hint}.")
        expected = self._encoder_input_shape()
        if expected is not None:
            for want, got in zip(expected[1:], images.shape[1:]):
                if want is not None and want != got:
                    raise ValueError(f"the encoder expects images of shape (N, {expected[1]}, {expected[2]}, "
                                     f"{expected[3]}) but got {images.shape}. Preprocess them first "
                                     "(course_utils.images crops and resizes to the right size).")
        return images

    def _encoder_input_shape(self):
        """The encoder's ``input_shape`` as ``(None, H, W, C)`` if it declares one, else None."""
        try:
            shape = getattr(self.encoder, "input_shape", None)
        except Exception:          # e.g. a Keras model that has not been built yet
            return None
        if isinstance(shape, (tuple, list)) and len(shape) == 4 and all(isinstance(n, (int, type(None))) for n in shape):
            return tuple(shape)
        return None

    def _run_encoder(self, images) -> np.ndarray:
        if hasattr(self.encoder, "predict"):
            output = self.encoder.predict(images, verbose=0)
        else:
            output = self.encoder(images)
        output = np.asarray(output)
        if output.ndim != 2 or len(output) != len(images):
            raise ValueError(f"the encoder returned shape {output.shape} for {len(images)} image(s); "
                             "it must return one embedding per image, shape (N, D).")
        return output

    def _encode(self, images) -> np.ndarray:
        if self.encoder is None:
            raise ValueError("this database has no encoder, so it cannot turn images into embeddings. "
                             "Create it with FaceDatabase(encoder=model) or pass embeddings=... instead.")
        images = self._check_images(images)
        self._check_encoder(images.shape[1:])
        return self._check_embeddings(self._run_encoder(images), "the encoder output")

    # ---------------------------------------------------------------- which encoder made the rows
    @staticmethod
    def _test_image(shape) -> np.ndarray:
        """A fixed image ``(1, H, W, C)`` float32 in [0, 1] (smooth stripes: no random draws, so it
        is the same on every machine and NumPy version)."""
        h, w, c = (int(v) for v in shape)
        y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
        return ((np.sin(0.37 * y + 0.23 * x + 1.7 * k) + 1) / 2).astype(np.float32)[None]

    def _encoder_mark_now(self, shape) -> list:
        """Where the current encoder puts the test image of ``shape``: a unit vector, as a list."""
        out = np.asarray(self._run_encoder(self._test_image(shape)), dtype=np.float64)[0]
        norm = np.linalg.norm(out)
        return (out / norm if norm > 0 else out).tolist()

    def _check_encoder(self, shape) -> None:
        """Take the encoder's mark at the first encoding; afterwards refuse another encoder, before
        it adds or compares a row (one extra image, once per encoder object)."""
        if self.encoder is self._marked_encoder:
            return
        mark = self._encoder_mark
        if not self._people:               # nothing enrolled yet: this encoder makes the rows
            self._encoder_mark = {"shape": [int(v) for v in shape], "embedding": self._encoder_mark_now(shape)}
            self._marked_encoder = self.encoder
            return
        if mark is None:                   # rows given as embeddings (or an older file): no mark to compare
            return
        now = np.asarray(self._encoder_mark_now(mark["shape"]))
        before = np.asarray(mark["embedding"], dtype=np.float64)
        gap = float(np.sum((now - before) ** 2)) if now.shape == before.shape else math.inf
        if gap > ENCODER_TOLERANCE:
            where = f" ({self.saved_to.with_name(self.saved_to.name + '.npz')})" if self.saved_to else ""
            raise ValueError(
                f"this database{where} was enrolled with a different encoder: a fixed test image lands "
                f"{gap:.3g} away (squared distance) from where the enrolling encoder put it, so its "
                "distances mean nothing with this one. Use the encoder that enrolled it "
                "(FaceDatabase.load(path, encoder=that_model)), or enrol the people again with this "
                "encoder in a new FaceDatabase. Nothing was changed.")
        self._marked_encoder = self.encoder

    def _check_embeddings(self, embeddings, source: str = "embeddings") -> np.ndarray:
        """``(D,)`` or ``(N, D)`` → ``(N, D)`` float32 unit vectors matching the database's D."""
        try:
            embeddings = np.asarray(embeddings, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source} must be a numeric array (D,) or (N, D): {err}") from None
        if embeddings.ndim == 1:
            embeddings = embeddings[None]
        if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
            raise ValueError(f"{source} must have shape (D,) or (N, D) with N, D >= 1; got {embeddings.shape}.")
        if self.dim is not None and embeddings.shape[1] != self.dim:
            raise ValueError(f"{source} has dimension {embeddings.shape[1]} but this database holds "
                             f"{self.dim}-dimensional embeddings. Use the same encoder for enrolling and "
                             "querying (or start a new database).")
        return _normalise(embeddings, source)

    def _query_embeddings(self, images, embeddings) -> np.ndarray:
        """Exactly one of images / embeddings → (N, D) unit vectors."""
        if (images is None) == (embeddings is None):
            raise ValueError("pass exactly one of images=... or embeddings=... (not both, not neither).")
        return self._encode(images) if embeddings is None else self._check_embeddings(embeddings)

    # ---------------------------------------------------------------- changing the database
    def enroll(self, name: str, images=None, embeddings=None) -> int:
        """Add photos (or embeddings) of ``name``; returns how many ``name`` now has.

        images: one ``(H, W, 3)`` image or a batch ``(N, H, W, 3)``; embeddings: ``(D,)`` or
        ``(N, D)``. Enrolling a name that already exists *adds* to it. If anything is wrong,
        a ValueError is raised and the database is left exactly as it was.
        """
        name = _check_name(name)
        new = self._query_embeddings(images, embeddings)      # all checks happen before any change
        old = self._people.get(name)
        self._people[name] = new if old is None else np.concatenate([old, new])
        self.dim = new.shape[1]
        self._search_cache = None
        return len(self._people[name])

    def remove(self, name: str) -> "Removal":
        """Forget ``name``: every embedding in memory, the search index's keys, and the saved copy.

        Removing is the one change written to disk at once: someone who asks to be forgotten must
        not stay in a file. If this database was saved (or loaded) at ``saved_to`` and that copy
        holds ``name``, the files there are rewritten without them (``.npz``, ``.json``, and the
        ``.faiss`` index rebuilt or deleted); the saved copy keeps everything else it held, and
        nothing enrolled since the last save is written. The database stores no photos, so no
        other file holds the person. Returns a :class:`Removal` saying what went.
        """
        self._require_person(name)
        rows = len(self._people.pop(name))
        self._search_cache = None                 # the index held their keys: rebuilt on the next search
        if not self._people:
            self.dim = None
        return Removal(name=name, rows=rows, files=self._remove_from_saved_copy(name))

    def _remove_from_saved_copy(self, name: str) -> list[Path]:
        """Rewrite the files at ``saved_to`` without ``name`` → the paths rewritten or deleted."""
        if self.saved_to is None:
            return []
        base = self.saved_to
        files = [base.with_name(base.name + ending) for ending in (".npz", ".json", ".faiss")]
        if not files[0].exists():
            return []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # a stale .json is rewritten just below anyway
            saved = FaceDatabase.load(base)
        if name not in saved._people:
            return []
        del saved._people[name]
        saved._search_cache = None                # the loaded .faiss holds their keys: build it afresh
        if not saved._people:
            saved.dim = None
        existed = [f for f in files if f.exists()]
        saved.save(base)
        return [f for f in files if f in existed or f.exists()]

    def rename(self, old: str, new: str, merge: bool = False) -> None:
        """Rename ``old`` to ``new``. If ``new`` is already enrolled, ``merge=True`` joins the
        two people's embeddings; otherwise a ValueError protects you from mixing them."""
        self._require_person(old)
        new = _check_name(new)
        if new == old:
            return
        if new in self._people and not merge:
            raise ValueError(f"{new!r} is already enrolled; pass merge=True to combine {old!r} into {new!r}, "
                             "or pick another name.")
        self._search_cache = None
        moved = self._people.pop(old)
        self._people[new] = np.concatenate([self._people[new], moved]) if new in self._people else moved

    def _require_person(self, name) -> None:
        if name in self._people:
            return
        if not self._people:
            raise ValueError(f"{name!r} is not enrolled: the database is empty. "
                             "Enrol someone first with db.enroll(name, images).")
        close = difflib.get_close_matches(str(name), self.names, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"{name!r} is not enrolled.{hint} Enrolled names: db.names "
                         f"({len(self)} people).")

    def _require_someone(self) -> None:
        if not self._people:
            raise ValueError("the database is empty: enrol someone first with db.enroll(name, images).")

    # ---------------------------------------------------------------- distances to people
    def _person_keys(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(names, keys (K, D), owner (K,))`` with ``owner[k]`` = index into names.

        reduce="min": every enrolled embedding is a key; reduce="mean": one normalised mean per person.
        """
        names = self.names
        if self.reduce == "mean":
            means = np.stack([self._people[n].astype(np.float64).mean(axis=0) for n in names])
            norms = np.linalg.norm(means, axis=1, keepdims=True)
            keys = means / np.where(norms > 0, norms, 1.0)     # opposite faces can average to 0
            return names, keys, np.arange(len(names))
        keys = np.concatenate([self._people[n] for n in names])
        owner = np.repeat(np.arange(len(names)), [len(self._people[n]) for n in names])
        return names, keys, owner

    def _distances_to_people(self, queries: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(Q, D) queries → ``(names, (Q, n_people) float64)`` squared distances to each person."""
        names, keys, owner = self._person_keys()
        per_key = _unit_squared_distance_matrix(queries, keys)
        starts = np.searchsorted(owner, np.arange(len(names)))   # owner is sorted: people are contiguous
        return names, np.minimum.reduceat(per_key, starts, axis=1)

    # ---------------------------------------------------------------- verify / identify
    def verify(self, image=None, claimed_name: str | None = None, threshold: float | None = None,
               embedding=None) -> VerifyResult:
        """Is this face ``claimed_name``? Accepted when the squared distance <= threshold.

        image: ``(H, W, 3)`` (or pass ``embedding=`` ``(D,)``); threshold: defaults to the database's.
        """
        self._require_someone()
        if claimed_name is None:
            raise ValueError("verify needs claimed_name: db.verify(image, 'Alice').")
        self._require_person(claimed_name)
        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        query = self._query_embeddings(image, embedding)
        if len(query) != 1:
            raise ValueError(f"verify checks one face at a time; got {len(query)}. Loop, or use identify_batch.")
        names, distances = self._distances_to_people(query)
        distance = float(distances[0, names.index(claimed_name)])
        return VerifyResult(accepted=distance <= threshold, name=claimed_name, distance=distance, threshold=threshold)

    def identify(self, image=None, threshold: float | None = None, k: int = 1, embedding=None) -> IdentifyResult:
        """Who is this face? The closest person, or ``"unknown"`` if they are farther than threshold.

        image: ``(H, W, 3)`` (or ``embedding=`` ``(D,)``); k: how many people to list in ``top_k``.
        """
        self._require_someone()
        query = self._query_embeddings(image, embedding)
        if len(query) != 1:
            raise ValueError(f"identify takes one face; got {len(query)}. Use db.identify_batch(...) for several.")
        return self._identify_many(query, threshold, k)[0]

    def identify_batch(self, images=None, embeddings=None, threshold: float | None = None,
                       k: int = 1) -> list[IdentifyResult]:
        """``identify`` for a batch ``(N, H, W, 3)`` (or ``embeddings=`` ``(N, D)``), in one matrix product."""
        self._require_someone()
        return self._identify_many(self._query_embeddings(images, embeddings), threshold, k)

    def _identify_many(self, queries: np.ndarray, threshold, k) -> list[IdentifyResult]:
        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int (how many people to list); got {k!r}.")
        names, people, distances = self._nearest_people(queries, k)
        results = []
        for ranked, row in zip(people, distances):
            top_k = [(names[i], float(d)) for i, d in zip(ranked, row) if i >= 0]
            best_name, best_distance = top_k[0]
            answer = best_name if best_distance <= threshold else UNKNOWN
            results.append(IdentifyResult(name=answer, distance=best_distance, top_k=top_k, threshold=threshold))
        return results

    # ---------------------------------------------------------------- threshold from the enrolled photos
    def calibrate(self, far: float = 1e-2, apply: bool = True, verbose: bool = True) -> "metrics.Calibration":
        """Choose the threshold for a FAR budget on all pairs of the enrolled embeddings.

        Same-person pairs are two rows of one person, different-person pairs rows of two people
        (:func:`metrics.calibrate_threshold`; 1:1 pairs, so a stranger facing all N people has N
        chances: ask for a smaller ``far`` when "unknown" answers matter). far: rate in [0, 1];
        apply: set ``self.threshold`` to the result — only when it is usable (finite, >= 0);
        verbose: print the threshold before → after and any warning. Returns the
        :class:`metrics.Calibration` (``.threshold``, ``.far``, ``.frr``, pair counts, ``.warning``).
        """
        self._require_someone()
        names = self.names
        embeddings = np.concatenate([self._people[n] for n in names])
        owner = np.repeat(np.arange(len(names)), [len(self._people[n]) for n in names])
        result = metrics.calibrate_threshold(embeddings, owner, far)
        before = self.threshold
        if apply and result.usable:
            self.threshold = _check_threshold(result.threshold)
        if verbose:
            if not apply:
                change = f"threshold stays {before:.3f} (apply=False)"
            elif result.usable:
                change = f"threshold {before:.3f} → {self.threshold:.3f}"
            else:
                change = f"threshold stays {before:.3f} (no usable threshold on these photos)"
            print(f"{result}\n{change}")
        return result

    # ---------------------------------------------------------------- search index (course_utils.index)
    def _key_index(self):
        """``(names, owner, KeyIndex)`` for the current keys, built once and kept until a change."""
        if self._search_cache is None:
            names, keys, owner = self._person_keys()
            kind = key_index.resolve_kind(self.index, len(keys))
            self._search_cache = (names, owner, key_index.KeyIndex(keys, kind=kind))
        return self._search_cache

    def _nearest_people(self, queries: np.ndarray, k: int):
        """(Q, D) queries → ``(names, people (Q, k') int, distances (Q, k') float64)``, closest first."""
        if key_index.resolve_kind(self.index, sum(len(e) for e in self._people.values())) == "brute":
            names, distances = self._distances_to_people(queries)
            order = np.argsort(distances, axis=1, kind="stable")[:, :k]    # ties: alphabetical
            return names, order, np.take_along_axis(distances, order, 1)
        names, owner, index = self._key_index()
        people, distances = key_index.nearest_people(index, owner, len(names), queries, k)
        return names, people, distances

    # ---------------------------------------------------------------- save / load
    def _settings(self) -> dict:
        settings = {"version": FORMAT_VERSION, "names": self.names, "threshold": self.threshold,
                    "reduce": self.reduce, "dim": self.dim, "index": self.index,
                    "counts": {name: len(self._people[name]) for name in self.names}}
        if self._encoder_mark is not None and self._people:
            settings["encoder_mark"] = self._encoder_mark
        return settings

    def save(self, path) -> tuple[Path, Path]:
        """Write ``path.npz`` (the database) and ``path.json`` (readable copy of names/settings).

        Returns the two paths. Each file is written to a temporary file first and then moved
        into place, so a crash never leaves a half-written file.
        """
        base = _base_path(path)
        names = self.names
        for name in names:                  # everything is checked before the first byte is written
            _check_name(name)
        base.parent.mkdir(parents=True, exist_ok=True)
        dim = self.dim or 0
        embeddings = np.concatenate([self._people[n] for n in names]) if names else np.zeros((0, dim), np.float32)
        owner = np.repeat(np.arange(len(names), dtype=np.int64), [len(self._people[n]) for n in names])
        settings_text = json.dumps(self._settings(), indent=2, ensure_ascii=False)
        arrays = {
            "embeddings": embeddings.astype(np.float32),
            "owner": owner,
            "names": np.array(names, dtype=str),       # fixed-width unicode: loads without pickle
            "settings": np.array(settings_text),
        }
        npz_path, json_path = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        atomic_write(npz_path, lambda f: np.savez(f, **arrays))      # the commit point
        atomic_write(json_path, lambda f: f.write(settings_text.encode("utf-8")))
        faiss_path = base.with_name(base.name + ".faiss")          # the search index, if one is in use
        if names and key_index.resolve_kind(self.index, len(embeddings)) != "brute":
            self._key_index()[2].save(faiss_path)
        elif faiss_path.exists():
            faiss_path.unlink()                                      # a stale index from an older save
        self.saved_to = base
        return npz_path, json_path

    @classmethod
    def load(cls, path, encoder=None) -> "FaceDatabase":
        """Read a database written by ``save`` (``path``, ``path.npz`` or ``path.json``).

        The ``.npz`` is authoritative; if the ``.json`` next to it disagrees (a save interrupted
        between the two files) you get a warning and the ``.npz`` wins.
        """
        base = _base_path(path)
        npz_path, json_path = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        if not npz_path.exists():
            raise FileNotFoundError(f"no saved database at {npz_path}; create one with db.save({str(base)!r}).")
        try:
            with np.load(npz_path, allow_pickle=False) as data:
                missing = {"embeddings", "owner", "names", "settings"} - set(data.files)
                if missing:
                    raise ValueError(f"{npz_path} is not a FaceDatabase file (missing {sorted(missing)}).")
                embeddings, owner = data["embeddings"], data["owner"]
                names = [str(n) for n in data["names"]]
                settings_text = str(data["settings"])
        except ValueError as err:
            if "FaceDatabase" in str(err):
                raise
            raise ValueError(f"{npz_path} could not be read safely ({err}); it was not changed.") from None
        except (OSError, EOFError, KeyError, __import__("zipfile").BadZipFile) as err:
            raise ValueError(f"{npz_path} is damaged ({type(err).__name__}: {err}); it was not changed. "
                             "Restore it from a backup or enrol again.") from None
        try:
            settings = json.loads(settings_text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{npz_path}: its settings are not valid JSON ({err}).") from None
        if not isinstance(settings, dict) or settings.get("version") != FORMAT_VERSION:
            version = settings.get("version") if isinstance(settings, dict) else None
            raise ValueError(f"{npz_path} has format version {version}; this code reads "
                             f"version {FORMAT_VERSION}.")
        people = _validated_people(npz_path, embeddings, owner, names, settings)
        if json_path.exists() and json_path.read_text(encoding="utf-8", errors="replace") != settings_text:
            warnings.warn(f"{json_path} does not match {npz_path} (an interrupted save?); using {npz_path}. "
                          "Save again to bring them back in step.", stacklevel=2)
        db = cls(encoder=encoder, threshold=settings["threshold"], reduce=settings["reduce"],
                 index=settings.get("index", "auto"))
        db._people = people
        db.dim = int(settings["dim"]) if people else None
        db._encoder_mark = settings.get("encoder_mark") if people else None   # files before it have none
        db._load_index(base.with_name(base.name + ".faiss"))
        db.saved_to = base
        if encoder is not None and db._encoder_mark is not None:
            db._check_encoder(db._encoder_mark["shape"])     # a wrong encoder is named at load time
        return db

    def _load_index(self, faiss_path: Path) -> None:
        """Reuse the saved FAISS index next to the database if it matches; otherwise rebuild later."""
        if not faiss_path.exists() or not self._people or not key_index.faiss_available():
            return
        names, keys, owner = self._person_keys()
        try:
            index = key_index.KeyIndex.load(faiss_path, keys)
        except (ValueError, RuntimeError) as err:
            warnings.warn(f"ignoring the saved search index: {err}", stacklevel=3)
            return
        self._search_cache = (names, owner, index)


def _validated_people(npz_path: Path, embeddings, owner, names: list[str], settings: dict) -> dict:
    """Check a loaded database's arrays against each other → ``{name: (n, D) float32 unit vectors}``.

    Every problem raises a ValueError that says what is wrong; the file itself is never changed.
    """
    where = str(npz_path)
    embeddings, owner = np.asarray(embeddings), np.asarray(owner)
    if embeddings.ndim != 2:
        raise ValueError(f"{where}: embeddings must be a 2-D array (N, D); found shape {embeddings.shape}.")
    if not (np.issubdtype(embeddings.dtype, np.floating) or np.issubdtype(embeddings.dtype, np.integer)):
        raise ValueError(f"{where}: embeddings must be numbers; found dtype {embeddings.dtype}.")
    if owner.ndim != 1 or len(owner) != len(embeddings) or not np.issubdtype(owner.dtype, np.integer):
        raise ValueError(f"{where}: {len(embeddings)} embeddings but {owner.size} owner entries "
                         f"(dtype {owner.dtype}); the file is inconsistent (tampered or truncated).")
    if len(owner) and (owner.min() < 0 or owner.max() >= len(names)):
        raise ValueError(f"{where}: owner ids must be 0 .. {len(names) - 1} (one per name); found "
                         f"{owner.min()} .. {owner.max()}.")
    stored_names = settings.get("names")
    if stored_names != names:
        raise ValueError(f"{where}: the names array {names!r} does not match the names in its settings "
                         f"{stored_names!r} (a name with a NUL character, or a tampered file).")
    for name in names:
        _check_name(name)
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: the same name appears twice in {names!r}.")
    dim = settings.get("dim")
    if len(embeddings) and dim != embeddings.shape[1]:
        raise ValueError(f"{where}: settings say dim={dim} but the embeddings have {embeddings.shape[1]} "
                         "numbers each.")
    _check_threshold(settings.get("threshold"))
    if settings.get("reduce") not in REDUCTIONS:
        raise ValueError(f"{where}: reduce must be one of {REDUCTIONS}; found {settings.get('reduce')!r}.")
    values = embeddings.astype(np.float64)
    bad_rows = ~np.all(np.isfinite(values), axis=1)
    if bad_rows.any():
        who = sorted({names[o] for o in owner[bad_rows]})
        raise ValueError(f"{where}: {int(bad_rows.sum())} embedding(s) of {who} contain NaN or inf, so those "
                         "people could never be matched. Remove them (db.remove) and enrol them again.")
    norms = np.linalg.norm(values, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{where}: an embedding is all zeros (no direction); the file is damaged.")
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.any():
        warnings.warn(f"{where}: {int(off.sum())} embedding(s) were not of unit length (lengths "
                      f"{norms[off].min():.3g} … {norms[off].max():.3g}); they were re-normalised. Save the "
                      "database again to store the corrected vectors.", stacklevel=3)
    unit = (values / norms[:, None]).astype(np.float32)
    return {name: unit[owner == i] for i, name in enumerate(names) if np.any(owner == i)}


@dataclass
class OpenSetSplit:
    """Photo indices of an open-set experiment over one set of faces (all ``(n,) int64``).

    ``gallery``: the first ``per_person`` photos of each enrolled person (what the database holds);
    ``known``: those people's other photos (queries the database should name);
    ``unknown``: every photo of the strangers (queries it should answer "unknown" for);
    ``enrolled`` / ``strangers`` / ``aside``: the people (labels) in each role.
    """
    enrolled: np.ndarray
    strangers: np.ndarray
    aside: np.ndarray
    gallery: np.ndarray
    known: np.ndarray
    unknown: np.ndarray


def open_set_split(labels, n_enrolled: int, per_person: int = 2, aside: int = 0,
                   rng: np.random.Generator | int = 0) -> OpenSetSplit:
    """Split people into enrolled, strangers and ``aside`` (kept out of both) for open-set tests.

    Enrolled people are drawn from those with more than ``per_person`` photos (so each has a
    query left); at most two thirds of them are enrolled, so strangers remain. ``rng`` is a seed
    or a NumPy generator (consumed: pass the same generator on to draw later queries).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of person ids, got shape {labels.shape}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    people = np.unique(labels)
    photos_of = {p: np.flatnonzero(labels == p) for p in people}
    candidates = np.array([p for p in people if len(photos_of[p]) > per_person], dtype=np.int64)
    rng.shuffle(candidates)
    n = min(int(n_enrolled), len(candidates) * 2 // 3)
    if n < 1 or len(candidates) < n + aside:
        raise ValueError(f"only {len(candidates)} people have more than {per_person} photos: too few to enrol "
                         f"{n_enrolled} (and keep {aside} aside); use fewer photos per person or more people")
    enrolled, kept = np.sort(candidates[:n]), candidates[n:n + aside]
    strangers = np.setdiff1d(people, np.concatenate([enrolled, kept]))
    pick = lambda group, part: np.concatenate([part(photos_of[p]) for p in group]) if len(group) else np.zeros(0, np.int64)
    return OpenSetSplit(enrolled, strangers, kept,
                        gallery=pick(enrolled, lambda ph: ph[:per_person]),
                        known=pick(enrolled, lambda ph: ph[per_person:]),
                        unknown=pick(strangers, lambda ph: ph))
