"""The DAGAN generator: SPADE generator + DAGAN head (CAM + SAM), as docs/reference.md's `SPADEGenerator`."""

import keras

from dagan_tf.config import NUM_UPSAMPLING, DAGANConfig
from dagan_tf.layers import (
    ChannelAttention,
    NearestResize,
    SPADEResnetBlock,
    SpatialAttention,
    xavier_normal,
)
from dagan_tf.models.arguments import network_arguments
from dagan_tf.models.configured import DAGANNetwork, built_from


def _conv3x3(filters: int, name: str, gain: float, use_bias: bool = True):
    return keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=name,
                               kernel_initializer=xavier_normal(gain), bias_initializer="zeros")


def _latent(seg, z, latent_hw, ngf: int, gain: float):
    """The first grid `(batch, sh, sw, 16 ngf)`: fc(z) with `use_vae`, else a conv of the downsized map."""
    sh, sw = latent_hw
    if z is not None:
        x = keras.layers.Dense(16 * ngf * sh * sw, name="fc", kernel_initializer=xavier_normal(gain))(z)
        # the reference views fc's output as NCHW (16nf, sh, sw): reshape so, then go to NHWC
        x = keras.layers.Reshape((16 * ngf, sh, sw), name="fc_view_nchw")(x)
        return keras.layers.Permute((2, 3, 1), name="fc_to_nhwc")(x)
    x = NearestResize((sh, sw), name="seg_to_latent")(seg)
    return _conv3x3(16 * ngf, "fc", gain)(x)


def _generator_graph(semantic_nc: int, latent_hw, ngf: int, num_upsampling_layers: str, norm_G: str,
                     use_vae: bool, z_dim: int, init_gain: float, remat: bool):
    """(inputs, output) of the generator's functional graph (see `DAGANGenerator`)."""
    scale = 2 ** NUM_UPSAMPLING[num_upsampling_layers]
    height, width = latent_hw[0] * scale, latent_hw[1] * scale
    nf, gain = ngf, init_gain
    most = num_upsampling_layers == "most"
    final_nc = nf // 2 if most else nf

    seg = keras.Input((height, width, semantic_nc), name="semantic_map")
    z = keras.Input((z_dim,), name="z") if use_vae else None
    x = _latent(seg, z, latent_hw, nf, gain)

    def block(fout, block_name):
        return SPADEResnetBlock(fout, norm_G=norm_G, init_gain=gain, remat=remat, name=block_name)

    def up(tensor, n=[0]):
        n[0] += 1
        return keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_x2_{n[0]}")(tensor)

    x = up(block(16 * nf, "head_0")([x, seg]))
    x = block(16 * nf, "G_middle_0")([x, seg])
    if num_upsampling_layers in ("more", "most"):
        x = up(x)
    x = up(block(16 * nf, "G_middle_1")([x, seg]))
    x = up(block(8 * nf, "up_0")([x, seg]))
    x = up(block(4 * nf, "up_1")([x, seg]))
    x = up(block(2 * nf, "up_2")([x, seg]))

    # DAGAN head. conv_64 maps up_2's output (2nf) to final_nc (docs/reference.md step 3: the reference
    # hard-wires 128 -> 64, which is this rule at ngf = 64 without 'most').
    x_tmp = _conv3x3(final_nc, "conv_64", gain)(x)
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
class DAGANGenerator(DAGANNetwork):
    """The generator. Inputs: the semantic map `(batch, H, W, semantic_nc)` float32, and with `use_vae`
    also `z` `(batch, z_dim)` (call as `G([semantic_map, z])`); `(H, W)` = `latent_hw` * 2**num_up
    (num_up 5 / 6 / 7 for 'normal' / 'more' / 'most'). Output: image `(batch, H, W, 3)` in [-1, 1],
    float32. Layer names are the reference's module names, so weights map one to one (official_names.py).
    `build_generator(config)` builds it from a DAGANConfig (`models.arguments`).

    Args:
        semantic_nc: channels of the semantic map (one-hot classes, dontcare, instance edges).
        latent_hw: (sh, sw), the first grid (`DAGANConfig.latent_hw`).
        ngf: width; the blocks have 16, 16, 16, 8, 4, 2, 1 x ngf channels. Defaults to 64.
        num_upsampling_layers: 'normal', 'more' or 'most'. Defaults to 'normal'.
        norm_G: the SPADE norm string. Defaults to 'spectralspadesyncbatch3x3'.
        use_vae: take z (the style encoder's code) instead of the downsized map. Defaults to False.
        z_dim: size of z. Defaults to 256.
        init_gain: xavier-normal gain of every weight. Defaults to 0.02.
        remat: recompute the SPADE blocks in the backward pass (less memory). Defaults to False.
        name: the model's name. Defaults to "dagan_generator".
    """

    KIND = "generator"

    def __init__(self, semantic_nc: int, latent_hw, ngf: int = 64, num_upsampling_layers: str = "normal",
                 norm_G: str = "spectralspadesyncbatch3x3", use_vae: bool = False, z_dim: int = 256,
                 init_gain: float = 0.02, remat: bool = False, name: str = "dagan_generator", **kwargs):
        arguments = dict(semantic_nc=int(semantic_nc), latent_hw=[int(v) for v in latent_hw], ngf=int(ngf),
                         num_upsampling_layers=num_upsampling_layers, norm_G=norm_G, use_vae=bool(use_vae),
                         z_dim=int(z_dim), init_gain=float(init_gain), remat=bool(remat))
        inputs, output = _generator_graph(**arguments)
        super().__init__(inputs, output, arguments, name=name, **kwargs)


def build_generator(config: DAGANConfig, name: str = "dagan_generator") -> DAGANGenerator:
    """The generator for `config` (a `DAGANGenerator` whose `dagan_config` is `config`)."""
    return built_from(DAGANGenerator(**network_arguments("generator", config), name=name), config)
