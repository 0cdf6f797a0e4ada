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


def _conv3x3(filters: int, name: str, gain: float, use_bias: bool = True):
    return keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=name,
                               kernel_initializer=xavier_normal(gain), bias_initializer="zeros")


def build_generator(config: DAGANConfig, name: str = "dagan_generator") -> keras.Model:
    """The generator, built.

    Inputs: the semantic map `(batch, H, W, semantic_nc)` float32 with `(H, W) = config.image_hw`,
    and with `use_vae` also `z` `(batch, z_dim)` (call as `G([semantic_map, z])`).
    Output: image `(batch, H, W, 3)` in [-1, 1], float32.
    Layer names are the reference's module names, so weights map one to one (official_names.py).
    """
    height, width = config.image_hw
    sh, sw = config.latent_hw
    nf, gain = config.ngf, config.init_variance
    most = config.num_upsampling_layers == "most"

    seg = keras.Input((height, width, config.semantic_nc), name="semantic_map")
    inputs = [seg]
    if config.use_vae:
        z = keras.Input((config.z_dim,), name="z")
        inputs.append(z)
        x = keras.layers.Dense(16 * nf * sh * sw, name="fc", kernel_initializer=xavier_normal(gain))(z)
        # the reference views fc's output as NCHW (16nf, sh, sw): reshape so, then go to NHWC
        x = keras.layers.Reshape((16 * nf, sh, sw), name="fc_view_nchw")(x)
        x = keras.layers.Permute((2, 3, 1), name="fc_to_nhwc")(x)
    else:
        x = NearestResize((sh, sw), name="seg_to_latent")(seg)
        x = _conv3x3(16 * nf, "fc", gain)(x)

    def block(fout, block_name):
        return SPADEResnetBlock(fout, norm_G=config.norm_G, init_gain=gain, remat=config.remat, name=block_name)

    def up(tensor, n=[0]):
        n[0] += 1
        return keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_x2_{n[0]}")(tensor)

    x = block(16 * nf, "head_0")([x, seg])
    x = up(x)
    x = block(16 * nf, "G_middle_0")([x, seg])
    if config.num_upsampling_layers in ("more", "most"):
        x = up(x)
    x = block(16 * nf, "G_middle_1")([x, seg])
    x = up(x)
    x = block(8 * nf, "up_0")([x, seg])
    x = up(x)
    x = block(4 * nf, "up_1")([x, seg])
    x = up(x)
    x = block(2 * nf, "up_2")([x, seg])
    x = up(x)

    # DAGAN head. conv_64 maps up_2's output (2nf) to final_nc (docs/reference.md step 3: the reference
    # hard-wires 128 -> 64, which is this rule at ngf = 64 without 'most').
    final_nc = config.final_nc
    x_tmp = _conv3x3(final_nc, "conv_64", gain)(x)
    x = block(nf, "up_3")([x, seg])
    if most:
        x = up(x)
        x = block(nf // 2, "up_4")([x, seg])
        x_tmp = up(x_tmp)  # bring x_tmp to x's size for CAM (this project's generalisation)

    cam = ChannelAttention(init_gain=gain, name="cab")([x_tmp, x])
    sam = keras.layers.Multiply(name="sam")([x, SpatialAttention(init_gain=gain, name="spatialAtt")(x)])
    x = keras.layers.Add(name="cam_plus_sam")([cam, sam])
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="lrelu_out")(x)
    x = _conv3x3(3, "conv_img", gain)(x)
    # float32 output even under a mixed-precision policy
    out = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs if config.use_vae else seg, out, name=name)
