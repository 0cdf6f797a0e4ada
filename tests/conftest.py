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
