"""The multi-scale PatchGAN discriminator (docs/reference.md, `MultiscaleDiscriminator`)."""

import keras
from keras import ops

from dagan_tf.config import DAGANConfig
from dagan_tf.layers import AvgPoolExcludePad, ConvNorm, SpectralConv2D
from dagan_tf.models.arguments import network_arguments
from dagan_tf.models.configured import DAGANNetwork, built_from

#: The reference's `padw = ceil((kw - 1) / 2)` for kw = 4: symmetric padding 2 on every side.
_KW, _PADW = 4, 2


@keras.saving.register_keras_serializable(package="dagan_tf")
class NLayerDiscriminator(keras.layers.Layer):
    """One scale: `model0` .. `model<n_layers>`, every block's output returned (feature matching).

    Input `(batch, height, width, semantic_nc + 3)`; returns a list of `n_layers + 1` tensors
    `(batch, h_i, w_i, c_i)`, the last being the patch logits (1 channel).
    """

    def __init__(self, ndf: int = 64, n_layers: int = 4, norm_D: str = "spectralinstance",
                 init_gain: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.ndf = int(ndf)
        self.n_layers = int(n_layers)
        self.norm_D = norm_D
        self.init_gain = float(init_gain)

    def _channels(self):
        """(filters, stride) of model1 .. model<n_layers - 1>."""
        nf, out = self.ndf, []
        for n in range(1, self.n_layers):
            nf = min(nf * 2, 512)
            out.append((nf, 1 if n == self.n_layers - 1 else 2))
        return out

    def build(self, input_shape):
        kw = dict(init_gain=self.init_gain, dtype=self.dtype_policy)
        self.model0 = SpectralConv2D(self.ndf, _KW, strides=2, padding=_PADW, spectral_norm=False,
                                     name="model0", **kw)
        self.blocks = [
            ConvNorm(nf, _KW, stride, _PADW, norm_string=self.norm_D, name=f"model{i + 1}", **kw)
            for i, (nf, stride) in enumerate(self._channels())
        ]
        self.final = SpectralConv2D(1, _KW, strides=1, padding=_PADW, spectral_norm=False,
                                    name=f"model{self.n_layers}", **kw)
        shape = input_shape
        for layer in [self.model0, *self.blocks, self.final]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=False):
        x = ops.leaky_relu(self.model0(inputs), negative_slope=0.2)
        features = [x]
        for block in self.blocks:
            x = ops.leaky_relu(block(x, training=training), negative_slope=0.2)
            features.append(x)
        features.append(self.final(x))
        return features

    def compute_output_shape(self, input_shape):
        shapes, shape = [], input_shape
        for layer in [self.model0, *self.blocks, self.final] if self.built else []:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    def get_config(self):
        return {**super().get_config(), "ndf": self.ndf, "n_layers": self.n_layers,
                "norm_D": self.norm_D, "init_gain": self.init_gain}


@keras.saving.register_keras_serializable(package="dagan_tf")
class DAGANDiscriminator(DAGANNetwork):
    """The multi-scale discriminator, any input size. `build_discriminator(config)` builds it from a
    DAGANConfig (`models.arguments`).

    Input: `concat[semantic_map, image]` `(batch, height, width, semantic_nc + 3)`.
    Output: a list of `num_D` scales, each the list of every block's output (last: logits).

    Args:
        semantic_nc: channels of the semantic map.
        ndf: width of the first layer. Defaults to 64.
        num_D: scales (each on the input average-pooled once more). Defaults to 2.
        n_layers_D: layers per scale. Defaults to 4.
        norm_D: the norm string of its inner layers. Defaults to 'spectralinstance'.
        init_gain: xavier-normal gain of every weight. Defaults to 0.02.
        name: the model's name. Defaults to "dagan_discriminator".
    """

    KIND = "discriminator"

    def __init__(self, semantic_nc: int, ndf: int = 64, num_D: int = 2, n_layers_D: int = 4,
                 norm_D: str = "spectralinstance", init_gain: float = 0.02, name: str = "dagan_discriminator",
                 **kwargs):
        arguments = dict(semantic_nc=int(semantic_nc), ndf=int(ndf), num_D=int(num_D), n_layers_D=int(n_layers_D),
                         norm_D=norm_D, init_gain=float(init_gain))
        inp = keras.Input((None, None, arguments["semantic_nc"] + 3), name="semantic_map_and_image")
        x, outputs = inp, []
        for i in range(arguments["num_D"]):
            scale = NLayerDiscriminator(arguments["ndf"], arguments["n_layers_D"], norm_D,
                                        init_gain=arguments["init_gain"], name=f"discriminator_{i}")
            outputs.append(scale(x))
            if i != arguments["num_D"] - 1:
                x = AvgPoolExcludePad(name=f"downsample_{i}")(x)
        super().__init__(inp, outputs, arguments, name=name, **kwargs)


def build_discriminator(config: DAGANConfig, name: str = "dagan_discriminator") -> DAGANDiscriminator:
    """The discriminator for `config` (a `DAGANDiscriminator` whose `dagan_config` is `config`)."""
    return built_from(DAGANDiscriminator(**network_arguments("discriminator", config), name=name), config)
