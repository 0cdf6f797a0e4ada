"""Shared test set-up: quiet TensorFlow, deterministic seeds, where test data lives.

Everything a test needs is in the repository (`tests/data/`) or made by the test, except the real
COCO-Stuff samples: those are read from `$DAGAN_TF_COCO_SAMPLES` (default: `../shared/data/coco_stuff_samples`
beside the checkout, where our CI keeps them). Tests that need them take the `coco_samples` fixture, which
skips with a reason naming the variable where neither exists, so a user's fresh clone passes; under
`CI=true` a missing folder fails instead, so CI never goes green by skipping.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


@pytest.fixture
def coco_samples() -> pathlib.Path:
    """The COCO-Stuff samples folder; skips the test where it is absent (see `coco_samples_dir`)."""
    return coco_samples_dir()


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="module")
def single_torch_thread():
    """torch's OpenMP threads spin-wait; on a shared 2-core machine one thread is ~10x faster here.
    Modules that run torch use it with `pytestmark = pytest.mark.usefixtures("single_torch_thread")`."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
