import math
import warnings

import numpy as np
import pytest

from course_utils import training
from course_utils.exercises import loop_references as reference
from course_utils.datasets import Benchmark, load_synthetic, make_pairs
from course_utils.models import load_encoder


def tiny_bench():
    train = load_synthetic(12, 4, size=32, seed=0)
    val = make_pairs(load_synthetic(6, 3, size=32, seed=0, start=500), 40, seed=0)
    return Benchmark("synthetic", train, val, val)


TINY = dict(P=4, K=2, widths=(4, 8), stem=4, embedding_dim=8, steps_per_epoch=3)


def test_learning_rate_schedule_warmup_then_cosine():
    recipe = training.Recipe(learning_rate=1e-3, warmup=0.1, final_lr_fraction=0.01)
    sched = training.BudgetSchedule(recipe, loss=None, steps=100)
    assert sched.learning_rate(0.05) == pytest.approx(0.5e-3)
    assert sched.learning_rate(0.1) == pytest.approx(1e-3)
    assert sched.learning_rate(1.0) == pytest.approx(1e-5)
    mid = 0.1 + 0.9 / 2                      # half-way through the cosine part
    assert sched.learning_rate(mid) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    lrs = [sched.learning_rate(f) for f in np.linspace(0.1, 1, 50)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_mining_blend_ramps_linearly():
    sched = training.BudgetSchedule(training.Recipe(switch_start=0.2, switch_end=0.6), loss=None, steps=10)
    assert sched.blend(0.1) == 0 and sched.blend(0.4) == pytest.approx(0.5) and sched.blend(0.9) == 1


def test_budget_needs_exactly_one_of_time_or_steps():
    with pytest.raises(ValueError, match="exactly one"):
        training.BudgetSchedule(training.Recipe(), loss=None)


@pytest.mark.parametrize("blend", [0.0, 0.3, 1.0])
def test_scheduled_loss_is_the_blend_of_two_references(blend):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 3)
    emb = rng.normal(size=(12, 5)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    loss = training.ScheduledTripletLoss("batch_all", "batch_hard", margin=0.2)
    loss.blend.assign(blend)
    got = float(loss(labels.astype(np.float32), emb))
    ba = reference.batch_all_loop(labels, emb, 0.2)
    bh = reference.batch_hard_loop(labels, emb, 0.2)
    ba = ba[0] if isinstance(ba, tuple) else ba
    bh = bh[0] if isinstance(bh, tuple) else bh
    assert got == pytest.approx((1 - blend) * ba + blend * bh, rel=1e-4, abs=1e-6)


def test_collapse_detector_reads_the_signs():
    det = training.CollapseDetector(margin=0.2, patience=2)
    healthy = {"loss": 0.12, "d_pos": 0.6, "d_neg": 1.3, "val_d_spread": 0.3}
    pinned = {"loss": 0.2, "d_pos": 0.31, "d_neg": 0.31, "val_d_spread": 0.2}
    zero = {"loss": 0.2, "d_pos": 1e-5, "d_neg": 2e-5}
    assert det.diagnose(healthy) is None
    assert "pinned at the margin" in det.diagnose(pinned)
    assert "~0" in det.diagnose(zero)
    assert "all the same" in det.diagnose({"val_d_spread": 1e-5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det.on_epoch_end(0, pinned)
        assert not caught and not det.collapsed          # one bad epoch is not enough
        det.on_epoch_end(1, pinned)
    assert det.collapsed and any("collapsed" in str(w.message) for w in caught)


def test_train_encoder_end_to_end(tmp_path):
    bench = tiny_bench()
    path = tmp_path / "enc.keras"
    result = training.train_encoder(bench, steps=6, recipe=training.Recipe(**TINY), checkpoint=path,
                                    live=False, verbose=False)
    h = result.history
    assert len(h["loss"]) == 2 and len(h["val_auc"]) == 2
    assert all(0 <= a <= 1 for a in h["active_triplets"]) and all(0 <= a <= 1 for a in h["val_auc"])
    assert result.images_seen == 6 * 8 and result.seconds > 0
    assert all(math.isfinite(v) for v in h["loss"])
    assert h["lr"][-1] < training.Recipe().learning_rate          # cosine decayed
    assert path.exists()
    back = load_encoder(path)                                      # safe-mode load of the checkpoint
    assert back.output_shape[-1] == 8
    report = training.evaluate(result.model, bench.test)
    assert 0 <= report["auc"] <= 1 and 0 <= report["accuracy_mean"] <= 1


def test_training_is_repeatable_with_a_seed():
    bench = tiny_bench()
    runs = [training.train_encoder(bench, steps=3, recipe=training.Recipe(**TINY), checkpoint=None,
                                   live=False, verbose=False) for _ in range(2)]
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=1e-5)


def test_load_or_train_prefers_the_saved_encoder(tmp_path, monkeypatch):
    bench = tiny_bench()
    path = tmp_path / "enc.keras"
    first = training.train_encoder(bench, steps=3, recipe=training.Recipe(**TINY), checkpoint=path,
                                   live=False, verbose=False)
    loaded = training.load_or_train_encoder(bench, path=path, verbose=False)
    x = bench.test.faces.images[:4]
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(first.model(x)), atol=1e-5)


def test_bad_budgets_and_data_are_clear():
    with pytest.raises(ValueError, match="positive"):
        training.train_encoder(tiny_bench(), steps=0)
    with pytest.raises(ValueError, match="Benchmark or a FaceSet"):
        training.train_encoder(np.zeros((3, 32, 32, 3)), steps=1)


def test_load_or_train_ignores_an_encoder_from_another_dataset(tmp_path, capsys):
    bench = tiny_bench()
    path = tmp_path / "enc.keras"
    training.train_encoder(bench, steps=3, recipe=training.Recipe(**TINY), checkpoint=path, live=False, verbose=False)
    info = training.read_provenance(path)
    assert info["dataset"] == "synthetic" and info["images_seen"] == 3 * 8
    info["dataset"] = "lfw"
    training.write_provenance(path, info)
    training.load_or_train_encoder(bench, path=path, minutes=1 / 60, verbose=True, recipe=training.Recipe(**TINY))
    assert "trained on lfw" in capsys.readouterr().out
    assert training.read_provenance(path)["dataset"] == "synthetic"      # replaced by a new one


def test_a_quick_run_never_replaces_the_real_encoder_and_a_shorter_one_keeps_the_longer(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUICK", "1")
    quick = training.default_encoder_path()
    monkeypatch.setenv("COURSE_QUICK", "0")
    real = training.default_encoder_path()
    assert quick != real and real.name == "encoder.keras" and quick.parent == real.parent
    assert training.default_encoder_path(quick=False) == real

    bench = tiny_bench()
    path = tmp_path / "enc.keras"
    long = training.train_encoder(bench, steps=4, recipe=training.Recipe(**TINY), checkpoint=path, live=False, verbose=False)
    capsys.readouterr()
    training.train_encoder(bench, steps=2, recipe=training.Recipe(**TINY), checkpoint=path, live=False, verbose=True)
    out = capsys.readouterr().out
    backup = tmp_path / "enc.previous.keras"
    assert "had seen more images (32 vs 16)" in out and backup.name in out
    assert training.read_provenance(backup)["images_seen"] == 32 and training.read_provenance(path)["images_seen"] == 16
    x = bench.test.faces.images[:3]
    np.testing.assert_allclose(np.asarray(load_encoder(backup)(x)), np.asarray(long.model(x)), atol=1e-5)
    line = training.describe_encoder(path)
    assert "/enc.keras: synthetic, 16 images in " in line and "validation AUC" in line, line


# ----------------------------------------------------------------------------- issue 16: BN and precision
def test_reestimate_batchnorm_sets_the_batch_statistics_of_the_final_weights():
    import keras
    from course_utils.models import build_encoder

    faces = load_synthetic(6, 3, size=32, seed=1)
    model = build_encoder((32, 32, 3), 8, widths=(4, 8), stem=4)
    bn = model.get_layer("stem_bn")
    # Every batch holds all 18 images, so the re-estimated statistics must be exactly those of
    # this set (running statistics start at mean 0 / variance 1, which must be fully replaced).
    assert training.reestimate_batchnorm(model, faces, batches=3, batch_size=64) == 3
    stem_out = keras.Model(model.input, model.get_layer("stem_conv").output)
    conv = np.asarray(stem_out(faces.images.astype("float32")), np.float64)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), conv.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)
    assert bn.momentum == 0.99                                    # restored


