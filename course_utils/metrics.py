"""Verification, recognition and clustering metrics.

Course conventions used everywhere in this module:

* embeddings are ``(N, D)`` arrays, one unit-length row per face;
* the distance between two faces is the **squared Euclidean distance** ``‖a − b‖²``
  (between 0 and 4 for unit vectors — *smaller means more alike*);
* a pair is declared "same person" when ``distance <= threshold``.

Vocabulary for verification (a list of M pairs with ``distances`` (M,) and ``same`` (M,)):

* **TAR** (true accept rate, = TPR, recall): fraction of same-person pairs accepted.
* **FAR** (false accept rate, = FPR): fraction of different-person pairs accepted.
* **FRR** (false reject rate, = 1 − TAR): fraction of same-person pairs rejected.

scikit-learn does the work wherever it has the function (``roc_curve``, ``roc_auc_score``,
``normalized_mutual_info_score``, ``adjusted_rand_score``, ``contingency_matrix``).
scikit-learn ranks by *score* (larger = more alike), so we pass ``score = −distance`` and turn
its thresholds back into distances. Everything else is written out by hand, in NumPy.

This module imports only NumPy and scikit-learn (no TensorFlow).

Why one long module: it holds every number the lessons report — verification, one threshold in
detail, identification, clustering scores — on the same conventions and the same input checks,
so a student looks for "how is this score computed?" in one place. Each section is short and
stands alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score, roc_curve
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "as_embeddings", "as_labels", "as_pairs", "require_both_classes",
    "squared_distances", "squared_distance_matrix", "pair_distances",
    "roc", "roc_auc", "equal_error_rate", "tar_at_far", "threshold_for_far",
    "confusion_at", "accuracy_at", "best_threshold", "kfold_accuracy", "verification_report",
    "Calibration", "calibration_pairs", "calibrate_threshold",
    "operating_point", "named_thresholds", "flipping_pairs", "pair_verdicts",
    "rank_k_accuracy", "cmc_curve", "open_set_identification",
    "pairwise_precision_recall_f1", "purity", "clustering_report",
]

_NEGATIVE_TOLERANCE = 1e-6   # squared distances computed as 2 − 2·a·b can be a hair below 0
_CHUNK = 512                 # probes per block when building (probes × gallery) distance blocks


# ----------------------------------------------------------------------------------------------
# Input checks (public: the widgets, clustering and database validate their inputs with these;
# each raises ValueError with a message that says what to do)
# ----------------------------------------------------------------------------------------------

def as_embeddings(x, name: str) -> np.ndarray:
    """``x`` as a float64 ``(N, D)`` array; a single ``(D,)`` vector becomes ``(1, D)``."""
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array of shape (N, D); could not convert it: {err}") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D) (one embedding per row); got shape {x.shape}.")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns; embeddings need at least one dimension.")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
        raise ValueError(f"{name} contains NaN or inf in {bad} row(s); check the encoder output "
                         "(a NaN usually means training diverged — lower the learning rate).")
    return x


def as_labels(labels, name: str, n: int | None = None) -> np.ndarray:
    """``labels`` as a 1-D array (ints or strings), optionally of length ``n``."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array with one label per row; got shape {labels.shape}.")
    if n is not None and len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} embeddings; "
                         "give exactly one label per embedding.")
    return labels


def as_pairs(distances, same) -> tuple[np.ndarray, np.ndarray]:
    """Check a verification set: ``distances`` float64 (M,), ``same`` bool (M,)."""
    try:
        d = np.asarray(distances, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"distances must be a 1-D array of numbers; could not convert it: {err}") from None
    if d.ndim != 1:
        raise ValueError(f"distances must be 1-D with shape (M,) (one distance per pair); got shape {d.shape}. "
                         "If you have embeddings, compute distances first with pair_distances(...).")
    if len(d) == 0:
        raise ValueError("distances is empty; there are no pairs to evaluate.")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"distances contains {int(np.sum(~np.isfinite(d)))} NaN/inf value(s); "
                         "check the embeddings (a NaN usually means training diverged).")
    if d.min() < -_NEGATIVE_TOLERANCE:
        raise ValueError(f"distances must be squared Euclidean distances (>= 0); got a minimum of {d.min():.4g}. "
                         "Did you pass similarities (larger = more alike) instead of distances?")
    s = np.asarray(same)
    if s.ndim != 1:
        raise ValueError(f"same must be 1-D with shape (M,) (True = same person); got shape {s.shape}.")
    if len(s) != len(d):
        raise ValueError(f"distances has {len(d)} entries but same has {len(s)}; give one label per pair.")
    if s.dtype != bool:
        values = np.unique(s)
        if not (s.dtype.kind in "iuf" and np.all(np.isin(values, [0, 1]))):
            raise ValueError(f"same must hold booleans or 0/1 (1 = same person); got values {values[:5].tolist()}.")
        s = s.astype(bool)
    return d, s


def require_both_classes(same: np.ndarray, what: str) -> None:
    """Raise (naming ``what``) unless ``same`` (M,) bool holds both True and False."""
    n_same = int(same.sum())
    if n_same == 0 or n_same == len(same):
        kind = "same-person" if n_same == len(same) else "different-person"
        raise ValueError(f"{what} needs both same-person and different-person pairs, but all {len(same)} "
                         f"pairs are {kind}. Evaluate on a pair list that mixes both (e.g. LFW pairs, "
                         "or datasets.make_pairs).")


