"""Parameter-free norms with the reference's numerics."""

import numpy as np
import pytest

from dagan_tf.layers import BatchNorm, InstanceNorm, make_norm
from tests.helpers import assert_config_round_trip


def test_batch_norm_training_uses_biased_batch_stats_and_updates_unbiased():
    x = np.random.randn(3, 4, 5, 6).astype("float32") * 2 + 1
    bn = BatchNorm()
    y = bn(x, training=True).numpy()
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))  # biased
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    n = 3 * 4 * 5
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * 0 + 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 * 1 + 0.1 * var * n / (n - 1), atol=1e-5)


def test_batch_norm_inference_uses_running_stats():
    x = np.random.randn(2, 3, 3, 4).astype("float32")
    bn = BatchNorm()
    bn(x)
    bn.moving_mean.assign(np.arange(4, dtype="float32"))
    bn.moving_variance.assign(np.full(4, 4.0, "float32"))
    y = bn(x, training=False).numpy()
    np.testing.assert_allclose(y, (x - np.arange(4)) / np.sqrt(4 + 1e-5), atol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.arange(4))  # untouched


def test_affine_batch_norm_init():
    bn = BatchNorm(affine=True)
    bn.build((None, 4, 4, 256))
    g = bn.gamma.numpy()
    assert abs(g.mean() - 1.0) < 0.01 and 0.01 < g.std() < 0.03
    np.testing.assert_array_equal(bn.beta.numpy(), 0)


def test_instance_norm():
    x = np.random.randn(2, 5, 7, 3).astype("float32") * 3 - 2
    norm = InstanceNorm()
    y = norm(x).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    # the reference's InstanceNorm2d(affine=False) has neither parameters nor running statistics:
    # once built (called), ours holds no variable at all
    assert norm.built and norm.weights == []


def test_make_norm():
    assert isinstance(make_norm("syncbatch", "n"), BatchNorm) and make_norm("syncbatch", "n").synchronized
    assert isinstance(make_norm("instance", "n"), InstanceNorm)
    assert make_norm("none", "n") is None
    with pytest.raises(ValueError, match="group"):
        make_norm("group", "n")
    cfg = BatchNorm(synchronized=True, affine=True).get_config()
    assert BatchNorm.from_config(cfg).synchronized and BatchNorm.from_config(cfg).affine


def test_config_round_trips_with_every_argument_set():
    x = np.random.randn(2, 3, 3, 4).astype("float32")
    batch_norm, _ = assert_config_round_trip(
        BatchNorm, dict(epsilon=1e-3, momentum=0.3, synchronized=True, affine=True), x)
    assert batch_norm.gamma.shape == (4,)  # affine survived the trip
    assert_config_round_trip(InstanceNorm, dict(epsilon=1e-3), x)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_batch_norm_gradient_keeping_only_its_output_equals_autodiffs(graph, monkeypatch):
    """Under a tape, training-mode BatchNorm's backward pass keeps only its output (norms.py):
    outputs and running statistics bit-identical to the plain ops, input gradients equal to
    autodiff through the moments to 1e-6 relative (float32, other summation order)."""
    import tensorflow as tf

    from dagan_tf.layers import norms

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 5, 6, 7)).astype("float32") * 3 + 1)
    weights = tf.constant(rng.normal(size=(2, 5, 6, 7)).astype("float32"))

    def run():
        bn = BatchNorm()
        bn.build(x.shape)

        def fn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = bn(x, training=True)
                loss = tf.reduce_sum(y * weights) + tf.reduce_sum(y * y * weights)  # dy depends on y
            return y, tape.gradient(loss, x)

        y, grad = (tf.function(fn) if graph else fn)(x)
        return y.numpy(), grad.numpy(), bn.moving_mean.numpy(), bn.moving_variance.numpy()

    calls = []
    fused = norms._batch_normalize_keeping_output
    monkeypatch.setattr(norms, "_batch_normalize_keeping_output", lambda *a: calls.append(1) or fused(*a))
    ours = run()
    assert calls, "the tape's path was not taken"
    monkeypatch.setattr(norms, "tape_records", lambda x: False)
    plain = run()
    for i in (0, 2, 3):
        np.testing.assert_array_equal(ours[i], plain[i])
    assert np.abs(ours[1] - plain[1]).max() <= 1e-6 * np.abs(plain[1]).max()
