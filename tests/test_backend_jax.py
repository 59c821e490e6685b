"""The library's Keras-native half on the JAX backend: what the README promises for it.

``losses`` and ``models`` use ``keras.ops`` only. Under ``KERAS_BACKEND=jax`` (in a child process:
this one already runs Keras on TensorFlow) the distances and triplet losses must match the NumPy
loop references, differentiate and compile with JAX's own tools (``jax.grad``, ``jax.jit``), and
an encoder must build, embed unit vectors, train with ``fit`` and survive a ``.keras`` round trip.
Training through ``train_encoder``, the exercise checks and grading need TensorFlow (README).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

jax = pytest.importorskip("jax", reason="jax is not installed: pip install 'jax[cpu]' to test the JAX backend")

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import keras, jax
    from course_utils import losses, models
    from course_utils.exercises import loop_references as ref

    out = {"backend": keras.backend.backend()}
    rng = np.random.default_rng(0)
    e = rng.normal(size=(12, 16)).astype("float32")
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    labels = np.repeat(np.arange(4), 3)
    out["pairwise"] = float(np.max(np.abs(np.asarray(losses.pairwise_squared_distances(e))
                                          - ref.pairwise_squared_distances_loop(e))))
    a, p, n = e[:4], e[4:8], e[8:]
    out["triplet"] = [float(losses.triplet_loss(a, p, n, 0.2)), ref.triplet_loss_loop(a, p, n, 0.2)]
    for strategy, loop in [("batch_all", ref.batch_all_loop), ("batch_hard", ref.batch_hard_loop)]:
        loss = losses.TripletLoss(strategy=strategy, margin=0.2)
        f = lambda x: loss(labels, x)
        grad = np.asarray(jax.grad(f)(e))
        out[strategy] = {"keras": float(f(e)), "loop": float(loop(labels, e, 0.2)[0]), "jit": float(jax.jit(f)(e)),
                         "grad_finite": bool(np.isfinite(grad).all()), "grad_nonzero": bool(np.abs(grad).sum() > 0)}

    model = models.build_encoder((32, 32, 3), 8, widths=(4, 8), stem=4)
    x = rng.integers(0, 255, size=(32, 32, 32, 3)).astype("uint8")
    before = models.embed(model, x)
    out["norms"] = np.linalg.norm(before, axis=1).tolist()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=losses.TripletLoss("batch_all", 0.2))
    history = model.fit(x.astype("float32"), np.repeat(np.arange(8), 4), batch_size=32, epochs=3, verbose=0)
    out["loss"] = [float(v) for v in history.history["loss"]]
    after = models.embed(model, x)
    out["moved"] = float(np.abs(after - before).max())
    path = models.save_encoder(model, os.path.join(sys.argv[1], "enc.keras"))
    out["reloaded"] = float(np.abs(models.embed(models.load_encoder(path), x) - after).max())
    print("RESULT " + json.dumps(out))
''')


@pytest.fixture(scope="module")
def on_jax(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    line = next((l for l in run.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert run.returncode == 0 and line, run.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


def test_the_child_really_runs_keras_on_jax(on_jax):
    assert on_jax["backend"] == "jax"


def test_distances_and_losses_match_the_loop_references_on_jax(on_jax):
    assert on_jax["pairwise"] < 1e-5
    assert on_jax["triplet"][0] == pytest.approx(on_jax["triplet"][1], abs=1e-5)
    for strategy in ("batch_all", "batch_hard"):
        r = on_jax[strategy]
        assert r["keras"] == pytest.approx(r["loop"], abs=1e-5), strategy
        assert r["jit"] == pytest.approx(r["keras"], abs=1e-6), strategy          # jax.jit compiles it
        assert r["grad_finite"] and r["grad_nonzero"], strategy                   # jax.grad differentiates it


def test_an_encoder_builds_trains_and_round_trips_on_jax(on_jax):
    assert all(abs(v - 1) < 1e-4 for v in on_jax["norms"])                      # unit-length embeddings
    assert len(on_jax["loss"]) == 3 and all(v == v for v in on_jax["loss"])
    assert on_jax["moved"] > 1e-4                                               # fit changed the weights
    assert on_jax["reloaded"] < 1e-5                                            # .keras saved and loaded
