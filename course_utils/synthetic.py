"""Procedural synthetic faces: the course's offline default dataset (no real person's data).

Every *identity* is a vector of face-shape parameters (head size, jaw, eye spacing, iris
colour, nose, mouth, eyebrows, skin tone, hair colour and style, ears, glasses...). Every
*image* of an identity adds nuisance that a face recogniser must learn to ignore: pose
(rotation, scale, shift, a slight head turn), expression (smile, open mouth, raised brows,
blinks), accessories (sunglasses, hats), lighting, background, sensor noise and occlusion.

How an image is made (every step works on a whole batch of images at once with NumPy,
no Python loop over pixels):

1. **Draw random numbers.** Identity ``i`` gets its parameters from a random generator
   seeded with ``(seed, i)`` only, and image ``j`` of identity ``i`` gets its nuisance from a
   generator seeded with ``(seed, i, j)`` only. So asking for 100 or 3,000 identities gives
   the same first 100 people, and image ``j`` is the same however many images you request.
2. **Pose.** Every pixel of the image gets its coordinates ``(u, v)`` in the *face frame*, an
   upright, centred frame that moves with the head: the rotation, scale and shift of the
   image run backwards (the inverse of the face *alignment* step used on real photos).
3. **Paint.** Each face part is a simple shape in the face frame -- an ellipse, a band, a
   box -- painted over the previous ones, back to front: background, back hair, neck, ears,
   head, fringe, eyes, brows, nose, mouth, then moustache, glasses, sunglasses, hat. Edges
   are anti-aliased: a pixel half inside a shape is half covered.
4. **Photograph.** Occluder, lighting, sensor noise, conversion to ``uint8``.

Coordinates: the face frame runs from -1 (left/top) to +1 (right/bottom) when the face is
unposed; the head ellipse is centred at ``(0, 0.05)`` with a half-width of about 0.55. All
geometry is in these units, so any image ``size`` (32, 64, 96, 128...) shows the same face.

Public API: :func:`identity_params`, :func:`render_faces`, :func:`make_synthetic_faces`.

Why one long module: it is one procedural renderer. The parameter tables, the scene and the
drawing functions of each facial feature share the same face frame and parameter columns; split
across files, one picture would be spread over several modules. Only the three functions above
are meant to be read from outside.

Names: ``face`` is the dict of one batch's identity parameters (what stays the same across
photos of a person), ``shot`` the dict of its per-image nuisance parameters (pose, expression,
accessories, light, background, noise: what changes from photo to photo).
"""
from __future__ import annotations

import functools

import numpy as np

from course_utils.config import IMAGE_SIZE

MIN_SIZE = 16
_HEAD_Y = 0.05          # y of the head ellipse's centre in the canonical frame

# Random streams: identity parameters and image nuisance never share random numbers.
_IDENTITY_STREAM = 1
_IMAGE_STREAM = 2

# Colour palettes, RGB in [0, 1]. Identities interpolate between neighbouring entries.
_SKIN_TONES = np.array([
    [0.99, 0.87, 0.77], [0.96, 0.80, 0.67], [0.90, 0.72, 0.56], [0.80, 0.60, 0.43],
    [0.68, 0.48, 0.33], [0.55, 0.37, 0.25], [0.42, 0.28, 0.19], [0.32, 0.21, 0.15],
], dtype=np.float32)
_HAIR_COLOURS = np.array([
    [0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.45, 0.28, 0.14], [0.75, 0.58, 0.30],
    [0.93, 0.82, 0.50], [0.65, 0.25, 0.10], [0.60, 0.60, 0.62], [0.92, 0.92, 0.90],
], dtype=np.float32)
_IRIS_COLOURS = np.array([
    [0.30, 0.18, 0.08], [0.45, 0.30, 0.12], [0.20, 0.45, 0.75], [0.30, 0.55, 0.35],
    [0.50, 0.50, 0.55], [0.10, 0.08, 0.06],
], dtype=np.float32)
_HAT_COLOURS = np.array([
    [0.80, 0.10, 0.10], [0.15, 0.25, 0.70], [0.90, 0.80, 0.20], [0.20, 0.55, 0.30],
    [0.95, 0.95, 0.95], [0.10, 0.10, 0.12],
], dtype=np.float32)
_LENS_COLOURS = np.array([[0.02, 0.02, 0.03], [0.25, 0.15, 0.05], [0.05, 0.10, 0.25]],
                         dtype=np.float32)
_BACKGROUND_COLOURS = np.array([
    [0.10, 0.10, 0.10], [0.90, 0.90, 0.90], [0.20, 0.40, 0.70], [0.70, 0.60, 0.40],
    [0.30, 0.60, 0.30], [0.90, 0.90, 0.90],
], dtype=np.float32)
_NEUTRAL_BACKGROUND = np.array([0.75, 0.75, 0.75], dtype=np.float32)   # for nuisance=0


# --------------------------------------------------------------------------- random numbers
def _uniforms(seed: int, keys: np.ndarray, count: int) -> np.ndarray:
    """``count`` uniform numbers in [0, 1) for every row of ``keys``, shape (N, count) float32.

    Row ``n`` comes from ``np.random.default_rng([seed, *keys[n]])``: it depends on ``seed``
    and that row's key only, never on the other rows or on N.
    """
    out = np.empty((len(keys), count), dtype=np.float32)
    for n, key in enumerate(keys.tolist()):
        out[n] = np.random.default_rng([seed, *key]).random(count, dtype=np.float32)
    return out


