"""dagan_tf.export.saved_model / serving: the TF Serving SavedModel and the one serving function.

Acceptance: the SavedModel loaded with tf.saved_model.load and called through `serving_default` gives
the Keras model's uint8 image (equal on >= 99.9 % of pixels, off by at most 1 elsewhere); wrong sizes
and label values that are no class fail with a message naming the input and the bad value.

The helpers shared with the other export test files (tiny_config + EXPORT_CONFIG, calibrated_generator,
example_inputs, keras_image, pixel_agreement) live in tests/helpers.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import dagan_tf  # noqa: F401
from dagan_tf import cli
from dagan_tf.config import save_config
from dagan_tf.export import export_generator, next_version
from dagan_tf.export.serving import build_serving_function, load_synthesizer
from dagan_tf.files import is_temporary
from dagan_tf.models import Synthesizer, build_generator
from tests.helpers import EXPORT_CONFIG, calibrated_generator, example_inputs, generator_input, keras_image, \
    pixel_agreement, tiny_config

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG)


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config)


@pytest.fixture(scope="module")
def exported(config, generator, tmp_path_factory):
    """`dagan-tf export` of the generator's .keras file into a folder that already holds version 1."""
    work = tmp_path_factory.mktemp("export")
    checkpoint = work / "G.keras"
    generator.save(checkpoint)
    cfg_path = work / "tiny.yaml"
    save_config(config, cfg_path)
    (work / "saved_models" / "tiny" / "1").mkdir(parents=True)  # an older version is there
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert cli.main(["export", "--config", str(cfg_path), "--checkpoint", str(checkpoint)]) == 0
    return os.path.join(str(work), "saved_models", "tiny", "2")


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported)


# ---------------------------------------------------------------------------------------------
# the serving contract
# ---------------------------------------------------------------------------------------------
def test_generator_is_not_saturated(generator, config):
    """The comparisons below mean something only if the image varies (std > 30 of 255, few clipped
    pixels) and depends on the label map (another map moves pixels by > 10 on average)."""
    img = keras_image(generator, config, example_inputs(config, 2))
    assert img.std() > 30.0, img.std()
    assert np.mean((img == 0) | (img == 255)) < 0.05
    other = keras_image(generator, config, example_inputs(config, 2, seed=3))
    assert pixel_agreement(other, img)["mean"] > 10.0


def test_serving_default_matches_keras(loaded, generator, config):
    inputs = example_inputs(config, 3, seed=5)
    want = keras_image(generator, config, inputs)
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
    stats = pixel_agreement(got, want)
    assert stats["equal"] >= 0.999 and stats["max"] <= 1, stats


def test_serving_uint8_signature_matches(loaded, config):
    inputs = example_inputs(config, 2, seed=6)
    as_int32 = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["image"]
    feeds = {k: tf.constant(v) for k, v in inputs.items()}
    feeds["label"] = tf.constant(inputs["label"].astype(np.uint8))
    as_uint8 = loaded.signatures["serving_uint8"](**feeds)["image"]
    np.testing.assert_array_equal(as_uint8.numpy(), as_int32.numpy())


def test_semantic_map_signature_matches_keras(loaded, generator, config):
    inputs = example_inputs(config, 2, seed=7)
    seg = generator_input(generator, inputs)
    out = loaded.signatures["semantic_map"](semantic_map=seg)
    want = generator(seg, training=False).numpy()
    np.testing.assert_allclose(out["image_float"].numpy(), want, atol=1e-5)
    assert pixel_agreement(out["image"].numpy(), keras_image(generator, config, inputs))["max"] <= 1


def _signature_io(fn):
    inputs = {name: (spec.dtype, tuple(spec.shape.as_list())) for name, spec in fn.structured_input_signature[1].items()}
    outputs = {name: (spec.dtype, tuple(spec.shape.as_list())) for name, spec in fn.structured_outputs.items()}
    return inputs, outputs


