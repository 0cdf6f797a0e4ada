"""SPADEResnetBlock: structure of the reference and its formula."""

import numpy as np

from dagan_tf.layers import SPADEResnetBlock, SpectralConv2D


def _lrelu(t):
    return np.where(t > 0, t, 0.2 * t)


def test_learned_shortcut_and_formula():
    x = np.random.randn(2, 4, 4, 6).astype("float32")
    seg = np.random.rand(2, 8, 8, 3).astype("float32")
    block = SPADEResnetBlock(4, norm_G="spectralspadeinstance3x3")
    y = block([x, seg], training=False).numpy()
    assert y.shape == (2, 4, 4, 4)
    assert block.learned_shortcut and block.conv_s.use_bias is False
    assert block.conv_0.filters == 4 and block.conv_0.spectral_norm  # fmiddle = min(6, 4)
    t = lambda v: np.asarray(v)  # noqa: E731
    x_s = t(block.conv_s(block.norm_s([x, seg])))
    dx = t(block.conv_0(_lrelu(t(block.norm_0([x, seg])))))
    dx = t(block.conv_1(_lrelu(t(block.norm_1([dx, seg])))))
    np.testing.assert_allclose(y, x_s + dx, atol=1e-5)


def test_identity_shortcut_without_spectral():
    x = np.random.randn(1, 4, 4, 5).astype("float32")
    seg = np.random.rand(1, 4, 4, 2).astype("float32")
    block = SPADEResnetBlock(5, norm_G="spadebatch3x3")
    block([x, seg])
    assert not block.learned_shortcut and not hasattr(block, "conv_s")
    assert isinstance(block.conv_0, SpectralConv2D) and not block.conv_0.spectral_norm
    assert SPADEResnetBlock.from_config(block.get_config()).norm_G == "spadebatch3x3"
