"""dagan_tf.export.keras_file: `dagan-tf export --format keras [--quantize fp16]`, the distribution file
(the shipped demo generator is one). Tolerance: float16 weights move the [-1, 1] output by < 1e-2."""

import os
import zipfile

import h5py
import keras
import numpy as np
import pytest

from dagan_tf import cli
from dagan_tf.config import save_config
from dagan_tf.models import Synthesizer
from tests.helpers import EXPORT_CONFIG, calibrated_generator, example_inputs, tiny_config


@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG)


@pytest.fixture(scope="module")
def checkpoint(config, tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "G.keras"
    calibrated_generator(config, seed=2).save(path)
    return path


def _stored_dtypes(path) -> set:
    with zipfile.ZipFile(path) as archive, h5py.File(archive.open("model.weights.h5"), "r") as weights:
        found = set()
        weights.visititems(lambda name, item: found.add(str(item.dtype)) if isinstance(item, h5py.Dataset) else None)
    return found


def test_fp16_file_is_half_the_size_and_computes_in_float32(config, checkpoint, tmp_path):
    out = tmp_path / "G_fp16.keras"
    argv = ["export", "--checkpoint", str(checkpoint), "--format", "keras", "--quantize", "fp16",
            "--set", "name=shipped", "dataroot=", "--out", str(out)]
    assert cli.main(argv) == 0
    assert _stored_dtypes(checkpoint) == {"float32"} and _stored_dtypes(out) == {"float16"}
    assert os.path.getsize(out) < 0.55 * os.path.getsize(checkpoint)
    original, packed = Synthesizer.from_preset(checkpoint), Synthesizer.from_preset(out)
    assert {v.dtype for v in packed.generator.weights} == {"float32"}
    assert packed.generator.dagan_config == config.replace(name="shipped", dataroot="")  # data keys from --set
    inputs = example_inputs(config, 2, seed=1)
    want, got = np.asarray(original.float_images(inputs)), np.asarray(packed.float_images(inputs))
    assert np.abs(got - want).max() < 1e-2
    assert 10 * np.log10(4.0 / np.mean((got - want) ** 2)) > 60  # PSNR, peak 2 (the [-1, 1] range)


def test_float32_file_is_the_same_network(config, checkpoint, tmp_path):
    out = tmp_path / "G.keras"
    save_config(config, tmp_path / "cfg.yaml")
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--format", "keras", "--out", str(out)]) == 0
    a, b = keras.saving.load_model(checkpoint), keras.saving.load_model(out)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_refusals_name_the_option(checkpoint, tmp_path, capsys):
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--format", "keras", "--quantize", "int8",
                     "--out", str(tmp_path / "x.keras")]) == 2
    assert "quantize='int8' applies to format 'tflite' only (got format 'keras')" in capsys.readouterr().err
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--format", "keras", "--out",
                     str(tmp_path / "x.h5")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--out {tmp_path / 'x.h5'} must end with .keras")