def _check_rate(value, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a rate between 0 and 1 (e.g. 1e-2 for 1%); got {value}.")
    return value


def _safe_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, or NaN when the denominator is 0 (the rate is undefined)."""
    return float(numerator) / denominator if denominator > 0 else float("nan")


# ----------------------------------------------------------------------------------------------
# Distances
# ----------------------------------------------------------------------------------------------

def squared_distances(a, b) -> np.ndarray:
    """Row-wise squared Euclidean distances ``‖a_i − b_i‖²``.

    a, b: ``(N, D)`` arrays (a single ``(D,)`` vector is compared with every row of the other).
    Returns: ``(N,)`` float64, in [0, 4] for unit-length embeddings.
    """
    a = as_embeddings(a, "a")
    b = as_embeddings(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} dimensions but b has {b.shape[1]}; both must come from the same encoder.")
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        raise ValueError(f"a has {len(a)} rows but b has {len(b)}; pass the same number of rows "
                         "(row i of a is compared with row i of b).")
    return np.sum((a - b) ** 2, axis=1)


def squared_distance_matrix(a, b=None) -> np.ndarray:
    """All squared Euclidean distances between the rows of ``a`` (N, D) and ``b`` (M, D).

    ``b=None`` means ``b = a``. Returns ``(N, M)`` float64, clipped at 0 (the expansion
    ``‖a‖² + ‖b‖² − 2 a·b`` can give tiny negatives from rounding). With ``b=None`` the
    result is exactly symmetric with a zero diagonal.
    """
    a = as_embeddings(a, "a")
    b_ = a if b is None else as_embeddings(b, "b")
    if a.shape[1] != b_.shape[1]:
        raise ValueError(f"a has {a.shape[1]} dimensions but b has {b_.shape[1]}; both must come from the same encoder.")
    sq = np.sum(a ** 2, axis=1)[:, None] + np.sum(b_ ** 2, axis=1)[None, :] - 2.0 * (a @ b_.T)
    sq = np.maximum(sq, 0.0)
    if b is None:
        sq = (sq + sq.T) / 2.0
        np.fill_diagonal(sq, 0.0)
    return sq


def pair_distances(embeddings, i, j) -> np.ndarray:
    """Squared distances of the pairs ``(embeddings[i[m]], embeddings[j[m]])``.

    embeddings: ``(N, D)``; i, j: ``(M,)`` integer indices into the rows.
    Returns: ``(M,)`` float64.
    """
    emb = as_embeddings(embeddings, "embeddings")
    i = np.asarray(i)
    j = np.asarray(j)
    if i.shape != j.shape or i.ndim != 1:
        raise ValueError(f"i and j must be 1-D index arrays of the same length; got shapes {i.shape} and {j.shape}.")
    for name, idx in (("i", i), ("j", j)):
        if len(idx) and idx.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer row indices; got dtype {idx.dtype}.")
        if len(idx) and (idx.min() < -len(emb) or idx.max() >= len(emb)):
            raise ValueError(f"{name} holds index {idx.max() if idx.max() >= len(emb) else idx.min()}, "
                             f"but embeddings has only {len(emb)} rows.")
    return np.sum((emb[i] - emb[j]) ** 2, axis=1)


# ----------------------------------------------------------------------------------------------
# Verification: is this pair the same person?
# ----------------------------------------------------------------------------------------------

def roc(distances, same, drop_intermediate: bool = True):
    """ROC curve of a verification set.

    distances: ``(M,)`` squared distances; same: ``(M,)`` bool (or 0/1), True = same person.
    Returns ``(fpr, tpr, thresholds)``, each ``(T,)`` float64, thresholds **in distance units**
    and increasing: accepting ``distance <= thresholds[t]`` gives FAR ``fpr[t]`` and TAR ``tpr[t]``.
    ``thresholds[0]`` is ``-inf`` (accept nothing: the curve's (0, 0) corner); the others are
    observed distances. ``drop_intermediate=False`` keeps one point per distinct distance.
    """
    d, s = as_pairs(distances, same)
    require_both_classes(s, "roc")
    fpr, tpr, score_thresholds = roc_curve(s, -d, drop_intermediate=drop_intermediate)
    return fpr, tpr, -score_thresholds


def roc_auc(distances, same) -> float:
    """Area under the ROC curve (1.0 = perfect, 0.5 = chance, < 0.5 = distances upside down)."""
    d, s = as_pairs(distances, same)
    require_both_classes(s, "roc_auc")
    return float(roc_auc_score(s, -d))


def equal_error_rate(distances, same) -> tuple[float, float]:
    """Equal error rate: the point where FAR == FRR.

    FAR rises and FRR falls as the threshold grows; between the two neighbouring ROC points
    where ``FAR − FRR`` changes sign we interpolate linearly (both the rate and the threshold).
    Returns ``(eer, threshold)``: eer in [0, 1], threshold in distance units.
    """
    fpr, tpr, thresholds = roc(distances, same, drop_intermediate=False)
    far, frr = fpr, 1.0 - tpr
    gap = far - frr                       # goes from −1 (accept nothing) up to +1 (accept all)
    i = int(np.argmax(gap >= 0))          # first point where FAR has caught up with FRR (i >= 1)
    if gap[i] == 0:
        return float(far[i]), float(thresholds[i])
    w = -gap[i - 1] / (gap[i] - gap[i - 1])          # where the straight line crosses 0
    eer = far[i - 1] + w * (far[i] - far[i - 1])
    low = thresholds[i - 1] if np.isfinite(thresholds[i - 1]) else thresholds[i]
    threshold = low + w * (thresholds[i] - low)
    return float(eer), float(threshold)


def tar_at_far(distances, same, far: float = 1e-2) -> tuple[float, float]:
    """Largest TAR whose FAR is at most ``far`` (e.g. "TAR = 93% at FAR = 1%").

    Returns ``(tar, threshold)``: the threshold is the largest observed distance that keeps
    FAR <= far. If even the smallest distance belongs to a different-person pair and ``far``
    is below ``1 / n_different``, nothing can be accepted: ``(0.0, -inf)``.
    """
    far = _check_rate(far, "far")
    fpr, tpr, thresholds = roc(distances, same, drop_intermediate=False)
    i = np.flatnonzero(fpr <= far)[-1]    # fpr[0] == 0, so there is always one
    return float(tpr[i]), float(thresholds[i])


def threshold_for_far(distances, same, far: float) -> float:
    """Largest threshold (distance units) whose FAR is at most ``far``; see ``tar_at_far``."""
    return tar_at_far(distances, same, far)[1]


def confusion_at(distances, same, threshold: float) -> dict:
    """Confusion counts and rates when pairs with ``distance <= threshold`` are accepted.

    Returns a dict: ``tp, fp, tn, fn`` (int) and ``far = fp/(fp+tn)``, ``frr = fn/(tp+fn)``,
    ``tar = tp/(tp+fn)``, ``accuracy``, ``precision = tp/(tp+fp)`` (float; NaN when the
    denominator is 0, e.g. precision when nothing is accepted).
    """
    d, s = as_pairs(distances, same)
    threshold = float(threshold)
    if np.isnan(threshold):
        raise ValueError("threshold is NaN; pass a number in distance units (e.g. 1.0).")
    accept = d <= threshold
    tp = int(np.sum(accept & s))
    fp = int(np.sum(accept & ~s))
    tn = int(np.sum(~accept & ~s))
    fn = int(np.sum(~accept & s))
    return {
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "far": _safe_ratio(fp, fp + tn),
        "frr": _safe_ratio(fn, tp + fn),
        "tar": _safe_ratio(tp, tp + fn),
        "accuracy": (tp + tn) / len(d),
        "precision": _safe_ratio(tp, tp + fp),
    }


def accuracy_at(distances, same, threshold: float) -> float:
    """Fraction of pairs classified correctly when ``distance <= threshold`` means "same"."""
    return float(confusion_at(distances, same, threshold)["accuracy"])


def best_threshold(distances, same) -> tuple[float, float]:
    """The threshold with the highest accuracy on these pairs.

    Candidates are the midpoints between consecutive distinct sorted distances, plus one
    threshold below all of them (accept nothing: ``min − 1``) and one above (accept all:
    ``max + 1``). Ties go to the smallest threshold. Returns ``(threshold, accuracy)``.
    """
    d, s = as_pairs(distances, same)
    order = np.argsort(d, kind="stable")
    d_sorted, s_sorted = d[order], s[order]
    n_different = int(np.sum(~s))
    # Accepting the k smallest distances (k = 0 … M): correct = accepted same + rejected different.
    same_accepted = np.concatenate([[0], np.cumsum(s_sorted)])
    different_accepted = np.concatenate([[0], np.cumsum(~s_sorted)])
    correct = same_accepted + (n_different - different_accepted)
    # A cut between positions k−1 and k is only possible where the distance changes.
    low, high = d_sorted[:-1], d_sorted[1:]
    mid = low + (high - low) / 2
    mid = np.where(mid < high, mid, low)          # guard: two adjacent floats have no midpoint
    thresholds = np.concatenate([[d_sorted[0] - 1.0], mid, [d_sorted[-1] + 1.0]])
    possible = np.concatenate([[True], high > low, [True]])
    correct = np.where(possible, correct, -1)
    k = int(np.argmax(correct))
    return float(thresholds[k]), float(correct[k] / len(d))


def _fold_ids(folds, n: int) -> np.ndarray:
    """(n,) fold id per pair: ``folds`` is a count (contiguous blocks) or an id array."""
    if np.ndim(folds) == 0:
        if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)):
            raise ValueError(f"folds must be an int (number of folds) or an array of fold ids; got {folds!r}.")
        k = int(folds)
        if not 2 <= k <= n:
            raise ValueError(f"folds={k} is impossible with {n} pairs; use between 2 and {n} folds (LFW uses 10).")
        sizes = [len(block) for block in np.array_split(np.arange(n), k)]
        return np.repeat(np.arange(k), sizes)
    ids = np.asarray(folds)
    if ids.shape != (n,) or ids.dtype.kind not in "iu":
        raise ValueError(f"folds as an array must hold one integer fold id per pair, shape ({n},); "
                         f"got shape {ids.shape} and dtype {ids.dtype}.")
    if len(np.unique(ids)) < 2:
        raise ValueError("folds holds a single fold id; k-fold evaluation needs at least 2 folds.")
    return ids


def kfold_accuracy(distances, same, folds=10) -> dict:
    """LFW-protocol accuracy: for each fold, pick the best threshold on the *other* folds
    (``best_threshold``) and measure accuracy on this one.

    folds: an int k → k contiguous blocks, in the given order (as in LFW's ``pairs.txt``:
    keep the file's order!), or an ``(M,)`` int array of fold ids.
    Returns a dict: ``mean``, ``std`` (population std over folds, ``ddof=0``, as in the
    common LFW evaluation code), ``thresholds`` (k,), ``accuracies`` (k,), ``fold_ids`` (k,).
    """
    d, s = as_pairs(distances, same)
    ids = _fold_ids(folds, len(d))
    fold_ids = np.unique(ids)
    one_class = [int(f) for f in fold_ids if len(np.unique(s[ids == f])) < 2]
    if one_class:
        raise ValueError(f"Fold(s) {one_class} hold only same-person or only different-person pairs, so a "
                         "threshold cannot be judged on them. Give fold ids that mix both kinds "
                         "(e.g. Pairs.fold), or shuffle the pairs before cutting contiguous folds.")
    thresholds, accuracies = [], []
    for fold in fold_ids:
        test = ids == fold
        threshold, _ = best_threshold(d[~test], s[~test])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(d[test], s[test], threshold))
    accuracies = np.array(accuracies)
    return {
        "mean": float(accuracies.mean()),
        "std": float(accuracies.std()),
        "thresholds": np.array(thresholds),
        "accuracies": accuracies,
        "fold_ids": fold_ids,
    }


def verification_report(distances, same, far: float = 1e-2, folds=10) -> dict:
    """Everything one usually quotes about a verification set, in one dict.

    Keys: ``n_pairs, n_same, n_different, auc, eer, eer_threshold, far, tar_at_far,
    tar_threshold, accuracy_mean, accuracy_std`` (k-fold, see ``kfold_accuracy``),
    ``best_threshold, best_accuracy`` (chosen on all pairs — optimistic; quote the k-fold one).
    """
    d, s = as_pairs(distances, same)
    require_both_classes(s, "verification_report")
    eer, eer_threshold = equal_error_rate(d, s)
    tar, tar_threshold = tar_at_far(d, s, far)
    kfold = kfold_accuracy(d, s, folds)
    threshold, accuracy = best_threshold(d, s)
    return {
        "n_pairs": len(d), "n_same": int(s.sum()), "n_different": int((~s).sum()),
        "auc": roc_auc(d, s),
        "eer": eer, "eer_threshold": eer_threshold,
        "far": float(far), "tar_at_far": tar, "tar_threshold": tar_threshold,
        "accuracy_mean": kfold["mean"], "accuracy_std": kfold["std"],
        "best_threshold": threshold, "best_accuracy": accuracy,
    }


# ----------------------------------------------------------------------------------------------
# A threshold from the enrolled people's own photos
# ----------------------------------------------------------------------------------------------

#: All pairs of more photos than this would need gigabytes; calibrate on a sample of people instead.
MAX_CALIBRATION_PHOTOS = 5_000


@dataclass(frozen=True)
class Calibration:
    """A threshold chosen for a FAR budget on all pairs of a set of labelled photos.

    ``threshold``: squared distance; pairs with ``distance <= threshold`` are accepted as the
    same person (``-inf``: no threshold keeps FAR within the budget, accept nothing; NaN: there
    were not enough pairs to choose one). ``far`` / ``frr``: the rates this threshold gives on
    these pairs (NaN where undefined). ``target_far``: the budget asked for. ``n_genuine`` /
    ``n_impostor``: the same-person / different-person pairs used; ``n_people``: distinct labels;
    ``n_people_with_pairs``: people with 2 or more photos (the only source of same-person pairs).
    ``warning``: ``""`` when the pairs suffice, else in plain words what is missing.
    ``distances`` ``(M,)`` and ``same`` ``(M,)``: the pairs themselves (e.g. for the threshold explorer).
    """
    threshold: float
    far: float
    frr: float
    target_far: float
    n_genuine: int
    n_impostor: int
    n_people: int
    n_people_with_pairs: int
    warning: str = ""
    distances: np.ndarray = field(default=None, repr=False, compare=False)
    same: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        """True when ``threshold`` is a squared distance a database can use (finite and >= 0)."""
        return bool(np.isfinite(self.threshold) and self.threshold >= 0)

    def __str__(self) -> str:
        pairs = (f"{self.n_genuine:,} same-person and {self.n_impostor:,} different-person pairs "
                 f"of {self.n_people} {'person' if self.n_people == 1 else 'people'}")
        if not self.usable:
            text = f"no usable threshold for FAR <= {_percent(self.target_far)} ({pairs})"
        else:
            text = (f"threshold {self.threshold:.3f} for FAR <= {_percent(self.target_far)}: "
                    f"FAR {_percent(self.far)}, FRR {_percent(self.frr)} on {pairs}")
        return text + (f"\nwarning: {self.warning}" if self.warning else "")


def calibration_pairs(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of different rows: ``(distances (M,), same (M,) bool)``, M = N(N−1)/2.

    embeddings: ``(N, D)``; labels: ``(N,)`` person of each row. Pair ``(i, j)``, ``i < j``, in
    ``numpy.triu_indices(N, 1)`` order; distances are squared Euclidean, as in
    :func:`squared_distance_matrix`.
    """
    emb = as_embeddings(embeddings, "embeddings")
    labels = as_labels(labels, "labels", len(emb))
    n = len(emb)
    if n > MAX_CALIBRATION_PHOTOS:
        raise ValueError(f"{n:,} photos make {n * (n - 1) // 2:,} pairs, too many to hold in memory; "
                         f"calibrate on at most {MAX_CALIBRATION_PHOTOS:,} photos (a sample of the people).")
    distances, same = [], []
    for start in range(0, n, _CHUNK):          # row blocks keep memory at CHUNK × N
        block = squared_distance_matrix(emb[start:start + _CHUNK], emb)
        for r in range(len(block)):
            i = start + r
            distances.append(block[r, i + 1:])
            same.append(labels[i + 1:] == labels[i])
    if not distances:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(distances), np.concatenate(same).astype(bool)


def _percent(rate: float) -> str:
    """0.01 → "1%", 1/3200 → "0.0312%": three significant digits, as a student would write it."""
    return f"{rate * 100:.3g}%"


def _calibration_warning(n_people: int, n_with_pairs: int, n_impostor: int, far: float) -> str:
    """What is missing from a calibration set, in plain words ("" when nothing is)."""
    if n_people < 2:
        return (f"Cannot choose a threshold: with {'one person' if n_people else 'no photos'} there are no "
                "different-person pairs, so nothing "
                "tells how often a stranger would be accepted (FAR). Enrol at least 2 people, 2 or more "
                "photos each.")
    notes = []
    if n_with_pairs == 0:
        notes.append("Cannot choose a threshold: nobody has 2 or more photos, so there is no same-person pair "
                     "to tell how often your own people would be turned away (FRR). Enrol at least 2 photos "
                     "each of at least 2 people.")
    elif n_with_pairs == 1:
        notes.append(f"Only 1 of the {n_people} people has 2 or more photos, so every same-person pair shows "
                     "that one person: the FRR says little about the others. Enrol at least 2 photos each of "
                     "at least 2 people.")
    if far == 0:
        notes.append(f"A FAR of exactly 0 cannot be measured: the threshold accepts none of these "
                     f"{n_impostor:,} different-person pairs, and 0 wrong accepts out of {n_impostor:,} still fits "
                     f"a real FAR of up to about 3 in {n_impostor:,} = {_percent(3 / n_impostor)} (the \"rule of "
                     "three\", 95% confidence).")
    elif n_impostor * far < 1:
        smallest = _percent(1 / n_impostor)
        chosen = ("The threshold accepts none of these different-person pairs, and 0 wrong accepts out of "
                  f"{n_impostor:,} still fits a real FAR of up to about {_percent(3 / n_impostor)} (3 in "
                  f"{n_impostor:,}, the \"rule of three\"). " if n_with_pairs else "")
        notes.append(f"There are only {n_impostor:,} different-person pairs: one wrongly accepted pair is "
                     f"already a FAR of {smallest}, more than the {_percent(far)} you asked for, so these photos "
                     f"cannot tell a FAR of {_percent(far)} from 0. {chosen}Enrol more people, or ask for a "
                     f"FAR of at least {smallest}.")
    return " ".join(notes)


def calibrate_threshold(embeddings, labels, far: float = 1e-2) -> Calibration:
    """The threshold for a FAR budget, chosen on all pairs of these labelled photos.

    A threshold chosen on LFW-like validation pairs need not suit other photos (another camera,
    other people); this one is measured on the very people you enrolled. Every unordered pair
    of rows is used (:func:`calibration_pairs`): same label = same-person pair. The threshold is
    :func:`threshold_for_far`'s: the largest observed squared distance whose FAR on these pairs
    is at most ``far`` (``distance <= threshold`` accepts). These are 1:1 photo pairs: a stranger
    compared with a whole database of N people gets N chances, so ask for a smaller ``far``
    when "unknown" answers matter (or use :func:`open_set_identification`).

    embeddings: ``(N, D)``, one row per photo; labels: ``(N,)``, the person of each row;
    far: the budget, a rate in [0, 1] (``0.01`` = 1 %).
    Returns a :class:`Calibration`. Too few photos are not an error: ``warning`` says what is
    missing (threshold NaN when one kind of pair is absent altogether).
    """
    far = _check_rate(far, "far")
    emb = as_embeddings(embeddings, "embeddings")
    labels = as_labels(labels, "labels", len(emb))
    people, counts = np.unique(labels, return_counts=True)
    n_with_pairs = int(np.sum(counts >= 2))
    d, s = calibration_pairs(emb, labels)
    n_genuine, n_impostor = int(s.sum()), int((~s).sum())
    warning = _calibration_warning(len(people), n_with_pairs, n_impostor, far)
    nan = float("nan")
    if n_genuine == 0 or n_impostor == 0:
        return Calibration(nan, nan, nan, far, n_genuine, n_impostor, len(people), n_with_pairs, warning, d, s)
    threshold = threshold_for_far(d, s, far)
    point = confusion_at(d, s, threshold)
    if not np.isfinite(threshold):
        warning = (warning + " " if warning else "") + (
            f"The closest pair of all is two different people (squared distance {d[~s].min():.3f}): no threshold "
            f"keeps FAR <= {_percent(far)}; the threshold is -inf (accept nobody).")
    return Calibration(float(threshold), point["far"], point["frr"], far, n_genuine, n_impostor, len(people),
                       n_with_pairs, warning, d, s)


# ----------------------------------------------------------------------------------------------
# One threshold in detail (what the threshold explorer of lesson 8 shows)
# ----------------------------------------------------------------------------------------------

def operating_point(distances, same, threshold: float) -> dict:
    """Everything about one threshold: counts and rates when ``distance <= threshold`` is accepted.

    Returns a dict with ``threshold``, ``tp, fp, tn, fn`` (int), ``far, frr, tar, accuracy,
    precision`` (float; NaN when undefined, e.g. ``far`` with no different-person pairs) and
    ``n_pairs, n_same, n_different``. The counts and rates come from :func:`confusion_at`.
    """
    point = confusion_at(distances, same, threshold)
    point["threshold"] = float(threshold)
    point["n_same"] = point["tp"] + point["fn"]
    point["n_different"] = point["fp"] + point["tn"]
    point["n_pairs"] = point["n_same"] + point["n_different"]
    return point


def _far_name(far: float) -> str:
    return f"FAR = {far * 100:g}%"


def named_thresholds(distances, same, far: float = 1e-2) -> dict:
    """The thresholds worth a button: ``{"EER": …, "FAR = 1%": …, "best accuracy": …}``.

    * ``"EER"``: where FAR = FRR (``equal_error_rate``, interpolated);
    * ``"FAR = 1%"`` (the key follows ``far``): the largest threshold with FAR <= ``far``
      (``threshold_for_far``; ``-inf`` if no threshold achieves it);
    * ``"best accuracy"``: the most accurate threshold on these pairs (``best_threshold``).

    Needs both same-person and different-person pairs.
    """
    d, s = as_pairs(distances, same)
    require_both_classes(s, "named_thresholds")
    _, eer_threshold = equal_error_rate(d, s)
    return {
        "EER": float(eer_threshold),
        _far_name(far): float(threshold_for_far(d, s, far)),
        "best accuracy": float(best_threshold(d, s)[0]),
    }


def flipping_pairs(distances, same, threshold: float, n: int = 6) -> np.ndarray:
    """The ``n`` pairs nearest to the threshold τ: those whose decision flips if τ moves a little.

    Half (``n // 2``) are the accepted pairs just below or at τ (the largest distances
    ``<= threshold``), the rest the rejected pairs just above it (the smallest distances
    ``> threshold``); if one side runs short, the other side fills in. Returns int64 indices
    sorted by distance (left to right = the order along the distance axis). Use
    :func:`pair_verdicts` to see which are currently wrong.
    """
    d, s = as_pairs(distances, same)
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}.")
    threshold = float(threshold)
    below = np.flatnonzero(d <= threshold)
    above = np.flatnonzero(d > threshold)
    below = below[np.argsort(-d[below], kind="stable")]      # closest to τ first
    above = above[np.argsort(d[above], kind="stable")]
    k_below = min(len(below), n // 2)
    k_above = min(len(above), n - k_below)
    k_below = min(len(below), n - k_above)
    chosen = np.concatenate([below[:k_below], above[:k_above]]).astype(np.int64)
    return chosen[np.argsort(d[chosen], kind="stable")]


def pair_verdicts(distances, same, threshold: float, indices) -> list[dict]:
    """What the threshold decides for each pair in ``indices``.

    Returns one dict per pair: ``index, distance, same`` (the truth), ``accepted``
    (``distance <= threshold``), ``correct`` (``accepted == same``) and ``wrong``.
    """
    d, s = as_pairs(distances, same)
    out = []
    for m in np.asarray(indices, dtype=np.int64).tolist():
        accepted = bool(d[m] <= threshold)
        out.append({"index": int(m), "distance": float(d[m]), "same": bool(s[m]), "accepted": accepted,
                    "correct": accepted == bool(s[m]), "wrong": accepted != bool(s[m])})
    return out


# ----------------------------------------------------------------------------------------------
# Recognition: who is this? (gallery = enrolled faces, probes = faces to recognise)
# ----------------------------------------------------------------------------------------------

def _gallery_and_probes(gallery, gallery_labels, probes, probe_labels):
    g = as_embeddings(gallery, "gallery")
    p = as_embeddings(probes, "probes")
    if g.shape[1] != p.shape[1]:
        raise ValueError(f"gallery has {g.shape[1]} dimensions but probes have {p.shape[1]}; "
                         "embed both with the same encoder.")
    g_labels = as_labels(gallery_labels, "gallery_labels", len(g))
    p_labels = as_labels(probe_labels, "probe_labels", len(p))
    return g, g_labels, p, p_labels


def _identity_distances(gallery, gallery_labels, probes):
    """Distance from each probe to each gallery identity (its *closest* gallery image).

    Returns ``(identities (n_ids,), distances (P, n_ids) float64)``.
    """
    identities, owner = np.unique(gallery_labels, return_inverse=True)
    order = np.argsort(owner, kind="stable")        # gallery rows grouped by identity
    starts = np.searchsorted(owner[order], np.arange(len(identities)))
    sorted_gallery = gallery[order]
    blocks = []
    for start in range(0, len(probes), _CHUNK):     # blocks keep memory at CHUNK × gallery
        block = squared_distance_matrix(probes[start:start + _CHUNK], sorted_gallery)
        blocks.append(np.minimum.reduceat(block, starts, axis=1))
    return identities, np.concatenate(blocks, axis=0)


def _label_positions(identities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Column of each label in ``identities``, or −1 when the label is not in the gallery."""
    column = {label: i for i, label in enumerate(identities.tolist())}
    return np.array([column.get(label, -1) for label in labels.tolist()], dtype=np.int64)


def _true_ranks(distances: np.ndarray, true_columns: np.ndarray) -> np.ndarray:
    """Rank of the true identity for each probe (1 = closest).

    Ties are counted *against* the probe: rank = number of identities at distance <= the
    true identity's distance. (So a collapsed encoder, with every distance equal, scores
    rank = number of identities, not a flattering rank 1.)
    """
    true_distance = distances[np.arange(len(distances)), true_columns]
    return np.sum(distances <= true_distance[:, None], axis=1)


def _closed_set_ranks(gallery, gallery_labels, probes, probe_labels):
    g, g_labels, p, p_labels = _gallery_and_probes(gallery, gallery_labels, probes, probe_labels)
    identities, distances = _identity_distances(g, g_labels, p)
    columns = _label_positions(identities, p_labels)
    missing = columns < 0
    if missing.any():
        examples = np.unique(p_labels[missing])[:5].tolist()
        raise ValueError(f"{int(missing.sum())} probe(s) have labels that are not in the gallery (e.g. {examples}); "
                         "closed-set rank-k needs every probe's identity enrolled. Drop those probes, or use "
                         "open_set_identification for probes of unknown people.")
    return _true_ranks(distances, columns), len(identities)


def rank_k_accuracy(gallery, gallery_labels, probes, probe_labels, k: int = 1) -> float:
    """Closed-set identification: fraction of probes whose identity is among the ``k``
    nearest *distinct identities* of the gallery.

    gallery ``(G, D)`` with gallery_labels ``(G,)``; probes ``(P, D)`` with probe_labels ``(P,)``.
    An identity's distance is that of its closest gallery image (squared Euclidean).
    Ties count against the probe (see ``_true_ranks``). Returns a float in [0, 1].
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int (1 = only the nearest identity counts); got {k!r}.")
    ranks, _ = _closed_set_ranks(gallery, gallery_labels, probes, probe_labels)
    return float(np.mean(ranks <= k))


def cmc_curve(gallery, gallery_labels, probes, probe_labels, max_rank: int = 20):
    """Cumulative match characteristic: rank-k accuracy for k = 1 … max_rank.

    Returns ``(ranks, rates)``: ``ranks`` int ``(R,)`` = 1 … min(max_rank, n_identities),
    ``rates`` float64 ``(R,)`` non-decreasing, ``rates[-1] == 1`` when R = n_identities.
    """
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive int; got {max_rank!r}.")
    true_ranks, n_identities = _closed_set_ranks(gallery, gallery_labels, probes, probe_labels)
    ranks = np.arange(1, min(int(max_rank), n_identities) + 1)
    rates = np.mean(true_ranks[:, None] <= ranks[None, :], axis=0)
    return ranks, rates


def open_set_identification(gallery, gallery_labels, probes, probe_labels, far: float = 1e-2) -> dict:
    """Open-set identification: probes may show people who are not enrolled ("unknown").

    A probe is *accepted* when its nearest identity is at distance <= threshold.

    * false alarm rate: fraction of **unknown** probes accepted (they should all be rejected);
    * DIR (detection and identification rate): fraction of **known** probes whose nearest
      identity is the right one (ties count as wrong) *and* whose distance <= threshold.

    The threshold is the largest observed nearest-identity distance whose false alarm rate
    is <= ``far`` (``-inf`` if no probe can be accepted). Returns a dict with ``threshold``,
    ``dir``, ``false_alarm_rate``, ``far`` (the target), ``rank1`` (closed-set rank-1 accuracy of
    the known probes = the DIR ceiling), ``n_known``, ``n_unknown``, and the curve for plotting:
    ``fars``, ``dirs``, ``thresholds`` (all ``(T,)``, thresholds increasing).
    """
    far = _check_rate(far, "far")
    g, g_labels, p, p_labels = _gallery_and_probes(gallery, gallery_labels, probes, probe_labels)
    identities, distances = _identity_distances(g, g_labels, p)
    columns = _label_positions(identities, p_labels)
    known = columns >= 0
    if known.all() or not known.any():
        what = "unknown" if known.all() else "known"
        raise ValueError(f"open-set identification needs both known probes (label in the gallery) and unknown "
                         f"probes (label not in the gallery); there are no {what} probes. Hold some people out "
                         "of the gallery to play the unknowns.")
    nearest = distances.min(axis=1)                                   # (P,)
    correct = np.zeros(len(p), dtype=bool)
    correct[known] = _true_ranks(distances[known], columns[known]) == 1
    unknown_sorted = np.sort(nearest[~known])
    correct_sorted = np.sort(nearest[correct])
    thresholds = np.concatenate([[-np.inf], np.unique(np.concatenate([unknown_sorted, correct_sorted]))])
    fars = np.searchsorted(unknown_sorted, thresholds, side="right") / len(unknown_sorted)
    dirs = np.searchsorted(correct_sorted, thresholds, side="right") / int(known.sum())
    i = np.flatnonzero(fars <= far)[-1]                               # fars[0] == 0
    return {
        "threshold": float(thresholds[i]),
        "dir": float(dirs[i]),
        "false_alarm_rate": float(fars[i]),
        "far": far,
        "rank1": float(correct[known].mean()),
        "n_known": int(known.sum()),
        "n_unknown": int((~known).sum()),
        "fars": fars, "dirs": dirs, "thresholds": thresholds,
    }


def open_set_rates_at(open_set: dict, threshold: float) -> tuple[float, float]:
    """``(DIR, false-alarm rate)`` of an :func:`open_set_identification` result at ``threshold``
    (e.g. one chosen on *other* people): read off its curve, accepting distances ``<= threshold``."""
    t = float(threshold)
    if np.isnan(t):
        raise ValueError("threshold is NaN: give a squared distance (a number; -inf accepts nobody)")
    i = np.searchsorted(open_set["thresholds"], t, side="right") - 1
    return float(open_set["dirs"][i]), float(open_set["fars"][i])


# ----------------------------------------------------------------------------------------------
# Clustering: did we group the faces by person?
# ----------------------------------------------------------------------------------------------

def _two_labelings(true_labels, cluster_labels):
    true_labels = as_labels(true_labels, "true_labels")
    cluster_labels = as_labels(cluster_labels, "cluster_labels")
    if len(true_labels) != len(cluster_labels):
        raise ValueError(f"true_labels has {len(true_labels)} entries but cluster_labels has {len(cluster_labels)}; "
                         "give one of each per face, in the same order.")
    if len(true_labels) == 0:
        raise ValueError("the label arrays are empty; there is nothing to score.")
    return true_labels, cluster_labels


def _pairs_within(counts) -> int:
    """Number of unordered pairs inside groups of the given sizes: Σ n(n−1)/2."""
    counts = np.asarray(counts, dtype=np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def pairwise_precision_recall_f1(true_labels, cluster_labels) -> tuple[float, float, float]:
    """Pairwise clustering scores over all unordered pairs of faces.

    * precision: of the pairs put in the same cluster, the fraction that are the same person;
    * recall: of the same-person pairs, the fraction put in the same cluster.

    Counted from the contingency table (pairs inside each cell), not by looping over pairs.
    Conventions: precision = 1.0 when no pair shares a cluster (nothing was merged wrongly);
    recall = 1.0 when no two faces share a person; f1 = 0.0 when precision + recall = 0.
    Note: a cluster label of −1 is treated as an ordinary cluster (``cluster_embeddings``
    never returns −1; raw DBSCAN labels do).
    """
    true_labels, cluster_labels = _two_labelings(true_labels, cluster_labels)
    table = contingency_matrix(true_labels, cluster_labels, sparse=True)   # (n_true, n_clusters)
    together_and_same = _pairs_within(table.data)
    together = _pairs_within(np.asarray(table.sum(axis=0)).ravel())        # per cluster
    same = _pairs_within(np.asarray(table.sum(axis=1)).ravel())            # per person
    precision = together_and_same / together if together else 1.0
    recall = together_and_same / same if same else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def purity(true_labels, cluster_labels) -> float:
    """Purity: each cluster votes for its most common person; the fraction of faces that
    agree with their cluster's vote. 1.0 = no cluster mixes people (all-singletons also gets 1.0)."""
    true_labels, cluster_labels = _two_labelings(true_labels, cluster_labels)
    table = contingency_matrix(true_labels, cluster_labels, sparse=True)
    majority = np.asarray(table.max(axis=0).todense()).ravel()            # per cluster
    return float(majority.sum() / len(true_labels))


def clustering_report(true_labels, cluster_labels) -> dict:
    """Clustering scores in one dict: ``precision, recall, f1`` (pairwise), ``nmi``, ``ari``
    (scikit-learn), ``purity``, ``n_clusters``, ``n_true`` (people), ``n_samples``."""
    true_labels, cluster_labels = _two_labelings(true_labels, cluster_labels)
    precision, recall, f1 = pairwise_precision_recall_f1(true_labels, cluster_labels)
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "nmi": float(normalized_mutual_info_score(true_labels, cluster_labels)),
        "ari": float(adjusted_rand_score(true_labels, cluster_labels)),
        "purity": purity(true_labels, cluster_labels),
        "n_clusters": int(len(np.unique(cluster_labels))),
        "n_true": int(len(np.unique(true_labels))),
        "n_samples": int(len(true_labels)),
    }
