"""Tests for course_utils.metrics, each against an independent reference:
scikit-learn called directly, brute-force loops, or a hand-worked example."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score, roc_curve

from course_utils import metrics as M


# ---------------------------------------------------------------------------------------------
# Data and brute-force references
# ---------------------------------------------------------------------------------------------

def make_pairs(n=300, seed=0, ties=False):
    """Overlapping same/different distance distributions in [0, 4]."""
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    d = np.where(same, rng.normal(0.8, 0.35, n), rng.normal(1.6, 0.4, n))
    d = np.clip(d, 0.0, 4.0)
    if ties:
        d = np.round(d, 1)        # many exactly-equal distances, some across the two classes
    return d, same


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def loop_rates(d, same, t):
    """(FAR, TAR) at threshold t, counted pair by pair."""
    tp = fp = n_same = n_diff = 0
    for dist, s in zip(d, same):
        if s:
            n_same += 1
            tp += dist <= t
        else:
            n_diff += 1
            fp += dist <= t
    return fp / n_diff, tp / n_same


def loop_accuracy(d, same, t):
    return sum((dist <= t) == s for dist, s in zip(d, same)) / len(d)


def candidate_thresholds(d):
    """Every distinct behaviour of "distance <= t": accept nothing, or accept up to each distance."""
    return [-np.inf] + sorted(set(d.tolist()))


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------

def test_squared_and_pair_distances_match_loops():
    rng = np.random.default_rng(1)
    emb = unit_rows(rng.normal(size=(12, 5)))
    i, j = rng.integers(0, 12, 20), rng.integers(0, 12, 20)
    expected = [sum((emb[a, k] - emb[b, k]) ** 2 for k in range(5)) for a, b in zip(i, j)]
    np.testing.assert_allclose(M.pair_distances(emb, i, j), expected, atol=1e-12)
    np.testing.assert_allclose(M.squared_distances(emb[i], emb[j]), expected, atol=1e-12)
    full = M.squared_distance_matrix(emb)
    np.testing.assert_allclose(full[i, j], expected, atol=1e-12)
    assert np.all(np.diag(full) == 0) and np.array_equal(full, full.T)
    assert np.all(M.squared_distances(emb, emb[::-1]) <= 4 + 1e-12)


def test_distance_errors():
    emb = np.ones((3, 4))
    with pytest.raises(ValueError, match="rows"):
        M.squared_distances(emb, np.ones((2, 4)))
    with pytest.raises(ValueError, match="dimensions"):
        M.squared_distances(emb, np.ones((3, 5)))
    with pytest.raises(ValueError, match="only 3 rows"):
        M.pair_distances(emb, [0, 3], [1, 2])
    with pytest.raises(ValueError, match="integer"):
        M.pair_distances(emb, [0.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        M.squared_distances([[np.nan, 0]], [[0, 0]])


# ---------------------------------------------------------------------------------------------
# ROC, AUC, EER, TAR@FAR
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ties", [False, True])
def test_roc_matches_sklearn_and_brute_force(ties):
    d, same = make_pairs(ties=ties)
    fpr, tpr, thr = M.roc(d, same)
    sk_fpr, sk_tpr, sk_thr = roc_curve(same, -d)
    np.testing.assert_array_equal(fpr, sk_fpr)
    np.testing.assert_array_equal(tpr, sk_tpr)
    np.testing.assert_array_equal(thr, -sk_thr)
    assert thr[0] == -np.inf and np.all(np.diff(thr) > 0) and np.all(thr[1:] >= 0)
    for f, t, threshold in zip(fpr, tpr, thr):
        assert (f, t) == pytest.approx(loop_rates(d, same, threshold))
    # Full curve: one point per distinct distance, each matching the loop count.
    fpr, tpr, thr = M.roc(d, same, drop_intermediate=False)
    np.testing.assert_array_equal(thr, candidate_thresholds(d))
    for f, t, threshold in zip(fpr, tpr, thr):
        assert (f, t) == pytest.approx(loop_rates(d, same, threshold))


def test_auc_matches_sklearn_and_pair_counting():
    d, same = make_pairs(n=120, ties=True)
    assert M.roc_auc(d, same) == pytest.approx(roc_auc_score(same, -d))
    # AUC = P(a same pair is closer than a different pair), ties counting one half.
    pos, neg = d[same], d[~same]
    wins = sum((p < q) + 0.5 * (p == q) for p in pos for q in neg)
    assert M.roc_auc(d, same) == pytest.approx(wins / (len(pos) * len(neg)))
    assert M.roc_auc([0.1, 0.2, 3.0, 3.5], [1, 1, 0, 0]) == 1.0
    assert M.roc_auc([0.1, 0.2, 3.0, 3.5], [0, 0, 1, 1]) == 0.0      # upside-down distances


def test_eer_hand_worked_examples():
    # FAR == FRR exactly at 0.3: accept {0.1, 0.2, 0.3} → FRR = 1/3 (0.4 rejected), FAR = 1/3 (0.3).
    eer, t = M.equal_error_rate([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, 1, 0, 1, 0, 0])
    assert (eer, t) == pytest.approx((1 / 3, 0.3))
    # Crossing between two points: at 0.2 FAR=1/3, FRR=1/2; at 0.3 FAR=1/3, FRR=0.
    # FAR−FRR goes −1/6 → +1/3, zero a third of the way: EER = 1/3, threshold = 0.2 + 0.1/3.
    eer, t = M.equal_error_rate([0.1, 0.2, 0.3, 0.4, 0.5], [1, 0, 1, 0, 0])
    assert (eer, t) == pytest.approx((1 / 3, 0.2 + 0.1 / 3))
    assert M.equal_error_rate([0.1, 0.2, 3.0, 3.1], [1, 1, 0, 0])[0] == 0.0


def brute_eer(d, same):
    """Walk the thresholds with loops; interpolate linearly where FAR − FRR changes sign."""
    points = [(t, *loop_rates(d, same, t)) for t in candidate_thresholds(d)]
    for (t0, far0, tar0), (t1, far1, tar1) in zip(points, points[1:]):
        gap0, gap1 = far0 - (1 - tar0), far1 - (1 - tar1)
        if gap1 >= -1e-12:
            if abs(gap1) <= 1e-12:
                return far1, t1
            w = -gap0 / (gap1 - gap0)
            t0 = t0 if np.isfinite(t0) else t1
            return far0 + w * (far1 - far0), t0 + w * (t1 - t0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eer_matches_brute_force(seed):
    d, same = make_pairs(n=150, seed=seed, ties=seed == 2)
    eer, t = M.equal_error_rate(d, same)
    assert (eer, t) == pytest.approx(brute_eer(d, same))
    # The EER lies between FAR and FRR measured at the threshold it reports.
    far_t, tar_t = loop_rates(d, same, t)
    assert min(far_t, 1 - tar_t) - 1e-12 <= eer <= max(far_t, 1 - tar_t) + 1e-12
    assert 0 < eer < 0.5


@pytest.mark.parametrize("far", [0.0, 0.01, 0.05, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("ties", [False, True])
def test_tar_at_far_matches_brute_force(far, ties):
    d, same = make_pairs(ties=ties)
    rates = {t: loop_rates(d, same, t) for t in candidate_thresholds(d)}
    allowed = [t for t, (f, _) in rates.items() if f <= far]
    best_tar = max(rates[t][1] for t in allowed)
    tar, threshold = M.tar_at_far(d, same, far)
    assert tar == pytest.approx(best_tar)
    assert threshold == max(allowed)                     # the largest threshold that keeps FAR <= far
    assert M.threshold_for_far(d, same, far) == threshold
    assert rates[threshold][0] <= far


def test_tar_at_far_when_nothing_can_be_accepted():
    # The closest pair is a different-person pair: FAR = 0 means accept nothing.
    tar, t = M.tar_at_far([0.1, 0.5, 0.6, 1.0], [0, 1, 1, 0], far=0.0)
    assert (tar, t) == (0.0, -np.inf)
    assert M.tar_at_far([0.1, 0.5, 0.6, 1.0], [0, 1, 1, 0], far=0.5) == (1.0, 0.6)


# ---------------------------------------------------------------------------------------------
# Confusion counts, accuracy, thresholds, k-fold
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [-1.0, 0.5, 1.0, 1.2, 5.0])
def test_confusion_matches_loops(threshold):
    d, same = make_pairs(ties=True)
    tp = fp = tn = fn = 0
    for dist, s in zip(d, same):
        accept = dist <= threshold
        tp += accept and s
        fp += accept and not s
        tn += not accept and not s
        fn += not accept and s
    c = M.confusion_at(d, same, threshold)
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (tp, fp, tn, fn)
    assert all(type(c[k]) is int for k in ("tp", "fp", "tn", "fn"))
    assert c["far"] == pytest.approx(fp / (fp + tn))
    assert c["frr"] == pytest.approx(fn / (tp + fn))
    assert c["tar"] == pytest.approx(1 - c["frr"])
    assert c["accuracy"] == pytest.approx((tp + tn) / len(d)) == M.accuracy_at(d, same, threshold)
    if tp + fp:
        assert c["precision"] == pytest.approx(tp / (tp + fp))
    else:
        assert np.isnan(c["precision"])          # nothing accepted: precision undefined


def test_confusion_boundary_is_inclusive():
    c = M.confusion_at([1.0, 1.0], [1, 0], threshold=1.0)
    assert (c["tp"], c["fp"]) == (1, 1)


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_best_threshold_matches_exhaustive_search(seed, ties):
    d, same = make_pairs(n=200, seed=seed, ties=ties)
    best_possible = max(loop_accuracy(d, same, t) for t in candidate_thresholds(d))
    threshold, accuracy = M.best_threshold(d, same)
    assert accuracy == pytest.approx(best_possible)
    assert loop_accuracy(d, same, threshold) == pytest.approx(accuracy)
    # A fine grid can never beat it.
    assert max(loop_accuracy(d, same, t) for t in np.linspace(-0.1, 4.1, 421)) <= accuracy + 1e-12
    # The threshold is a midpoint strictly between two observed distances (or beyond the ends).
    assert threshold not in set(d.tolist())


def test_best_threshold_extremes_and_adjacent_floats():
    assert M.best_threshold([0.5, 0.6, 0.7], [0, 0, 0]) == (pytest.approx(-0.5), 1.0)   # accept nothing
    assert M.best_threshold([0.5, 0.6, 0.7], [1, 1, 1]) == (pytest.approx(1.7), 1.0)    # accept all
    a = np.nextafter(1.0, 2.0)
    b = np.nextafter(a, 2.0)                        # no float lies strictly between a and b
    assert a + (b - a) / 2 == b                     # (the naive midpoint rounds up onto b here)
    t, acc = M.best_threshold([a, b], [1, 0])
    assert acc == 1.0 and M.accuracy_at([a, b], [1, 0], t) == 1.0


def reference_kfold(d, same, fold_ids):
    """Naive LFW protocol: loops everywhere, same candidate rule (midpoints, ends ±1, first best)."""
    thresholds, accuracies = [], []
    for fold in sorted(set(fold_ids.tolist())):
        train = [k for k in range(len(d)) if fold_ids[k] != fold]
        test = [k for k in range(len(d)) if fold_ids[k] == fold]
        values = sorted(set(d[train].tolist()))
        candidates = [values[0] - 1.0] + [(x + y) / 2 for x, y in zip(values, values[1:])] + [values[-1] + 1.0]
        best_t, best_acc = None, -1.0
        for t in candidates:
            acc = loop_accuracy(d[train], same[train], t)
            if acc > best_acc:
                best_t, best_acc = t, acc
        thresholds.append(best_t)
        accuracies.append(loop_accuracy(d[test], same[test], best_t))
    return np.array(thresholds), np.array(accuracies)


def test_kfold_matches_loop_reference():
    d, same = make_pairs(n=60, seed=3, ties=True)
    contiguous = np.repeat(np.arange(4), 15)
    result = M.kfold_accuracy(d, same, folds=4)
    ref_t, ref_acc = reference_kfold(d, same, contiguous)
    np.testing.assert_allclose(result["thresholds"], ref_t)
    np.testing.assert_allclose(result["accuracies"], ref_acc)
    assert result["mean"] == pytest.approx(ref_acc.mean())
    assert result["std"] == pytest.approx(ref_acc.std())
    # Passing the same folds as an id array gives the same answer; shuffled ids work too.
    assert M.kfold_accuracy(d, same, folds=contiguous)["mean"] == pytest.approx(result["mean"])
    shuffled = np.random.default_rng(0).permutation(contiguous)
    ref_t, ref_acc = reference_kfold(d, same, shuffled)
    np.testing.assert_allclose(M.kfold_accuracy(d, same, shuffled)["accuracies"], ref_acc)


def test_kfold_uneven_contiguous_folds_and_separable_case():
    d = np.r_[np.linspace(0.1, 0.9, 15), np.linspace(2.0, 3.0, 15)]
    same = np.r_[np.ones(15, bool), np.zeros(15, bool)]
    order = np.random.default_rng(0).permutation(30)
    result = M.kfold_accuracy(d[order], same[order], folds=7)        # 30 pairs → folds of 5,5,4,4,4,4,4
    assert len(result["accuracies"]) == 7
    assert result["mean"] == 1.0 and result["std"] == 0.0
    assert np.all((result["thresholds"] > 0.9) & (result["thresholds"] < 2.0))


def test_verification_report_agrees_with_parts():
    d, same = make_pairs()
    report = M.verification_report(d, same, far=0.05, folds=5)
    assert report["auc"] == pytest.approx(roc_auc_score(same, -d))
    assert (report["eer"], report["eer_threshold"]) == pytest.approx(M.equal_error_rate(d, same))
    assert (report["tar_at_far"], report["tar_threshold"]) == M.tar_at_far(d, same, 0.05)
    assert report["accuracy_mean"] == pytest.approx(M.kfold_accuracy(d, same, 5)["mean"])
    assert (report["best_threshold"], report["best_accuracy"]) == M.best_threshold(d, same)
    assert (report["n_pairs"], report["n_same"]) == (len(d), int(same.sum()))


def test_verification_input_errors():
    with pytest.raises(ValueError, match="both same-person and different-person"):
        M.roc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="both same-person and different-person"):
        M.roc_auc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="both"):
        M.equal_error_rate([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="3 entries but same has 2"):
        M.roc([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match="NaN"):
        M.accuracy_at([0.1, np.nan], [1, 0], 1.0)
    with pytest.raises(ValueError, match="1-D"):
        M.roc(np.zeros((2, 2)), [1, 0])
    with pytest.raises(ValueError, match="0/1"):
        M.roc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="similarities"):
        M.roc([0.9, -0.3], [1, 0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        M.tar_at_far([0.1, 0.2], [1, 0], far=5)
    with pytest.raises(ValueError, match="empty"):
        M.best_threshold([], [])
    with pytest.raises(ValueError, match="folds=5 is impossible"):
        M.kfold_accuracy([0.1, 0.2, 0.3], [1, 0, 1], folds=5)
    with pytest.raises(ValueError, match="fold id per pair"):
        M.kfold_accuracy([0.1, 0.2, 0.3], [1, 0, 1], folds=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        M.confusion_at([0.1], [1], np.nan)


# ---------------------------------------------------------------------------------------------
# Calibrating a threshold on labelled photos (all pairs)
# ---------------------------------------------------------------------------------------------

def loop_pairs(emb, labels):
    """Every unordered pair i < j, distance summed coordinate by coordinate, in triu order."""
    d, same = [], []
    for i in range(len(emb)):
        for j in range(i + 1, len(emb)):
            d.append(sum((emb[i, k] - emb[j, k]) ** 2 for k in range(emb.shape[1])))
            same.append(labels[i] == labels[j])
    return np.array(d), np.array(same)


def labelled_photos(n_people=9, per_person=4, dim=6, seed=0, ties=False):
    """Photos scattered round one centre per person; ``ties``: small integers, so many pairs
    share a distance exactly (in any summation order), across both classes."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_people), per_person)
    if ties:
        centres = rng.integers(0, 4, size=(n_people, dim))
        return (centres[labels] + rng.integers(-1, 2, size=(len(labels), dim))).astype(float), labels
    centres = rng.normal(size=(n_people, dim))
    return unit_rows(centres[labels] + 0.6 * rng.normal(size=(len(labels), dim))), labels


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("far", [0.0, 0.01, 0.05, 0.3])
def test_calibrate_threshold_matches_loops_over_pairs(far, ties):
    emb, labels = labelled_photos(ties=ties)
    d, same = loop_pairs(emb, labels)
    got_d, got_same = M.calibration_pairs(emb, labels)
    np.testing.assert_allclose(got_d, d, atol=1e-12)
    np.testing.assert_array_equal(got_same, same)
    rates = {t: loop_rates(d, same, t) for t in candidate_thresholds(d)}
    allowed = [t for t, (f, _) in rates.items() if f <= far]
    expected = max(allowed)                              # the largest threshold that keeps FAR <= far
    cal = M.calibrate_threshold(emb, labels, far)
    assert cal.threshold == pytest.approx(expected, abs=1e-9)
    assert (cal.far, 1 - cal.frr) == pytest.approx(rates[expected])
    assert (cal.n_genuine, cal.n_impostor) == (int(same.sum()), int((~same).sum()))
    assert (cal.n_genuine, cal.n_people, cal.n_people_with_pairs) == (9 * 6, 9, 9)   # 9 people × C(4, 2)
    assert cal.target_far == far and cal.usable == bool(np.isfinite(expected))
    if ties:                                             # the data really ties pairs of both classes
        assert len(set(d[same].tolist()) & set(d[~same].tolist())) > 3


