"""ONNX export: Keras' own `Model.export(format="onnx")` of the Synthesizer, run with onnxruntime.

Same contract as the SavedModel: inputs `label` int32 `(batch, H, W)` [, `instance` int32
`(batch, H, W)`] [, `seed` int32 `(batch,)`], output `image` uint8 `(batch, H, W, 3)`; no input checks
(ONNX has no assert op; fixed `(H, W)`). Keras' exporter calls tf2onnx on the model's tf.function
(`tf2onnx.convert.from_keras` itself is broken on Keras 3 models).
"""

from __future__ import annotations

from dagan_tf.export.extras import require_extra
from dagan_tf.files import atomic_path
from dagan_tf.models.synthesizer import Synthesizer

__all__ = ["DEFAULT_OPSET", "convert_to_onnx"]

DEFAULT_OPSET = 17
#: Node domains onnxruntime runs without custom-op libraries.
_STANDARD_DOMAINS = ("", "ai.onnx")


def convert_to_onnx(synthesizer: Synthesizer, out: str, opset: int = DEFAULT_OPSET) -> str:
    """Write the Synthesizer as an ONNX model at `out` (Keras' export); returns `out`.

    Raises ValueError naming the ops tf2onnx could not express in standard ONNX (it leaves them
    in the graph as TensorFlow ops, which no ONNX runtime can run), and MissingExtraError with the
    `pip install` line when the 'onnx' extra (tf2onnx, onnx, onnxruntime) is not installed.
    """
    require_extra("onnx")
    import onnx

    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset={opset}: use opset {DEFAULT_OPSET} or newer")
    with atomic_path(out, what="ONNX model") as tmp:
        synthesizer.export(tmp, format="onnx", opset_version=opset, verbose=False)
        graph = onnx.load(tmp).graph
        foreign = sorted({f"{n.domain}:{n.op_type}" for n in graph.node if n.domain not in _STANDARD_DOMAINS})
        if foreign:
            raise ValueError(f"ONNX model for {out} holds ops outside standard ONNX: {', '.join(foreign)}")
    return out
