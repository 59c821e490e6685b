"""Tests for course_utils.synthetic: shapes, determinism, prefix property, difficulty, errors."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from course_utils.synthetic import identity_params, make_synthetic_faces, render_faces


def test_shapes_dtypes_and_names():
    images, labels, names = make_synthetic_faces(3, 4, size=32, start=40)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert names == ["synth_00040", "synth_00041", "synth_00042"]
    for size in (16, 33, 96, 128):
        out = render_faces(np.array([0, 1]), np.array([0, 0]), size=size)
        assert out.shape == (2, size, size, 3) and out.dtype == np.uint8
    assert render_faces(np.array([], int), np.array([], int)).shape == (0, 64, 64, 3)


def test_identity_params_shapes_and_prefix():
    params = identity_params(7, seed=3)
    for name, value in params.items():
        assert value.shape[0] == 7 and value.ndim in (1, 2), name
    assert params["skin"].shape == (7, 3) and params["glasses"].dtype == bool
    assert ((params["skin"] >= 0) & (params["skin"] <= 1)).all()
    more = identity_params(20, seed=3)
    later = identity_params(5, seed=3, start=2)
    for name in params:
        np.testing.assert_array_equal(more[name][:7], params[name])
        np.testing.assert_array_equal(more[name][2:7], later[name])


def test_same_seed_same_bytes_different_seed_different_images():
    a = make_synthetic_faces(4, 3, seed=5)[0]
    b = make_synthetic_faces(4, 3, seed=5)[0]
    c = make_synthetic_faces(4, 3, seed=6)[0]
    assert a.tobytes() == b.tobytes()
    assert (a != c).reshape(len(a), -1).any(axis=1).all()


def test_first_identities_do_not_depend_on_how_many_are_requested():
    few = make_synthetic_faces(3, 2, seed=1)[0]
    many = make_synthetic_faces(10, 2, seed=1)[0]
    np.testing.assert_array_equal(few, many[:6])
    # start=k gives the global identities k, k+1, ...
    shifted = make_synthetic_faces(2, 2, seed=1, start=4)[0]
    np.testing.assert_array_equal(shifted, many[8:12])


def test_image_j_does_not_depend_on_images_per_identity():
    three = make_synthetic_faces(4, 3)[0].reshape(4, 3, 64, 64, 3)
    five = make_synthetic_faces(4, 5)[0].reshape(4, 5, 64, 64, 3)
    np.testing.assert_array_equal(three, five[:, :3])


@pytest.mark.parametrize("size", [33, 64, 128])
def test_an_image_does_not_depend_on_the_rest_of_the_batch(size):
    # faces are painted in shared windows per batch; rendering alone must give the same bytes
    ids, js = np.arange(40) % 13 + 7, np.arange(40) // 13
    together = render_faces(ids, js, size=size)
    alone = np.concatenate([render_faces(ids[k:k + 1], js[k:k + 1], size=size) for k in range(40)])
    np.testing.assert_array_equal(together, alone)
    reversed_order = render_faces(ids[::-1], js[::-1], size=size)[::-1]
    np.testing.assert_array_equal(together, reversed_order)


def test_nuisance_zero_is_one_clean_face_per_identity():
    clean = render_faces(np.repeat([3, 4], 4), np.tile(np.arange(4), 2), nuisance=0)
    for k in range(1, 4):
        np.testing.assert_array_equal(clean[0], clean[k])
        np.testing.assert_array_equal(clean[4], clean[4 + k])
    assert np.abs(clean[0].astype(int) - clean[4]).mean() > 5
    noisy = render_faces(np.repeat([3], 4), np.arange(4))
    assert all(np.abs(noisy[0].astype(int) - noisy[k]).mean() > 5 for k in range(1, 4))


def test_different_identities_differ():
    clean = render_faces(np.arange(30), np.zeros(30, int), nuisance=0).reshape(30, -1)
    assert len({image.tobytes() for image in clean}) == 30
    params = identity_params(30)
    assert len(np.unique(params["eye_spacing"])) == 30


def test_geometry_is_proportional_to_size():
    ids = np.arange(8)
    big = render_faces(ids, np.zeros(8, int), size=128, nuisance=0).astype(float)
    small = render_faces(ids, np.zeros(8, int), size=32, nuisance=0).astype(float)
    shrunk = big.reshape(8, 32, 4, 32, 4, 3).mean(axis=(2, 4))
    assert np.abs(shrunk - small).mean() < 3      # different identities differ by ~25


def test_raw_pixel_distance_fails_on_held_out_identities():
    images, labels, _ = make_synthetic_faces(60, 4, start=50_000)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    rng = np.random.default_rng(0)
    different = rng.choice(np.flatnonzero(~same), same.sum(), replace=False)
    a = np.concatenate([i[same], i[different]])
    b = np.concatenate([j[same], j[different]])
    distance = ((pixels[a] - pixels[b]) ** 2).sum(axis=1)
    auc = roc_auc_score(np.r_[np.ones(same.sum()), np.zeros(same.sum())], -distance)
    assert auc <= 0.75, f"pixel AUC {auc:.3f}: nuisance too weak, raw pixels can verify faces"


@pytest.mark.parametrize("call, message", [
    (lambda: make_synthetic_faces(0), "n_identities"),
    (lambda: make_synthetic_faces(2, 0), "images_per_identity"),
    (lambda: make_synthetic_faces(2, 2, size=8), "size"),
    (lambda: make_synthetic_faces(2, 2, size=64.0), "size"),
    (lambda: make_synthetic_faces(2, 2, start=-1), "start"),
    (lambda: make_synthetic_faces(2, 2, seed=-3), "seed"),
    (lambda: make_synthetic_faces(2, 2, nuisance=-0.5), "nuisance"),
    (lambda: make_synthetic_faces(2, 2, nuisance=float("nan")), "nuisance"),
    (lambda: make_synthetic_faces(2, 2, nuisance="strong"), "nuisance"),
    (lambda: identity_params(0), "n_identities"),
    (lambda: render_faces(np.array([0, 1]), np.array([0])), "same length"),
    (lambda: render_faces(np.array([0.5]), np.array([0])), "integers"),
    (lambda: render_faces(np.array([[0]]), np.array([[0]])), "1-D"),
    (lambda: render_faces(np.array([-1]), np.array([0])), "non-negative"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