def test_calibrate_threshold_with_a_tie_across_the_classes():
    # Photos on a line, people 0 0 1 1 2: 2 same-person pairs, 8 different-person pairs.
    # d = 1: (0,1) same and (1,2) different; d = 4: (0,2) different and (2,3) same.
    emb = np.array([[0.0], [1.0], [2.0], [4.0], [7.0]])
    labels = [0, 0, 1, 1, 2]
    d, same = loop_pairs(emb, labels)
    assert sorted(same[d == 1.0].tolist()) == sorted(same[d == 4.0].tolist()) == [False, True]
    # Accepting d <= 1 takes the tied impostor too (FAR 1/8): a 10 % budget accepts nothing.
    assert M.calibrate_threshold(emb, labels, far=0.1).threshold == -np.inf
    cal = M.calibrate_threshold(emb, labels, far=0.125)
    assert (cal.threshold, cal.far, cal.frr) == (1.0, 0.125, 0.5)
    cal = M.calibrate_threshold(emb, labels, far=0.3)               # d <= 9 would be 4/8 = 50 %
    assert (cal.threshold, cal.far, cal.frr) == (4.0, 0.25, 0.0)


def test_calibrate_threshold_agrees_with_sklearn_roc_curve():
    emb, labels = labelled_photos(n_people=30, per_person=3, seed=3)
    d, same = loop_pairs(emb, labels)
    fpr, tpr, scores = roc_curve(same, -d, drop_intermediate=False)
    for far in (0.001, 0.01, 0.1):
        k = np.flatnonzero(fpr <= far)[-1]
        cal = M.calibrate_threshold(emb, labels, far)
        assert cal.threshold == pytest.approx(-scores[k], abs=1e-9)
        assert cal.frr == pytest.approx(1 - tpr[k]) and cal.far == pytest.approx(fpr[k])
        assert cal.warning == ""                          # 3,915 different-person pairs resolve 0.1 %


