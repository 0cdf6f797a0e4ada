"""Shared test set-up: quiet TensorFlow, deterministic seeds, the shared sample data's location."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib

import pytest

#: Real COCO-Stuff samples beside the checkout (never copied into the project).
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_stuff_samples"
#: Official state_dict key/shape listings.
REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference"


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
