"""TFLite export: fp32, fp16 (float16 weights) or int8 (calibrated int8 weights and activations), builtin ops only.

The model converted is the Synthesizer (with the preprocessor's integer one-hot, see `_one_hot` in
models/preprocessor.py): label `(batch, H, W)` int32 [, instance int32 (batch, H, W)] [, seed int32
(batch,)] in, image uint8 `(batch, H, W, 3)` out, under the signature `serving_default` (LiteRT's
`get_signature_runner()`). No input checks (TFLite has no assert op).

fp32 and fp16 are Keras' own `Model.export(format="litert")` with the converter options each needs
(builtin ops only; float16 weights). int8 takes one converter step of ours on Keras' SavedModel export:
calibration, then quantization with SPADE's elementwise MUL / ADD left in float (`INT8_FLOAT_OPS`),
which TensorFlow documents through its QuantizationDebugger's denylist, an option Keras' exporter
does not pass on.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import tensorflow as tf

from dagan_tf.config import DAGANConfig
from dagan_tf.data import registry as dataset_registry
from dagan_tf.export.extras import require_extra
from dagan_tf.files import atomic_path
from dagan_tf.export.serving import INSTANCE, LABEL, SEED, with_integer_one_hot
from dagan_tf.models.synthesizer import Synthesizer

__all__ = [
    "INT8_FLOAT_OPS",
    "QUANTIZE_MODES",
    "check_builtin_ops",
    "convert_to_tflite",
    "representative_examples",
    "tflite_op_names",
]

QUANTIZE_MODES = ("none", "fp16", "int8")
#: Op types the int8 model keeps in float by default: the elementwise products and sums of SPADE
#: (`norm(x) * (1 + gamma) + beta`), the batch-norm scaling and the residual adds. In int8 their
#: per-tensor scales cannot hold both the large per-channel offsets and the small normalised values;
#: on a small random-weight generator full-integer gave ~16 dB PSNR against fp32; this gives ~38 dB
#: (bench/bench_export.py: demo 38.6 dB, ADE20K 256x256 ngf 64 38.3 dB).
INT8_FLOAT_OPS = ("MUL", "ADD")
#: Representative examples used to calibrate int8 activations.
DEFAULT_CALIBRATION_EXAMPLES = 16


def _demo_examples(config: DAGANConfig, count: int) -> list[dict]:
    """Procedural demo scenes drawn at the config's size (dagan_tf.data.demo), in file values."""
    from dagan_tf.data.demo import render_scene
    from dagan_tf.data.registry import label_values

    h, w = config.image_hw
    examples = []
    for i in range(count):
        label, instance, _ = render_scene(np.random.default_rng((config.seed, 7, i)), h, w)
        ids = label.astype(np.int32) % config.label_nc  # demo classes are 0..7; fold them into a smaller label_nc
        examples.append({"label": label_values(config).file_values(ids, config.label_nc),
                         "instance": instance.astype(np.int32)})
    return examples


def _config_data_examples(config: DAGANConfig, count: int) -> list[dict]:
    """The first `count` training examples of the config's own data (center crops, no flip; file values)."""
    from dagan_tf.data import build_dataset

    ds = build_dataset(config.replace(no_flip=True), "train", batch_size=None, shuffle=False)
    return [{key: ex[key].numpy().astype(np.int32) for key in ("label", "instance") if key in ex}
            for ex in ds.take(count)]


def representative_examples(config: DAGANConfig, count: int = DEFAULT_CALIBRATION_EXAMPLES) -> list[dict]:
    """Calibration inputs for int8: dicts of 'label' (H, W) int32 file values [, 'instance'] [, 'seed'].

    Drawn from the config's data when its files are there; otherwise (and for `dataset_mode: demo`)
    from procedural demo scenes rendered at the config's size.
    """
    examples = []
    if not dataset_registry.get(config.dataset_mode).draws_scenes:
        try:
            examples = _config_data_examples(config, count)
        except Exception as e:  # missing or unreadable data: calibrate on demo scenes instead
            print(f"dagan_tf.export: no usable {config.dataset_mode} data under {config.dataroot!r} "
                  f"({type(e).__name__}); calibrating int8 on procedural demo scenes")
    if not examples:
        examples = _demo_examples(config, count)
    out = []
    for i, ex in enumerate(examples):
        item = {LABEL: np.asarray(ex["label"], np.int32)}
        if not config.no_instance:
            item[INSTANCE] = np.asarray(ex.get("instance", np.zeros_like(item[LABEL])), np.int32)
        if config.use_vae:
            item[SEED] = np.int32(i)
        out.append(item)
    return out