class _Columns:
    """Hands out the columns of a (N, K) uniform-random matrix one parameter at a time.

    ``draw.uniform(lo, hi)`` takes the next column and maps it to [lo, hi). Parameters are
    always drawn in the same order, so each one always uses the same column.
    """

    def __init__(self, u: np.ndarray):
        self.u = u
        self.used = 0

    def next(self) -> np.ndarray:
        if self.used >= self.u.shape[1]:
            raise RuntimeError("not enough random columns; increase the count in _uniforms")
        self.used += 1
        return self.u[:, self.used - 1]

    def uniform(self, lo: float, hi: float) -> np.ndarray:
        return lo + (hi - lo) * self.next()

    def chance(self, p) -> np.ndarray:
        """True with probability ``p`` (a number or an (N,) array)."""
        return self.next() < p

    def palette(self, colours: np.ndarray, jitter: float) -> np.ndarray:
        """A colour between two neighbouring palette entries, plus jitter: (N, 3) float32."""
        t = self.next() * (len(colours) - 1)
        k = np.minimum(t.astype(int), len(colours) - 2)
        f = (t - k)[:, None]
        rgb = (1 - f) * colours[k] + f * colours[k + 1]
        rgb = rgb + jitter * (np.stack([self.next() for _ in range(3)], axis=1) - 0.5)
        return np.clip(rgb, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- identities
_N_IDENTITY_UNIFORMS = 48


def _identity_params_for(indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Parameters of the identities with global indices ``indices`` (N,); see identity_params."""
    keys = np.stack([np.full(len(indices), _IDENTITY_STREAM), indices], axis=1)
    d = _Columns(_uniforms(seed, keys, _N_IDENTITY_UNIFORMS))
    # Each parameter takes the next random column: add new parameters at the END only,
    # or every existing face changes.
    face = {}
    face["head_width"] = d.uniform(0.48, 0.64)          # half-width of the head ellipse
    face["head_height"] = d.uniform(0.64, 0.80)         # half-height of the head ellipse
    face["jaw"] = d.uniform(0.0, 0.40)                  # 0 = round chin, 0.4 = narrow pointed chin
    face["skin"] = d.palette(_SKIN_TONES, 0.10)         # (N, 3) RGB in [0, 1]
    face["eye_spacing"] = d.uniform(0.16, 0.29)         # x of each eye centre
    face["eye_size"] = d.uniform(0.07, 0.12)            # half-width of the eye
    face["eye_aspect"] = d.uniform(0.40, 0.75)          # eye half-height / half-width
    face["eye_height"] = d.uniform(-0.14, 0.04)         # y of the eye centres
    face["iris"] = d.palette(_IRIS_COLOURS, 0.15)       # (N, 3)
    face["brow_thickness"] = d.uniform(0.015, 0.050)
    face["brow_angle"] = d.uniform(-0.45, 0.45)         # radians; > 0 = outer ends lower
    face["brow_gap"] = d.uniform(0.07, 0.16)            # brow height above the eye centre
    face["nose_length"] = d.uniform(0.12, 0.26)         # from the eye line to the nose tip
    face["nose_width"] = d.uniform(0.035, 0.090)
    face["mouth_width"] = d.uniform(0.11, 0.24)         # half-width
    face["mouth_thickness"] = d.uniform(0.012, 0.040)   # lip half-thickness
    face["mouth_gap"] = d.uniform(0.07, 0.15)           # from the nose tip down to the mouth
    face["smile"] = d.uniform(-0.02, 0.05)              # resting mouth curvature (> 0 = smile)
    face["lips"] = np.clip(face["skin"] * np.array([0.85, 0.55, 0.55], np.float32)
                        + d.uniform(0.0, 0.15)[:, None] * np.array([0.6, 0.1, 0.1], np.float32),
                        0, 1).astype(np.float32)     # (N, 3)
    face["ear_size"] = d.uniform(0.07, 0.13)
    face["hair"] = d.palette(_HAIR_COLOURS, 0.12)       # (N, 3)
    face["hair_fringe"] = d.uniform(-0.78, -0.22)       # y of the hair line on the forehead
    face["hair_part"] = d.uniform(-0.35, 0.35)          # tilt of the hair line
    face["hair_wave"] = d.uniform(0.0, 0.08)            # waviness of the hair line
    face["hair_length"] = d.uniform(-0.35, 0.95)        # y where the back hair ends
    face["hair_volume"] = d.uniform(0.02, 0.16)         # how far hair stands out from the head
    face["hair_sides"] = d.uniform(0.0, 0.16)           # width of hair covering the temples
    face["glasses"] = d.chance(0.12)                    # (N,) bool
    face["glasses_colour"] = d.palette(_HAIR_COLOURS[:3], 0.3)
    face["moustache"] = d.chance(0.12)                  # (N,) bool
    return face


def identity_params(n_identities: int, seed: int = 0, start: int = 0) -> dict[str, np.ndarray]:
    """Face parameters of identities ``start, start+1, ..., start+n_identities-1``.

    Identity ``i`` depends only on ``(seed, i)``, so ``identity_params(100)`` equals the first
    100 rows of ``identity_params(3000)``.

    Returns a dict of float32 arrays of shape ``(n_identities,)`` (one number per identity,
    in canonical face units where the frame spans -1..1, or radians for angles), RGB colours
    of shape ``(n_identities, 3)`` in [0, 1], and the bool traits ``glasses`` and
    ``moustache`` of shape ``(n_identities,)``.
    """
    _check_count("n_identities", n_identities)
    _check_index("start", start)
    _check_index("seed", seed)
    return _identity_params_for(np.arange(start, start + n_identities, dtype=np.int64), seed)


# --------------------------------------------------------------------------- image nuisance
_N_IMAGE_UNIFORMS = 64


def _nuisance_params(identities: np.ndarray, image_ids: np.ndarray, seed: int,
                     nuisance: float) -> dict[str, np.ndarray]:
    """Per-image nuisance, each (N,) float32 (or (N, 3) colours / (N,) bool flags).

    Every deviation from the canonical photo is multiplied by ``nuisance``, so 0 gives the
    same clean frontal face for every image of an identity.
    """
    keys = np.stack([np.full(len(identities), _IMAGE_STREAM), identities, image_ids], axis=1)
    d = _Columns(_uniforms(seed, keys, _N_IMAGE_UNIFORMS))
    k = nuisance     # (add new parameters at the end only, as for identities)
    shot = {}
    # pose
    shot["angle"] = k * d.uniform(-0.26, 0.26)          # radians, about +-15 degrees
    shot["scale"] = 1 + k * d.uniform(-0.18, 0.10)
    shot["shift_x"] = k * d.uniform(-0.14, 0.14)        # image units (image spans -1..1)
    shot["shift_y"] = k * d.uniform(-0.12, 0.12)
    shot["turn"] = k * d.uniform(-0.07, 0.07)           # inner features slide sideways
    # expression
    shot["smile"] = k * d.uniform(-0.04, 0.10)          # mouth curvature (> 0 = smile)
    shot["mouth_open"] = k * d.uniform(0.0, 0.07) * d.chance(0.4)
    shot["brow_raise"] = k * d.uniform(-0.02, 0.05)
    shot["eye_open"] = 1 - k * np.where(d.chance(0.12), 0.85, d.uniform(0.0, 0.3))
    shot["gaze"] = k * d.uniform(-0.5, 0.5)             # iris shift, in iris radii
    # accessories
    shot["sunglasses"] = d.chance(0.10 * k)
    shot["sunglasses_colour"] = d.palette(_LENS_COLOURS, 0.1)
    shot["hat"] = d.chance(0.12 * k)
    shot["hat_colour"] = d.palette(_HAT_COLOURS, 0.3)
    shot["hat_height"] = d.uniform(-0.70, -0.45)        # y of the brim
    # lighting
    shot["gain"] = 1 + k * d.uniform(-0.40, 0.30)
    shot["bias"] = k * d.uniform(-0.10, 0.10)
    shot["cast"] = 1 + k * (np.stack([d.next() for _ in range(3)], axis=1) - 0.5) * 0.25
    shot["light_angle"] = d.uniform(0, 2 * np.pi)
    shot["light_strength"] = k * d.uniform(0.0, 0.55)   # directional gradient across the image
    # background
    colour = d.palette(_BACKGROUND_COLOURS, 0.5)
    shot["bg"] = _NEUTRAL_BACKGROUND + k * (colour - _NEUTRAL_BACKGROUND)
    shot["bg_grad"] = k * d.uniform(-0.35, 0.35)
    shot["bg_grad_angle"] = d.uniform(0, 2 * np.pi)
    shot["bg_texture"] = k * d.uniform(0.0, 0.25) * d.chance(0.6)
    shot["bg_freq_x"] = d.uniform(-12, 12)
    shot["bg_freq_y"] = d.uniform(-12, 12)
    shot["bg_phase"] = d.uniform(0, 2 * np.pi)
    # occlusion: an ellipse or a rectangle of a random colour somewhere on the face
    shot["occluder"] = d.chance(0.25 * k)
    shot["occ_box"] = d.chance(0.5)                     # rectangle (True) or ellipse (False)
    shot["occ_x"] = d.uniform(-0.5, 0.5)
    shot["occ_y"] = d.uniform(-0.3, 0.7)
    shot["occ_rx"] = d.uniform(0.12, 0.35)
    shot["occ_ry"] = d.uniform(0.12, 0.35)
    shot["occ_colour"] = np.stack([d.next() for _ in range(3)], axis=1)
    # sensor noise: standard deviation, and where to cut the noise patch from a fixed bank
    shot["noise"] = k * d.uniform(0.01, 0.06)
    shot["noise_tile"] = d.next()
    shot["noise_x"] = d.next()
    shot["noise_y"] = d.next()
    return {name: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype != bool else v
            for name, v in shot.items()}


# --------------------------------------------------------------------------- painting
# Arrays of pixels are stored channels-first, (3, n, height, width), because NumPy is much
# faster when the innermost axis is a long row of pixels rather than 3 colour channels.
# The public functions return the usual (n, height, width, 3) layout.

def _col(x):
    """(n,) -> (n, 1, 1) so one number per image broadcasts over a window of pixels."""
    return np.asarray(x, dtype=np.float32)[:, None, None]


def _image_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates of the pixel centres, x (1, 1, S) and y (1, S, 1), both -1..1."""
    g = (np.arange(size, dtype=np.float32) + 0.5) * (2 / size) - 1
    return g[None, None, :], g[None, :, None]


class _Scene:
    """A batch of n images being painted, and where every pixel lies on the face.

    ``image`` (3, n, S, S) float32 starts as the background; face parts are painted over it,
    back to front. Each part is a shape in the *face frame*; :meth:`local` gives every
    pixel's face-frame coordinates (u, v): the pose (rotation ``angle``, ``scale``, shift)
    run backwards, so the parts come out rotated, scaled and shifted in the image.
    """

    def __init__(self, background: np.ndarray, angle, scale, shift_x, shift_y):
        self.image = background
        self.size = size = background.shape[-1]
        self.x, self.y = _image_grid(size)
        self.pose = (angle, scale, shift_x, shift_y)
        self.cos, self.sin = np.cos(angle), np.sin(angle)
        self.scale, self.shift_x, self.shift_y = scale, shift_x, shift_y
        # The inverse pose is affine: u = ux * x + uy * y + u0 and v = vx * x + vy * y + v0,
        # with one set of coefficients (n,) per image.
        self.ux, self.uy = self.cos / scale, self.sin / scale
        self.vx, self.vy = -self.sin / scale, self.cos / scale
        self.u0 = -(self.ux * shift_x + self.uy * shift_y)
        self.v0 = -(self.vx * shift_x + self.vy * shift_y)
        self.pixel = 2 / (size * scale)                 # (n,) pixel width in face units
        self.sharpness = _col(1 / self.pixel)

    def window(self, cx, cy, rx, ry):
        """Rows and columns of the image that cover the face-frame box ``cx +- rx``,
        ``cy +- ry`` (all (n,) arrays) in every image of the batch.

        Painting only inside such windows is what makes small parts (eyes, nostrils) cheap.
        """
        # forward pose: face frame -> image coordinates; then the rotated box's extent
        x = self.shift_x + self.scale * (self.cos * cx - self.sin * cy)
        y = self.shift_y + self.scale * (self.sin * cx + self.cos * cy)
        cos, sin = np.abs(self.cos), np.abs(self.sin)
        half_w = self.scale * (cos * rx + sin * ry)
        half_h = self.scale * (sin * rx + cos * ry)

        def span(lo, hi):   # pixel indices, with a 2-pixel margin for the soft edges
            a = int(np.floor((float(np.min(lo)) + 1) * self.size / 2)) - 2
            b = int(np.ceil((float(np.max(hi)) + 1) * self.size / 2)) + 2
            return slice(min(max(a, 0), self.size), min(max(b, 0), self.size))

        return span(y - half_h, y + half_h), span(x - half_w, x + half_w)

    def subset(self, idx: np.ndarray) -> "_Scene":
        """A new scene holding a copy of only the images ``idx``; see :func:`_draw_some`."""
        return _Scene(self.image[:, idx], *(x[idx] for x in self.pose))

    def local_u(self, rows, cols, centre=0.0, stretch=1.0):
        """``(u - centre) * stretch`` for the pixels of a window, (n, H, W).

        ``centre`` and ``stretch`` are numbers or (n,) arrays. Because u is an affine function
        of the pixel position, this costs one pass over the window: the per-image
        coefficients are folded into small (n, 1, W) and (n, H, 1) arrays first.
        """
        x, y = self.x[:, :, cols], self.y[:, rows, :]
        return (_col(self.ux * stretch) * x
                + (_col(self.uy * stretch) * y + _col((self.u0 - centre) * stretch)))

    def local_v(self, rows, cols, centre=0.0, stretch=1.0):
        """``(v - centre) * stretch`` for the pixels of a window, (n, H, W); see local_u."""
        x, y = self.x[:, :, cols], self.y[:, rows, :]
        return (_col(self.vx * stretch) * x
                + (_col(self.vy * stretch) * y + _col((self.v0 - centre) * stretch)))

    def local(self, rows, cols, cx=0.0, cy=0.0, stretch_u=1.0, stretch_v=1.0):
        """Face coordinates relative to ``(cx, cy)``, optionally stretched: du, dv (n, H, W).

        With the defaults these are just the face-frame coordinates u, v of every pixel.
        """
        return (self.local_u(rows, cols, cx, stretch_u), self.local_v(rows, cols, cy, stretch_v))

    def soft(self, inside):
        """Anti-aliased coverage in [0, 1] from a signed distance (face units, > 0 inside)."""
        return np.clip(0.5 + inside * self.sharpness, 0, 1)

    def soft_edge(self, q, k):
        """``soft((1 - q) * k)`` for a shape with q < 1 inside; ``k`` (n,) in face units.

        Written as ``c0 - q * c1`` with per-image constants: 3 passes over the pixels, not 5.
        """
        c1 = _col(k) * self.sharpness
        return np.clip((0.5 + c1) - q * c1, 0, 1)

    def paint(self, rows, cols, alpha, rgb):
        """Paint colour ``rgb`` over a window with coverage ``alpha`` (n, H, W).

        ``rgb`` is one colour per image, (n, 3), or a colour per pixel, (3, n, H, W).
        """
        if rgb.ndim == 2:
            rgb = rgb.T[:, :, None, None]
        for channel in range(3):       # one channel at a time is ~2x faster in NumPy
            region = self.image[channel, :, rows, cols]
            region += alpha * (rgb[channel] - region)


def _ellipse_alpha(scene, rows, cols, cx, cy, rx, ry):
    """Coverage (n, H, W) of an ellipse inside a window; arguments (n,) in face units.

    ``q`` is 1 on the ellipse's edge; ``(1 - q) * max(rx, ry) / 2`` stands in for the distance
    to the edge. It never underestimates the distance outside, so the soft edge stays within
    half a pixel of the ellipse and the window around the ellipse always contains it all.
    """
    du, dv = scene.local(rows, cols, cx, cy, 1 / rx, 1 / ry)     # (u - cx) / rx, ...
    return scene.soft_edge(du * du + dv * dv, 0.5 * np.maximum(rx, ry))


def _ellipse(scene, cx, cy, rx, ry):
    """Window (rows, cols) around an ellipse and its coverage (n, H, W)."""
    rows, cols = scene.window(cx, cy, rx, ry)
    return rows, cols, _ellipse_alpha(scene, rows, cols, cx, cy, rx, ry)


def _paint_ellipse(scene, rgb, cx, cy, rx, ry, opacity=None):
    """Paint an ellipse of colour ``rgb`` (n, 3), optionally partly transparent."""
    rows, cols, alpha = _ellipse(scene, cx, cy, rx, ry)
    if opacity is not None:
        alpha = alpha * _col(opacity)
    scene.paint(rows, cols, alpha, rgb)


_HAIR_GROW = 0.03   # hair on the head reaches this far beyond the skin (face units)


def _head_shape(scene, face):
    """The head: an ellipse whose lower half narrows by ``jaw``.

    Returns the window (rows, cols) of the head grown by ``_HAIR_GROW``, ``q`` (n, H, W),
    which is 0 at the centre of the head and 1 on its edge, and ``inside`` (n, H, W), an
    approximate distance to the edge (face units, > 0 inside).
    """
    rx, ry = face["head_width"], face["head_height"]
    # coverage > 0 where q < 1 + (grow + half a pixel) / (ry / 2): this far out in q
    reach = np.sqrt(1 + (_HAIR_GROW + 0.5 * scene.pixel) / (0.5 * ry))
    rows, cols = scene.window(np.zeros_like(rx), np.full_like(rx, _HEAD_Y), rx * reach, ry * reach)
    u, dv = scene.local(rows, cols, 0.0, _HEAD_Y, 1.0, 1 / ry)  # dv: -1 at the top, 1 at chin
    below = np.clip(dv, 0, 1)
    half_width = _col(rx) - _col(rx * face["jaw"]) * (below * below)
    q = u / half_width
    q *= q
    q += dv * dv                                     # (u / half_width)^2 + dv^2
    return rows, cols, q, (1 - q) * _col(0.5 * ry)


def _draw_hair_back(scene, face):
    """Hair behind the head: a larger ellipse, cut off at the hair length."""
    long = np.clip(face["hair_length"], 0, 1)
    rx = face["head_width"] + face["hair_volume"] + 0.12 * long
    ry = (face["head_height"] + face["hair_volume"]) * 1.05
    cy = _HEAD_Y - 0.5 * face["hair_volume"] + 0.15 * long
    top, bottom = cy - ry, np.minimum(cy + ry, face["hair_length"])
    rows, cols = scene.window(np.zeros_like(rx), (top + bottom) / 2, rx, (bottom - top) / 2)
    alpha = _ellipse_alpha(scene, rows, cols, np.zeros_like(rx), cy, rx, ry)
    past_the_end = scene.local_v(rows, cols, face["hair_length"])      # v - hair_length
    scene.paint(rows, cols, alpha * scene.soft(-past_the_end), face["hair"])


def _draw_neck(scene, face):
    """A darker box from under the chin down to the bottom of the frame."""
    half = 0.42 * face["head_width"]
    top, bottom = 0.3, 1.0
    rows, cols = scene.window(np.zeros_like(half), np.full_like(half, (top + bottom) / 2),
                              half, np.full_like(half, (bottom - top) / 2))
    u, v = scene.local(rows, cols)
    alpha = scene.soft(_col(half) - np.abs(u)) * scene.soft(np.minimum(v - top, bottom - v))
    scene.paint(rows, cols, alpha, face["skin"] * 0.8)


def _draw_ears(scene, face):
    """Two ellipses at the sides of the head, partly hidden by it."""
    for side in (-1, 1):
        cx = side * (face["head_width"] + 0.2 * face["ear_size"])
        _paint_ellipse(scene, face["skin"] * 0.9, cx, face["eye_height"] + 0.1,
                       0.7 * face["ear_size"], 1.2 * face["ear_size"])


def _draw_head(scene, face):
    """The face, a little darker towards the edge so it looks round; then the fringe."""
    rows, cols, q, inside = _head_shape(scene, face)
    shade = 1 - 0.2 * q
    scene.paint(rows, cols, scene.soft(inside), face["skin"].T[:, :, None, None] * shade)
    _draw_fringe(scene, face, rows, cols, inside)


def _draw_fringe(scene, face, rows, cols, inside):
    """Hair on the head: above a (tilted, wavy) hair line, and over the temples.

    ``rows, cols, inside`` are the head's window and distance to its edge; the hair covers
    the head's edge by ``_HAIR_GROW`` and only needs the top part of the window.
    """
    line_bottom = face["hair_fringe"] + np.abs(face["hair_part"]) * face["head_width"] + face["hair_wave"]
    lowest = np.maximum(face["eye_height"] + 0.05, line_bottom)
    top = _HEAD_Y - face["head_height"]
    lowest = lowest + 0.02       # margin: the hair line may tilt beyond the head's width
    hair_rows, _ = scene.window(np.zeros_like(top), (top + lowest) / 2,
                                face["head_width"] + _HAIR_GROW, (lowest - top) / 2)
    rows = slice(rows.start, max(rows.start, min(rows.stop, hair_rows.stop)))
    head = scene.soft(inside[:, :rows.stop - rows.start] + _HAIR_GROW)
    u, v = scene.local(rows, cols)
    line = (_col(face["hair_fringe"]) + _col(face["hair_part"]) * u
            + _col(face["hair_wave"]) * np.cos(14 * u))
    fringe = scene.soft(line - v)
    temples = (scene.soft(np.abs(u) - _col(face["head_width"] - face["hair_sides"]))
               * scene.soft(_col(face["eye_height"] + 0.05) - v))
    scene.paint(rows, cols, head * np.maximum(fringe, temples), face["hair"])


def _draw_eyes(scene, face, shot):
    """White of the eye, iris and pupil. Blinks shrink the eye opening; gaze moves the iris."""
    rx = face["eye_size"]
    ry = rx * face["eye_aspect"] * np.maximum(shot["eye_open"], 0.08)
    iris = 0.55 * rx
    white = np.full_like(face["skin"], 0.97)
    for side in (-1, 1):
        cx, cy = side * face["eye_spacing"] + shot["turn"], face["eye_height"]
        rows, cols, opening = _ellipse(scene, cx, cy, rx, ry)
        scene.paint(rows, cols, opening, white)
        ix = cx + 0.4 * shot["gaze"] * iris
        disk = _ellipse_alpha(scene, rows, cols, ix, cy, iris, iris)
        scene.paint(rows, cols, opening * disk, face["iris"])
        pupil = _ellipse_alpha(scene, rows, cols, ix, cy, 0.45 * iris, 0.45 * iris)
        scene.paint(rows, cols, opening * pupil, white * 0.03)


def _draw_brows(scene, face, shot):
    """Each brow is a tilted, arched band that gets thinner towards its ends."""
    half_length, thickness = 1.25 * face["eye_size"], face["brow_thickness"]
    # bounding box of the tilted band (|along| < half_length, |across| < thickness + arch)
    c, s = np.cos(face["brow_angle"]), np.abs(np.sin(face["brow_angle"]))
    half_w = c * half_length + s * (thickness + 0.03)
    half_h = s * half_length + c * (thickness + 0.03)
    for side in (-1, 1):
        cx = side * (face["eye_spacing"] + 0.01) + shot["turn"]
        cy = face["eye_height"] - face["brow_gap"] - shot["brow_raise"]
        rows, cols = scene.window(cx, cy, half_w, half_h)
        du, dv = scene.local(rows, cols, cx, cy)
        c, s = _col(np.cos(side * face["brow_angle"])), _col(np.sin(side * face["brow_angle"]))
        along = (c * du + s * dv) * _col(1 / half_length)        # -1..1 from end to end
        across = c * dv - s * du - 0.03 * along ** 2            # arched: the ends are lower
        alpha = (scene.soft(_col(thickness) * (1 - 0.5 * along ** 2) - np.abs(across))
                 * scene.soft((1 - np.abs(along)) * _col(half_length)))
        scene.paint(rows, cols, alpha, face["hair"] * 0.8)


def _draw_nose(scene, face, shot):
    """A soft shadow along one side of the nose, a rounded tip, then two nostrils."""
    tip_y = face["eye_height"] + face["nose_length"]
    cx = 1.3 * shot["turn"]
    half_opaque = np.full_like(cx, 0.6)
    _paint_ellipse(scene, face["skin"] * 0.7, cx + 0.4 * face["nose_width"],
                   tip_y - 0.45 * face["nose_length"], 0.4 * face["nose_width"],
                   0.5 * face["nose_length"], opacity=half_opaque)
    _paint_ellipse(scene, face["skin"] * 0.8, cx, tip_y - 0.2 * face["nose_width"],
                   1.1 * face["nose_width"], 0.7 * face["nose_width"], opacity=half_opaque)
    for side in (-1, 1):
        _paint_ellipse(scene, face["skin"] * 0.45, cx + side * face["nose_width"], tip_y,
                       0.4 * face["nose_width"], 0.25 * face["nose_width"])


def _draw_mouth(scene, face, shot):
    """Lips: a band along a parabola (the smile), with a dark opening between them."""
    cx, cy = _mouth_centre(face, shot)
    w, t, o = face["mouth_width"], face["mouth_thickness"], shot["mouth_open"]
    smile = face["smile"] + shot["smile"]
    top = cy - np.maximum(smile, 0) - t
    bottom = cy + np.maximum(-smile, 0) + t + o
    rows, cols = scene.window(cx, (top + bottom) / 2, w, (bottom - top) / 2)
    s = scene.local_u(rows, cols, cx, 1 / w)             # -1..1 along the mouth
    along = scene.soft((1 - np.abs(s)) * _col(w))
    s2 = s * s
    taper = np.clip(1 - s2, 0, 1)                        # 1 in the middle, 0 at the corners
    bulge = 0.5 * _col(o) * taper                        # half the opening at this point
    d = scene.local_v(rows, cols, cy) + _col(smile) * s2  # distance below the upper-lip line
    middle = np.abs(d - bulge)                           # distance from the mouth's mid-line
    lips = _col(t) * (0.5 + 0.5 * taper) + bulge - middle
    scene.paint(rows, cols, scene.soft(lips) * along, face["lips"])
    scene.paint(rows, cols, scene.soft(bulge - middle - 0.004) * along,
                np.full_like(face["lips"], 0.12))


def _mouth_centre(face, shot):
    """Face-frame centre (x, y) of the mouth, each (n,)."""
    return 1.2 * shot["turn"], face["eye_height"] + face["nose_length"] + face["mouth_gap"]


def _draw_moustache(scene, face, shot):
    """A flat ellipse of hair just above the upper lip (some identities)."""
    cx, cy = _mouth_centre(face, shot)
    _paint_ellipse(scene, face["hair"] * 0.9, cx, cy - face["mouth_thickness"] - 0.035,
                   0.85 * face["mouth_width"], np.full_like(cx, 0.032))


def _draw_glasses(scene, face, shot):
    """Glasses, an identity trait: two rings and a bridge."""
    _draw_lenses(scene, face, shot, face["glasses_colour"], filled=False)


def _draw_sunglasses(scene, face, shot):
    """Sunglasses, a nuisance: two dark filled lenses and a bridge."""
    _draw_lenses(scene, face, shot, shot["sunglasses_colour"], filled=True)


def _draw_lenses(scene, face, shot, colour, filled):
    """Two lenses around the eyes (rings, or filled) and the bridge between them."""
    rx, ry = 1.55 * face["eye_size"], 1.2 * face["eye_size"]
    for side in (-1, 1):
        cx, cy = side * face["eye_spacing"] + shot["turn"], face["eye_height"]
        rows, cols, lens = _ellipse(scene, cx, cy, rx, ry)
        if not filled:
            lens = lens - _ellipse_alpha(scene, rows, cols, cx, cy, rx - 0.03, ry - 0.03)
        scene.paint(rows, cols, lens, colour)
    half, cx, cy = face["eye_spacing"] - 1.4 * face["eye_size"], shot["turn"], face["eye_height"] - 0.02
    rows, cols = scene.window(cx, cy, half, np.full_like(half, 0.02))
    du, dv = scene.local(rows, cols, cx, cy)
    bridge = scene.soft(_col(half) - np.abs(du)) * scene.soft(0.012 - np.abs(dv))
    scene.paint(rows, cols, bridge, colour)


def _draw_hat(scene, face, shot):
    """A cap over the top of the head: a half-ellipse crown and a brim."""
    brim_y, w = shot["hat_height"], face["head_width"] + 0.06
    rows, cols = scene.window(np.zeros_like(w), brim_y - 0.22, w + 0.12, np.full_like(w, 0.28))
    # (the crown reaches 0.5 above the brim; the brim 0.04 below it)
    u, v = scene.local(rows, cols)
    crown = scene.soft(_col(brim_y) - v) * scene.soft(
        _col(0.5 * w) * (1 - (u * _col(1 / w)) ** 2 - ((v - _col(brim_y)) * 2) ** 2))
    brim = scene.soft(0.04 - np.abs(v - _col(brim_y))) * scene.soft(_col(w + 0.12) - np.abs(u))
    scene.paint(rows, cols, np.maximum(crown, brim), shot["hat_colour"])


def _draw_some(draw, scene, which: np.ndarray, face: dict, shot: dict) -> None:
    """Call ``draw(scene, face, shot)`` on only the images where ``which`` (n,) bool is True.

    Glasses, sunglasses, hats and moustaches appear on a few images only; painting them on a
    copy of just those images is cheaper than painting zero-coverage on all the others.
    """
    idx = np.flatnonzero(which)
    if len(idx) == 0:
        return
    some = scene.subset(idx)
    draw(some, {k: v[idx] for k, v in face.items()}, {k: v[idx] for k, v in shot.items()})
    scene.image[:, idx] = some.image


def _draw_face(scene, face: dict, shot: dict) -> None:
    """Paint the face parts back to front over the scene's background."""
    _draw_hair_back(scene, face)
    _draw_neck(scene, face)
    _draw_ears(scene, face)
    _draw_head(scene, face)
    _draw_eyes(scene, face, shot)
    _draw_brows(scene, face, shot)
    _draw_nose(scene, face, shot)
    _draw_mouth(scene, face, shot)
    _draw_some(_draw_moustache, scene, face["moustache"], face, shot)
    _draw_some(_draw_glasses, scene, face["glasses"] & ~shot["sunglasses"], face, shot)
    _draw_some(_draw_sunglasses, scene, shot["sunglasses"], face, shot)
    _draw_some(_draw_hat, scene, shot["hat"], face, shot)


# --------------------------------------------------------------------------- photographing
def _background(shot: dict, size: int) -> np.ndarray:
    """A colour, a linear gradient and a stripe texture: (3, n, size, size) float32."""
    x, y = _image_grid(size)
    # Everything is a sum or product of a function of x, (n, 1, S), and a function of y,
    # (n, S, 1), so the expensive work happens on those small arrays:
    #   gradient: g * (cos(angle) x + sin(angle) y)
    #   stripes:  t * sin(a + b) = t * (sin a cos b + cos a sin b), a = fx x + phase, b = fy y
    g, t, angle = _col(shot["bg_grad"]), _col(shot["bg_texture"]), _col(shot["bg_grad_angle"])
    a = _col(shot["bg_freq_x"]) * x + _col(shot["bg_phase"])
    b = _col(shot["bg_freq_y"]) * y
    shade = ((g * np.cos(angle)) * x + (g * np.sin(angle)) * y
             + (t * np.sin(a)) * np.cos(b) + (t * np.cos(a)) * np.sin(b))       # (n, S, S)
    image = np.empty((3,) + shade.shape, dtype=np.float32)
    for channel in range(3):
        np.add(shade, _col(shot["bg"][:, channel]), out=image[channel])
    return image


def _occlude(image: np.ndarray, shot: dict) -> None:
    """Paint an ellipse or a rectangle of a random colour over part of the face, in place.

    Only the images with ``shot["occluder"]`` True get one. Sizes are in image units (-1..1).
    """
    idx = np.flatnonzero(shot["occluder"])
    if len(idx) == 0:
        return
    size = image.shape[-1]
    x, y = _image_grid(size)
    dx = np.abs(x - _col(shot["occ_x"][idx])) * _col(1 / shot["occ_rx"][idx])    # < 1 inside
    dy = np.abs(y - _col(shot["occ_y"][idx])) * _col(1 / shot["occ_ry"][idx])
    box = _col(shot["occ_box"][idx])
    outside = box * np.maximum(dx, dy) + (1 - box) * (dx ** 2 + dy ** 2)
    alpha = np.clip((1 - outside) * (0.1 * size), 0, 1)     # about a pixel of soft edge
    for channel in range(3):
        region = image[channel, idx]
        image[channel, idx] = region + alpha * (_col(shot["occ_colour"][idx, channel]) - region)


def _light(image: np.ndarray, shot: dict) -> None:
    """Global gain and bias, a colour cast and a directional brightness gradient, in place."""
    x, y = _image_grid(image.shape[-1])
    s, angle = _col(shot["light_strength"]), _col(shot["light_angle"])
    light = (1 + (s * np.cos(angle)) * x) + (s * np.sin(angle)) * y          # (n, S, S)
    for channel in range(3):
        image[channel] *= light
        image[channel] *= _col(shot["gain"] * shot["cast"][:, channel])
        image[channel] += _col(shot["bias"])


@functools.lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """A fixed bank of standard-normal noise, (8, 3, 2*size, 2*size) float32.

    Drawing fresh Gaussian noise for every pixel of every image would take longer than
    drawing the faces, so each image cuts a random, (seed, i, j)-dependent window out of
    this bank instead.
    """
    rng = np.random.default_rng(2024)
    return rng.standard_normal((8, 3, 2 * size, 2 * size), dtype=np.float32)


def _add_noise(image: np.ndarray, shot: dict) -> None:
    """Add Gaussian noise of standard deviation ``shot["noise"]`` to every image, in place."""
    size = image.shape[-1]
    bank = _noise_bank(size)
    tile = (shot["noise_tile"] * len(bank)).astype(int)
    y0, x0 = (shot["noise_y"] * size).astype(int), (shot["noise_x"] * size).astype(int)
    for k in np.flatnonzero(shot["noise"] > 0):
        patch = bank[tile[k], :, y0[k]:y0[k] + size, x0[k]:x0[k] + size]
        image[:, k] += shot["noise"][k] * patch


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """(3, n, S, S) float in [0, 1] -> (n, S, S, 3) uint8 (rounded, clipped)."""
    out = np.empty(image.shape[1:] + (3,), dtype=np.uint8)
    for channel in range(3):
        pixels = image[channel]
        pixels *= 255
        pixels += 0.5
        out[..., channel] = np.clip(pixels, 0, 255)     # the assignment truncates to uint8
    return out


# --------------------------------------------------------------------------- public API
_CHUNK = 32    # images painted together: small enough for the CPU cache, big enough for NumPy


def render_faces(identities: np.ndarray, image_ids: np.ndarray, size: int = IMAGE_SIZE,
                 seed: int = 0, nuisance: float = 1.0) -> np.ndarray:
    """Render image ``image_ids[n]`` of identity ``identities[n]`` for every n.

    Args:
        identities: (N,) non-negative ints, global identity indices.
        image_ids: (N,) non-negative ints, image index within the identity.
        size: output height = width in pixels (>= 16); geometry scales with it.
        seed: non-negative int; the dataset's seed.
        nuisance: strength of pose/expression/accessory/lighting/background/noise/occlusion
            variation. 0 gives the clean canonical frontal face of each identity (identical
            for every image id), 1.0 is the default, values up to 2 exaggerate it.

    Returns:
        (N, size, size, 3) uint8 RGB images. Image n depends only on
        ``(seed, identities[n], image_ids[n], size, nuisance)``.
    """
    identities = _check_ids("identities", identities)
    image_ids = _check_ids("image_ids", image_ids)
    if identities.shape != image_ids.shape:
        raise ValueError(f"identities {identities.shape} and image_ids {image_ids.shape} must "
                         "have the same length: one (identity, image) pair per output image")
    _check_size(size)
    _check_index("seed", seed)
    nuisance = _check_nuisance(nuisance)
    people, which = np.unique(identities, return_inverse=True)
    face_all = _identity_params_for(people, seed)
    shot_all = _nuisance_params(identities, image_ids, seed, nuisance)
    out = np.empty((len(identities), size, size, 3), dtype=np.uint8)
    order = _similar_positions_together(shot_all)
    for a in range(0, len(order), _CHUNK):
        idx = order[a:a + _CHUNK]
        face = {name: value[which[idx]] for name, value in face_all.items()}
        shot = {name: value[idx] for name, value in shot_all.items()}
        out[idx] = _render_batch(face, shot, size)
    return out


def _similar_positions_together(shot: dict) -> np.ndarray:
    """An order of the images in which neighbours have similar face positions (N,) int.

    Only a speed trick: images rendered in one batch share painting windows, which stay
    small when the faces of the batch sit in similar places. The result does not depend on
    the order (every image is computed on its own).
    """
    n = len(shot["shift_y"])
    bands = max(1, int(round(np.sqrt(n / _CHUNK))))
    band = np.empty(n, dtype=np.int64)
    band[np.argsort(shot["shift_y"], kind="stable")] = np.arange(n) * bands // n
    return np.lexsort((shot["shift_x"], band))


def _render_batch(face: dict, shot: dict, size: int) -> np.ndarray:
    """Render one batch from its identity and nuisance parameters: (n, S, S, 3) uint8."""
    scene = _Scene(_background(shot, size), shot["angle"], shot["scale"], shot["shift_x"], shot["shift_y"])
    _draw_face(scene, face, shot)
    image = scene.image
    _occlude(image, shot)
    _light(image, shot)
    _add_noise(image, shot)
    return _to_uint8(image)


def make_synthetic_faces(n_identities: int = 500, images_per_identity: int = 10,
                         size: int = IMAGE_SIZE, seed: int = 0, start: int = 0,
                         nuisance: float = 1.0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A labelled dataset of synthetic faces, identity by identity.

    Args:
        n_identities: how many people (>= 1).
        images_per_identity: images of each person (>= 1); image j of a person is the same
            whatever this number is.
        size, seed, nuisance: as in :func:`render_faces`.
        start: global index of the first identity; use disjoint ranges for training and
            test people, e.g. ``start=0`` and ``start=100_000``.

    Returns:
        images: (n_identities * images_per_identity, size, size, 3) uint8.
        labels: (N,) int32 in [0, n_identities); label k is global identity ``start + k``.
        names: list of n_identities strings ``"synth_00042"`` (the global index).
    """
    _check_count("n_identities", n_identities)
    _check_count("images_per_identity", images_per_identity)
    _check_index("start", start)
    labels = np.repeat(np.arange(n_identities, dtype=np.int32), images_per_identity)
    image_ids = np.tile(np.arange(images_per_identity, dtype=np.int64), n_identities)
    images = render_faces(labels.astype(np.int64) + start, image_ids, size=size, seed=seed,
                          nuisance=nuisance)
    names = [f"synth_{start + k:05d}" for k in range(n_identities)]
    return images, labels, names


# --------------------------------------------------------------------------- validation
def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_count(name: str, value) -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer (at least 1); got {value!r}")


def _check_index(name: str, value) -> None:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}")


def _check_size(size) -> None:
    if not _is_int(size) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels (e.g. 32, 64, "
                         f"96, 128); got {size!r}")


def _check_nuisance(nuisance) -> float:
    try:
        value = float(nuisance)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value <= 2:      # also rejects nan
        raise ValueError(f"nuisance must be a number from 0 (clean, identical faces) to 2 "
                         f"(exaggerated); 1.0 is the default; got {nuisance!r}")
    return value


def _check_ids(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integers, shape (N,); "
                         f"got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative; got minimum {arr.min()}")
    return arr.astype(np.int64)
