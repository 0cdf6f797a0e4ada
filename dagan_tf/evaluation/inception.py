"""The FID Inception in Keras: pytorch-fid's `InceptionV3` (the 2015 TensorFlow Inception graph), and its weights.

pytorch-fid (mseitzer/pytorch-fid, `inception.py`) builds torchvision's Inception v3 with 1008 classes and
swaps in `FIDInceptionA/C/E_1/E_2`: their average pools leave the zero padding out of the mean
(`count_include_pad=False`, as TensorFlow's SAME pooling), and the last block max-pools instead. Every conv
is `BasicConv2d` = conv without bias, BatchNorm (eps 1e-3), ReLU. Its torch paddings are all symmetric
"same" paddings of stride-1 convs or none at all, so Keras' 'same' / 'valid' reproduce them exactly; Keras'
'same' pools leave padding out of averages and maxima as TensorFlow does.

Feature blocks (pytorch-fid's `BLOCK_INDEX_BY_DIM`): 64 = after the first max pool, 192 = after the second,
768 = after `Mixed_6e` (the auxiliary classifier's input), 2048 = after `Mixed_7c` and the global average
pool. pytorch-fid's `get_activations` average-pools the smaller blocks over space; so do our outputs.

The input is what pytorch-fid's model gets: RGB in [0, 1] at 299x299 (`preprocess` resizes like its
`F.interpolate(..., mode='bilinear', align_corners=False)` and the model maps to [-1, 1] as `2 * x - 1`).

Layer names are the official state_dict's module paths (`Mixed_6e.branch7x7dbl_3.conv`), so conversion is
by name: `.conv.weight` -> kernel (`(out, in, kh, kw)` -> `(kh, kw, in, out)`), `.bn.{weight, bias,
running_mean, running_var}` -> gamma, beta, moving mean, moving variance. The classifier `fc.*` and the
`num_batches_tracked` counters have no counterpart.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import keras
import numpy as np

__all__ = [
    "DIMS_BLOCKS",
    "INCEPTION_SIZE",
    "build_fid_inception",
    "load_inception_state_dict",
    "preprocess_images",
]

#: pytorch-fid's `--dims` -> the block whose output it uses.
DIMS_BLOCKS = {64: 0, 192: 1, 768: 2, 2048: 3}
#: The input size pytorch-fid resizes every image to.
INCEPTION_SIZE = 299
#: BatchNorm epsilon of torchvision's `BasicConv2d`.
BN_EPSILON = 1e-3
#: Official keys without a counterpart here.
_UNUSED_PREFIXES = ("fc.",)
_UNUSED_SUFFIXES = (".num_batches_tracked",)


def _conv(x, name: str, filters: int, kernel, strides=1, padding="valid"):
    """torchvision's BasicConv2d: conv (no bias) + BN (eps 1e-3) + ReLU, named like its state_dict."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}.conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}.bn")(x)
    return keras.layers.ReLU(name=f"{name}.relu")(x)


def _avg_pool_same(x, name: str):
    # F.avg_pool2d(3, stride 1, padding 1, count_include_pad=False) == TensorFlow's SAME average pool
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, name: str, pool_features: int):
    b1 = _conv(x, f"{name}.branch1x1", 64, 1)
    b5 = _conv(_conv(x, f"{name}.branch5x5_1", 48, 1), f"{name}.branch5x5_2", 64, 5, padding="same")
    b3 = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    b3 = _conv(b3, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    b3 = _conv(b3, f"{name}.branch3x3dbl_3", 96, 3, padding="same")
    bp = _conv(_avg_pool_same(x, f"{name}.avg_pool"), f"{name}.branch_pool", pool_features, 1)
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, b5, b3, bp])


