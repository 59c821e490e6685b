"""Tests for course_utils.losses against the loop references in course_utils.exercises.loop_references."""
from __future__ import annotations

import ast
import itertools
from pathlib import Path

import course_utils  # noqa: F401  (quiet TensorFlow start-up)
import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import losses as L
from course_utils.exercises import loop_references as R

STRATEGIES = ["batch_all", "batch_hard", "semi_hard"]


# ---------------------------------------------------------------------------
# Test batches
# ---------------------------------------------------------------------------

def _pk(p, k):
    return np.repeat(np.arange(p), k)


# name -> (labels, dim, normalised). Covers B = 4, 8, 16, 33 and dim = 2, 8, 128.
LAYOUTS = {
    "P2xK2": (_pk(2, 2), 2, True),
    "P2xK4": (_pk(2, 4), 8, True),
    "P4xK2_shuffled": (np.random.default_rng(1).permutation(_pk(4, 2)) + 10, 128, False),
    "P4xK4": (_pk(4, 4), 8, True),
    "P3xK5_plus_singleton": (np.array([0] * 5 + [1] * 5 + [2] * 5 + [9]), 128, True),
    "P8xK4_plus_singleton": (np.append(_pk(8, 4), 99), 8, False),
    "P11xK3_shuffled": (np.random.default_rng(2).permutation(_pk(11, 3)), 2, True),
    "no_negatives": (np.full(8, 3), 8, True),
    "no_positives": (np.arange(4) * 7, 2, True),
}
DUPLICATES = ["none", "same_id", "cross_id"]
INPUTS = [("numpy", "float32"), ("numpy", "float64"), ("tf", "float32"), ("tf", "float64")]


