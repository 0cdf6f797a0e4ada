"""Data: find and pair the files of every dataset of the paper, and serve them through tf.data.

    ds = build_dataset(cfg, "train", batch_size=cfg.batchSize)
    for batch in ds:  # {'label': (N, H, W) int32, 'instance': (N, H, W) int32, 'image': (N, H, W, 3), 'path'}
        seg = SemanticPreprocessor.from_dagan_config(cfg)(batch)  # dagan_tf.models

Label maps travel as the integers their files hold; the class ids, one-hot and edge map are built in
the model's graph (`models.SemanticPreprocessor`).
A bad file found while iterating surfaces as a TensorFlow error; `data_error_from(error)` returns the
DataError naming the file (errors.py).

Modules: registry.py (one entry per `dataset_mode`: layout, label-value rule, class names, config
rule), layouts.py (finding and pairing files), loading.py (PIL, as the reference), pipeline.py
(tf.data), transforms.py (preprocess modes, crop, flip), images.py, errors.py, demo.py.
"""

import importlib

#: Public names -> their module. Resolved on first use (PEP 562), so importing a light module of this
#: package (registry, layouts, demo: what `dagan_tf.config` needs) does not load TensorFlow.
_EXPORTS = {
    "DATASET_MODES": "registry",
    "DataError": "errors",
    "DatasetFiles": "layouts",
    "build_dataset": "pipeline",
    "data_error_from": "errors",
    "dataset_files": "registry",
    "load_example": "loading",
    "phase_folder": "layouts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