def test_train_encoder_with_batchnorm_pass_and_previous_recipe():
    bench = tiny_bench()
    result = training.train_encoder(bench, steps=3, recipe=training.Recipe(**TINY, reestimate_bn=2),
                                    checkpoint=None, live=False, verbose=False)
    assert result.images_seen == 3 * 8
    before = training.Recipe.previous()
    assert (before.precision, before.reestimate_bn, before.steps_per_epoch) == ("float32", 0, 50)


def test_cpu_bf16_flags_reads_cpuinfo():
    assert training.cpu_bf16_flags("processor: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile amx_bf16\n") == \
        ["avx512_bf16", "amx_bf16"]
    assert training.cpu_bf16_flags("flags : fpu sse avx512f avx512_vnni\n") == []


def test_choose_precision(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    recipe = training.Recipe(**TINY)
    no_bf16 = "flags : fpu avx512f\n"
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=no_bf16) == "float32"
    assert "no bfloat16 instructions" in capsys.readouterr().out
    # With bfloat16 instructions the choice follows the measured speed (10 % margin), measured
    # once per CPU model and remembered: a later run never re-times, so it cannot flip.
    speeds, timed = {}, []
    monkeypatch.setattr(training, "_time_policy", lambda policy, *a, **k: timed.append(policy) or speeds[policy])
    amx = "model name : Fast CPU\nflags : fpu avx512_bf16 amx_bf16\n"
    speeds.update(float32=100.0, mixed_bfloat16=140.0)
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=amx) == "mixed_bfloat16"
    assert "~1.4× faster" in capsys.readouterr().out and len(timed) == 2
    speeds.update(float32=100.0, mixed_bfloat16=105.0)          # a loaded machine would now measure this ...
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=amx) == "mixed_bfloat16"   # ... but the first choice stands
    assert len(timed) == 2
    slow = "model name : Slow CPU\nflags : fpu avx512_bf16\n"
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=slow) == "float32"
    assert "only 1.05× as fast" in capsys.readouterr().out
    # Quick/test mode and grading never measure: float32 on every CPU.
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=amx) == "float32"
    monkeypatch.delenv("COURSE_QUICK")
    monkeypatch.setenv("COURSE_GRADING", "1")
    assert training.choose_precision(recipe, (32, 32, 3), cpuinfo=amx) == "float32"
    assert len(timed) == 4
    assert training.choose_precision(training.Recipe(precision="float32"), (32, 32, 3)) == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        training.choose_precision(training.Recipe(precision="fp8"), (32, 32, 3))


