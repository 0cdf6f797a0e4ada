"""The demo's procedural landscapes: one scene = a label map, an instance map and a photo, drawn with NumPy.

Each scene is `width` x `height` pixels: sky with clouds, mountains (snow on the peaks), then water, a
sandy shore, grass with trees and sometimes a road in perspective. Every class has its own colour and
texture (ripples on water, grain on sand, leaves on trees, a dashed centre line on the road), and the
layout follows rules a generator can learn (sky above mountains above the horizon, sand between water
and grass, trees grow bigger towards the viewer). Clouds and trees are countable things with one
instance id each; the instance map follows Cityscapes' convention (stuff pixels hold their class id,
thing k of class c holds c * 1000 + k). A scene is a pure function of its random generator's state
(demo.py writes them to disk).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

__all__ = ["DEMO_CLASSES", "DEMO_CLASS_COLOURS", "THING_CLASSES", "render_scene"]

#: Class ids are positions in this tuple (label_nc = 8).
DEMO_CLASSES = ("sky", "cloud", "mountain", "water", "grass", "tree", "sand", "road")
#: Classes whose connected things get their own instance id.
THING_CLASSES = ("cloud", "tree")
#: Label-map colours that read as the classes (results pages, the paint page's palette), by class id.
DEMO_CLASS_COLOURS = ((135, 190, 235), (245, 245, 245), (135, 115, 100), (25, 65, 140), (95, 170, 60),
                      (25, 95, 40), (225, 205, 150), (110, 110, 115))

SKY, CLOUD, MOUNTAIN, WATER, GRASS, TREE, SAND, ROAD = range(len(DEMO_CLASSES))
#: Instance id of thing k of class c (Cityscapes' convention).
_INSTANCE_STRIDE = 1000


# ------------------------------------------------------------------------------------------------
# Noise
# ------------------------------------------------------------------------------------------------
def _smooth_noise(rng, h: int, w: int, cells_h: int, cells_w: int) -> np.ndarray:
    """Value noise in [0, 1]: a (cells_h, cells_w) random grid resized bicubically to (h, w)."""
    grid = rng.random((max(cells_h, 2), max(cells_w, 2)), dtype=np.float32)
    out = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC))
    return np.clip(out, 0.0, 1.0)


def _fractal_noise(rng, h: int, w: int, base_cells: int, octaves: int = 3, stretch: float = 1.0) -> np.ndarray:
    """Sum of `octaves` value noises, each twice as fine and half as strong; `stretch` > 1 makes streaks
    along x (ripples). Normalised to [0, 1]."""
    total = np.zeros((h, w), np.float32)
    weight_sum = 0.0
    for octave in range(octaves):
        cells = base_cells * 2**octave
        cells_w = max(2, int(cells * w / max(h, 1) / stretch))
        total += _smooth_noise(rng, h, w, cells, cells_w) * 0.5**octave
        weight_sum += 0.5**octave
    return total / weight_sum


def _noise_1d(rng, w: int, cells: int, octaves: int = 4) -> np.ndarray:
    """A fractal curve over x in [0, 1] (cosine-interpolated random points), shape (w,)."""
    x = np.linspace(0.0, 1.0, w, dtype=np.float64)
    total = np.zeros(w)
    weight_sum = 0.0
    for octave in range(octaves):
        n = cells * 2**octave + 1
        points = rng.random(n)
        pos = x * (n - 1)
        i = np.minimum(pos.astype(int), n - 2)
        frac = (1 - np.cos((pos - i) * np.pi)) / 2
        total += (points[i] * (1 - frac) + points[i + 1] * frac) * 0.5**octave
        weight_sum += 0.5**octave
    return (total / weight_sum).astype(np.float32)


def _paint(image: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """image[mask] = colour, where colour is (3,) or a (H, W, 3) texture."""
    image[mask] = colour[mask] if colour.ndim == 3 else colour


def _shade(base, shade: np.ndarray) -> np.ndarray:
    """A (H, W, 3) texture: the RGB `base` colour scaled per pixel by `shade`."""
    return np.asarray(base, np.float32)[None, None, :] * shade[..., None]


# ------------------------------------------------------------------------------------------------
# One scene
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Canvas:
    """One scene being drawn: pixel coordinates, the maps so far, and the random stream.

    Each `_draw_*` step consumes `rng` in a fixed order (the scenes of a seed never change).
    """

    rng: np.random.Generator
    h: int
    w: int
    yy: np.ndarray  # (h, w) float32 row index
    xx: np.ndarray  # (h, w) float32 column index
    label: np.ndarray  # (h, w) uint8 class ids
    instance: np.ndarray  # (h, w) uint16 instance ids
    image: np.ndarray  # (h, w, 3) float32 colours in [0, 1]
    horizon: float = 0.0


def _draw_sky(c: _Canvas) -> np.ndarray:
    """A vertical gradient, sometimes a sunset, with faint haze; sets the horizon. Returns the low sky colour."""
    rng, h, w = c.rng, c.h, c.w
    c.horizon = rng.uniform(0.38, 0.55) * h
    top = np.array([0.20, 0.40, 0.85]) + rng.uniform(-0.08, 0.08, 3)
    low = np.array([0.93, 0.62, 0.45]) if rng.random() < 0.2 else np.array([0.72, 0.84, 0.96])
    t = np.clip(c.yy / max(c.horizon, 1.0), 0, 1)[..., None]
    haze = _fractal_noise(rng, h, w, 2, octaves=2)[..., None]
    c.image[:] = top * (1 - t) + low * t + (haze - 0.5) * 0.06
    return low


def _draw_mountains(c: _Canvas) -> None:
    """A fractal ridge above the horizon (most scenes), rock texture, snow near the peaks."""
    rng, h, w, yy, horizon = c.rng, c.h, c.w, c.yy, c.horizon
    if rng.random() >= 0.85:
        return
    profile = _noise_1d(rng, w, int(rng.integers(2, 5)))
    profile = (profile - profile.min()) / max(float(np.ptp(profile)), 1e-6)  # bold peaks and valleys
    ridge = horizon - (0.04 + rng.uniform(0.12, 0.4) * profile) * h
    mountain = (yy >= ridge[None, :]) & (yy < horizon)
    c.label[mountain] = MOUNTAIN
    rock = np.array([0.42, 0.40, 0.42]) + rng.uniform(-0.08, 0.08, 3)
    streaks = _fractal_noise(rng, h, w, 4, octaves=3, stretch=0.25)
    texture = _shade(rock, 0.7 + 0.6 * streaks)
    peak = float(ridge.min())
    snowline = peak + rng.uniform(0.15, 0.45) * (horizon - peak)
    snow = mountain & (yy < snowline + (streaks - 0.5) * 0.1 * h)
    texture[snow] = (0.93 + 0.07 * streaks[snow])[:, None] * np.array([0.95, 0.97, 1.0])
    _paint(c.image, mountain, texture)


def _draw_clouds(c: _Canvas) -> None:
    """Blobs of a few Gaussians in the upper sky, each an instance."""
    rng, h, w, yy, xx = c.rng, c.h, c.w, c.yy, c.xx
    for k in range(int(rng.integers(0, 5))):
        cx, cy = rng.uniform(0, w), rng.uniform(0.05, 0.55) * c.horizon
        rx, ry = rng.uniform(0.05, 0.15) * w, rng.uniform(0.03, 0.08) * h
        field = np.zeros((h, w), np.float32)
        for _ in range(4):
            ox, oy = rng.normal(0, rx * 0.6), rng.normal(0, ry * 0.4)
            field += np.exp(-(((xx - cx - ox) / rx) ** 2 + ((yy - cy - oy) / ry) ** 2))
        cloud = (field > 0.6) & (c.label == SKY)
        c.label[cloud] = CLOUD
        c.instance[cloud] = CLOUD * _INSTANCE_STRIDE + k
        puff = _fractal_noise(rng, h, w, 6, octaves=2)
        underside = np.clip((yy - cy) / (2 * ry), 0, 1)
        _paint(c.image, cloud, _shade([0.97, 0.97, 0.98], 0.85 + 0.15 * puff - 0.15 * underside))


def _draw_water(c: _Canvas, low_sky: np.ndarray) -> np.ndarray:
    """Water from the horizon down to a wavy shore (most scenes). Returns the shore row per column."""
    rng, h, w, yy, horizon = c.rng, c.h, c.w, c.yy, c.horizon
    shore = np.full(w, horizon, np.float32)
    if rng.random() < 0.6:
        shore = horizon + (rng.uniform(0.08, 0.25) + 0.06 * _noise_1d(rng, w, 3)) * h
        water = (yy >= horizon) & (yy < shore[None, :])
        c.label[water] = WATER
        depth = np.clip((yy - horizon) / max(h - horizon, 1.0), 0, 1)
        ripples = _fractal_noise(rng, h, w, 24, octaves=2, stretch=12.0)
        sea = np.array([0.10, 0.30, 0.55]) * (0.7 + 0.6 * ripples)[..., None] + (low_sky * 0.25)[None, None, :]
        _paint(c.image, water, sea * (1.0 - 0.3 * depth)[..., None])
    return shore


def _draw_land(c: _Canvas, shore: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sand below the shore (or a whole desert), grass on the rest of the ground.

    Returns the row where the sand ends per column, and whether the scene is a desert.
    """
    rng, h, w, yy = c.rng, c.h, c.w, c.yy
    land = (yy >= c.horizon) & (c.label == SKY)
    sand_end = shore
    desert = rng.random() < 0.2
    if desert or (shore[0] > c.horizon and rng.random() < 0.75):
        sand_end = shore + (rng.uniform(0.04, 0.12) + 0.04 * _noise_1d(rng, w, 4)) * h
        sand = land & ((yy < sand_end[None, :]) | desert)
        c.label[sand] = SAND
        grain = _fractal_noise(rng, h, w, 40, octaves=2)
        dunes = _fractal_noise(rng, h, w, 3, octaves=2, stretch=4.0)
        _paint(c.image, sand, _shade([0.88, 0.78, 0.55], 0.8 + 0.15 * grain + 0.15 * dunes))
    grass = land & (c.label == SKY)
    c.label[grass] = GRASS
    blades = _fractal_noise(rng, h, w, 48, octaves=2, stretch=0.3)
    meadow = _fractal_noise(rng, h, w, 3, octaves=3)
    green = np.array([0.25, 0.52, 0.18]) + rng.uniform(-0.05, 0.05, 3)
    _paint(c.image, grass, _shade(green, 0.65 + 0.35 * blades + 0.3 * meadow))
    return sand_end, desert