def test_calibrate_threshold_warns_when_too_few_pairs():
    emb, labels = labelled_photos(n_people=4, per_person=3)          # 4 · 3 · 9 / 2 = 54 impostor pairs
    cal = M.calibrate_threshold(emb, labels, 0.01)
    assert cal.n_impostor == 54 and cal.usable and cal.far == 0.0
    assert "only 54 different-person pairs" in cal.warning and "1.85%" in cal.warning   # 1/54, in words
    assert M.calibrate_threshold(emb, labels, 0.02).warning == ""                      # 54 · 2 % >= 1
    assert "exactly 0" in M.calibrate_threshold(emb, labels, 0.0).warning

    one_with_pairs = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])                    # only person 0 has 2 photos
    cal = M.calibrate_threshold(emb, one_with_pairs, 0.5)
    assert cal.usable and cal.n_genuine == 1 and cal.n_people_with_pairs == 1
    assert cal.warning.startswith("Only 1 of the 11 people has 2 or more photos")

    cal = M.calibrate_threshold(emb, np.arange(12), 0.5)                                # nobody has 2 photos
    assert np.isnan(cal.threshold) and not cal.usable and cal.n_genuine == 0
    assert "no same-person pair" in cal.warning and "no usable threshold" in str(cal)

    cal = M.calibrate_threshold(emb, np.zeros(12, int), 0.5)                            # one person
    assert np.isnan(cal.threshold) and cal.n_impostor == 0 and "one person" in cal.warning


