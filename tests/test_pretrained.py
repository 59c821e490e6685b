"""The production encoder (optional extra 'pretrained'): interface, unit norm, a clear message without it."""
import builtins
import sys

import numpy as np
import pytest

from course_utils import pretrained
from tests.conftest import LFW_DIR, needs_lfw

needs_extra = pytest.mark.skipif(not pretrained.available(), reason=(
    "optional extra 'pretrained' not installed: " + pretrained.INSTALL_HINT))


def test_missing_extra_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("No module named 'dlib'", name="dlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "dlib", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_dlib)
    assert not pretrained.available()
    with pytest.raises(pretrained.PretrainedMissingError, match=r"pip install -e \"\.\[pretrained\]\""):
        pretrained.load_pretrained()


@needs_extra
def test_interface_shapes_dtype_unit_norm_and_bad_input():
    skimage_data = pytest.importorskip("skimage.data")
    from course_utils import align
    enc = pretrained.load_pretrained()
    faces = align.align_faces(skimage_data.astronaut(), size=112).faces
    batch = np.concatenate([faces, faces[:, :, ::-1]])
    out = enc.predict(batch)
    assert out.shape == (2, 128) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc(batch[0]), out[:1], atol=1e-6)       # one image works too
    np.testing.assert_allclose(enc(batch / 255.0), out, atol=0.02)     # float 0..1 input
    assert np.sum((out[0] - out[1]) ** 2) < 0.4                         # the mirror image: same person
    with pytest.raises(ValueError, match="face crops"):
        enc.predict(np.zeros((2, 4, 4, 3), np.uint8))


@needs_extra
def test_works_unchanged_in_the_face_database():
    from course_utils.database import FaceDatabase
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 80, 80, 3), dtype=np.uint8)
    db = FaceDatabase(encoder=pretrained.load_pretrained(), threshold=0.4)
    db.enroll("noise", faces[:2])
    assert db.identify(faces[0]).distance < 1e-6


@needs_extra
@needs_lfw
def test_separates_lfw_people_better_than_chance():
    from course_utils import datasets, images, metrics
    pairs, same, _ = datasets.read_lfw_pairs(LFW_DIR / "pairsDevTest.txt")
    pick = list(range(0, 500, 25)) + list(range(500, 1000, 25))          # 20 same + 20 different
    paths = [datasets.lfw_image_path(LFW_DIR, a, n) for k in pick for a, n in
             ((pairs[k][0], pairs[k][1]), (pairs[k][2], pairs[k][3]))]
    crops = images.load_and_preprocess(paths, size=112, crop=images.LFW_CROP)
    emb = pretrained.load_pretrained().predict(crops)
    d = np.sum((emb[0::2] - emb[1::2]) ** 2, axis=1)
    assert metrics.roc_auc(d, same[pick]) > 0.9


@needs_extra
def test_enrol_yourself_through_the_widget_and_be_recognised_in_a_new_photo():
    """Issue 13's end-to-end story with the production encoder: upload a photo through the enrol
    widget (detected + aligned), then ask "Who is it?" with a *different* photo of the same face
    (mirrored, rescaled, shifted on a bigger canvas) → recognised; a photo of no one → refused."""
    import io

    from PIL import Image
    from skimage import data as skimage_data

    from course_utils.database import FaceDatabase
    from course_utils.widgets import EnrolWidget

    def upload(name, array):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=90)
        return [{"name": name, "content": buffer.getvalue()}]

    photo = skimage_data.astronaut()                                    # 512×512, one face
    new = Image.fromarray(photo[:, ::-1]).resize((380, 380))            # mirrored and smaller ...
    canvas = np.full((600, 800, 3), 90, np.uint8)
    canvas[150:530, 300:680] = np.asarray(new)                          # ... somewhere else in a bigger frame
    db = FaceDatabase(encoder=pretrained.load_pretrained(), threshold=0.36)
    widget = EnrolWidget(db)
    assert widget.enrol("Eileen", upload("me.jpg", photo)), widget.messages[-1]
    (answer,) = widget.identify(upload("new_photo.jpg", canvas))
    assert answer.name == "Eileen", widget.messages[-1]
    assert not widget.identify(upload("wall.jpg", np.full((300, 300, 3), 120, np.uint8)))
    assert "no face found in “wall.jpg”" in widget.messages[-1]
