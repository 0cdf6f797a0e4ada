"""SavedModel export in TF Serving's layout: `saved_models/<name>/<version>/`.

Signatures (see `serving.py` for the contract):
- `serving_default`: label int32 `(batch, H, W)` [, instance int32] [, seed int32 `(batch,)`] -> image uint8
- `serving_uint8`: the same with a uint8 label (smaller gRPC requests)
- `semantic_map`: semantic_map float32 `(batch, H, W, semantic_nc)` [, z float32 `(batch, z_dim)`]
  -> image uint8, image_float float32 in [-1, 1]
`saved_model_cli show --dir saved_models/<name>/<version> --all` lists them with dtypes and shapes.
Spatial sizes of the label signatures show as -1: the graph checks them itself (serving.py); the
output shape `(-1, H, W, 3)` shows the model's size. The config is written to
`assets.extra/dagan_config.yaml` (TF Serving ignores it; clients may read the size from it).
"""

from __future__ import annotations

import os
import re
import shutil

import keras
import tensorflow as tf

from dagan_tf.config import DAGANConfig, save_config
from dagan_tf.export.serving import ServingModule

__all__ = ["DEFAULT_BASE_DIR", "export_saved_model", "next_version"]

DEFAULT_BASE_DIR = "saved_models"


def next_version(model_dir: str) -> int:
    """1 + the largest integer folder name under `model_dir` (TF Serving's versions), or 1."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir)
                if re.fullmatch(r"\d+", d) and os.path.isdir(os.path.join(model_dir, d))]
    return max(versions, default=0) + 1


def export_saved_model(generator: keras.Model, config: DAGANConfig, out: str | None = None,
                       name: str | None = None) -> str:
    """Write the serving SavedModel; returns its folder.

    `out=None`: `saved_models/<name>/<next version>/` (name defaults to `config.name`); otherwise `out`
    itself, which must not exist yet. The model is written beside its target and renamed into place,
    so a TF Serving instance watching the folder never sees half a version.
    """
    if out is None:
        model_dir = os.path.join(DEFAULT_BASE_DIR, name or config.name)
        out = os.path.join(model_dir, str(next_version(model_dir)))
    out = os.path.normpath(out)
    if os.path.exists(out):
        raise ValueError(f"export output {out} already exists; choose another --out or remove it")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".tmp-{os.path.basename(out)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        module = ServingModule(generator, config, validate=True)
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        save_config(config, os.path.join(tmp, "assets.extra", "dagan_config.yaml"))
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
