"""Building blocks shared by the three segmenters, with PyTorch's exact padding, pooling and resizing.

All tensors are NHWC `(batch, height, width, channels)`. Sizes are read from static shapes: the
segmenter networks are called eagerly (or traced once per input size), so every resize and pooling
grid is computed in NumPy exactly as PyTorch computes it:
- `TorchConv2D`: explicit symmetric zero padding then a 'valid' conv (torch's `padding=p`), so stride-2
  convs pick the same pixels as torch (Keras' 'same' pads right-first).
- `bilinear_resize`: `F.interpolate(mode='bilinear', align_corners=False)`, without antialiasing; with
  `scale` the source coordinates use `1/scale` as torch does for `scale_factor=` (not in/out).
- `adaptive_average_pool`: `nn.AdaptiveAvgPool2d` bins `[floor(i*n/s), ceil((i+1)*n/s))`.
- `torch_max_pool`: `nn.MaxPool2d(k, s, p, ceil_mode)`, windows starting in the right padding dropped.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from dagan_tf.layers.norms import BatchNorm


def _static_hw(x) -> tuple[int, int]:
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError("segmenter blocks need static spatial sizes; call the network eagerly "
                         f"or trace it per input size (got shape {tuple(x.shape)})")
    return int(height), int(width)


def _bilinear_axis(in_size: int, out_size: int, scale: float | None):
    """Source indices (low, high) and weights of high, torch `align_corners=False` rule."""
    ratio = (1.0 / scale) if scale else in_size / out_size
    # torch computes in float32: src = ratio * (dst + 0.5) - 0.5, clamped at 0
    src = np.float32(ratio) * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    weight_high = (src - low.astype(np.float32)).astype(np.float32)
    return low.astype("int32"), high.astype("int32"), weight_high


def _lerp_axis(x, in_size, out_size, axis, scale):
    if in_size == out_size and not scale:
        return x
    low, high, weight_high = _bilinear_axis(in_size, out_size, scale)
    shape = [1, 1, 1, 1]
    shape[axis] = out_size
    weight_high = ops.convert_to_tensor(weight_high.reshape(shape), dtype=x.dtype)
    x_low, x_high = ops.take(x, low, axis=axis), ops.take(x, high, axis=axis)
    return x_low + (x_high - x_low) * weight_high


def bilinear_resize(x, size, scale: float | None = None):
    """`(batch, h, w, c)` -> `(batch, size[0], size[1], c)` as torch's bilinear `F.interpolate`.

    `scale`: the `scale_factor` torch was given (then `size` = floor(h*scale), floor(w*scale) and
    the source grid uses 1/scale), or None when torch was given `size=`.
    """
    in_h, in_w = _static_hw(x)
    x = _lerp_axis(x, in_h, int(size[0]), 1, scale)
    return _lerp_axis(x, in_w, int(size[1]), 2, scale)


def _adaptive_matrix(in_size: int, out_size: int) -> np.ndarray:
    matrix = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_average_pool(x, output_size: int):
    """`nn.AdaptiveAvgPool2d(output_size)`: `(batch, h, w, c)` -> `(batch, s, s, c)`."""
    in_h, in_w = _static_hw(x)
    rows = ops.convert_to_tensor(_adaptive_matrix(in_h, output_size), dtype=x.dtype)
    cols = ops.convert_to_tensor(_adaptive_matrix(in_w, output_size), dtype=x.dtype)
    x = ops.einsum("oh,bhwc->bowc", rows, x)
    return ops.einsum("pw,bowc->bopc", cols, x)


def _pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    span = size + 2 * padding - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # last window starts in the padding
        out -= 1
    return out


def torch_max_pool(x, kernel: int = 3, stride: int = 2, padding: int = 1, ceil_mode: bool = False):
    """`nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)` on `(batch, h, w, c)`."""
    in_h, in_w = _static_hw(x)
    out_h = _pool_out(in_h, kernel, stride, padding, ceil_mode)
    out_w = _pool_out(in_w, kernel, stride, padding, ceil_mode)
    extra_h = max((out_h - 1) * stride + kernel - (in_h + 2 * padding), 0)
    extra_w = max((out_w - 1) * stride + kernel - (in_w + 2 * padding), 0)
    x = ops.pad(x, [[0, 0], [padding, padding + extra_h], [padding, padding + extra_w], [0, 0]],
                constant_values=-np.inf)
    return ops.max_pool(x, kernel, stride, padding="valid")


@keras.saving.register_keras_serializable(package="dagan_tf")
class TorchConv2D(keras.layers.Layer):
    """`nn.Conv2d(in, filters, kernel_size, stride, padding, dilation, bias)` in NHWC.

    `(batch, h, w, in)` -> `(batch, h', w', filters)` with torch's output size
    `floor((h + 2p - d(k-1) - 1) / s) + 1`. Variables: `kernel` `(k, k, in, filters)`, `bias`.

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        strides: stride (1).
        padding: symmetric zero padding in pixels (0).
        dilation_rate: dilation (1).
        use_bias: whether the conv has a bias (False).
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, padding: int = 0,
                 dilation_rate: int = 1, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.padding, self.dilation_rate, self.use_bias = int(padding), int(dilation_rate), bool(use_bias)
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, strides=self.strides, padding="valid",
            dilation_rate=self.dilation_rate, use_bias=self.use_bias, dtype=self.dtype_policy, name="conv")

    @property
    def kernel(self):
        return self.conv.kernel

    @property
    def bias(self):
        return self.conv.bias

    def call(self, inputs):
        p = self.padding
        if p:
            inputs = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        return self.conv(inputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package="dagan_tf")
