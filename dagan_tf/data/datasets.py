"""Every `dataset_mode`: find and pair the files, load them as the reference does, build the tf.data pipeline.

(Over 350 lines: layouts, loading and the pipeline still share this file; their split into a dataset
registry, loading and pipeline modules is issue 11's, with the architecture step.)

Layouts (docs/reference.md, 'Datasets'; `{phase}` is 'train', or 'val' for the 'val' and 'test' phases):
- coco, facades, deepfashion, demo: `{dataroot}/{phase}_label`, `{phase}_img` and (with instances)
  `{phase}_inst`, paired by file stem. coco in training also reads `{phase}_label_portrait` etc. when present.
- custom: `label_dir`, `image_dir`, optional `instance_dir` (each may contain `{phase}`); when `label_dir`
  is empty, the coco layout under `dataroot`. Paired by file stem.
- cityscapes: `gtFine/{phase}/*/*_labelIds.png`, `*_instanceIds.png`, `leftImg8bit/{phase}/*/*.png`,
  paired by the first three `_`-separated fields (`city_seq_frame`).
- ade20k: every image file at any depth under `dataroot` whose name holds `_train_` / `_val_`:
  `.jpg` photos, `.png` annotations, paired by file stem.

Loading follows `pix2pix_dataset.py`: label maps are read as integers (modes L, P, I;16, I) and resized
with `Image.NEAREST`; the value 255 becomes `label_nc` (dontcare); ADE20K subtracts 1 and maps the
unlabeled 0 to `label_nc`. Instance maps are read as integers (8-bit for COCO, 16/32-bit for Cityscapes).
Photos are read upright (EXIF), 16-bit ones scaled to 8 bits (images.py), converted to RGB, refused when
their size differs from the label map's (unless `resize_mismatched_photos`), and resized with `Image.BICUBIC`. Decoding and resizing run in PIL inside
`tf.numpy_function` (PIL releases the GIL, so the parallel map uses every core); crop, flip and scaling to
[-1, 1] run in TensorFlow (see transforms.py). Every failure names the file or folder at fault.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import re
import threading
import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from dagan_tf.data import transforms
from dagan_tf.data.errors import DataError, remember
from dagan_tf.data.images import open_image, read_photo

__all__ = [
    "DataError",
    "DatasetFiles",
    "IMG_EXTENSIONS",
    "build_dataset",
    "dataset_files",
    "load_example",
    "map_label_values",
    "phase_folder",
]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")

#: PIL modes that hold one integer per pixel (label and instance maps).
_INTEGER_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")

#: Unmatched file names listed in a pairing error.
_LIST_AT_MOST = 5


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    """Paired file paths, in the reference's (natural) order of the label files.

    `instances` is empty when the config uses no instance maps.
    """

    labels: tuple[str, ...]
    images: tuple[str, ...]
    instances: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


# ------------------------------------------------------------------------------------------------
# Finding and pairing files
# ------------------------------------------------------------------------------------------------
def phase_folder(phase: str) -> str:
    """'train' -> 'train'; 'val' and 'test' -> 'val' (the reference tests on the validation split)."""
    if phase == "train":
        return "train"
    if phase in ("val", "test"):
        return "val"
    raise DataError(f"phase {phase!r} is not allowed; choose 'train', 'val' or 'test'")


def _natural_key(path: str):
    """Sort key that orders 'img2' before 'img10' (the reference's util.natural_sort)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path)]


def _is_image_file(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def _list_images(folder: str, recursive: bool = False) -> list[str]:
    """Image files in `folder` (and below it when `recursive`), naturally sorted; [] if it does not exist."""
    if not os.path.isdir(folder):
        return []
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, n) for n in names if _is_image_file(n))
        if not recursive:
            break
    return sorted(found, key=_natural_key)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _cityscapes_key(path: str) -> str:
    """`aachen_000000_000019_gtFine_labelIds.png` -> `aachen_000000_000019`."""
    return "_".join(os.path.basename(path).split("_")[:3])


