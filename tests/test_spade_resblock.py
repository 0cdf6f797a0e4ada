"""SPADEResnetBlock: structure of the reference and its formula."""

import numpy as np
import pytest

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


def _block_gradients(block, x, seg):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = block([x, seg], training=True)
        weights = tf.reshape(tf.sin(tf.cast(tf.range(tf.size(y)), tf.float32)), y.shape)
        loss = tf.reduce_sum(y * weights)  # every output element matters, with its own weight
    grads = tape.gradient(loss, [x] + block.trainable_variables)
    state = [np.asarray(v) for v in block.non_trainable_variables]
    return np.asarray(y), [np.asarray(g) for g in grads], state


@pytest.mark.parametrize("fin, fout, norm_G", [(6, 4, "spectralspadesyncbatch3x3"), (5, 5, "spectralspadebatch3x3"),
                                               (6, 4, "spectralspadeinstance3x3")])
def test_remat_gives_identical_outputs_gradients_and_state(fin, fout, norm_G):
    """remat=True recomputes the block in the backward pass: same output, gradients (<= 1e-5) and
    state updates (power iteration, running statistics) as remat=False, each applied once."""
    x = np.random.randn(2, 8, 8, fin).astype("float32")
    seg = np.random.rand(2, 16, 16, 3).astype("float32")
    plain = SPADEResnetBlock(fout, norm_G=norm_G)
    remat = SPADEResnetBlock(fout, norm_G=norm_G, remat=True)
    plain([x, seg])
    remat([x, seg])
    remat.set_weights(plain.get_weights())
    y0, g0, s0 = _block_gradients(plain, x, seg)
    y1, g1, s1 = _block_gradients(remat, x, seg)
    np.testing.assert_allclose(y1, y0, atol=1e-6)
    assert len(g1) == len(g0) == 1 + len(plain.trainable_variables)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert max(np.abs(b).max() for b in g0) > 1e-3  # gradients worth comparing
    for a, b in zip(s1, s0):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert SPADEResnetBlock.from_config(remat.get_config()).remat is True


def test_remat_generator_gradients_match_on_a_tiny_config():
    import tensorflow as tf

    from dagan_tf.config import DAGANConfig
    from dagan_tf.models import build_generator

    cfg = DAGANConfig(label_nc=4, no_instance=True, contain_dontcare_label=False, crop_size=32, load_size=32,
                      ngf=8, preprocess_mode="fixed")
    plain, remat = build_generator(cfg), build_generator(cfg.replace(remat=True))
    remat.set_weights(plain.get_weights())
    seg = tf.one_hot(np.random.randint(0, cfg.semantic_nc, (2, 32, 32)), cfg.semantic_nc)
    grads = []
    for G in (plain, remat):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(G(seg, training=True) - 0.3))
        grads.append(tape.gradient(loss, G.trainable_variables))
    for a, b in zip(*grads):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5, rtol=0)
    np.testing.assert_allclose(plain(seg).numpy(), remat(seg).numpy(), atol=1e-6)  # same state after
