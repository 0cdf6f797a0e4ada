"""ONNX export of the serving function (tf2onnx), run with onnxruntime.

Same contract as the SavedModel: inputs `label` int32 `(batch, H, W)` [, `instance` int32
`(batch, H, W)`] [, `seed` int32 `(batch,)`], output `image` uint8 `(batch, H, W, 3)`; the input checks
are left out (the assert-free, fixed-size variant of `serving.build_serving_function`).
`tf2onnx.convert.from_keras` is broken on Keras 3 models; `from_function` on the tf.function works.
"""

from __future__ import annotations

from dagan_tf.export.extras import require_extra
from dagan_tf.export.serving import build_serving_function
from dagan_tf.files import atomic_path
from dagan_tf.models.synthesizer import Synthesizer

__all__ = ["DEFAULT_OPSET", "convert_to_onnx"]

DEFAULT_OPSET = 17
#: Node domains onnxruntime runs without custom-op libraries.
_STANDARD_DOMAINS = ("", "ai.onnx")


def convert_to_onnx(synthesizer: Synthesizer, out: str, opset: int = DEFAULT_OPSET) -> str:
    """Write the Synthesizer's serving function as an ONNX model at `out`; returns `out`.

    Raises ValueError naming the ops tf2onnx could not express in standard ONNX (it leaves them
    in the graph as TensorFlow ops, which no ONNX runtime can run), and MissingExtraError with the
    `pip install` line when the 'onnx' extra (tf2onnx, onnx, onnxruntime) is not installed.
    """
    tf2onnx = require_extra("onnx")

    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset={opset}: use opset {DEFAULT_OPSET} or newer")
    serve = build_serving_function(synthesizer, validate=False)
    model_proto, _ = tf2onnx.convert.from_function(serve, input_signature=list(serve.input_signature), opset=opset)
    foreign = sorted({f"{n.domain}:{n.op_type}" for n in model_proto.graph.node if n.domain not in _STANDARD_DOMAINS})
    if foreign:
        raise ValueError(f"ONNX model for {out} holds ops outside standard ONNX: {', '.join(foreign)}")
    with atomic_path(out, what="ONNX model") as tmp, open(tmp, "wb") as f:
        f.write(model_proto.SerializeToString())
    return out
