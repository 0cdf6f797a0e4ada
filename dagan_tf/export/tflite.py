"""TFLite export: fp32, fp16 (float16 weights) or int8 (calibrated int8 weights and activations), builtin ops only.

The model converted is the serving function (`serving.build_serving_function(validate=False)`):
label `(batch, H, W)` int32 [, instance int32 (batch, H, W)] [, seed int32 (batch,)] in, image uint8
`(batch, H, W, 3)` out, under the signature `serving_default` (LiteRT's `get_signature_runner()`).
The input checks of the SavedModel are left out (TFLite has no assert op).

Two traps on the way (TF 2.21 / Keras 3):
- `TFLiteConverter.from_keras_model` fails on Keras 3 models, so we go through a SavedModel.
- Converting a SavedModel that holds the generator's variables keeps them as resource variables
  (VAR_HANDLE / READ_VARIABLE) whose values are not written into the flatbuffer, which then computes
  garbage. So the serving function is frozen first (variables -> constants) and that frozen function
  is what the temporary SavedModel holds.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from dagan_tf.config import DAGANConfig
from dagan_tf.data import registry as dataset_registry
from dagan_tf.export.extras import require_extra
from dagan_tf.files import atomic_path
from dagan_tf.export.serving import IMAGE, INSTANCE, LABEL, SEED, build_serving_function, with_integer_one_hot
from dagan_tf.models.synthesizer import Synthesizer

__all__ = [
    "INT8_FLOAT_OPS",
    "QUANTIZE_MODES",
    "check_builtin_ops",
    "convert_to_tflite",
    "representative_examples",
    "save_frozen_serving_model",
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


def save_frozen_serving_model(synthesizer: Synthesizer, directory: str, batch: int | None = None) -> str:
    """Write a variable-free SavedModel whose `serving_default` is the assert-free serving function
    (batch axis `batch`, or dynamic with None: LiteRT.js runs fixed shapes only)."""
    # integer one-hot: the int8 quantizer turns a float ONE_HOT into 0.5 everywhere; the int32 one
    # stays exact and only its cast to float is quantized (identical numbers in fp32 / fp16)
    serve = build_serving_function(with_integer_one_hot(synthesizer), validate=False)
    concrete = serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    specs = [tf.TensorSpec([batch] + s.shape[1:], s.dtype, name=s.name) for s in serve.input_signature]
    names = [s.name for s in specs]

    def frozen_serve(*args):
        # the frozen graph returns a flat list; give the output its name back
        return {IMAGE: frozen(**dict(zip(names, args)))[0]}

    module = tf.Module()
    module.serve = tf.function(frozen_serve, input_signature=specs, autograph=False)
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve.get_concrete_function()})
    return directory


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


def _converter(saved_model_dir: str, config: DAGANConfig, quantize: str, representative_data, batch: int = 1):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops
    if quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        examples = list(representative_data) if representative_data is not None else representative_examples(config)

        def dataset():
            for ex in examples:
                yield {k: np.repeat(np.asarray(v)[None], batch, axis=0) for k, v in ex.items()}  # batch axis

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        # int8 kernels wherever one exists; the integer bookkeeping (one-hot, edges, casts) stays as is
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _convert(converter, quantize: str, int8_float_ops) -> bytes:
    if quantize != "int8" or not int8_float_ops:
        return converter.convert()
    # selective quantization, the documented way: calibrate once, then quantize with a denylist
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(int8_float_ops))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options)
    return debugger.get_nondebug_quantized_model()


def convert_to_tflite(synthesizer: Synthesizer, config: DAGANConfig, out: str, quantize: str = "none",
                      representative_data=None, int8_float_ops=INT8_FLOAT_OPS, batch: int | None = None) -> str:
    """Convert the Synthesizer's serving function to a .tflite file at `out`; returns `out`.
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
    with tempfile.TemporaryDirectory(prefix="dagan_tflite_") as tmp:
        saved = save_frozen_serving_model(synthesizer, os.path.join(tmp, "frozen"), batch=batch)
        flatbuffer = _convert(_converter(saved, config, quantize, representative_data, batch or 1),
                              quantize, int8_float_ops)
    check_builtin_ops(flatbuffer, where=f"TFLite model for {out}")
    with atomic_path(out, what="TFLite model") as tmp, open(tmp, "wb") as f:
        f.write(flatbuffer)
    return out