def _draw_road(c: _Canvas, sand_end: np.ndarray, desert: bool) -> None:
    """Sometimes a perspective strip from the bottom edge to the far edge of the land."""
    rng, h, w, yy, xx = c.rng, c.h, c.w, c.yy, c.xx
    road_top = float(max(sand_end.max(), c.horizon)) if not desert else c.horizon
    if not (rng.random() < 0.5 and road_top < h - 8):
        return
    s = np.clip((yy - road_top) / (h - road_top), 0, 1)  # 0 far, 1 near
    far_x, near_x = rng.uniform(0.3, 0.7) * w, rng.uniform(0.2, 0.8) * w
    centre = far_x + (near_x - far_x) * s ** rng.uniform(0.7, 1.6)
    half = (0.01 + rng.uniform(0.15, 0.3) * s) * w
    road = (yy >= road_top) & (np.abs(xx - centre) < half)
    c.label[road] = ROAD
    asphalt = _shade([0.30, 0.30, 0.32], 0.8 + 0.4 * _fractal_noise(rng, h, w, 32, octaves=2))
    dash_phase = np.floor(np.sqrt(s) * 14.0) % 2 == 0
    centre_line = road & (np.abs(xx - centre) < np.maximum(0.5, 0.03 * half)) & dash_phase
    asphalt[centre_line] = [0.95, 0.85, 0.25]
    edge_line = road & (np.abs(np.abs(xx - centre) - 0.9 * half) < np.maximum(0.5, 0.03 * half))
    asphalt[edge_line] = [0.9, 0.9, 0.9]
    _paint(c.image, road, asphalt)


