"""Loading one example as the reference does (NumPy / PIL; runs inside tf.numpy_function).

Follows `pix2pix_dataset.py`: label maps are read as integers (modes L, P, I;16, I), checked against
`label_nc` by the dataset's label-value rule (registry.py: a class, or dontcare with
`contain_dontcare_label`) and resized with `Image.NEAREST`; they stay file values (the model's
`SemanticPreprocessor` maps them to class ids, after the crop as in the reference). Instance maps are read as integers (8-bit for COCO, 16/32-bit for Cityscapes).
Photos are read upright (EXIF), 16-bit ones scaled to 8 bits (images.py), converted to RGB, refused
when their size differs from the label map's (unless `resize_mismatched_photos`), and resized with
`Image.BICUBIC`. Every failure is a DataError naming the file at fault.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dagan_tf.data import registry, transforms
from dagan_tf.data.errors import DataError
from dagan_tf.data.images import open_image, read_photo

__all__ = ["check_label_values", "load_example"]

#: PIL modes that hold one integer per pixel (label and instance maps).
INTEGER_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


def _open_integer_map(path: str, kind: str) -> Image.Image:
    img = open_image(path, kind)
    if img.mode not in INTEGER_MODES:
        raise DataError(f"{kind} file {path} has PIL mode {img.mode!r} ({len(img.getbands())} channels); "
                        f"a {kind} map must hold one integer per pixel (modes {', '.join(INTEGER_MODES)})")
    return img


def _distinct_values(raw: np.ndarray) -> np.ndarray:
    """The distinct values of an integer map (a histogram for 8/16-bit maps: much faster than sorting)."""
    if raw.dtype.kind in "ub" and raw.size and int(raw.max()) < (1 << 16):
        return np.flatnonzero(np.bincount(raw.ravel()))
    return np.unique(raw)


def _all_values_valid(raw: np.ndarray, config, rule: registry.LabelValues) -> bool:
    """Fast path: the lowest and highest value show that every value is a class (or an allowed dontcare)."""
    low, high = rule.class_value_range(config.label_nc)
    top, bottom = int(raw.max()), int(raw.min())
    if top > high:
        return False
    # ADE20K: 0 (unlabeled) below the classes 1..label_nc is dontcare, allowed with contain_dontcare_label
    return bottom >= low or (config.contain_dontcare_label and bottom in rule.dontcare_values)


def check_label_values(raw: np.ndarray, config, path: str) -> None:
    """Raise DataError naming `path` if the file holds values that are neither a class nor dontcare."""
    label_nc = config.label_nc
    rule = registry.label_values(config)
    if raw.size == 0 or _all_values_valid(raw, config, rule):
        return
    values = _distinct_values(raw)
    low, high = rule.class_value_range(label_nc)
    is_class = (values >= low) & (values <= high)
    # with contain_dontcare_label the value of class id label_nc is the dontcare channel too
    is_dontcare = np.isin(values, rule.dontcare_values) | (values == label_nc + rule.shift)
    bad = values[~is_class & ~(is_dontcare & config.contain_dontcare_label)]
    if bad.size == 0:
        return
    dontcare = rule.dontcare_values[0]
    if not config.contain_dontcare_label and np.isin(bad, rule.dontcare_values).any():
        n_dontcare = int(np.count_nonzero(np.isin(raw, rule.dontcare_values)))
        raise DataError(f"label file {path}: {n_dontcare} pixels have the value {dontcare} ({rule.dontcare_meaning}), "
                        "but contain_dontcare_label is false; set contain_dontcare_label: true or fix the file")
    shown = ", ".join(str(int(v)) for v in bad[:10]) + (" ..." if len(bad) > 10 else "")
    extra = f", {dontcare} = dontcare" if config.contain_dontcare_label else ""
    raise DataError(f"label file {path}: {int(np.count_nonzero(np.isin(raw, bad)))} pixels have values {shown} "
                    f"that are not classes (label_nc = {label_nc}: file values {low}..{high}{extra}); "
                    "is label_nc right?")


def load_example(config, label_path: str, image_path: str, instance_path: str | None, is_train: bool) -> dict:
    """One example, decoded and resized as the reference's loader does, before the crop and flip.

    Returns NumPy arrays: 'label' int32 (H, W) file values (`models.SemanticPreprocessor` maps them), 'image' uint8 (H, W, 3), and 'instance' int32
    (H, W) when `instance_path` is given. Photos are read upright and 16-bit ones scaled (images.py).
    Raises DataError naming the file for unreadable files, label values that are no class, a photo or
    instance map whose size differs from its label map's (naming both files and sizes; unless
    `resize_mismatched_photos`),
    and maps whose resized sizes differ.
    """
    label_img = _open_integer_map(label_path, "label")
    check_label_values(np.asarray(label_img), config, label_path)
    label = np.asarray(transforms.resize_for_mode(label_img, config, is_train, Image.NEAREST)).astype(np.int32)

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
        if inst_img.size != label_img.size and not config.resize_mismatched_photos:
            raise DataError(
                f"instance file {instance_path} is {inst_img.width}x{inst_img.height} but its label file {label_path} "
                f"is {label_img.width}x{label_img.height}; fix the pair, or set resize_mismatched_photos: true to "
                "resize photos and instance maps with their label maps as the reference does")
        instance = np.asarray(transforms.resize_for_mode(inst_img, config, is_train, Image.NEAREST))
        out["instance"] = instance.astype(np.int32)
        sizes[instance_path] = instance.shape
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{p}: {s[1]}x{s[0]}" for p, s in sizes.items())
        raise DataError(f"files of one example have different sizes after preprocess_mode "
                        f"'{config.preprocess_mode}' ({detail}); label, image and instance maps must align")
    return out
