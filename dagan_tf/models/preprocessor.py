"""The front door's first half: a label map as its file stores it -> the generator's semantic map.

    pre = SemanticPreprocessor.from_dagan_config(cfg)
    seg = pre({"label": file_values, "instance": instance_ids})   # (N, H, W, semantic_nc) float32

keras-hub's preprocessor habit: one layer, tied to the model that uses it, owns the whole input rule.
docs/reference.md, 'The input tensor':
1. file values -> class ids, by the dataset's label-value rule (`data.registry.LabelValues.class_ids`:
   255 -> `label_nc` (dontcare); ADE20K files are shifted by one and 0 (unlabeled) -> `label_nc`);
2. one-hot over `label_nc` (+ 1 with `contain_dontcare_label`) channels;
3. unless `no_instance`, one more channel marking instance boundaries (`instance_edge_map`).
Training (`training.DAGAN`), `Synthesizer` (generate, evaluate, every export, paint) and the tests call
this layer; nothing else maps label values. Written with `keras.ops` only: the same layer runs in the
trainer's graph, in every exported model and under every Keras backend. No checks at run time (the
SavedModel adds its own): a value that is no class gives an all-zero one-hot row.
"""

from __future__ import annotations

import keras
from keras import ops

from dagan_tf.config import one_hot_channels, semantic_channels
from dagan_tf.data.registry import LabelValues, label_values

__all__ = ["SemanticPreprocessor", "instance_edge_map"]


def _squeeze_channel(x):
    """(batch, height, width, 1) -> (batch, height, width); (batch, height, width) unchanged."""
    return ops.squeeze(x, axis=-1) if len(x.shape) == 4 else x


def instance_edge_map(instance, dtype="float32"):
    """Instance boundaries: 1 where a pixel's id differs from its left, right, upper or lower neighbour.

    Both sides of every boundary are marked, as the reference's `get_edges`:
    `edge[..., 1:] |= t[..., 1:] != t[..., :-1]`, `edge[..., :-1] |= (same)`, and likewise vertically.

    Args:
        instance: integer ids, (batch, height, width) or (batch, height, width, 1).
    Returns:
        (batch, height, width) of `dtype`, values 0 or 1.
    """
    t = _squeeze_channel(instance)
    across = ops.cast(ops.not_equal(t[:, :, 1:], t[:, :, :-1]), dtype)  # (batch, height, width - 1)
    down = ops.cast(ops.not_equal(t[:, 1:, :], t[:, :-1, :]), dtype)  # (batch, height - 1, width)
    edge = ops.maximum(ops.pad(across, [[0, 0], [0, 0], [1, 0]]), ops.pad(across, [[0, 0], [0, 0], [0, 1]]))
    edge = ops.maximum(edge, ops.pad(down, [[0, 0], [1, 0], [0, 0]]))
    return ops.maximum(edge, ops.pad(down, [[0, 0], [0, 1], [0, 0]]))


def _one_hot(ids, depth: int, integer: bool):
    """(batch, height, width) int32 -> (batch, height, width, depth) float32.

    `integer`: built in int32 arithmetic, `max(1 - |id - class|, 0)`, then cast, not as a ONE_HOT
    op. TFLite's int8 quantizer breaks a float ONE_HOT (its ones come out near 0.5: about 9 dB PSNR
    against fp32 on the shipped demo model), and its converter folds both `cast(one_hot_int, float)`
    and `cast(equal(id, range), float)` into one; this arithmetic form is not folded, so the one-hot
    stays exact and only its cast to float is quantized. tf2onnx converts only the float ONE_HOT,
    so that stays the default.
    """
    if integer:
        distance = ops.abs(ops.expand_dims(ids, -1) - ops.arange(depth, dtype="int32"))
        return ops.cast(ops.maximum(1 - distance, 0), "float32")
    return ops.one_hot(ids, depth, axis=-1, dtype="float32")


