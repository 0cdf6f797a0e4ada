"""`PeriodicEvaluation`: FID (and mIoU / pixel accuracy with a segmenter) during training, every few epochs.

Every `eval_freq_epochs` epochs it generates the first `how_many` validation images with the model being
trained (`model(data, training=False)`, as `DAGAN.call`: with `use_vae` z = the encoded photo's mean),
computes the metrics exactly as `dagan-tf evaluate` does (same Inception, formulas, score rules) and puts
them into `logs` as `val_fid`, `val_miou`, `val_accuracy`, so the CSV and TensorBoard callbacks placed
after it record them. The real photos' statistics are computed once, at the first evaluation.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["PeriodicEvaluation"]


class PeriodicEvaluation(keras.callbacks.Callback):
    """Args:
        config: the training config (its 'val' split is used).
        eval_freq_epochs: evaluate after every this many epochs (epochs counted from 1).
        how_many: validation images per evaluation (at least 2; default 500 or all there are).
        inception_weights: FID Inception weights file (default: the published one, downloaded once).
        segmenter: None (FID only) or an object with the Segmenter interface (`predict`, `ground_truth`,
            `num_classes`, `name`, `protocol`) for mIoU / accuracy.
        batch_size: images per generator / Inception call (default 16).
        inception_model: an already built FID Inception for `dims`, instead of `inception_weights`.
        dims: Inception feature size (default 2048, pool3).
    """

    def __init__(self, config, eval_freq_epochs: int, how_many: int = 500, inception_weights=None,
                 segmenter=None, batch_size: int = 16, inception_model=None, dims: int = 2048,
                 verbose: bool = True):
        super().__init__()
        if eval_freq_epochs < 1:
            raise ValueError(f"config key 'eval_freq': must be >= 1 epoch, got {eval_freq_epochs}")
        if how_many < 2:
            raise ValueError(f"config key 'eval_how_many': FID needs at least 2 images, got {how_many}")
        self.config, self.eval_freq_epochs, self.how_many = config, int(eval_freq_epochs), int(how_many)
        self.segmenter, self.batch_size, self.verbose = segmenter, int(batch_size), verbose
        self._inception = (inception_weights, inception_model)
        self._features = None
        self.dims = int(dims)
        self._real_stats = None
        self.history: list[dict] = []

    def _batches(self):
        from dagan_tf.data import build_dataset

        done = 0
        for batch in build_dataset(self.config, "val", batch_size=self.batch_size, shuffle=False):
            n = min(int(batch["label"].shape[0]), self.how_many - done)
            if n <= 0:
                return
            yield {k: v[:n] for k, v in batch.items() if k != "path"}
            done += n

    def evaluate_now(self) -> dict:
        """Generate, compute and return `{'val_fid': ..., ['val_miou', 'val_accuracy']}`."""
        from dagan_tf.evaluation.evaluate import score_rule_for
        from dagan_tf.evaluation.fid import InceptionFeatures, activation_statistics, frechet_distance
        from dagan_tf.evaluation.scores import confusion_matrix, segmentation_scores
        from dagan_tf.visualize import to_uint8_truncated

        if self._features is None:
            weights, model = self._inception
            self._features = InceptionFeatures(weights, dims=self.dims, batch_size=self.batch_size, model=model)
        fake_feats, real_feats, hist = [], [], None
        for batch in self._batches():
            fake = to_uint8_truncated(keras.ops.convert_to_numpy(self.model(batch, training=False)))
            fake_feats.append(self._features(fake))
            if self._real_stats is None:
                real_feats.append(self._features(to_uint8_truncated(batch["image"].numpy())))
            if self.segmenter is not None:
                truth = self.segmenter.ground_truth(batch["label"].numpy())  # file values
                counts = confusion_matrix(truth, self.segmenter.predict(fake), self.segmenter.num_classes)
                hist = counts if hist is None else hist + counts
        if self._real_stats is None:
            self._real_stats = activation_statistics(np.concatenate(real_feats))
        logs = {"val_fid": frechet_distance(*activation_statistics(np.concatenate(fake_feats)), *self._real_stats)}
        if hist is not None:
            scores = segmentation_scores(hist, score_rule_for(self.segmenter))
            logs.update(val_miou=scores["mean_iou"], val_accuracy=scores["accuracy"])
        return logs

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.eval_freq_epochs:
            return
        values = self.evaluate_now()
        self.history.append({"epoch": epoch + 1, **values})
        if logs is not None:
            logs.update(values)
        if self.verbose:
            print(" - ".join([f"epoch {epoch + 1} evaluation"] + [f"{k}: {v:.4f}" for k, v in values.items()]))