def tflite_op_names(model) -> list[str]:
    """Names of the ops of a .tflite file or flatbuffer (bytes), one per op, in graph order.

    Needs the 'lite' extra (ai-edge-litert): MissingExtraError with the `pip install` line otherwise."""
    Interpreter = require_extra("tflite").Interpreter

    if isinstance(model, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(model))
    else:
        interpreter = Interpreter(model_path=os.fspath(model))
    return [op["op_name"] for op in interpreter._get_ops_details()]


def check_builtin_ops(model, where: str = "model") -> None:
    """Raise ValueError naming the ops if the model holds Select-TF (Flex) or custom ops."""
    not_builtin = sorted({n for n in tflite_op_names(model) if n.startswith("Flex") or not re.fullmatch(r"[A-Z0-9_]+", n)})
    if not_builtin:
        raise ValueError(f"{where} holds ops that are not TFLite builtins (LiteRT cannot run them): "
                         f"{', '.join(not_builtin)}")


def _examples(config: DAGANConfig, representative_data, batch: int):
    """The calibration dataset generator: `representative_data` (or `representative_examples`), each
    input with a batch axis of `batch`."""
    examples = list(representative_data) if representative_data is not None else representative_examples(config)

    def dataset():
        for ex in examples:
            yield {k: np.repeat(np.asarray(v)[None], batch, axis=0) for k, v in ex.items()}

    return dataset


def _converter_options(quantize: str, dataset=None) -> dict:
    """TFLiteConverter settings for `quantize`, as Keras' LiteRT exporter takes them: builtin ops only."""
    if quantize == "none":
        return {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "fp16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS], "supported_types": [tf.float16]}}
    # int8 kernels wherever one exists; the integer bookkeeping (one-hot, edges, casts) stays as is
    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": dataset,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]}}


def _int8_with_float_ops(synthesizer: Synthesizer, dataset, int8_float_ops, batch: int | None) -> bytes:
    """int8 with the op types `int8_float_ops` in float: Keras' SavedModel export, then TensorFlow's
    documented selective quantization (calibrate once, quantize with a denylist)."""
    with tempfile.TemporaryDirectory(prefix="dagan_tflite_") as tmp:
        saved = os.path.join(tmp, "saved_model")
        synthesizer.export(saved, format="tf_saved_model", batch=batch, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serving_default"])
        for key, value in _converter_options("int8", dataset).items():
            if key == "target_spec":
                for spec_key, spec_value in value.items():
                    setattr(converter.target_spec, spec_key, spec_value)
            else:
                setattr(converter, key, value)
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(int8_float_ops))
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options)
        return debugger.get_nondebug_quantized_model()


def convert_to_tflite(synthesizer: Synthesizer, config: DAGANConfig, out: str, quantize: str = "none",
                      representative_data=None, int8_float_ops=INT8_FLOAT_OPS, batch: int | None = None) -> str:
    """Convert the Synthesizer to a .tflite file at `out`; returns `out`.
    `config`: where int8 calibration examples come from (`representative_examples`).

    quantize: 'none' (fp32), 'fp16' (float16 weights, float32 compute) or 'int8': int8 weights and
    int8 activations calibrated on `representative_data` (an iterable of dicts as
    `representative_examples` returns; by default the config's data or demo scenes), except the op
    types in `int8_float_ops` (INT8_FLOAT_OPS: SPADE's elementwise MUL / ADD), which stay float;
    `int8_float_ops=()` gives a strictly full-integer model (for integer-only accelerators; much
    lower fidelity, see INT8_FLOAT_OPS). Inputs and outputs are int32 labels and a uint8 image in
    every mode. `batch`: a fixed batch size (the web page needs 1), None for a dynamic one.
    Checks that only builtin ops remain.
    """
    if batch is not None and batch < 1:
        raise ValueError(f"batch={batch} must be a positive batch size (or None for a dynamic batch)")
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize={quantize!r} is not a TFLite mode; choose one of {', '.join(QUANTIZE_MODES)}")
    # integer one-hot: the int8 quantizer turns a float ONE_HOT into 0.5 everywhere; the int32 one
    # stays exact and only its cast to float is quantized (identical numbers in fp32 / fp16)
    synthesizer = with_integer_one_hot(synthesizer)
    dataset = _examples(config, representative_data, batch or 1) if quantize == "int8" else None
    with atomic_path(out, what="TFLite model") as tmp:
        if quantize == "int8" and int8_float_ops:
            with open(tmp, "wb") as f:
                f.write(_int8_with_float_ops(synthesizer, dataset, int8_float_ops, batch))
        else:
            synthesizer.export(tmp, format="litert", batch=batch, verbose=False, **_converter_options(quantize, dataset))
        check_builtin_ops(tmp, where=f"TFLite model for {out}")
    return out
