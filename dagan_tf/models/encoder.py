"""The style encoder for `use_vae` (docs/reference.md, `ConvEncoder`)."""

import keras

from dagan_tf.config import DAGANConfig
from dagan_tf.layers import ConvNorm, xavier_normal
from dagan_tf.models.arguments import network_arguments
from dagan_tf.models.configured import DAGANNetwork, built_from

#: The reference's latent size of the encoder grid and of mu / logvar.
ENCODER_GRID = 4


def encoder_input_size(config: DAGANConfig) -> int:
    """The size images are resized to (`models.arguments`: 256, or 128 when crop_size < 256)."""
    return network_arguments("encoder", config)["input_size"]


@keras.saving.register_keras_serializable(package="dagan_tf")
class DAGANEncoder(DAGANNetwork):
    """The style encoder. `build_encoder(config)` builds it from a DAGANConfig (`models.arguments`).

    Input: image `(batch, height, width, 3)` in [-1, 1], any size (resized bilinearly, no
    antialiasing, half-pixel centres = torch's `align_corners=False`). Outputs `(mu, logvar)`,
    each `(batch, z_dim)`.

    Args:
        input_size: the size images are resized to: 256 (six stride-2 convs) or 128 (five).
        ngf: width of the first conv (then 2, 4, 8, 8, 8 x). Defaults to 64.
        norm_E: the norm string of its convs. Defaults to 'spectralinstance'.
        z_dim: size of mu and logvar. Defaults to 256.
        init_gain: xavier-normal gain of every weight. Defaults to 0.02.
        name: the model's name. Defaults to "dagan_encoder".
    """

    KIND = "encoder"

    def __init__(self, input_size: int, ngf: int = 64, norm_E: str = "spectralinstance", z_dim: int = 256,
                 init_gain: float = 0.02, name: str = "dagan_encoder", **kwargs):
        if input_size not in (128, 256):
            raise ValueError(f"DAGANEncoder: input_size must be 256 or 128, got {input_size}")
        arguments = dict(input_size=int(input_size), ngf=int(ngf), norm_E=norm_E, z_dim=int(z_dim),
                         init_gain=float(init_gain))
        n_layers = 6 if input_size == 256 else 5
        channels = [ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf, 8 * ngf][:n_layers]

        image = keras.Input((None, None, 3), name="image")
        x = keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name=f"resize_{input_size}")(image)
        for i, ch in enumerate(channels):
            if i:
                x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_{i}")(x)
            x = ConvNorm(ch, 3, 2, 1, norm_string=norm_E, init_gain=init_gain, name=f"layer{i + 1}")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_{n_layers}")(x)
        # the reference flattens NCHW: channel-major order, so fc weights load unchanged
        x = keras.layers.Permute((3, 1, 2), name="to_nchw")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        dense = dict(kernel_initializer=xavier_normal(init_gain), bias_initializer="zeros", dtype="float32")
        mu = keras.layers.Dense(z_dim, name="fc_mu", **dense)(x)
        logvar = keras.layers.Dense(z_dim, name="fc_var", **dense)(x)
        super().__init__(image, [mu, logvar], arguments, name=name, **kwargs)


def build_encoder(config: DAGANConfig, name: str = "dagan_encoder") -> DAGANEncoder:
    """The encoder for `config` (a `DAGANEncoder` whose `dagan_config` is `config`)."""
    return built_from(DAGANEncoder(**network_arguments("encoder", config), name=name), config)
