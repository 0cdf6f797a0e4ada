"""Official segmenter checkpoints (PyTorch state_dicts) -> our Keras segmenter networks.

The discipline of `dagan_tf.convert.torch_checkpoint`: every network says where each official key
lives (`network.official_weight_layout()` -> `{torch key: (variable, kind)}`); nothing is assigned
unless every key and shape fits, and a mismatch names the first differing key with both shapes.
Kinds: "conv" (torch `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`), "vector" (as is) and
"depthwise_transpose" (DRN's grouped `ConvTranspose2d` `(c, 1, kh, kw)` -> `(kh, kw, c)`).
`num_batches_tracked` (and mit-semseg's sync-BN accumulators) have no counterpart: inference uses
the running statistics only.

Files: `.pth` needs torch (the 'torch' extra). UperNet's official release is two files,
`encoder_epoch_50.pth` and `decoder_epoch_50.pth`; `read_official_state_dict` merges them under the
`encoder.` / `decoder.` prefixes that mit-semseg's `SegmentationModule.state_dict()` uses.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from dagan_tf.convert.torch_checkpoint import CheckpointMismatchError
from dagan_tf.torch_io import (CheckpointError, as_numpy, read_torch_state_dict, state_dict_of,  # noqa: F401
                               to_keras_layout, torch_shape)

__all__ = ["CheckpointError", "CheckpointMismatchError", "load_official_state_dict",
           "read_official_state_dict", "torch_shape"]

#: Buffers without a counterpart: BN's counter, and the training-only accumulators of mit-semseg's
#: SynchronizedBatchNorm2d (eval mode uses running_mean / running_var only).
IGNORED_SUFFIXES = (".num_batches_tracked", "._tmp_running_mean", "._tmp_running_var", "._running_iter")


def _first_difference(wanted: dict, present: dict) -> str | None:
    """The first key (in the network's order, then the checkpoint's) that differs, with both shapes."""
    for key, shape in wanted.items():
        if key not in present:
            return f"key {key!r} is missing from the checkpoint (network shape {shape})"
        if present[key] != shape:
            return f"key {key!r}: checkpoint shape {present[key]} vs network shape {shape}"
    for key, shape in present.items():
        if key not in wanted:
            return f"key {key!r} (checkpoint shape {shape}) has no place in the network"
    return None


def load_official_state_dict(network, state_dict: Mapping[str, Any], source: str = "<state_dict>"):
    """Assign an official state_dict (`{key: tensor or array}`) to a built segmenter `network`.

    Raises CheckpointMismatchError naming the first differing key and both shapes (and how many
    keys are missing / unexpected / mis-shaped) before anything is assigned. Returns `network`.
    """
    state_dict = state_dict_of(state_dict, source)
    layout = network.official_weight_layout()
    wanted = {k: torch_shape(var, kind) for k, (var, kind) in layout.items()}
    present = {k: tuple(int(s) for s in v.shape) for k, v in state_dict.items()
               if not k.endswith(IGNORED_SUFFIXES)}
    first = _first_difference(wanted, present)
    if first is not None:
        missing = sum(k not in present for k in wanted)
        unexpected = sum(k not in wanted for k in present)
        shapes = sum(k in present and present[k] != s for k, s in wanted.items())
        raise CheckpointMismatchError(
            f"checkpoint {source} does not fit the {network.name} network ({missing} missing, "
            f"{unexpected} unexpected, {shapes} mis-shaped keys); first difference: {first}")
    for key, (variable, kind) in layout.items():
        variable.assign(to_keras_layout(as_numpy(state_dict[key]), kind).astype(variable.dtype))
    return network


def _upernet_pair(path: str) -> tuple[str, str]:
    """(encoder file, decoder file) from a folder or from either file of mit-semseg's release."""
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        encoders = [n for n in names if n.startswith("encoder") and n.endswith(".pth")]
        decoders = [n for n in names if n.startswith("decoder") and n.endswith(".pth")]
        if len(encoders) != 1 or len(decoders) != 1:
            raise FileNotFoundError(
                f"{path}: expected one encoder_*.pth and one decoder_*.pth (mit-semseg's release), "
                f"found {encoders + decoders or 'none'}")
        return os.path.join(path, encoders[0]), os.path.join(path, decoders[0])
    folder, name = os.path.split(path)
    if name.startswith("encoder"):
        return path, os.path.join(folder, "decoder" + name[len("encoder"):])
    if name.startswith("decoder"):
        return os.path.join(folder, "encoder" + name[len("decoder"):]), path
    return path, ""  # a merged file with encoder./decoder. prefixes


def read_official_state_dict(path: str | os.PathLike, upernet: bool = False) -> dict:
    """Read an official `.pth` (UperNet: a folder or either of the encoder/decoder pair) as arrays."""
    path = os.fspath(path)
    if upernet:
        encoder, decoder = _upernet_pair(path)
        if decoder:
            merged = {f"encoder.{k}": v for k, v in read_torch_state_dict(encoder).items()}
            merged.update({f"decoder.{k}": v for k, v in read_torch_state_dict(decoder).items()})
            return {k: as_numpy(v) for k, v in merged.items()}
    return {k: as_numpy(v) for k, v in read_torch_state_dict(path).items()}
