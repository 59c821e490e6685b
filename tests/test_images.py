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


# ---------------------------------------------------------------- own photos, robustly
def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    from PIL import Image
    from course_utils.images import read_image
    upright = np.zeros((60, 40, 3), np.uint8)
    upright[:20] = 255                                           # white band at the top
    stored = Image.fromarray(np.rot90(upright, k=1).copy())      # stored sideways (band on the left)
    exif = Image.Exif()
    exif[0x0112] = 6                                             # viewer must rotate 90° clockwise
    stored.save(tmp_path / "phone.jpg", format="JPEG", exif=exif, quality=95)
    out = read_image(tmp_path / "phone.jpg")
    assert out.shape == (60, 40, 3)
    assert out[:15].mean() > 200 and out[25:].mean() < 50


def test_16_bit_png_is_scaled_not_white(tmp_path):
    from PIL import Image
    from course_utils.images import read_image
    ramp = np.linspace(0, 65535, 50 * 20).reshape(20, 50).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")                           # really a 16-bit file
    out = read_image(tmp_path / "deep.png")
    expected = np.round(ramp / 257.0)                            # reference: 65535 → 255
    assert np.abs(out[..., 0].astype(int) - expected).max() <= 1
    assert out.min() == 0 and out.max() == 255


def test_16_bit_png_upload_is_decoded_like_the_file(tmp_path):
    """The upload widget's decoder and read_image share one decoding: a 16-bit PNG uploaded in the
    browser is scaled, not turned white."""
    from PIL import Image
    from course_utils.images import decode_upload, read_image
    ramp = np.linspace(0, 65535, 50 * 20).reshape(20, 50).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    (name, image), = decode_upload([{"name": "deep.png", "content": (tmp_path / "deep.png").read_bytes()}])
    assert name == "deep.png"
    np.testing.assert_array_equal(image, read_image(tmp_path / "deep.png"))
    assert image.min() == 0 and image.max() == 255


def test_file_without_extension_is_identified_by_content(tmp_path):
    from course_utils.images import is_image_file, read_image
    write_image(tmp_path / "IMG_0001", fmt="PNG")
    (tmp_path / "notes").write_text("hello")
    assert is_image_file(tmp_path / "IMG_0001") and not is_image_file(tmp_path / "notes")
    assert read_image(tmp_path / "IMG_0001").shape == (50, 40, 3)


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    from PIL import Image
    from course_utils.images import ImageReadError, read_image
    write_image(tmp_path / "huge.png", size=(400, 300), fmt="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)         # 120,000 px > 2 × limit → a "bomb"
    with pytest.raises(ImageReadError, match="huge.png.*too large"):
        read_image(tmp_path / "huge.png")
