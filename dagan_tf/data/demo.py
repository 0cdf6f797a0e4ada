"""A built-in dataset that needs no download: procedurally generated landscapes with their label maps.

Each scene is `size` pixels wide and `size // 2` high: sky with clouds, mountains (snow on the peaks),
then water, a sandy shore, grass with trees and sometimes a road in perspective. Every class has its own
colour and texture (ripples on water, grain on sand, leaves on trees, a dashed centre line on the road), and
the layout follows rules a generator can learn (sky above mountains above the horizon, sand between water
and grass, trees grow bigger towards the viewer). Clouds and trees are countable things with one instance
id each; the instance map follows Cityscapes' convention (stuff pixels hold their class id, thing k of class
c holds c * 1000 + k) and is written as a 16-bit PNG.

Written in the custom layout, `{out_dir}/{train,val}_{label,img,inst}/demo_00000.{png,jpg}`, so
`dataset_mode: demo` (configs/demo.yaml) and `dataset_mode: custom` both read it. Everything is drawn with
NumPy from `numpy.random.default_rng((seed, split, index))`, so a seed always gives the same scenes.

Nothing is written where nobody asked: `dagan-tf make-demo-data DIR` and `dagan-tf demo` write where
they are told; `dataset_mode: demo` with an empty `dataroot` (configs/demo.yaml) reads the demo-data
cache, `$DAGAN_TF_DEMO_DATA` or else `$XDG_CACHE_HOME/dagan_tf/demo` (`~/.cache/dagan_tf/demo`), and
fills it on first use (`ensure_demo_cache`).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
from PIL import Image

__all__ = ["DEMO_CACHE_VARIABLE", "DEMO_CLASSES", "THING_CLASSES", "demo_cache_dir", "ensure_demo_cache",
           "render_scene", "write_demo_dataset"]

#: Class ids are positions in this tuple (label_nc = 8).
DEMO_CLASSES = ("sky", "cloud", "mountain", "water", "grass", "tree", "sand", "road")
#: Classes whose connected things get their own instance id.
THING_CLASSES = ("cloud", "tree")

SKY, CLOUD, MOUNTAIN, WATER, GRASS, TREE, SAND, ROAD = range(len(DEMO_CLASSES))
#: Instance id of thing k of class c (Cityscapes' convention).
_INSTANCE_STRIDE = 1000
#: Share of the scenes written to the validation split.
_VAL_SHARE = 0.1
_JPEG_QUALITY = 95
#: Environment variable naming the demo-data cache folder.
DEMO_CACHE_VARIABLE = "DAGAN_TF_DEMO_DATA"


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
def render_scene(rng: np.random.Generator, height: int, width: int):
    """Draw one landscape.

    Returns:
        label uint8 (height, width) class ids into DEMO_CLASSES, instance uint16 (height, width) and
        image uint8 (height, width, 3).
    """
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    label = np.full((h, w), SKY, np.uint8)
    instance = np.zeros((h, w), np.uint16)
    image = np.zeros((h, w, 3), np.float32)

    # Sky: a vertical gradient, sometimes a sunset, with faint haze.
    horizon = rng.uniform(0.38, 0.55) * h
    top = np.array([0.20, 0.40, 0.85]) + rng.uniform(-0.08, 0.08, 3)
    low = np.array([0.93, 0.62, 0.45]) if rng.random() < 0.2 else np.array([0.72, 0.84, 0.96])
    t = np.clip(yy / max(horizon, 1.0), 0, 1)[..., None]
    haze = _fractal_noise(rng, h, w, 2, octaves=2)[..., None]
    image[:] = top * (1 - t) + low * t + (haze - 0.5) * 0.06

    # Mountains: a fractal ridge above the horizon, rock texture, snow near the peaks.
    if rng.random() < 0.85:
        profile = _noise_1d(rng, w, int(rng.integers(2, 5)))
        profile = (profile - profile.min()) / max(float(np.ptp(profile)), 1e-6)  # bold peaks and valleys
        ridge = horizon - (0.04 + rng.uniform(0.12, 0.4) * profile) * h
        mountain = (yy >= ridge[None, :]) & (yy < horizon)
        label[mountain] = MOUNTAIN
        rock = np.array([0.42, 0.40, 0.42]) + rng.uniform(-0.08, 0.08, 3)
        streaks = _fractal_noise(rng, h, w, 4, octaves=3, stretch=0.25)
        texture = _shade(rock, 0.7 + 0.6 * streaks)
        peak = float(ridge.min())
        snowline = peak + rng.uniform(0.15, 0.45) * (horizon - peak)
        snow = mountain & (yy < snowline + (streaks - 0.5) * 0.1 * h)
        texture[snow] = (0.93 + 0.07 * streaks[snow])[:, None] * np.array([0.95, 0.97, 1.0])
        _paint(image, mountain, texture)

    # Clouds: blobs of a few Gaussians in the upper sky, each an instance.
    for k in range(int(rng.integers(0, 5))):
        cx, cy = rng.uniform(0, w), rng.uniform(0.05, 0.55) * horizon
        rx, ry = rng.uniform(0.05, 0.15) * w, rng.uniform(0.03, 0.08) * h
        field = np.zeros((h, w), np.float32)
        for _ in range(4):
            ox, oy = rng.normal(0, rx * 0.6), rng.normal(0, ry * 0.4)
            field += np.exp(-(((xx - cx - ox) / rx) ** 2 + ((yy - cy - oy) / ry) ** 2))
        cloud = (field > 0.6) & (label == SKY)
        label[cloud] = CLOUD
        instance[cloud] = CLOUD * _INSTANCE_STRIDE + k
        puff = _fractal_noise(rng, h, w, 6, octaves=2)
        underside = np.clip((yy - cy) / (2 * ry), 0, 1)
        _paint(image, cloud, _shade([0.97, 0.97, 0.98], 0.85 + 0.15 * puff - 0.15 * underside))

    # Ground: water from the horizon down to a wavy shore, then sand, then grass (or a desert).
    ground = yy >= horizon
    shore = np.full(w, horizon, np.float32)
    if rng.random() < 0.6:
        shore = horizon + (rng.uniform(0.08, 0.25) + 0.06 * _noise_1d(rng, w, 3)) * h
        water = ground & (yy < shore[None, :])
        label[water] = WATER
        depth = np.clip((yy - horizon) / max(h - horizon, 1.0), 0, 1)
        ripples = _fractal_noise(rng, h, w, 24, octaves=2, stretch=12.0)
        sea = np.array([0.10, 0.30, 0.55]) * (0.7 + 0.6 * ripples)[..., None] + (low * 0.25)[None, None, :]
        _paint(image, water, sea * (1.0 - 0.3 * depth)[..., None])
    land = ground & (label == SKY)
    sand_end = shore
    desert = rng.random() < 0.2
    if desert or (shore[0] > horizon and rng.random() < 0.75):
        sand_end = shore + (rng.uniform(0.04, 0.12) + 0.04 * _noise_1d(rng, w, 4)) * h
        sand = land & ((yy < sand_end[None, :]) | desert)
        label[sand] = SAND
        grain = _fractal_noise(rng, h, w, 40, octaves=2)
        dunes = _fractal_noise(rng, h, w, 3, octaves=2, stretch=4.0)
        _paint(image, sand, _shade([0.88, 0.78, 0.55], 0.8 + 0.15 * grain + 0.15 * dunes))
    grass = land & (label == SKY)
    label[grass] = GRASS
    blades = _fractal_noise(rng, h, w, 48, octaves=2, stretch=0.3)
    meadow = _fractal_noise(rng, h, w, 3, octaves=3)
    green = np.array([0.25, 0.52, 0.18]) + rng.uniform(-0.05, 0.05, 3)
    _paint(image, grass, _shade(green, 0.65 + 0.35 * blades + 0.3 * meadow))

    # Road: a perspective strip from the bottom edge to the far edge of the land.
    road_top = float(max(sand_end.max(), horizon)) if not desert else horizon
    if rng.random() < 0.5 and road_top < h - 8:
        s = np.clip((yy - road_top) / (h - road_top), 0, 1)  # 0 far, 1 near
        far_x, near_x = rng.uniform(0.3, 0.7) * w, rng.uniform(0.2, 0.8) * w
        centre = far_x + (near_x - far_x) * s ** rng.uniform(0.7, 1.6)
        half = (0.01 + rng.uniform(0.15, 0.3) * s) * w
        road = (yy >= road_top) & (np.abs(xx - centre) < half)
        label[road] = ROAD
        asphalt = _shade([0.30, 0.30, 0.32], 0.8 + 0.4 * _fractal_noise(rng, h, w, 32, octaves=2))
        dash_phase = np.floor(np.sqrt(s) * 14.0) % 2 == 0
        centre_line = road & (np.abs(xx - centre) < np.maximum(0.5, 0.03 * half)) & dash_phase
        asphalt[centre_line] = [0.95, 0.85, 0.25]
        edge_line = road & (np.abs(np.abs(xx - centre) - 0.9 * half) < np.maximum(0.5, 0.03 * half))
        asphalt[edge_line] = [0.9, 0.9, 0.9]
        _paint(image, road, asphalt)

    # Trees on the grass, far ones first; bigger towards the viewer.
    grass_y, grass_x = np.nonzero(label == GRASS)
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
        label[tree] = TREE
        instance[tree] = TREE * _INSTANCE_STRIDE + k
        light = np.clip(1.0 - ((xx - bx + 0.4 * r) ** 2 + (yy - cy + 0.4 * r) ** 2) / (2.5 * r * r), 0, 1)
        foliage = _shade([0.10, 0.33, 0.12], 0.6 + 0.5 * leaves + 0.5 * light)
        foliage[trunk & ~canopy] = [0.33, 0.21, 0.10]
        _paint(image, tree, foliage)

    stuff = ~np.isin(label, [DEMO_CLASSES.index(c) for c in THING_CLASSES])
    instance[stuff] = label[stuff]
    grain = rng.normal(0.0, 0.012, image.shape).astype(np.float32)
    image = np.clip((image + grain) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return label, instance, image


# ------------------------------------------------------------------------------------------------
# The dataset on disk
# ------------------------------------------------------------------------------------------------
def _split_counts(count: int) -> tuple[int, int]:
    """(train, val): a tenth (at least one scene) goes to validation once there are two scenes or more."""
    val = max(1, int(round(count * _VAL_SHARE))) if count >= 2 else 0
    return count - val, val


def write_demo_dataset(out_dir, count: int = 200, size: int = 256, seed: int = 0, *, progress: bool = True) -> str:
    """Write `count` scenes of `size` x `size // 2` pixels (width x height) under `out_dir`.

    About a tenth go to `val_*`, the rest to `train_*` (label: 8-bit PNG class ids, img: JPEG,
    inst: 16-bit PNG). The same arguments always give the same scenes.

    Returns a one-line summary to print.
    """
    if count < 1:
        raise ValueError(f"make-demo-data: --count must be >= 1 (got {count})")
    if size < 32 or size % 2:
        raise ValueError(f"make-demo-data: --size must be an even number >= 32 (got {size})")
    out_dir = os.fspath(out_dir)
    width, height = size, size // 2
    n_train, n_val = _split_counts(count)
    bar = _progress_bar(count) if progress else None
    for split_id, (phase, n) in enumerate((("train", n_train), ("val", n_val))):
        dirs = {kind: os.path.join(out_dir, f"{phase}_{kind}") for kind in ("label", "img", "inst")}
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng((seed, split_id, i))
            label, instance, image = render_scene(rng, height, width)
            name = f"demo_{i:05d}"
            Image.fromarray(label).save(os.path.join(dirs["label"], name + ".png"))
            Image.fromarray(instance).save(os.path.join(dirs["inst"], name + ".png"))
            Image.fromarray(image).save(os.path.join(dirs["img"], name + ".jpg"), quality=_JPEG_QUALITY)
            if bar is not None:
                bar.add(1)
    return (f"wrote {n_train} train + {n_val} val demo scenes of {width}x{height} pixels "
            f"({len(DEMO_CLASSES)} classes: {', '.join(DEMO_CLASSES)}) to {out_dir} (seed {seed})")


def demo_cache_dir() -> str:
    """`$DAGAN_TF_DEMO_DATA`, else `$XDG_CACHE_HOME/dagan_tf/demo`, else `~/.cache/dagan_tf/demo` (absolute)."""
    folder = os.environ.get(DEMO_CACHE_VARIABLE)
    if not folder:
        cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(cache_home, "dagan_tf", "demo")
    return os.path.abspath(os.path.expanduser(folder))


def ensure_demo_cache(*, progress: bool = True) -> str:
    """The demo-data cache folder, with the default demo scenes written there first if it has none.

    Written into a temporary sibling and renamed into place, so an interrupted or concurrent first
    use never leaves half a dataset. Prints where the data goes and how to move it.
    """
    folder = demo_cache_dir()
    if os.path.isdir(os.path.join(folder, "val_label")):
        return folder
    print(f"dagan_tf.data: dataset_mode 'demo' with an empty dataroot reads the demo-data cache {folder}; "
          f"writing the demo scenes there once (set {DEMO_CACHE_VARIABLE} to use another folder, or set "
          "dataroot to a folder written by `dagan-tf make-demo-data DIR`)")
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".tmp-{os.path.basename(folder)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        print(write_demo_dataset(tmp, progress=progress).replace(tmp, folder))
        try:
            os.replace(tmp, folder)
        except OSError:
            if not os.path.isdir(os.path.join(folder, "val_label")):  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _progress_bar(total: int):
    from keras.utils import Progbar

    return Progbar(total, unit_name="scene")
