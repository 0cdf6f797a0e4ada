"""The generator: sizes for every num_upsampling_layers and aspect ratio, VAE input, save/load."""

import keras
import numpy as np
import pytest

import dagan_tf  # noqa: F401  (registers layers for load_model)
from dagan_tf.config import DAGANConfig
from dagan_tf.models import build_generator


def _tiny(**kw):
    base = dict(label_nc=4, ngf=8, crop_size=64, load_size=64, z_dim=8)
    base.update(kw)
    return DAGANConfig(**base)


@pytest.mark.parametrize("mode,aspect,hw", [
    ("normal", 1.0, (64, 64)),
    ("more", 2.0, (64, 128)),
    ("most", 1.0, (128, 128)),
    ("normal", 1.5, (64, 96)),
])
def test_sizes(mode, aspect, hw):
    crop = hw[1]
    cfg = _tiny(num_upsampling_layers=mode, aspect_ratio=aspect, crop_size=crop, load_size=crop)
    assert cfg.image_hw == hw
    G = build_generator(cfg)
    seg = np.random.rand(2, *hw, cfg.semantic_nc).astype("float32")
    y = np.asarray(G(seg, training=True))
    assert y.shape == (2, *hw, 3) and y.dtype == np.float32
    assert np.abs(y).max() <= 1.0 and np.abs(y).max() > 0
    if mode == "most":
        assert G.get_layer("conv_64").filters == 4 and G.get_layer("conv_img").kernel.shape == (3, 3, 4, 3)


def test_vae_generator_uses_z():
    cfg = _tiny(use_vae=True)
    G = build_generator(cfg)
    seg = np.random.rand(1, 64, 64, cfg.semantic_nc).astype("float32")
    z1, z2 = np.random.randn(2, 1, 8).astype("float32")
    a, b = np.asarray(G([seg, z1])), np.asarray(G([seg, z2]))
    assert a.shape == (1, 64, 64, 3) and np.abs(a - b).max() > 1e-6
    # fc output is viewed NCHW as in the reference: element (c, h, w) comes from unit c*sh*sw + h*sw + w
    fc = G.get_layer("fc")
    assert fc.kernel.shape == (8, 16 * 8 * 2 * 2)
    probe = keras.Model(G.input, G.get_layer("fc_to_nhwc").output)
    lat = np.asarray(probe([seg, z1]))
    flat = z1 @ fc.kernel.numpy() + fc.bias.numpy()
    np.testing.assert_allclose(lat[0, 1, 0, 5], flat[0, 5 * 4 + 1 * 2 + 0], atol=1e-6)


def test_init_is_xavier_normal_gain_002():
    G = build_generator(_tiny(ngf=16))
    k = G.get_layer("head_0").conv_0.kernel.numpy()  # (3, 3, 256, 256)
    expected = 0.02 * np.sqrt(2.0 / (9 * 256 + 9 * 256))
    assert abs(k.std() / expected - 1) < 0.02
    np.testing.assert_array_equal(G.get_layer("fc").bias.numpy(), 0)


def test_save_load_roundtrip(tmp_path):
    cfg = _tiny(use_vae=True)
    G = build_generator(cfg)
    seg = np.random.rand(2, 64, 64, cfg.semantic_nc).astype("float32")
    z = np.random.randn(2, 8).astype("float32")
    G([seg, z], training=True)  # move BN statistics and SN vectors off their initial values
    G.save(tmp_path / "g.keras")
    G2 = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(np.asarray(G([seg, z])), np.asarray(G2([seg, z])))
