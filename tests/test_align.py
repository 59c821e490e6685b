"""Detection + alignment (course_utils.align) on package images and, when present, LFW frames.

Test photos: skimage.data.astronaut() (public-domain NASA portrait shipped in the scikit-image
wheel); group photos are composed at test time. No real person's photo is stored in the repo.
"""
import warnings

import numpy as np
import pytest
from PIL import Image

from course_utils import align
from tests.conftest import LFW_DIR, needs_lfw

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def _group(photo):
    """Three copies of the astronaut's head at 1.0, 0.7 and 0.45 scale on a grey canvas."""
    canvas = np.full((600, 1000, 3), 200, np.uint8)
    head = Image.fromarray(photo[0:300, 100:400])
    for x, y, scale in [(520, 60, 0.7), (0, 0, 1.0), (800, 300, 0.45)]:
        im = np.asarray(head.resize((int(300 * scale), int(300 * scale))))
        canvas[y:y + im.shape[0], x:x + im.shape[1]] = im
    return canvas


def test_template_margin_is_a_uniform_zoom_about_the_centre():
    tight, roomy = align.template(112, 0.0), align.template(112, 0.25)
    np.testing.assert_allclose(tight, align.TEMPLATE_112)
    np.testing.assert_allclose(roomy - 56, (tight - 56) / 1.5)
    with pytest.raises(ValueError, match="margin"):
        align.template(64, -0.1)


def test_align_face_puts_landmarks_on_the_template():
    """Independent check: warp a photo with a known similarity, align it back, compare pixels."""
    rng = np.random.default_rng(0)
    size = 64
    blobs = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)              # smooth random texture
    face = np.asarray(Image.fromarray(blobs).resize((size, size), Image.Resampling.BICUBIC))
    # Embed the face, rotated by 20° and scaled ×2, in a larger photo with PIL (not scikit-image).
    big = Image.fromarray(face).resize((2 * size, 2 * size), Image.Resampling.BILINEAR).rotate(20, expand=True)
    photo = np.zeros((300, 300, 3), np.uint8)
    photo[40:40 + big.height, 60:60 + big.width] = np.asarray(big)
    tpl = align.template(size)
    theta = np.deg2rad(20)            # PIL rotates counter-clockwise on screen (y axis down)
    centre_big = np.array([big.width / 2, big.height / 2])
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    marks = (rot @ ((tpl * 2) - size).T).T + centre_big + [60, 40]
    inner = slice(12, 52)

    def error(landmarks):
        out = align.align_face(photo, landmarks, size=size)
        return np.abs(out[inner, inner].astype(int) - face[inner, inner].astype(int)).mean()

    right, shifted = error(marks), error(marks + [6, 0])                # 3 output pixels off
    assert right < 6 and right < shifted / 3, (right, shifted)


def test_astronaut_is_found_and_aligned(astronaut):
    faces, boxes, landmarks = align.align_faces(astronaut)
    assert faces.shape == (1, 64, 64, 3) and faces.dtype == np.uint8
    left, top, right, bottom = boxes[0]
    assert 150 < left < right < 300 and 30 < top < bottom < 220          # her face, not the flag
    eyes = landmarks[0, :2]
    assert eyes[0, 0] < eyes[1, 0] and abs(eyes[0, 1] - eyes[1, 1]) < 10


def test_group_photo_gives_every_face_largest_first(astronaut):
    result = align.align_faces(_group(astronaut), warn=False)
    assert len(result) == 3
    widths = result.boxes[:, 2] - result.boxes[:, 0]
    assert np.all(np.diff(widths) < 0)
    assert result.boxes[0, 0] < 300 and result.boxes[1, 0] > 500      # the 1.0 copy, then the 0.7 one
    assert any("small" in n for n in result.notes)                    # the 0.45 copy is ~37 px wide


def test_no_face_names_the_file(tmp_path):
    path = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(path)
    with pytest.raises(align.NoFaceError, match="no face found in .*wall.png"):
        align.align_faces(str(path))
    skipped = align.align_faces([str(path)], on_no_face="skip")
    assert len(skipped) == 0 and "wall.png" in skipped.skipped[0]
    with pytest.raises(align.NoFaceError, match="holiday.jpg"):
        align.largest_aligned_face(np.full((100, 100, 3), 30, np.uint8), name="holiday.jpg")


def test_blurred_face_warns(astronaut):
    from scipy.ndimage import gaussian_filter
    blurred = np.stack([gaussian_filter(astronaut[..., c], 3) for c in range(3)], -1)
    with pytest.warns(UserWarning, match="blurred"):
        align.align_faces(blurred)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # the sharp photo: no warning
        align.align_faces(astronaut)


def test_upload_bytes_and_exif_rotation(astronaut, tmp_path):
    """A phone photo stored sideways with an EXIF 'rotate' tag is found after decoding upright."""
    import io
    sideways = Image.fromarray(np.rot90(astronaut, k=1))               # stored rotated 90°
    exif = Image.Exif()
    exif[0x0112] = 6                                                   # "rotate 90° CW to view"
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", exif=exif, quality=92)
    face = align.largest_aligned_face(buffer.getvalue(), name="phone.jpg")
    upright = align.align_faces(astronaut).faces[0]
    assert face.shape == (64, 64, 3)
    assert np.abs(face.astype(int) - upright.astype(int)).mean() < 20


def test_detection_is_cached(astronaut, monkeypatch):
    align.detect_faces(astronaut)
    calls = []
    monkeypatch.setattr(align, "_run_detector", lambda image: calls.append(1))
    boxes, _, _ = align.detect_faces(astronaut)                         # from data/cache, not the detector
    assert len(boxes) == 1 and calls == []


@needs_lfw
def test_lfw_frames_have_a_centred_face():
    files = sorted(LFW_DIR.glob("*/*_0001.jpg"))[:20]
    result = align.align_faces([str(f) for f in files], all_faces=False, on_no_face="skip", warn=False)
    assert len(result) >= 19
    centres = (result.boxes[:, :2] + result.boxes[:, 2:]) / 2
    assert np.all(np.abs(np.median(centres, axis=0) - 125) < 15)
