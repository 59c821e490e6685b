"""Lesson 9: enrol yourself from the webcam, ask "who is this?", and make the database forget you.

:class:`CameraWidget` shows the live camera in the page (``getUserMedia``, in the JavaScript next
to this module, ``camera.js``). Nothing leaves the browser until a button is clicked: **Enrol**
and **Who is this?** each take one snapshot (a JPEG, base64 in an anywidget custom message) and
send it to the kernel, where it goes through the upload widget's pipeline
(:class:`course_utils.widgets.enrol.FacePipeline`: decode → detect and align (MTCNN) → embed →
enrol or identify). The answer comes back as a message and is drawn on the frozen frame: the
name, or "unknown", with the distance against the threshold. **Forget me** is
:meth:`FaceDatabase.remove`: the person's embeddings, their keys in the search index, and the saved
files (rewritten without them).

What is stored: one embedding per face enrolled (``D`` numbers, in the database; in its files once
saved). The snapshot itself is never stored: it arrives as bytes, is decoded, used and dropped.
Snapshots travel as custom messages, not as synced traitlets, so no picture ends up in a notebook's
saved widget state.

Camera problems are reported in the widget, in plain words: no camera (``NotFoundError``),
permission refused (``NotAllowedError``), camera busy (``NotReadableError``), and a page that is
not a secure context (no ``navigator.mediaDevices``: open JupyterLab at ``localhost`` or https).
The browser's answer is synced back as ``camera`` (``"live"`` or the error's name).
"""
from __future__ import annotations

import base64
import binascii
import pathlib

import anywidget
import traitlets

from course_utils.widgets.enrol import FacePipeline

ESM = pathlib.Path(__file__).with_name("camera.js")
SNAPSHOT = "the camera snapshot"          # how messages name the picture ("no face found in …")
NO_SNAPSHOT = "No snapshot arrived from the camera: allow the camera, wait for the picture, then click again."


