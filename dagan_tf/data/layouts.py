"""Where each dataset keeps its files, and how label, photo and instance files pair up.

Layouts (docs/reference.md, 'Datasets'; `{phase}` is 'train', or 'val' for the 'val' and 'test' phases):
- coco, facades, deepfashion, demo: `{dataroot}/{phase}_label`, `{phase}_img` and (with instances)
  `{phase}_inst`, paired by file stem. coco in training also reads `{phase}_label_portrait` etc. when present.
- custom: `label_dir`, `image_dir`, optional `instance_dir` (each may contain `{phase}`); when `label_dir`
  is empty, the coco layout under `dataroot`. Paired by file stem.
- cityscapes: `gtFine/{phase}/*/*_labelIds.png`, `*_instanceIds.png`, `leftImg8bit/{phase}/*/*.png`,
  paired by the first three `_`-separated fields (`city_seq_frame`).
- ade20k: every image file at any depth under `dataroot` whose name holds `_train_` / `_val_`:
  `.jpg` photos, `.png` annotations, paired by file stem.

Each `find_*` function returns the unpaired `FoundFiles` of one layout; the registry (registry.py) says
which layout a `dataset_mode` uses, and `paired_files` turns what was found into `DatasetFiles` (or a
DataError naming the folders searched, the expected layout and the first unmatched names). Nothing here
writes: the demo layout only reads (demo.py writes the demo data when asked).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable, Sequence

from dagan_tf.data.errors import DataError

__all__ = ["DatasetFiles", "FoundFiles", "IMG_EXTENSIONS", "find_ade20k", "find_cityscapes", "find_custom",
           "find_demo", "find_pix2pix", "paired_files", "phase_folder"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")

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
class FoundFiles:
    """The files one layout found, before pairing."""

    labels: list[str]
    images: list[str]
    instances: list[str]
    searched: list[str]  # the folders looked in, for error messages
    layout: str  # the expected layout, for error messages
    key: Callable[[str], str] = _stem  # the pairing key of a path


# ------------------------------------------------------------------------------------------------
# One finder per layout: (config, folder ('train' / 'val'), phase, with_instance) -> FoundFiles
# ------------------------------------------------------------------------------------------------
def _pix2pix_layout(root: str, folder: str, with_instance: bool, portraits: bool = False) -> FoundFiles:
    suffixes = ["", "_portrait"] if portraits else [""]
    found = FoundFiles([], [], [], [], "")
    for suffix in suffixes:
        dirs = {kind: os.path.join(root, f"{folder}_{kind}{suffix}") for kind in ("label", "img", "inst")}
        if suffix and not os.path.isdir(dirs["label"]):
            continue  # portrait folders are optional
        found.labels += _list_images(dirs["label"])
        found.images += _list_images(dirs["img"])
        found.searched += [dirs["label"], dirs["img"]]
        if with_instance:
            found.instances += _list_images(dirs["inst"])
            found.searched.append(dirs["inst"])
    inst = f", {root}/{folder}_inst/<name>.png" if with_instance else ""
    found.layout = f"{root}/{folder}_label/<name>.png, {root}/{folder}_img/<name>.jpg{inst} (paired by file name stem)"
    return found


def find_pix2pix(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """`{dataroot}/{folder}_label`, `_img`, `_inst` (facades, deepfashion)."""
    return _pix2pix_layout(config.dataroot, folder, with_instance)


def find_coco(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """The pix2pix layout, plus the optional `*_portrait` folders in training (the reference's coco_dataset)."""
    return _pix2pix_layout(config.dataroot, folder, with_instance, portraits=(phase == "train"))


def find_demo(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """The pix2pix layout under `dataroot`, or with an empty dataroot under the demo-data cache.

    Only reads: an empty cache or a dataroot without demo data is a DataError saying how to write it.
    """
    from dagan_tf.data.demo import demo_cache_dir

    root = config.dataroot or demo_cache_dir()
    if not os.path.isdir(os.path.join(root, f"{folder}_label")):
        if config.dataroot:
            raise DataError(f"dataset_mode 'demo': no demo data in {root} (no {folder}_label folder); write it "
                            f"with `dagan-tf make-demo-data {root}`, or set dataroot: '' to use the demo-data "
                            f"cache {demo_cache_dir()}")
        raise DataError(f"dataset_mode 'demo': the demo-data cache {root} holds no demo data yet (no {folder}_label "
                        f"folder); write it with `dagan-tf make-demo-data {root}` (or "
                        "`dagan_tf.data.demo.ensure_demo_cache()`), or set dataroot to a folder written by "
                        "`dagan-tf make-demo-data DIR`")
    return _pix2pix_layout(root, folder, with_instance)


def find_custom(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """`label_dir`, `image_dir`, `instance_dir` (`{phase}` replaced); an empty label_dir: the pix2pix layout."""
    if not config.label_dir:
        return _pix2pix_layout(config.dataroot, folder, with_instance)
    label_dir = config.label_dir.replace("{phase}", folder)
    image_dir = config.image_dir.replace("{phase}", folder)
    found = FoundFiles(_list_images(label_dir), _list_images(image_dir), [], [label_dir, image_dir], "")
    if with_instance:
        if not config.instance_dir:
            raise DataError(
                "config key 'instance_dir' is empty but 'no_instance' is false: set instance_dir to the folder "
                "of instance maps, or set no_instance: true"
            )
        instance_dir = config.instance_dir.replace("{phase}", folder)
        found.instances = _list_images(instance_dir)
        found.searched.append(instance_dir)
    found.layout = ("label maps in label_dir, photos in image_dir" + (", instance maps in instance_dir" if
                    with_instance else "") + ", paired by file name stem")
    return found


def find_cityscapes(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """`gtFine/{folder}/<city>/*_labelIds.png` (+ `_instanceIds.png`), `leftImg8bit/{folder}/<city>/*.png`."""
    root = config.dataroot
    label_dir = os.path.join(root, "gtFine", folder)
    image_dir = os.path.join(root, "leftImg8bit", folder)
    gt = _list_images(label_dir, recursive=True)
    return FoundFiles(
        labels=[p for p in gt if p.endswith("_labelIds.png")],
        images=_list_images(image_dir, recursive=True),
        instances=[p for p in gt if p.endswith("_instanceIds.png")] if with_instance else [],
        searched=[label_dir, image_dir],
        layout=(f"{root}/gtFine/{folder}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png"
                + (" (and _instanceIds.png)" if with_instance else "")
                + f", {root}/leftImg8bit/{folder}/<city>/<city>_<seq>_<frame>_leftImg8bit.png"
                " (paired by the first three '_' fields)"),
        key=_cityscapes_key,
    )


def find_ade20k(config, folder: str, phase: str, with_instance: bool) -> FoundFiles:
    """Every image file below `dataroot` with `_{folder}_` in its name: `.jpg` photos, `.png` annotations."""
    root = config.dataroot
    tag = f"_{folder}_"
    files = [p for p in _list_images(root, recursive=True) if tag in os.path.basename(p)]
    return FoundFiles(
        labels=[p for p in files if p.lower().endswith(".png")],
        images=[p for p in files if p.lower().endswith(".jpg")],
        instances=[],
        searched=[root + " (recursively)"],
        layout=(f"{root}/images/<split>/ADE{tag}<n>.jpg and {root}/annotations/<split>/ADE{tag}<n>.png "
                f"(any depth below dataroot, '{tag}' in the file name, paired by file name stem)"),
    )


# ------------------------------------------------------------------------------------------------
# Pairing
# ------------------------------------------------------------------------------------------------
def paired_files(found: FoundFiles, where: str, with_instance: bool, max_size: int = 0) -> DatasetFiles:
    """The found files paired by key, in natural order of the labels, the first `max_size` (0 = all).

    Raises DataError (prefixed by `where`) naming the folders searched and the expected layout when a
    kind of file is missing, and listing the first unmatched names when files do not pair up.
    """
    searched = f"searched {', '.join(found.searched)}; expected {found.layout}"
    if not found.labels:
        raise DataError(f"{where}: no label files found; {searched}")
    if not found.images:
        raise DataError(f"{where}: {len(found.labels)} label files but no image files found; {searched}")
    if with_instance and not found.instances:
        raise DataError(f"{where}: no instance maps found (no_instance is false); {searched}")
    labels = _by_key(found, found.labels, "label", where)
    others = [("image", _by_key(found, found.images, "image", where))]
    if with_instance:
        others.append(("instance", _by_key(found, found.instances, "instance", where)))
    problems = []
    for kind, files in others:
        lonely_labels = [os.path.basename(labels[k]) for k in labels if k not in files]
        lonely_files = [os.path.basename(files[k]) for k in files if k not in labels]
        if lonely_labels:
            problems.append(f"{len(lonely_labels)} label files have no {kind} file: {_first_names(lonely_labels)}")
        if lonely_files:
            problems.append(f"{len(lonely_files)} {kind} files have no label file: {_first_names(lonely_files)}")
    if problems:
        raise DataError(f"{where}: files do not pair up ({'; '.join(problems)}); {searched}")
    keys = sorted(labels, key=lambda k: _natural_key(labels[k]))
    if max_size > 0:
        keys = keys[:max_size]
    instances = tuple(others[1][1][k] for k in keys) if with_instance else ()
    return DatasetFiles(tuple(labels[k] for k in keys), tuple(others[0][1][k] for k in keys), instances)


def _by_key(found: FoundFiles, paths: Sequence[str], kind: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in paths:
        k = found.key(p)
        if k in out:
            raise DataError(f"{where}: two {kind} files share the name '{k}': {out[k]} and {p}")
        out[k] = p
    return out


def _first_names(names: Sequence[str]) -> str:
    """'a.png, b.png ...': the first few names of a list, for error messages."""
    return ", ".join(names[:_LIST_AT_MOST]) + (" ..." if len(names) > _LIST_AT_MOST else "")