def test_calibrate_threshold_when_no_threshold_keeps_the_far():
    # The two closest photos belong to different people: FAR 1 % allows no accepted pair.
    emb = np.array([[0.0, 0.0], [0.0, 0.1], [3.0, 0.0], [3.0, 0.5]])
    cal = M.calibrate_threshold(emb, [0, 1, 0, 1], far=0.01)
    assert cal.threshold == -np.inf and not cal.usable and (cal.far, cal.frr) == (0.0, 1.0)
    assert "closest pair of all is two different people" in cal.warning


def test_calibrate_threshold_input_errors(monkeypatch):
    emb, labels = labelled_photos()
    with pytest.raises(ValueError, match="rate between 0 and 1"):
        M.calibrate_threshold(emb, labels, far=1.5)
    with pytest.raises(ValueError, match="one label per embedding"):
        M.calibrate_threshold(emb, labels[:-1])
    with pytest.raises(ValueError, match="NaN"):
        M.calibrate_threshold(np.where(np.eye(len(emb), emb.shape[1]) > 0, np.nan, emb), labels)
    monkeypatch.setattr(M, "MAX_CALIBRATION_PHOTOS", 10)
    with pytest.raises(ValueError, match="at most 10 photos"):
        M.calibrate_threshold(emb, labels)