def test_signatures_list_dtypes_and_shapes(loaded, config):
    h, w = config.image_hw
    assert set(loaded.signatures.keys()) == {"serving_default", "serving_uint8", "semantic_map"}
    inputs, outputs = _signature_io(loaded.signatures["serving_default"])
    assert inputs == {"label": (tf.int32, (None, None, None)), "instance": (tf.int32, (None, None, None))}
    assert outputs == {"image": (tf.uint8, (None, h, w, 3))}
    inputs, _ = _signature_io(loaded.signatures["serving_uint8"])
    assert inputs["label"] == (tf.uint8, (None, None, None))
    inputs, outputs = _signature_io(loaded.signatures["semantic_map"])
    assert inputs == {"semantic_map": (tf.float32, (None, h, w, config.semantic_nc))}
    assert outputs == {"image": (tf.uint8, (None, h, w, 3)), "image_float": (tf.float32, (None, h, w, 3))}


def test_saved_model_cli_shows_both_signatures(exported):
    cli_path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    res = subprocess.run([cli_path, "show", "--dir", exported, "--all"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    text = res.stdout
    for needle in ("signature_def['serving_default']", "signature_def['semantic_map']", "inputs['label']",
                   "inputs['semantic_map']", "outputs['image']", "DT_UINT8", "shape: (-1, 32, 64, 3)"):
        assert needle in text, needle


# ---------------------------------------------------------------------------------------------
# input checks: clear errors, no silent clamp
# ---------------------------------------------------------------------------------------------
def _call(fn, **arrays):
    return fn(**{k: tf.constant(v) for k, v in arrays.items()})


def test_label_value_outside_classes_fails_with_message(loaded, config):
    inputs = example_inputs(config, 1)
    inputs["label"][0, 3, 4] = 7  # label_nc = 5: 0..4 classes, 5 and 255 dontcare
    inputs["label"][0, 5, 6] = 42
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _call(loaded.signatures["serving_default"], **inputs)
    message = str(err.value)
    assert "input `label`" in message and "[7 42]" in message, message


def test_dontcare_255_is_a_valid_label(loaded, generator, config):
    inputs = example_inputs(config, 1)
    inputs["label"][0, :4, :] = 255
    got = _call(loaded.signatures["serving_default"], **inputs)["image"].numpy()
    assert pixel_agreement(got, keras_image(generator, config, inputs))["max"] <= 1


def test_wrong_label_size_fails_with_message(loaded, config):
    h, w = config.image_hw
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _call(loaded.signatures["serving_default"], label=np.zeros((1, h, w + 8), np.int32),
              instance=np.zeros((1, h, w + 8), np.int32))
    message = str(err.value)
    assert "input `label`" in message and f"(batch, {h}, {w})" in message and f"[1 {h} {w + 8}]" in message, message


def test_wrong_instance_size_fails_with_message(loaded, config):
    h, w = config.image_hw
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _call(loaded.signatures["serving_default"], label=np.zeros((1, h, w), np.int32),
              instance=np.zeros((1, h - 4, w), np.int32))
    message = str(err.value)
    assert "input `instance`" in message and f"[1 {h - 4} {w}]" in message, message


def _assertion(err) -> str:
    """The `assertion failed: [...]` line of a failed graph check (what TF Serving returns as the error)."""
    return next(line.strip() for line in str(err.value).splitlines() if "assertion failed" in line)


def test_batch_of_zero_wrong_rank_and_float_label_are_named(loaded, config):
    h, w = config.image_hw
    serve = loaded.signatures["serving_default"]
    zero = np.zeros((0, h, w), np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _call(serve, label=zero, instance=zero)
    assert _assertion(err) == (f"assertion failed: [input `label` holds a batch of 0 maps; send at least one "
                               f"(shape] [0 {h} {w}] [)]")
    one = np.zeros((1, h, w), np.int32)
    for bad_shape in ((h, w), (1, h, w, 1)):
        with pytest.raises(tf.errors.InvalidArgumentError) as err:
            _call(serve, label=np.zeros(bad_shape, np.int32), instance=one)
        shown = " ".join(str(d) for d in bad_shape)
        assert _assertion(err) == (f"assertion failed: [input `label` must have rank 3, (batch, {h}, {w}): one "
                                   f"integer map per example, no channel axis; got shape] [{shown}]")
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _call(serve, label=one, instance=np.zeros((1, h, w, 1), np.int32))
    assert _assertion(err).startswith("assertion failed: [input `instance` must have rank 3")
    # the dtype is the signature's: TensorFlow refuses a float label before the graph runs
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a int32 tensor but is a float tensor"):
        _call(serve, label=one.astype(np.float32), instance=one)
    specs = serve.structured_input_signature[1]
    assert {k: (v.dtype, v.shape.rank) for k, v in specs.items()} == {"label": (tf.int32, 3), "instance": (tf.int32, 3)}


def test_without_dontcare_255_is_rejected():
    cfg = tiny_config(EXPORT_CONFIG, contain_dontcare_label=False, no_instance=True)
    serve = build_serving_function(Synthesizer(build_generator(cfg)))
    label = np.zeros((1,) + cfg.image_hw, np.int32)
    label[0, 0, 0] = 255
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"input `label`.*valid values 0\.\.4.*\[255\]"):
        serve(tf.constant(label))


# ---------------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------------
def test_vae_serving_function_draws_z_from_seed():
    cfg = tiny_config(EXPORT_CONFIG, use_vae=True, crop_size=32, aspect_ratio=1.0)
    g = calibrated_generator(cfg, seed=3)
    serve = build_serving_function(Synthesizer(g))
    inputs = example_inputs(cfg, 2, seed=2)
    got = serve(**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
    assert pixel_agreement(got, keras_image(g, cfg, inputs))["max"] <= 1
    inputs2 = dict(inputs, seed=inputs["seed"] + 1)
    other = serve(**{k: tf.constant(v) for k, v in inputs2.items()})["image"].numpy()
    assert pixel_agreement(other, got)["mean"] > 1.0  # another seed, another style
    with pytest.raises(tf.errors.InvalidArgumentError, match="input `seed`"):
        serve(**{k: tf.constant(v) for k, v in dict(inputs, seed=np.zeros(3, np.int32)).items()})


# ---------------------------------------------------------------------------------------------
# layout, CLI, loading
# ---------------------------------------------------------------------------------------------
def test_next_version_counts_integer_folders(tmp_path):
    assert next_version(str(tmp_path / "none")) == 1
    for d in ("1", "2", "10", "tmp", ".tmp-3"):
        (tmp_path / d).mkdir()
    (tmp_path / "11").write_text("a file, not a version")
    assert next_version(str(tmp_path)) == 11


def test_out_is_the_model_base_folder(exported, generator, config, tmp_path, capsys):
    """`--out DIR` writes DIR/<next version>/ (TF Serving's --model_base_path layout) and says so."""
    base = tmp_path / "served"
    checkpoint, cfg_path = tmp_path / "G.keras", tmp_path / "tiny.yaml"
    generator.save(checkpoint)
    save_config(config, cfg_path)
    argv = ["export", "--config", str(cfg_path), "--checkpoint", str(checkpoint), "--out", str(base)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"wrote version 1 of the SavedModel: {base}/1 (TF Serving: --model_base_path={base})")
    assert os.path.isfile(base / "1" / "saved_model.pb")
    assert sorted(os.listdir(base)) == ["1"]  # nothing else: no temporary folder left
    assert cli.main(["export", "--config", str(cfg_path), "--checkpoint", str(checkpoint), "--out",
                     str(base / "1")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"dagan-tf export: error: export --out {base}/1 holds a SavedModel itself; --out names the model's base "
        f"folder (TF Serving's --model_base_path), whose versions are {base}/1/<n>/: pass {base} or a new folder")


def test_cli_export_writes_next_version(exported):
    assert exported.endswith(os.path.join("saved_models", "tiny", "2"))
    assert os.path.isfile(os.path.join(exported, "saved_model.pb"))
    assert os.path.isfile(os.path.join(exported, "assets.extra", "dagan_config.yaml"))
    leftovers = [d for d in os.listdir(os.path.dirname(exported)) if is_temporary(d)]
    assert leftovers == []


def test_checkpoint_that_does_not_fit_the_config_is_named(tmp_path, generator, config):
    checkpoint = tmp_path / "G.keras"
    generator.save(checkpoint)
    with pytest.raises(ValueError, match=r"G\.keras.*label_nc=7"):
        load_synthesizer(str(checkpoint), config.replace(label_nc=7))
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        export_generator(config, str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="quantize='int8' applies to format 'tflite' only"):
        export_generator(config, generator, format="saved_model", quantize="int8")
