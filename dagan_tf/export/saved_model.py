"""SavedModel export in TF Serving's layout: `<base>/<version>/`, base `saved_models/<name>` or `--out`,
written by Keras' `ExportArchive` (`serving.serving_archive`).

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

from dagan_tf.config import DAGANConfig, save_config
from dagan_tf.export.serving import serving_archive
from dagan_tf.models.synthesizer import Synthesizer
from dagan_tf.files import atomic_path

__all__ = ["DEFAULT_BASE_DIR", "export_saved_model", "next_version"]

DEFAULT_BASE_DIR = "saved_models"


def next_version(model_dir: str) -> int:
    """1 + the largest integer folder name under `model_dir` (TF Serving's versions), or 1."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir)
                if re.fullmatch(r"\d+", d) and os.path.isdir(os.path.join(model_dir, d))]
    return max(versions, default=0) + 1


def export_saved_model(synthesizer: Synthesizer, config: DAGANConfig, out: str | None = None,
                       name: str | None = None) -> str:
    """Write the serving SavedModel as the next version of a model folder; returns the version's folder.

    `out` is the model's base folder, what TF Serving's `--model_base_path` names (default
    `saved_models/<name>`, name defaulting to `config.name`); the SavedModel goes to `out/<version>/`,
    version = 1 + the largest integer folder there, or 1 (`next_version`). The model is written beside
    its target and renamed into place, so a TF Serving instance watching the folder never sees half a
    version. Raises ValueError when `out` is itself a SavedModel (a version folder, not a base folder).
    """
    model_dir = os.path.normpath(out if out is not None else os.path.join(DEFAULT_BASE_DIR, name or config.name))
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        raise ValueError(f"export --out {model_dir} holds a SavedModel itself; --out names the model's base "
                         f"folder (TF Serving's --model_base_path), whose versions are {model_dir}/<n>/: pass "
                         f"{os.path.dirname(model_dir) or '.'} or a new folder")
    out = os.path.join(model_dir, str(next_version(model_dir)))
    if os.path.exists(out):  # a file named like the next version
        raise ValueError(f"export output {out} already exists and is no version folder; remove it")
    with atomic_path(out, what="SavedModel") as tmp:
        serving_archive(synthesizer).write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        save_config(config, os.path.join(tmp, "assets.extra", "dagan_config.yaml"))
    return out
