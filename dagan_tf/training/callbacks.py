"""Keras callbacks of a training run: step counting, CSV and TensorBoard logs, `.keras` snapshots,
the crash-safe backup, and the demo's time budget.

Every callback reads the run's global step from one shared `TrainingProgress`, which
`ProgressTracker` (first in the callback list) advances. The run (run.py) calls `fit` once per
epoch (resumed epochs start mid-way), so Keras' own batch index restarts at every call; the global
step does not. With `steps_per_execution = k` Keras reports every k steps, so periodic actions fire
when the step *crosses* a multiple of their frequency.

Why not `keras.callbacks.BackupAndRestore`: it restores the epoch only (an interrupted epoch restarts
at its first step, with a different data order) and misses the optimizer state held as model
attributes. `TrainingBackup` writes every variable of G, D, E (trainable or not: spectral-norm u/v,
batch-norm statistics), both optimizers (moments and iteration counters, which drive the lr
schedule and the VAE noise) and the step, atomically.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
import zipfile
from typing import Callable, Iterable, Sequence

import keras
import numpy as np

__all__ = [
    "TrainingProgress",
    "ProgressTracker",
    "StopAtEpochEnd",
    "CSVLossLogger",
    "TensorBoardLogger",
    "NetworkSnapshots",
    "PeriodicBackup",
    "TimeBudget",
    "TrainingBackup",
    "StepTrigger",
    "crossed",
    "save_keras_atomic",
    "write_image",
    "write_scalar",
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
        self.epoch_start_step = int(step)
        self.stop_requested = False
        self.last_logs: dict[str, float] = {}
        self.fit_steps: int | None = None  # steps in the data of the current fit call, if known

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
    """Advances `progress.step` and keeps the last step's logs as floats. Put it first.

    With `steps_per_execution = k`, Keras reports `batch = begin + k - 1` even when the data ran out
    before (the last call of an epoch of `n` steps, `n % k != 0`), so the count is capped at
    `progress.fit_steps`, the steps the current `fit` call's data holds.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.epoch_start_step = self.progress.step

    def on_train_batch_end(self, batch, logs=None):
        done = int(batch) + 1
        if self.progress.fit_steps is not None:
            done = min(done, self.progress.fit_steps)
        self.progress.step = self.progress.epoch_start_step + done
        self.progress.last_logs = {k: _scalar(v) for k, v in (logs or {}).items()}