def _block_b(x, name: str):
    b3 = _conv(x, f"{name}.branch3x3", 384, 3, strides=2)
    bd = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    bd = _conv(bd, f"{name}.branch3x3dbl_3", 96, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool")(x)
    return keras.layers.Concatenate(name=f"{name}.concat")([b3, bd, bp])


def _block_c(x, name: str, c7: int):
    b1 = _conv(x, f"{name}.branch1x1", 192, 1)
    b7 = _conv(x, f"{name}.branch7x7_1", c7, 1)
    b7 = _conv(b7, f"{name}.branch7x7_2", c7, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7_3", 192, (7, 1), padding="same")
    bd = _conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    for i, (kernel, filters) in enumerate((((7, 1), c7), ((1, 7), c7), ((7, 1), c7), ((1, 7), 192)), start=2):
        bd = _conv(bd, f"{name}.branch7x7dbl_{i}", filters, kernel, padding="same")
    bp = _conv(_avg_pool_same(x, f"{name}.avg_pool"), f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, b7, bd, bp])


def _block_d(x, name: str):
    b3 = _conv(_conv(x, f"{name}.branch3x3_1", 192, 1), f"{name}.branch3x3_2", 320, 3, strides=2)
    b7 = _conv(x, f"{name}.branch7x7x3_1", 192, 1)
    b7 = _conv(b7, f"{name}.branch7x7x3_2", 192, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_3", 192, (7, 1), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_4", 192, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool")(x)
    return keras.layers.Concatenate(name=f"{name}.concat")([b3, b7, bp])


def _block_e(x, name: str, max_pool: bool):
    """FIDInceptionE_1 (average pool) or FIDInceptionE_2 (`max_pool`: the TF graph's max pool)."""
    b1 = _conv(x, f"{name}.branch1x1", 320, 1)
    b3 = _conv(x, f"{name}.branch3x3_1", 384, 1)
    b3 = keras.layers.Concatenate(name=f"{name}.branch3x3_concat")([
        _conv(b3, f"{name}.branch3x3_2a", 384, (1, 3), padding="same"),
        _conv(b3, f"{name}.branch3x3_2b", 384, (3, 1), padding="same"),
    ])
    bd = _conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 384, 3, padding="same")
    bd = keras.layers.Concatenate(name=f"{name}.branch3x3dbl_concat")([
        _conv(bd, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding="same"),
        _conv(bd, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding="same"),
    ])
    if max_pool:
        pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.max_pool")(x)
    else:
        pooled = _avg_pool_same(x, f"{name}.avg_pool")
    bp = _conv(pooled, f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, b3, bd, bp])


def _check_dims(dims: Sequence[int]) -> list[int]:
    dims = sorted({int(d) for d in dims})
    bad = [d for d in dims if d not in DIMS_BLOCKS]
    if not dims or bad:
        raise ValueError(f"--dims: {bad or dims} not among pytorch-fid's feature sizes {sorted(DIMS_BLOCKS)}")
    return dims


