"""The dataset registry: one `DatasetMode` per `dataset_mode`, the one place a dataset's rules live.

An entry holds the dataset's file layout and pairing (a finder of layouts.py), its label-value rule
(`LabelValues`: file value -> class id), whether it has instance maps, the class names we know, and
its extra config rule. Adding a dataset is adding one entry to `_MODES`; `DATASET_MODES` (what the
config accepts) is derived from it.

The label-value rule is declarative (a shift and the file values that mean dontcare) and is applied
by ONE method per direction, `LabelValues.class_ids` (file values -> ids, written with operations
NumPy and `keras.ops` share) and `LabelValues.file_values` (ids -> values). Data travels as file
values; `models.SemanticPreprocessor` maps them in the model's graph. This module imports no
TensorFlow, so `dagan_tf.config` (which validates `dataset_mode` against it) stays light.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Callable

import numpy as np

from dagan_tf.data import layouts
from dagan_tf.data.scenes import DEMO_CLASS_COLOURS, DEMO_CLASSES, THING_CLASSES
from dagan_tf.data.errors import DataError

__all__ = ["DATASET_MODES", "DatasetMode", "LabelValues", "class_names", "dataset_files", "get", "label_values"]


@dataclasses.dataclass(frozen=True)
class LabelValues:
    """How label files store classes: class id = file value - `shift`; each of `dontcare_values` -> `label_nc`.

    The one definition of the rule in both directions: `class_ids` (file values -> ids, applied by
    `models.SemanticPreprocessor` in every model's graph, and with NumPy where a picture needs ids) and
    `file_values` (ids -> the values a file or client holds). `dontcare_values[0]` is the value written
    back for `label_nc`; `dontcare_meaning` says what it stands for in error messages.
    """

    shift: int = 0
    dontcare_values: tuple[int, ...] = (255,)
    dontcare_meaning: str = "dontcare"

    def class_value_range(self, label_nc: int) -> tuple[int, int]:
        """The lowest and highest file value that is a class (not dontcare)."""
        return self.shift, label_nc - 1 + self.shift

    def class_ids(self, values, label_nc: int, xp=np):
        """File values -> class ids with the array module `xp` (NumPy, or `keras.ops` in a graph):
        `v - shift`, and each dontcare value -> `label_nc`. Integer `values` of any width; int32 out."""
        raw = xp.cast(values, "int32") if xp is not np else np.asarray(values).astype(np.int32)
        ids = raw - self.shift if self.shift else raw
        for value in self.dontcare_values:
            ids = xp.where(xp.equal(raw, value), label_nc, ids)
        return ids

    def file_values(self, ids, label_nc: int) -> np.ndarray:
        """Class ids -> file values (NumPy): `label_nc` -> `dontcare_values[0]`, the others + `shift`."""
        ids = np.asarray(ids, np.int32)
        return np.where(ids == label_nc, self.dontcare_values[0], ids + self.shift).astype(np.int32)

    def valid_values_text(self, label_nc: int, contain_dontcare_label: bool) -> str:
        """The file values a label map may hold, for messages: '0..4, 5 or 255 = dontcare'."""
        low, high = self.class_value_range(label_nc)
        text = f"{low}..{high}"
        if contain_dontcare_label:
            values = [str(v) for v in sorted({*self.dontcare_values, label_nc + self.shift})]
            text += f", {', '.join(values[:-1])} or {values[-1]} = dontcare"
        return text


#: The reference's rule (pix2pix_dataset.py): 255 -> label_nc.
PLAIN_VALUES = LabelValues()
#: ADE20K (ade20k_dataset.py): files hold 1..150 and 0 = unlabeled; v - 1, so 0 -> -1 -> label_nc.
#: 255 (absent from the files) maps to label_nc too (the reference would turn it into 149).
ADE20K_VALUES = LabelValues(shift=1, dontcare_values=(0, 255),
                            dontcare_meaning="unlabeled, which the ADE20K -1 shift maps to label_nc")

#: Cityscapes' 35 label ids (labelIds.png, cityscapesScripts labels.py) and its countable classes.
CITYSCAPES_CLASSES = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle", "license plate")
CITYSCAPES_THINGS = ("person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle",
                     "bicycle")


def _no_config_problem(config) -> tuple[str, str] | None:
    return None


def _custom_config_problem(config) -> tuple[str, str] | None:
    if config.label_dir and not config.image_dir:
        return "image_dir", "config key 'image_dir': custom mode with a label_dir needs an image_dir too"
    return None


@dataclasses.dataclass(frozen=True)
class DatasetMode:
    """One `dataset_mode`: where its files are, how its labels read, what else is true of it.

    Attributes:
        name: the `dataset_mode` value.
        find: `(config, folder, phase, with_instance) -> layouts.FoundFiles` (folder: 'train' / 'val').
        label_values: the file value -> class id rule.
        has_instances: False when the dataset has no instance maps (`no_instance: true` is required).
        class_names: class names by id, when known (used where `label_nc` equals their number).
        thing_classes: the countable ones among them (one instance per object).
        class_colours: label-map colours by class id that read as the classes (the demo's), used where
            `label_nc` equals their number; other datasets keep the reference's palette.
        draws_scenes: the data is the procedural demo (demo.render_scene): examples for int8
            calibration are drawn rather than read (export/tflite.py).
        config_problem: `config -> (key, message)` for a config this dataset cannot use, else None
            (config_checks.validate raises it as a ConfigError).
    """

    name: str
    find: Callable[..., layouts.FoundFiles]
    label_values: LabelValues = PLAIN_VALUES
    has_instances: bool = True
    class_names: tuple[str, ...] = ()
    thing_classes: tuple[str, ...] = ()
    class_colours: tuple[tuple[int, int, int], ...] = ()
    draws_scenes: bool = False
    config_problem: Callable[..., tuple[str, str] | None] = _no_config_problem

    def files(self, config, phase: str) -> layouts.DatasetFiles:
        """The paired files of `config` for `phase` (see `dataset_files`)."""
        folder = layouts.phase_folder(phase)
        with_instance = not config.no_instance
        if with_instance and not self.has_instances:
            raise DataError(f"dataset_mode '{self.name}' has no instance maps: set no_instance: true")
        found = self.find(config, folder, phase, with_instance)
        where = f"dataset_mode '{self.name}', phase '{phase}'"
        return layouts.paired_files(found, where, with_instance, config.max_dataset_size)


_MODES = {mode.name: mode for mode in (
    DatasetMode("cityscapes", layouts.find_cityscapes, class_names=CITYSCAPES_CLASSES,
                thing_classes=CITYSCAPES_THINGS),
    DatasetMode("ade20k", layouts.find_ade20k, label_values=ADE20K_VALUES, has_instances=False),
    DatasetMode("facades", layouts.find_pix2pix),
    DatasetMode("coco", layouts.find_coco),
    DatasetMode("deepfashion", layouts.find_pix2pix),
    # CelebAMask-HQ and your own folders. The demo data is written in this layout, so a custom dataset
    # with the demo's number of classes is shown with the demo's class names (paint/).
    DatasetMode("custom", layouts.find_custom, class_names=DEMO_CLASSES, thing_classes=THING_CLASSES,
                config_problem=_custom_config_problem),
    DatasetMode("demo", layouts.find_demo, class_names=DEMO_CLASSES, thing_classes=THING_CLASSES,
                class_colours=DEMO_CLASS_COLOURS, draws_scenes=True),
)}

#: Every `dataset_mode` the config accepts, in the registry's order.
DATASET_MODES = tuple(_MODES)


def get(mode: str) -> DatasetMode:
    """The registry entry of `mode`; DataError naming the config key, the value and the choices if unknown."""
    try:
        return _MODES[mode]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(mode), DATASET_MODES, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(f"config key 'dataset_mode': unknown value {mode!r}; choose one of "
                        f"{', '.join(DATASET_MODES)}.{hint}") from None


def dataset_files(config, phase: str) -> layouts.DatasetFiles:
    """Find and pair the label, photo and (unless `no_instance`) instance files of `config` for `phase`.

    `dataset_mode: demo` with an empty `dataroot` reads the demo-data cache
    (`dagan_tf.data.demo.demo_cache_dir`; `ensure_demo_cache` or `dagan-tf make-demo-data` fill it);
    reading never writes.

    Raises DataError naming the folders searched and the expected layout when nothing is found, and
    listing the first unmatched names when files do not pair up.
    """
    return get(config.dataset_mode).files(config, phase)


def label_values(config) -> LabelValues:
    """The label-value rule of `config.dataset_mode`."""
    return get(config.dataset_mode).label_values


def class_names(config) -> tuple[list[str], set[str]]:
    """Class names by id ('class i' where unknown) and the countable ones, for `config.label_nc` classes.

    A dataset's names are used only when `label_nc` is their number (another count is another labelling).
    """
    mode = get(config.dataset_mode)
    known = mode.class_names if len(mode.class_names) == config.label_nc else ()
    things = set(mode.thing_classes) if known else set()
    return [known[i] if i < len(known) else f"class {i}" for i in range(config.label_nc)], things
