"""DAGAN building blocks (Keras 3 layers, `keras.ops` only). Importing registers them all."""

from dagan_tf.layers.attention import ChannelAttention, SpatialAttention
from dagan_tf.layers.conv_norm import ConvNorm, parse_norm_string
from dagan_tf.layers.initializers import xavier_normal
from dagan_tf.layers.norms import BatchNorm, InstanceNorm, make_norm
from dagan_tf.layers.pooling import AvgPoolExcludePad, avg_pool_exclude_pad
from dagan_tf.layers.resize import NearestResize, legacy_nearest_indices, legacy_nearest_resize
from dagan_tf.layers.spade import SPADE, parse_spade_config
from dagan_tf.layers.spade_resblock import SPADEResnetBlock
from dagan_tf.layers.spectral_conv import SpectralConv2D
from dagan_tf.layers.stride_one_conv import StrideOneConv2D, conv2d_stride_one

__all__ = [
    "AvgPoolExcludePad", "BatchNorm", "ChannelAttention", "ConvNorm", "InstanceNorm", "NearestResize",
    "SPADE", "SPADEResnetBlock", "SpatialAttention", "SpectralConv2D", "StrideOneConv2D", "avg_pool_exclude_pad",
    "legacy_nearest_indices", "legacy_nearest_resize", "make_norm", "parse_norm_string",
    "conv2d_stride_one", "parse_spade_config", "xavier_normal",
]
