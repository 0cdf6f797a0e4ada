"""SAM and CAM against NumPy re-statements of the reference modules."""

import numpy as np

from dagan_tf.layers import ChannelAttention, SpatialAttention
from tests.helpers import assert_config_round_trip


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_conv_same(x, k):
    """x (h, w, cin), k (kh, kw, cin, cout), stride 1, zero padding kh // 2."""
    kh, kw, _, cout = k.shape
    p = kh // 2
    xp = np.pad(x, ((p, p), (p, p), (0, 0)))
    h, w = x.shape[:2]
    out = np.zeros((h, w, cout))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(xp[i:i + kh, j:j + kw], k, axes=3)
    return out


def test_spatial_attention():
    x = np.random.randn(2, 6, 5, 4).astype("float32")
    sam = SpatialAttention()
    s = sam(x).numpy()
    assert s.shape == (2, 6, 5, 1)
    k = sam.conv.kernel.numpy()
    assert k.shape == (3, 3, 2, 1) and sam.conv.bias is None
    for n in range(2):
        pooled = np.stack([x[n].mean(-1), x[n].max(-1)], -1)  # [mean, max] order, as the reference
        np.testing.assert_allclose(s[n], _sigmoid(_np_conv_same(pooled, k)), atol=1e-5)


def test_channel_attention():
    x_tmp = np.random.randn(2, 4, 4, 3).astype("float32")
    x = np.random.randn(2, 4, 4, 3).astype("float32")
    cab = ChannelAttention()
    y = cab([x_tmp, x]).numpy()
    k1, b1 = cab.conv1.kernel.numpy()[0, 0], cab.conv1.bias.numpy()
    k2, b2 = cab.conv2.kernel.numpy()[0, 0], cab.conv2.bias.numpy()
    assert k1.shape == (6, 3) and k2.shape == (3, 3)
    pooled = np.concatenate([x_tmp, x], -1).mean(axis=(1, 2))  # (2, 6): concat[x_tmp, x]
    a = _sigmoid(np.maximum(pooled @ k1 + b1, 0) @ k2 + b2)[:, None, None, :]
    np.testing.assert_allclose(y, a * x + x_tmp, atol=1e-5)


def test_configs():
    assert SpatialAttention.from_config(SpatialAttention(kernel_size=7).get_config()).kernel_size == 7
    assert ChannelAttention.from_config(ChannelAttention(init_gain=0.5).get_config()).init_gain == 0.5


def test_config_round_trips_with_every_argument_set():
    x = np.random.randn(1, 5, 6, 4).astype("float32")
    assert_config_round_trip(SpatialAttention, dict(kernel_size=5, init_gain=0.5), x)
    assert_config_round_trip(ChannelAttention, dict(init_gain=0.5), [x, 2 * x])  # called on [x_tmp, x]
