"""Reading images and the course's one preprocessing function.

Shapes and units used everywhere in the course:

- a decoded photo: ``(H, W, 3) uint8``, RGB, values 0..255
- a preprocessed face: ``(size, size, 3) uint8`` (default size 64) — kept as ``uint8`` in memory
  (4× smaller than float32); ``preprocess(..., scale=True)`` gives ``float32`` in [0, 1].
  The encoder rescales ``uint8``/0..255 input itself (its first layer), so you can feed it
  preprocessed faces directly.

Uploads from a browser (``ipywidgets.FileUpload``) are decoded by :func:`decode_upload`.
"""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from course_utils.config import IMAGE_SIZE

#: File name endings read as images (the content decides the real format, not the ending).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".gif", ".bmp", ".tif", ".tiff", ".webp")

#: Face box inside LFW's 250×250 deep-funneled frames: (left, top, right, bottom) in pixels.
#: The funneled face sits slightly below the frame centre; this 112×112 square keeps brows to
#: chin and a little hair, and drops most of the background that differs from photo to photo.
LFW_CROP = (69, 74, 181, 186)


class ImageReadError(ValueError):
    """A file that should be an image could not be read; the message names the file."""


def read_image(path: str | Path) -> np.ndarray:
    """Decode one image file to ``(H, W, 3) uint8`` RGB, the way a photo viewer shows it.

    - The format is taken from the file's content, so a PNG saved as ``photo.jpg`` (or a file
      with no ending at all) still reads.
    - Phone photos are turned upright from their EXIF orientation tag.
    - 16-bit images (e.g. 16-bit PNG) are scaled 0..65535 → 0..255, not clipped to white.
    - Greyscale, palette and RGBA images become RGB; animated GIFs give their first frame.

    Raises :class:`ImageReadError` naming the file if it is missing, not an image, or so large
    that Pillow refuses it as a possible decompression bomb.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            return pil_to_rgb(im)
    except FileNotFoundError:
        raise ImageReadError(f"Image file not found: {path}") from None
    except Image.DecompressionBombError as err:
        raise ImageReadError(
            f"{path} is too large to decode safely ({err}). If it is a real photo, shrink it "
            "(e.g. to 4000 px on the long side) and try again; otherwise delete it."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageReadError(
            f"Could not read {path} as an image ({type(err).__name__}: {err}). "
            "Delete or replace this file, or move it out of the dataset folder."
        ) from None


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """An opened PIL image → ``(H, W, 3) uint8`` RGB: first frame, EXIF-upright, 16-bit scaled."""
    im.seek(0)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        grey = np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode == "F":
        arr = np.nan_to_num(np.asarray(im, dtype=np.float64))
        top = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max() <= 255 else 65535.0)
        grey = np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def is_image_file(path: str | Path) -> bool:
    """True if Pillow recognises the file's *content* as an image (the file name does not matter).

    Only the header is read, so this is fast even for large photos.
    """
    try:
        with Image.open(path) as im:
            return bool(im.format)
    except Image.DecompressionBombError:
        return True                    # an image, just a huge one: read_image will say so
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def preprocess(image: np.ndarray | Image.Image, size: int = IMAGE_SIZE,
               crop: tuple[int, int, int, int] | None = None, scale: bool = False) -> np.ndarray:
    """Turn one photo into a model-ready face: crop → resize → (optionally) scale.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)`` ``uint8`` array, or a PIL image.
        size: output side length in pixels (square output).
        crop: ``(left, top, right, bottom)`` box in input pixels, e.g. :data:`LFW_CROP` for
            LFW's 250×250 frames; ``None`` keeps the central square of the photo.
        scale: ``False`` → ``(size, size, 3) uint8``; ``True`` → ``float32`` in [0, 1].
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}.")
    im = image if isinstance(image, Image.Image) else Image.fromarray(as_uint8_rgb(image))
    im = im.convert("RGB")
    box = crop if crop is not None else _central_square(im.width, im.height)
    im = im.crop(box).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = np.asarray(im, dtype=np.uint8)
    return out.astype(np.float32) / 255.0 if scale else out


#: Decoding runs at ~750 small JPEGs a second on 2 cores (far fewer for phone photos): a bar
#: from this many files on.
DECODE_BAR_MIN = 500


