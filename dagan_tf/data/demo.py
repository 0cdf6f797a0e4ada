"""A built-in dataset that needs no download: procedurally generated landscapes with their label maps.

Each scene (scenes.py: sky, clouds, mountains, water, sand, grass, trees, a road; 8 classes, clouds and
trees with instance ids) is `size` pixels wide and `size // 2` high; its instance map is written as a
16-bit PNG.

Written in the custom layout, `{out_dir}/{train,val}_{label,img,inst}/demo_00000.{png,jpg}`, so
`dataset_mode: demo` (configs/demo.yaml) and `dataset_mode: custom` both read it. Everything is drawn with
NumPy from `numpy.random.default_rng((seed, split, index))`, so a seed always gives the same scenes.

Nothing is written where nobody asked, and reading never writes: `dagan-tf make-demo-data DIR` and
`dagan-tf demo` write where they are told; `dataset_mode: demo` with an empty `dataroot`
(configs/demo.yaml) reads the demo-data cache, `$DAGAN_TF_DEMO_DATA` or else
`$XDG_CACHE_HOME/dagan_tf/demo` (`~/.cache/dagan_tf/demo`), which `ensure_demo_cache()` (or
`dagan-tf make-demo-data <that folder>`) fills when asked.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
from PIL import Image

from dagan_tf.data.scenes import DEMO_CLASSES, THING_CLASSES, render_scene

__all__ = ["DEMO_CACHE_VARIABLE", "DEMO_CLASSES", "THING_CLASSES", "demo_cache_dir", "ensure_demo_cache",
           "render_scene", "write_demo_dataset"]

#: Share of the scenes written to the validation split.
_VAL_SHARE = 0.1
_JPEG_QUALITY = 95
#: Environment variable naming the demo-data cache folder.
DEMO_CACHE_VARIABLE = "DAGAN_TF_DEMO_DATA"


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
    from dagan_tf.progress import progress_bar

    return progress_bar(total, "scene")
