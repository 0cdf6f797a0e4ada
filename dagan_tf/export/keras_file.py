"""A generator `.keras` file for distribution: the network with its config, weights stored in float32 or
float16 (`dagan-tf export --format keras [--quantize fp16]`).

A float16 file is half the size and loads anywhere a float32 one does: Keras casts each stored array to
its float32 variable on loading, so the model computes in float32 with weights rounded to float16
(relative error 2**-11; tests/test_export_keras.py measures the photos). The shipped demo generator
(`dagan_tf/pretrained/demo_net_G.keras`, docs/demo_model.md) is such a file.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile

import numpy as np

from dagan_tf.config import DAGANConfig
from dagan_tf.files import atomic_path
from dagan_tf.models.synthesizer import Synthesizer

__all__ = ["KERAS_QUANTIZE_MODES", "export_keras_file"]

#: What `--quantize` means for `--format keras`: the stored weights' dtype.
KERAS_QUANTIZE_MODES = ("none", "fp16")
_WEIGHTS_MEMBER = "model.weights.h5"


def _float16_weights(h5_bytes: bytes) -> bytes:
    """A Keras weights file with every float32 array stored as float16 (groups and attributes kept)."""
    import h5py

    out = io.BytesIO()
    with h5py.File(io.BytesIO(h5_bytes), "r") as src, h5py.File(out, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(name, item):
            if isinstance(item, h5py.Dataset):
                data = item[()]
                dst.create_dataset(name, data=data.astype(np.float16) if item.dtype == np.float32 else data)
            else:
                dst.require_group(name)
            for key, value in item.attrs.items():
                dst[name].attrs[key] = value

        src.visititems(copy)
    return out.getvalue()


def export_keras_file(synthesizer: Synthesizer, config: DAGANConfig, out: str, quantize: str = "none") -> str:
    """Write the Synthesizer's generator, rebuilt in float32 from `config` (whose data keys, e.g.
    `dataroot`, `name`, the file then carries), to the `.keras` file `out`; `quantize='fp16'` stores the
    weights as float16. Returns `out`."""
    from dagan_tf.models import build_generator

    if quantize not in KERAS_QUANTIZE_MODES:
        raise ValueError(f"quantize={quantize!r} is not a mode of format 'keras'; choose one of "
                         f"{', '.join(KERAS_QUANTIZE_MODES)}")
    generator = build_generator(config, name=synthesizer.generator.name)
    generator.set_weights(synthesizer.generator.get_weights())
    with tempfile.TemporaryDirectory(prefix="dagan_keras_") as tmp:
        plain = os.path.join(tmp, "G.keras")
        generator.save(plain)
        with zipfile.ZipFile(plain) as archive, atomic_path(out, what="generator file") as target:
            with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as packed:
                for member in archive.namelist():
                    data = archive.read(member)
                    if member == _WEIGHTS_MEMBER and quantize == "fp16":
                        data = _float16_weights(data)
                    packed.writestr(member, data)
    return out
