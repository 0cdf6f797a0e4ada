"""The multi-scale discriminator: the reference's output sizes (symmetric padding 2), features, save/load."""

import keras
import numpy as np
import pytest

import dagan_tf  # noqa: F401
from dagan_tf.config import DAGANConfig
from dagan_tf.models import NLayerDiscriminator, build_discriminator
from tests.helpers import assert_config_round_trip


def _torch_conv(n, k=4, s=2, p=2):
    return (n + 2 * p - k) // s + 1


def _reference_sizes(h, w, num_D=2, n_layers=4):
    """Spatial size of every block's output, per scale, by torch's conv / avg_pool arithmetic."""
    out = []
    for _ in range(num_D):
        sizes, hh, ww = [], h, w
        for i in range(n_layers + 1):
            stride = 2 if i < n_layers - 1 else 1
            hh, ww = _torch_conv(hh, s=stride), _torch_conv(ww, s=stride)
            sizes.append((hh, ww))
        out.append(sizes)
        h, w = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    return out


@pytest.mark.parametrize("hw,ndf", [((64, 64), 8), ((256, 512), 4)])
def test_output_sizes(hw, ndf):
    cfg = DAGANConfig(label_nc=3, ndf=ndf, no_instance=True)
    D = build_discriminator(cfg)
    x = np.random.rand(1, *hw, cfg.semantic_nc + 3).astype("float32")
    scales = D(x, training=True)
    ref = _reference_sizes(*hw)
    got = [[tuple(f.shape[1:3]) for f in scale] for scale in scales]
    assert got == ref
    channels = [[int(f.shape[-1]) for f in scale] for scale in scales]
    assert channels == [[ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1]] * 2
    if hw == (64, 64):
        assert ref[0] == [(33, 33), (17, 17), (9, 9), (10, 10), (11, 11)]


def test_save_load_roundtrip(tmp_path):
    cfg = DAGANConfig(label_nc=3, ndf=8, n_layers_D=3, num_D=3)
    D = build_discriminator(cfg)
    x = np.random.rand(2, 32, 32, cfg.semantic_nc + 3).astype("float32")
    D(x, training=True)
    D.save(tmp_path / "d.keras")
    D2 = keras.saving.load_model(tmp_path / "d.keras")
    for a, b in zip(keras.tree.flatten(D(x)), keras.tree.flatten(D2(x))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(D(x)) == 3 and len(D(x)[0]) == 4


def test_scale_config_round_trip_with_every_argument_set():
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 4)).astype("float32")
    scale, _ = assert_config_round_trip(NLayerDiscriminator, dict(ndf=4, n_layers=3, norm_D="spectralbatch",
                                                                  init_gain=0.5), x)
    assert [tuple(f.shape) for f in scale(x)] == [(1, 17, 17, 4), (1, 9, 9, 8), (1, 10, 10, 16), (1, 11, 11, 1)]
