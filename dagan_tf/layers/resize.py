"""The reference's nearest-neighbour resizing (PyTorch's legacy `F.interpolate(mode='nearest')`).

Source index = floor(dst_index * in_size / out_size). `tf.image.resize(..., 'nearest')` uses
half-pixel centres and picks other pixels (docs/reference.md, Generator), so it must not be used where
parity with the reference matters.
"""

import keras
import numpy as np
from keras import ops


def legacy_nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices `floor(i * in_size / out_size)` for i in [0, out_size), exact in integers."""
    return (np.arange(out_size, dtype=np.int64) * in_size) // out_size


def _resize_axis(x, out_size: int, axis: int):
    in_size = x.shape[axis]
    if in_size is None:  # dynamic size: same rule, computed in the graph
        in_size_t = ops.shape(x)[axis]
        idx = ops.floor_divide(ops.arange(out_size, dtype="int32") * ops.cast(in_size_t, "int32"), out_size)
        return ops.take(x, idx, axis=axis)
    if in_size == out_size:
        return x
    if in_size % out_size == 0:  # integer down-scaling: floor(i * f) = i * f, a strided slice
        step = in_size // out_size
        sl = [slice(None)] * len(x.shape)
        sl[axis] = slice(0, None, step)
        return x[tuple(sl)]
    if out_size % in_size == 0:  # integer up-scaling: each source pixel repeated f times
        return ops.repeat(x, out_size // in_size, axis=axis)
    return ops.take(x, legacy_nearest_indices(in_size, out_size).astype("int32"), axis=axis)


def legacy_nearest_resize(x, size):
    """Resize `x` `(batch, height, width, channels)` to `size` = (out_height, out_width)."""
    out_h, out_w = int(size[0]), int(size[1])
    return _resize_axis(_resize_axis(x, out_h, 1), out_w, 2)


@keras.saving.register_keras_serializable(package="dagan_tf")
class NearestResize(keras.layers.Layer):
    """Legacy nearest resize to a fixed size.

    Input `(batch, in_height, in_width, channels)` -> `(batch, height, width, channels)`.
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = (int(size[0]), int(size[1]))

    def call(self, inputs):
        return legacy_nearest_resize(inputs, self.size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size[0], self.size[1], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}
