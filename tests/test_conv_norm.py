"""ConvNorm (dagan_tf/layers/conv_norm.py): the reference's `get_nonspade_norm_layer` around a conv."""

import numpy as np
import pytest

from dagan_tf.layers import BatchNorm, ConvNorm, InstanceNorm, parse_norm_string
from tests.helpers import assert_config_round_trip


def test_parse_norm_string():
    assert parse_norm_string("spectralinstance") == (True, "instance")
    assert parse_norm_string("syncbatch") == (False, "syncbatch")
    assert parse_norm_string("spectralnone") == (True, "none")
    with pytest.raises(ValueError, match=r"ConvNorm norm_string: value 'spectralgroup' is not allowed"):
        parse_norm_string("spectralgroup")


@pytest.mark.parametrize("norm_string, norm_class, has_bias", [
    ("spectralinstance", InstanceNorm, False), ("batch", BatchNorm, False), ("none", type(None), True)])
def test_norm_and_bias_follow_the_string(norm_string, norm_class, has_bias):
    layer = ConvNorm(3, 4, 2, 2, norm_string=norm_string)
    y = layer(np.random.randn(1, 8, 8, 2).astype("float32"))
    assert y.shape == (1, 5, 5, 3)  # torch: (8 + 2 * 2 - 4) // 2 + 1
    assert isinstance(layer.norm, norm_class) and layer.conv.use_bias == has_bias
    assert layer.conv.spectral_norm == norm_string.startswith("spectral")


def test_config_round_trip_with_every_argument_set():
    x = np.random.randn(1, 8, 8, 2).astype("float32")
    assert_config_round_trip(ConvNorm, dict(filters=3, kernel_size=3, strides=2, padding=1, norm_string="batch",
                                            init_gain=0.5), x)
