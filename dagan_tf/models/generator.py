"""The DAGAN generator: SPADE generator + DAGAN head (CAM + SAM), as docs/reference.md's `SPADEGenerator`."""

import keras

from dagan_tf.config import DAGANConfig
from dagan_tf.layers import (
    ChannelAttention,
    NearestResize,
    SPADEResnetBlock,
    SpatialAttention,
    xavier_normal,
)
from dagan_tf.models.configured import ConfiguredNetwork


def _conv3x3(filters: int, name: str, gain: float, use_bias: bool = True):
    return keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=name,
                               kernel_initializer=xavier_normal(gain), bias_initializer="zeros")


def _latent(config: DAGANConfig, seg, z):
    """The first grid `(batch, sh, sw, 16 ngf)`: fc(z) with `use_vae`, else a conv of the downsized map."""
    sh, sw = config.latent_hw
    nf, gain = config.ngf, config.init_variance
    if z is not None:
        x = keras.layers.Dense(16 * nf * sh * sw, name="fc", kernel_initializer=xavier_normal(gain))(z)
        # the reference views fc's output as NCHW (16nf, sh, sw): reshape so, then go to NHWC
        x = keras.layers.Reshape((16 * nf, sh, sw), name="fc_view_nchw")(x)
        return keras.layers.Permute((2, 3, 1), name="fc_to_nhwc")(x)
    x = NearestResize((sh, sw), name="seg_to_latent")(seg)
    return _conv3x3(16 * nf, "fc", gain)(x)


def _generator_graph(config: DAGANConfig):
    """(inputs, output) of the generator's functional graph (see `DAGANGenerator`)."""
    height, width = config.image_hw
    nf, gain = config.ngf, config.init_variance
    most = config.num_upsampling_layers == "most"

    seg = keras.Input((height, width, config.semantic_nc), name="semantic_map")
    z = keras.Input((config.z_dim,), name="z") if config.use_vae else None
    x = _latent(config, seg, z)

    def block(fout, block_name):
        return SPADEResnetBlock(fout, norm_G=config.norm_G, init_gain=gain, remat=config.remat, name=block_name)

    def up(tensor, n=[0]):
        n[0] += 1
        return keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_x2_{n[0]}")(tensor)

    x = up(block(16 * nf, "head_0")([x, seg]))
    x = block(16 * nf, "G_middle_0")([x, seg])
    if config.num_upsampling_layers in ("more", "most"):
        x = up(x)
    x = up(block(16 * nf, "G_middle_1")([x, seg]))
    x = up(block(8 * nf, "up_0")([x, seg]))
    x = up(block(4 * nf, "up_1")([x, seg]))
    x = up(block(2 * nf, "up_2")([x, seg]))

    # DAGAN head. conv_64 maps up_2's output (2nf) to final_nc (docs/reference.md step 3: the reference
    # hard-wires 128 -> 64, which is this rule at ngf = 64 without 'most').
    x_tmp = _conv3x3(config.final_nc, "conv_64", gain)(x)
    x = block(nf, "up_3")([x, seg])
    if most:
        x = block(nf // 2, "up_4")([up(x), seg])
        x_tmp = up(x_tmp)  # bring x_tmp to x's size for CAM (this project's generalisation)

    cam = ChannelAttention(init_gain=gain, name="cab")([x_tmp, x])
    sam = keras.layers.Multiply(name="sam")([x, SpatialAttention(init_gain=gain, name="spatialAtt")(x)])
    x = keras.layers.Add(name="cam_plus_sam")([cam, sam])
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="lrelu_out")(x)
    x = _conv3x3(3, "conv_img", gain)(x)
    # float32 output even under a mixed-precision policy
    out = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return ([seg, z] if z is not None else seg), out


@keras.saving.register_keras_serializable(package="dagan_tf")
class DAGANGenerator(ConfiguredNetwork):
    """The generator, built from a `DAGANConfig`, which it keeps as `dagan_config`.

    Inputs: the semantic map `(batch, H, W, semantic_nc)` float32 with `(H, W) = config.image_hw`,
    and with `use_vae` also `z` `(batch, z_dim)` (call as `G([semantic_map, z])`).
    Output: image `(batch, H, W, 3)` in [-1, 1], float32.
    Layer names are the reference's module names, so weights map one to one (official_names.py).

    Args:
        dagan_config: the `DAGANConfig` (or its dict) whose network keys define the generator.
        name: the model's name. Defaults to "dagan_generator".
    """

    def __init__(self, dagan_config: DAGANConfig, name: str = "dagan_generator", **kwargs):
        inputs, output = _generator_graph(dagan_config)
        super().__init__(inputs, output, dagan_config, name=name, **kwargs)


def build_generator(config: DAGANConfig, name: str = "dagan_generator") -> DAGANGenerator:
    """The generator for `config` (a `DAGANGenerator`)."""
    return DAGANGenerator(config, name=name)
