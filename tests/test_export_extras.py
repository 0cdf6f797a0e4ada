"""dagan_tf/export/extras.py: an export format whose extra is not installed names the `pip install` line.

The extras are made unimportable with `sys.modules[name] = None` (Python then raises ImportError on
import), so the test runs wherever the extras are installed too.
"""

from __future__ import annotations

import sys

import keras
import pytest

from dagan_tf import cli
from dagan_tf.config import save_config
from dagan_tf.export import MissingExtraError, convert_to_onnx, export_generator
from dagan_tf.export.tflite import tflite_op_names
from dagan_tf.models import Synthesizer, build_generator
from tests.helpers import NO_DATA, tiny_config

#: format -> (a module its extra brings, the last line `dagan-tf export` prints without it)
MISSING = {
    "tflite": ("ai_edge_litert.interpreter",
               "dagan-tf export: error: export --format tflite needs the 'lite' extra (ai-edge-litert), and "
               "ai_edge_litert.interpreter cannot be imported (ModuleNotFoundError: import of "
               "ai_edge_litert.interpreter halted; None in sys.modules); install it with: "
               "pip install \"dagan-tf[lite]\" (in a source checkout: pip install -e \".[lite]\")"),
    "onnx": ("tf2onnx",
             "dagan-tf export: error: export --format onnx needs the 'onnx' extra (tf2onnx, onnx, onnxruntime), "
             "and tf2onnx cannot be imported (ModuleNotFoundError: import of tf2onnx halted; None in "
             "sys.modules); install it with: pip install \"dagan-tf[onnx]\" (in a source checkout: "
             "pip install -e \".[onnx]\")"),
}


@pytest.fixture(scope="module")
def generator_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extras")
    config = tiny_config(name="extras", dataset_mode="coco", dataroot=NO_DATA, label_nc=4, no_instance=True,
                         crop_size=32, load_size=32, ngf=8)
    checkpoint = str(folder / "latest_net_G.keras")
    build_generator(config).save(checkpoint)
    save_config(config, str(folder / "config.yaml"))
    keras.backend.clear_session()
    return config, checkpoint, str(folder / "config.yaml")


@pytest.mark.parametrize("format", ["tflite", "onnx"])
def test_cli_names_the_pip_install_line(format, generator_files, tmp_path, monkeypatch, capsys):
    module, last_line = MISSING[format]
    monkeypatch.setitem(sys.modules, module, None)
    _, checkpoint, config_path = generator_files
    out = tmp_path / f"g.{format}"
    code = cli.main(["export", "--config", config_path, "--checkpoint", checkpoint, "--format", format,
                     "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == last_line
    assert not out.exists()


def test_library_raises_an_import_error(generator_files, monkeypatch):
    config, checkpoint, _ = generator_files
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ImportError, match=r'pip install "dagan-tf\[lite\]"'):
        export_generator(config, checkpoint, format="tflite")
    with pytest.raises(MissingExtraError, match=r"needs the 'lite' extra"):
        tflite_op_names(b"not read")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"onnxruntime cannot be imported.*pip install \"dagan-tf\[onnx\]\""):
        convert_to_onnx(Synthesizer(build_generator(config)), "unused.onnx")
    keras.backend.clear_session()