def _embeddings(labels, dim, normalised=True, duplicates="none", seed=0):
    """Random float64 embeddings; optionally make two rows identical."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(len(labels), dim))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    if not normalised:
        e *= rng.uniform(0.3, 2.0, size=(len(labels), 1))
    pairs = [(i, j) for i, j in itertools.combinations(range(len(labels)), 2)
             if (labels[i] == labels[j]) == (duplicates == "same_id")]
    if duplicates == "collapse":
        e[:] = e[0]
    elif duplicates != "none" and pairs:
        i, j = pairs[len(pairs) // 2]
        e[j] = e[i]
    return e


def _as_input(x, kind, dtype):
    x = np.asarray(x).astype(dtype)
    return tf.constant(x) if kind == "tf" else x


def _tol(dtype, sqrt=False):
    if dtype == "float32":
        return dict(rtol=2e-4, atol=1e-3 if sqrt else 2e-5)
    return dict(rtol=1e-9, atol=1e-6 if sqrt else 1e-10)


def _assert_loss_and_stats(result, expected, dtype, what):
    loss, stats = result
    ref_loss, ref_stats = expected
    assert set(stats) == set(ref_stats), what
    assert keras.backend.standardize_dtype(loss.dtype) == dtype, what
    np.testing.assert_allclose(float(loss), ref_loss, **_tol(dtype), err_msg=f"{what}: loss")
    for key, value in ref_stats.items():
        np.testing.assert_allclose(float(stats[key]), value, **_tol(dtype),
                                   err_msg=f"{what}: stats[{key!r}]")


# ---------------------------------------------------------------------------
# Vectorised vs loop reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind,dtype", INPUTS)
@pytest.mark.parametrize("duplicates", DUPLICATES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_matches_loop_reference(layout, duplicates, kind, dtype):
    labels, dim, normalised = LAYOUTS[layout]
    e64 = _embeddings(labels, dim, normalised, duplicates, seed=len(labels) * dim)
    e = _as_input(e64, kind, dtype)
    y = tf.constant(labels) if kind == "tf" else labels
    # The reference sees exactly the numbers the vectorised code sees.
    e_ref = np.asarray(e64.astype(dtype), dtype=np.float64)

    d2 = L.pairwise_squared_distances(e)
    assert keras.backend.standardize_dtype(d2.dtype) == dtype
    d2 = np.asarray(d2)
    np.testing.assert_allclose(d2, R.pairwise_squared_distances_loop(e_ref), **_tol(dtype))
    # The checks' broadcasting truth agrees with the loop it stands in for.
    np.testing.assert_allclose(R.squared_distance_matrix(e_ref), R.pairwise_squared_distances_loop(e_ref),
                               rtol=1e-12, atol=1e-12)
    assert np.all(d2 >= 0) and np.all(np.diag(d2) == 0)
    np.testing.assert_allclose(np.asarray(L.pairwise_distances(e)),
                               R.pairwise_distances_loop(e_ref), **_tol(dtype, sqrt=True))
    np.testing.assert_array_equal(np.asarray(L.pairwise_distances(e, squared=True)), d2)

    np.testing.assert_array_equal(np.asarray(L.positive_mask(y)), R.positive_mask_loop(labels))
    np.testing.assert_array_equal(np.asarray(L.negative_mask(y)), R.negative_mask_loop(labels))
    np.testing.assert_array_equal(np.asarray(L.triplet_mask(y)), R.triplet_mask_loop(labels))

    for margin in (0.2, 1.0):
        _assert_loss_and_stats(L.batch_all_triplet_loss(y, e, margin),
                               R.batch_all_loop(labels, e_ref, margin), dtype, f"batch_all m={margin}")
        _assert_loss_and_stats(L.batch_hard_triplet_loss(y, e, margin),
                               R.batch_hard_loop(labels, e_ref, margin), dtype, f"batch_hard m={margin}")
        _assert_loss_and_stats(L.semi_hard_triplet_loss(y, e, margin),
                               R.semi_hard_loop(labels, e_ref, margin), dtype, f"semi_hard m={margin}")
    loss, stats = L.batch_hard_triplet_loss(y, e, 0.2, squared=False)
    ref_loss, ref_stats = R.batch_hard_loop(labels, e_ref, 0.2, squared=False)
    np.testing.assert_allclose(float(loss), ref_loss, **_tol(dtype, sqrt=True))
    np.testing.assert_allclose(float(stats["fraction_active"]), ref_stats["fraction_active"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["P4xK4", "no_negatives", "P3xK5_plus_singleton"])
def test_collapsed_embeddings_match_reference(layout, dtype):
    """Every embedding identical (a collapsed model): every distance is 0."""
    labels, dim, _ = LAYOUTS[layout]
    e = _embeddings(labels, dim, duplicates="collapse").astype(dtype)
    np.testing.assert_array_equal(np.asarray(L.pairwise_squared_distances(e)), 0.0)
    np.testing.assert_array_equal(np.asarray(L.pairwise_distances(e)), 0.0)
    for strategy in STRATEGIES:
        _assert_loss_and_stats(L.triplet_loss_from_batch(labels, e, strategy),
                               R.triplet_loss_from_batch_loop(labels, e, strategy), dtype, strategy)


def test_no_triplets_gives_zero_not_nan():
    for labels in (np.full(6, 1), np.arange(6)):
        e = _embeddings(labels, 4)
        for strategy in STRATEGIES:
            loss, stats = L.triplet_loss_from_batch(labels, e, strategy)
            assert float(loss) == 0.0
            assert all(np.isfinite(float(v)) for v in stats.values())


@pytest.mark.parametrize("kind,dtype", INPUTS)
@pytest.mark.parametrize("batch,dim", [(4, 2), (16, 8), (33, 128)])
def test_triplet_loss_matches_loop(batch, dim, kind, dtype):
    rng = np.random.default_rng(batch + dim)
    a, p, n = (rng.normal(size=(batch, dim)) for _ in range(3))
    p[0] = a[0]            # a duplicate: d(a, p) = 0
    n[1] = a[1]            # d(a, n) = 0
    inputs = [_as_input(x, kind, dtype) for x in (a, p, n)]
    refs = [x.astype(dtype) for x in (a, p, n)]
    for alpha in (0.0, 0.2, 5.0):
        loss = L.triplet_loss(*inputs, alpha=alpha)
        assert keras.backend.standardize_dtype(loss.dtype) == dtype
        np.testing.assert_allclose(float(loss), R.triplet_loss_loop(*refs, alpha=alpha), **_tol(dtype))


def test_dispatcher_matches_direct_calls():
    labels, dim, _ = LAYOUTS["P4xK4"]
    e = _embeddings(labels, dim).astype("float32")
    direct = {"batch_all": L.batch_all_triplet_loss, "batch_hard": L.batch_hard_triplet_loss,
              "semi_hard": L.semi_hard_triplet_loss}
    for strategy, fn in direct.items():
        assert float(L.triplet_loss_from_batch(labels, e, strategy, 0.3)[0]) == \
            float(fn(labels, e, 0.3)[0])


def test_label_forms_agree():
    """int, int64 tensor, float32 (as Keras passes y_true) and (B, 1) give the same loss."""
    labels, dim, _ = LAYOUTS["P8xK4_plus_singleton"]
    e = _embeddings(labels, dim).astype("float32")
    forms = [labels, labels.astype("int64"), tf.constant(labels, tf.int64),
             labels.astype("float32"), labels.astype("float32")[:, None],
             tf.constant(labels[:, None], tf.float32), list(labels)]
    for strategy in STRATEGIES:
        values = [float(L.triplet_loss_from_batch(f, e, strategy)[0]) for f in forms]
        assert values == [values[0]] * len(values), strategy


def test_large_int64_ids_are_not_truncated():
    """Ids that differ only above 2**32 must stay different people."""
    labels = np.array([1, 1, 1 + 2**32, 1 + 2**32], dtype=np.int64)
    e = _embeddings(labels, 4)
    np.testing.assert_array_equal(np.asarray(L.negative_mask(labels)), R.negative_mask_loop(labels))
    assert float(L.batch_all_triplet_loss(labels, e)[1]["fraction_active"]) == \
        pytest.approx(R.batch_all_loop(labels, e)[1]["fraction_active"])


def test_works_with_unknown_batch_size_in_tf_function():
    labels, dim, _ = LAYOUTS["P4xK4"]
    e = _embeddings(labels, dim).astype("float32")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32),
                                  tf.TensorSpec([None, dim], tf.float32)])
    def all_losses(y, x):
        return [L.triplet_loss_from_batch(y, x, s)[0] for s in STRATEGIES]

    got = all_losses(labels.astype("float32"), e)
    for strategy, value in zip(STRATEGIES, got):
        np.testing.assert_allclose(float(value), R.triplet_loss_from_batch_loop(labels, e, strategy)[0],
                                   **_tol("float32"))


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------

def _gradient(fn, e):
    x = tf.Variable(e)
    with tf.GradientTape() as tape:
        value = fn(x)
    return tape.gradient(value, x).numpy()


GRADIENT_FUNCTIONS = {
    "batch_all": lambda y: lambda x: L.batch_all_triplet_loss(y, x)[0],
    "batch_hard": lambda y: lambda x: L.batch_hard_triplet_loss(y, x)[0],
    "batch_hard_euclidean": lambda y: lambda x: L.batch_hard_triplet_loss(y, x, squared=False)[0],
    "semi_hard": lambda y: lambda x: L.semi_hard_triplet_loss(y, x)[0],
    "pairwise_distances": lambda y: lambda x: tf.reduce_sum(L.pairwise_distances(x)),
    "triplet_loss": lambda y: lambda x: L.triplet_loss(x[0:2], x[2:4], x[4:6]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("duplicates", ["none", "same_id", "cross_id", "collapse"])
@pytest.mark.parametrize("layout", ["P4xK4", "no_negatives"])
@pytest.mark.parametrize("name", list(GRADIENT_FUNCTIONS))
def test_gradients_are_finite(name, layout, duplicates, dtype):
    labels, dim, _ = LAYOUTS[layout]
    e = _embeddings(labels[:15], dim, duplicates=duplicates).astype(dtype)
    grad = _gradient(GRADIENT_FUNCTIONS[name](labels[:15]), e)
    assert grad.shape == e.shape
    assert np.all(np.isfinite(grad)), f"{name}: non-finite gradient"


def test_naive_sqrt_would_give_nan():
    """Control: the duplicate batch really hits sqrt(0) — a naive sqrt gives NaN there."""
    labels, dim, _ = LAYOUTS["P4xK4"]
    e = _embeddings(labels, dim, duplicates="same_id").astype("float32")
    naive = _gradient(lambda x: tf.reduce_sum(tf.sqrt(L.pairwise_squared_distances(x))), e)
    assert np.isnan(naive).any()
    safe = _gradient(lambda x: tf.reduce_sum(L.pairwise_distances(x)), e)
    assert np.all(np.isfinite(safe))


@pytest.mark.parametrize("name", ["batch_all", "batch_hard", "batch_hard_euclidean", "semi_hard",
                                  "pairwise_distances"])
def test_gradients_match_finite_differences(name):
    labels = _pk(3, 3)
    e = _embeddings(labels, 3, normalised=False, seed=5)
    fn = GRADIENT_FUNCTIONS[name](labels)
    grad = _gradient(fn, e)
    numeric = np.zeros_like(e)
    h = 1e-6
    for idx in np.ndindex(*e.shape):
        plus, minus = e.copy(), e.copy()
        plus[idx] += h
        minus[idx] -= h
        numeric[idx] = (float(fn(tf.constant(plus))) - float(fn(tf.constant(minus)))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# Keras integration
# ---------------------------------------------------------------------------

def _tiny_model(dim_in=16, dim_out=8):
    inputs = keras.Input((dim_in,))
    x = keras.layers.Dense(dim_out)(inputs)
    outputs = keras.layers.UnitNormalization()(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_triplet_loss_trains_in_model_fit(strategy, tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 16)).astype("float32")
    y = _pk(8, 4)
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=L.TripletLoss(strategy, margin=0.3),
                  metrics=L.triplet_metrics(strategy, margin=0.3))
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    logs = history.history
    assert {"loss", "active_triplets", "d_pos", "d_neg"} <= set(logs)
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert 0.0 <= logs["active_triplets"][-1] <= 1.0
    # The metrics report the mean of the per-batch stats of the loss function.
    # (Checked on the trained model's embeddings, one batch at a time.)
    model.evaluate(x, y, batch_size=16, verbose=0)
    emb = np.asarray(model(x))
    expected = np.mean([R.triplet_loss_from_batch_loop(y[i:i + 16], emb[i:i + 16], strategy, 0.3)[1]
                        ["mean_negative_distance"] for i in (0, 16)])
    assert float(model.get_metrics_result()["d_neg"]) == pytest.approx(expected, rel=1e-4)
    if strategy == "semi_hard":  # one save/load round-trip, without custom_objects
        path = tmp_path / "tiny.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert isinstance(loaded.loss, L.TripletLoss)
        assert (loaded.loss.strategy, loaded.loss.margin) == ("semi_hard", 0.3)
        np.testing.assert_allclose(np.asarray(loaded(x)), emb, rtol=1e-6, atol=1e-6)


def test_triplet_loss_serialization_round_trip():
    loss = L.TripletLoss("batch_hard", margin=0.35, name="my_triplet")
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == "course_utils>TripletLoss"
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, L.TripletLoss)
    assert clone.get_config() == loss.get_config()
    assert (clone.strategy, clone.margin, clone.name) == ("batch_hard", 0.35, "my_triplet")
    labels, dim, _ = LAYOUTS["P4xK4"]
    e = _embeddings(labels, dim).astype("float32")
    assert float(clone(labels.astype("float32"), e)) == pytest.approx(
        R.batch_hard_loop(labels, e, 0.35)[0], rel=1e-5)


def test_metrics_serialization_round_trip():
    labels, dim, _ = LAYOUTS["P4xK4"]
    e = _embeddings(labels, dim).astype("float32")
    ref = R.semi_hard_loop(labels, e, 0.5)[1]
    metrics = L.triplet_metrics("semi_hard", 0.5)
    assert [m.name for m in metrics] == ["active_triplets", "d_pos", "d_neg"]
    for metric, key in zip(metrics, ["fraction_active", "mean_positive_distance",
                                     "mean_negative_distance"]):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        for m in (metric, clone):
            m.update_state(labels.astype("float32"), e)
            m.update_state(labels.astype("float32"), e)
            assert float(m.result()) == pytest.approx(ref[key], rel=1e-5, abs=1e-6)


# ---------------------------------------------------------------------------
# Errors students may hit
# ---------------------------------------------------------------------------

def _raises_plain_value_error(fn, *args, match, **kwargs):
    """ValueError with the expected message, raised in our code before any TF/Keras code ran."""
    with pytest.raises(ValueError, match=match) as info:
        fn(*args, **kwargs)
    frames = [str(entry.path) for entry in info.traceback]
    assert not any("site-packages" in f for f in frames), frames
    return info


def test_bad_inputs_raise_clear_errors():
    labels = _pk(4, 4)
    e = _embeddings(labels, 8).astype("float32")
    for fn in (L.batch_all_triplet_loss, L.batch_hard_triplet_loss, L.semi_hard_triplet_loss):
        _raises_plain_value_error(fn, labels[:-1], e, match="15 entries but `embeddings` has 16 rows")
        _raises_plain_value_error(fn, labels, e[0], match="2-D array of shape")
        _raises_plain_value_error(fn, labels, e[None], match=r"got shape \(1, 16, 8\)")
        _raises_plain_value_error(fn, e, labels, match="swap")
        _raises_plain_value_error(fn, np.stack([labels, labels], 1), e, match=r"\(batch,\) or \(batch, 1\)")
        _raises_plain_value_error(fn, labels, e, margin=-0.1, match="margin")
    _raises_plain_value_error(L.batch_all_triplet_loss, tf.constant(labels[:3]), tf.constant(e),
                              match="3 entries")
    _raises_plain_value_error(L.pairwise_squared_distances, e[0], match="2-D")
    _raises_plain_value_error(L.pairwise_distances, e[None], match="2-D")
    _raises_plain_value_error(L.positive_mask, e, match=r"\(batch,\) or \(batch, 1\)")
    _raises_plain_value_error(L.triplet_loss, e, e, e[:3], match="same shape")
    _raises_plain_value_error(L.triplet_loss, e, e, e[0], match="negative")
    _raises_plain_value_error(L.batch_all_triplet_loss, np.array(["a"] * 16), e, match="integer")


def test_unknown_strategy_lists_the_options():
    labels = _pk(2, 2)
    e = _embeddings(labels, 2)
    for call in (lambda: L.triplet_loss_from_batch(labels, e, "hardest"),
                 lambda: L.TripletLoss("hardest"),
                 lambda: L.triplet_metrics("hardest")):
        with pytest.raises(ValueError, match="'batch_all', 'batch_hard', 'semi_hard'"):
            call()


def test_losses_module_uses_keras_ops_only():
    """No TensorFlow in losses.py, so it runs on the JAX and PyTorch backends too."""
    source = Path(L.__file__).read_text()
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in getattr(node, "names", [])}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "tensorflow" not in imported
    assert not any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                   and n.value.id == "tf" for n in ast.walk(tree))


# ---------------------------------------------------------------------------
# Half precision: float16 / bfloat16 embeddings and mixed-precision policies
# ---------------------------------------------------------------------------
# float16 overflows above 65,504 and bfloat16 counts integers exactly only up to 256: a
# P=64, K=4 batch has 193,536 valid triplets, so counts and sums must be accumulated in float32.

HALF_LAYOUTS = {"P64xK4": (_pk(64, 4), 128), "P8xK4_plus_singleton": (np.append(_pk(8, 4), 99), 8),
                "P4xK4": (_pk(4, 4), 8)}
HALF_TOL = {"float16": dict(rtol=2e-3, atol=1e-4), "bfloat16": dict(rtol=1e-2, atol=1e-3)}
STAT_TOL = dict(rtol=1e-4, atol=1e-6)   # stats stay float32


def _half(e64, dtype):
    """``(tensor in dtype, the same numbers as float64)``."""
    e = tf.cast(tf.constant(e64, tf.float32), dtype)
    return e, tf.cast(e, tf.float64).numpy()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("layout", list(HALF_LAYOUTS))
def test_half_precision_matches_loop_reference(layout, dtype):
    labels, dim = HALF_LAYOUTS[layout]
    e, e_ref = _half(_embeddings(labels, dim, seed=dim), dtype)
    for strategy in STRATEGIES:
        loss, stats = L.triplet_loss_from_batch(labels, e, strategy)
        ref_loss, ref_stats = R.triplet_loss_from_batch_loop(labels, e_ref, strategy)
        what = f"{strategy} {dtype} {layout}"
        assert keras.backend.standardize_dtype(loss.dtype) == dtype, what
        assert ref_loss > 0.01, what   # a loss that underflowed to 0 must not pass
        np.testing.assert_allclose(float(loss), ref_loss, **HALF_TOL[dtype], err_msg=what)
        for key, value in ref_stats.items():
            assert keras.backend.standardize_dtype(stats[key].dtype) == "float32", what
            np.testing.assert_allclose(float(stats[key]), value, **STAT_TOL, err_msg=f"{what}: {key}")
        for stat in (s for s in ref_stats if s in L.METRIC_STATS.values()):   # the ones logged as metrics
            np.testing.assert_allclose(float(L.triplet_stat(labels.astype("float32"), e, stat, strategy)),
                                       ref_stats[stat], **STAT_TOL, err_msg=f"{what}: triplet_stat {stat}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_plain_triplet_loss(dtype):
    rng = np.random.default_rng(3)
    a, p, n = (_half(rng.normal(size=(4096, 64)), dtype) for _ in range(3))
    loss = L.triplet_loss(a[0], p[0], n[0], alpha=0.2)
    assert keras.backend.standardize_dtype(loss.dtype) == dtype
    np.testing.assert_allclose(float(loss), R.triplet_loss_loop(a[1], p[1], n[1], 0.2), **HALF_TOL[dtype])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_loss_and_metrics_under_mixed_precision_policy(policy, strategy):
    """A model under a mixed policy outputs half-precision embeddings: loss and metrics stay right."""
    labels = _pk(64, 4)
    x = np.random.default_rng(5).normal(size=(len(labels), 16)).astype("float32")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        from course_utils.models import L2Normalize   # the course encoder's head
        inputs = keras.Input((16,))
        model = keras.Model(inputs, L2Normalize()(keras.layers.Dense(32)(inputs)))
        model.compile(optimizer="sgd", loss=L.TripletLoss(strategy),
                      metrics=L.triplet_metrics(strategy))
        emb = model.predict(x, batch_size=len(labels), verbose=0)
        assert keras.backend.standardize_dtype(emb.dtype) == policy.split("_")[1]
        logs = model.evaluate(x, labels, batch_size=len(labels), verbose=0, return_dict=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    ref_loss, ref_stats = R.triplet_loss_from_batch_loop(labels, np.asarray(emb, np.float64), strategy)
    np.testing.assert_allclose(logs["loss"], ref_loss, rtol=1e-3, atol=1e-5)
    for name, key in L.METRIC_STATS.items():
        np.testing.assert_allclose(logs[name], ref_stats[key], **STAT_TOL, err_msg=f"{policy} {name}")
