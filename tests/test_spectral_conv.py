"""SpectralConv2D against NumPy: sigma, one power iteration per training call, gradient through sigma."""

import keras
import numpy as np
import tensorflow as tf

from dagan_tf.layers import SpectralConv2D
from dagan_tf.layers.spectral_conv import kernel_matrix
from tests.helpers import assert_config_round_trip


def _np_normalize(x, eps=1e-12):
    return x / max(np.linalg.norm(x), eps)


def _np_weight_matrix(kernel):
    """(kh, kw, in, out) -> torch's (out, in*kh*kw)."""
    return kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[3], -1)


def test_kernel_matrix_is_torch_layout():
    k = np.random.rand(3, 3, 4, 5).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel_matrix(k)), _np_weight_matrix(k))


def test_sigma_converges_to_largest_singular_value():
    layer = SpectralConv2D(8, 3, padding=1)
    x = np.random.rand(1, 6, 6, 5).astype("float32")
    layer(x)
    for _ in range(60):
        layer(x, training=True)
    w = _np_weight_matrix(layer.kernel.numpy())
    u, v = layer.u.numpy(), layer.v.numpy()
    sigma = float(u @ w @ v)
    top = np.linalg.svd(w, compute_uv=False)[0]
    assert abs(sigma - top) / top < 1e-4


def test_one_training_call_is_one_power_iteration():
    layer = SpectralConv2D(6, 3, padding=1, use_bias=False)
    x = np.random.rand(2, 5, 5, 4).astype("float32")
    layer(x)  # build; inference: no iteration
    u0, v0 = layer.u.numpy().copy(), layer.v.numpy().copy()
    layer(x)
    np.testing.assert_array_equal(layer.u.numpy(), u0)  # inference leaves u, v alone
    w = _np_weight_matrix(layer.kernel.numpy()).astype("float64")
    y = layer(x, training=True).numpy()
    v1 = _np_normalize(w.T @ u0)
    u1 = _np_normalize(w @ v1)
    np.testing.assert_allclose(layer.v.numpy(), v1, atol=1e-6)
    np.testing.assert_allclose(layer.u.numpy(), u1, atol=1e-6)
    # the output uses W / sigma with sigma from the updated vectors
    sigma = u1 @ w @ v1
    expected = tf.nn.conv2d(x, (layer.kernel.numpy() / sigma).astype("float32"), 1, "SAME").numpy()
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_gradient_flows_through_sigma_finite_differences():
    layer = SpectralConv2D(2, 2, padding=0, use_bias=False, dtype="float64")
    x = np.random.rand(1, 3, 3, 2)
    layer(x)
    for _ in range(3):
        layer(x, training=True)  # u, v away from their random start
    r = np.random.rand(1, 2, 2, 2)

    def loss_value(kernel):
        layer.kernel.assign(kernel)
        return float(np.sum(layer(x, training=False).numpy() * r))

    k0 = layer.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) * r)
    grad = tape.gradient(loss, layer.kernel).numpy()
    numeric = np.zeros_like(k0)
    h = 1e-6
    for idx in np.ndindex(k0.shape):
        kp, km = k0.copy(), k0.copy()
        kp[idx] += h
        km[idx] -= h
        numeric[idx] = (loss_value(kp) - loss_value(km)) / (2 * h)
    layer.kernel.assign(k0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    # and the gradient is not the one of a plain conv scaled by a constant 1/sigma
    w = _np_weight_matrix(k0)
    sigma = layer.u.numpy() @ w @ layer.v.numpy()
    with tf.GradientTape() as tape:
        kernel = tf.constant(k0)
        tape.watch(kernel)
        plain = tf.reduce_sum(tf.nn.conv2d(x, kernel / sigma, 1, "VALID") * r)
    assert np.abs(tape.gradient(plain, kernel).numpy() - grad).max() > 1e-3


def test_padding_and_stride_match_torch_arithmetic():
    layer = SpectralConv2D(3, 4, strides=2, padding=2, spectral_norm=False)
    x = np.random.rand(1, 64, 33, 2).astype("float32")
    y = layer(x).numpy()
    assert y.shape == (1, (64 + 4 - 4) // 2 + 1, (33 + 4 - 4) // 2 + 1, 3)
    # torch's Conv2d(padding=2): two zero rows/columns on every side
    expected = tf.nn.conv2d(x, layer.kernel.numpy(), 2, [[0, 0], [2, 2], [2, 2], [0, 0]]).numpy()
    np.testing.assert_allclose(y, expected + layer.bias.numpy(), atol=1e-6)


def test_config_roundtrip():
    layer = SpectralConv2D(4, 3, strides=2, padding=1, use_bias=False, name="c")
    clone = SpectralConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_config_round_trip_with_every_argument_set():
    x = np.random.randn(1, 8, 8, 2).astype("float32")
    everything = dict(filters=3, kernel_size=3, strides=2, padding=1, use_bias=False, spectral_norm=False,
                      eps=1e-6, init_gain=0.5)
    assert_config_round_trip(SpectralConv2D, everything, x)