@keras.saving.register_keras_serializable(package="dagan_tf")
class SemanticPreprocessor(keras.layers.Layer):
    """Label file values (+ instance ids) -> the semantic map `(batch, H, W, semantic_nc)` float32.

    Call on a dict `{"label": int (batch, H, W), "instance": int (batch, H, W)}` ("instance" only
    unless `no_instance`; a trailing channel axis of 1 is accepted), or on the label tensor alone
    when `no_instance`. Output channels: one-hot classes (+ dontcare), then the instance edge map.

    Args:
        label_nc: number of classes (`label_nc` of the config).
        contain_dontcare_label: one more one-hot channel, class id `label_nc`. Defaults to False.
        no_instance: no instance map and no edge channel. Defaults to True.
        label_shift: class id = file value - `label_shift` (ADE20K: 1). Defaults to 0.
        dontcare_values: file values that mean class id `label_nc`. Defaults to (255,).
        integer_one_hot: build the one-hot in int32 arithmetic (the TFLite export's form, see
            `_one_hot`). Defaults to False.
    """

    def __init__(self, label_nc: int, contain_dontcare_label: bool = False, no_instance: bool = True,
                 label_shift: int = 0, dontcare_values=(255,), integer_one_hot: bool = False, **kwargs):
        kwargs.setdefault("dtype", "float32")  # a one-hot is exact in float32 under any policy
        super().__init__(**kwargs)
        self.label_nc = int(label_nc)
        self.contain_dontcare_label = bool(contain_dontcare_label)
        self.no_instance = bool(no_instance)
        self.label_shift = int(label_shift)
        self.dontcare_values = tuple(int(v) for v in dontcare_values)
        self.integer_one_hot = bool(integer_one_hot)
        self.rule = LabelValues(shift=self.label_shift, dontcare_values=self.dontcare_values)

    @classmethod
    def from_dagan_config(cls, config, **kwargs) -> "SemanticPreprocessor":
        """The preprocessor of a `DAGANConfig`: its classes, instance use and dataset's label-value rule."""
        rule = label_values(config)
        return cls(config.label_nc, config.contain_dontcare_label, config.no_instance, rule.shift,
                   rule.dontcare_values, **kwargs)

    @property
    def num_classes(self) -> int:
        """One-hot channels: `label_nc`, plus one for dontcare."""
        return one_hot_channels(self.label_nc, self.contain_dontcare_label)

    @property
    def semantic_nc(self) -> int:
        """Output channels: one-hot (+ dontcare) + instance edge channel."""
        return semantic_channels(self.label_nc, self.contain_dontcare_label, self.no_instance)

    def class_ids(self, label):
        """File values (batch, H, W) -> class ids int32 (`LabelValues.class_ids`)."""
        return self.rule.class_ids(_squeeze_channel(label), self.label_nc, xp=ops)

    def call(self, inputs):
        label = inputs["label"] if isinstance(inputs, dict) else inputs
        one_hot = _one_hot(self.class_ids(label), self.num_classes, self.integer_one_hot)
        if self.no_instance:
            return one_hot
        if not isinstance(inputs, dict) or inputs.get("instance") is None:
            # a programming error caught while tracing, not a run-time check
            raise ValueError("SemanticPreprocessor: no_instance is false, so call it on {'label': ..., "
                             "'instance': ...}")
        edge = instance_edge_map(inputs["instance"])
        return ops.concatenate([one_hot, ops.expand_dims(edge, -1)], axis=-1)

    def compute_output_shape(self, input_shape):
        label_shape = input_shape["label"] if isinstance(input_shape, dict) else input_shape
        return tuple(label_shape[:3]) + (self.semantic_nc,)

    def get_config(self):
        return {**super().get_config(), "label_nc": self.label_nc,
                "contain_dontcare_label": self.contain_dontcare_label, "no_instance": self.no_instance,
                "label_shift": self.label_shift, "dontcare_values": list(self.dontcare_values),
                "integer_one_hot": self.integer_one_hot}