def build_fid_inception(dims: Sequence[int] = (2048,), name: str = "fid_inception") -> keras.Model:
    """The FID Inception up to the last block `dims` needs.

    Args:
        dims: feature sizes to return, any of 64, 192, 768, 2048 (default: pool3, 2048).
        name: the model's name.
    Returns a model `(batch, 299, 299, 3)` RGB in [0, 1] -> a list with one `(batch, d)` float32 array of
    spatially averaged features per entry of sorted `dims` (the model scales to [-1, 1] itself, as
    pytorch-fid's `normalize_input`).
    """
    dims = _check_dims(dims)
    last = max(DIMS_BLOCKS[d] for d in dims)
    image = keras.Input((INCEPTION_SIZE, INCEPTION_SIZE, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="normalize_input")(image)
    x = _conv(x, "Conv2d_1a_3x3", 32, 3, strides=2)
    x = _conv(x, "Conv2d_2a_3x3", 32, 3)
    x = _conv(x, "Conv2d_2b_3x3", 64, 3, padding="same")
    blocks = [keras.layers.MaxPooling2D(3, strides=2, name="maxpool1")(x)]
    if last >= 1:
        x = _conv(blocks[-1], "Conv2d_3b_1x1", 80, 1)
        x = _conv(x, "Conv2d_4a_3x3", 192, 3)
        blocks.append(keras.layers.MaxPooling2D(3, strides=2, name="maxpool2")(x))
    if last >= 2:
        x = blocks[-1]
        for block, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = _block_a(x, block, pool_features)
        x = _block_b(x, "Mixed_6a")
        for block, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = _block_c(x, block, c7)
        blocks.append(x)
    if last >= 3:
        x = _block_d(blocks[-1], "Mixed_7a")
        x = _block_e(x, "Mixed_7b", max_pool=False)
        blocks.append(_block_e(x, "Mixed_7c", max_pool=True))
    outputs = [keras.layers.GlobalAveragePooling2D(name=f"pool_{d}")(blocks[DIMS_BLOCKS[d]]) for d in dims]
    return keras.Model(image, outputs, name=name)


def load_inception_state_dict(model: keras.Model, state_dict: Mapping[str, object]) -> keras.Model:
    """Copy pytorch-fid's state_dict (`{key: tensor or array}`) into `model`, by name.

    Every variable of `model` must be found; official keys of blocks beyond the model's last block are
    skipped (a 64-dims model uses only the stem). Raises ValueError naming missing keys or bad shapes.
    """
    from dagan_tf.torch_io import as_numpy

    arrays = {k: as_numpy(v) for k, v in state_dict.items()}
    missing, bad_shape = [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            wanted = {f"{layer.name}.weight": (layer.kernel, (2, 3, 1, 0))}
        elif isinstance(layer, keras.layers.BatchNormalization):
            prefix = layer.name
            wanted = {f"{prefix}.weight": (layer.gamma, None), f"{prefix}.bias": (layer.beta, None),
                      f"{prefix}.running_mean": (layer.moving_mean, None),
                      f"{prefix}.running_var": (layer.moving_variance, None)}
        else:
            continue
        for key, (variable, axes) in wanted.items():
            if key not in arrays:
                missing.append(key)
                continue
            value = arrays[key] if axes is None else np.transpose(arrays[key], axes)
            if tuple(value.shape) != tuple(variable.shape):
                bad_shape.append(f"{key}: {tuple(arrays[key].shape)} vs ours {tuple(variable.shape)}")
                continue
            variable.assign(value.astype(np.float32))
    if missing or bad_shape:
        raise ValueError(
            "Inception weights do not fit pytorch-fid's FID Inception: "
            + (f"missing keys {missing[:5]} ({len(missing)} in all)" if missing else "")
            + ("; " if missing and bad_shape else "")
            + (f"shape mismatches {bad_shape[:5]}" if bad_shape else "")
            + " (is this pt_inception-2015-12-05-6726825d.pth?)"
        )
    return model


def preprocess_images(images) -> np.ndarray:
    """uint8 RGB images (a `(batch, H, W, 3)` array, or a list of `(H_i, W_i, 3)` arrays of any sizes) ->
    float32 `(batch, 299, 299, 3)` in [0, 1], resized as pytorch-fid: `ToTensor()` (/ 255), then bilinear
    `align_corners=False` without antialiasing (TensorFlow's bilinear with half-pixel centres), per image.
    """
    import tensorflow as tf

    if isinstance(images, np.ndarray) and images.ndim == 4:
        groups = [images]
    else:
        groups = [np.asarray(image)[None] for image in images]
    out = []
    for group in groups:
        if group.shape[-1] != 3 or group.dtype != np.uint8:
            raise ValueError(f"images must be uint8 RGB (..., 3), got {group.dtype} {group.shape}")
        x = tf.cast(group, tf.float32) / 255.0
        if group.shape[1:3] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf.image.resize(x, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear", antialias=False)
        out.append(x.numpy())
    return np.concatenate(out, axis=0)
