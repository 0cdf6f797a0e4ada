"""Data: find and pair the files of every dataset of the paper, and serve them through tf.data.

    ds = build_dataset(cfg, "train", batch_size=cfg.batchSize)
    for batch in ds:  # {'label': (N, H, W) int32, 'instance': (N, H, W) int32, 'image': (N, H, W, 3), 'path'}
        seg = dagan_tf.semantic.semantic_map(batch["label"], batch.get("instance"), cfg)

Label maps travel as integers; the one-hot and edge map are built in the model's graph (semantic.py).
"""

from dagan_tf.data.datasets import (  # noqa: F401
    DataError,
    DatasetFiles,
    build_dataset,
    dataset_files,
    load_example,
    map_label_values,
    phase_folder,
)

__all__ = [
    "DataError",
    "DatasetFiles",
    "build_dataset",
    "dataset_files",
    "load_example",
    "map_label_values",
    "phase_folder",
]
