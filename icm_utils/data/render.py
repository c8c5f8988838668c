"""Vectorised anti-aliased rasteriser: batches of simple 2-D scenes -> uint8 RGB images.

The peers draw one matplotlib figure per image (tens of milliseconds each). Here every shape
is a signed distance field evaluated for a whole batch of scenes at once in numpy; a pixel's
coverage is ``clip(0.5 - d / pixel_size, 0, 1)`` (``d`` in scene units, negative inside), which
gives ~1 pixel of smooth edge, and shapes are alpha-composited in the order given (painter's
algorithm) onto a white background.

Geometry conventions: the scene box ``xlim x ylim`` fills the whole image (the peers' matplotlib
axes leave ~12% white margins; we use the full frame so no pixel is wasted), ``y`` points up,
pixel centres sit at half-pixel offsets. When the box is not square the pixels are not square
either (as in the peers' ``aspect='auto'`` axes): circles in scene units become slight ellipses
in the image, and the anti-aliasing width uses the geometric mean pixel size.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# matplotlib's named colours used by the peers, as 0..255 RGB
COLORS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "orange": (255, 165, 0),
    "firebrick": (178, 34, 34),
    "lightskyblue": (135, 206, 250),
}

# pixels per chunk: bounds the float32 working buffer to ~50 MB whatever the batch size
_CHUNK_PIXELS = 2**22


@dataclass(frozen=True)
class Canvas:
    """A square raster of ``resolution`` pixels covering the scene box ``xlim x ylim``."""

    resolution: int = 64
    xlim: tuple[float, float] = (0.0, 20.0)
    ylim: tuple[float, float] = (0.0, 20.0)

    def __post_init__(self):
        check_render_resolution(self.resolution)
        for name, (lo, hi) in (("xlim", self.xlim), ("ylim", self.ylim)):
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError(f"{name} must be a finite increasing pair, got {(lo, hi)}")

    @property
    def dx(self) -> float:
        return (self.xlim[1] - self.xlim[0]) / self.resolution

    @property
    def dy(self) -> float:
        return (self.ylim[1] - self.ylim[0]) / self.resolution

    @property
    def pixel_size(self) -> float:
        """Geometric-mean pixel extent in scene units (the anti-aliasing scale)."""
        return float(np.sqrt(self.dx * self.dy))

    def points_to_scene(self, points: float, figure_inches: float = 1.0) -> float:
        """A matplotlib line width in points -> scene units.

        A point is 1/72 inch and the peers' figure is ``figure_inches`` wide, so a 3 pt line
        covers 3/72 of the image (4 px of 96 at dpi 96). Keeping that *fraction* makes the line
        look the same at every resolution (2.67 px at 64). Non-square boxes use the geometric
        mean of the box sides, an error of a few percent on the width of the line.
        """
        side = np.sqrt((self.xlim[1] - self.xlim[0]) * (self.ylim[1] - self.ylim[0]))
        return float(points / 72.0 / figure_inches * side)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of each column (left to right), y of each row (top to bottom: y is up)."""
        k = np.arange(self.resolution) + 0.5
        return self.xlim[0] + k * self.dx, self.ylim[1] - k * self.dy

    def window(self, bbox: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """Rows/cols ``(r0, r1, c0, c1)`` whose pixels may be touched by a shape in ``bbox``."""
        xmin, xmax, ymin, ymax = bbox
        pad = max(self.dx, self.dy)  # coverage is 0 beyond half a pixel from the edge
        res = self.resolution
        c0 = int(np.floor((xmin - pad - self.xlim[0]) / self.dx - 0.5))
        c1 = int(np.ceil((xmax + pad - self.xlim[0]) / self.dx - 0.5)) + 1
        r0 = int(np.floor((self.ylim[1] - ymax - pad) / self.dy - 0.5))
        r1 = int(np.ceil((self.ylim[1] - ymin + pad) / self.dy - 0.5)) + 1
        return max(r0, 0), min(r1, res), max(c0, 0), min(c1, res)


def check_render_resolution(resolution) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution <= 0:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    return int(resolution)


def _rgb(color) -> np.ndarray:
    """Colour name, RGB triple (0..255) or per-scene (N, 3) array -> float array in [0, 1]."""
    if isinstance(color, str):
        if color not in COLORS:
            raise ValueError(f"unknown colour {color!r}; known: {sorted(COLORS)}")
        color = COLORS[color]
    c = np.asarray(color, dtype=np.float64)
    if c.shape[-1:] != (3,) or c.ndim > 2:
        raise ValueError(f"a colour is an RGB triple or an (N, 3) array, got shape {c.shape}")
    return c / 255.0


class Shape:
    """Base class: per-scene parameters are scalars (shared) or arrays of length N."""

    params: tuple[str, ...] = ()

    def __init__(self, color):
        self.rgb = _rgb(color)

    def _p(self, name: str, sl: slice) -> np.ndarray:
        # float32 halves the memory traffic; 1e-6 relative error is far below a pixel
        a = getattr(self, name)
        if a.ndim == 0:
            return a.reshape(1, 1, 1).astype(np.float32)
        return a[sl, None, None].astype(np.float32)

    def check(self, n: int) -> None:
        kind = type(self).__name__
        for name in self.params:
            a = getattr(self, name)
            if a.ndim not in (0, 1) or (a.ndim == 1 and a.shape[0] != n):
                raise ValueError(f"{kind}.{name} must be a scalar or have length {n}, "
                                 f"got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{kind}.{name} has non-finite values")
        if self.rgb.ndim == 2 and self.rgb.shape[0] != n:
            raise ValueError(f"{kind} colour array has {self.rgb.shape[0]} rows, expected {n}")

    def _range(self, name: str, sl: slice, op) -> float:
        a = getattr(self, name)
        return float(op(a if a.ndim == 0 else a[sl]))

    def bbox(self, sl: slice) -> tuple[float, float, float, float]:
        raise NotImplementedError

    def sdf(self, x: np.ndarray, y: np.ndarray, sl: slice) -> np.ndarray:
        """Signed distance (scene units) at pixel centres; x (1,1,w), y (1,h,1) -> (B,h,w)."""
        raise NotImplementedError


def _f(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


class Circle(Shape):
    """Filled disc of radius ``r`` centred at ``(cx, cy)``."""

    params = ("cx", "cy", "r")

    def __init__(self, cx, cy, r, color="black"):
        super().__init__(color)
        self.cx, self.cy, self.r = _f(cx), _f(cy), _f(r)

    def bbox(self, sl):
        rmax = self._range("r", sl, np.max)
        return (self._range("cx", sl, np.min) - rmax, self._range("cx", sl, np.max) + rmax,
                self._range("cy", sl, np.min) - rmax, self._range("cy", sl, np.max) + rmax)

    def sdf(self, x, y, sl):
        return np.hypot(x - self._p("cx", sl), y - self._p("cy", sl)) - self._p("r", sl)


class Rect(Shape):
    """Filled axis-aligned rectangle ``[x0, x1] x [y0, y1]``."""

    params = ("x0", "y0", "x1", "y1")

    def __init__(self, x0, y0, x1, y1, color="black"):
        super().__init__(color)
        self.x0, self.y0, self.x1, self.y1 = _f(x0), _f(y0), _f(x1), _f(y1)

    def bbox(self, sl):
        return (self._range("x0", sl, np.min), self._range("x1", sl, np.max),
                self._range("y0", sl, np.min), self._range("y1", sl, np.max))

    def sdf(self, x, y, sl):
        cx = 0.5 * (self._p("x0", sl) + self._p("x1", sl))
        cy = 0.5 * (self._p("y0", sl) + self._p("y1", sl))
        hx = 0.5 * np.abs(self._p("x1", sl) - self._p("x0", sl))
        hy = 0.5 * np.abs(self._p("y1", sl) - self._p("y0", sl))
        return _box_sdf(np.abs(x - cx) - hx, np.abs(y - cy) - hy)


def _box_sdf(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Exact box SDF from the per-axis excess distances (standard formula)."""
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


class Segment(Shape):
    """Thick line from (x0, y0) to (x1, y1) of total ``width``.

    ``cap="round"`` is a capsule (ends extend by width/2); ``cap="butt"`` stops exactly at the
    end points, so the drawn length equals the segment length (used where length is a label).
    """

    params = ("x0", "y0", "x1", "y1", "width")

    def __init__(self, x0, y0, x1, y1, width, color="black", cap: str = "round"):
        super().__init__(color)
        if cap not in ("round", "butt"):
            raise ValueError(f"cap must be 'round' or 'butt', got {cap!r}")
        self.x0, self.y0, self.x1, self.y1 = _f(x0), _f(y0), _f(x1), _f(y1)
        self.width, self.cap = _f(width), cap

    def bbox(self, sl):
        w = 0.5 * self._range("width", sl, np.max)
        xs = [self._range(k, sl, f) for k in ("x0", "x1") for f in (np.min, np.max)]
        ys = [self._range(k, sl, f) for k in ("y0", "y1") for f in (np.min, np.max)]
        return min(xs) - w, max(xs) + w, min(ys) - w, max(ys) + w

    def sdf(self, x, y, sl):
        ax, ay = self._p("x0", sl), self._p("y0", sl)
        ex, ey = self._p("x1", sl) - ax, self._p("y1", sl) - ay
        length = np.hypot(ex, ey)
        safe = np.where(length > 0, length, 1.0)  # a zero-length segment is a dot
        ux, uy = np.where(length > 0, ex / safe, 1.0), np.where(length > 0, ey / safe, 0.0)
        px, py = x - ax, y - ay
        along, across = px * ux + py * uy, px * uy - py * ux
        half_w = 0.5 * self._p("width", sl)
        if self.cap == "butt":
            return _box_sdf(np.abs(along - 0.5 * length) - 0.5 * length, np.abs(across) - half_w)
        t = np.clip(along, 0.0, length)
        return np.hypot(along - t, across) - half_w


class Polyline(Shape):
    """Connected thick line through K points per scene (round joins): xs, ys of shape (N, K)."""

    params = ()

    def __init__(self, xs, ys, width, color="black"):
        super().__init__(color)
        xs, ys = np.atleast_2d(_f(xs)), np.atleast_2d(_f(ys))
        if xs.shape != ys.shape or xs.shape[1] < 2:
            raise ValueError(f"Polyline needs xs, ys of equal shape (N, K>=2), got "
                             f"{xs.shape} and {ys.shape}")
        self.segments = [Segment(xs[:, k], ys[:, k], xs[:, k + 1], ys[:, k + 1], width, color)
                         for k in range(xs.shape[1] - 1)]
        self._n = xs.shape[0]

    def check(self, n):
        if self._n not in (1, n):
            raise ValueError(f"Polyline has {self._n} rows of points, expected {n}")
        if self._n == 1:  # shared by all scenes: broadcast once, cheaply
            for s in self.segments:
                for k in ("x0", "y0", "x1", "y1"):
                    if getattr(s, k).ndim == 1:
                        setattr(s, k, getattr(s, k)[0])
        for s in self.segments:
            s.check(n)

    def bbox(self, sl):
        boxes = np.array([s.bbox(sl) for s in self.segments])
        return boxes[:, 0].min(), boxes[:, 1].max(), boxes[:, 2].min(), boxes[:, 3].max()

    def sdf(self, x, y, sl):
        d = self.segments[0].sdf(x, y, sl)
        for s in self.segments[1:]:
            d = np.minimum(d, s.sdf(x, y, sl))
        return d


def rasterize(shapes: Sequence[Shape], n: int, canvas: Canvas, chunk: int | None = None,
              background=(255, 255, 255)) -> np.ndarray:
    """Draw ``n`` scenes (shapes in painter's order) -> uint8 array (n, R, R, 3)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"number of scenes must be a non-negative integer, got {n!r}")
    for s in shapes:
        s.check(n)
    res = canvas.resolution
    chunk = chunk or max(1, _CHUNK_PIXELS // (res * res))
    out = np.empty((n, res, res, 3), dtype=np.uint8)
    xs, ys = (v.astype(np.float32) for v in canvas.pixel_centres())
    bg = _rgb(background).astype(np.float32)
    inv_px = 1.0 / canvas.pixel_size
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        # channel-first buffer: each channel's window is contiguous, compositing stays in place
        buf = np.empty((3, sl.stop - sl.start, res, res), dtype=np.float32)
        buf[:] = bg[:, None, None, None]
        for s in shapes:
            r0, r1, c0, c1 = canvas.window(s.bbox(sl))
            if r0 >= r1 or c0 >= c1:
                continue  # entirely outside the frame
            d = s.sdf(xs[None, None, c0:c1], ys[None, r0:r1, None], sl)
            cov = np.clip(0.5 - d * np.float32(inv_px), 0.0, 1.0, dtype=np.float32)
            rgb = s.rgb.astype(np.float32)
            for c in range(3):
                col = rgb[sl, c, None, None] if rgb.ndim == 2 else rgb[c]
                win = buf[c, :, r0:r1, c0:c1]
                tmp = win - col
                tmp *= cov
                win -= tmp  # "over" compositing of an opaque colour: win + cov * (col - win)
        buf *= 255.0
        buf += 0.5  # round half up on truncation; values are in [0, 255]
        out[sl] = buf.astype(np.uint8).transpose(1, 2, 3, 0)
    return out
