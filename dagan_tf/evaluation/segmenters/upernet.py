"""UperNet on ResNet-101 (CSAILVision semantic-segmentation-pytorch, `mit-semseg`): the ADE20K segmenter.

Network (mit_semseg/models: `Resnet(resnet101)` encoder + `UPerNet(fc_dim=2048, fpn_dim=512)`):
the "deep stem" ResNet (three 3x3 convs 64, 64, 128, max pool) with stages of 3, 4, 23, 3
bottlenecks (stride on the 3x3 conv), then PPM (adaptive pools 1, 2, 3, 6 -> 1x1 conv 512, upsampled,
concatenated, 3x3 conv 512), an FPN top-down path (1x1 laterals, 3x3 outputs, 512 wide), all levels
upsampled to 1/4 and fused by a 3x3 conv, then a 1x1 conv to 150 classes. Official weights are two
files, `encoder_epoch_50.pth` and `decoder_epoch_50.pth` (keys `encoder.*` / `decoder.*` here).

Evaluation protocol (eval.py `evaluate` + mit_semseg/dataset.py `ValDataset`, config
ade20k-resnet101-upernet.yaml):
- multi-scale: for each short side s in imgSizes (300, 375, 450, 525, 600): scale =
  min(s / short side, imgMaxSize 1000 / long side), size = int(h*scale), int(w*scale) rounded UP to
  a multiple of padding_constant 32, PIL bilinear resize of the RGB image;
- normalisation: [0, 1] then ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225);
- each scale's logits are bilinearly resized (align_corners=False) to the label size (the input
  size here), softmaxed, and averaged over the scales; prediction = argmax;
- labels: ADE20K annotation values 0..150; `segm_transform` subtracts 1, so 0 ("other") -> -1 is
  ignored (here 255) and k -> k-1; scores: `intersectionAndUnion` / `accuracy` over valid pixels.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from PIL import Image

from dagan_tf.evaluation.segmenters.base import IGNORE_INDEX, Segmenter
from dagan_tf.evaluation.segmenters.blocks import (ConvBN, TorchConv2D, adaptive_average_pool,
                                                   bilinear_resize, res_layer, torch_max_pool)

RESNET101_BLOCKS = (3, 4, 23, 3)
POOL_SCALES = (1, 2, 3, 6)
#: config/ade20k-resnet101-upernet.yaml
IMG_SIZES = (300, 375, 450, 525, 600)
IMG_MAX_SIZE = 1000
PADDING_CONSTANT = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="dagan_tf")
class UperNet(keras.Model):
    """mit-semseg UperNet-ResNet: normalised `(batch, h, w, 3)` -> logits `(batch, ~h/4, ~w/4, classes)`.

    Heights and widths should be multiples of 32 (the pipeline rounds them so).

    Args:
        num_classes: output classes (150, ADE20K).
        blocks: bottlenecks per ResNet stage ((3, 4, 23, 3): ResNet-101).
        fpn_dim: width of the PPM output, FPN and fusion convs (512 for 'upernet').
    """

    def __init__(self, num_classes: int = 150, blocks=RESNET101_BLOCKS, fpn_dim: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.blocks, self.fpn_dim = int(num_classes), tuple(int(b) for b in blocks), int(fpn_dim)
        policy = self.dtype_policy
        self.stem = [ConvBN(64, 3, 2, padding=1, dtype=policy, name="conv1"),
                     ConvBN(64, 3, padding=1, dtype=policy, name="conv2"),
                     ConvBN(128, 3, padding=1, dtype=policy, name="conv3")]
        self.stages = [res_layer(n, width, strides=1 if i == 0 else 2, in_channels=in_channels, dtype=policy,
                                 name=f"layer{i + 1}")
                       for i, (n, width, in_channels) in enumerate(zip(self.blocks, (64, 128, 256, 512),
                                                                       (128, 256, 512, 1024)))]
        self.ppm_conv = [ConvBN(512, 1, dtype=policy, name=f"ppm_conv_{i}") for i in range(len(POOL_SCALES))]
        self.ppm_last_conv = ConvBN(self.fpn_dim, 3, padding=1, dtype=policy, name="ppm_last_conv")
        self.fpn_in = [ConvBN(self.fpn_dim, 1, dtype=policy, name=f"fpn_in_{i}") for i in range(3)]
        self.fpn_out = [ConvBN(self.fpn_dim, 3, padding=1, dtype=policy, name=f"fpn_out_{i}") for i in range(3)]
        self.conv_fusion = ConvBN(self.fpn_dim, 3, padding=1, dtype=policy, name="conv_last_0")
        self.classifier = TorchConv2D(self.num_classes, 1, use_bias=True, dtype=policy, name="conv_last_1")

    def encode(self, x):
        """The four ResNet stage outputs (strides 4, 8, 16, 32)."""
        for layer in self.stem:
            x = layer(x)
        x = torch_max_pool(x, 3, 2, 1)
        features = []
        for stage in self.stages:
            for block in stage:
                x = block(x)
            features.append(x)
        return features

    def call(self, inputs):
        features = self.encode(inputs)
        conv5 = features[-1]
        size5 = conv5.shape[1:3]
        pyramid = [conv5] + [conv(bilinear_resize(adaptive_average_pool(conv5, scale), size5))
                             for scale, conv in zip(POOL_SCALES, self.ppm_conv)]
        f = self.ppm_last_conv(ops.concatenate(pyramid, axis=-1))
        fpn_features = [f]
        for i in reversed(range(len(features) - 1)):
            lateral = self.fpn_in[i](features[i])
            f = lateral + bilinear_resize(f, lateral.shape[1:3])
            fpn_features.append(self.fpn_out[i](f))
        fpn_features.reverse()  # [P2 .. P5]
        size2 = fpn_features[0].shape[1:3]
        fused = [fpn_features[0]] + [bilinear_resize(p, size2) for p in fpn_features[1:]]
        return self.classifier(self.conv_fusion(ops.concatenate(fused, axis=-1)))

    def official_weight_layout(self) -> dict:
        """`{key of SegmentationModule.state_dict(): (variable, kind)}` (`encoder.*`, `decoder.*`)."""
        out = {}
        for i, layer in enumerate(self.stem, start=1):
            out.update(layer.official_entries(f"encoder.conv{i}", f"encoder.bn{i}"))
        for i, stage in enumerate(self.stages, start=1):
            for j, block in enumerate(stage):
                out.update(block.official_entries(f"encoder.layer{i}.{j}"))
        for i, layer in enumerate(self.ppm_conv):
            out.update(layer.official_entries(f"decoder.ppm_conv.{i}.0", f"decoder.ppm_conv.{i}.1"))
        out.update(self.ppm_last_conv.official_entries("decoder.ppm_last_conv.0", "decoder.ppm_last_conv.1"))
        for i, layer in enumerate(self.fpn_in):
            out.update(layer.official_entries(f"decoder.fpn_in.{i}.0", f"decoder.fpn_in.{i}.1"))
        for i, layer in enumerate(self.fpn_out):
            out.update(layer.official_entries(f"decoder.fpn_out.{i}.0.0", f"decoder.fpn_out.{i}.0.1"))
        out.update(self.conv_fusion.official_entries("decoder.conv_last.0.0", "decoder.conv_last.0.1"))
        out["decoder.conv_last.1.weight"] = (self.classifier.kernel, "conv")
        out["decoder.conv_last.1.bias"] = (self.classifier.bias, "vector")
        return out

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "blocks": list(self.blocks),
                "fpn_dim": self.fpn_dim}


def ade20k_label_table() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, np.int32)
    table[1:151] = np.arange(150)
    return table


def scaled_size(height: int, width: int, short_side: int, max_size: int = IMG_MAX_SIZE,
                padding_constant: int = PADDING_CONSTANT) -> tuple[int, int]:
    """ValDataset's network input size for one entry of imgSizes: (height, width)."""
    scale = min(short_side / float(min(height, width)), max_size / float(max(height, width)))
    target_h, target_w = int(height * scale), int(width * scale)
    round_up = lambda x: ((x - 1) // padding_constant + 1) * padding_constant  # noqa: E731
    return round_up(target_h), round_up(target_w)


class UperNetSegmenter(Segmenter):
    """UperNet-ResNet101 with mit-semseg's eval.py multi-scale pipeline (module docstring).

    Args:
        network: the built `UperNet`.
        batch_size: images per call (1, as eval.py).
        img_sizes: short sides of the scales averaged (IMG_SIZES, the config's).
    """

    name = "upernet101"
    num_classes = 150
    label_table = ade20k_label_table()

    def __init__(self, network, batch_size: int = 1, img_sizes=IMG_SIZES):
        super().__init__(network, batch_size)
        self.img_sizes = tuple(int(s) for s in img_sizes)

    @property
    def protocol(self) -> dict:
        return {
            "segmenter": "UperNet ResNet-101 (CSAILVision mit-semseg, ade20k-resnet101-upernet)",
            "source": "semantic-segmentation-pytorch eval.py evaluate + mit_semseg/dataset.py ValDataset",
            "dataset": "ade20k", "classes": self.num_classes, "ignore_index": self.ignore_index,
            "resolution": (f"multi-scale: short side {list(self.img_sizes)}, long side <= {IMG_MAX_SIZE}, "
                           f"rounded up to multiples of {PADDING_CONSTANT} (PIL bilinear); softmax scores "
                           "resized to the input size and averaged"),
            "normalisation": {"scale": "1/255", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "multi_scale": True,
            "label_mapping": "ADE20K values: 0 (other) -> 255 (ignored), k -> k-1 for k in 1..150",
            "score": "intersectionAndUnion / accuracy over label >= 0; mIoU = mean of I/(U+1e-10)",
        }

    def normalise(self, image: np.ndarray) -> np.ndarray:
        x = image.astype(np.float32) / np.float32(255.0)
        return (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)

    def resized_inputs(self, image: np.ndarray) -> list[np.ndarray]:
        """One normalised `(1, h_s, w_s, 3)` input per entry of img_sizes, as ValDataset makes them."""
        height, width = image.shape[:2]
        pil = Image.fromarray(image)
        out = []
        for short_side in self.img_sizes:
            target_h, target_w = scaled_size(height, width, short_side)
            resized = np.asarray(pil.resize((target_w, target_h), Image.BILINEAR))
            out.append(self.normalise(resized)[None])
        return out

    def _scores(self, images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        out = []
        for image in images:
            scores = np.zeros((1, height, width, self.num_classes), np.float32)
            for x in self.resized_inputs(image):
                logits = bilinear_resize(self.network(x, training=False), (height, width))
                scores = scores + ops.convert_to_numpy(ops.softmax(logits, axis=-1)) / len(self.img_sizes)
            out.append(scores)
        return np.concatenate(out, axis=0)
