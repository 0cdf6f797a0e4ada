"""SPADE: spatially-adaptive denormalisation (Park et al.), as the reference's `SPADE` module."""

import keras
from keras import ops

from dagan_tf.layers.initializers import xavier_normal
from dagan_tf.layers.norms import make_norm
from dagan_tf.layers.resize import legacy_nearest_resize
from dagan_tf.layers.stride_one_conv import StrideOneConv2D
from dagan_tf.norm_strings import parse_spade_norm

#: Hidden width of the shared SPADE MLP (`nhidden` in the reference).
SPADE_HIDDEN = 128


def parse_spade_config(config_text: str) -> tuple[str, int]:
    """'spadesyncbatch3x3' (or 'spectralspade...') -> ('syncbatch', 3); ValueError otherwise."""
    _, norm, kernel = parse_spade_norm(config_text, "SPADE config_text")
    return norm, kernel


@keras.saving.register_keras_serializable(package="dagan_tf")
class SPADE(keras.layers.Layer):
    """`out = norm(x) * (1 + gamma(seg)) + beta(seg)`.

    Call on `[x, seg]`: x `(batch, height, width, norm_nc)`, seg the semantic map
    `(batch, seg_height, seg_width, semantic_nc)`, resized to x's size with the legacy nearest rule.
    Returns `(batch, height, width, norm_nc)`.
    Sub-layers carry the reference's names: `param_free_norm`, `mlp_shared`, `mlp_gamma`, `mlp_beta`.
    """

    def __init__(self, config_text: str = "spadesyncbatch3x3", hidden: int = SPADE_HIDDEN,
                 init_gain: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.config_text = config_text
        self.hidden = int(hidden)
        self.init_gain = float(init_gain)
        self.norm_type, self.kernel_size = parse_spade_config(config_text)

    def _conv(self, filters, name, activation=None):
        return StrideOneConv2D(
            filters, self.kernel_size, padding="same", activation=activation,
            kernel_initializer=xavier_normal(self.init_gain), bias_initializer="zeros", name=name,
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        x_shape, seg_shape = input_shape
        norm_nc = x_shape[-1]
        self.param_free_norm = make_norm(self.norm_type, "param_free_norm")
        self.mlp_shared = self._conv(self.hidden, "mlp_shared", activation="relu")
        self.mlp_gamma = self._conv(norm_nc, "mlp_gamma")
        self.mlp_beta = self._conv(norm_nc, "mlp_beta")
        self.param_free_norm.build(x_shape)
        self.mlp_shared.build(seg_shape)
        hidden_shape = tuple(seg_shape[:-1]) + (self.hidden,)
        self.mlp_gamma.build(hidden_shape)
        self.mlp_beta.build(hidden_shape)

    def call(self, inputs, training=False):
        x, seg = inputs
        normalized = self.param_free_norm(x, training=training)
        seg = legacy_nearest_resize(seg, (x.shape[1], x.shape[2]))
        actv = self.mlp_shared(seg)
        gamma = self.mlp_gamma(actv)
        beta = self.mlp_beta(actv)
        # keras.ops promote: a float32 norm (bf16 inference, dagan_tf/precision.py) keeps this float32
        return ops.add(ops.multiply(normalized, ops.add(1.0, gamma)), beta)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "config_text": self.config_text, "hidden": self.hidden,
                "init_gain": self.init_gain}
