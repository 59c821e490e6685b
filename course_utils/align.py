"""Find faces in real photos and align them: the *detect → align* steps before *embed → compare*.

Detection uses **MTCNN** (the ``mtcnn`` package, MIT licence, Keras/TensorFlow, its weights ship
inside the wheel so it works offline; FaceNet's reference code aligned LFW with the same
detector). It returns, per face, a box and five landmarks: the two eye centres, the nose tip and
the two mouth corners.

Alignment maps those five points onto a fixed **template** with a *similarity transform*
(rotation + uniform scale + shift, fitted by least squares in scikit-image), so every face comes
out upright, with the eyes on the same row and at the same distance apart.

The template is the standard 5-point template of the ArcFace/InsightFace 112×112 crops, made
roomier by ``margin``: each side of the output shows ``margin`` × (template width) more than
the tight template. ``DEFAULT_MARGIN = 0.1`` keeps the brows-to-chin framing of the course's LFW
crop (``images.LFW_CROP``) with a little forehead and hair.

Shapes and units:

- ``faces``: ``(N, size, size, 3) uint8`` aligned faces (``size`` = the course input, 64)
- ``boxes``: ``(N, 4) float32`` ``(left, top, right, bottom)`` in pixels of the input photo
- ``landmarks``: ``(N, 5, 2) float32`` ``(x, y)`` pixels: eye (image left), eye (image right),
  nose, mouth corner (image left), mouth corner (image right)

Detection runs once per distinct image and is cached in ``data/cache`` (keyed by the pixels, so
renaming a file does not detect again). TensorFlow is imported only when a detection runs.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from course_utils import cache
from course_utils.config import IMAGE_SIZE
from course_utils.progress import progress

#: ArcFace/InsightFace 5-point template in a 112×112 crop: (x, y) of eye, eye, nose, mouth, mouth.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
#: Extra room around the tight template, as a fraction of the crop side on *each* side.
DEFAULT_MARGIN = 0.1
#: A face whose box is smaller than this (pixels, shorter side) gets a warning: too few pixels.
MIN_FACE_PIXELS = 40
#: Variance of the Laplacian of the grey 64×64 aligned face below this → "blurred" warning.
#: Sharp photos score in the hundreds or thousands (skimage.data.astronaut: ~2,500); the same
#: photo blurred with a Gaussian of sigma 3 px (face 83 px wide) scores ~80.
BLUR_THRESHOLD = 100.0
#: Photos larger than this (longer side, pixels) are shrunk for *detection* only; the face is
#: then cut from the full-resolution photo. MTCNN's time grows with the pixel count.
DETECT_MAX_SIDE = 1024
#: Detections below this MTCNN confidence are ignored.
MIN_CONFIDENCE = 0.9
#: Detection runs at roughly 4–20 photos a second on 2 cores (4 for 512×512 photos): a progress
#: bar from this many photos on (a few seconds of work).
ALIGN_BAR_MIN = 20
_DETECTOR_VERSION = "mtcnn-1.0.0/1"


class NoFaceError(ValueError):
    """No face was found in a photo; the message names the photo."""


@dataclass
class AlignedFaces:
    """What :func:`align_faces` returns; unpacks as ``faces, boxes, landmarks``.

    ``source (N,) int``: which input each face came from (faces of one photo are largest first);
    ``names``: a readable name for each input; ``confidence (N,)``; ``skipped``: messages for
    inputs without a face (when ``on_no_face="skip"``); ``notes``: small/blurred-face warnings.
    """

    faces: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    source: np.ndarray
    confidence: np.ndarray
    names: list[str]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.faces, self.boxes, self.landmarks))

    def __len__(self) -> int:
        return len(self.faces)


# ----------------------------------------------------------------------------- template & transform
def template(size: int = IMAGE_SIZE, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """``(5, 2) float64`` target landmark positions in a ``size``×``size`` crop with ``margin``."""
    if not 0 <= margin <= 1:
        raise ValueError(f"margin must be between 0 and 1 (a fraction of the crop side); got {margin}.")
    return ((TEMPLATE_112 / 112.0 - 0.5) / (1.0 + 2.0 * margin) + 0.5) * size


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = IMAGE_SIZE,
               margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Warp one photo so its 5 ``landmarks`` ``(5, 2)`` land on :func:`template` → ``(size, size, 3) uint8``.

    The similarity transform (rotation, uniform scale, shift) is fitted by scikit-image
    (least squares, Umeyama's method); pixels outside the photo become black.
    """
    from skimage.transform import SimilarityTransform, warp

    src = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    dst = template(size, margin)
    if hasattr(SimilarityTransform, "from_estimate"):          # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
    else:
        tform = SimilarityTransform()
        tform.estimate(src, dst)
    if not np.all(np.isfinite(tform.params)):
        raise ValueError("the 5 landmarks are degenerate (all on one point); cannot align this face.")
    out = warp(np.asarray(image), tform.inverse, output_shape=(size, size), order=1,
               mode="constant", cval=0, preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def blur_score(face: np.ndarray) -> float:
    """Sharpness of a face: variance of the Laplacian of its grey 64×64 version (higher = sharper)."""
    from PIL import Image
    from scipy.ndimage import laplace

    grey = np.asarray(Image.fromarray(np.asarray(face, np.uint8)).convert("L").resize((64, 64)), np.float64)
    return float(laplace(grey).var())


# ----------------------------------------------------------------------------- detection
_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        from course_utils.config import quiet_tensorflow
        quiet_tensorflow()
        try:
            from mtcnn import MTCNN
        except ImportError:
            raise ImportError("Face detection needs the 'mtcnn' package: pip install mtcnn "
                              "(it is in the course's requirements; run python3 course.py setup).") from None
        _DETECTOR = MTCNN()
    return _DETECTOR


def detect_faces(image: np.ndarray, min_confidence: float = MIN_CONFIDENCE,
                 use_cache: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every face in one photo ``(H, W, 3) uint8``, **largest first**.

    Returns ``boxes (K, 4)``, ``landmarks (K, 5, 2)``, ``confidence (K,)`` (``K = 0``: no face).
    Cached by the photo's pixels (``data/cache/faces_*.npz``).
    """
    image = _as_rgb(image)
    key = hashlib.sha256(image.tobytes() + str(image.shape).encode()).hexdigest()[:24]

    def build():
        return _run_detector(image)

    name = f"faces_{cache.cache_key(_DETECTOR_VERSION, key, DETECT_MAX_SIDE)}"
    arrays = cache.cached(name, build, verbose=False) if use_cache else build()
    boxes, marks, conf = arrays["boxes"], arrays["landmarks"], arrays["confidence"]
    keep = conf >= min_confidence
    boxes, marks, conf = boxes[keep], marks[keep], conf[keep]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-area, kind="stable")
    return boxes[order], marks[order], conf[order]


def _run_detector(image: np.ndarray) -> dict[str, np.ndarray]:
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = image
    if scale < 1.0:
        from PIL import Image
        small = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                         Image.Resampling.BILINEAR))
    if min(small.shape[:2]) < 12:                 # smaller than MTCNN's smallest window
        found = []
    else:
        found = _detector().detect_faces(small, box_format="xyxy")
    keys = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    boxes = np.array([f["box"] for f in found], dtype=np.float32).reshape(-1, 4) / scale
    marks = np.array([[f["keypoints"][k] for k in keys] for f in found], dtype=np.float32).reshape(-1, 5, 2) / scale
    conf = np.array([f["confidence"] for f in found], dtype=np.float32).reshape(-1)
    return {"boxes": boxes.astype(np.float32), "landmarks": marks.astype(np.float32), "confidence": conf}


# ----------------------------------------------------------------------------- the one entry point
def align_faces(inputs, size: int = IMAGE_SIZE, margin: float = DEFAULT_MARGIN, all_faces: bool = True,
                on_no_face: str = "raise", min_confidence: float = MIN_CONFIDENCE,
                warn: bool = True, verbose: bool = True) -> AlignedFaces:
    """Detect and align the faces in photos → ``faces, boxes, landmarks`` (see the module docstring).

    inputs: one photo or a list of photos, each a file path or an ``(H, W, 3) uint8`` array
    (file paths are read with :func:`course_utils.images.read_image`: EXIF-upright, 16-bit safe).
    all_faces: ``True`` → every face of each photo (largest first, e.g. a group photo);
    ``False`` → only the largest face of each photo.
    on_no_face: ``"raise"`` → :class:`NoFaceError` naming the first photo without a face;
    ``"skip"`` → leave it out and list it in ``result.skipped``.
    A face smaller than :data:`MIN_FACE_PIXELS` or blurrier than :data:`BLUR_THRESHOLD` is kept,
    with a warning (and a line in ``result.notes``).
    verbose: ``False`` → no progress bar (one appears for :data:`ALIGN_BAR_MIN` photos or more).
    """
    if on_no_face not in ("raise", "skip"):
        raise ValueError(f"on_no_face must be 'raise' or 'skip'; got {on_no_face!r}.")
    items = _as_list(inputs)
    faces, boxes, marks, source, conf, names, skipped, notes = [], [], [], [], [], [], [], []
    for k, item in enumerate(progress(items, desc="Aligning faces", unit="photo", verbose=verbose,
                                      min_items=ALIGN_BAR_MIN)):
        name, image = _load(item, k, len(items))
        names.append(name)
        b, m, c = detect_faces(image, min_confidence=min_confidence)
        if len(b) == 0:
            message = (f"no face found in {name}: use a photo where the face is visible, frontal "
                       f"and at least {MIN_FACE_PIXELS} pixels wide.")
            if on_no_face == "raise":
                raise NoFaceError(message)
            skipped.append(message)
            continue
        take = len(b) if all_faces else 1
        for j in range(take):
            face = align_face(image, m[j], size=size, margin=margin)
            side = float(min(b[j, 2] - b[j, 0], b[j, 3] - b[j, 1]))
            which = f"face {j + 1} of {len(b)} in {name}" if len(b) > 1 else f"the face in {name}"
            if side < MIN_FACE_PIXELS:
                notes.append(f"{which} is small ({side:.0f} px < {MIN_FACE_PIXELS} px): it was upscaled, "
                             "so recognition may be poor. Use a closer or larger photo.")
            elif blur_score(align_face(image, m[j], size=64, margin=margin)) < BLUR_THRESHOLD:
                notes.append(f"{which} looks blurred (sharpness below {BLUR_THRESHOLD:g}): recognition "
                             "may be poor. Use a sharper photo.")
            faces.append(face), boxes.append(b[j]), marks.append(m[j])
            source.append(k), conf.append(c[j])
    if warn:
        for note in notes:
            warnings.warn(note, stacklevel=2)
    return AlignedFaces(
        faces=np.stack(faces) if faces else np.zeros((0, size, size, 3), np.uint8),
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        landmarks=np.array(marks, np.float32).reshape(-1, 5, 2),
        source=np.array(source, np.int64), confidence=np.array(conf, np.float32),
        names=names, skipped=skipped, notes=notes)


def largest_aligned_face(image, name: str = "the photo", size: int = IMAGE_SIZE,
                         margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The largest face of one photo, aligned → ``(size, size, 3) uint8``.

    What an upload (e.g. the enrolment widget) needs: raises :class:`NoFaceError`
    ``"no face found in <name> ..."`` when there is none; warns about small or blurred faces.
    ``image`` may be an ``(H, W, 3)`` array, a path, or the raw bytes of an image file.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = decode_bytes(bytes(image), name)
    result = align_faces([image] if not isinstance(image, (str, Path)) else image, size=size,
                         margin=margin, all_faces=False, on_no_face="skip", warn=True)
    if len(result) == 0:
        raise NoFaceError(f"no face found in {name}: use a photo where the face is visible, frontal and at "
                          f"least {MIN_FACE_PIXELS} pixels wide.")
    return result.faces[0]


def decode_bytes(data: bytes, name: str = "the upload") -> np.ndarray:
    """Raw bytes of an image file → ``(H, W, 3) uint8`` (EXIF-upright, 16-bit safe); errors name ``name``."""
    import io

    from PIL import Image, UnidentifiedImageError

    from course_utils.images import ImageReadError, pil_to_rgb
    try:
        with Image.open(io.BytesIO(data)) as im:
            return pil_to_rgb(im)
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{name} is too large to decode safely ({err}); shrink the photo.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageReadError(f"Could not read {name} as an image ({type(err).__name__}: {err}).") from None


# ----------------------------------------------------------------------------- helpers
def _as_list(inputs) -> list:
    if isinstance(inputs, (str, Path)):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 3:
            return [inputs]
        if inputs.ndim == 4:
            return list(inputs)
        raise ValueError(f"Expected a photo (H, W, 3), a batch (N, H, W, 3) or paths; got shape {inputs.shape}.")
    if isinstance(inputs, Iterable):
        return list(inputs)
    raise ValueError(f"Expected photos (arrays or file paths); got {type(inputs).__name__}.")


def _load(item, k: int, n: int) -> tuple[str, np.ndarray]:
    if isinstance(item, (str, Path)):
        from course_utils.images import read_image
        return str(item), read_image(item)
    return (f"image {k}" if n > 1 else "the image"), _as_rgb(item)


def _as_rgb(image) -> np.ndarray:
    from course_utils.images import as_uint8_rgb
    arr = as_uint8_rgb(np.asarray(image))
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def boxes_and_landmarks(result: AlignedFaces, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The boxes ``(K, 4)`` and landmarks ``(K, 5, 2)`` found in input ``index`` of ``result``."""
    mine = result.source == index
    return result.boxes[mine], result.landmarks[mine]


__all__ = ["align_faces", "align_face", "detect_faces", "largest_aligned_face", "decode_bytes", "template",
           "blur_score", "AlignedFaces", "NoFaceError", "DEFAULT_MARGIN", "MIN_FACE_PIXELS", "BLUR_THRESHOLD"]
