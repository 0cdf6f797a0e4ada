"""Networks that carry their config (dagan_tf/models/configured.py): G, D and E saved to `.keras`
load back as the same class with `dagan_config`, from configs whose every network key differs from
the defaults (a key missing from get_config would come back as its default and fail here)."""

import json
import zipfile

import keras
import numpy as np
import pytest

import dagan_tf  # noqa: F401  (registers the classes for load_model)
from dagan_tf.config import DAGANConfig
from dagan_tf.models import (
    DAGANDiscriminator,
    DAGANEncoder,
    DAGANGenerator,
    build_discriminator,
    build_encoder,
    build_generator,
)
from dagan_tf.models.configured import NETWORK_KEYS, saved_dagan_config

#: Every network key away from its default (and a few data keys, which must travel too).
NON_DEFAULT = dict(
    label_nc=5, contain_dontcare_label=True, no_instance=True, crop_size=128, load_size=128, aspect_ratio=2.0,
    ngf=8, ndf=4, num_D=3, n_layers_D=3, norm_G="spectralspadebatch5x5", norm_D="spectralbatch",
    norm_E="instance", num_upsampling_layers="more", use_vae=True, z_dim=16, init_variance=0.05,
    dataset_mode="ade20k", name="round_trip", seed=7,
)


def _inputs(cfg: DAGANConfig, kind: str, rng):
    h, w = cfg.image_hw
    if kind == "generator":
        seg = np.eye(cfg.semantic_nc, dtype=np.float32)[rng.integers(0, cfg.semantic_nc, (2, h, w))]
        return [seg, rng.standard_normal((2, cfg.z_dim)).astype(np.float32)]
    if kind == "discriminator":
        return rng.uniform(-1, 1, (2, h, w, cfg.semantic_nc + 3)).astype(np.float32)
    return rng.uniform(-1, 1, (2, h, w, 3)).astype(np.float32)


def test_every_network_key_differs_from_its_default():
    defaults = DAGANConfig()
    keys = {k for ks in NETWORK_KEYS.values() for k in ks}
    assert sorted(k for k in keys if getattr(defaults, k) == NON_DEFAULT[k]) == []


@pytest.mark.parametrize("kind, build, cls", [("generator", build_generator, DAGANGenerator),
                                              ("discriminator", build_discriminator, DAGANDiscriminator),
                                              ("encoder", build_encoder, DAGANEncoder)])
def test_saved_network_loads_as_itself_with_its_config(tmp_path, kind, build, cls):
    cfg = DAGANConfig(**NON_DEFAULT)
    model = build(cfg, name=f"my_{kind}")
    assert isinstance(model, cls) and model.dagan_config is cfg
    assert model.get_config() == {"dagan_config": cfg.to_dict(), "name": f"my_{kind}"}
    rng = np.random.default_rng(0)
    for w in model.weights:  # every weight counts (the init leaves biases at 0)
        w.assign(rng.normal(0, 0.05, w.shape).astype(w.dtype))
    path = tmp_path / f"{kind}.keras"
    model.save(path)

    assert saved_dagan_config(path) == cfg.to_dict()  # read without building the model
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls and loaded.name == f"my_{kind}"
    assert loaded.dagan_config == cfg
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    x = _inputs(cfg, kind, rng)
    want, got = model(x, training=False), loaded(x, training=False)
    for a, b in zip(keras.tree.flatten(want), keras.tree.flatten(got)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))

    rebuilt = cls.from_config(model.get_config())
    assert rebuilt.dagan_config == cfg and [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


def test_a_plain_functional_file_has_no_saved_config(tmp_path):
    """Files written before the networks carried their config load as plain functional models."""
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(tmp_path / "plain.keras")
    assert saved_dagan_config(tmp_path / "plain.keras") is None
    with zipfile.ZipFile(tmp_path / "plain.keras") as archive:
        assert json.loads(archive.read("config.json"))["class_name"] == "Functional"


def test_a_saved_config_that_no_longer_validates_is_named():
    cfg = DAGANConfig(**NON_DEFAULT)
    config = build_generator(cfg).get_config()
    config["dagan_config"]["ngf"] = -3
    with pytest.raises(ValueError, match="^the config saved with DAGANGenerator 'dagan_generator': config key 'ngf': value -3"):
        DAGANGenerator.from_config(config)
