"""pytest's set-up for the suite: quiet TensorFlow, deterministic seeds, the shared fixtures, and the
`slow` marker (what the quick loop `pytest -m "not slow"` leaves out). Helpers live in tests/helpers.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402

from tests.helpers import coco_samples_dir  # noqa: E402


@pytest.fixture
def coco_samples() -> pathlib.Path:
    """The COCO-Stuff samples folder; skips the test where it is absent (see `helpers.coco_samples_dir`)."""
    return coco_samples_dir()


def pytest_collection_modifyitems(config, items):
    """Files with `slow` tests first: `pytest -n 2 --dist loadfile` (the README's command) hands out whole
    files in collection order, so the long ones start at once instead of one running alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: file order otherwise


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