class StopAtEpochEnd(keras.callbacks.Callback):
    """Ends `fit` after one epoch: the run calls `fit(epochs=total, initial_epoch=e)` per epoch so
    that Keras' progress bar says 'Epoch e+1/total' while each epoch gets its own data order."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


class CSVLossLogger(_ProgressCallback):
    """Appends `step, epoch, <losses>, lr_G, lr_D` to a CSV file every `every` steps.

    On resume (`resume_step` given) rows written after that step, which the resumed run trains
    again, are dropped first, so the file reads as one uninterrupted run.
    """

    def __init__(self, path, columns: Sequence[str], progress: TrainingProgress, every: int = 1,
                 resume_step: int | None = None):
        super().__init__(progress)
        self.path = os.fspath(path)
        self.columns = ["step", "epoch", *columns]
        self.every = max(1, int(every))
        self.trigger = StepTrigger(self.every, progress.step)
        self._prepare(resume_step)

    def _prepare(self, resume_step):
        rows = []
        if resume_step is not None and os.path.isfile(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames == self.columns:
                    rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def on_train_batch_end(self, batch, logs=None):
        step = self.progress.step
        if not self.trigger.fired(step):
            return
        values = self.progress.last_logs
        row = [step, (step - 1) // self.progress.steps_per_epoch + 1]
        row += [f"{values[c]:.8g}" if c in values else "" for c in self.columns[2:]]
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(row)


class TensorBoardLogger(_ProgressCallback):
    """TensorBoard scalars (every loss and learning rate, every `scalar_every` steps) and an image
    grid `label colour map | generated | real` (every `image_every` steps and at the end), written
    against the global step."""

    def __init__(self, log_dir, progress: TrainingProgress, scalar_every: int, image_every: int,
                 display: Callable[[], np.ndarray] | None = None):
        super().__init__(progress)
        import tensorflow as tf

        self.log_dir = os.fspath(log_dir)
        self.writer = tf.summary.create_file_writer(self.log_dir)
        self.scalar_every = max(1, int(scalar_every))
        self.image_every = max(1, int(image_every))
        self.display = display
        self.scalar_trigger = StepTrigger(self.scalar_every, progress.step)
        self.image_trigger = StepTrigger(self.image_every, progress.step)
        self._last_image_step = None

    def _write_scalars(self, step):
        with self.writer.as_default(step=step):
            for name, value in self.progress.last_logs.items():
                group = "learning_rate" if name.startswith("lr") else "losses"
                write_scalar(f"{group}/{name}", value, step)

    def write_image(self):
        step = self.progress.step
        if self.display is None or self._last_image_step == step:
            return
        grid = self.display()
        with self.writer.as_default(step=step):
            write_image("label | generated | real", grid, step)
        self._last_image_step = step

    def on_train_batch_end(self, batch, logs=None):
        step = self.progress.step
        if self.scalar_trigger.fired(step):
            self._write_scalars(step)
        if self.image_trigger.fired(step):
            self.write_image()

    def close(self):
        self.writer.flush()
        self.writer.close()


def _plugin_metadata(plugin: str):
    from tensorflow.core.framework import summary_pb2

    # TensorBoard's scalar / image plugins, content = their PluginData(version=0), which serialises
    # to b"" (what tensorboard's tf.summary.scalar / image write).
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))


def write_scalar(tag: str, value: float, step: int):
    """A TensorBoard scalar, written with TensorFlow alone.

    `tf.summary.scalar` lives in the `tensorboard` package, which TensorFlow 2.21 no longer installs;
    this writes the same event (`tf.summary.write` with the scalars plugin's metadata), so training
    needs no extra package and `pip install tensorboard` is only needed to look at the logs.
    """
    import tensorflow as tf

    return tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_plugin_metadata("scalars"))


def write_image(tag: str, image: np.ndarray, step: int):
    """A TensorBoard image (uint8 `(height, width, 3)`), as `tf.summary.image` writes it:
    the tensor `[width, height, png]` with the images plugin's metadata."""
    import tensorflow as tf

    png = tf.io.encode_png(tf.convert_to_tensor(image, tf.uint8))
    tensor = tf.stack([tf.as_string(image.shape[1]), tf.as_string(image.shape[0]), png])
    return tf.summary.write(tag, tensor, step=step, metadata=_plugin_metadata("images"))


def save_keras_atomic(model: keras.Model, path) -> str:
    """`model.save(path)` through a temporary file and `os.replace`, so `path` is always whole."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name[:-len('.keras')]}.{os.getpid()}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
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
            tmp = self.path(f".{epoch}.{os.getpid()}.tmp", key)
            shutil.copyfile(self.path("latest", key), tmp)
            os.replace(tmp, self.path(epoch, key))

    def on_train_batch_end(self, batch, logs=None):
        if self.trigger.fired(self.progress.step):
            self.save_latest()

    def on_epoch_end(self, epoch, logs=None):
        if not self.progress.epoch_completed(epoch):
            return  # fit ended early (max steps, time budget): not an epoch end
        done = epoch + 1
        if (self.save_epoch_freq > 0 and done % self.save_epoch_freq == 0) or done == self.progress.total_epochs:
            self.save_epoch(done)


class TimeBudget(_ProgressCallback):
    """Stops training once `seconds` have passed (the demo), drawing a progress bar in seconds
    with the step and the latest losses when `show_bar`.

    The clock starts when training starts, or with `start_at_first_step` when the first step is
    done (so the time tracing the graph takes is not counted). `progress` may be None when the
    callback is handed to `run_training`, which sets it.
    """

    def __init__(self, seconds: float, progress: TrainingProgress | None = None, show_bar: bool = True,
                 shown: Iterable[str] = (), start_at_first_step: bool = False):
        super().__init__(progress)
        self.seconds = float(seconds)
        self.show_bar = show_bar
        self.shown = tuple(shown)
        self.start_at_first_step = start_at_first_step
        self.start = None
        self.bar = None

    def _start(self):
        self.start = time.monotonic()
        if self.show_bar:
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
        if self.bar is not None:
            values = [("step", self.progress.step)]
            values += [(k, self.progress.last_logs[k]) for k in self.shown if k in self.progress.last_logs]
            self.bar.update(min(round(elapsed), self.bar.target), values, finalize=over)
        if over:
            self.progress.stop_requested = True
            self.model.stop_training = True


# ------------------------------------------------------------------------------------------------
# The backup
# ------------------------------------------------------------------------------------------------
_STATE_FILE = "state.npz"
_META_FILE = "meta.json"
_STEP_DIR = "step-"


class TrainingBackup:
    """All training state of a `DAGAN` model in `folder/step-<N>/` (`state.npz` + `meta.json`).

    Groups of variables, in a fixed order: generator, discriminator, encoder (every variable:
    trainable, spectral-norm u/v, batch-norm statistics), g_optimizer, d_optimizer (moments and
    iteration counters) and any other variable of the model (e.g. seed generators). A backup is
    written into a temporary folder and renamed into place (atomic on POSIX), then older ones are
    deleted, so a kill at any moment leaves the previous or the new backup whole.
    """

    def __init__(self, folder, model):
        self.folder = os.fspath(folder)
        self.model = model

    def groups(self) -> dict[str, list]:
        model = self.model
        groups = {
            "generator": list(model.generator.variables),
            "discriminator": list(model.discriminator.variables),
            "encoder": list(model.encoder.variables) if model.encoder is not None else [],
            "g_optimizer": list(model.g_optimizer.variables),
            "d_optimizer": list(model.d_optimizer.variables),
        }
        seen = {id(v) for vs in groups.values() for v in vs}
        groups["model"] = [v for v in model.variables if id(v) not in seen]
        return groups

    # -- finding ------------------------------------------------------------------------------
    def _committed(self) -> list[tuple[int, str]]:
        if not os.path.isdir(self.folder):
            return []
        found = []
        for name in os.listdir(self.folder):
            path = os.path.join(self.folder, name)
            if name.startswith(_STEP_DIR) and name[len(_STEP_DIR):].isdigit() and os.path.isfile(
                    os.path.join(path, _META_FILE)):
                found.append((int(name[len(_STEP_DIR):]), path))
        return sorted(found)

    def latest(self) -> tuple[str, dict] | None:
        """(folder, meta) of the newest whole backup, or None."""
        committed = self._committed()
        if not committed:
            return None
        path = committed[-1][1]
        with open(os.path.join(path, _META_FILE), encoding="utf-8") as f:
            return path, json.load(f)

    # -- writing ------------------------------------------------------------------------------
    def save(self, step: int, **meta) -> str:
        """Write the state at global `step` (plus `meta`, JSON-able) and return its folder."""
        os.makedirs(self.folder, exist_ok=True)
        final = os.path.join(self.folder, f"{_STEP_DIR}{int(step):09d}")
        tmp = os.path.join(self.folder, f".tmp-{int(step):09d}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        groups = self.groups()
        names = {}
        state_path = os.path.join(tmp, _STATE_FILE)
        with zipfile.ZipFile(state_path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for group, variables in groups.items():
                names[group] = []
                for i, var in enumerate(variables):
                    value = np.asarray(keras.ops.convert_to_numpy(var))
                    with zf.open(f"{group}/{i:05d}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, value, allow_pickle=False)
                    names[group].append([var.path, list(value.shape)])
        _fsync(state_path)
        meta = {"step": int(step), **meta, "variables": names, "time": time.time()}
        meta_path = os.path.join(tmp, _META_FILE)
        with open(meta_path, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        _fsync(meta_path)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old_step, old in self._committed():
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        for name in os.listdir(self.folder):  # leftovers of killed writers
            if name.startswith(".tmp-") and os.path.join(self.folder, name) != tmp:
                shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)
        return final

    # -- reading ------------------------------------------------------------------------------
    def restore(self) -> dict | None:
        """Assign the newest backup's values to the model's variables; return its meta (or None).

        Raises ValueError naming the backup and the variable when the networks differ from the
        backed-up ones (another config).
        """
        found = self.latest()
        if found is None:
            return None
        path, meta = found
        state_path = os.path.join(path, _STATE_FILE)
        saved = meta["variables"]
        with np.load(state_path, allow_pickle=False) as state:
            for group, variables in self.groups().items():
                listed = saved.get(group, [])
                if len(listed) != len(variables):
                    raise ValueError(
                        f"backup {path}: '{group}' holds {len(listed)} variables but the model has "
                        f"{len(variables)}; was it written with another config? (delete {self.folder} "
                        "to start over)"
                    )
                for i, var in enumerate(variables):
                    value = state[f"{group}/{i:05d}"]
                    if tuple(value.shape) != tuple(var.shape):
                        raise ValueError(
                            f"backup {path}: variable {listed[i][0]} has shape {tuple(value.shape)} but the "
                            f"model's {var.path} has {tuple(var.shape)}; was it written with another config?"
                        )
                    var.assign(value)
        return meta


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


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
