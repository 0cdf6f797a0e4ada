"""`.keras` snapshots and the periodic backup of a training run, both against the global step
(`callbacks.TrainingProgress`). Snapshots of a completed epoch are written before the backup that
covers its last step, so a kill between them leaves nothing to miss on resume (`NetworkSnapshots`
writes a missing one again).
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import keras

from dagan_tf.files import atomic_path
from dagan_tf.training.backup import TrainingBackup
from dagan_tf.training.callbacks import StepTrigger, TrainingProgress, _ProgressCallback

__all__ = ["NetworkSnapshots", "PeriodicBackup", "save_keras_atomic"]


def save_keras_atomic(model: keras.Model, path) -> str:
    """`model.save(path)` through a temporary file and `os.replace`, so `path` is always whole."""
    path = os.fspath(path)
    with atomic_path(path, what="snapshot") as tmp:
        model.save(tmp)
    return path


class NetworkSnapshots(_ProgressCallback):
    """`latest_net_{G,D,E}.keras` every `save_latest_freq` steps; after every `save_epoch_freq`-th
    epoch and the last one, `latest_*` and `<epoch>_net_{G,D,E}.keras` (the reference's `train.py`;
    epochs are 1-based in file names)."""

    def __init__(self, folder, networks: dict, progress: TrainingProgress, save_latest_freq: int,
                 save_epoch_freq: int):
        super().__init__(progress)
        self.folder = os.fspath(folder)
        self.networks = {k: v for k, v in networks.items() if v is not None}
        self.save_latest_freq = int(save_latest_freq)
        self.save_epoch_freq = int(save_epoch_freq)
        self.trigger = StepTrigger(self.save_latest_freq, progress.step)
        self.saved_latest_at = None

    def path(self, tag, key) -> str:
        return os.path.join(self.folder, f"{tag}_net_{key}.keras")

    def save_latest(self):
        if self.saved_latest_at != self.progress.step:
            for key, net in self.networks.items():
                save_keras_atomic(net, self.path("latest", key))
            self.saved_latest_at = self.progress.step

    def save_epoch(self, epoch: int):
        """`<epoch>_net_*.keras`: copies of the latest files, written for this very step."""
        self.save_latest()
        for key in self.networks:
            with atomic_path(self.path(epoch, key), what="snapshot") as tmp:
                shutil.copyfile(self.path("latest", key), tmp)

    def epoch_due(self, epochs_done: int) -> bool:
        """Whether `<epochs_done>_net_*.keras` is one of the run's epoch snapshots."""
        return epochs_done > 0 and ((self.save_epoch_freq > 0 and epochs_done % self.save_epoch_freq == 0)
                                    or epochs_done == self.progress.total_epochs)

    def missing_epoch(self) -> int | None:
        """The epoch whose snapshot is due at the current step but absent (a kill between the
        backup and the copy), or None."""
        epochs_done, in_epoch = divmod(self.progress.step, self.progress.steps_per_epoch)
        if in_epoch or not self.epoch_due(epochs_done):
            return None
        missing = any(not os.path.isfile(self.path(epochs_done, k)) for k in self.networks)
        return epochs_done if missing else None

    def on_train_batch_end(self, batch, logs=None):
        # Here, not in on_epoch_end: this callback runs before PeriodicBackup at the same batch end,
        # so an epoch's snapshot is whole before a backup covering that epoch's last step exists.
        step = self.progress.step
        epochs_done, in_epoch = divmod(step, self.progress.steps_per_epoch)
        if in_epoch == 0 and self.epoch_due(epochs_done):
            self.save_epoch(epochs_done)
            self.trigger.fired(step)
        elif self.trigger.fired(step):
            self.save_latest()


class PeriodicBackup(_ProgressCallback):
    """`backup.save(step)` whenever the global step crosses a multiple of `every`."""

    def __init__(self, backup: TrainingBackup, progress: TrainingProgress, every: int,
                 meta: Callable[[], dict] | None = None):
        super().__init__(progress)
        self.backup = backup
        self.every = int(every)
        self.meta = meta or dict
        self.trigger = StepTrigger(self.every, progress.step)
        self.saved_at = progress.step

    def save_now(self):
        if self.saved_at != self.progress.step:
            self.backup.save(self.progress.step, **self.meta())
            self.saved_at = self.progress.step

    def on_train_batch_end(self, batch, logs=None):
        if self.trigger.fired(self.progress.step):
            self.save_now()
