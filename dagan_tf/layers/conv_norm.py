"""The reference's `get_nonspade_norm_layer` applied to a conv: [spectral] conv + optional norm.

`norm_string` is `norm_D` / `norm_E`: an optional `spectral` prefix, then `instance`, `batch`,
`syncbatch` or `none`. A conv followed by a norm has no bias (the reference deletes it, since the
norm cancels it); batch norms here are affine, instance norms are not (as the reference).
"""

import keras

from dagan_tf.layers.norms import make_norm
from dagan_tf.layers.spectral_conv import SpectralConv2D
from dagan_tf.norm_strings import parse_plain_norm


def parse_norm_string(norm_string: str) -> tuple[bool, str]:
    """'spectralinstance' -> (True, 'instance'); ValueError otherwise (dagan_tf.norm_strings)."""
    return parse_plain_norm(norm_string, "ConvNorm norm_string")


@keras.saving.register_keras_serializable(package="dagan_tf")
class ConvNorm(keras.layers.Layer):
    """`norm(conv(x))`: `(batch, height, width, in)` -> `(batch, out_height, out_width, filters)`.

    Sub-layers: `conv` (SpectralConv2D) and `norm` (absent when the norm is 'none').
    """

    def __init__(self, filters: int, kernel_size: int, strides: int, padding: int,
                 norm_string: str = "spectralinstance", init_gain: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = int(padding)
        self.norm_string = norm_string
        self.init_gain = float(init_gain)
        self.spectral, self.norm_type = parse_norm_string(norm_string)

    def build(self, input_shape):
        self.conv = SpectralConv2D(
            self.filters, self.kernel_size, strides=self.strides, padding=self.padding,
            use_bias=self.norm_type == "none", spectral_norm=self.spectral, init_gain=self.init_gain,
            name="conv", dtype=self.dtype_policy,
        )
        self.conv.build(input_shape)
        self.norm = make_norm(self.norm_type, "norm", affine_batch=True)
        if self.norm is not None:
            self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=False):
        x = self.conv(inputs, training=training)
        return x if self.norm is None else self.norm(x, training=training)

    def compute_output_shape(self, input_shape):
        return SpectralConv2D(self.filters, self.kernel_size, self.strides, self.padding) \
            .compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "norm_string": self.norm_string,
                "init_gain": self.init_gain}
