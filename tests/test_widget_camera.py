"""CameraWidget's kernel side: a snapshot's bytes → enrol / identify / forget, and every refusal.

The browser is not needed here: the tests send the widget the messages its buttons send
(``{"action", "name", "image": data URL, "id"}``) and read its answers. The face is scikit-image's
astronaut (a public-domain NASA photo), made into a JPEG in memory. The end-to-end test in a
real JupyterLab with Chromium's fake camera is ``test_widget_browser_camera.py``.
"""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from course_utils.database import FaceDatabase
from course_utils.widgets import CameraWidget
from course_utils.widgets.camera import ESM, snapshot_bytes

from camera_helpers import tiny_encoder

pytest.importorskip("mtcnn")


def data_url(image: np.ndarray, fmt="JPEG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def snapshots():
    from skimage import data as skimage_data
    face = skimage_data.astronaut()
    noise = np.random.default_rng(0).integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    return {"face": data_url(face), "mirrored": data_url(np.ascontiguousarray(face[:, ::-1])),
            "wall": data_url(noise, "PNG")}


def click(widget, action, image="", name="", id=1):
    """What a button click sends; returns the widget's answer (through the custom-message handler)."""
    sent = []
    widget.send = sent.append
    widget._on_message(widget, {"action": action, "name": name, "image": image, "id": id}, [])
    assert len(sent) == 1 and sent[0]["id"] == id
    json.dumps(sent[0])                                   # the answer must travel as JSON
    return sent[0]


def test_snapshot_bytes_reads_data_urls_and_refuses_the_rest():
    assert snapshot_bytes("data:image/png;base64," + base64.b64encode(b"abc").decode()) == b"abc"
    assert snapshot_bytes("") == b""
    for bad, why in (("hello", "data URL"), ("data:text/plain;base64,YQ==", "data URL"),
                     ("data:image/png;base64,@@@", "base64")):
        with pytest.raises(ValueError, match=why):
            snapshot_bytes(bad)
    with pytest.raises(ValueError, match="string"):
        snapshot_bytes(b"data:image/png;base64,")


def test_nothing_is_enrolled_without_the_enrol_click(snapshots):
    db = FaceDatabase(threshold=0.5)
    camera = CameraWidget(db, tiny_encoder)
    assert len(db) == 0 and "empty" in camera.status
    assert camera.align and camera.get_state()["_esm"] == ESM.read_text()
    # Synced state is text and numbers only: a snapshot never becomes widget state (nor a saved notebook's).
    assert not any(isinstance(v, (bytes, memoryview)) for v in camera.get_state().values())
    answer = click(camera, "identify", snapshots["face"])
    assert not answer["ok"] and "empty" in answer["text"] and len(db) == 0
    db.enroll("Someone", embeddings=np.eye(64)[0])
    answer = click(camera, "identify", snapshots["face"])
    assert answer["ok"] and db.names == ["Someone"] and db.count("Someone") == 1   # asking added nothing


def test_enrol_refusals_leave_the_database_unchanged(snapshots):
    db = FaceDatabase(threshold=0.5)
    db.enroll("Other", embeddings=np.eye(64)[1])
    camera = CameraWidget(db, tiny_encoder)
    refusals = [
        (dict(image=snapshots["face"], name="  "), "Type your name"),
        (dict(image=snapshots["wall"], name="Eileen"), "no face found in “the camera snapshot”"),
        (dict(image="", name="Eileen"), "No snapshot arrived"),
        (dict(image="data:image/jpeg;base64,!!", name="Eileen"), "not valid base64"),
        (dict(image=snapshots["face"], name="unknown"), "reserved"),
    ]
    for k, (request, message) in enumerate(refusals):
        answer = click(camera, "enrol", id=k, **request)
        assert not answer["ok"] and answer["kind"] == "problem" and message in answer["text"], answer
        assert db.names == ["Other"] and db.count("Other") == 1
    assert "unknown action" in click(camera, "dance", snapshots["face"])["text"]


def test_enrol_then_recognise_then_forget(snapshots, tmp_path):
    db = FaceDatabase(threshold=0.5)
    db.enroll("Other", embeddings=np.eye(64)[1])
    db.save(tmp_path / "class")
    camera = CameraWidget(db, tiny_encoder)
    answer = click(camera, "enrol", snapshots["face"], name=" Eileen ", id=7)
    assert answer["ok"] and answer["kind"] == "enrolled" and answer["name"] == "Eileen"
    assert db.count("Eileen") == 1 and "was not kept" in answer["text"]
    db.save(tmp_path / "class")                           # the lesson saves its database: now a file holds her
    # The same face is recognised, with the distance the database itself gives for its embedding.
    answer = click(camera, "identify", snapshots["face"], id=8)
    assert answer["ok"] and answer["answer"] == "Eileen" and answer["known"]
    assert answer["distance"] <= answer["threshold"] == 0.5
    assert answer["distance"] == pytest.approx(camera.last_result.distance)
    assert f"distance {answer['distance']:.3f} ≤ threshold 0.500" in answer["text"]
    # A face farther than the threshold is "unknown", with its closest person named.
    camera.threshold = 1e-9
    answer = click(camera, "identify", snapshots["mirrored"], id=9)
    assert answer["ok"] and answer["answer"] == "unknown" and not answer["known"]
    assert answer["distance"] > answer["threshold"] and "closest: Eileen" in answer["text"]
    camera.threshold = None
    # Forget me (the name box left empty: the person this widget enrolled) removes every row and the files' copy.
    answer = click(camera, "forget", id=10)
    assert answer["ok"] and answer["kind"] == "forgotten" and "Eileen" in answer["text"]
    assert "1 embedding(s) deleted" in answer["text"] and "class.npz" in answer["text"]
    assert "Eileen" not in db and db.names == ["Other"]
    assert FaceDatabase.load(tmp_path / "class").names == ["Other"]
    assert "Eileen" not in (tmp_path / "class.json").read_text()
    assert not (set(p.name for p in tmp_path.iterdir()) - {"class.npz", "class.json"})   # no photo file anywhere
    answer = click(camera, "identify", snapshots["face"], id=11)
    assert answer["answer"] != "Eileen"
    # Forgetting again, or forgetting nobody, is refused and changes nothing.
    again = click(camera, "forget", name="Eileen", id=12)
    assert not again["ok"] and "not enrolled" in again["text"] and db.names == ["Other"]
    assert "Type the name" in click(camera, "forget", id=13)["text"]
    assert camera.messages[-1] == camera.status


def test_the_camera_pipeline_is_the_upload_pipeline(snapshots):
    """One photo, one answer: the camera and the upload widget embed a snapshot identically."""
    from course_utils.widgets import EnrolWidget

    image = snapshot_bytes(snapshots["face"])
    db_camera, db_upload = FaceDatabase(threshold=0.5), FaceDatabase(threshold=0.5)
    assert CameraWidget(db_camera, tiny_encoder).enrol("Eileen", image)["ok"]
    assert EnrolWidget(db_upload, tiny_encoder).enrol("Eileen", [{"name": "a.jpg", "content": image}])
    np.testing.assert_array_equal(db_camera.embeddings_of("Eileen"), db_upload.embeddings_of("Eileen"))


def test_save_writes_each_enrolment_and_needs_a_saved_database(snapshots, tmp_path):
    with pytest.raises(ValueError, match="never saved"):
        CameraWidget(FaceDatabase(threshold=0.5), tiny_encoder, save=True)
    db = FaceDatabase(threshold=0.5)
    db.save(tmp_path / "class")
    camera = CameraWidget(db, tiny_encoder, save=True)
    assert not click(camera, "enrol", snapshots["wall"], name="Eileen")["ok"]
    assert FaceDatabase.load(tmp_path / "class").names == []                 # a refusal writes nothing
    answer = click(camera, "enrol", snapshots["face"], name="Eileen")
    assert answer["ok"] and "Saved to class.npz" in answer["text"]
    assert FaceDatabase.load(tmp_path / "class").count("Eileen") == 1
    assert click(camera, "forget", name="Eileen")["ok"]
    assert FaceDatabase.load(tmp_path / "class").names == []
