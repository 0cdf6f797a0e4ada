"""The reference's preprocess modes (SPADE `data/base_dataset.py`), split in two halves.

1. A deterministic resize that depends only on the file and the config (`resize_for_mode`). It runs on
   PIL images, exactly as the reference does: label and instance maps with `Image.NEAREST`, photos with
   `Image.BICUBIC`, so label maps come out pixel for pixel identical to the reference's loader.
2. A random crop and horizontal flip (`crop_params`, `crop_and_flip`) in TensorFlow, applied with the
   same parameters to the label map, the instance map and the photo, so the three stay aligned. Keeping
   the random half in the graph lets `tf.data` cache the resized arrays and re-draw crops every epoch.

Two deliberate differences from the reference, both documented where they happen:
- Training crops are `config.image_hw` = (height, width), the generator's output size. The reference
  always crops a `crop_size` square, which equals `image_hw` whenever `aspect_ratio == 1`; with another
  aspect ratio the reference cannot train (its generator outputs `image_hw`), so there is nothing to
  match. `fixed` likewise resizes to `image_hw`, which is the reference's
  (round(crop_size / aspect_ratio), crop_size) in every case the reference runs at all (Cityscapes:
  crop 512, aspect 2 -> 256 x 512).
- `scale_shortside` scales the short side to `load_size`. The released code keeps the short side at
  its original length and only rescales the long side (distorting the aspect ratio); no dataset default
  uses that mode.

Test phase (anything but 'train'): `load_size` is taken equal to `crop_size` (the reference's
test-time default for every dataset), crops are centred instead of random, and nothing is flipped.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from PIL import Image

__all__ = [
    "CROP_MODES",
    "phase_load_size",
    "uses_crop",
    "crop_hw",
    "resized_size",
    "resize_for_mode",
    "output_hw",
    "crop_params",
    "crop_and_flip",
    "normalize_image",
    "numpy_crop_and_flip",
]

#: Preprocess modes that end with a crop.
CROP_MODES = ("resize_and_crop", "crop", "scale_width_and_crop", "scale_shortside_and_crop")

#: 'none' rounds each side to a multiple of 32 with Python's round(), as the reference's `__make_power_2`.
_POWER_2_BASE = 32


def phase_load_size(config, is_train: bool) -> int:
    """`load_size` in training; `crop_size` otherwise (the reference's test-time default)."""
    return config.load_size if is_train else config.crop_size


def uses_crop(config) -> bool:
    """Whether the preprocess mode ends with a crop ('crop' in the mode's name, as the reference)."""
    return "crop" in config.preprocess_mode


def crop_hw(config) -> tuple[int, int]:
    """(height, width) of a crop: the generator's output size `config.image_hw`."""
    return tuple(config.image_hw)


def resized_size(config, width: int, height: int, is_train: bool) -> tuple[int, int]:
    """(width, height) after the mode's resize step, for a file of size `width` x `height` (PIL order)."""
    mode = config.preprocess_mode
    load = phase_load_size(config, is_train)
    if "resize" in mode:
        return load, load
    if "scale_width" in mode:
        if width == load:
            return width, height
        return load, int(load * height / width)
    if "scale_shortside" in mode:
        short, long = min(width, height), max(width, height)
        if short == load:
            return width, height
        long = int(load * long / short)
        return (load, long) if width == short else (long, load)
    if mode == "none":
        return (int(round(width / _POWER_2_BASE) * _POWER_2_BASE),
                int(round(height / _POWER_2_BASE) * _POWER_2_BASE))
    if mode == "fixed":
        out_h, out_w = crop_hw(config)
        return out_w, out_h
    return width, height  # 'crop': crop straight from the file


def resize_for_mode(img: Image.Image, config, is_train: bool, method: int) -> Image.Image:
    """The deterministic resize of the reference's `get_transform`, on a PIL image.

    `method` is `Image.NEAREST` for label and instance maps, `Image.BICUBIC` for photos.
    """
    size = resized_size(config, img.width, img.height, is_train)
    if size == img.size:
        return img  # the reference returns the image untouched when the size already fits
    return img.resize(size, method)


def output_hw(config) -> tuple[int | None, int | None]:
    """Static (height, width) of the pipeline's output, or None where it depends on the file."""
    if uses_crop(config) or config.preprocess_mode == "fixed":
        return crop_hw(config)
    return None, None


def crop_params(seed: tf.Tensor, size_hw: tf.Tensor, window_hw: tuple[int, int], is_train: bool,
                flip: bool = True):
    """(y0, x0, flip) for one example, as the reference's `get_params`.

    Training: x0 uniform in [0, max(0, W - crop_w)], y0 likewise, flip with probability 1/2 (when
    `flip`). Otherwise the crop is centred and nothing is flipped.

    Args:
        seed: int64 scalar (one value of `tf.data.Dataset.random`), the example's randomness.
        size_hw: int32 (2,) tensor, (height, width) of the resized maps.
        window_hw: (crop_h, crop_w).
    """
    size_hw = tf.cast(size_hw, tf.int32)
    span_y = tf.maximum(0, size_hw[0] - window_hw[0])
    span_x = tf.maximum(0, size_hw[1] - window_hw[1])
    if not is_train:
        return span_y // 2, span_x // 2, tf.constant(False)
    u = tf.random.stateless_uniform([3], seed=tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)]))
    y0 = tf.minimum(tf.cast(tf.floor(u[0] * tf.cast(span_y + 1, tf.float32)), tf.int32), span_y)
    x0 = tf.minimum(tf.cast(tf.floor(u[1] * tf.cast(span_x + 1, tf.float32)), tf.int32), span_x)
    do_flip = tf.logical_and(tf.constant(bool(flip)), u[2] > 0.5)
    return y0, x0, do_flip


