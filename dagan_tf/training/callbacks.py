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

import sys
import time
from typing import Iterable

import keras
import numpy as np


__all__ = [
    "TrainingProgress",
    "ProgressTracker",
    "StopAtEpochEnd",
    "TimeBudget",
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


class TimeBudget(_ProgressCallback):
    """Stops training once `seconds` have passed (the demo), drawing a progress bar in seconds
    with the step and the latest losses when `show_bar`.

    The clock starts when training starts, or with `start_at_first_step` when the first step is
    done (so the time tracing the graph takes is not counted). `progress` may be None when the
    callback is handed to `run_training`, which sets it.
    """

    #: Without a terminal (output to a file or pipe): one line this often instead of a bar.
    LINE_EVERY_S = 30.0

    def __init__(self, seconds: float, progress: TrainingProgress | None = None, show_bar: bool = True,
                 shown: Iterable[str] = (), start_at_first_step: bool = False):
        super().__init__(progress)
        self.seconds = float(seconds)
        self.show_bar = show_bar
        self.on_terminal = sys.stdout.isatty()
        self.stopped_by_budget = False
        self._last_line = None
        self.shown = tuple(shown)
        self.start_at_first_step = start_at_first_step
        self.start = None
        self.bar = None

    def _start(self):
        self.start = time.monotonic()
        if self.show_bar and self.on_terminal:
            self.bar = keras.utils.Progbar(max(1, round(self.seconds)), unit_name="s",
                                           stateful_metrics=["step", *self.shown])

    def on_train_begin(self, logs=None):
        if self.start is None and not self.start_at_first_step:
            self._start()

    def elapsed(self) -> float:
        return 0.0 if self.start is None else time.monotonic() - self.start

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self._start()
        elapsed = self.elapsed()
        over = elapsed >= self.seconds
        values = [("step", self.progress.step)]
        values += [(k, self.progress.last_logs[k]) for k in self.shown if k in self.progress.last_logs]
        if self.bar is not None:
            self.bar.update(min(round(elapsed), self.bar.target), values, finalize=over)
        elif self.show_bar and (over or self._last_line is None or elapsed - self._last_line >= self.LINE_EVERY_S):
            self._last_line = elapsed
            shown = " - ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in values)
            print(f"{elapsed:.0f}/{self.seconds:.0f} s - {shown}", flush=True)
        if over:
            self.stopped_by_budget = True
            self.progress.stop_requested = True
            self.model.stop_training = True
