"""dagan_tf.export (export_generator's own checks): an export never overwrites a file it did not write."""

import os
import zipfile

import numpy as np
import pytest

from dagan_tf import cli
from dagan_tf.export import check_output_file


def test_out_needs_the_formats_suffix_and_spares_other_files(tmp_path):
    unrelated = tmp_path / "notes.tflite"
    unrelated.write_text("my notes, not a model")
    with pytest.raises(ValueError, match=r"--out .*notes.tflite exists and is no tflite file; pass --force"):
        check_output_file(str(unrelated), "tflite")
    check_output_file(str(unrelated), "tflite", force=True)
    with pytest.raises(ValueError, match=r"export --format onnx: --out .*model.bin must end with \.onnx"):
        check_output_file(str(tmp_path / "model.bin"), "onnx")
    with pytest.raises(ValueError, match=r"--out .*folder.keras is a folder"):
        os.mkdir(tmp_path / "folder.keras")
        check_output_file(str(tmp_path / "folder.keras"), "keras")


def test_an_earlier_export_of_the_format_is_replaced(tmp_path):
    tflite = tmp_path / "old.tflite"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))  # a flatbuffer's header
    check_output_file(str(tflite), "tflite")
    keras_file = tmp_path / "old.keras"
    with zipfile.ZipFile(keras_file, "w") as archive:
        archive.writestr("config.json", "{}")
    check_output_file(str(keras_file), "keras")
    check_output_file(str(tmp_path / "new.keras"), "keras")  # nothing there yet


def test_the_cli_refuses_before_exporting(tmp_path, capsys):
    from dagan_tf.config import load_config
    from dagan_tf.models import build_generator

    checkpoint = tmp_path / "G.keras"
    build_generator(load_config("demo", {"ngf": 8, "crop_size": 64, "load_size": 64})).save(checkpoint)
    unrelated = tmp_path / "photo.onnx"
    unrelated.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    argv = ["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(unrelated)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"dagan-tf export: error: export --out {unrelated} exists and is no onnx file; pass --force to overwrite it")
    assert unrelated.read_bytes() == np.arange(100, dtype=np.uint8).tobytes()