def crop_and_flip(x: tf.Tensor, y0, x0, window_hw: tuple[int, int] | None, flip, pad_value=0) -> tf.Tensor:
    """Crop `x` (height, width[, channels]) to `window_hw` at (y0, x0), then flip left-right if `flip`.

    Where the window runs past the bottom or right border it is filled with `pad_value`, as PIL's
    `Image.crop` fills with zeros (the caller passes the value a raw 0 maps to). `window_hw=None`: no crop.
    """
    if window_hw is not None:
        crop_h, crop_w = window_hw
        shape = tf.shape(x)
        pad_h = tf.maximum(0, y0 + crop_h - shape[0])
        pad_w = tf.maximum(0, x0 + crop_w - shape[1])
        paddings = [[0, pad_h], [0, pad_w]] + [[0, 0]] * (len(x.shape) - 2)
        x = tf.pad(x, paddings, constant_values=tf.cast(pad_value, x.dtype))
        x = x[y0:y0 + crop_h, x0:x0 + crop_w]
    return tf.cond(flip, lambda: tf.reverse(x, axis=[1]), lambda: x)


def normalize_image(image_uint8: tf.Tensor) -> tf.Tensor:
    """uint8 RGB -> float32 in [-1, 1], as ToTensor() then Normalize((0.5,)*3, (0.5,)*3)."""
    return (tf.cast(image_uint8, tf.float32) / 255.0 - 0.5) / 0.5


def numpy_crop_and_flip(x: np.ndarray, y0: int, x0: int, window_hw, flip: bool, pad_value=0) -> np.ndarray:
    """NumPy twin of `crop_and_flip`, for callers outside tf.data (tests, single-file inference)."""
    if window_hw is not None:
        crop_h, crop_w = window_hw
        pad_h = max(0, y0 + crop_h - x.shape[0])
        pad_w = max(0, x0 + crop_w - x.shape[1])
        x = np.pad(x, [(0, pad_h), (0, pad_w)] + [(0, 0)] * (x.ndim - 2), constant_values=pad_value)
        x = x[y0:y0 + crop_h, x0:x0 + crop_w]
    return x[:, ::-1].copy() if flip else x
