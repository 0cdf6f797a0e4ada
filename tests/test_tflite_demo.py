"""tools/tflite_demo.py: a demo-data label map through a TFLite model with LiteRT, TensorFlow unimportable.

The demo runs in a subprocess whose PYTHONPATH starts with a folder holding `tensorflow.py`, `keras.py`
and `dagan_tf.py` that record the attempt and raise ImportError, so any import of them (by the tool or
by a library it uses) fails the run or leaves a trace the test checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from dagan_tf.data.demo import write_demo_dataset
from dagan_tf.export import convert_to_tflite
from dagan_tf.models import Synthesizer
from tests.helpers import EXPORT_CONFIG, calibrated_generator, keras_image, pixel_agreement, tiny_config

pytestmark = pytest.mark.slow

TOOL = Path(__file__).resolve().parents[1] / "tools" / "tflite_demo.py"
BLOCKER = """import os
with open(os.environ["BLOCKED_IMPORTS_LOG"], "a") as f:
    f.write(__name__ + "\\n")
raise ImportError(f"{__name__} is blocked in this test (tools/tflite_demo.py must run without it)")
"""


@pytest.fixture(scope="module")
def config():
    # the demo config's classes and instance maps, tiny: 32x64 like the demo's 2:1 scenes
    return tiny_config(EXPORT_CONFIG, name="demo", dataset_mode="demo", label_nc=8, contain_dontcare_label=False,
                       no_instance=False)


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config, seed=6)


@pytest.fixture(scope="module")
def model_path(config, generator, tmp_path_factory):
    return convert_to_tflite(Synthesizer(generator), config, str(tmp_path_factory.mktemp("tfl") / "demo.tflite"))


@pytest.fixture(scope="module")
def demo_maps(tmp_path_factory):
    """A demo scene written by dagan_tf.data.demo: 64x32 label (8-bit) and instance (16-bit) PNGs."""
    root = tmp_path_factory.mktemp("demo_data")
    write_demo_dataset(str(root), count=2, size=64, seed=3, progress=False)
    return str(root / "train_label" / "demo_00000.png"), str(root / "train_inst" / "demo_00000.png")


def run_demo(tmp_path, *args):
    block = tmp_path / "block"
    block.mkdir(exist_ok=True)
    for name in ("tensorflow", "keras", "dagan_tf"):
        (block / f"{name}.py").write_text(BLOCKER)
    log = tmp_path / "blocked_imports.log"
    env = dict(os.environ, PYTHONPATH=str(block), BLOCKED_IMPORTS_LOG=str(log))
    res = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, env=env,
                         cwd=str(tmp_path), timeout=300)
    attempted = log.read_text().split() if log.exists() else []
    return res, attempted


def test_reads_label_pngs_by_the_packages_rule():
    import importlib.util

    from dagan_tf.data.loading import INTEGER_MODES

    spec = importlib.util.spec_from_file_location("tflite_demo", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.INTEGER_MODES == INTEGER_MODES


def test_blocker_really_blocks(tmp_path):
    block = tmp_path / "block"
    block.mkdir()
    (block / "tensorflow.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=str(block), BLOCKED_IMPORTS_LOG=str(tmp_path / "log"))
    res = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env,
                         cwd=str(tmp_path))
    assert res.returncode != 0 and "blocked in this test" in res.stderr
    assert (tmp_path / "log").read_text().split() == ["tensorflow"]


def test_demo_runs_without_tensorflow(tmp_path, model_path, demo_maps, generator, config):
    label_png, inst_png = demo_maps
    out = tmp_path / "out.png"
    res, attempted = run_demo(tmp_path, label_png, "--instance", inst_png, "--model", model_path,
                              "--out", str(out), "--runs", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    assert attempted == []
    assert "latency: median" in res.stdout and f"wrote {out}" in res.stdout, res.stdout

    label = np.asarray(Image.open(label_png)).astype(np.int32)
    instance = np.asarray(Image.open(inst_png)).astype(np.int32)
    assert label.shape == config.image_hw and instance.max() > 1000  # demo trees / clouds: 16-bit ids
    image = np.asarray(Image.open(out))
    runner = Interpreter(model_path=model_path).get_signature_runner("serving_default")
    direct = runner(label=label[None], instance=instance[None])["image"][0]
    np.testing.assert_array_equal(image, direct)
    stats = pixel_agreement(image[None], keras_image(generator, config, {"label": label[None],
                                                                          "instance": instance[None]}))
    assert stats["within1"] >= 0.99, stats


def test_demo_resizes_other_sizes_and_names_bad_files(tmp_path, model_path, demo_maps):
    label_png, inst_png = demo_maps
    big_label, big_inst = tmp_path / "big_label.png", tmp_path / "big_inst.png"
    Image.open(label_png).resize((128, 64), Image.NEAREST).save(big_label)
    Image.open(inst_png).resize((128, 64), Image.NEAREST).save(big_inst)
    res, attempted = run_demo(tmp_path, str(big_label), "--instance", str(big_inst), "--model", model_path,
                              "--out", str(tmp_path / "big.png"), "--runs", "1")
    assert res.returncode == 0 and "resizing label map" in res.stdout, res.stderr[-2000:]
    assert np.asarray(Image.open(tmp_path / "big.png")).shape == (32, 64, 3) and attempted == []

    res, _ = run_demo(tmp_path, label_png, "--model", model_path, "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "--instance" in res.stderr
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(tmp_path / "rgb.png")
    res, _ = run_demo(tmp_path, str(tmp_path / "rgb.png"), "--instance", inst_png, "--model", model_path,
                      "--out", str(tmp_path / "y.png"))
    assert res.returncode == 2 and "rgb.png" in res.stderr and "mode 'RGB'" in res.stderr


def test_truncated_png_and_model_end_in_one_line_naming_the_file(tmp_path, model_path, demo_maps):
    label_png, inst_png = demo_maps
    truncated = tmp_path / "truncated_label.png"
    data = Path(label_png).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    res, _ = run_demo(tmp_path, str(truncated), "--instance", inst_png, "--model", model_path,
                      "--out", str(tmp_path / "t.png"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"tflite_demo: error: cannot read label file {truncated}: "
                                               "OSError: image file is truncated"], res.stderr[-2000:]
    broken_model = tmp_path / "broken.tflite"
    broken_model.write_bytes(Path(model_path).read_bytes()[:100])
    res, _ = run_demo(tmp_path, label_png, "--instance", inst_png, "--model", str(broken_model),
                      "--out", str(tmp_path / "m.png"))
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 2 and last.startswith(f"tflite_demo: error: cannot load TFLite model {broken_model}: ")
    assert not (tmp_path / "t.png").exists() and not (tmp_path / "m.png").exists()
