"""Networks from explicit constructor arguments that carry their experiment config
(dagan_tf/models/configured.py, dagan_tf/models/arguments.py): `get_config` is exactly the constructor's
arguments; G, D and E saved to `.keras` load back as the same class with `dagan_config` (a Keras asset),
from configs whose every network key differs from the defaults (a key missing from get_config would come
back as its default and fail here); dagan-tf 0.2 files (the whole config as one argument) still load."""

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
from dagan_tf.models.arguments import NETWORK_ARGUMENTS, network_arguments
from dagan_tf.models.configured import NETWORK_KEYS, saved_dagan_config
from tests.helpers import assert_config_round_trip

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
    assert model.get_config() == {**network_arguments(kind, cfg), "name": f"my_{kind}"}
    assert "dataroot" not in model.get_config() and "lr" not in model.get_config()
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
    assert rebuilt.dagan_config is None and [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


@pytest.mark.parametrize("kind, cls", [("generator", DAGANGenerator), ("discriminator", DAGANDiscriminator),
                                       ("encoder", DAGANEncoder)])
def test_get_config_is_exactly_the_constructor_arguments(kind, cls):
    """Every argument non-default (the helper checks that), named in NETWORK_ARGUMENTS in the same order."""
    cfg = DAGANConfig(**NON_DEFAULT, remat=True)
    arguments = {**network_arguments(kind, cfg), "name": f"round_{kind}"}
    assert [a.name for a in NETWORK_ARGUMENTS[kind]] == [k for k in arguments if k != "name"]
    keep = ("input_size",) if kind == "encoder" else ()  # 128 = crop_size < 256: its non-default is 256
    if kind == "encoder":
        arguments["input_size"] = 256
    assert_config_round_trip(cls, arguments, keep_default=keep)


def test_network_keys_are_derived_from_the_arguments():
    assert NETWORK_KEYS["generator"] == ("label_nc", "contain_dontcare_label", "no_instance", "crop_size",
                                         "aspect_ratio", "num_upsampling_layers", "ngf", "norm_G", "use_vae", "z_dim")
    assert NETWORK_KEYS["discriminator"] == ("label_nc", "contain_dontcare_label", "no_instance", "ndf", "num_D",
                                             "n_layers_D", "norm_D")
    assert NETWORK_KEYS["encoder"] == ("crop_size", "ngf", "norm_E", "z_dim")


@pytest.mark.parametrize("kind, build, cls", [("generator", build_generator, DAGANGenerator),
                                              ("discriminator", build_discriminator, DAGANDiscriminator),
                                              ("encoder", build_encoder, DAGANEncoder)])
def test_a_dagan_tf_0_2_file_still_loads(tmp_path, kind, build, cls):
    """0.2 stored the whole DAGANConfig as the one constructor argument `dagan_config`."""
    cfg = DAGANConfig(**NON_DEFAULT)
    model = build(cfg)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:  # rewrite it as 0.2 wrote it: no asset, the config as argument
        members = {name: archive.read(name) for name in archive.namelist() if not name.startswith("assets/")}
    saved = json.loads(members["config.json"])
    saved["config"] = {"dagan_config": cfg.to_dict(), "name": model.name}
    members["config.json"] = json.dumps(saved).encode()
    old = tmp_path / f"old_{kind}.keras"
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert saved_dagan_config(old) == cfg.to_dict()
    loaded = keras.saving.load_model(old)
    assert type(loaded) is cls and loaded.dagan_config == cfg
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_a_plain_functional_file_has_no_saved_config(tmp_path):
    """Files written before the networks carried their config load as plain functional models."""
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(tmp_path / "plain.keras")
    assert saved_dagan_config(tmp_path / "plain.keras") is None
    with zipfile.ZipFile(tmp_path / "plain.keras") as archive:
        assert json.loads(archive.read("config.json"))["class_name"] == "Functional"


def test_a_saved_config_that_no_longer_validates_is_named():
    cfg = DAGANConfig(**NON_DEFAULT)
    config = {"dagan_config": {**cfg.to_dict(), "ngf": -3}, "name": "dagan_generator"}  # a 0.2 file's
    with pytest.raises(ValueError, match="^the config saved with DAGANGenerator 'dagan_generator': config key 'ngf': value -3"):
        DAGANGenerator.from_config(config)
