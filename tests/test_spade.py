"""SPADE against its formula, and the norm-string parser."""

import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.layers import SPADE, parse_spade_config
from dagan_tf.layers.resize import legacy_nearest_resize
from tests.helpers import assert_config_round_trip


def test_parse():
    assert parse_spade_config("spadesyncbatch3x3") == ("syncbatch", 3)
    assert parse_spade_config("spectralspadeinstance5x5") == ("instance", 5)
    with pytest.raises(ValueError, match="group"):
        parse_spade_config("spadegroup3x3")
    with pytest.raises(ValueError, match="SPADE norm string"):
        parse_spade_config("instance")


@pytest.mark.parametrize("text", ["spadeinstance3x3", "spadebatch3x3", "spadesyncbatch5x5"])
def test_formula(text):
    x = np.random.randn(2, 4, 6, 5).astype("float32")
    seg = np.random.rand(2, 16, 24, 3).astype("float32")
    spade = SPADE(text, hidden=7)
    y = spade([x, seg], training=True).numpy()
    k = spade.kernel_size
    seg_r = np.asarray(legacy_nearest_resize(seg, (4, 6)))
    if "instance" in text:
        mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    else:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    normalized = (x - mean) / np.sqrt(var + 1e-5)

    def conv(t, layer):
        return tf.nn.conv2d(t, layer.kernel, 1, "SAME").numpy() + layer.bias.numpy()

    assert spade.mlp_shared.kernel.shape == (k, k, 3, 7)
    actv = np.maximum(conv(seg_r, spade.mlp_shared), 0)
    expected = normalized * (1 + conv(actv, spade.mlp_gamma)) + conv(actv, spade.mlp_beta)
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_config_roundtrip():
    s = SPADE("spadeinstance3x3", hidden=32)
    assert SPADE.from_config(s.get_config()).get_config() == s.get_config()


def test_config_round_trip_with_every_argument_set():
    x = np.random.randn(1, 4, 6, 5).astype("float32")
    seg = np.random.rand(1, 8, 12, 3).astype("float32")
    assert_config_round_trip(SPADE, dict(config_text="spadeinstance5x5", hidden=7, init_gain=0.5), [x, seg])
