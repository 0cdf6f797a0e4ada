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


#: The slowest test modules, slowest first (durations of a `-n 2` run). `pytest -n 2 --dist loadfile`
#: (the README's command) hands out whole files in collection order: starting these first keeps both
#: workers busy to the end instead of leaving one long file running alone.
SLOWEST_MODULES = (
    "test_run_interruptions.py", "test_run.py", "test_training_model.py", "test_paint.py", "test_fid.py",
    "test_export_saved_model.py", "test_init_from.py", "test_models_loading.py", "test_distribute.py",
    "test_segmenters_upernet.py", "test_export_tflite.py", "test_demo.py", "test_segmenters_deeplabv2.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order otherwise


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
