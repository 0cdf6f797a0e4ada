"""Helpers the test modules share: where test data lives (the COCO-Stuff samples), tiny configs
(`tiny_config`), the export comparisons, get_config round trips, training-state stand-ins, a tiny
dataset, Grappler switched off for a block (`grappler_off`). Test modules import them from here
(`from tests.helpers import ...`); conftest.py holds only fixtures and pytest hooks.

Everything a test needs is in the repository (`tests/data/`) or made by the test, except the real
COCO-Stuff samples: those are read from `$DAGAN_TF_COCO_SAMPLES` (default: `../shared/data/coco_stuff_samples`
beside the checkout, where our CI keeps them). `coco_samples_dir()` (and the `coco_samples` fixture)
skips with a reason naming the variable where neither exists, so a user's fresh clone passes; under
`CI=true` a missing folder fails instead, so CI never goes green by skipping.
"""

import contextlib
import inspect
import os
import pathlib
import types

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
#: Official state_dict key/shape listings (written from the released checkpoints; see its README).
REFERENCE_DIR = REPO / "tests" / "data" / "reference"
#: The environment variable that points at the real COCO-Stuff samples (never copied into the project).
COCO_SAMPLES_VARIABLE = "DAGAN_TF_COCO_SAMPLES"
DEFAULT_COCO_SAMPLES = REPO.parent / "shared" / "data" / "coco_stuff_samples"


def coco_samples_dir() -> pathlib.Path:
    """The COCO-Stuff samples folder (13 train + 8 val triples in the reference layout), or a skip
    naming `DAGAN_TF_COCO_SAMPLES` where it does not exist (a failure under `CI=true`)."""
    folder = pathlib.Path(os.environ.get(COCO_SAMPLES_VARIABLE) or DEFAULT_COCO_SAMPLES)
    if (folder / "train_img").is_dir():
        return folder
    reason = (f"real COCO-Stuff samples not found at {folder}: set {COCO_SAMPLES_VARIABLE} to a folder "
              "with train_img/train_label/train_inst and val_* (the reference layout)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def grappler_off():
    """Grappler (TensorFlow's graph optimiser) off in this process for the block, the previous options
    after. On the tests' tiny graphs it costs ~25 s per traced training step; its rewrites (fusion,
    reordering) change float32 rounding, not semantics."""
    import tensorflow as tf

    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **options})


