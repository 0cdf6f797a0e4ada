"""Data: find and pair the files of every dataset of the paper, and serve them through tf.data.

    ds = build_dataset(cfg, "train", batch_size=cfg.batchSize)
    for batch in ds:  # {'label': (N, H, W) int32, 'instance': (N, H, W) int32, 'image': (N, H, W, 3), 'path'}
        seg = dagan_tf.semantic.semantic_map(batch["label"], batch.get("instance"), cfg)

Label maps travel as integers; the one-hot and edge map are built in the model's graph (semantic.py).
A bad file found while iterating surfaces as a TensorFlow error; `data_error_from(error)` returns the
DataError naming the file (errors.py).

Modules: registry.py (one entry per `dataset_mode`: layout, label-value rule, class names, config
rule), layouts.py (finding and pairing files), loading.py (PIL, as the reference), pipeline.py
(tf.data), transforms.py (preprocess modes, crop, flip), images.py, errors.py, demo.py.
"""

from dagan_tf.data.errors import DataError, data_error_from  # noqa: F401
from dagan_tf.data.layouts import DatasetFiles, phase_folder  # noqa: F401
from dagan_tf.data.loading import load_example  # noqa: F401
from dagan_tf.data.pipeline import build_dataset  # noqa: F401
from dagan_tf.data.registry import DATASET_MODES, dataset_files, map_label_values  # noqa: F401

__all__ = [
    "DATASET_MODES",
    "DataError",
    "DatasetFiles",
    "build_dataset",
    "data_error_from",
    "dataset_files",
    "load_example",
    "map_label_values",
    "phase_folder",
]
