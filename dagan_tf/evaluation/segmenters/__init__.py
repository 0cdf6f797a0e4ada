"""The segmenters of the papers' protocol, in Keras, converted from their official PyTorch checkpoints.

| dataset    | name                  | network (source)                                   | classes |
|------------|-----------------------|----------------------------------------------------|---------|
| cityscapes | `drn_d_105`           | DRN-D-105 `DRNSeg` (fyu/drn segment.py)            | 19      |
| ade20k     | `upernet101`          | UperNet ResNet-101 (CSAILVision mit-semseg)        | 150     |
| coco       | `deeplabv2_resnet101` | DeepLab v2 ResNet-101 MSC (kazuto1011/deeplab-pytorch) | 182 |

`load_segmenter(name, weights)` returns a `Segmenter` (see `base.py`): `predict` (uint8 images ->
class ids, the reference evaluation pipeline), `ground_truth` (raw label values -> class ids or
255), `protocol` (what metrics.json records). Each network's module docstring and
docs/evaluation_segmenters.md say how each reference script evaluates.
"""

from __future__ import annotations

import os

from dagan_tf.evaluation.segmenters.base import IGNORE_INDEX, Segmenter
from dagan_tf.evaluation.segmenters.convert import (CheckpointMismatchError, load_official_state_dict,
                                                    read_official_state_dict)

__all__ = ["DEFAULT_SEGMENTER", "SEGMENTERS", "IGNORE_INDEX", "Segmenter", "CheckpointMismatchError",
           "build_network", "make_segmenter", "load_segmenter", "convert_segmenter"]

DEFAULT_SEGMENTER = {"cityscapes": "drn_d_105", "ade20k": "upernet101", "coco": "deeplabv2_resnet101"}
SEGMENTERS = ("drn_d_105", "upernet101", "deeplabv2_resnet101")


def _check_name(name: str) -> None:
    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTERS)}")


def build_network(name: str, **kwargs):
    """The Keras network of segmenter `name`, built (variables created); kwargs go to its class
    (smaller variants for tests: `layers=` for DRN, `blocks=`/`fpn_dim=` for UperNet, `n_blocks=`
    for DeepLab v2)."""
    import numpy as np

    _check_name(name)
    if name == "drn_d_105":
        from dagan_tf.evaluation.segmenters.drn import DRNSeg as network_class
    elif name == "upernet101":
        from dagan_tf.evaluation.segmenters.upernet import UperNet as network_class
    else:
        from dagan_tf.evaluation.segmenters.deeplabv2 import DeepLabV2 as network_class
    network = network_class(name=name, **kwargs)
    network(np.zeros((1, 32, 32, 3), np.float32))  # creates every variable
    return network


def make_segmenter(name: str, network, **kwargs) -> Segmenter:
    """Wrap a built `network` in segmenter `name`'s evaluation pipeline."""
    _check_name(name)
    if name == "drn_d_105":
        from dagan_tf.evaluation.segmenters.drn import DRNSegmenter as segmenter_class
    elif name == "upernet101":
        from dagan_tf.evaluation.segmenters.upernet import UperNetSegmenter as segmenter_class
    else:
        from dagan_tf.evaluation.segmenters.deeplabv2 import DeepLabV2Segmenter as segmenter_class
    return segmenter_class(network, **kwargs)


def load_segmenter(name: str, weights: str | os.PathLike, network_kwargs: dict | None = None,
                   **kwargs) -> Segmenter:
    """Segmenter `name` with `weights`: an official `.pth` (converted on the fly; needs torch; for
    UperNet the folder holding `encoder_epoch_50.pth` + `decoder_epoch_50.pth`, or either file), a
    converted `.weights.h5` or a `.keras` file. `network_kwargs`: a smaller variant of the network
    for `.pth` / `.weights.h5` (see `build_network`; `.keras` files carry their own). kwargs go to
    the segmenter (e.g. `batch_size`)."""
    import keras

    _check_name(name)
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise FileNotFoundError(f"segmenter weights not found: {path}")
    if path.endswith(".keras"):
        import dagan_tf.evaluation.segmenters.deeplabv2  # noqa: F401  (registers the classes)
        import dagan_tf.evaluation.segmenters.drn  # noqa: F401
        import dagan_tf.evaluation.segmenters.upernet  # noqa: F401

        network = keras.saving.load_model(path, compile=False)
    elif path.endswith(".weights.h5"):
        network = build_network(name, **(network_kwargs or {}))
        network.load_weights(path)
    else:  # official PyTorch checkpoint: read first (a bad file fails before the costly build)
        state_dict = read_official_state_dict(path, upernet=name == "upernet101")
        network = build_network(name, **(network_kwargs or {}))
        load_official_state_dict(network, state_dict, source=path)
    return make_segmenter(name, network, **kwargs)


def convert_segmenter(name: str, official: str | os.PathLike, out_path: str | os.PathLike) -> str:
    """Convert an official checkpoint of segmenter `name` to `out_path` (`.weights.h5` or `.keras`)."""
    out_path = os.fspath(out_path)
    if not out_path.endswith((".weights.h5", ".keras")):
        raise ValueError(f"output path {out_path!r} must end with '.weights.h5' or '.keras'")
    network = load_segmenter(name, official).network
    if out_path.endswith(".keras"):
        network.save(out_path)
    else:
        network.save_weights(out_path)
    return out_path