# ------------------------------------------------------------------------------------------------
# get_config / from_config round trips
# ------------------------------------------------------------------------------------------------
def _plain(value):
    """Tuples as lists (what a config holds after JSON), recursively."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def assert_config_round_trip(cls, arguments: dict, inputs=None, keep_default: tuple = ()):
    """Rebuild `cls(**arguments)` from its `get_config` and compare; returns (original, rebuilt).

    `arguments` must name EVERY argument of `cls.__init__` (beyond **kwargs), each one with a value
    other than its default, so a `get_config` that forgets an argument fails here (the rebuilt object
    would silently take the default). Checks: each argument in the config with its value, the rebuilt
    object's config equal to the original's, and (with `inputs`, for layers) equal outputs once the
    weights are copied. A layer also gets a non-default `name` unless `name` is an argument.
    `keep_default` names arguments that may keep their default (a combination the class refuses;
    round-trip them in a second call).
    """
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert sorted(arguments) == sorted(p.name for p in parameters), (
        f"{cls.__name__}: the round trip must set every constructor argument; "
        f"it sets {sorted(arguments)}, the constructor has {sorted(p.name for p in parameters)}")
    for p in parameters:
        assert p.default is p.empty or p.name in keep_default or _plain(arguments[p.name]) != _plain(p.default), (
            f"{cls.__name__}: give '{p.name}' a non-default value (default {p.default!r})")
    extra = {} if "name" in arguments else {"name": "custom_name"}
    original = cls(**arguments, **extra)
    config = original.get_config()
    for key, value in {**arguments, **extra}.items():
        assert key in config, f"{cls.__name__}.get_config() lacks the constructor argument '{key}'"
        assert _plain(config[key]) == _plain(value), (cls.__name__, key, config[key], value)
    rebuilt = cls.from_config(config)
    assert rebuilt.get_config() == config
    if inputs is not None:
        import keras

        want = keras.tree.flatten(original(inputs))
        rebuilt(inputs)
        rebuilt.set_weights(original.get_weights())
        got = keras.tree.flatten(rebuilt(inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(g), keras.ops.convert_to_numpy(w))
    return original, rebuilt


# ------------------------------------------------------------------------------------------------
# Small stand-ins for the training-state tests (test_backup.py, test_callbacks.py)
# ------------------------------------------------------------------------------------------------
def small_net(name, units=3):
    """A tiny Dense + BatchNormalization Keras model `(batch, 4) -> (batch, units)`."""
    import keras

    inp = keras.Input((4,))
    x = keras.layers.Dense(units, name=f"{name}_dense")(inp)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.Model(inp, x, name=name)


def stand_in_dagan(with_encoder=True):
    """An object shaped like DAGAN for TrainingBackup: networks, built optimizers, extra state."""
    import keras

    m = types.SimpleNamespace()
    m.generator, m.discriminator = small_net("g"), small_net("d", 2)
    m.encoder = small_net("e", 5) if with_encoder else None
    m.g_optimizer = keras.optimizers.Adam(1e-3, name="g_opt")
    m.d_optimizer = keras.optimizers.Adam(1e-3, name="d_opt")
    g_vars = m.generator.trainable_variables + (m.encoder.trainable_variables if with_encoder else [])
    m.g_optimizer.build(g_vars)
    m.d_optimizer.build(m.discriminator.trainable_variables)
    m.extra = keras.Variable(np.zeros(2, np.float32), name="extra", trainable=False)
    nets = [m.generator, m.discriminator] + ([m.encoder] if with_encoder else [])
    m.variables = [v for n in nets for v in n.variables] + [m.extra]
    return m


def backup_values(m):
    """Every variable of a (stand-in) DAGAN by backup group and position, as NumPy arrays."""
    groups = _training_backup("unused", m).groups()
    return {f"{g}/{i}": np.array(v) for g, vs in groups.items() for i, v in enumerate(vs)}


def scramble_variables(m, rng):
    """Random values for every variable of a (stand-in) DAGAN."""
    for vs in _training_backup("unused", m).groups().values():
        for v in vs:
            v.assign(rng.standard_normal(v.shape).astype(v.dtype) if v.shape else rng.integers(1, 99))


def _training_backup(folder, model):
    from dagan_tf.training.backup import TrainingBackup

    return TrainingBackup(folder, model)


# ------------------------------------------------------------------------------------------------
# A tiny dataset in the 'custom' layout (test_run.py, test_init_from.py)
# ------------------------------------------------------------------------------------------------
def write_tiny_dataset(root, count=8, size=32, label_nc=3, seed=0):
    """`{train,val}_{label,img}` folders of rectangles on a background, each class its colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)])[:label_nc]
    for phase, n in (("train", count), ("val", 3)):
        for kind in ("label", "img"):
            os.makedirs(os.path.join(root, f"{phase}_{kind}"), exist_ok=True)
        for i in range(n):
            label = np.zeros((size, size), np.uint8)
            for c in range(1, label_nc):
                y, x = rng.integers(0, size - 8, 2)
                h, w = rng.integers(6, size // 2, 2)
                label[y:y + h, x:x + w] = c
            image = np.clip(colours[label] + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(label).save(os.path.join(root, f"{phase}_label", f"scene{i}.png"))
            Image.fromarray(image).save(os.path.join(root, f"{phase}_img", f"scene{i}.png"))
    return root


# ------------------------------------------------------------------------------------------------
# Tiny configs: one builder, and the presets more than one test module uses
# ------------------------------------------------------------------------------------------------
#: A dataroot that does not exist: the config of a test that never reads data files.
NO_DATA = "/nonexistent/dagan_tf_test_data"

#: The export tests' generator: ngf 8, 32x64 images (crop 64, aspect 2: a non-square size catches
#: H/W mix-ups), 5 classes + dontcare, instance maps.
EXPORT_CONFIG = dict(name="tiny", dataset_mode="coco", dataroot=NO_DATA, label_nc=5, contain_dontcare_label=True,
                     no_instance=False, crop_size=64, load_size=64, aspect_ratio=2.0, ngf=8)


def tiny_config(*presets, **changes):
    """A validated DAGANConfig: the `presets` (dicts such as EXPORT_CONFIG) merged left to right, then
    `changes`; DAGANConfig's defaults for every other key. Each test module names its preset, so its
    effective config is written down in one place."""
    from dagan_tf.config import config_from_dict

    values = {}
    for preset in presets:
        values.update(preset)
    values.update(changes)
    return config_from_dict(values)


# ------------------------------------------------------------------------------------------------
# Export comparisons (test_export_*.py, test_tflite_demo.py, test_serving_client.py, test_paint*.py)
# ------------------------------------------------------------------------------------------------
def example_inputs(config, count: int, seed: int = 0) -> dict:
    """Demo scenes at the config's size as the serving inputs: label file values (a few dontcare
    pixels when the config has dontcare), instance ids, seeds."""
    from dagan_tf.data.demo import render_scene
    from dagan_tf.data.registry import label_values

    h, w = config.image_hw
    labels, instances = [], []
    for i in range(count):
        label, instance, _ = render_scene(np.random.default_rng((seed, 99, i)), h, w)
        ids = label.astype(np.int32) % config.label_nc
        if config.contain_dontcare_label:
            ids[: h // 8, : w // 8] = config.label_nc
        labels.append(label_values(config).file_values(ids, config.label_nc))
        instances.append(instance.astype(np.int32))
    out = {"label": np.stack(labels)}
    if not config.no_instance:
        out["instance"] = np.stack(instances)
    if config.use_vae:
        out["seed"] = np.arange(count, dtype=np.int32) + 1000 * seed
    return out


def semantic_map(label, instance, config):
    """The generator's semantic map of label file values (+ instance ids): `config`'s SemanticPreprocessor."""
    from dagan_tf.models import SemanticPreprocessor

    inputs = {"label": label} if instance is None else {"label": label, "instance": instance}
    return SemanticPreprocessor.from_dagan_config(config)(inputs)


def generator_input(generator, inputs: dict, z=None):
    """The generator's input for serving `inputs` (the Synthesizer's own): the semantic map [, z from
    the seeds unless given]."""
    from dagan_tf.models import Synthesizer

    return Synthesizer(generator).generator_inputs(inputs if z is None else {**inputs, "z": z})


def calibrated_generator(config, seed: int = 0):
    """A random-weight generator whose image depends on its input, so comparisons mean something.

    The reference init (gain 0.02, zero biases) gives an image that hardly depends on the label map;
    here kernels are N(0, 1/fan_in) and biases N(0, 0.1) (unit-scale activations), a few
    training-mode passes bring the batch-norm running statistics and spectral u, v to the data, and
    conv_img is scaled so the pre-tanh output has std 0.6 (no saturation at 0 or 255).
    """
    import keras
    import tensorflow as tf

    from dagan_tf.models import build_generator

    keras.utils.set_random_seed(seed)
    generator = build_generator(config)
    rng = np.random.default_rng(seed)
    for variable in generator.trainable_weights:
        shape = tuple(variable.shape)
        if len(shape) > 1:
            fan_in = int(np.prod(shape[:-1]))
            variable.assign(rng.standard_normal(shape).astype(np.float32) / np.sqrt(fan_in))
        else:
            variable.assign(rng.standard_normal(shape).astype(np.float32) * 0.1)
    inputs = example_inputs(config, 4, seed=seed + 1)
    z = tf.random.normal((4, config.z_dim), seed=seed)
    train_pass = tf.function(lambda x: generator(x, training=True))  # eager passes take a second each
    for _ in range(8):
        train_pass(generator_input(generator, inputs, z))
    out = generator(generator_input(generator, inputs, z), training=False).numpy()
    scale = 0.6 / float(np.arctanh(np.clip(out, -0.999999, 0.999999)).std())
    conv_img = generator.get_layer("conv_img")
    conv_img.kernel.assign(conv_img.kernel * scale)
    conv_img.bias.assign(conv_img.bias * scale)
    return generator


def keras_image(generator, config, inputs: dict) -> np.ndarray:
    """The Keras model's image as uint8, computed outside the export code's graph (NumPy rounding)."""
    g = generator(generator_input(generator, inputs), training=False).numpy()
    return np.clip(np.round((g + 1.0) * 127.5), 0, 255).astype(np.uint8)


def pixel_agreement(got: np.ndarray, want: np.ndarray) -> dict:
    """max / mean abs difference, share of exactly equal values and of values within 1, PSNR (dB)."""
    assert got.shape == want.shape and got.dtype == np.uint8, (got.shape, got.dtype, want.shape)
    d = np.abs(got.astype(np.int32) - want.astype(np.int32))
    mse = float(np.mean(d.astype(np.float64) ** 2))
    return {"max": int(d.max()), "mean": float(d.mean()), "equal": float(np.mean(d == 0)),
            "within1": float(np.mean(d <= 1)), "psnr": 10 * np.log10(255.0**2 / max(mse, 1e-12))}


def drive_callbacks(callbacks, model, progress, epoch, batches, per_call=1, logs=None):
    """Call the callbacks like one `fit` epoch of `batches` steps, `per_call` steps per execution;
    `model.step` counts the steps run, as DAGAN.step does (it starts where `progress` says)."""
    import keras

    if getattr(model, "step", None) is None:
        model.step = keras.Variable(0, dtype="int64", trainable=False, name="step")
    model.step.assign(progress.step)
    for cb in callbacks:
        cb.set_model(model)
        cb.on_epoch_begin(epoch)
    done = 0
    for end in range(per_call - 1, batches + per_call - 1, per_call):
        end = min(end, batches - 1)
        model.step.assign_add(end + 1 - done)  # the steps this execution ran
        done = end + 1
        step_logs = logs(int(model.step)) if logs else {}
        for cb in callbacks:
            cb.on_train_batch_end(end, step_logs)
    for cb in callbacks:
        cb.on_epoch_end(epoch)