@dataclasses.dataclass
class _Found:
    labels: list[str]
    images: list[str]
    instances: list[str]
    searched: list[str]  # the folders looked in, for error messages
    layout: str  # the expected layout, for error messages
    key: Callable[[str], str] = _stem


def _pix2pix_layout(root: str, phase: str, with_instance: bool, portraits: bool = False) -> _Found:
    suffixes = ["", "_portrait"] if portraits else [""]
    found = _Found([], [], [], [], "")
    for suffix in suffixes:
        dirs = {kind: os.path.join(root, f"{phase}_{kind}{suffix}") for kind in ("label", "img", "inst")}
        if suffix and not os.path.isdir(dirs["label"]):
            continue  # portrait folders are optional
        found.labels += _list_images(dirs["label"])
        found.images += _list_images(dirs["img"])
        found.searched += [dirs["label"], dirs["img"]]
        if with_instance:
            found.instances += _list_images(dirs["inst"])
            found.searched.append(dirs["inst"])
    inst = f", {root}/{phase}_inst/<name>.png" if with_instance else ""
    found.layout = f"{root}/{phase}_label/<name>.png, {root}/{phase}_img/<name>.jpg{inst} (paired by file name stem)"
    return found


def _custom_layout(config, phase: str, with_instance: bool) -> _Found:
    if not config.label_dir:
        return _pix2pix_layout(config.dataroot, phase, with_instance)
    label_dir = config.label_dir.replace("{phase}", phase)
    image_dir = config.image_dir.replace("{phase}", phase)
    found = _Found(_list_images(label_dir), _list_images(image_dir), [], [label_dir, image_dir], "")
    if with_instance:
        if not config.instance_dir:
            raise DataError(
                "config key 'instance_dir' is empty but 'no_instance' is false: set instance_dir to the folder "
                "of instance maps, or set no_instance: true"
            )
        instance_dir = config.instance_dir.replace("{phase}", phase)
        found.instances = _list_images(instance_dir)
        found.searched.append(instance_dir)
    found.layout = ("label maps in label_dir, photos in image_dir" + (", instance maps in instance_dir" if
                    with_instance else "") + ", paired by file name stem")
    return found


def _cityscapes_layout(root: str, phase: str, with_instance: bool) -> _Found:
    label_dir = os.path.join(root, "gtFine", phase)
    image_dir = os.path.join(root, "leftImg8bit", phase)
    gt = _list_images(label_dir, recursive=True)
    found = _Found(
        labels=[p for p in gt if p.endswith("_labelIds.png")],
        images=_list_images(image_dir, recursive=True),
        instances=[p for p in gt if p.endswith("_instanceIds.png")] if with_instance else [],
        searched=[label_dir, image_dir],
        layout=(f"{root}/gtFine/{phase}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png"
                + (" (and _instanceIds.png)" if with_instance else "")
                + f", {root}/leftImg8bit/{phase}/<city>/<city>_<seq>_<frame>_leftImg8bit.png"
                " (paired by the first three '_' fields)"),
        key=_cityscapes_key,
    )
    return found


def _ade20k_layout(root: str, phase: str) -> _Found:
    tag = f"_{phase}_"
    files = [p for p in _list_images(root, recursive=True) if tag in os.path.basename(p)]
    return _Found(
        labels=[p for p in files if p.lower().endswith(".png")],
        images=[p for p in files if p.lower().endswith(".jpg")],
        instances=[],
        searched=[root + " (recursively)"],
        layout=(f"{root}/images/<split>/ADE{tag}<n>.jpg and {root}/annotations/<split>/ADE{tag}<n>.png "
                f"(any depth below dataroot, '{tag}' in the file name, paired by file name stem)"),
    )