# ---------------------------------------------------------------------------------------------
# Identification: rank-k, CMC, open set
# ---------------------------------------------------------------------------------------------

def make_gallery(seed=0, n_ids=8, per_id=3, n_probes=40, noise=0.6, dim=6):
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(n_ids, dim)))
    gallery_labels = np.repeat(np.arange(n_ids), per_id)
    gallery = unit_rows(centres[gallery_labels] + noise * rng.normal(size=(len(gallery_labels), dim)))
    probe_labels = rng.integers(0, n_ids, n_probes)
    probes = unit_rows(centres[probe_labels] + noise * rng.normal(size=(n_probes, dim)))
    return gallery, gallery_labels, probes, probe_labels


def loop_true_ranks(gallery, gallery_labels, probes, probe_labels):
    """Rank of the true identity, ties counted against the probe, all by loops."""
    ranks = []
    for p, label in zip(probes, probe_labels):
        best = {}
        for g, g_label in zip(gallery, gallery_labels):
            dist = float(np.sum((p - g) ** 2))
            best[g_label] = min(dist, best.get(g_label, np.inf))
        ranks.append(sum(1 for dist in best.values() if dist <= best[label]))
    return np.array(ranks)


@pytest.mark.parametrize("seed", [0, 1])
def test_rank_k_and_cmc_match_loops(seed):
    g, gl, p, pl = make_gallery(seed)
    ranks = loop_true_ranks(g, gl, p, pl)
    for k in (1, 2, 3, 8, 20):
        assert M.rank_k_accuracy(g, gl, p, pl, k=k) == pytest.approx(np.mean(ranks <= k))
    cmc_ranks, rates = M.cmc_curve(g, gl, p, pl, max_rank=20)
    np.testing.assert_array_equal(cmc_ranks, np.arange(1, 9))         # capped at 8 identities
    np.testing.assert_allclose(rates, [np.mean(ranks <= k) for k in range(1, 9)])
    assert rates[-1] == 1.0 and np.all(np.diff(rates) >= 0)
    assert 0 < rates[0] < 1                                             # a non-trivial example