def load_and_preprocess(paths: Sequence[str | Path], size: int = IMAGE_SIZE,
                        crop: tuple[int, int, int, int] | None = None,
                        workers: int = 4, progress: str | None = None) -> np.ndarray:
    """Read and preprocess many files in parallel → ``(N, size, size, 3) uint8``.

    Decoding runs in threads (Pillow releases the GIL while decoding). ``progress`` is a label
    for a progress bar (``None`` = no bar; shown for long work only, see
    :func:`course_utils.progress.progress`). The first unreadable file raises
    :class:`ImageReadError` naming it.
    """
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def work(i: int) -> None:
        out[i] = preprocess(read_image(paths[i]), size=size, crop=crop)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(work, range(len(paths)))
        if progress:
            from course_utils.progress import progress as with_bar
            jobs = with_bar(jobs, total=len(paths), desc=progress, unit="img", min_items=DECODE_BAR_MIN)
        for _ in jobs:
            pass
    return out


def to_float(images: np.ndarray) -> np.ndarray:
    """``uint8`` 0..255 images → ``float32`` in [0, 1] (same shape)."""
    return np.asarray(images, dtype=np.float32) / 255.0


def _central_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def as_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """Any image array ``(H, W)``, ``(H, W, 1|3|4)``, uint8 or float → ``(H, W, 3) uint8``."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"Expected an image of shape (H, W, 3) or (H, W); got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    return arr


# ----------------------------------------------------------------------------------------------
# Uploads (the photo-upload box of lesson 9)
# ----------------------------------------------------------------------------------------------

class DecodedUploads(list):
    """A list of ``(filename, image (H, W, 3) uint8)`` plus ``errors``: one friendly message
    per upload that could not be read (those files are left out of the list)."""

    def __init__(self, items=(), errors=()):
        super().__init__(items)
        self.errors: list[str] = list(errors)


def _upload_entries(value) -> list[tuple[str, object]]:
    """ipywidgets 8 (tuple of dicts), ipywidgets 7 (dict name → {metadata, content}), one dict,
    or raw bytes → ``[(name, content), …]``."""
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [("upload", value)]
    if isinstance(value, dict):
        if "content" in value:                     # one ipywidgets 8 entry
            value = [value]
        else:                                      # ipywidgets 7: {filename: {"metadata":…, "content":…}}
            value = [{"name": name, **(entry if isinstance(entry, dict) else {"content": entry})}
                     for name, entry in value.items()]
    entries = []
    for k, entry in enumerate(value):
        if isinstance(entry, (bytes, bytearray, memoryview)):
            entries.append((f"upload {k + 1}", entry))
        elif isinstance(entry, dict):
            name = entry.get("name") or entry.get("metadata", {}).get("name") or f"upload {k + 1}"
            entries.append((str(name), entry.get("content")))
        else:
            entries.append((f"upload {k + 1}", entry))
    return entries


def _decode_image_bytes(data: bytes) -> np.ndarray:
    """Raw file bytes → ``(H, W, 3) uint8``, decoded exactly as a file on disk is (:func:`pil_to_rgb`)."""
    with Image.open(io.BytesIO(data)) as im:
        return pil_to_rgb(im)


def decode_upload(value) -> DecodedUploads:
    """Decode the ``value`` of an ``ipywidgets.FileUpload`` into images.

    value: ipywidgets 8's tuple of dicts (``name``, ``type``, ``size``, ``content`` as
    memoryview/bytes), ipywidgets 7's dict, one such dict, or raw bytes.
    Returns a :class:`DecodedUploads`: a list of ``(filename, (H, W, 3) uint8 RGB)`` for the
    files Pillow could read, and ``.errors`` with a friendly message for each file it could
    not (nothing is raised for a bad file).
    """
    decoded = DecodedUploads()
    for name, content in _upload_entries(value):
        try:
            data = bytes(content) if content is not None else b""
        except (TypeError, ValueError):
            data = b""
        if not data:
            decoded.errors.append(f"“{name}” is empty (0 bytes): upload the photo again.")
            continue
        try:
            decoded.append((name, _decode_image_bytes(data)))
        except Exception as err:                  # noqa: BLE001 — any decoding failure is the file's fault
            if isinstance(err, UnidentifiedImageError):
                why = "is not an image file that Pillow can read"
            else:
                why = f"could not be decoded ({type(err).__name__}: {err})"
            decoded.errors.append(f"“{name}” {why}: upload a photo (JPEG, PNG, WebP, …).")
    return decoded
