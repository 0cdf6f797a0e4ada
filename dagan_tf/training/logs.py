"""The logs of a training run: `loss_log.csv` and TensorBoard, both against the global step.

A resumed run trains again the steps after its backup; both logs drop what they hold after that
step first, so they read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import os
from typing import Callable, Sequence

import numpy as np

from dagan_tf.files import atomic_path
from dagan_tf.training.callbacks import StepTrigger, TrainingProgress, _ProgressCallback

__all__ = ["CSVLossLogger", "EvaluationLogger", "TensorBoardLogger", "prune_event_files", "write_image",
           "write_scalar"]


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
        with atomic_path(self.path, what="loss log") as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, self.columns)
                writer.writeheader()
                writer.writerows(rows)

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
                 display: Callable[[], np.ndarray] | None = None, resume_step: int | None = None):
        super().__init__(progress)
        import tensorflow as tf

        self.log_dir = os.fspath(log_dir)
        if resume_step is not None:
            prune_event_files(self.log_dir, resume_step)
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


def prune_event_files(log_dir, last_step: int) -> int:
    """Drop the events after `last_step` from the TensorBoard files in `log_dir` (a resumed run
    trains those steps again; without this TensorBoard shows them twice). Returns how many were
    dropped."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    log_dir = os.fspath(log_dir)
    if not os.path.isdir(log_dir):
        return 0
    dropped = 0
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith("events.out.tfevents"):
            continue
        path = os.path.join(log_dir, name)
        kept, removed = [], 0
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                event = event_pb2.Event.FromString(record)
                if event.HasField("summary") and event.step > last_step:
                    removed += 1
                else:
                    kept.append(record)
        except tf.errors.DataLossError:
            removed += 1  # a record cut short by the kill
        if removed:
            with atomic_path(path, what="TensorBoard log") as tmp:
                with tf.io.TFRecordWriter(tmp) as writer:
                    for record in kept:
                        writer.write(record)
            dropped += removed
    return dropped


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


class EvaluationLogger(_ProgressCallback):
    """Runs `evaluator.evaluate_now()` (a `dagan_tf.evaluation.callback.PeriodicEvaluation`) after
    every `every`-th completed epoch and records its values (`val_fid`, `val_miou`, ...) against the
    global step: a row of `path` (CSV: step, epoch, values) and TensorBoard scalars `evaluation/<name>`.
    A resume drops the rows after its step first, like the loss log."""

    def __init__(self, evaluator, path, progress: TrainingProgress, every: int,
                 tensorboard: "TensorBoardLogger | None" = None, resume_step: int | None = None):
        super().__init__(progress)
        self.evaluator, self.path, self.every = evaluator, os.fspath(path), int(every)
        self.tensorboard = tensorboard
        if resume_step is not None and os.path.isfile(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f)]
            kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= resume_step]
            with atomic_path(self.path, what="evaluation log") as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(rows[:1] + kept)

    def set_model(self, model):
        super().set_model(model)
        self.evaluator.set_model(model)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if not self.progress.epoch_completed(epoch) or done % self.every:
            return  # fit ended early (max steps, time budget, a signal), or not an evaluation epoch
        values = self.evaluator.evaluate_now()
        step = self.progress.step
        new = not os.path.isfile(self.path)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", "epoch", *values])
            writer.writerow([step, done, *(f"{v:.8g}" for v in values.values())])
        if self.tensorboard is not None:
            with self.tensorboard.writer.as_default(step=step):
                for name, value in values.items():
                    write_scalar(f"evaluation/{name}", float(value), step)
        print(" - ".join([f"epoch {done} evaluation"] + [f"{k}: {v:.4f}" for k, v in values.items()]), flush=True)
        if logs is not None:
            logs.update(values)
