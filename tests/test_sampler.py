import numpy as np
import pytest

from course_utils.datasets import FaceSet
from course_utils.sampler import PKSampler, augment_batch


def faces_with_counts(counts, size=16):
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(len(labels), size, size, 3), dtype=np.uint8)
    return FaceSet(images, labels, [f"p{k}" for k in range(len(counts))], "toy")


def test_batches_have_p_people_times_k_images():
    faces = faces_with_counts([5] * 10 + [1] * 5)
    s = PKSampler(faces, P=4, K=3, augment=False, seed=1)
    x, y = s[0]
    assert x.shape == (12, 16, 16, 3) and x.dtype == np.float32 and y.dtype == np.int32
    people, counts = np.unique(y, return_counts=True)
    assert len(people) == 4 and np.all(counts == 3)
    assert np.all(y.reshape(4, 3) == y.reshape(4, 3)[:, :1])           # grouped a,a,a,b,b,b,...
    assert not set(people) & set(range(10, 15))                          # singletons never drawn
    idx = s.batch_indices(0)
    np.testing.assert_array_equal(x, faces.images[idx].astype(np.float32))  # no augmentation: exact
    np.testing.assert_array_equal(y, faces.labels[idx])
    for p in people:                                                     # no repeats when K ≤ count
        assert len(set(idx[faces.labels[idx] == p])) == 3


def test_deterministic_by_seed_and_changes_per_epoch():
    faces = faces_with_counts([4] * 8)
    a, b = PKSampler(faces, P=3, K=2, seed=7), PKSampler(faces, P=3, K=2, seed=7)
    np.testing.assert_array_equal(a[2][0], b[2][0])
    a.on_epoch_begin()
    first = a.batch_indices(0)
    a.on_epoch_begin()
    assert not np.array_equal(first, a.batch_indices(0))


def test_people_with_fewer_than_k_images_repeat():
    faces = faces_with_counts([2] * 6)
    s = PKSampler(faces, P=3, K=4, augment=False)
    _, y = s[0]
    assert np.all(np.bincount(y)[np.unique(y)] == 4)


def test_clear_errors_for_impossible_batches():
    with pytest.raises(ValueError, match="at least 2 images"):
        PKSampler(faces_with_counts([1] * 20), P=4, K=2)
    with pytest.raises(ValueError, match="K"):
        PKSampler(faces_with_counts([3] * 20), P=4, K=1)
    with pytest.raises(ValueError, match="P"):
        PKSampler(faces_with_counts([3] * 20), P=1, K=2)
    with pytest.raises(ValueError, match="Only 3 people"):
        PKSampler(faces_with_counts([3] * 3 + [1] * 10), P=4, K=2)


def test_augmentation_keeps_range_and_changes_pixels():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(8, 16, 16, 3)).astype(np.float32)
    out = augment_batch(x.copy(), np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255 and not np.allclose(out, x)


def test_fit_runs_on_the_sampler():
    import keras
    faces = faces_with_counts([4] * 8)
    s = PKSampler(faces, P=2, K=2, steps_per_epoch=3)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile("adam", loss=lambda y, e: keras.ops.mean(keras.ops.square(e)))
    history = model.fit(s, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and s.epoch == 1


def _augment_one_by_one(x, rng, max_shift):
    """Reference: the augmentation written image by image, in its documented order."""
    b, h, w, _ = x.shape
    flip = rng.random(b) < 0.5
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, b)) if max_shift else (np.zeros(b, int),) * 2
    contrast = rng.uniform(0.8, 1.2, size=b)
    brightness = rng.uniform(-20, 20, size=b)
    out = np.zeros(x.shape, np.float64)
    for k in range(b):
        img = x[k, :, ::-1] if flip[k] else x[k]
        for i in range(h):
            for j in range(w):
                src_i = min(max(i + dy[k] - max_shift, 0), h - 1)      # edge padding = clamp the index
                src_j = min(max(j + dx[k] - max_shift, 0), w - 1)
                out[k, i, j] = img[src_i, src_j]
        mean = out[k].mean()
        out[k] = np.clip((out[k] - mean) * contrast[k] + mean + brightness[k], 0, 255)
    return out


@pytest.mark.parametrize("max_shift", [0, 1, 4])
def test_augmentation_matches_an_image_by_image_reference(max_shift):
    x = np.random.default_rng(5).uniform(0, 255, (6, 9, 7, 3)).astype(np.float32)
    before = x.copy()
    out = augment_batch(x, np.random.default_rng(11), max_shift)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, _augment_one_by_one(x, np.random.default_rng(11), max_shift), atol=2e-3)
    np.testing.assert_array_equal(x, before)                 # the input is left alone


def test_random_triplets_are_valid_and_draw_what_lesson_4_draws():
    """Anchor and positive: one person, two photos; negative: someone else. The library's
    version (lesson 5 imports it) gives the triplets of the function lesson 4 writes out."""
    import json
    from pathlib import Path

    from course_utils.datasets import load_synthetic
    from course_utils.sampler import random_triplets
    faces = load_synthetic(n_identities=9, images_per_identity=3, seed=3)
    t = random_triplets(faces, 200, seed=5)
    assert t.shape == (200, 3) and t.dtype.kind == "i"
    a, p, n = faces.labels[t[:, 0]], faces.labels[t[:, 1]], faces.labels[t[:, 2]]
    assert (a == p).all() and (t[:, 0] != t[:, 1]).all() and (a != n).all()
    np.testing.assert_array_equal(t, random_triplets(faces, 200, seed=5))
    assert not np.array_equal(t, random_triplets(faces, 200, seed=6))
    cells = json.loads((Path(__file__).parents[1] / "solutions" / "04_triplet_loss.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith("def random_triplets"))
    lesson4 = {"np": np}
    exec(source.split("\n\n")[0], lesson4)
    np.testing.assert_array_equal(t, lesson4["random_triplets"](faces, 200, seed=5))
    with pytest.raises(ValueError, match="at least one person with 2 photos"):
        random_triplets(load_synthetic(n_identities=3, images_per_identity=1, seed=0), 4)
