"""The reference's data loader (SPADE `base_dataset.py` + `pix2pix_dataset.py`) re-stated with PIL and
NumPy, the oracle of tests/test_layouts.py, test_loading.py and test_pipeline.py, and the small file
trees those tests write.

The pipeline must give the same label and instance maps exactly and photos within 0.03 mean absolute
difference (in [-1, 1] units).
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dagan_tf.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(name, **changes):
    return load_config(os.path.join(REPO, "configs", f"{name}.yaml"), changes)


# ------------------------------------------------------------------------------------------------
# The reference's loader, re-stated
# ------------------------------------------------------------------------------------------------
def reference_transform(img, cfg, is_train, method, crop_pos=(0, 0), flip=False):
    """SPADE get_transform for the modes used here (resize_and_crop, crop, fixed)."""
    mode = cfg.preprocess_mode
    load = cfg.load_size if is_train else cfg.crop_size  # the reference's test-time load_size
    if "resize" in mode:
        img = img.resize((load, load), method)
    if "crop" in mode and crop_pos is not None:  # None: stop before the crop
        x, y = crop_pos
        img = img.crop((x, y, x + cfg.crop_size, y + cfg.crop_size))
    if mode == "fixed":
        img = img.resize((cfg.crop_size, round(cfg.crop_size / cfg.aspect_ratio)), method)
    if is_train and flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def class_ids(values, cfg) -> np.ndarray:
    """Our pipeline's label file values as class ids by the model's SemanticPreprocessor, to hold
    against the reference's loader (which maps values to ids before the model)."""
    from dagan_tf.models import SemanticPreprocessor

    return np.asarray(SemanticPreprocessor.from_dagan_config(cfg).class_ids(np.asarray(values)))


def reference_example(cfg, label_path, image_path, instance_path, is_train, crop_pos=(0, 0), flip=False):
    label = Image.open(label_path)
    label_t = np.asarray(reference_transform(label, cfg, is_train, Image.NEAREST, crop_pos, flip))
    label_t = (label_t.astype(np.float32) / 255.0 * 255.0)  # ToTensor() * 255
    label_t[label_t == 255] = cfg.label_nc
    if cfg.dataset_mode == "ade20k":
        label_t = label_t - 1
        label_t[label_t == -1] = cfg.label_nc
    image = Image.open(image_path).convert("RGB")
    image_t = np.asarray(reference_transform(image, cfg, is_train, Image.BICUBIC, crop_pos, flip))
    out = {"label": label_t.astype(np.int64), "image": (image_t / 255.0 - 0.5) / 0.5}
    if instance_path:
        inst = Image.open(instance_path)
        inst_t = reference_transform(inst, cfg, is_train, Image.NEAREST, crop_pos, flip)
        out["instance"] = np.asarray(inst_t).astype(np.int64)
    return out


# ------------------------------------------------------------------------------------------------
# Fixture trees
# ------------------------------------------------------------------------------------------------
def save(path, array, **options):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **options)


def random_photo(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_ade20k(root, rng, phase="train", n=3, h=40, w=56):
    split = {"train": "training", "val": "validation"}[phase]
    for i in range(1, n + 1):
        label = rng.integers(0, 151, (h, w), dtype=np.uint8)
        label[0, :4] = [0, 1, 150, 75]
        save(str(root / "ADEChallengeData2016" / "annotations" / split / f"ADE_{phase}_{i:08d}.png"), label)
        save(str(root / "ADEChallengeData2016" / "images" / split / f"ADE_{phase}_{i:08d}.jpg"),
             random_photo(rng, h, w), quality=95)


def facades_pair(root, rng, stem="a", h=40, w=30, photo=None):
    label = rng.integers(0, 13, (h, w), dtype=np.uint8)
    save(str(root / "train_label" / f"{stem}.png"), label)
    save(str(root / "train_img" / f"{stem}.png"), random_photo(rng, h, w) if photo is None else photo)
    return str(root / "train_label" / f"{stem}.png"), str(root / "train_img" / f"{stem}.png")


def first_error(ds):
    with pytest.raises(tf.errors.OpError) as err:
        for _ in ds:
            pass
    return str(err.value)
