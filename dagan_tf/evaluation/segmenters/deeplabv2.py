"""DeepLab v2 ResNet-101 MSC (kazuto1011/deeplab-pytorch): the COCO-Stuff segmenter.

Network (libs/models: `DeepLabV2_ResNet101_MSC(182)` = `MSC(DeepLabV2(182, [3, 4, 23, 3],
[6, 12, 18, 24]), scales=[0.5, 0.75])`): the Caffe-style ResNet-101 (7x7 stem, max pool with
`ceil_mode=True`, stride on each stage's first 1x1 conv), stages 4 and 5 dilated 2 and 4 (output
stride 8), and ASPP: the sum of four 3x3 convs with dilations 6, 12, 18, 24 (bias) straight to the
182 classes. MSC runs the base on the image and on copies resized by 0.5 and 0.75
(`F.interpolate(scale_factor=p, bilinear, align_corners=False)`), resizes those logits to the
full-scale logits' size and takes the pixel-wise max. Official checkpoint:
`deeplabv2_resnet101_msc-cocostuff164k-100000.pth` (keys `base.layer1.conv1.conv.weight`, ...).

Evaluation protocol (main.py `test` with configs/cocostuff164k.yaml, `augment=False`):
- input: the image at its own resolution (no resize, no crop: IMAGE.SIZE.TEST 513 only applies to
  training-time cropping), read by OpenCV as BGR float32;
- normalisation: minus the BGR mean (104.008, 116.669, 122.675), no scaling to [0, 1];
- the MSC logits (pixel-wise max over scales 1, 0.5, 0.75) are bilinearly resized to the label size
  (align_corners=False), softmaxed; prediction = argmax;
- labels: COCO-Stuff-164k label PNGs hold 0..181 (things and stuff) and 255 (unlabeled), the
  IGNORE_LABEL; `scores()` drops labels outside [0, 182) and averages IoU over classes present in
  the ground truth (`valid = hist.sum(axis=1) > 0`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from dagan_tf.evaluation.segmenters.base import IGNORE_INDEX, Segmenter
from dagan_tf.evaluation.segmenters.blocks import ConvBN, TorchConv2D, bilinear_resize, res_layer, torch_max_pool

RESNET101_BLOCKS = (3, 4, 23, 3)
ATROUS_RATES = (6, 12, 18, 24)
MSC_SCALES = (0.5, 0.75)
#: configs/cocostuff164k.yaml IMAGE.MEAN, in the B, G, R order the dataset subtracts it
MEAN_BGR = (104.008, 116.669, 122.675)


@keras.saving.register_keras_serializable(package="dagan_tf")
class DeepLabV2(keras.Model):
    """DeepLab v2 + MSC: BGR mean-subtracted `(batch, h, w, 3)` -> logits `(batch, ~h/8, ~w/8, classes)`.

    Args:
        num_classes: output classes (182, COCO-Stuff).
        n_blocks: bottlenecks per ResNet stage ((3, 4, 23, 3): ResNet-101).
        atrous_rates: ASPP dilations ((6, 12, 18, 24)).
        msc_scales: extra input scales whose logits join the pixel-wise max ((0.5, 0.75); () = no MSC).
    """

    def __init__(self, num_classes: int = 182, n_blocks=RESNET101_BLOCKS, atrous_rates=ATROUS_RATES,
                 msc_scales=MSC_SCALES, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.n_blocks = int(num_classes), tuple(int(n) for n in n_blocks)
        self.atrous_rates = tuple(int(r) for r in atrous_rates)
        self.msc_scales = tuple(float(s) for s in msc_scales)
        policy = self.dtype_policy
        self.stem = ConvBN(64, 7, 2, padding=3, dtype=policy, name="layer1_conv1")
        strides, dilations = (1, 2, 1, 1), (1, 1, 2, 4)
        self.stages = [res_layer(n, width, strides=s, dilation_rate=d, stride_in_1x1=True, dtype=policy,
                                 name=f"layer{i + 2}")
                       for i, (n, width, s, d) in enumerate(zip(self.n_blocks, (64, 128, 256, 512),
                                                                strides, dilations))]
        self.aspp = [TorchConv2D(self.num_classes, 3, padding=r, dilation_rate=r, use_bias=True,
                                 dtype=policy, name=f"aspp_c{i}") for i, r in enumerate(self.atrous_rates)]

    def base(self, x):
        """DeepLabV2 without MSC: `(batch, h, w, 3)` -> `(batch, h', w', classes)`."""
        x = torch_max_pool(self.stem(x), 3, 2, 1, ceil_mode=True)
        for stage in self.stages:
            for block in stage:
                x = block(x)
        logits = self.aspp[0](x)
        for conv in self.aspp[1:]:
            logits = logits + conv(x)
        return logits

    def call(self, inputs):
        logits = self.base(inputs)
        height, width = inputs.shape[1:3]
        out_size = logits.shape[1:3]
        for scale in self.msc_scales:
            size = (int(math.floor(height * scale)), int(math.floor(width * scale)))
            scaled = self.base(bilinear_resize(inputs, size, scale=scale))
            logits = ops.maximum(logits, bilinear_resize(scaled, out_size))
        return logits

    def official_weight_layout(self) -> dict:
        """`{key of MSC(DeepLabV2).state_dict(): (variable, kind)}` (all under `base.`)."""
        out = self.stem.official_entries("base.layer1.conv1.conv", "base.layer1.conv1.bn")
        for i, stage in enumerate(self.stages, start=2):
            for j, block in enumerate(stage, start=1):
                out.update(block.official_entries(f"base.layer{i}.block{j}", style="deeplab"))
        for i, conv in enumerate(self.aspp):
            out[f"base.aspp.c{i}.weight"] = (conv.kernel, "conv")
            out[f"base.aspp.c{i}.bias"] = (conv.bias, "vector")
        return out

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "n_blocks": list(self.n_blocks),
                "atrous_rates": list(self.atrous_rates), "msc_scales": list(self.msc_scales)}


def cocostuff_label_table() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, np.int32)
    table[:182] = np.arange(182)
    return table


class DeepLabV2Segmenter(Segmenter):
    """DeepLab v2 ResNet-101 MSC with main.py's `test` pipeline (module docstring).

    `scores` are the MSC logits resized to the input size (main.py softmaxes them; same argmax).
    """

    name = "deeplabv2_resnet101"
    num_classes = 182
    label_table = cocostuff_label_table()

    @property
    def protocol(self) -> dict:
        return {
            "segmenter": "DeepLab v2 ResNet-101 MSC (kazuto1011/deeplab-pytorch, cocostuff164k)",
            "source": "deeplab-pytorch main.py test + configs/cocostuff164k.yaml + libs/utils/metric.py",
            "dataset": "coco", "classes": self.num_classes, "ignore_index": self.ignore_index,
            "resolution": "the input images' own size (no resize); MSC scales 1, 0.5, 0.75 (pixel-wise max)",
            "normalisation": {"channel_order": "BGR", "mean": list(MEAN_BGR), "scale": 1.0},
            "multi_scale": True,
            "label_mapping": "COCO-Stuff 164k values 0..181 kept, 255 (unlabeled) ignored",
            "score": "metric.py scores: hist over 0 <= label < 182; mIoU = nanmean over classes present in GT",
        }

    @staticmethod
    def normalise(images: np.ndarray) -> np.ndarray:
        # the dataset subtracts a float64 mean from cv2's float32 BGR image in place: float64
        # arithmetic, float32 result
        bgr = images[..., ::-1].astype(np.float64)
        return (bgr - np.asarray(MEAN_BGR, np.float64)).astype(np.float32)

    def _scores(self, images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        logits = self.network(self.normalise(images), training=False)
        return ops.convert_to_numpy(bilinear_resize(logits, (height, width)))
