"""Keras callbacks of a training run: the global step, the stop at an epoch's end and the demo's time
budget. Snapshots and the periodic backup are in `checkpoints.py`, the CSV and TensorBoard logs in
`logs.py`.

Every callback reads the run's global step from one shared `TrainingProgress`, which
`ProgressTracker` (first in the callback list) sets from the model's one step counter
(`DAGAN.step`, saved with the training state), never from Keras' batch index (which restarts at
every `fit` call: the run calls `fit` once per epoch, and resumed epochs start mid-way). With
`steps_per_execution = k` Keras reports every k steps, so periodic actions fire when the step
*crosses* a multiple of their frequency.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = [
    "TrainingProgress",
    "ProgressTracker",
    "StopAtEpochEnd",
    "StepTrigger",
    "crossed",
]


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a step counter going from `before` to `after` passed a multiple of `every` (> 0)."""
    return every > 0 and after // every > before // every


class StepTrigger:
    """Fires when the global step, seen at each batch end, has crossed a multiple of `every`
    (`steps_per_execution` can move it by several steps between two batch ends)."""

    def __init__(self, every: int, step: int = 0):
        self.every = int(every)
        self.before = int(step)

    def fired(self, step: int) -> bool:
        due = crossed(self.before, step, self.every)
        self.before = int(step)
        return due


def _scalar(value) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).reshape(()))


class TrainingProgress:
    """Where a run stands: the global step (iterations done), epochs and the stop request.

    `step` counts iterations since the start of the run (not of this process); the 0-based epoch
    being trained is `step // steps_per_epoch`.
    """

    def __init__(self, steps_per_epoch: int, total_epochs: int, step: int = 0):
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_epochs = int(total_epochs)
        self.step = int(step)
        self.stop_requested = False
        self.last_logs: dict[str, float] = {}

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.total_epochs

    @property
    def epoch(self) -> int:
        """0-based epoch the next step belongs to."""
        return self.step // self.steps_per_epoch

    def epoch_completed(self, epoch: int) -> bool:
        """Whether the 0-based `epoch` has run all its steps (fit also ends epochs early on a stop)."""
        return self.step >= (epoch + 1) * self.steps_per_epoch


class _ProgressCallback(keras.callbacks.Callback):
    def __init__(self, progress: TrainingProgress):
        super().__init__()
        self.progress = progress


class ProgressTracker(_ProgressCallback):
    """Sets `progress.step` from the model's step counter (`model.step`: the iterations the model has
    really run, also when `steps_per_execution` ends an epoch's last call early) and keeps the last
    step's logs as floats. Put it first."""

    def on_train_batch_end(self, batch, logs=None):
        self.progress.step = int(keras.ops.convert_to_numpy(self.model.step))
        self.progress.last_logs = {k: _scalar(v) for k, v in (logs or {}).items()}


class StopAtEpochEnd(keras.callbacks.Callback):
    """Ends `fit` after one epoch: the run calls `fit(epochs=total, initial_epoch=e)` per epoch so
    that Keras' progress bar says 'Epoch e+1/total' while each epoch gets its own data order."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True
