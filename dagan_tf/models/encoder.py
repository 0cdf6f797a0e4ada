"""The style encoder for `use_vae` (docs/reference.md, `ConvEncoder`)."""

import keras

from dagan_tf.config import DAGANConfig
from dagan_tf.layers import ConvNorm, xavier_normal
from dagan_tf.models.configured import ConfiguredNetwork

#: The reference's latent size of the encoder grid and of mu / logvar.
ENCODER_GRID = 4


def encoder_input_size(config: DAGANConfig) -> int:
    """256 (six stride-2 convs); 128 with five convs when crop_size < 256 (docs/reference.md: the released
    code crashes there, an 8x8 grid meeting a 4x4 fc; this project resizes to 128 instead)."""
    return 256 if config.crop_size >= 256 else 128


@keras.saving.register_keras_serializable(package="dagan_tf")
class DAGANEncoder(ConfiguredNetwork):
    """The style encoder, built from a `DAGANConfig` (kept as `dagan_config`).

    Input: image `(batch, height, width, 3)` in [-1, 1], any size (resized bilinearly, no
    antialiasing, half-pixel centres = torch's `align_corners=False`). Outputs `(mu, logvar)`,
    each `(batch, z_dim)`.

    Args:
        dagan_config: the `DAGANConfig` (or its dict) whose network keys define the encoder.
        name: the model's name. Defaults to "dagan_encoder".
    """

    def __init__(self, dagan_config: DAGANConfig, name: str = "dagan_encoder", **kwargs):
        config = dagan_config
        size = encoder_input_size(config)
        n_layers = 6 if size == 256 else 5
        ndf, gain = config.ngf, config.init_variance
        channels = [ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf][:n_layers]

        image = keras.Input((None, None, 3), name="image")
        x = keras.layers.Resizing(size, size, interpolation="bilinear", name=f"resize_{size}")(image)
        for i, ch in enumerate(channels):
            if i:
                x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_{i}")(x)
            x = ConvNorm(ch, 3, 2, 1, norm_string=config.norm_E, init_gain=gain, name=f"layer{i + 1}")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_{n_layers}")(x)
        # the reference flattens NCHW: channel-major order, so fc weights load unchanged
        x = keras.layers.Permute((3, 1, 2), name="to_nchw")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        dense = dict(kernel_initializer=xavier_normal(gain), bias_initializer="zeros", dtype="float32")
        mu = keras.layers.Dense(config.z_dim, name="fc_mu", **dense)(x)
        logvar = keras.layers.Dense(config.z_dim, name="fc_var", **dense)(x)
        super().__init__(image, [mu, logvar], dagan_config, name=name, **kwargs)


def build_encoder(config: DAGANConfig, name: str = "dagan_encoder") -> DAGANEncoder:
    """The encoder for `config` (a `DAGANEncoder`)."""
    return DAGANEncoder(config, name=name)
