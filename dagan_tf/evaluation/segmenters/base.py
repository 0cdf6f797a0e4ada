"""The `Segmenter` protocol: uint8 images -> class ids as the segmenter's own evaluation script does.

A segmenter couples a Keras network (converted from the official PyTorch checkpoint) with the
reference's evaluation pipeline (preprocessing, scales, resizing back) and its label mapping:
- `scores(images)`: uint8 `(N, H, W, 3)` -> float32 `(N, H, W, num_classes)`, the scores whose
  argmax the reference script takes, at the input resolution;
- `predict(images)`: int32 `(N, H, W)` class ids, the argmax of `scores`;
- `ground_truth(labels)`: raw label-file values `(N, H, W)` -> int32 class ids, `ignore_index`
  (255) where the reference ignores the pixel;
- `protocol`: what `metrics.json` records (resolution, classes, label mapping, normalisation,
  scales, the source script).
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255


class Segmenter:
    """Base class; subclasses set `name`, `num_classes`, `protocol`, `label_table` and `_scores`."""

    name: str = ""
    num_classes: int = 0
    ignore_index: int = IGNORE_INDEX
    #: raw label value (0..255) -> class id or IGNORE_INDEX
    label_table: np.ndarray = np.full(256, IGNORE_INDEX, np.int32)

    def __init__(self, network, batch_size: int = 1):
        self.network = network
        self.batch_size = int(batch_size)

    @property
    def protocol(self) -> dict:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _scores(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _check_images(images) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"segmenters take uint8 RGB images (N, H, W, 3), got {images.dtype} "
                             f"{images.shape}")
        return images

    def scores(self, images: np.ndarray) -> np.ndarray:
        """uint8 `(N, H, W, 3)` -> float32 `(N, H, W, num_classes)`: the scores the reference argmaxes."""
        images = self._check_images(images)
        chunks = [self._scores(images[i:i + self.batch_size])
                  for i in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks, axis=0)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 `(N, H, W, 3)` -> int32 `(N, H, W)` class ids at the input resolution."""
        return np.argmax(self.scores(images), axis=-1).astype(np.int32)

    def ground_truth(self, labels: np.ndarray) -> np.ndarray:
        """Raw label-file values `(N, H, W)` -> int32 class ids, `ignore_index` where ignored."""
        labels = np.asarray(labels).astype(np.int64)
        inside = (labels >= 0) & (labels < len(self.label_table))
        return np.where(inside, self.label_table[np.clip(labels, 0, len(self.label_table) - 1)],
                        self.ignore_index).astype(np.int32)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, num_classes={self.num_classes})"
