"""Lesson 10 — clustering faces: ``check_choose_cluster_threshold``.

The clustering threshold (``choose_cluster_threshold(verification_threshold)``) must be a squared
distance in (0, 4] whose pairwise F1 is at least 80 % of the best F1 over a sweep and within a
factor 3 of the verification threshold. Diagnoses: plain Euclidean (≈ √ of the verification
threshold), a similarity instead of a distance, too large (everything merges), too small
(singletons) — with the numbers.
"""
from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import harness as h
from course_utils.exercises.lesson06_training import not_done_value
from course_utils.exercises.protocol import Verdict, run_in_process


def _clustering_f1(embeddings, true_labels, threshold) -> tuple[float, dict]:
    from course_utils.clustering import cluster_embeddings
    from course_utils.metrics import clustering_report
    report = clustering_report(true_labels, cluster_embeddings(embeddings, threshold))
    return report["f1"], report


_CLUSTER_TODO = """\
Pick a SQUARED distance (like the verification threshold, 0…4 for unit embeddings): faces closer than
it are grouped together. Start from the verification threshold and look at the clusters."""


def _is_number(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    if h.is_tensor(x) or isinstance(x, np.ndarray):
        arr = h.as_array(x)
        return arr.shape == () and arr.dtype.kind in "iuf"
    return False


def _cluster_message(cluster_threshold, verification_threshold, embeddings, true_labels) -> str:
    """The summary printed for a good threshold; AssertionError naming what is wrong otherwise."""
    from course_utils.clustering import cluster_embeddings
    from course_utils.metrics import pairwise_precision_recall_f1

    if isinstance(cluster_threshold, (bool, np.bool_)) or not _is_number(cluster_threshold):
        raise AssertionError(f"cluster_threshold should be a number (a squared distance); got {h.kind(cluster_threshold)} "
                             f"{h.fmt(cluster_threshold)}.")
    ct, vt = float(h.as_array(cluster_threshold)), float(verification_threshold)
    x = np.asarray(h.as_array(embeddings), dtype=np.float64)
    from course_utils.metrics import squared_distance_matrix
    labels = np.asarray(h.as_array(true_labels)).reshape(-1)
    similarity = 1.0 - vt / 2.0                       # cosine similarity of unit vectors at distance vt
    if not (math.isfinite(ct) and 0.0 < ct <= 4.0):
        hint = ""
        if ct <= 0 or math.isclose(ct, similarity, abs_tol=0.05):
            hint = (" A negative value or one near the cosine similarity suggests a SIMILARITY; thresholds here are "
                    "squared distances: d = 2 − 2·similarity.")
        raise AssertionError(f"cluster_threshold = {ct:.4g} must be a squared distance in (0, 4] (unit embeddings are "
                             f"at most 4 apart).{hint}")
    d_all = squared_distance_matrix(x)[np.triu_indices(len(x), 1)] if len(x) > 1 else np.array([1.0])
    quantiles = np.quantile(d_all, np.linspace(0.02, 0.98, 12)) if len(d_all) else []
    sweep = np.unique(np.concatenate([np.geomspace(0.02, 4.0, 28), [q for q in quantiles if q > 0],
                                      [vt] if 0 < vt <= 4 else []]))
    f1s = [pairwise_precision_recall_f1(labels, cluster_embeddings(x, t))[2] for t in sweep]
    best = int(np.argmax(f1s))
    best_f1, best_t = float(f1s[best]), float(sweep[best])
    f1, report = _clustering_f1(x, labels, ct)
    plural = "" if report["n_clusters"] == 1 else "s"
    numbers = (f"At {ct:.4g}: {report['n_clusters']} cluster{plural} for {report['n_true']} people, pairwise F1 = {f1:.3f} "
               f"(best on a sweep: F1 = {best_f1:.3f} at {best_t:.3g}; verification threshold {vt:.4g}).")
    f1_at_vt = _clustering_f1(x, labels, vt)[0] if 0 < vt <= 4 else 0.0
    # As good as the best of the sweep (within 20 %), or at least as good as simply reusing the
    # verification threshold (a weak encoder can make every threshold mediocre).
    good_f1 = f1 >= 0.8 * best_f1 or f1 >= f1_at_vt - 1e-12
    near_verification = vt / 3.0 <= ct <= 3.0 * vt
    if good_f1 and near_verification:
        return f"✓ cluster_threshold: {numbers}"
    sizes = np.bincount(cluster_embeddings(x, ct))
    if vt > 0 and math.isclose(ct, math.sqrt(vt), rel_tol=0.05) and not math.isclose(vt, 1.0, rel_tol=0.1):
        why = (f"{ct:.4g} ≈ √{vt:.4g}: that is a plain Euclidean distance, but the course's thresholds are SQUARED "
               f"distances — use the same units as the verification threshold (square your value: {ct * ct:.4g}).")
    elif math.isclose(ct, similarity, abs_tol=0.05) and not math.isclose(ct, vt, rel_tol=0.2):
        why = (f"{ct:.4g} ≈ 1 − {vt:.4g}/2, the cosine SIMILARITY at the verification threshold: clustering uses "
               "squared distances (d = 2 − 2·similarity).")
    elif not good_f1 and ct > best_t and report["n_clusters"] < report["n_true"]:
        why = ("the threshold is too large: different people merge into big clusters "
               f"(the biggest holds {int(sizes.max())} of {len(labels)} faces). Lower it.")
    elif not good_f1 and ct < best_t and report["n_clusters"] > report["n_true"]:
        why = ("the threshold is too small: faces of the same person stay apart "
               f"({int(np.sum(sizes == 1))} single-face clusters). Raise it.")
    elif not near_verification:
        side = "more than 3 times" if ct > 3.0 * vt else "less than a third of"
        why = (f"it is {side} the verification threshold. Both are squared distances for the same question "
               "(\"same person?\"), so they should be of similar size; start from the verification threshold.")
    else:
        why = "the F1 is below 80 % of the best one: move the threshold towards the best value of the sweep."
    raise AssertionError(f"cluster_threshold is not right yet: {why}\n{numbers}")


def _judge_cluster(ex, cases, outputs) -> Verdict:
    values = [h.revive(outputs["values"][n]) for n in ex.answer_names]
    if values[0] is None:
        return Verdict(False, "cluster_threshold is not implemented yet", "not_done")
    try:
        return Verdict(True, _cluster_message(*values), "correct")
    except AssertionError as err:
        return Verdict(False, str(err), "wrong_value")


CHOOSE_CLUSTER_THRESHOLD = h.Exercise(
    grade_id="ex_cluster_threshold_check", lesson="10", name="choose_cluster_threshold",
    answer_names=("cluster_threshold", "verification_threshold", "embeddings", "true_labels"),
    mode="values", custom_judge=_judge_cluster, todo=_CLUSTER_TODO)


def check_choose_cluster_threshold(cluster_threshold, verification_threshold, embeddings, true_labels):
    """Check a clustering threshold (squared distance) against an F1 sweep and the verification threshold."""
    if cluster_threshold is None:
        return not_done_value("cluster_threshold", _CLUSTER_TODO,
                              f"For now the lesson continues with the verification threshold "
                              f"({float(verification_threshold):.4g}).", fallback=float(verification_threshold))
    answers = dict(zip(CHOOSE_CLUSTER_THRESHOLD.answer_names,
                       (cluster_threshold, verification_threshold, embeddings, true_labels)))
    outputs = run_in_process(CHOOSE_CLUSTER_THRESHOLD, answers, [], ".", provenance=False)
    verdict = CHOOSE_CLUSTER_THRESHOLD.judge([], outputs)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(verdict.message)
    return cluster_threshold
