"""Tests for course_utils.widgets and the pure functions behind them (metrics.operating_point …,
clustering.clusters_at …, images.decode_upload) against scikit-learn / plain NumPy,
and the views driven from Python (no browser): slider values, button clicks, uploads."""
from __future__ import annotations

import base64
import datetime
import io
import os

import matplotlib

# Agg for this process only: setting MPLBACKEND in os.environ would leak into the notebook
# kernels nbval starts later in the same run, and their figures would vanish from the decks.
matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from course_utils import clustering, metrics
from course_utils import widgets as W
from course_utils.images import decode_upload
from course_utils.widgets.base import grid_equivalent
from course_utils.database import FaceDatabase
from course_utils.datasets import FaceSet, Pairs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def synthetic_verification(n=1200, seed=0, genuine=(0.6, 0.2), impostor=(1.3, 0.25)):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.45
    d = np.where(same, rng.normal(*genuine, n), rng.normal(*impostor, n))
    return np.clip(d, 0, None), same


def toy_pairs(same, n_faces=40, size=16, seed=0):
    rng = np.random.default_rng(seed)
    faces = FaceSet(rng.integers(0, 256, (n_faces, size, size, 3), dtype=np.uint8),
                    np.arange(n_faces) % 8, [f"person {k}" for k in range(8)], source="test")
    m = len(same)
    return Pairs(faces, rng.integers(0, n_faces, m), rng.integers(0, n_faces, m), same)


def explicit_counts(d, s, t):
    """FAR/FRR/TAR/accuracy written out without course code."""
    accept = d <= t
    tp = int(np.count_nonzero(accept & s))
    fp = int(np.count_nonzero(accept & ~s))
    tn = int(np.count_nonzero(~accept & ~s))
    fn = int(np.count_nonzero(~accept & s))
    return tp, fp, tn, fn


