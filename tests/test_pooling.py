"""Between-scale average pool against torch's avg_pool2d(3, 2, padding=1, count_include_pad=False)."""

import numpy as np
import pytest

from dagan_tf.layers import AvgPoolExcludePad, avg_pool_exclude_pad


def _np_avg_pool(x):
    n, h, w, c = x.shape
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    out = np.zeros((n, oh, ow, c), x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * 2 - 1, j * 2 - 1
            rows = [r for r in range(r0, r0 + 3) if 0 <= r < h]
            cols = [q for q in range(c0, c0 + 3) if 0 <= q < w]
            out[:, i, j] = x[:, rows][:, :, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("hw", [(8, 8), (7, 9), (64, 64), (5, 2)])
def test_matches_reference(hw):
    x = np.random.rand(2, *hw, 3).astype("float32")
    y = np.asarray(avg_pool_exclude_pad(x))
    ref = _np_avg_pool(x)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_layer_shape():
    layer = AvgPoolExcludePad()
    assert layer.compute_output_shape((1, 7, 8, 3)) == (1, 4, 4, 3)
    assert layer(np.zeros((1, 7, 8, 3), "float32")).shape == (1, 4, 4, 3)