def test_train_encoder_under_mixed_bfloat16_gives_a_float32_model(tmp_path):
    """Mixed precision is a training detail: the trained model, its checkpoint and everything
    computed from them are float32, and the global policy is the caller's again afterwards."""
    import keras
    from course_utils import losses
    from course_utils.models import embed, is_float32, load_encoder

    bench = tiny_bench()
    path = tmp_path / "enc.keras"
    result = training.train_encoder(bench, steps=3, recipe=training.Recipe(**TINY, precision="mixed_bfloat16"),
                                    checkpoint=path, live=False, verbose=False)
    assert keras.mixed_precision.global_policy().name == "float32"     # restored
    assert all(math.isfinite(v) for k in ("loss", "active_triplets", "d_pos", "d_neg") for v in result.history[k])
    assert is_float32(result.model) and is_float32(load_encoder(path))
    e = embed(result.model, bench.train.images[:16])
    assert e.dtype == np.float32
    np.testing.assert_allclose(embed(load_encoder(path), bench.train.images[:16]), e, atol=1e-6)
    # As lesson 5 embeds (training=True: batch statistics; this also moves the BN averages).
    out = result.model(bench.train.images[:16].astype("float32"), training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # Lesson 5's own code on these embeddings: ops in float32 mixed with float32 constants.
    loss, _ = losses.batch_hard_triplet_loss(bench.train.labels[:16], out, 0.2)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    report = training.evaluate(result.model, bench.test)
    assert 0 <= report["auc"] <= 1


def test_a_model_built_under_a_mixed_policy_still_embeds_in_float32():
    """Any encoder the course builds under a global mixed_bfloat16 policy returns float32, and
    its float32 copy gives the embeddings a float32 build with the same weights gives."""
    import keras
    from course_utils.models import as_float32, build_encoder, embed, is_float32

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_encoder((32, 32, 3), 8, widths=(4, 8), stem=4)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    x = load_synthetic(4, 2, size=32, seed=2).images.astype("float32")
    assert not is_float32(mixed) and keras.backend.standardize_dtype(mixed(x).dtype) == "float32"
    plain = build_encoder((32, 32, 3), 8, widths=(4, 8), stem=4)
    plain.set_weights(mixed.get_weights())
    copy = as_float32(mixed)
    assert is_float32(copy) and as_float32(plain) is plain
    np.testing.assert_allclose(embed(copy, x), embed(plain, x), atol=1e-6)
    assert not np.allclose(embed(mixed, x), embed(plain, x), atol=1e-6)    # bfloat16 compute really differs


def test_the_policy_is_restored_when_training_fails():
    import keras
    bench = tiny_bench()
    with pytest.raises(ValueError):
        training.train_encoder(bench, steps=1, recipe=training.Recipe(**TINY, precision="mixed_bfloat16", head="avg"),
                               checkpoint=None, live=False, verbose=False)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_recipe_builds_its_own_architecture_and_trains_it():
    import keras
    bench = tiny_bench()
    shape = bench.train.images.shape[1:]
    kinds = lambda m: {type(layer).__name__ for layer in m.layers}          # noqa: E731
    assert "Flatten" in kinds(training.Recipe(**TINY).build_encoder(shape))                # the course's head
    assert "GlobalAveragePooling2D" in kinds(training.Recipe(**TINY, head="gap").build_encoder(shape))
    assert training.Recipe.previous().head == "gap"                                        # before issue 16
    for head in ("flatten", "gap"):
        result = training.train_encoder(bench, steps=2, recipe=training.Recipe(**TINY, head=head),
                                        checkpoint=None, live=False, verbose=False)
        fresh = training.Recipe(**TINY, head=head).build_encoder(shape)
        assert [w.shape for w in result.model.weights] == [w.shape for w in fresh.weights]
        assert isinstance(result.model.get_layer("l2_normalize"), keras.layers.Layer)
    with pytest.raises(ValueError, match="head must be one of"):
        training.train_encoder(bench, steps=1, recipe=training.Recipe(**TINY, head="avg"), checkpoint=None,
                               live=False, verbose=False)


def test_lesson_7s_untrained_encoder_is_lesson_6s():
    """Lessons 7 and 8 make their untrained encoder with ``set_random_seed(0)`` then
    ``clone_model`` of the trained one; lesson 6 with ``set_seed(0)`` then
    ``Recipe().build_encoder``. For the default recipe both draws give the same weights."""
    import keras

    from course_utils.config import set_seed
    shape = (64, 64, 3)
    set_seed(0)
    lesson6 = training.Recipe().build_encoder(shape)
    trained = training.Recipe().build_encoder(shape)
    trained.set_weights([w + 1.0 for w in trained.get_weights()])      # stands for lesson 6's result
    keras.utils.set_random_seed(0)
    lesson7 = keras.models.clone_model(trained)
    ours, theirs = lesson6.get_weights(), lesson7.get_weights()
    assert [w.shape for w in ours] == [w.shape for w in theirs]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    images = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    np.testing.assert_array_equal(lesson6.predict(images, verbose=0), lesson7.predict(images, verbose=0))
