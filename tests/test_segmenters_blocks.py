"""Segmenter building blocks (dagan_tf.evaluation.segmenters.blocks) against torch's own ops, odd sizes."""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from dagan_tf.evaluation.segmenters.blocks import (Bottleneck, ConvBN, TorchConv2D, adaptive_average_pool,  # noqa: E402
                                                   bilinear_resize, torch_max_pool)
from tests.helpers import assert_config_round_trip  # noqa: E402
from tests.torch_segmenters import to_nchw, to_nhwc  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_torch_thread")


#: torch computes source coordinates and weights in float32 (FMA-contracted where the compiler chose):
#: against an exact float64 bilinear it is itself off by up to ~4e-6 on N(0, 1) inputs
RESIZE_ATOL = 1e-5


def _x(height=13, width=18, channels=3, seed=0):
    return np.random.default_rng(seed).standard_normal((2, height, width, channels)).astype(np.float32)


@pytest.mark.parametrize("size", [(26, 36), (7, 5), (13, 18), (40, 11)])
def test_bilinear_resize_to_size_equals_interpolate(size):
    x = _x()
    expected = to_nhwc(F.interpolate(to_nchw(x), size=size, mode="bilinear", align_corners=False))
    np.testing.assert_allclose(np.asarray(bilinear_resize(x, size)), expected, atol=RESIZE_ATOL)


@pytest.mark.parametrize("scale", [0.5, 0.75, 1.5])
def test_bilinear_resize_with_scale_factor_equals_interpolate(scale):
    x = _x(67, 93)
    expected = to_nhwc(F.interpolate(to_nchw(x), scale_factor=scale, mode="bilinear", align_corners=False))
    ours = np.asarray(bilinear_resize(x, expected.shape[1:3], scale=scale))
    np.testing.assert_allclose(ours, expected, atol=RESIZE_ATOL)
    if scale == 0.75:  # torch uses 1/scale, not in/out: the in/out grid differs measurably
        assert np.abs(np.asarray(bilinear_resize(x, expected.shape[1:3])) - expected).max() > 1e-3


@pytest.mark.parametrize("output_size", [1, 2, 3, 6])
def test_adaptive_average_pool_equals_torch(output_size):
    x = _x(10, 7)
    expected = to_nhwc(F.adaptive_avg_pool2d(to_nchw(x), output_size))
    np.testing.assert_allclose(np.asarray(adaptive_average_pool(x, output_size)), expected, atol=1e-6)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("size", [(16, 16), (17, 34), (33, 9)])
def test_max_pool_equals_torch(size, ceil_mode):
    x = _x(*size)
    expected = to_nhwc(F.max_pool2d(to_nchw(x), 3, 2, 1, ceil_mode=ceil_mode))
    np.testing.assert_array_equal(np.asarray(torch_max_pool(x, 3, 2, 1, ceil_mode)), expected)


@pytest.mark.parametrize("stride, padding, dilation", [(2, 1, 1), (2, 3, 1), (1, 4, 4)])
def test_padded_conv_equals_torch(stride, padding, dilation):
    x = _x(15, 20, 4)
    layer = TorchConv2D(5, 3, strides=stride, padding=padding, dilation_rate=dilation, use_bias=True)
    ours = np.asarray(layer(x))
    weight = torch.from_numpy(np.transpose(np.asarray(layer.kernel), (3, 2, 0, 1)).copy())
    bias = torch.from_numpy(np.asarray(layer.bias))
    expected = to_nhwc(F.conv2d(to_nchw(x), weight, bias, stride=stride, padding=padding, dilation=dilation))
    np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("layer", [
    ConvBN(8, 3, 2, padding=1, relu=False, name="conv_bn"),
    Bottleneck(4, strides=2, dilation_rate=2, stride_in_1x1=True, projection=True, name="bottleneck"),
    Bottleneck(4, strides=2, projection=True, name="bottleneck_torchvision"),
])
def test_layers_round_trip_through_config(layer):
    x = _x(12, 12, 16)
    layer(x)
    clone = layer.__class__.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(layer(x)))
    assert keras.saving.get_registered_name(layer.__class__) == f"dagan_tf>{layer.__class__.__name__}"


def test_every_block_argument_survives_the_config():
    x = _x(9, 9, 8)
    # Keras' convs refuse strides > 1 together with dilation > 1: each in its own trip
    for strides, dilation_rate, default in ((2, 1, "dilation_rate"), (1, 2, "strides")):
        assert_config_round_trip(TorchConv2D, dict(filters=3, kernel_size=3, strides=strides, padding=2,
                                                   dilation_rate=dilation_rate, use_bias=True), x,
                                 keep_default=(default,))
        assert_config_round_trip(ConvBN, dict(filters=3, kernel_size=3, strides=strides, padding=2,
                                              dilation_rate=dilation_rate, relu=False, epsilon=1e-3), x,
                                 keep_default=(default,))
    assert_config_round_trip(Bottleneck, dict(width=2, strides=2, dilation_rate=2, stride_in_1x1=True,
                                              projection=True), x)
