"""Tests for the DET curve of course_utils.plots, against independent references: rates counted
pair by pair and the standard library's normal quantile (statistics.NormalDist)."""
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course_utils import plots  # noqa: E402


def make_pairs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    d = np.clip(np.where(same, rng.normal(0.8, 0.3, n), rng.normal(1.5, 0.3, n)), 0.0, 4.0)
    return d, same


def loop_det(d, same):
    """(Φ⁻¹(FAR), Φ⁻¹(FRR)) at every distinct distance, rates counted pair by pair."""
    inv = NormalDist().inv_cdf
    xs, ys = [], []
    for t in sorted(set(d.tolist())):
        fa = sum(1 for dist, s in zip(d, same) if not s and dist <= t) / sum(1 for s in same if not s)
        fr = sum(1 for dist, s in zip(d, same) if s and dist > t) / sum(1 for s in same if s)
        if 0 < fa < 1 and 0 < fr < 1:
            xs.append(inv(fa)), ys.append(inv(fr))
    return np.array(xs), np.array(ys)


def test_det_points_are_normal_deviates_of_far_and_frr():
    d, same = make_pairs()
    x, y = plots.det_points(d, same)
    x_ref, y_ref = loop_det(d, same)
    np.testing.assert_allclose(x, x_ref, atol=1e-9)
    np.testing.assert_allclose(y, y_ref, atol=1e-9)


def test_det_of_two_equal_spread_normals_is_a_straight_line_of_slope_minus_one():
    # Martin et al. (1997): with normal score distributions the DET curve is a straight line.
    rng = np.random.default_rng(1)
    n = 20000
    same = np.arange(n) < n // 2
    d = np.where(same, rng.normal(2.0, 0.3, n), rng.normal(2.6, 0.3, n))   # >= 0 (6σ)
    x, y = plots.det_points(d, same)
    inner = (np.abs(x) < 2) & (np.abs(y) < 2)          # away from the noisy extreme tails
    slope, intercept = np.polyfit(x[inner], y[inner], 1)
    assert abs(slope + 1) < 0.05
    assert abs(intercept + 0.6 / 0.3) < 0.1            # separation in standard deviations: d' = 2


def test_det_plot_draws_each_curve_and_labels_rates_in_percent():
    d, same = make_pairs()
    d2, same2 = make_pairs(seed=5)
    fig, ax = plt.subplots()
    plots.det_plot({"a": (d, same), "b": (d2, same2)}, ax=ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    x_ref, y_ref = loop_det(d, same)
    np.testing.assert_allclose(lines["a"].get_xdata(), x_ref, atol=1e-9)
    np.testing.assert_allclose(lines["a"].get_ydata(), y_ref, atol=1e-9)
    assert "b" in lines and "FAR = FRR (EER)" in lines
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in labels and "10" in labels           # percent
    positions = dict(zip(labels, ax.get_xticks()))
    assert abs(positions["10"] - NormalDist().inv_cdf(0.10)) < 1e-9
    plt.close(fig)


def test_det_plot_survives_perfect_separation():
    same = np.array([True] * 5 + [False] * 5)
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 1.1, 1.2, 1.3, 1.4, 1.5])
    x, y = plots.det_points(d, same)
    assert len(x) == 0                                  # every point has FAR or FRR at 0 or 1
    fig = plots.det_plot({"perfect": (d, same)})
    plt.close(fig)


def test_triplet_loss_map_shows_the_loss_and_one_legend_entry_per_kind():
    d_ap, d_an = np.array([0.1, 0.5, 0.9, 0.4]), np.array([0.9, 0.6, 0.3, 0.5])
    kinds = np.where(d_an >= d_ap + 0.2, "easy", np.where(d_an > d_ap, "semi-hard", "hard"))
    fig = plots.triplet_loss_map(d_ap, d_an, kinds, alpha=0.2)
    ax = fig.axes[0]
    loss = ax.images[0].get_array()
    assert loss.min() == 0 and np.isclose(loss.max(), 0.2 + ax.get_xlim()[1], atol=0.01)   # corner d_ap=lim, d_an=0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[2:] == ["easy (1)", "semi-hard (2)", "hard (1)"]
    plt.close(fig)


def test_timing_plot_draws_one_line_per_implementation_in_ms():
    fig = plots.timing_plot([16, 32], {"loop": [0.001, 0.004], "fast": [0.0001, 0.0001]})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["loop", "fast"]
    assert np.allclose(lines[0].get_ydata(), [1.0, 4.0])
    plt.close(fig)


def test_det_tick_labels_never_crowd_each_other():
    from scipy.stats import norm
    rng = np.random.default_rng(0)
    d = np.abs(np.concatenate([rng.normal(0.6, 0.25, 3000), rng.normal(1.6, 0.3, 3000)]))
    same = np.arange(6000) < 3000
    fig = plots.det_plot({"wide": (d, same)})
    ax = fig.axes[0]
    ticks = np.asarray(ax.get_xticks())
    span = np.diff(ax.get_xlim())[0]
    assert len(ticks) >= 4 and np.all(np.diff(ticks) >= span / 9 - 1e-9)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert np.allclose(norm.cdf(ticks) * 100, [float(x) for x in labels])    # labelled with the rates in %
    plt.close(fig)


def test_open_set_plot_marks_each_threshold_on_both_panels():
    curve = {"fars": np.array([0.0, 0.1, 0.5, 1.0]), "dirs": np.array([0.0, 0.4, 0.7, 0.8]),
             "thresholds": np.array([0.0, 0.3, 0.6, 0.9]), "rank1": 0.8}
    left, right = plots.open_set_plot(curve, {"verification": (0.6, 0.5, 0.7), "chosen": (0.3, 0.1, 0.4)})
    points = [line for line in left.get_lines() if line.get_marker() in ("o", "s")]
    assert [(p.get_xdata()[0], p.get_ydata()[0]) for p in points] == [(0.5, 0.7), (0.1, 0.4)]
    assert [p.get_label() for p in points] == ["verification (0.600)", "chosen (0.300)"]
    cuts = [line.get_xdata()[0] for line in right.get_lines() if line.get_label() in ("verification", "chosen")]
    assert cuts == [0.6, 0.3]
    assert np.allclose(right.get_lines()[0].get_ydata(), [0.4, 0.7, 0.8])       # DIR from the first step on
    plt.close(left.figure)


def test_clustering_sweep_plot_draws_every_score_and_the_cluster_count():
    thresholds = np.array([0.1, 0.5, 1.0])
    reports = [{"precision": p, "recall": 1 - p, "f1": 0.5, "nmi": 0.3, "n_clusters": n}
               for p, n in [(1.0, 40), (0.8, 12), (0.2, 1)]]
    left, right = plots.clustering_sweep_plot(thresholds, reports, chosen=0.5, n_true=10)
    lines = {line.get_label(): line for line in left.get_lines()}
    assert np.allclose(lines["precision"].get_ydata(), [1.0, 0.8, 0.2])
    assert np.allclose(lines["recall"].get_ydata(), [0.0, 0.2, 0.8])
    assert np.allclose(right.get_lines()[0].get_ydata(), [40, 12, 1]) and right.get_yscale() == "log"
    assert any(line.get_label() == "true number of people (10)" for line in right.get_lines())
    plt.close(left.figure)
