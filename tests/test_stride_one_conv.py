"""Stride-1 convolutions whose gradients are forward convolutions (dagan_tf/layers/stride_one_conv.py).

Tolerance: gradients equal TensorFlow's own conv gradients to 2e-5 relative to their largest
magnitude (float32; the sums run in another order); forward outputs are bit-identical.
"""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dagan_tf.layers import SPADE, SpectralConv2D, StrideOneConv2D, conv2d_stride_one
from tests.helpers import assert_config_round_trip

CASES = [  # (batch, height, width, in, out, kernel, padding): both input-gradient paths, odd/even k
    (2, 9, 7, 5, 4, 3, "same"),
    (1, 130, 128, 3, 2, 3, "same"),  # >= 128x128 outputs: the input gradient as a forward conv
    (2, 6, 8, 4, 3, 1, "same"),
    (2, 11, 10, 4, 3, 4, "valid"),
    (1, 131, 131, 2, 3, 4, "valid"),
]


def _gradients(conv, x, w, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = conv(x, w)
        loss = tf.reduce_sum(y * dy)
    return (y, *tape.gradient(loss, [x, w]))


@pytest.mark.parametrize("onednn", [False, True], ids=["kernel-gradient-as-conv", "onednn-kernel-gradient"])
@pytest.mark.parametrize("n,h,wd,cin,cout,k,padding", CASES)
def test_gradients_equal_tensorflows_own(n, h, wd, cin, cout, k, padding, onednn, monkeypatch):
    """Both kernel-gradient paths (the forward convolution, oneDNN's own), whatever this machine runs."""
    import dagan_tf.layers.stride_one_conv as module

    monkeypatch.setattr(module, "onednn_is_on", lambda: onednn)
    rng = np.random.default_rng(k * h)
    x = tf.constant(rng.normal(size=(n, h, wd, cin)), tf.float32)
    w = tf.constant(rng.normal(size=(k, k, cin, cout)), tf.float32)
    out_hw = (h, wd) if padding == "same" else (h - k + 1, wd - k + 1)
    dy = tf.constant(rng.normal(size=(n, *out_hw, cout)), tf.float32)
    ours = tf.function(lambda a, b: _gradients(lambda p, q: conv2d_stride_one(p, q, padding), a, b, dy))
    theirs = tf.function(lambda a, b: _gradients(lambda p, q: ops.conv(p, q, 1, padding), a, b, dy))
    got, want = ours(x, w), theirs(x, w)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    for g, e in zip(got[1:], want[1:]):
        assert g.shape == e.shape
        scale = float(tf.reduce_max(tf.abs(e)))
        assert float(tf.reduce_max(tf.abs(g - e))) <= 2e-5 * scale


@pytest.mark.parametrize("h", [9, 130])  # both input-gradient paths
def test_a_frozen_kernel_gets_no_kernel_gradient_and_the_same_input_gradient(h):
    """kernel_gradient=False (StrideOneConv2D with a frozen kernel): the input gradient is the one
    above, and the kernel, although the tape watches it, gets no gradient (none is built)."""
    rng = np.random.default_rng(h)
    x = tf.constant(rng.normal(size=(1, h, h, 3)), tf.float32)
    w = tf.constant(rng.normal(size=(3, 3, 3, 2)), tf.float32)
    dy = tf.constant(rng.normal(size=(1, h, h, 2)), tf.float32)
    frozen = tf.function(lambda a, b: _gradients(lambda p, q: conv2d_stride_one(p, q, "same", False), a, b, dy))
    full = tf.function(lambda a, b: _gradients(lambda p, q: conv2d_stride_one(p, q, "same"), a, b, dy))
    (y, dx, dw), (y_full, dx_full, _) = frozen(x, w), full(x, w)
    assert dw is None
    np.testing.assert_array_equal(y.numpy(), y_full.numpy())
    np.testing.assert_array_equal(dx.numpy(), dx_full.numpy())
    layer = StrideOneConv2D(2, 3, padding="same")
    layer.build((None, h, h, 3))
    layer.trainable = False
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
    dw, dx = tape.gradient(out, [layer.kernel.value, x])
    assert dw is None and dx is not None


def _op_types(fn, *args) -> set:
    return {op.type for op in tf.function(fn).get_concrete_function(*args).graph.get_operations()}


def test_the_custom_gradient_is_attached_only_while_a_tape_records():
    x = tf.TensorSpec((1, 8, 8, 3), tf.float32)
    w = tf.constant(np.ones((3, 3, 3, 2), np.float32))
    plain = _op_types(lambda a: conv2d_stride_one(a, w, "same"), x)
    assert "IdentityN" not in plain and "Conv2D" in plain

    def taped(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = conv2d_stride_one(a, w, "same")
        return tape.gradient(y, a)

    types = _op_types(taped, x)
    assert "IdentityN" in types  # tf.custom_gradient's marker
    assert "Conv2DBackpropInput" not in types or "Conv2DBackpropFilter" not in types
    assert "Conv2DBackpropFilter" not in types


@pytest.mark.parametrize("onednn", [False, True])
def test_the_kernel_gradient_is_onednns_own_where_tensorflow_runs_onednn(onednn, monkeypatch):
    """Where oneDNN is on, its Conv2DBackpropFilter (faster there, bench/profile_train.py); else a
    forward convolution (faster than Eigen's kernel)."""
    import dagan_tf.layers.stride_one_conv as module

    monkeypatch.setattr(module, "onednn_is_on", lambda: onednn)
    x, w = tf.TensorSpec((1, 8, 8, 3), tf.float32), tf.TensorSpec((3, 3, 3, 2), tf.float32)

    def kernel_gradient(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            y = conv2d_stride_one(a, b, "same")
        return tape.gradient(y, b)

    types = _op_types(kernel_gradient, x, w)
    assert ("Conv2DBackpropFilter" in types) == onednn
    assert "IdentityN" in types


def test_spade_and_spectral_conv_gradients_are_unchanged():
    """The layers that use it train as with keras.ops.conv: a SPADE (StrideOneConv2D MLPs) and a
    spectral conv with kernel 4, padding 2 (the discriminator's last layers)."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 12, 10, 6)), tf.float32)
    seg = tf.constant(rng.normal(size=(2, 6, 5, 4)), tf.float32)
    spade = SPADE("spadebatch3x3", hidden=8)
    spectral = SpectralConv2D(5, 4, padding=2)
    spade.build([x.shape, seg.shape])
    spectral.build(x.shape)

    def grads():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(spectral(spade([x, seg], training=True), training=False)))
        return tape.gradient(loss, spade.trainable_variables + spectral.trainable_variables)

    import dagan_tf.layers.stride_one_conv as module

    got = tf.function(grads)()
    original = module.tape_records
    module.tape_records = lambda tensors: False  # the plain keras.ops.conv path
    try:
        want = tf.function(grads)()
    finally:
        module.tape_records = original
    assert len(got) == len(want) == 8
    for g, e in zip(got, want):
        scale = float(tf.reduce_max(tf.abs(e)))
        assert float(tf.reduce_max(tf.abs(g - e))) <= 2e-5 * scale


def test_stride_one_conv2d_round_trips_and_refuses_strides():
    assert_config_round_trip(StrideOneConv2D, {"filters": 4, "kernel_size": (3, 3)},
                             inputs=np.ones((1, 5, 5, 2), np.float32))
    layer = StrideOneConv2D(4, 3, padding="same", use_bias=False, activation="relu", name="mlp")
    rebuilt = StrideOneConv2D.from_config(layer.get_config())
    assert (rebuilt.padding, rebuilt.use_bias, rebuilt.name) == ("same", False, "mlp")
    with pytest.raises(ValueError, match="strides 1"):
        StrideOneConv2D(4, 3, strides=2)