def _draw_trees(c: _Canvas) -> None:
    """Trees on the grass, far ones first, bigger towards the viewer; each an instance."""
    rng, h, w, yy, xx, horizon = c.rng, c.h, c.w, c.yy, c.xx, c.horizon
    grass_y, grass_x = np.nonzero(c.label == GRASS)
    n_trees = int(rng.integers(0, 7)) if len(grass_y) else 0
    picks = np.sort(rng.choice(len(grass_y), size=n_trees, replace=False)) if n_trees else []
    bases = sorted(((int(grass_y[i]), int(grass_x[i])) for i in picks))
    leaves = _fractal_noise(rng, h, w, 40, octaves=2)
    for k, (by, bx) in enumerate(bases):
        near = (by - horizon) / max(h - horizon, 1.0)
        r = (0.04 + 0.12 * near) * h * rng.uniform(0.8, 1.2)
        cy = by - 1.3 * r
        wobble = 1.0 + 0.15 * (leaves - 0.5)
        canopy = ((xx - bx) / r) ** 2 + ((yy - cy) / (1.15 * r)) ** 2 < wobble
        trunk = (np.abs(xx - bx) < max(0.5, 0.15 * r)) & (yy > cy) & (yy <= by)
        tree = canopy | trunk
        c.label[tree] = TREE
        c.instance[tree] = TREE * _INSTANCE_STRIDE + k
        light = np.clip(1.0 - ((xx - bx + 0.4 * r) ** 2 + (yy - cy + 0.4 * r) ** 2) / (2.5 * r * r), 0, 1)
        foliage = _shade([0.10, 0.33, 0.12], 0.6 + 0.5 * leaves + 0.5 * light)
        foliage[trunk & ~canopy] = [0.33, 0.21, 0.10]
        _paint(c.image, tree, foliage)


def render_scene(rng: np.random.Generator, height: int, width: int):
    """Draw one landscape: sky, mountains, clouds, water, sand and grass, a road, trees (in that order).

    Returns:
        label uint8 (height, width) class ids into DEMO_CLASSES, instance uint16 (height, width) and
        image uint8 (height, width, 3).
    """
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c = _Canvas(rng, h, w, yy, xx, label=np.full((h, w), SKY, np.uint8), instance=np.zeros((h, w), np.uint16),
                image=np.zeros((h, w, 3), np.float32))
    low_sky = _draw_sky(c)
    _draw_mountains(c)
    _draw_clouds(c)
    shore = _draw_water(c, low_sky)
    sand_end, desert = _draw_land(c, shore)
    _draw_road(c, sand_end, desert)
    _draw_trees(c)
    stuff = ~np.isin(c.label, [DEMO_CLASSES.index(name) for name in THING_CLASSES])
    c.instance[stuff] = c.label[stuff]
    grain = rng.normal(0.0, 0.012, c.image.shape).astype(np.float32)
    image = np.clip((c.image + grain) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return c.label, c.instance, image
