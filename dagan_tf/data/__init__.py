"""Data: find and pair the files of every dataset of the paper, and serve them through tf.data.

    ds = build_dataset(cfg, "train", batch_size=cfg.batchSize)
    for batch in ds:  # {'label': (N, H, W) int32, 'instance': (N, H, W) int32, 'image': (N, H, W, 3), 'path'}
        seg = dagan_tf.semantic.semantic_map(batch["label"], batch.get("instance"), cfg)

Label maps travel as integers; the one-hot and edge map are built in the model's graph (semantic.py).
A bad file found while iterating surfaces as a TensorFlow error; `data_error_from(error)` returns the
DataError naming the file (errors.py).
"""

from dagan_tf.data.datasets import (  # noqa: F401
    DatasetFiles,
    build_dataset,
    dataset_files,
    load_example,
    map_label_values,
    phase_folder,
)
from dagan_tf.data.errors import DataError, data_error_from  # noqa: F401

__all__ = [
    "DataError",
    "DatasetFiles",
    "build_dataset",
    "data_error_from",
    "dataset_files",
    "load_example",
    "map_label_values",
    "phase_folder",
]
