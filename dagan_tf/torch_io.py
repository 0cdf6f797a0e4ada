"""PyTorch checkpoint I/O, the one public place for it: reading `.pth` state dicts, tensors as NumPy,
and the torch <-> Keras weight layouts. Used by the DAGAN converter (`dagan_tf.convert`), the
segmenters' and Inception's loaders (`dagan_tf.evaluation`) and fine-tuning (`training.init_from`).

`torch` is only needed to read `.pth` files (the `torch` extra); a state dict of arrays needs nothing.
Weight kinds (torch layout -> Keras layout):
- "conv": `(out, in, kh, kw)` -> `(kh, kw, in, out)`
- "dense": `(out, in)` -> `(in, out)`
- "depthwise_transpose": `(channels, 1, kh, kw)` -> `(kh, kw, channels)`
- "vector": as is (biases, spectral-norm vectors, batch-norm statistics)
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

__all__ = ["CheckpointError", "WEIGHT_KINDS", "as_numpy", "read_torch_state_dict", "state_dict_of", "to_keras_layout",
           "to_torch_layout", "torch_shape"]

WEIGHT_KINDS = ("conv", "dense", "depthwise_transpose", "vector")
#: How many bad entries a message lists.
_MAX_LISTED = 8


class CheckpointError(ValueError):
    """A network file exists but cannot be used: unreadable, truncated, not a state_dict / `.keras`
    archive, or the wrong network (the message names the file)."""


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "reading PyTorch .pth checkpoints needs the 'torch' package, which is not installed; "
            "install the extra with `pip install 'dagan-tf[torch]'` (or a CPU wheel: "
            "`pip install torch --index-url https://download.pytorch.org/whl/cpu`), "
            "or pass a state dict of numpy arrays instead of a file"
        ) from e
    return torch


def state_dict_of(obj: Any, source: str) -> dict[str, Any]:
    """The state dict inside what torch.load returned (plain, or under 'state_dict'), without a
    DataParallel 'module.' prefix. Raises CheckpointError naming `source` when it holds none."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(
            f"{source} does not hold a state_dict (a mapping of parameter names to tensors) but a "
            f"{type(obj).__name__}; the official checkpoints are `torch.save(net.state_dict())` files"
        )
    bad = [k for k, v in obj.items() if not hasattr(v, "shape")]
    if bad:
        raise CheckpointError(f"{source}: entries {bad[:_MAX_LISTED]} of the state_dict are not tensors")
    # checkpoints saved from a DataParallel wrapper carry a 'module.' prefix on every key
    if all(k.startswith("module.") for k in obj):
        return {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a `.pth` file into `{key: torch.Tensor}` on the CPU (safe loading: tensors only).

    Raises FileNotFoundError for a missing file, ImportError without torch and CheckpointError for a
    truncated file or one that is not a saved state_dict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    torch = _import_torch()
    size = os.path.getsize(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by format
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} ({size} bytes): it is truncated or not a PyTorch "
            f"state_dict saved with torch.save ({type(e).__name__}: {reason})"
        ) from e
    return state_dict_of(obj, path)


def as_numpy(value) -> np.ndarray:
    """A torch tensor (floating types as float32) or array-like as a NumPy array."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def torch_shape(variable, kind: str) -> tuple:
    """The shape the torch tensor has for one of our variables of weight `kind`."""
    shape = tuple(int(s) for s in variable.shape)
    if kind == "conv":
        kh, kw, cin, cout = shape
        return (cout, cin, kh, kw)
    if kind == "dense":
        return (shape[1], shape[0])
    if kind == "depthwise_transpose":
        kh, kw, channels = shape
        return (channels, 1, kh, kw)
    return shape


def to_keras_layout(array: np.ndarray, kind: str) -> np.ndarray:
    """A torch-layout array of weight `kind` in our Keras layout."""
    if kind == "conv":
        return np.transpose(array, (2, 3, 1, 0))  # OIHW -> HWIO
    if kind == "dense":
        return np.transpose(array)  # (out, in) -> (in, out)
    if kind == "depthwise_transpose":
        return np.transpose(array[:, 0], (1, 2, 0))
    if kind == "vector":
        return array
    raise ValueError(f"unknown weight kind {kind!r}; one of {', '.join(WEIGHT_KINDS)}")


def to_torch_layout(array: np.ndarray, kind: str) -> np.ndarray:
    """One of our weights in the torch tensor's layout (the inverse of `to_keras_layout`)."""
    if kind == "conv":
        return np.transpose(array, (3, 2, 0, 1))  # HWIO -> OIHW
    if kind == "dense":
        return np.transpose(array)
    if kind == "depthwise_transpose":
        return np.transpose(array, (2, 0, 1))[:, None]
    return array