def png_bytes(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def upload_value(*files):
    """The ipywidgets 8 FileUpload value: a tuple of dicts with a memoryview ``content``."""
    return tuple({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
                  "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}
                 for name, data in files)


def same_decisions(explorer, threshold) -> bool:
    """The explorer's threshold decides every pair as ``threshold`` does, and is within a step."""
    d = explorer.distances
    return (np.array_equal(d <= explorer.threshold, d <= threshold)
            and abs(explorer.threshold - threshold) < explorer.slider.step)


def same_rates(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float) and np.isnan(a[key]):
            assert np.isnan(b[key]), key
        else:
            assert a[key] == b[key], key


# ----------------------------------------------------------------------------------------------
# Pure computation: verification
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operating_point_matches_numpy_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    d = rng.gamma(2.0, 0.5, 500)
    s = rng.random(500) < 0.3
    thresholds = np.concatenate([[-1.0, 0.0, d.max() + 1], np.quantile(d, [0.05, 0.3, 0.5, 0.8]), d[:3]])
    for t in thresholds:
        p = metrics.operating_point(d, s, t)
        tp, fp, tn, fn = explicit_counts(d, s, t)
        (sk_tn, sk_fp), (sk_fn, sk_tp) = confusion_matrix(s, d <= t, labels=[False, True])
        assert (p["tp"], p["fp"], p["tn"], p["fn"]) == (tp, fp, tn, fn) == (sk_tp, sk_fp, sk_tn, sk_fn)
        assert p["far"] == pytest.approx(fp / np.count_nonzero(~s))
        assert p["frr"] == pytest.approx(fn / np.count_nonzero(s))
        assert p["tar"] == pytest.approx(tp / np.count_nonzero(s))
        assert p["tar"] + p["frr"] == pytest.approx(1.0)
        assert p["accuracy"] == pytest.approx(np.mean((d <= t) == s))
        assert p["threshold"] == t
        assert (p["n_same"], p["n_different"], p["n_pairs"]) == (s.sum(), (~s).sum(), 500)


def test_named_thresholds_mean_what_their_names_say():
    d, s = synthetic_verification(seed=3)
    named = metrics.named_thresholds(d, s)
    assert set(named) == {"EER", "FAR = 1%", "best accuracy"}

    # FAR = 1 %: at most 1 % of the different-person pairs accepted, and it is the largest such
    # threshold: accepting the next larger distance too would push FAR above 1 %.
    t = named["FAR = 1%"]
    far = np.mean(d[~s] <= t)
    assert far <= 0.01
    next_d = d[d > t].min()
    assert np.mean(d[~s] <= next_d) > 0.01 or not (~s)[d == next_d].any()

    # EER: FAR and FRR (nearly) equal; each can only move in steps of 1 / n.
    p = metrics.operating_point(d, s, named["EER"])
    step = 1.0 / min(s.sum(), (~s).sum())
    assert abs(p["far"] - p["frr"]) <= 2 * step

    # best accuracy = the maximum of a brute-force sweep over every distinct cut
    cuts = np.unique(d)
    candidates = np.concatenate([[cuts[0] - 1], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1]])
    brute = max(np.mean((d <= c) == s) for c in candidates)
    assert np.mean((d <= named["best accuracy"]) == s) == pytest.approx(brute)


def test_named_thresholds_follow_far_and_need_both_classes():
    d, s = synthetic_verification(seed=4)
    named = metrics.named_thresholds(d, s, far=0.1)
    assert "FAR = 10%" in named and np.mean(d[~s] <= named["FAR = 10%"]) <= 0.1
    with pytest.raises(ValueError, match="both"):
        metrics.named_thresholds(d, np.ones_like(s))


@pytest.mark.parametrize("n", [1, 4, 6, 7])
def test_flipping_pairs_are_the_nearest_on_each_side(n):
    d, s = synthetic_verification(n=300, seed=5)
    t = float(np.median(d))
    idx = metrics.flipping_pairs(d, s, t, n=n)
    assert len(idx) == n and len(set(idx.tolist())) == n
    assert np.all(np.diff(d[idx]) >= 0)                        # sorted along the distance axis
    below, above = idx[d[idx] <= t], idx[d[idx] > t]
    assert len(below) == n // 2 and len(above) == n - n // 2
    others = np.setdiff1d(np.arange(len(d)), idx)
    # nobody left out is closer to τ on its side than the chosen ones
    if len(below):
        assert d[below].min() >= d[others][d[others] <= t].max()
    assert d[above].max() <= d[others][d[others] > t].min()
    # independent check: the chosen set = the n//2 and n - n//2 smallest |d − t| on each side
    gap = np.abs(d - t)
    side_below = np.flatnonzero(d <= t)
    side_above = np.flatnonzero(d > t)
    expected = set(side_below[np.argsort(gap[side_below])][: n // 2].tolist()) | \
        set(side_above[np.argsort(gap[side_above])][: n - n // 2].tolist())
    assert set(idx.tolist()) == expected


def test_flipping_pairs_fill_from_the_other_side_and_verdicts_mark_the_wrong_ones():
    d = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    s = np.array([True, False, True, True, False, False])
    idx = metrics.flipping_pairs(d, s, 0.05, n=4)                     # nothing is below τ
    assert idx.tolist() == [0, 1, 2, 3]
    verdicts = metrics.pair_verdicts(d, s, 0.25, [0, 1, 2, 3])
    assert [v["accepted"] for v in verdicts] == [True, True, False, False]
    assert [v["wrong"] for v in verdicts] == [False, True, True, True]
    assert all(v["correct"] != v["wrong"] for v in verdicts)


def test_choose_pairs_balances_same_and_different():
    d, s = synthetic_verification(n=200, seed=6)
    idx = W.choose_pairs(s, 8, seed=1, distances=d)
    assert len(idx) == 8 and s[idx].sum() == 4 and np.all(np.diff(d[idx]) >= 0)


# ----------------------------------------------------------------------------------------------
# The threshold explorer, driven from Python
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer_data():
    d, s = synthetic_verification(n=800, seed=7)
    return d, s, toy_pairs(s)


def test_slider_drives_the_stats_the_figure_and_the_examples(explorer_data):
    d, s, pairs = explorer_data
    ex = W.ThresholdExplorer(d, s, pairs, title="test")
    assert ex.slider.min <= d.min() and ex.slider.max >= d.max() and ex.slider.step < 0.01 * np.ptp(d)
    same_rates(ex.stats, metrics.operating_point(d, s, ex.threshold))        # initial state = EER
    assert same_decisions(ex, ex.named["EER"])
    first_png = bytes(ex.image.value)
    assert first_png.startswith(PNG_SIGNATURE)
    for t in (0.4, 0.95, 1.6):
        ex.slider.value = t
        same_rates(ex.stats, metrics.operating_point(d, s, t))
        assert f"TP <b>{ex.stats['tp']}</b>" in ex.stats_html.value
        assert f"FN <b>{ex.stats['fn']}</b>" in ex.stats_html.value
        assert [v["index"] for v in ex.examples] == metrics.flipping_pairs(d, s, t, ex.n_examples).tolist()
        assert [v["correct"] for v in ex.examples] == [(d[v["index"]] <= t) == s[v["index"]] for v in ex.examples]
    assert bytes(ex.image.value) != first_png                            # the figure was redrawn
    assert "Could not update" not in ex.stats_html.value


def test_buttons_jump_to_the_named_thresholds(explorer_data):
    d, s, _ = explorer_data
    ex = W.ThresholdExplorer(d, s)                                     # no pairs: no example strip
    assert list(ex.buttons) == ["EER", "FAR = 1%", "best accuracy"]
    ex.slider.value = ex.slider.max
    for name, button in ex.buttons.items():
        button.click()
        assert same_decisions(ex, ex.named[name])
        same_rates(ex.stats, metrics.operating_point(d, s, ex.threshold))
    ex.buttons["FAR = 1%"].click()
    assert ex.stats["far"] <= 0.01
    assert ex.examples == []


def test_buttons_choose_on_validation_pairs_and_the_toggle_switches_to_the_shown_ones(explorer_data):
    d, s, pairs = explorer_data
    val_d, val_s = synthetic_verification(n=300, seed=11)                # other pairs: other thresholds
    ex = W.ThresholdExplorer(d, s, pairs, n_examples=4, tune=(val_d, val_s))
    assert ex.tune_on.options == ("validation", "shown pairs") and ex.tune_on.value == "validation"
    on_val, on_shown = metrics.named_thresholds(val_d, val_s), metrics.named_thresholds(d, s)
    assert on_val["FAR = 1%"] != on_shown["FAR = 1%"]
    for which, expected in [("validation", on_val), ("shown pairs", on_shown), ("validation", on_val)]:
        ex.tune_on.value = which
        picture = bytes(ex.image.value)
        for name, button in ex.buttons.items():
            button.click()
            assert same_decisions(ex, expected[name]), (which, name)
            same_rates(ex.stats, metrics.operating_point(d, s, ex.threshold))   # read off on the SHOWN pairs
            assert which in button.tooltip
        assert picture.startswith(PNG_SIGNATURE) and "Could not update" not in ex.stats_html.value
    assert W.ThresholdExplorer(d, s).tune_on is None
    with pytest.raises(TypeError, match="validation pairs"):
        W.ThresholdExplorer(d, s, tune=val_d)


def test_browser_echo_of_a_value_set_from_python_is_absorbed(explorer_data):
    """The browser snaps a value it is sent to the slider's grid and sends it back; that echo
    must not move the exact threshold a button chose (nor redraw the figure)."""
    d, s, _ = explorer_data
    ex = W.ThresholdExplorer(d, s)
    ex.buttons["FAR = 1%"].click()
    exact, png = ex.threshold, bytes(ex.image.value)
    ex.slider.value = exact + 0.4 * ex.slider.step                   # the echo
    assert ex.threshold == exact and bytes(ex.image.value) == png
    ex.slider.value = exact + 0.8 * ex.slider.step                   # a real move (the user) counts
    assert ex.threshold == ex.slider.value
    same_rates(ex.stats, metrics.operating_point(d, s, ex.slider.value))


def test_grid_equivalent_thresholds_decide_exactly_alike():
    d, s = synthetic_verification(n=2000, seed=11)
    lo, hi, step = 0.0, 2.0, 0.002
    for t in np.concatenate([np.linspace(0.01, 1.99, 97), d[:50], d[:50] + 1e-9]):
        g = grid_equivalent(t, d, lo, hi, step)
        assert np.array_equal(d <= g, d <= t)
        assert g == t or abs(round((g - lo) / step) * step + lo - g) < 1e-12
        assert abs(g - t) < step


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_redrawing_only_what_moves_gives_the_picture_of_a_fresh_render(explorer_data):
    # A moved explorer (blitting, the example strip kept when it did not change) must show exactly
    # what a new explorer started at that threshold shows after its one full render.
    d, s, pairs = explorer_data
    ex = W.ThresholdExplorer(d, s, pairs, n_examples=4)
    step, kept_strip = ex.slider.step, 0
    start = ex.slider.min + round((0.9 - ex.slider.min) / step) * step
    for k in range(6):
        t = start + k * step
        before = [(v["index"], v["accepted"]) for v in ex.examples]
        ex.slider.value = t
        kept_strip += before == [(v["index"], v["accepted"]) for v in ex.examples]
        fresh = W.ThresholdExplorer(d, s, pairs, n_examples=4, threshold=ex.threshold)
        assert fresh.threshold == pytest.approx(ex.threshold, abs=1e-12)   # same grid point (up to rounding)
        assert np.array_equal(_pixels(bytes(ex.image.value)), _pixels(bytes(fresh.image.value)))
    assert kept_strip > 0                      # the partial redraw was exercised
    whole = W.ThresholdExplorer(d, s, pairs, n_examples=4, threshold=ex.threshold, blit=False)
    assert whole.summary() == ex.summary()           # same decisions and rates, drawn the old way
    assert _pixels(bytes(whole.image.value)).shape == _pixels(bytes(ex.image.value)).shape


def test_display_bundle_has_the_widget_and_a_static_png(explorer_data, monkeypatch):
    d, s, pairs = explorer_data
    monkeypatch.delenv(W.STATIC_ENV, raising=False)
    ex = W.ThresholdExplorer(d, s, pairs)
    bundle = ex._repr_mimebundle_()
    assert bundle[W.WIDGET_VIEW_MIMETYPE]["model_id"] == ex.widget.model_id
    png = base64.b64decode(bundle["image/png"])
    assert png == bytes(ex.image.value) and Image.open(io.BytesIO(png)).size[0] > 300
    assert "FAR" in bundle["text/plain"]
    ex.static = True                                                   # PNG only (e.g. a website build)
    assert set(ex._repr_mimebundle_()) == {"image/png", "text/plain"}
    ex.static = False                                                  # widget only
    assert set(ex._repr_mimebundle_()) == {W.WIDGET_VIEW_MIMETYPE, "text/plain"}
    ex.static = None
    monkeypatch.setenv(W.STATIC_ENV, "1")
    assert set(ex._repr_mimebundle_()) == {"image/png", "text/plain"}
    assert ex.figure().axes                                            # a fresh matplotlib figure


def test_works_on_pixel_scale_distances_and_rejects_bad_input():
    d, s = synthetic_verification(n=300, seed=8)
    ex = W.threshold_explorer(d * 1e6, s)                              # outside IPython: no display, no crash
    assert ex.slider.max >= d.max() * 1e6
    ex.buttons["best accuracy"].click()
    assert ex.stats["accuracy"] == pytest.approx(metrics.best_threshold(d * 1e6, s)[1])
    with pytest.raises(ValueError, match="both"):
        W.ThresholdExplorer(d, np.zeros(len(d), bool))
    with pytest.raises(ValueError, match="pairs"):
        W.ThresholdExplorer(d, s, pairs=toy_pairs(s[:10]))


def test_pair_slider_shows_decisions_and_accuracy():
    d, s = synthetic_verification(n=200, seed=9)
    pairs = toy_pairs(s)
    ps = W.pair_slider(pairs, d, n=6)
    assert len(ps.indices) == 6
    for t in (0.5, 1.0):
        ps.slider.value = t
        assert ps.stats["accuracy"] == pytest.approx(metrics.accuracy_at(d, s, t))
        assert [v["accepted"] for v in ps.examples] == (d[ps.indices] <= t).tolist()
        assert f"{100 * ps.stats['accuracy']:.1f} %" in ps.stats_html.value
    assert bytes(ps.image.value).startswith(PNG_SIGNATURE)


# ----------------------------------------------------------------------------------------------
# Clusters
# ----------------------------------------------------------------------------------------------

def test_cluster_rows_biggest_first_and_truncated():
    labels = np.array([2, 0, 1, 1, 2, 2, 0, 3, 2, 1, 1, 1])   # sizes: 0→2, 1→5, 2→4, 3→1
    assert clustering.cluster_rows(labels, max_rows=8, max_per_row=10) == [[2, 3, 9, 10, 11], [0, 4, 5, 8], [1, 6], [7]]
    assert clustering.cluster_rows(labels, max_rows=2, max_per_row=3) == [[2, 3, 9], [0, 4, 5]]
    assert clustering.cluster_rows(labels, min_size=2) == [[2, 3, 9, 10, 11], [0, 4, 5, 8], [1, 6]]
    assert clustering.cluster_rows(np.array([5, 5, 4, 4])) == [[2, 3], [0, 1]]   # tie: smaller cluster id first


def toy_clusters(n_people=5, per_person=6, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(n_people), per_person))
    x = np.eye(dim)[labels] + 0.08 * rng.normal(size=(len(labels), dim))
    images = rng.integers(0, 256, (len(labels), 20, 20, 3), dtype=np.uint8)
    return x / np.linalg.norm(x, axis=1, keepdims=True), images, labels


def test_cluster_explorer_rows_and_report_follow_the_slider():
    x, images, labels = toy_clusters()
    ce = W.ClusterExplorer(x, images, true_labels=labels, threshold=1.0, max_rows=4, max_per_row=5)
    assert ce.report["f1"] == 1.0 and ce.report["n_clusters"] == 5         # well separated toy people
    for t in (0.05, 1.0, 2.5):
        ce.slider.value = t
        expected = clustering.cluster_rows(clustering.clusters_at(x, t), 4, 5)
        assert ce.rows == expected
        assert ce.report == metrics.clustering_report(labels, clustering.clusters_at(x, t))
        assert f"NMI <b>{ce.report['nmi']:.3f}</b>" in ce.summary_html.value
    assert len(ce.rows) == 1 and len(ce.rows[0]) == 5                     # 2.5 > every distance: one cluster
    assert bytes(ce.image.value).startswith(PNG_SIGNATURE)
    plain = W.ClusterExplorer(x, images.astype(np.float32) / 255)            # no labels, float images
    assert plain.report is None and "NMI" not in plain.summary_html.value
    assert plain.slider.min <= plain.slider.value <= plain.slider.max
    for t in (1e-4, 3.9):                                                   # outside the data's range: kept
        wide = W.ClusterExplorer(x, images, threshold=t, max_rows=2)
        assert wide.threshold == t and wide.slider.min <= t <= wide.slider.max
        assert wide.rows == clustering.cluster_rows(clustering.clusters_at(x, t), 2, 10)
    with pytest.raises(ValueError, match="one image per embedding"):
        W.ClusterExplorer(x, images[:3])


# ----------------------------------------------------------------------------------------------
# Uploads and the enrol widget
# ----------------------------------------------------------------------------------------------

def test_decode_upload_reads_pngs_and_collects_errors():
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    decoded = decode_upload(upload_value(("a.png", png_bytes(picture)), ("junk.jpg", b"definitely not an image"),
                                           ("grey.png", png_bytes(grey)), ("empty.png", b"")))
    assert [name for name, _ in decoded] == ["a.png", "grey.png"]
    assert np.array_equal(decoded[0][1], picture)
    assert decoded[1][1].shape == (12, 12, 3) and np.array_equal(decoded[1][1][..., 1], grey)
    assert len(decoded.errors) == 2
    assert "junk.jpg" in decoded.errors[0] and "not an image" in decoded.errors[0]
    assert "empty.png" in decoded.errors[1]
    # ipywidgets 7's dict format, raw bytes and nothing at all
    old = decode_upload({"b.png": {"metadata": {"name": "b.png"}, "content": png_bytes(picture)}})
    assert old[0][0] == "b.png" and np.array_equal(old[0][1], picture)
    assert np.array_equal(decode_upload(png_bytes(picture))[0][1], picture)
    assert decode_upload(()) == [] and decode_upload(None).errors == []


def colour_face(rgb, seed):
    rng = np.random.default_rng(seed)
    img = np.clip(np.array(rgb)[None, None, :] + rng.normal(0, 8, (40, 40, 3)), 0, 255)
    return img.astype(np.uint8)


def mean_colour_encoder(batch):
    """A fake encoder in NumPy: the unit-length mean colour (minus grey) of each image."""
    batch = np.asarray(batch, dtype=np.float64)
    assert batch.shape[1:] == (16, 16, 3)
    e = batch.mean(axis=(1, 2)) - 100.0
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def preprocess16(img):
    from course_utils.images import preprocess
    return preprocess(img, size=16)


def test_enrol_and_identify_round_trip():
    db = FaceDatabase(threshold=0.5)
    ew = W.EnrolWidget(db, mean_colour_encoder, preprocess=preprocess16)
    reds = upload_value(*[(f"red{k}.png", png_bytes(colour_face((230, 30, 30), k))) for k in range(3)])
    blues = upload_value(("blue.png", png_bytes(colour_face((30, 30, 230), 9))),)
    ew.upload.value = reds                                  # as if uploaded in the browser
    ew.name.value = "Alice"
    ew.enrol_button.click()
    assert db.names == ["Alice"] and db.count("Alice") == 3
    assert ew.upload.value == ()                            # cleared after a successful enrolment
    assert ew.enrol(name="Bob", value=blues) and db.count("Bob") == 1
    assert "Enrolled 1 photo(s) of Bob" in ew.messages[-1]

    ew.upload.value = upload_value(("probe.png", png_bytes(colour_face((220, 40, 35), 99))))
    ew.identify_button.click()
    (result,) = ew.last_results
    assert result.name == "Alice" and result.distance < 0.05
    assert [name for name, _ in result.top_k] == ["Alice", "Bob"]
    assert "probe.png: Alice" in ew.messages[-1]
    html = ew.output.outputs[0]["data"]["text/html"]
    assert "Alice" in html and "<img" in html

    green = W.EnrolWidget(db, mean_colour_encoder, preprocess=preprocess16)
    (unknown,) = green.identify(upload_value(("green.png", png_bytes(colour_face((30, 230, 30), 5)))))
    assert unknown.name == "unknown"


def test_enrol_uses_the_database_encoder_when_none_is_given():
    db = FaceDatabase(encoder=mean_colour_encoder, threshold=0.5)
    ew = W.EnrolWidget(db, preprocess=preprocess16)
    assert ew.enrol("Carol", upload_value(("c.png", png_bytes(colour_face((30, 200, 40), 1)))))
    assert ew.identify(upload_value(("q.png", png_bytes(colour_face((35, 190, 45), 2)))))[0].name == "Carol"


def test_bad_uploads_leave_the_database_unchanged():
    db = FaceDatabase(threshold=0.5)
    ew = W.EnrolWidget(db, mean_colour_encoder, preprocess=preprocess16)
    assert ew.enrol("Alice", upload_value(("a.png", png_bytes(colour_face((230, 30, 30), 0)))))
    before = db.embeddings_of("Alice")

    good = ("b.png", png_bytes(colour_face((230, 30, 30), 1)))
    assert not ew.enrol("Alice", upload_value(good, ("notes.txt", b"hello, I am text")))
    assert "notes.txt" in ew.messages[-1] and "Nothing was enrolled" in ew.messages[-1]
    assert not ew.enrol("Eve", upload_value(("bad.png", b"\x89PNG broken")))
    assert not ew.enrol("  ", upload_value(good))                        # no name
    assert not ew.enrol("unknown", upload_value(good))                   # reserved name: the database says no
    assert "reserved" in ew.messages[-1]
    assert not ew.enrol("Dave", ())                                      # nothing uploaded

    def broken_encoder(batch):
        raise RuntimeError("encoder exploded")
    ew.encoder = broken_encoder
    assert not ew.enrol("Alice", upload_value(good))
    assert "encoder exploded" in ew.messages[-1]
    assert db.names == ["Alice"] and np.array_equal(db.embeddings_of("Alice"), before)

    ew.encoder = mean_colour_encoder
    assert ew.identify(upload_value(("junk.bin", b"\x00\x01garbage"))) == []
    assert "junk.bin" in ew.messages[-1]
    empty = W.EnrolWidget(FaceDatabase(), mean_colour_encoder, preprocess=preprocess16)
    assert empty.identify(upload_value(good)) == [] and "empty" in empty.messages[-1]


def test_enrol_widget_aligns_real_photos_and_refuses_a_photo_without_a_face():
    """Default pipeline (no custom preprocess): detect + align. A photo of a face is enrolled as
    an aligned crop at the encoder's input size; a photo with no face is refused, naming the file,
    and nothing is enrolled (the database keeps what it had)."""
    pytest.importorskip("mtcnn")
    from skimage import data as skimage_data

    seen = []

    def encoder(batch):
        batch = np.asarray(batch, dtype=np.float64)
        seen.append(batch.shape)
        e = batch.reshape(len(batch), -1)[:, :8] + 1.0
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    db = FaceDatabase(threshold=0.5)
    ew = W.EnrolWidget(db, encoder)
    assert ew.align
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    assert not ew.enrol("Nobody", upload_value(("wall.png", png_bytes(noise))))
    assert len(db) == 0 and "no face found in “wall.png”" in ew.messages[-1]
    assert ew.enrol("Eileen", upload_value(("astronaut.png", png_bytes(skimage_data.astronaut()))))
    assert db.names == ["Eileen"] and seen[-1][1:] == (64, 64, 3)
    assert not ew.enrol("Eileen", upload_value(("astronaut.png", png_bytes(skimage_data.astronaut())),
                                               ("wall.png", png_bytes(noise))))
    assert db.count("Eileen") == 1                   # all-or-nothing: the failed upload added nothing
    assert not W.EnrolWidget(db, encoder, align=False).align
    # A 64×64 crop (a dataset face, made like the gallery's rows) is not re-aligned: the widget and
    # db.identify answer alike for one image. (Detection would refuse this noise crop.)
    crop = noise[:64, :64]
    assert ew.identify(upload_value(("crop.png", png_bytes(crop))))
    assert ew.last_results[0].name == db.identify(embedding=encoder(crop[None])[0]).name
    np.testing.assert_array_equal(ew.last_results[0].distance, db.identify(embedding=encoder(crop[None])[0]).distance)


def test_the_threshold_is_tau_and_alpha_stays_the_margin(explorer_data):
    """Issue 12: α is FaceNet's margin only; the explorer names the verification threshold τ."""
    d, s, pairs = explorer_data
    ex = W.ThresholdExplorer(d, s, pairs, title="test")
    texts = [ex.slider.description, ex.stats_html.value, ex.summary()]
    assert "τ" in ex.slider.description and "τ" in ex.summary()
    assert not any("α" in text for text in texts), texts



def test_the_live_example_strip_shows_each_pairs_faces_in_order(explorer_data):
    # The live view pastes a picture of each pair into the strip: every column must hold the faces
    # of the pair flipping_pairs puts there (left to right by distance), framed in the colour of the
    # truth (teal same person, orange different people, as in the histograms; right/wrong is the
    # ✓/✗ mark), for thresholds that bring in new pairs and take others out.
    from matplotlib.colors import to_rgb
    from course_utils.plots import DIFF_COLOR, SAME_COLOR

    d, s, pairs = explorer_data
    ex = W.ThresholdExplorer(d, s, pairs, n_examples=4)
    images = pairs.faces.images.astype(float)
    for t in np.quantile(d, [0.3, 0.5, 0.52, 0.7]):
        ex.set_threshold(float(t))
        assert [v["index"] for v in ex.examples] == list(metrics.flipping_pairs(d, s, ex.threshold, 4))
        picture = _pixels(bytes(ex.image.value))
        top, left, h, pitch = ex._panels.box
        for c, v in enumerate(ex.examples):
            column = picture[top:top + h, left + c * pitch:left + (c + 1) * pitch]
            for (y, x, side), k in zip(ex._panels.face_boxes(), (pairs.i[v["index"]], pairs.j[v["index"]])):
                shown = np.asarray(Image.fromarray(column[y:y + side, x:x + side]).resize(images.shape[1:3][::-1]),
                                   dtype=float)
                error = np.abs(images - shown).mean(axis=(1, 2, 3))
                assert np.argmin(error) == k or error[k] == error.min(), f"column {c}: not the pair's face"
            y, x, side = ex._panels.face_boxes()[0]
            frame = np.array(to_rgb(SAME_COLOR if v["same"] else DIFF_COLOR)) * 255
            assert np.abs(column[y - 2, x + side // 2] - frame).max() <= 2, f"column {c}: frame colour"


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 5, 3), (37, 64, 3), (120, 333, 3)])
def test_fast_png_encoder_is_lossless_as_pillow_reads_it(shape):
    from course_utils.widgets.png import rgb_png

    rng = np.random.default_rng(shape[1])
    noisy = rng.integers(0, 256, shape, dtype=np.uint8)
    flat = np.full(shape, 255, np.uint8)
    flat[shape[0] // 2:, : shape[1] // 3] = (231, 111, 81)        # plot-like: flat areas and edges
    for rgb in (noisy, flat, noisy[..., ::-1]):                    # also a non-contiguous view
        png = rgb_png(rgb)
        with Image.open(io.BytesIO(png)) as img:
            img.load()                                             # verifies the zlib stream and CRCs
            assert img.mode == "RGB" and img.size == (shape[1], shape[0])
            assert np.array_equal(np.asarray(img), rgb)
