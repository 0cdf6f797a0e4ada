"""Deploy a generator: SavedModel for TF Serving, TFLite (fp32 / fp16 / int8), ONNX, and a `.keras` file
for distribution (float32 or float16 weights).

    path = export_generator(cfg, "G.keras", format="tflite", quantize="fp16")

Every format is built from the `Synthesizer` (`dagan_tf.models`) through the one serving function
(`serving.build_serving_function`): label map (and instance map, and a seed with use_vae) in, uint8
RGB image out.
"""

from __future__ import annotations

import os

from dagan_tf.config import DAGANConfig
from dagan_tf.export.extras import FORMAT_EXTRAS, MissingExtraError, require_extra
from dagan_tf.export.keras_file import KERAS_QUANTIZE_MODES, export_keras_file
from dagan_tf.export.onnx import convert_to_onnx
from dagan_tf.export.saved_model import DEFAULT_BASE_DIR, export_saved_model, next_version
from dagan_tf.export.serving import (
    build_semantic_map_function,
    build_serving_function,
    load_synthesizer,
    serving_archive,
)
from dagan_tf.export.tflite import QUANTIZE_MODES, check_builtin_ops, convert_to_tflite, representative_examples
from dagan_tf.precision import check_precision, generator_in_precision

__all__ = [
    "FORMATS",
    "FORMAT_QUANTIZE_MODES",
    "FORMAT_EXTRAS",
    "KERAS_QUANTIZE_MODES",
    "MissingExtraError",
    "QUANTIZE_MODES",
    "build_semantic_map_function",
    "build_serving_function",
    "check_builtin_ops",
    "convert_to_onnx",
    "convert_to_tflite",
    "default_output_path",
    "export_generator",
    "export_keras_file",
    "export_saved_model",
    "load_synthesizer",
    "next_version",
    "representative_examples",
    "require_extra",
    "serving_archive",
]

FORMATS = ("saved_model", "tflite", "onnx", "keras")
#: The `quantize` modes each format takes.
FORMAT_QUANTIZE_MODES = {"saved_model": ("none",), "tflite": QUANTIZE_MODES, "onnx": ("none",),
                         "keras": KERAS_QUANTIZE_MODES}


def default_output_path(config: DAGANConfig, format: str, quantize: str = "none", name: str | None = None) -> str:
    """`saved_models/<name>.tflite` (`<name>_fp16.tflite`, `<name>_int8.tflite`), `saved_models/<name>.onnx` or
    `saved_models/<name>.keras` (`<name>_fp16.keras`).

    (SavedModels get `saved_models/<name>/<version>/`, chosen by export_saved_model.)
    """
    name = name or config.name
    suffix = "" if quantize == "none" else f"_{quantize}"
    ext = {"tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}[format]
    return os.path.join(DEFAULT_BASE_DIR, f"{name}{suffix}{ext}")


#: The file suffix of each file format (`--out` must end with it).
FORMAT_SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}


def _is_format_file(path: str, format: str) -> bool:
    """Whether the existing file `path` is a `format` file (what an earlier export wrote)."""
    import zipfile

    try:
        if format == "tflite":
            with open(path, "rb") as f:
                return f.read(8)[4:8] == b"TFL3"  # the flatbuffer's file identifier
        if format == "keras":
            with zipfile.ZipFile(path) as archive:
                return "config.json" in archive.namelist()
        import onnx

        onnx.load(path, load_external_data=False)
        return True
    except Exception:  # unreadable or another kind of file
        return False


def check_output_file(out: str, format: str, force: bool = False) -> None:
    """Refuse an `--out` without the format's suffix, a folder, or an existing file that is no `format`
    file (an export never overwrites a file it did not write, unless `force`)."""
    suffix = FORMAT_SUFFIXES[format]
    if not out.endswith(suffix):
        raise ValueError(f"export --format {format}: --out {out} must end with {suffix}")
    if os.path.isdir(out):
        raise ValueError(f"export --out {out} is a folder; give the {suffix} file to write")
    if os.path.exists(out) and not force and not _is_format_file(out, format):
        raise ValueError(f"export --out {out} exists and is no {format} file; pass --force to overwrite it")


def export_generator(config: DAGANConfig, checkpoint, format: str = "saved_model", quantize: str = "none",
                     out: str | None = None, name: str | None = None, batch: int | None = None,
                     precision: str = "fp32", force: bool = False) -> str:
    """Export a generator (`.keras` path, run folder, shipped name, generator keras.Model or Synthesizer)
    in `format`; returns the output path.

    format: 'saved_model' (TF Serving layout, `saved_models/<name>/<version>/`), 'tflite', 'onnx' or
        'keras' (the generator with `config`, for distribution).
    quantize: 'none', or for TFLite 'fp16' / 'int8', for keras 'fp16' (weights stored as float16).
        `name` defaults to `config.name`.
    batch: TFLite only, a fixed batch size (None: dynamic; LiteRT.js needs 1).
    'tflite' needs the 'lite' extra, 'onnx' the 'onnx' extra: MissingExtraError (an ImportError and a
    ValueError) with the `pip install` line when it is missing.
    precision: SavedModel only, 'fp32' or 'bf16' (`dagan_tf.precision`; the serving graph computes in bf16).
    force: overwrite an existing `out` that is no file of `format` (by default refused: `check_output_file`).
    """
    check_precision(precision)
    if precision != "fp32" and format != "saved_model":
        raise ValueError(f"--precision {precision} applies to format 'saved_model' only (got format {format!r}); "
                         "TFLite and ONNX runtimes have their own reduced precisions (tflite: --quantize)")
    if batch is not None and format != "tflite":
        raise ValueError(f"batch={batch} applies to format 'tflite' only (got format {format!r})")
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not an export format; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize={quantize!r} is not allowed; choose one of {', '.join(QUANTIZE_MODES)}")
    if quantize not in FORMAT_QUANTIZE_MODES[format]:
        takes = [f for f, modes in FORMAT_QUANTIZE_MODES.items() if quantize in modes]
        raise ValueError(f"quantize={quantize!r} applies to format {' / '.join(repr(f) for f in takes)} only "
                         f"(got format {format!r})")
    if format in FORMAT_EXTRAS:
        require_extra(format)  # before the slow part: a missing extra is named at once
    if out is not None and format in FORMAT_SUFFIXES:
        check_output_file(out, format, force)
    synthesizer = load_synthesizer(checkpoint, config)
    if format == "saved_model":
        if precision != "fp32":
            low = generator_in_precision(synthesizer.generator, precision, config)
            synthesizer = type(synthesizer)(low, synthesizer.preprocessor)
        return export_saved_model(synthesizer, config, out=out, name=name)
    out = out or default_output_path(config, format, quantize, name)
    if format == "tflite":
        return convert_to_tflite(synthesizer, config, out, quantize=quantize, batch=batch)
    if format == "keras":
        return export_keras_file(synthesizer, config, out, quantize=quantize)
    return convert_to_onnx(synthesizer, out)
