"""dagan_tf.models.Synthesizer: the front door (label file values in, uint8 photo out), its presets, its
seeded z, and its round trip through a `.keras` file. Exact comparisons: the Synthesizer runs the same
float32 ops as the generator fed its preprocessor's map."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.config import ConfigError, save_config
from dagan_tf.models import SHIPPED_GENERATORS, Synthesizer, build_generator, generator_file, seeded_normal
from tests.helpers import EXPORT_CONFIG, calibrated_generator, example_inputs, semantic_map, tiny_config


@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG, dataset_mode="ade20k", no_instance=True)


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config)


def test_photo_is_the_generator_on_the_preprocessed_file_values(config, generator):
    inputs = example_inputs(config, 2, seed=3)
    assert (inputs["label"] == 0).any()  # ADE20K's unlabeled value: dontcare after the shift
    photo = np.asarray(Synthesizer(generator)(inputs))
    assert photo.dtype == np.uint8 and photo.shape == (2,) + config.image_hw + (3,)
    g = np.asarray(generator(semantic_map(inputs["label"], None, config), training=False))
    np.testing.assert_array_equal(photo, np.clip(np.round((g + 1) * 127.5), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(np.asarray(Synthesizer(generator).float_images(inputs)), g)


def test_saved_and_loaded_as_one_keras_file(config, generator, tmp_path):
    synthesizer = Synthesizer(generator)
    inputs = example_inputs(config, 1, seed=4)
    synthesizer.save(tmp_path / "synth.keras")
    loaded = keras.saving.load_model(tmp_path / "synth.keras")
    assert isinstance(loaded, Synthesizer) and loaded.preprocessor.label_shift == 1
    np.testing.assert_array_equal(np.asarray(loaded(inputs)), np.asarray(synthesizer(inputs)))


def test_from_preset_takes_a_file_or_a_run_folder(config, generator, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    generator.save(run / "latest_net_G.keras")
    inputs = example_inputs(config, 1, seed=5)
    want = np.asarray(Synthesizer(generator)(inputs))
    for preset in (run / "latest_net_G.keras", run, str(run)):
        np.testing.assert_array_equal(np.asarray(Synthesizer.from_preset(preset)(inputs)), want)
    with pytest.raises(FileNotFoundError, match=r"run2 does not exist .*shipped generator's name: demo"):
        Synthesizer.from_preset(tmp_path / "run2")
    with pytest.raises(FileNotFoundError, match="is a folder without latest_net_G.keras"):
        generator_file(tmp_path)


def test_a_file_without_its_config_needs_one(config, generator, tmp_path):
    plain = keras.Model(generator.inputs, generator.outputs)  # a 0.1 file: a plain functional model
    plain.save(tmp_path / "old_G.keras")
    with pytest.raises(ConfigError, match="saved without its config"):
        Synthesizer.from_preset(tmp_path / "old_G.keras")
    save_config(config, tmp_path / "cfg.yaml")
    with pytest.raises(ValueError, match="label_nc=7"):
        Synthesizer.from_preset(tmp_path / "old_G.keras", config=config.replace(label_nc=7))
    inputs = example_inputs(config, 1, seed=6)
    got = Synthesizer.from_preset(tmp_path / "old_G.keras", config=config)(inputs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(Synthesizer(generator)(inputs)))


def test_a_folder_named_like_a_shipped_generator_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("demo")
    assert generator_file("demo").endswith(os.path.join("pretrained", SHIPPED_GENERATORS["demo"]))


def test_vae_z_from_a_seed_or_given(config):
    cfg = config.replace(use_vae=True, crop_size=32, load_size=32, aspect_ratio=1.0)
    synthesizer = Synthesizer(build_generator(cfg))
    inputs = example_inputs(cfg, 2, seed=1)
    seeded = np.asarray(synthesizer(inputs))
    z = seeded_normal(inputs["seed"], cfg.z_dim)
    np.testing.assert_array_equal(np.asarray(synthesizer({**inputs, "z": z})), seeded)
    assert synthesizer.input_specs()["seed"].shape == (None,)


# ---------------------------------------------------------------------------------------------
# seeded z: MINSTD + Box-Muller, the same in every export format
# ---------------------------------------------------------------------------------------------
def _minstd_normal(seed: int, dim: int) -> np.ndarray:
    """Python-integer MINSTD + Box-Muller, the definition seeded_normal implements."""
    m, a = 2**31 - 1, 48271
    x = 1 + seed % (m - 1)
    u = []
    for _ in range(2 * dim):
        x = a * x % m
        u.append(x / 2**31)
    u = np.array(u, np.float64)
    return np.sqrt(-2 * np.log(u[0::2])) * np.cos(2 * np.pi * u[1::2])


def test_seeded_normal_is_minstd_box_muller():
    seeds = np.array([0, 1, 12345, -7, 2**31 - 1], np.int32)
    z = np.asarray(seeded_normal(tf.constant(seeds), 64))
    want = np.stack([_minstd_normal(int(s), 64) for s in seeds])
    np.testing.assert_allclose(z, want, atol=2e-4)  # float32 log / cos against float64
    assert not np.allclose(z[0], z[1])


def test_seeded_normal_is_standard_normal():
    z = np.asarray(seeded_normal(tf.range(256), 256)).ravel()  # 65,536 samples
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02, (z.mean(), z.std())
    assert abs(np.mean(np.abs(z) < 1.0) - 0.6827) < 0.01
