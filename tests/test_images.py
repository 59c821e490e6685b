import numpy as np
import pytest
from PIL import Image

from course_utils import images as imgs
from tests.conftest import write_image


def test_read_image_formats_and_modes(tmp_path):
    for name, mode, fmt in [("a.jpg", "RGB", "JPEG"), ("b.png", "RGBA", "PNG"), ("c.pgm", "L", "PPM"),
                            ("d.gif", "L", "GIF"), ("e.bmp", "RGB", "BMP")]:
        arr = imgs.read_image(write_image(tmp_path / name, size=(30, 20), mode=mode, fmt=fmt))
        assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8, name


def test_extension_that_lies_is_read_by_content(tmp_path):
    path = write_image(tmp_path / "really_a_png.jpg", fmt="PNG")
    ref = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(imgs.read_image(path), ref)  # PNG is lossless: exact


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(imgs.ImageReadError, match="broken.jpg"):
        imgs.read_image(bad)
    with pytest.raises(imgs.ImageReadError, match="nope.png"):
        imgs.read_image(tmp_path / "nope.png")


def test_preprocess_shapes_crop_and_scale():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(250, 250, 3), dtype=np.uint8)
    out = imgs.preprocess(photo, size=64, crop=imgs.LFW_CROP)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # cropping then resizing equals PIL doing the same by hand (independent reference)
    ref = np.asarray(Image.fromarray(photo).crop(imgs.LFW_CROP).resize((64, 64), Image.Resampling.BILINEAR))
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    scaled = imgs.preprocess(photo, size=32, scale=True)
    assert scaled.dtype == np.float32 and scaled.shape == (32, 32, 3) and 0 <= scaled.min() and scaled.max() <= 1


def test_preprocess_central_square_of_non_square_photo():
    photo = np.zeros((112, 92), dtype=np.uint8)
    photo[:10] = 255                       # a white band the central square must drop
    out = imgs.preprocess(photo, size=46)
    assert out.shape == (46, 46, 3) and out.max() == 0


def test_preprocess_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        imgs.preprocess(np.zeros((4, 4, 4, 3), dtype=np.uint8))


def test_load_and_preprocess_in_parallel_keeps_order(tmp_path):
    paths = [write_image(tmp_path / f"{k}.png", seed=k, fmt="PNG") for k in range(7)]
    batch = imgs.load_and_preprocess(paths, size=16)
    for k, p in enumerate(paths):
        np.testing.assert_array_equal(batch[k], imgs.preprocess(imgs.read_image(p), size=16))