def _pair(found: _Found, where: str, with_instance: bool) -> tuple[list[str], list[str], list[str]]:
    """Pair labels, photos and instance maps by key; raise DataError listing what does not pair up."""

    def by_key(paths: Sequence[str], kind: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in paths:
            k = found.key(p)
            if k in out:
                raise DataError(f"{where}: two {kind} files share the name '{k}': {out[k]} and {p}")
            out[k] = p
        return out

    labels = by_key(found.labels, "label")
    others = [("image", by_key(found.images, "image"))]
    if with_instance:
        others.append(("instance", by_key(found.instances, "instance")))
    problems = []
    for kind, files in others:
        lonely_labels = [os.path.basename(labels[k]) for k in labels if k not in files]
        lonely_files = [os.path.basename(files[k]) for k in files if k not in labels]
        if lonely_labels:
            problems.append(f"{len(lonely_labels)} label files have no {kind} file: {_first_names(lonely_labels)}")
        if lonely_files:
            problems.append(f"{len(lonely_files)} {kind} files have no label file: {_first_names(lonely_files)}")
    if problems:
        raise DataError(f"{where}: files do not pair up ({'; '.join(problems)}); searched "
                        f"{', '.join(found.searched)}; expected {found.layout}")
    keys = sorted(labels, key=lambda k: _natural_key(labels[k]))
    images = [others[0][1][k] for k in keys]
    instances = [others[1][1][k] for k in keys] if with_instance else []
    return [labels[k] for k in keys], images, instances


def _first_names(names: Sequence[str]) -> str:
    """'a.png, b.png ...': the first few names of a list, for error messages."""
    return ", ".join(names[:_LIST_AT_MOST]) + (" ..." if len(names) > _LIST_AT_MOST else "")


def dataset_files(config, phase: str) -> DatasetFiles:
    """Find and pair the label, photo and (unless `no_instance`) instance files of `config` for `phase`.

    `dataset_mode: demo` with an empty `dataroot` reads (and on first use fills) the demo-data cache
    (`dagan_tf.data.demo.demo_cache_dir`); with a dataroot, that folder must hold the demo data.

    Raises DataError naming the folders searched and the expected layout when nothing is found, and
    listing the first unmatched names when files do not pair up.
    """
    mode = config.dataset_mode
    folder = phase_folder(phase)
    with_instance = not config.no_instance
    if mode in ("coco", "facades", "deepfashion", "demo"):
        root = _demo_root(config.dataroot, folder) if mode == "demo" else config.dataroot
        found = _pix2pix_layout(root, folder, with_instance, portraits=(mode == "coco" and phase == "train"))
    elif mode == "custom":
        found = _custom_layout(config, folder, with_instance)
    elif mode == "cityscapes":
        found = _cityscapes_layout(config.dataroot, folder, with_instance)
    elif mode == "ade20k":
        if with_instance:
            raise DataError("dataset_mode 'ade20k' has no instance maps: set no_instance: true")
        found = _ade20k_layout(config.dataroot, folder)
    else:
        raise DataError(f"config key 'dataset_mode': unknown value {mode!r}")
    where = f"dataset_mode '{mode}', phase '{phase}'"
    if not found.labels:
        raise DataError(f"{where}: no label files found; searched {', '.join(found.searched)}; "
                        f"expected {found.layout}")
    if not found.images:
        raise DataError(f"{where}: {len(found.labels)} label files but no image files found; searched "
                        f"{', '.join(found.searched)}; expected {found.layout}")
    if with_instance and not found.instances:
        raise DataError(f"{where}: no instance maps found (no_instance is false); searched "
                        f"{', '.join(found.searched)}; expected {found.layout}")
    labels, images, instances = _pair(found, where, with_instance)
    if config.max_dataset_size > 0:
        n = config.max_dataset_size
        labels, images, instances = labels[:n], images[:n], instances[:n]
    return DatasetFiles(tuple(labels), tuple(images), tuple(instances))


def _demo_root(dataroot: str, folder: str) -> str:
    """Where `dataset_mode: demo` reads: `dataroot`, or with an empty dataroot the demo-data cache."""
    from dagan_tf.data.demo import demo_cache_dir, ensure_demo_cache

    if not dataroot:
        return ensure_demo_cache()
    if not os.path.isdir(os.path.join(dataroot, f"{folder}_label")):
        raise DataError(f"dataset_mode 'demo': no demo data in {dataroot} (no {folder}_label folder); write it "
                        f"with `dagan-tf make-demo-data {dataroot}`, or set dataroot: '' to use the demo-data "
                        f"cache {demo_cache_dir()}")
    return dataroot


# ------------------------------------------------------------------------------------------------
# Loading one example (NumPy / PIL; runs inside tf.numpy_function)
# ------------------------------------------------------------------------------------------------
def _open_integer_map(path: str, kind: str) -> Image.Image:
    img = open_image(path, kind)
    if img.mode not in _INTEGER_MODES:
        raise DataError(f"{kind} file {path} has PIL mode {img.mode!r} ({len(img.getbands())} channels); "
                        f"a {kind} map must hold one integer per pixel (modes {', '.join(_INTEGER_MODES)})")
    return img


def _dontcare_raw_value(config) -> int:
    """The file value that stands for 'dontcare' (maps to class `label_nc`)."""
    return 0 if config.dataset_mode == "ade20k" else 255


def map_label_values(raw: np.ndarray, config) -> np.ndarray:
    """File values -> class ids (int32): 255 -> label_nc; ADE20K: v - 1, and 0 (unlabeled) -> label_nc.

    ADE20K files hold no 255; this maps it to label_nc too (the reference would turn it into 149).
    """
    raw = np.asarray(raw)
    out = raw.astype(np.int32)
    if config.dataset_mode == "ade20k":
        out -= 1
        out[out == -1] = config.label_nc
    out[raw == 255] = config.label_nc
    return out


def _distinct_values(raw: np.ndarray) -> np.ndarray:
    """The distinct values of an integer map (a histogram for 8/16-bit maps: much faster than sorting)."""
    if raw.dtype.kind in "ub" and raw.size and int(raw.max()) < (1 << 16):
        return np.flatnonzero(np.bincount(raw.ravel()))
    return np.unique(raw)


def check_label_values(raw: np.ndarray, config, path: str) -> None:
    """Raise DataError naming `path` if the file holds values that are neither a class nor dontcare."""
    label_nc = config.label_nc
    is_ade = config.dataset_mode == "ade20k"
    if raw.size == 0:
        return
    # Fast path: every value is a class id (ADE20K: 1..label_nc, and 0 only if dontcare is on).
    top, bottom = int(raw.max()), int(raw.min())
    if not is_ade and top < label_nc and bottom >= 0:
        return
    if is_ade and top <= label_nc and (bottom > 0 or (bottom == 0 and config.contain_dontcare_label)):
        return
    values = _distinct_values(raw)
    mapped = map_label_values(values, config)
    highest = label_nc if config.contain_dontcare_label else label_nc - 1
    bad = values[(mapped > highest) | (mapped < 0)]
    if bad.size == 0:
        return
    dontcare = _dontcare_raw_value(config)
    if not config.contain_dontcare_label and np.isin(bad, [dontcare, 255]).any():
        n_dontcare = int(np.count_nonzero(np.isin(raw, [dontcare, 255])))
        what = "0 (unlabeled, which the ADE20K -1 shift maps to label_nc)" if is_ade else "255 (dontcare)"
        raise DataError(f"label file {path}: {n_dontcare} pixels have the value {what}, but "
                        "contain_dontcare_label is false; set contain_dontcare_label: true or fix the file")
    shown = ", ".join(str(int(v)) for v in bad[:10]) + (" ..." if len(bad) > 10 else "")
    classes = f"1..{label_nc}" if is_ade else f"0..{label_nc - 1}"
    extra = f", {dontcare} = dontcare" if config.contain_dontcare_label else ""
    raise DataError(f"label file {path}: {int(np.count_nonzero(np.isin(raw, bad)))} pixels have values {shown} "
                    f"that are not classes (label_nc = {label_nc}: file values {classes}{extra}); is label_nc right?")


def load_example(config, label_path: str, image_path: str, instance_path: str | None, is_train: bool) -> dict:
    """One example, decoded and resized as the reference's loader does, before the crop and flip.

    Returns NumPy arrays: 'label' int32 (H, W) class ids, 'image' uint8 (H, W, 3), and 'instance' int32
    (H, W) when `instance_path` is given. Photos are read upright and 16-bit ones scaled (images.py).
    Raises DataError naming the file for unreadable files, label values that are no class, a photo whose
    size differs from its label map's (naming both files and sizes; unless `resize_mismatched_photos`),
    and maps whose resized sizes differ.
    """
    label_img = _open_integer_map(label_path, "label")
    check_label_values(np.asarray(label_img), config, label_path)
    label = map_label_values(transforms.resize_for_mode(label_img, config, is_train, Image.NEAREST), config)

    image_img = read_photo(image_path)  # 8-bit RGB, EXIF orientation applied, 16-bit scaled
    if image_img.size != label_img.size and not config.resize_mismatched_photos:
        raise DataError(
            f"image file {image_path} is {image_img.width}x{image_img.height} but its label file {label_path} "
            f"is {label_img.width}x{label_img.height}; fix the pair, or set resize_mismatched_photos: true to "
            "resize photos with their label maps as the reference does (stretching them)")
    image = np.asarray(transforms.resize_for_mode(image_img, config, is_train, Image.BICUBIC))
    out = {"label": label, "image": image}
    sizes = {label_path: label.shape, image_path: image.shape[:2]}
    if instance_path:
        inst_img = _open_integer_map(instance_path, "instance")
        instance = np.asarray(transforms.resize_for_mode(inst_img, config, is_train, Image.NEAREST))
        out["instance"] = instance.astype(np.int32)
        sizes[instance_path] = instance.shape
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{p}: {s[1]}x{s[0]}" for p, s in sizes.items())
        raise DataError(f"files of one example have different sizes after preprocess_mode "
                        f"'{config.preprocess_mode}' ({detail}); label, image and instance maps must align")
    return out


# ------------------------------------------------------------------------------------------------
# The tf.data pipeline
# ------------------------------------------------------------------------------------------------
class _LoaderCalls:
    """Counts the loader's calls from tf.data threads, and lets the interpreter exit cleanly.

    An iterator still alive when Python exits (a training loop stopped by max_steps, a global
    iterator) keeps calling the loader from TensorFlow's threads. A thread that needs the GIL while the
    interpreter finalises never returns, and the iterator's destructor then waits for it forever: the
    process hangs. `atexit` hooks run before finalisation, so at exit we stop loading (`enter` returns
    False and the caller returns empty arrays at once, which nobody reads) and wait until the running
    calls have returned and the pipelines are quiet.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._closing = False
        self._last_return = 0.0

    def enter(self) -> bool:
        """Register a call; False when the interpreter is exiting (load nothing)."""
        with self._lock:
            if self._closing:
                return False
            self._running += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            self._last_return = time.monotonic()

    def close(self, timeout: float = 10.0, quiet: float = 0.1) -> None:
        with self._lock:
            self._closing = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._running == 0 and time.monotonic() - self._last_return > quiet:
                    return
            time.sleep(0.01)


_LOADER_CALLS = _LoaderCalls()
atexit.register(_LOADER_CALLS.close)


def _label_pad_value(config) -> int:
    """What the reference's zero padding (PIL crop past the border) becomes after the value mapping."""
    return int(map_label_values(np.zeros((1,), np.uint8), config)[0])


def build_dataset(config, phase: str, *, batch_size: int | None = None, shuffle: bool | None = None) -> tf.data.Dataset:
    """The examples of `config` for `phase` ('train', 'val' or 'test') as a tf.data.Dataset.

    Elements are dicts: 'label' int32 (H, W), 'instance' int32 (H, W) unless `config.no_instance`,
    'image' float32 (H, W, 3) in [-1, 1], 'path' (the photo's path, a string); with `batch_size`, each
    gets a leading batch axis. Training crops and `fixed` outputs are (H, W) = `config.image_hw`.

    Training: random crop (same window for label, instance and photo), random horizontal flip unless
    `no_flip`, shuffled unless `serial_batches` (or `shuffle` says otherwise), incomplete last batch
    dropped (as the reference's `drop_last`). Other phases: centred crop, no flip, no shuffle, every
    example kept. Randomness derives from `config.seed` and changes every epoch.
    Uses parallel map (`nThreads`, 0 = autotune), caches the resized arrays in memory when
    `config.cache`, and prefetches.

    Files are found and paired now (DataError if anything is missing or unpaired); unreadable files and
    bad label values raise a DataError naming the file when the iterator reaches them, which surfaces as
    a TensorFlow error: `dagan_tf.data.data_error_from(error)` gives the DataError back.
    """
    files = dataset_files(config, phase)
    is_train = phase == "train"
    if shuffle is None:
        shuffle = is_train and not config.serial_batches
    with_instance = bool(files.instances)
    parallel = config.nThreads if config.nThreads > 0 else tf.data.AUTOTUNE
    window = transforms.crop_hw(config) if transforms.uses_crop(config) else None
    out_h, out_w = transforms.output_hw(config)
    label_pad = _label_pad_value(config)

    slices = {"label_path": list(files.labels), "image_path": list(files.images),
              "instance_path": list(files.instances) if with_instance else [""] * len(files)}
    ds = tf.data.Dataset.from_tensor_slices(slices)
    if shuffle and not config.cache:
        ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)

    def load_numpy(label_path, image_path, instance_path):
        if not _LOADER_CALLS.enter():  # exiting: placeholders that pass the shape checks below
            hw = (out_h or 0, out_w or 0)
            idle = [np.zeros(hw, np.int32), np.zeros(hw + (3,), np.uint8)]
            return idle + [np.zeros(hw, np.int32)] if with_instance else idle
        try:
            ex = load_example(config, os.fsdecode(label_path), os.fsdecode(image_path),
                              os.fsdecode(instance_path) if with_instance else None, is_train)
        except DataError as e:  # reaches the caller as a TF error: keep it for data_error_from
            raise remember(e)
        finally:
            _LOADER_CALLS.leave()
        arrays = [ex["label"], ex["image"]]
        return arrays + [ex["instance"]] if with_instance else arrays

    def load(paths):
        types = [tf.int32, tf.uint8] + ([tf.int32] if with_instance else [])
        arrays = tf.numpy_function(load_numpy, [paths["label_path"], paths["image_path"], paths["instance_path"]],
                                   types, stateful=False, name="load_example")
        ex = {"label": tf.ensure_shape(arrays[0], [None, None]),
              "image": tf.ensure_shape(arrays[1], [None, None, 3]),
              "path": paths["image_path"]}
        if with_instance:
            ex["instance"] = tf.ensure_shape(arrays[2], [None, None])
        return ex

    ds = ds.map(load, num_parallel_calls=parallel)
    if config.cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)

    def crop_flip(ex, seed):
        y0, x0, flip = transforms.crop_params(seed, tf.shape(ex["label"]), window or (0, 0), is_train,
                                              flip=not config.no_flip)
        out = {"label": transforms.crop_and_flip(ex["label"], y0, x0, window, flip, label_pad)}
        if with_instance:
            out["instance"] = transforms.crop_and_flip(ex["instance"], y0, x0, window, flip, 0)
        image = transforms.crop_and_flip(ex["image"], y0, x0, window, flip, 0)
        out["image"] = transforms.normalize_image(image)
        out["label"] = tf.ensure_shape(out["label"], [out_h, out_w])
        out["image"] = tf.ensure_shape(out["image"], [out_h, out_w, 3])
        if with_instance:
            out["instance"] = tf.ensure_shape(out["instance"], [out_h, out_w])
        out["path"] = ex["path"]
        return out

    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, seeds)).map(crop_flip, num_parallel_calls=parallel)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=is_train, num_parallel_calls=parallel)
    return ds.prefetch(tf.data.AUTOTUNE)