def test_rank_k_with_string_labels_and_chunks(monkeypatch):
    g, gl, p, pl = make_gallery(2, n_probes=25)
    names = np.array(["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"])
    expected = M.rank_k_accuracy(g, gl, p, pl, k=2)
    monkeypatch.setattr(M, "_CHUNK", 7)                                 # several probe blocks
    assert M.rank_k_accuracy(g, names[gl], p, names[pl], k=2) == pytest.approx(expected)


def test_rank_ties_count_against_the_probe():
    # Identities 0 and 1 have the same gallery embedding: the probe is exactly as close to both.
    gallery = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    labels = np.array([0, 1, 2])
    probe = np.array([[1.0, 0, 0]])
    assert M.rank_k_accuracy(gallery, labels, probe, [0], k=1) == 0.0
    assert M.rank_k_accuracy(gallery, labels, probe, [0], k=2) == 1.0
    # A collapsed encoder (every embedding identical) gets rank-1 = 0, not a flattering 1.0.
    same = np.ones((4, 3)) / np.sqrt(3)
    assert M.rank_k_accuracy(same, [0, 1, 2, 3], same, [0, 1, 2, 3], k=1) == 0.0


def test_identification_errors():
    g, gl, p, pl = make_gallery()
    with pytest.raises(ValueError, match="not in the gallery"):
        M.rank_k_accuracy(g, gl, p, np.r_[pl[:-1], 99])
    with pytest.raises(ValueError, match="one label per embedding"):
        M.rank_k_accuracy(g, gl[:-1], p, pl)
    with pytest.raises(ValueError, match="dimensions"):
        M.cmc_curve(g, gl, p[:, :3], pl)
    with pytest.raises(ValueError, match="positive int"):
        M.rank_k_accuracy(g, gl, p, pl, k=0)
    with pytest.raises(ValueError, match="no unknown probes"):
        M.open_set_identification(g, gl, p, pl)


