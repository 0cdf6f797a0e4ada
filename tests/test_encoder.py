"""The VAE encoder: (mu, logvar), the crop < 256 generalisation, NCHW flatten, save/load."""

import keras
import numpy as np
import pytest

import dagan_tf  # noqa: F401
from dagan_tf.config import DAGANConfig
from dagan_tf.models import build_encoder, encoder_input_size


@pytest.mark.parametrize("crop,layers", [(64, 5), (256, 6)])
def test_shapes_and_depth(crop, layers):
    cfg = DAGANConfig(label_nc=3, ngf=4, crop_size=crop, load_size=crop, use_vae=True, z_dim=16)
    E = build_encoder(cfg)
    assert encoder_input_size(cfg) == (256 if crop >= 256 else 128)
    names = [layer.name for layer in E.layers if layer.name.startswith("layer")]
    assert names == [f"layer{i}" for i in range(1, layers + 1)]
    mu, logvar = E(np.random.rand(2, crop, crop, 3).astype("float32") * 2 - 1)
    assert mu.shape == (2, 16) and logvar.shape == (2, 16)
    assert E.get_layer("fc_mu").kernel.shape == (4 * 8 * 4 * 4, 16)  # 8ngf * 4 * 4


def test_flatten_is_nchw():
    cfg = DAGANConfig(label_nc=3, ngf=2, crop_size=64, load_size=64, use_vae=True, z_dim=4)
    E = build_encoder(cfg)
    img = np.random.rand(1, 64, 64, 3).astype("float32")
    grid = np.asarray(keras.Model(E.input, E.get_layer("lrelu_5").output)(img))  # (1, 4, 4, 16) NHWC
    flat = np.asarray(keras.Model(E.input, E.get_layer("flatten").output)(img))
    np.testing.assert_array_equal(flat[0], grid[0].transpose(2, 0, 1).ravel())


def test_save_load_roundtrip(tmp_path):
    cfg = DAGANConfig(label_nc=3, ngf=4, crop_size=64, load_size=64, use_vae=True, z_dim=8)
    E = build_encoder(cfg)
    img = np.random.rand(2, 48, 64, 3).astype("float32")
    E(img, training=True)
    E.save(tmp_path / "e.keras")
    E2 = keras.saving.load_model(tmp_path / "e.keras")
    for a, b in zip(E(img), E2(img)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
