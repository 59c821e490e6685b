import json
import zipfile

import numpy as np
import pytest
import keras

from course_utils import models


def test_encoder_outputs_unit_norm_embeddings():
    m = models.build_encoder(embedding_dim=32, widths=(8, 16))
    x = np.random.default_rng(0).integers(0, 256, size=(5, 64, 64, 3)).astype(np.uint8)
    e = models.embed(m, x)
    assert e.shape == (5, 32) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_l2_normalize_matches_numpy_and_handles_zero():
    v = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = np.asarray(models.L2Normalize()(v))
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    assert np.all(np.isfinite(out[1]))


def test_parameter_count_matches_hand_count():
    m = models.build_encoder(input_shape=(32, 32, 3), embedding_dim=16, widths=(4, 8), stem=None)
    # conv (no bias) + BN (4 params per channel) per block, then Dense with bias
    expected = (3 * 3 * 3 * 4 + 4 * 4) + (3 * 3 * 4 * 8 + 4 * 8) + (8 * 16 + 16)
    assert m.count_params() == expected
    stemmed = models.build_encoder(input_shape=(32, 32, 3), embedding_dim=16, widths=(4, 8), stem=6)
    expected = (5 * 5 * 3 * 6 + 4 * 6) + (3 * 3 * 6 * 4 + 4 * 4) + (3 * 3 * 4 * 8 + 4 * 8) + (8 * 16 + 16)
    assert stemmed.count_params() == expected
    assert stemmed.get_layer("stem_conv").strides == (2, 2)
    # head="flatten": the Dense layer sees every position of the last 8×8 map (32 px, 2 pools) of 8 channels
    flat = models.build_encoder(input_shape=(32, 32, 3), embedding_dim=16, widths=(4, 8), stem=None, head="flatten")
    expected = (3 * 3 * 3 * 4 + 4 * 4) + (3 * 3 * 4 * 8 + 4 * 8) + (8 * 8 * 8 * 16 + 16)
    assert flat.count_params() == expected


def test_flatten_head_sees_where_a_feature_is_and_gap_does_not():
    # Moving the same pattern across the image leaves global average pooling's vector unchanged
    # (the pattern sits well inside the image, so no border effects), but not the flatten head's.
    x = np.zeros((2, 32, 32, 3), np.float32)
    x[0, 8:12, 8:12] = 255
    x[1, 16:20, 16:20] = 255
    for head, moves in (("gap", False), ("flatten", True)):
        keras.utils.set_random_seed(0)
        m = models.build_encoder(input_shape=(32, 32, 3), embedding_dim=8, widths=(4, 8), stem=None, head=head)
        e = models.embed(m, x)
        assert (np.abs(e[0] - e[1]).max() > 1e-3) == moves, head
    with pytest.raises(ValueError, match="head must be one of"):
        models.build_encoder(head="max")


def test_save_load_round_trip_without_lambda(tmp_path):
    m = models.build_encoder(embedding_dim=16, widths=(8, 8))
    x = np.random.default_rng(1).uniform(0, 255, size=(3, 64, 64, 3)).astype(np.float32)
    path = models.save_encoder(m, tmp_path / "enc.keras")
    back = models.load_encoder(path)
    np.testing.assert_allclose(models.embed(back, x), models.embed(m, x), atol=1e-6)
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    assert "Lambda" not in json.dumps(config)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in back.layers)


def test_flip_average_is_flip_invariant():
    m = models.build_encoder(embedding_dim=8, widths=(4, 8))
    x = np.random.default_rng(2).uniform(0, 255, size=(2, 64, 64, 3)).astype(np.float32)
    a = models.embed(m, x, flip_average=True)
    b = models.embed(m, x[:, :, ::-1], flip_average=True)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_inputs_are_clear(tmp_path):
    with pytest.raises(ValueError, match="height, width, 3"):
        models.build_encoder(input_shape=(64, 64))
    with pytest.raises(ValueError, match=".keras"):
        models.save_encoder(models.build_encoder(widths=(4,)), tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError, match="Train one first"):
        models.load_encoder(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        models.embed(models.build_encoder(widths=(4,)), np.zeros((64, 64)))
