"""Lesson 9: upload photos, enrol them under a name, or ask "who is it?"."""
from __future__ import annotations

import base64
import html
import io
from typing import Callable

import numpy as np
import ipywidgets as widgets

from course_utils.images import decode_upload
from course_utils.plots import DIFF_COLOR, SAME_COLOR
from course_utils.widgets.base import View

def _png_data_uri(img: np.ndarray) -> str:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(img, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class FacePipeline:
    """Photo bytes → decoded → detected and aligned → embedded → enrolled or identified.

    The one pipeline behind :class:`EnrolWidget` (uploaded files) and
    :class:`course_utils.widgets.camera.CameraWidget` (camera snapshots), so both give one answer
    for one photo. A subclass sets ``database``, ``encoder``, ``threshold``, ``k``, ``align``,
    ``preprocess`` and ``notes`` (see :class:`EnrolWidget` for their meaning) and calls
    :meth:`enrol_value` / :meth:`identify_value`, which return problems as text, never raise.
    """

    def _setup_pipeline(self, database, encoder, preprocess, threshold, k: int, align: bool) -> None:
        self.database, self.encoder, self.threshold, self.k = database, encoder, threshold, int(k)
        self.align = bool(align) and preprocess is None
        self.notes: list[str] = []
        self.preprocess = preprocess or self._default_preprocess

    def _input_size(self) -> int:
        from course_utils.config import IMAGE_SIZE
        for model in (self.encoder, getattr(self.database, "encoder", None)):
            try:
                shape = getattr(model, "input_shape", None)
            except Exception:                     # an unbuilt Keras model
                shape = None
            if isinstance(shape, (tuple, list)) and len(shape) == 4 and isinstance(shape[1], int):
                return int(shape[1])
        return IMAGE_SIZE

    def _default_preprocess(self, image: np.ndarray) -> np.ndarray:
        from course_utils.images import preprocess
        return preprocess(image, size=self._input_size())

    def database_line(self) -> str:
        db = self.database
        if len(db) == 0:
            return "The database is empty: upload photos, type a name and press Enrol."
        people = ", ".join(f"{n} ({db.count(n)})" for n in db.names[:12]) + (", …" if len(db) > 12 else "")
        return f"Enrolled: {'1 person' if len(db) == 1 else f'{len(db)} people'} — {people}."

    def _one_face(self, image: np.ndarray, filename: str) -> tuple[np.ndarray, list[str]]:
        """One decoded photo → (model-ready face, notes): aligned when ``self.align``, unless it
        already is an S×S crop (then it went through the dataset's pipeline, like the gallery)."""
        size = self._input_size()
        if not self.align or image.shape[:2] == (size, size):      # align implies the default preprocess
            return np.asarray(self.preprocess(image)), []
        import warnings

        from course_utils.align import largest_aligned_face
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            face = largest_aligned_face(image, name=f"“{filename}”", size=size)
        return np.asarray(face), [str(w.message) for w in caught]

    def _faces(self, value):
        """Decode (+ detect and align) ``value`` (what :func:`images.decode_upload` reads) →
        ``(names, batch (N, S, S, 3), errors)``;
        notes about small or blurred faces go to ``self.notes``."""
        from course_utils.align import NoFaceError
        decoded = decode_upload(value)
        names, faces, errors = [], [], list(decoded.errors)
        self.notes = []
        for filename, image in decoded:
            try:
                face, notes = self._one_face(image, filename)
                faces.append(face)
                names.append(filename)
                self.notes += notes
            except NoFaceError as err:
                errors.append(str(err))
            except Exception as err:
                errors.append(f"“{filename}” could not be preprocessed ({type(err).__name__}: {err}).")
        batch = np.stack(faces) if faces else None
        return names, batch, errors

    def _query(self, batch: np.ndarray) -> dict:
        """``images=batch`` for the database's own encoder, else ``embeddings=`` from ours."""
        if self.encoder is None:
            return {"images": batch}
        out = self.encoder.predict(batch, verbose=0) if hasattr(self.encoder, "predict") else self.encoder(batch)
        return {"embeddings": np.asarray(out)}

    # ------------------------------------------------------------------ the two actions, as text
    def enrol_value(self, name: str, value, nothing: str, retry: str):
        """Enrol the photos in ``value`` under ``name`` → ``(problem, filenames, batch, count)``.

        ``problem`` is None when enrolled, else the message to show (nothing was enrolled);
        ``nothing``: the message when ``value`` holds no photo; ``retry``: what to do after a bad photo.
        """
        if not name:
            return "Type the person's name first, then press Enrol.", [], None, 0
        names, batch, errors = self._faces(value)
        if errors:
            return " ".join(errors) + f" Nothing was enrolled: {retry}", names, None, 0
        if batch is None:
            return nothing, [], None, 0
        try:
            count = self.database.enroll(name, **self._query(batch))
        except Exception as err:                  # the database is unchanged: enroll checks before changing
            return f"Nothing was enrolled: {err}", names, None, 0
        return None, names, batch, count

    def identify_value(self, value, nothing: str):
        """Identify each photo in ``value`` → ``(problem, filenames, batch, results, errors)``;
        ``problem`` is None when there are ``results`` (one ``IdentifyResult`` per face)."""
        if len(self.database) == 0:
            return "The database is empty: enrol someone first (photos + name + Enrol).", [], None, [], []
        names, batch, errors = self._faces(value)
        if batch is None:
            return (" ".join(errors) if errors else nothing), [], None, [], errors
        try:
            k = min(self.k, len(self.database))
            results = self.database.identify_batch(**self._query(batch), threshold=self.threshold, k=k)
        except Exception as err:
            return f"Could not identify: {err}", names, batch, [], errors
        return None, names, batch, results, errors


class EnrolWidget(FacePipeline, View):
    """Upload photos; **Enrol** them under a name, or ask **Who is it?**.

    database: a :class:`course_utils.database.FaceDatabase`; encoder: images ``(N, S, S, 3)`` →
    embeddings ``(N, D)`` (a Keras model or any callable; ``None`` = the database's own
    encoder); preprocess: one decoded photo ``(H, W, 3) uint8`` → one model-ready face
    (default: ``images.preprocess`` to the encoder's input size, else 64); threshold: for
    "Who is it?" (default: the database's); k: how many candidates to list; align: detect the
    face in each photo and align it (``course_utils.align``, MTCNN + 5 landmarks) before the
    encoder sees it — the default, since everyday photos show a head, shoulders and background the
    encoder never saw. A photo with no face is refused, naming the file; a small or blurred face
    is enrolled with a note. A photo that already has the encoder's input size (S×S: a face crop
    from a course dataset, made the way the database's rows were) is used as it is, so the widget
    and ``database.identify`` give one answer for one image. Use ``align=False`` for photos already
    cropped to the face (and for the synthetic cartoon faces, which a real face detector does not
    see as faces).

    Enrolment is all-or-nothing: if any uploaded file cannot be read, or the name is missing,
    or the encoder fails, nothing is enrolled and the output says why (never a traceback).
    After a successful enrolment the upload box is cleared; after "Who is it?" it is kept, so
    an unknown face can be enrolled next. ``enrol()`` and ``identify()`` can also be called
    from code; ``messages`` holds every message shown, ``last_results`` the last answers.
    """

    def __init__(self, database, encoder=None, preprocess: Callable | None = None,
                 threshold: float | None = None, k: int = 3, align: bool = True):
        self._setup_pipeline(database, encoder, preprocess, threshold, k, align)
        self.static = False
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Photos",
                                         tooltip="choose one or more photos of one person")
        self.name = widgets.Text(placeholder="name of the person", description="Name")
        self.enrol_button = widgets.Button(description="Enrol", button_style="success", icon="user-plus")
        self.identify_button = widgets.Button(description="Who is it?", button_style="info", icon="search")
        self.output = widgets.Output()
        self.enrol_button.on_click(lambda _b: self.enrol())
        self.identify_button.on_click(lambda _b: self.identify())
        self.widget = widgets.VBox([
            widgets.HBox([self.upload, self.name]),
            widgets.HBox([self.enrol_button, self.identify_button]),
            self.output,
        ])
        self.messages: list[str] = []
        self.last_results: list = []
        self._show(f"<i>{html.escape(self.database_line())}</i>", self.database_line())

    # ------------------------------------------------------------------ helpers
    def _show(self, body_html: str, text: str):
        self.messages.append(text)
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"text/html": f"<div style='font-family:sans-serif'>{body_html}</div>",
                                         "text/plain": text}},)

    def _problem(self, text: str) -> bool:
        self._show(f"<div style='color:{DIFF_COLOR}'>{html.escape(text)}</div>", text)
        return False

    # ------------------------------------------------------------------ actions
    def enrol(self, name: str | None = None, value=None) -> bool:
        """Enrol the uploaded photos (or ``value``) under ``name`` (default: the Name box). True if done."""
        name = (self.name.value if name is None else name).strip()
        problem, names, batch, count = self.enrol_value(
            name, self.upload.value if value is None else value, retry="remove that file and try again.",
            nothing="No photos uploaded: choose one or more photos with the Photos button first.")
        if problem:
            return self._problem(problem)
        if value is None:
            self.upload.value = ()
        text = f"Enrolled {len(names)} photo(s) of {name} ({count} in total). {self.database_line()}"
        thumbs = "".join(f"<img src='{_png_data_uri(face)}' width=56 style='margin:2px'>" for face in batch)
        notes = "".join(f"<div style='color:{DIFF_COLOR}'>Note: {html.escape(n)}</div>" for n in self.notes)
        self._show(f"<div style='color:{SAME_COLOR}'><b>{html.escape(text.split('. ')[0])}.</b></div>"
                   f"{thumbs}<br><i>{html.escape(self.database_line())}</i>{notes}",
                   text + "".join(f" Note: {n}" for n in self.notes))
        return True

    def identify(self, value=None) -> list:
        """Identify each uploaded photo (or ``value``); returns the ``IdentifyResult`` list (``[]`` on a problem)."""
        self.last_results = []
        problem, names, batch, results, errors = self.identify_value(
            self.upload.value if value is None else value,
            nothing="No photos uploaded: choose a photo with the Photos button first.")
        if problem:
            self._problem(problem)
            return []
        self.last_results = results
        lines, rows = [], []
        for filename, face, r in zip(names, batch, results):
            answer = r.name if r.is_known else "unknown"
            top = ", ".join(f"{n} {dist:.3f}" for n, dist in r.top_k)
            lines.append(f"{filename}: {answer} (distance {r.distance:.3f}, threshold {r.threshold:.3f}; top: {top})")
            color = SAME_COLOR if r.is_known else DIFF_COLOR
            rows.append(
                f"<tr><td style='text-align:left'><img src='{_png_data_uri(face)}' width=64></td>"
                f"<td style='padding:0 12px;text-align:left'><div style='color:{color};font-size:16px'><b>{html.escape(answer)}</b></div>"
                f"distance {r.distance:.3f} (threshold {r.threshold:.3f})<br>"
                f"<small>{html.escape(filename)} — top {len(r.top_k)}: {html.escape(top)}</small></td></tr>")
        errors = [f"Skipped: {e}" for e in errors]
        notes = "".join(f"<div style='color:{DIFF_COLOR}'>{html.escape(e)}</div>" for e in errors)
        self._show(f"<table>{''.join(rows)}</table>{notes}", " | ".join(lines + errors))
        return results

    def static_png(self) -> bytes:
        return b""

    def summary(self) -> str:
        return f"EnrolWidget: {self.database_line()}"


def enrol_widget(database, encoder=None, **kwargs) -> EnrolWidget:
    """Build an :class:`EnrolWidget`, display it (in IPython/Jupyter) and return it."""
    return EnrolWidget(database, encoder, **kwargs)._show_once()