def snapshot_bytes(data_url: str) -> bytes:
    """A ``data:image/jpeg;base64,…`` URL (what ``canvas.toDataURL`` gives) → the image file's bytes.

    Raises ValueError, saying what was wrong, for anything else (b"" for an empty string).
    """
    if not isinstance(data_url, str):
        raise ValueError(f"a snapshot must be a data URL string; got {type(data_url).__name__}.")
    if not data_url:
        return b""
    head, comma, payload = data_url.partition(",")
    if not comma or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise ValueError(f"a snapshot must be a base64 image data URL (data:image/jpeg;base64,…); got {head[:40]!r}.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"the snapshot is not valid base64 ({err}); take it again.") from None


class CameraWidget(FacePipeline, anywidget.AnyWidget):
    """Live camera preview with **Enrol** (under the typed name), **Who is this?** and **Forget me**.

    database: a :class:`course_utils.database.FaceDatabase`; encoder: images ``(N, S, S, 3)`` →
    embeddings ``(N, D)`` (``None`` = the database's own); threshold: squared-distance threshold
    for "Who is this?" (``None`` = the database's); align: detect and align the face in the
    snapshot (MTCNN) — keep it on for a camera; preprocess, k: as for
    :class:`course_utils.widgets.EnrolWidget`. ``width`` × ``height``: the camera size asked for,
    in pixels (the browser may give another). save: after each enrolment, write the database to
    the files it was saved to (``database.saved_to``); off by default, so an enrolment stays in
    memory until the notebook saves it. Forget me rewrites those files in either case.

    The buttons send ``{"action": "enrol" | "identify" | "forget", "name", "image", "id"}``;
    :meth:`handle` answers each with ``{"id", "ok", "kind", "text", …}`` (``answer``,
    ``distance``, ``threshold``, ``known`` after "identify"). Python can call :meth:`enrol`,
    :meth:`identify` and :meth:`forget` with a snapshot's bytes too. ``messages`` keeps every
    answer's text; ``last_result`` the last ``IdentifyResult``.
    """

    _esm = ESM
    camera = traitlets.Unicode("").tag(sync=True)        # the browser's answer: "live", or an error name
    width = traitlets.Int(640).tag(sync=True)
    height = traitlets.Int(480).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)        # the latest message (text only, never a picture)

    def __init__(self, database, encoder=None, threshold: float | None = None, align: bool = True,
                 preprocess=None, k: int = 3, width: int = 640, height: int = 480, save: bool = False,
                 **kwargs):
        if save and getattr(database, "saved_to", None) is None:
            raise ValueError("save=True writes the database to the files it was saved to, but this one was never "
                             "saved: call db.save(path) first, or leave save=False.")
        self.save = bool(save)
        self._setup_pipeline(database, encoder, preprocess, threshold, k, align)
        self.messages: list[str] = []
        self.last_result = None
        self.last_enrolled: str | None = None
        super().__init__(width=int(width), height=int(height), **kwargs)
        self.status = self._intro()
        self.on_msg(self._on_message)

    # ------------------------------------------------------------------ messages
    def _intro(self) -> str:
        if len(self.database) == 0:
            return "The database is empty: type your name and press Enrol."
        return self.database_line()

    def _reply(self, ok: bool, kind: str, text: str, **extra) -> dict:
        self.messages.append(text)
        self.status = text
        return {"ok": ok, "kind": kind, "text": text, **extra}

    def _on_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and "action" in content:
            self.send(self.handle(content))

    def handle(self, content: dict) -> dict:
        """One button's request → the answer for the browser (never raises; nothing changes on a problem)."""
        action = content.get("action")
        try:
            image = snapshot_bytes(content.get("image", ""))
        except ValueError as err:
            return {**self._reply(False, "problem", str(err)), "id": content.get("id")}
        name = str(content.get("name", ""))
        if action == "enrol":
            answer = self.enrol(name, image)
        elif action == "identify":
            answer = self.identify(image)
        elif action == "forget":
            answer = self.forget(name)
        else:
            answer = self._reply(False, "problem", f"unknown action {action!r}: expected enrol, identify or forget.")
        return {**answer, "id": content.get("id")}

    # ------------------------------------------------------------------ the three buttons
    def enrol(self, name: str, image: bytes) -> dict:
        """Enrol the face in ``image`` (a JPEG/PNG file's bytes) under ``name``."""
        name = name.strip()
        problem, _, _, count = self.enrol_value(
            name, {"name": SNAPSHOT, "content": image} if image else None, nothing=NO_SNAPSHOT,
            retry="look straight at the camera, in good light, and click Enrol again.")
        if problem:
            if problem.startswith("Type the person's name"):
                problem = "Type your name in the Name box first, then click Enrol."
            return self._reply(False, "problem", problem)
        self.last_enrolled = name
        saved = ""
        if self.save:
            npz_path, _ = self.database.save(self.database.saved_to)
            saved = f" Saved to {npz_path.name}."
        notes = "".join(f" Note: {n}" for n in self.notes)
        return self._reply(True, "enrolled", f"Enrolled {name} from one snapshot ({count} in total); the photo itself "
                                             f"was not kept.{saved} {self.database_line()}{notes}", name=name)

    def identify(self, image: bytes) -> dict:
        """Who is the face in ``image``? The answer carries ``answer``, ``distance``, ``threshold``."""
        self.last_result = None
        problem, _, _, results, _ = self.identify_value(
            {"name": SNAPSHOT, "content": image} if image else None, nothing=NO_SNAPSHOT)
        if problem:
            return self._reply(False, "problem", problem)
        r = self.last_result = results[0]
        answer = r.name if r.is_known else "unknown"
        sign = "≤" if r.is_known else ">"
        text = f"{answer}: distance {r.distance:.3f} {sign} threshold {r.threshold:.3f}"
        if not r.is_known:
            text += f" (closest: {r.top_k[0][0]})"
        return self._reply(True, "identified", text, answer=answer, known=r.is_known,
                           distance=float(r.distance), threshold=float(r.threshold))

    def forget(self, name: str = "") -> dict:
        """Remove ``name`` (default: the person this widget enrolled last) from the database and its files."""
        name = name.strip() or (self.last_enrolled or "")
        if not name:
            return self._reply(False, "problem", "Type the name to forget in the Name box, then click Forget me.")
        if name not in self.database:
            return self._reply(False, "problem", f"{name} is not enrolled: there is nothing of them to forget. "
                                                 f"{self.database_line() if len(self.database) else ''}".strip())
        removal = self.database.remove(name)
        self.last_result = None
        if self.last_enrolled == name:
            self.last_enrolled = None
        files = (f"; saved files rewritten without them: {', '.join(f.name for f in removal.files)}"
                 if removal.files else "; no saved file held them")
        return self._reply(True, "forgotten", f"Forgot {name}: {removal.rows} embedding(s) deleted from the database "
                                              f"and its search index{files}. No photo was ever stored.", name=name)

    def summary(self) -> str:
        return f"CameraWidget: {self._intro()}"

    def __repr__(self) -> str:                  # the text a static copy of the notebook shows
        return self.summary()
