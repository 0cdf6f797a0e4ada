"""Parameter-free norms with the reference's numerics."""

import numpy as np
import pytest

from dagan_tf.layers import BatchNorm, InstanceNorm, make_norm
from tests.conftest import assert_config_round_trip


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
