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
