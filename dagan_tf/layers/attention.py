"""DAGAN's two attention modules: SpatialAttention (SAM) and ChannelAttention (CAM)."""

import keras
from keras import ops

from dagan_tf.layers.initializers import xavier_normal


@keras.saving.register_keras_serializable(package="dagan_tf")
class SpatialAttention(keras.layers.Layer):
    """SAM (`spatialAtt` in the reference): `sigmoid(conv([mean_c(x), max_c(x)]))`.

    Input `(batch, height, width, channels)` -> attention map `(batch, height, width, 1)`;
    the generator multiplies x by it. conv: 2 -> 1 channels, `kernel_size` (3, padding 1), no bias.
    """

    def __init__(self, kernel_size: int = 3, init_gain: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.init_gain = float(init_gain)

    def build(self, input_shape):
        self.conv = keras.layers.Conv2D(
            1, self.kernel_size, padding="same", use_bias=False,
            kernel_initializer=xavier_normal(self.init_gain), name="conv", dtype=self.dtype_policy,
        )
        self.conv.build(tuple(input_shape[:-1]) + (2,))

    def call(self, inputs):
        avg = ops.mean(inputs, axis=-1, keepdims=True)
        mx = ops.max(inputs, axis=-1, keepdims=True)
        return ops.sigmoid(self.conv(ops.concatenate([avg, mx], axis=-1)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "init_gain": self.init_gain}


@keras.saving.register_keras_serializable(package="dagan_tf")
class ChannelAttention(keras.layers.Layer):
    """CAM (`cab`, the reference's CAB): scale-wise channel attention.

    Call on `[x_tmp, x]`, both `(batch, height, width, channels)`:
    `a = sigmoid(conv2(relu(conv1(global_avg_pool(concat[x_tmp, x])))))`, returns `a * x + x_tmp`.
    conv1: 2*channels -> channels, conv2: channels -> channels, 1x1 with bias.
    """

    def __init__(self, init_gain: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.init_gain = float(init_gain)

    def build(self, input_shape):
        channels = input_shape[1][-1]
        conv = dict(kernel_initializer=xavier_normal(self.init_gain), bias_initializer="zeros",
                    dtype=self.dtype_policy)
        self.conv1 = keras.layers.Conv2D(channels, 1, name="conv1", **conv)
        self.conv2 = keras.layers.Conv2D(channels, 1, name="conv2", **conv)
        self.conv1.build((None, 1, 1, input_shape[0][-1] + channels))
        self.conv2.build((None, 1, 1, channels))

    def call(self, inputs):
        x_tmp, x = inputs
        pooled = ops.mean(ops.concatenate([x_tmp, x], axis=-1), axis=(1, 2), keepdims=True)
        attention = ops.sigmoid(self.conv2(ops.relu(self.conv1(pooled))))
        return attention * x + x_tmp

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "init_gain": self.init_gain}