def on_circle(axis_a, axis_b, squared_distance, dim=5):
    """Unit vector at the given squared distance from e_a, turning towards e_b."""
    cos = 1 - squared_distance / 2
    v = np.zeros(dim)
    v[axis_a], v[axis_b] = cos, np.sqrt(1 - cos ** 2)
    return v


def test_open_set_on_a_constructed_case():
    # Gallery: A = e0, B = e1, C = e2. Axes 3 and 4 are "nobody". Distances below are exact by design.
    gallery = np.eye(5)[:3]
    gallery_labels = np.array(["A", "B", "C"])
    probes = np.array([
        on_circle(0, 3, 0.2),   # A, correct, 0.2
        on_circle(1, 3, 0.4),   # B, correct, 0.4
        on_circle(2, 4, 1.0),   # C, correct, 1.0
        on_circle(0, 4, 0.1),   # labelled C but lands next to A: wrong identity
        on_circle(0, 3, 0.3),   # unknown people, nearest distances 0.3, 0.6, 0.8, 1.5
        on_circle(1, 4, 0.6),
        on_circle(2, 3, 0.8),
        on_circle(1, 3, 1.5),
    ])
    probe_labels = np.array(["A", "B", "C", "C", "X", "Y", "Z", "W"])
    expected = {  # far → (threshold, DIR, false alarm rate); 4 known probes, 4 unknown
        0.0: (0.2, 1 / 4, 0.0),      # must stay below 0.3 → only the 0.2 probe
        0.25: (0.4, 2 / 4, 1 / 4),   # one unknown (0.3) may pass; stay below 0.6
        0.5: (0.6, 2 / 4, 2 / 4),
        1.0: (1.5, 3 / 4, 1.0),      # accept everything: DIR is capped by rank-1 = 3/4
    }
    for far, (threshold, dir_, fa) in expected.items():
        result = M.open_set_identification(gallery, gallery_labels, probes, probe_labels, far=far)
        assert result["threshold"] == pytest.approx(threshold)
        assert result["dir"] == pytest.approx(dir_)
        assert result["false_alarm_rate"] == pytest.approx(fa)
        assert result["false_alarm_rate"] <= far
        assert (result["n_known"], result["n_unknown"], result["rank1"]) == (4, 4, 0.75)
    assert np.all(np.diff(result["fars"]) >= 0) and np.all(np.diff(result["dirs"]) >= 0)
    assert len(result["fars"]) == len(result["dirs"]) == len(result["thresholds"])