class ConvBN(keras.layers.Layer):
    """Conv (no bias) + batch norm (torch eval semantics, affine) + optional ReLU.

    `(batch, h, w, in)` -> `(batch, h', w', filters)`.

    Args:
        filters, kernel_size, strides, padding, dilation_rate: as `TorchConv2D` (1, 0, 1 defaults).
        relu: whether a ReLU follows the norm (True).
        epsilon: batch-norm epsilon (1e-5, torch's default, used by all three segmenters).
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, padding: int = 0,
                 dilation_rate: int = 1, relu: bool = True, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.padding, self.dilation_rate = int(padding), int(dilation_rate)
        self.relu, self.epsilon = bool(relu), float(epsilon)
        self.conv = TorchConv2D(self.filters, self.kernel_size, self.strides, self.padding,
                                self.dilation_rate, dtype=self.dtype_policy, name="conv")
        self.bn = BatchNorm(epsilon=self.epsilon, affine=True, dtype=self.dtype_policy, name="bn")

    def call(self, inputs):
        x = self.bn(self.conv(inputs))
        return ops.relu(x) if self.relu else x

    def official_entries(self, conv_key: str, bn_key: str) -> dict:
        """`{torch key: (variable, kind)}` for this conv (`conv_key`.weight) and its norm (`bn_key`.*)."""
        return {f"{conv_key}.weight": (self.conv.kernel, "conv"), **batch_norm_entries(bn_key, self.bn)}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "relu": self.relu, "epsilon": self.epsilon}


def batch_norm_entries(prefix: str, norm: BatchNorm) -> dict:
    return {f"{prefix}.weight": (norm.gamma, "vector"), f"{prefix}.bias": (norm.beta, "vector"),
            f"{prefix}.running_mean": (norm.moving_mean, "vector"),
            f"{prefix}.running_var": (norm.moving_variance, "vector")}


@keras.saving.register_keras_serializable(package="dagan_tf")
class Bottleneck(keras.layers.Layer):
    """ResNet bottleneck: 1x1 -> 3x3 (dilated) -> 1x1 (x4), plus an identity or projected shortcut.

    `(batch, h, w, in)` -> `(batch, h/stride, w/stride, 4*width)`.

    Args:
        width: channels of the inner convs (`planes`).
        strides: the block's stride (1).
        dilation_rate: dilation (= padding) of the 3x3 conv (1).
        stride_in_1x1: put the stride on the first 1x1 conv (Caffe / DeepLab) instead of on the
            3x3 conv (torchvision / DRN / mit-semseg) (False).
        projection: whether the shortcut is a strided 1x1 conv + norm (False: identity).
    """

    def __init__(self, width: int, strides: int = 1, dilation_rate: int = 1,
                 stride_in_1x1: bool = False, projection: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.width, self.strides, self.dilation_rate = int(width), int(strides), int(dilation_rate)
        self.stride_in_1x1, self.projection = bool(stride_in_1x1), bool(projection)
        s1, s3 = (self.strides, 1) if self.stride_in_1x1 else (1, self.strides)
        d, policy = self.dilation_rate, self.dtype_policy
        self.conv1 = ConvBN(self.width, 1, s1, dtype=policy, name="conv1")
        self.conv2 = ConvBN(self.width, 3, s3, padding=d, dilation_rate=d, dtype=policy, name="conv2")
        self.conv3 = ConvBN(4 * self.width, 1, relu=False, dtype=policy, name="conv3")
        self.shortcut = (ConvBN(4 * self.width, 1, self.strides, relu=False, dtype=policy, name="shortcut")
                         if self.projection else None)

    def call(self, inputs):
        x = self.conv3(self.conv2(self.conv1(inputs)))
        residual = self.shortcut(inputs) if self.shortcut is not None else inputs
        return ops.relu(x + residual)

    def official_entries(self, prefix: str, style: str = "torchvision") -> dict:
        """Keys of this block under `prefix`: 'torchvision' (`conv1`/`bn1`.. `downsample.0/1`, DRN and
        mit-semseg) or 'deeplab' (`reduce`/`conv3x3`/`increase`/`shortcut` `.conv`/`.bn`)."""
        if style == "torchvision":
            names = [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"), ("downsample.0", "downsample.1")]
        elif style == "deeplab":
            names = [(f"{n}.conv", f"{n}.bn") for n in ("reduce", "conv3x3", "increase", "shortcut")]
        else:
            raise ValueError(f"unknown bottleneck key style {style!r}")
        layers = [self.conv1, self.conv2, self.conv3, self.shortcut]
        out = {}
        for layer, (conv, bn) in zip(layers, names):
            if layer is not None:
                out.update(layer.official_entries(f"{prefix}.{conv}", f"{prefix}.{bn}"))
        return out

    def get_config(self):
        return {**super().get_config(), "width": self.width, "strides": self.strides,
                "dilation_rate": self.dilation_rate, "stride_in_1x1": self.stride_in_1x1,
                "projection": self.projection}


def res_layer(blocks: int, width: int, strides: int = 1, dilation_rate: int = 1,
              stride_in_1x1: bool = False, in_channels: int | None = None, name: str = "layer",
              dtype=None) -> list:
    """One ResNet stage: a first block (strided; projecting when torchvision's `_make_layer` rule
    `stride != 1 or in_channels != 4*width` says so, always when `in_channels` is None as in
    deeplab-pytorch), then `blocks - 1` identity blocks."""
    projection = in_channels is None or strides != 1 or in_channels != 4 * width
    out = [Bottleneck(width, strides, dilation_rate, stride_in_1x1, projection=projection, dtype=dtype,
                      name=f"{name}_0")]
    out += [Bottleneck(width, 1, dilation_rate, stride_in_1x1, dtype=dtype, name=f"{name}_{i}")
            for i in range(1, blocks)]
    return out
