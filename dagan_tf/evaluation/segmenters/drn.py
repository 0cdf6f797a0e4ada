"""DRN-D-105 (fyu/drn, `DRNSeg('drn_d_105', 19)` of segment.py): the Cityscapes segmenter.

Network (drn.py + segment.py `DRNSeg`): `base` = the DRN-D trunk without avgpool/fc (layer0: 7x7 conv
16; layer1/2: 3x3 conv stacks 16, 32 (stride 2); layer3..6: bottleneck stages of 3, 4, 23, 3 blocks,
widths 64..512, strides 2, 2, dilations 2, 4; layer7/8: 3x3 conv stacks 512, dilations 2, 1), `seg`
(1x1 conv to 19 classes, bias) and `up`, a grouped `ConvTranspose2d(19, 19, 16, stride=8, padding=4)`
whose weights are the fixed bilinear kernel (`fill_up_weights`, stored in the checkpoint). Output
stride 8: inputs need heights and widths divisible by 8 to be segmented at their own size.

Evaluation protocol (segment.py `test`, the single-scale path `segment.py test --phase val`; the
`--ms` path is not the default and is not reproduced):
- input: the RGB image at its own resolution, no resizing (the generated 512x256 images);
- normalisation: `ToTensor` ([0, 1]) then `Normalize(info.json mean, std)` of Cityscapes,
  mean (0.2901, 0.3281, 0.2870), std (0.1830, 0.1866, 0.1845);
- prediction: argmax over the 19 classes of `up(seg(base(x)))` (the script's LogSoftmax does not
  change the argmax);
- labels: Cityscapes `labelIds` -> train ids 0..18 by cityscapesScripts' table (as the repository's
  datasets/cityscapes/prepare_data.py); every other id (void classes, license plate) -> 255, which
  `fast_hist` drops (`0 <= label < 19`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from dagan_tf.evaluation.segmenters.base import IGNORE_INDEX, Segmenter
from dagan_tf.evaluation.segmenters.blocks import ConvBN, TorchConv2D, res_layer

#: drn_d_105: DRN(Bottleneck, [1, 1, 3, 4, 23, 3, 1, 1], arch='D')
DRN_D_105_LAYERS = (1, 1, 3, 4, 23, 3, 1, 1)
DRN_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
#: datasets/cityscapes/info.json of fyu/drn (statistics of the Cityscapes training images in [0, 1])
CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)
#: Cityscapes label id -> train id (cityscapesScripts labels.py); ids absent here -> 255
CITYSCAPES_ID_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                             24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def bilinear_upsampling_kernel(size: int) -> np.ndarray:
    """segment.py `fill_up_weights`: the `(size, size)` bilinear kernel of a stride size/2 upsampler."""
    f = math.ceil(size / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    axis = 1 - np.abs(np.arange(size) / f - c)
    return np.outer(axis, axis).astype(np.float32)


@keras.saving.register_keras_serializable(package="dagan_tf")
class DepthwiseConvTranspose2D(keras.layers.Layer):
    """Per-channel transposed conv, torch `ConvTranspose2d(c, c, k, stride, padding, groups=c, bias=False)`.

    `(batch, h, w, c)` -> `(batch, (h-1)*s - 2p + k, (w-1)*s - 2p + k, c)`. Variable `kernel`
    `(k, k, c)`, initialised to DRN's bilinear kernel and not trainable (as `up.weight` in DRNSeg).

    Args:
        kernel_size: k (16). strides: s (8). padding: p, cropped from each side (4).
    """

    def __init__(self, kernel_size: int = 16, strides: int = 8, padding: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.strides, self.padding = int(kernel_size), int(strides), int(padding)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        initial = np.repeat(bilinear_upsampling_kernel(self.kernel_size)[:, :, None], channels, axis=2)
        self.kernel = self.add_weight(name="kernel", shape=initial.shape, trainable=False,
                                      initializer=keras.initializers.Constant(initial))

    def call(self, inputs):
        channels = self.kernel.shape[-1]
        # a block-diagonal (k, k, out, in) kernel: each class upsampled on its own (groups=c)
        kernel = ops.expand_dims(self.kernel, -1) * ops.eye(channels, dtype=self.kernel.dtype)
        out = ops.conv_transpose(inputs, kernel, strides=self.strides, padding="valid")
        p = self.padding
        return out[:, p:out.shape[1] - p, p:out.shape[2] - p, :] if p else out

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding}


@keras.saving.register_keras_serializable(package="dagan_tf")
class DRNSeg(keras.Model):
    """fyu/drn `DRNSeg` on a DRN-D trunk: normalised `(batch, h, w, 3)` -> logits `(batch, h, w, classes)`.

    Args:
        num_classes: output classes (19, Cityscapes train ids).
        layers: blocks per stage, DRN's `layers` list ((1, 1, 3, 4, 23, 3, 1, 1): drn_d_105).
        channels: widths per stage (DRN's default (16, 32, 64, 128, 256, 512, 512, 512)).
    """

    def __init__(self, num_classes: int = 19, layers=DRN_D_105_LAYERS, channels=DRN_CHANNELS, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.layers_per_stage = int(num_classes), tuple(int(n) for n in layers)
        self.channels = tuple(int(c) for c in channels)
        n, ch, policy = self.layers_per_stage, self.channels, self.dtype_policy
        self.stages = [[ConvBN(ch[0], 7, padding=3, dtype=policy, name="layer0")],
                       self._conv_stack(ch[0], n[0], 1, 1, "layer1"),
                       self._conv_stack(ch[1], n[1], 2, 1, "layer2"),
                       res_layer(n[2], ch[2], strides=2, in_channels=ch[1], dtype=policy, name="layer3"),
                       res_layer(n[3], ch[3], strides=2, in_channels=4 * ch[2], dtype=policy, name="layer4"),
                       res_layer(n[4], ch[4], dilation_rate=2, in_channels=4 * ch[3], dtype=policy,
                                 name="layer5")]
        if n[5]:
            self.stages.append(res_layer(n[5], ch[5], dilation_rate=4, in_channels=4 * ch[4], dtype=policy,
                                         name="layer6"))
        if n[6]:
            self.stages.append(self._conv_stack(ch[6], n[6], 1, 2, "layer7"))
        if n[7]:
            self.stages.append(self._conv_stack(ch[7], n[7], 1, 1, "layer8"))
        self.seg = TorchConv2D(self.num_classes, 1, use_bias=True, dtype=policy, name="seg")
        self.up = DepthwiseConvTranspose2D(16, 8, 4, dtype=policy, name="up")

    def _conv_stack(self, width, count, strides, dilation, name):
        return [ConvBN(width, 3, strides if i == 0 else 1, padding=dilation, dilation_rate=dilation,
                       dtype=self.dtype_policy, name=f"{name}_{i}") for i in range(count)]

    def call(self, inputs):
        x = inputs
        for stage in self.stages:
            for layer in stage:
                x = layer(x)
        return self.up(self.seg(x))

    def official_weight_layout(self) -> dict:
        """`{key of DRNSeg.state_dict(): (variable, kind)}`: `base.<i>` is the i-th present DRN stage."""
        out = {}
        for i, stage in enumerate(self.stages):
            for j, layer in enumerate(stage):
                if isinstance(layer, ConvBN) and i == 0:  # layer0 = Sequential(conv, bn, relu)
                    out.update(layer.official_entries("base.0.0", "base.0.1"))
                elif isinstance(layer, ConvBN):  # conv stacks: Sequential(conv, bn, relu, conv, ...)
                    out.update(layer.official_entries(f"base.{i}.{3 * j}", f"base.{i}.{3 * j + 1}"))
                else:
                    out.update(layer.official_entries(f"base.{i}.{j}"))
        out["seg.weight"] = (self.seg.kernel, "conv")
        out["seg.bias"] = (self.seg.bias, "vector")
        out["up.weight"] = (self.up.kernel, "depthwise_transpose")
        return out

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "layers": list(self.layers_per_stage), "channels": list(self.channels)}


def cityscapes_label_table() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, np.int32)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        table[label_id] = train_id
    return table


class DRNSegmenter(Segmenter):
    """DRN-D-105 with segment.py's single-scale `test` pipeline (module docstring)."""

    name = "drn_d_105"
    num_classes = 19
    label_table = cityscapes_label_table()

    @property
    def protocol(self) -> dict:
        return {
            "segmenter": "DRN-D-105 (fyu/drn DRNSeg('drn_d_105', 19))",
            "source": "fyu/drn segment.py test (single scale, --phase val)",
            "dataset": "cityscapes", "classes": self.num_classes, "ignore_index": self.ignore_index,
            "resolution": "the input images' own size (no resizing; height, width divisible by 8)",
            "normalisation": {"scale": "1/255", "mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD)},
            "multi_scale": False,
            "label_mapping": "Cityscapes labelIds -> trainIds 0..18 (cityscapesScripts); others -> 255",
            "score": "fast_hist over 0 <= label < 19; per-class IoU, mIoU = nanmean",
        }

    def normalise(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32) / np.float32(255.0)
        return (x - np.asarray(CITYSCAPES_MEAN, np.float32)) / np.asarray(CITYSCAPES_STD, np.float32)

    def _scores(self, images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        if height % 8 or width % 8:
            raise ValueError(f"DRN-D-105 segments at output stride 8: image size {height}x{width} must be "
                             "divisible by 8 (segment.py would fail comparing prediction and label sizes)")
        return ops.convert_to_numpy(self.network(self.normalise(images), training=False))