def loop_open_set_rates(gallery, gallery_labels, probes, probe_labels, threshold):
    """DIR and false-alarm rate at one threshold, one probe at a time (reference)."""
    named = wrong_known = strangers_named = 0
    known = [lab in set(gallery_labels) for lab in probe_labels]
    for probe, label, is_known in zip(probes, probe_labels, known):
        best = {}
        for row, owner in zip(gallery, gallery_labels):
            d = float(np.sum((probe - row) ** 2))
            best[owner] = min(best.get(owner, np.inf), d)
        order = sorted(best.items(), key=lambda item: item[1])
        name, d = order[0]
        unique_best = len(order) == 1 or order[1][1] > d
        if is_known:
            named += d <= threshold and name == label and unique_best
        else:
            strangers_named += d <= threshold
    return named / sum(known), strangers_named / (len(known) - sum(known))


def test_open_set_rates_at_any_threshold_match_a_loop():
    rng = np.random.default_rng(3)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    gallery = unit(rng.normal(size=(12, 6)))
    gallery_labels = np.repeat(np.arange(6), 2)
    probes = unit(np.concatenate([gallery + 0.4 * rng.normal(size=gallery.shape), rng.normal(size=(15, 6))]))
    probe_labels = np.concatenate([gallery_labels, np.arange(100, 115)])
    curve = M.open_set_identification(gallery, gallery_labels, probes, probe_labels)
    steps = curve["thresholds"][1:]
    between = (steps[:-1] + steps[1:]) / 2           # every step of the curve (not on an edge: rounding)
    for threshold in [-np.inf, 0.0, 4.0, np.inf, *between]:
        assert M.open_set_rates_at(curve, threshold) == pytest.approx(
            loop_open_set_rates(gallery, gallery_labels, probes, probe_labels, threshold)), threshold
    with pytest.raises(ValueError, match="NaN"):
        M.open_set_rates_at(curve, float("nan"))


# ---------------------------------------------------------------------------------------------
# Clustering scores
# ---------------------------------------------------------------------------------------------

def loop_pairwise(true, pred):
    tp = together = same = 0
    for a in range(len(true)):
        for b in range(a + 1, len(true)):
            together += pred[a] == pred[b]
            same += true[a] == true[b]
            tp += pred[a] == pred[b] and true[a] == true[b]
    precision = tp / together if together else 1.0
    recall = tp / same if same else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def loop_purity(true, pred):
    total = 0
    for cluster in set(pred.tolist()):
        members = [t for t, c in zip(true.tolist(), pred.tolist()) if c == cluster]
        total += max(members.count(t) for t in set(members))
    return total / len(true)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustering_scores_match_references(seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 6, 80)
    pred = np.where(rng.random(80) < 0.7, true, rng.integers(0, 9, 80)) * 3 + 1    # noisy, relabelled
    assert M.pairwise_precision_recall_f1(true, pred) == pytest.approx(loop_pairwise(true, pred))
    assert M.purity(true, pred) == pytest.approx(loop_purity(true, pred))
    report = M.clustering_report(true, pred)
    assert report["nmi"] == pytest.approx(normalized_mutual_info_score(true, pred))
    assert report["ari"] == pytest.approx(adjusted_rand_score(true, pred))
    assert (report["precision"], report["recall"], report["f1"]) == pytest.approx(loop_pairwise(true, pred))
    assert (report["n_clusters"], report["n_true"], report["n_samples"]) == (len(set(pred)), len(set(true)), 80)


def test_clustering_score_conventions():
    true = np.array(["a", "a", "b", "b"])
    assert M.pairwise_precision_recall_f1(true, [0, 0, 1, 1]) == (1.0, 1.0, 1.0)
    assert M.pairwise_precision_recall_f1(true, [0, 1, 2, 3]) == (1.0, 0.0, 0.0)   # all singletons
    assert M.pairwise_precision_recall_f1(true, [0, 0, 0, 0]) == pytest.approx((1 / 3, 1.0, 0.5))
    assert M.pairwise_precision_recall_f1([1, 2, 3], [5, 6, 7]) == (1.0, 1.0, 1.0)  # nobody repeats
    assert M.purity(true, [0, 0, 0, 0]) == 0.5
    with pytest.raises(ValueError, match="4 entries but cluster_labels has 3"):
        M.clustering_report(true, [0, 1, 2])
    with pytest.raises(ValueError, match="empty"):
        M.purity([], [])
