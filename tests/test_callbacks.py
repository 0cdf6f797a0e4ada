"""The callbacks of a training run (dagan_tf/training/callbacks.py), on small stand-in models."""

import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.training.backup import TrainingBackup
from dagan_tf.training.callbacks import ProgressTracker, TimeBudget, TrainingProgress, crossed
from dagan_tf.training.checkpoints import NetworkSnapshots, PeriodicBackup, save_keras_atomic
from dagan_tf.training.logs import CSVLossLogger, prune_event_files, write_image, write_scalar
from tests.conftest import small_net as _net
from tests.conftest import stand_in_dagan as _stand_in


def test_crossed_fires_once_per_multiple():
    assert [s for s in range(1, 13) if crossed(s - 1, s, 4)] == [4, 8, 12]
    assert crossed(3, 6, 4) and not crossed(4, 7, 4)  # steps_per_execution jumps
    assert crossed(0, 9, 4) and not crossed(5, 5, 4) and not crossed(0, 100, 0)


def _drive(callbacks, model, progress, epoch, batches, per_call=1, logs=None):
    """Call the callbacks like one `fit` epoch of `batches` steps, `per_call` steps per execution;
    `model.step` counts the steps run, as DAGAN.step does (it starts where `progress` says)."""
    if getattr(model, "step", None) is None:
        model.step = keras.Variable(0, dtype="int64", trainable=False, name="step")
    model.step.assign(progress.step)
    for cb in callbacks:
        cb.set_model(model)
        cb.on_epoch_begin(epoch)
    done = 0
    for end in range(per_call - 1, batches + per_call - 1, per_call):
        end = min(end, batches - 1)
        model.step.assign_add(end + 1 - done)  # the steps this execution ran
        done = end + 1
        step_logs = logs(int(model.step)) if logs else {}
        for cb in callbacks:
            cb.on_train_batch_end(end, step_logs)
    for cb in callbacks:
        cb.on_epoch_end(epoch)


def test_progress_backup_and_csv_follow_the_global_step(tmp_path):
    m = _stand_in()
    model = keras.Sequential([keras.layers.Dense(1)])
    progress = TrainingProgress(steps_per_epoch=5, total_epochs=3)
    backup = TrainingBackup(tmp_path / "backup", m)
    saver = PeriodicBackup(backup, progress, every=4)
    path = tmp_path / "loss_log.csv"
    logger = CSVLossLogger(path, ["G_GAN", "D_fake", "lr_G"], progress, every=2)
    logs = lambda s: {"G_GAN": 10.0 + s, "D_fake": 0.5, "lr_G": 1e-4}  # noqa: E731
    cbs = [ProgressTracker(progress), saver, logger]
    _drive(cbs, model, progress, 0, 5, logs=logs)
    _drive(cbs, model, progress, 1, 5, per_call=3, logs=logs)  # steps_per_execution = 3
    assert progress.step == 10 and progress.epoch == 2
    assert backup.latest()[1]["step"] == 8  # crossed 4 (step 4) and 8 (step 8 in the 6..8 call)
    rows = list(csv.DictReader(open(path)))
    assert [int(r["step"]) for r in rows] == [2, 4, 8, 10]  # every 2, as crossed by 1-step and 3-step calls
    assert [int(r["epoch"]) for r in rows] == [1, 1, 2, 2]
    assert float(rows[0]["G_GAN"]) == 12.0 and float(rows[1]["lr_G"]) == pytest.approx(1e-4)

    # resume at step 4: rows after it are dropped, new rows continue the file
    progress = TrainingProgress(5, 3, step=4)
    logger = CSVLossLogger(path, ["G_GAN", "D_fake", "lr_G"], progress, every=2, resume_step=4)
    assert [int(r["step"]) for r in csv.DictReader(open(path))] == [2, 4]
    _drive([ProgressTracker(progress), logger], model, progress, 0, 1, logs=logs)
    _drive([ProgressTracker(progress), logger], model, progress, 1, 2, logs=logs)
    assert [int(r["step"]) for r in csv.DictReader(open(path))] == [2, 4, 6]


def test_snapshots_only_at_completed_epochs(tmp_path):
    g, d = _net("g"), _net("d", 2)
    progress = TrainingProgress(steps_per_epoch=4, total_epochs=3)
    snaps = NetworkSnapshots(tmp_path, {"G": g, "D": d, "E": None}, progress, save_latest_freq=3,
                             save_epoch_freq=2)
    model = keras.Sequential([keras.layers.Dense(1)])
    cbs = [ProgressTracker(progress), snaps]
    _drive(cbs, model, progress, 0, 2)  # stopped early (e.g. max steps): no epoch file, no latest
    assert sorted(os.listdir(tmp_path)) == []
    _drive(cbs, model, progress, 0, 2)  # the rest of epoch 1 (crosses step 3)
    assert sorted(os.listdir(tmp_path)) == ["latest_net_D.keras", "latest_net_G.keras"]
    assert snaps.saved_latest_at == 3  # epoch 1 is no epoch to save (save_epoch_freq 2)
    _drive(cbs, model, progress, 1, 4)
    assert snaps.saved_latest_at == 8
    g.get_layer("g_dense").kernel.assign(np.ones((4, 3), "float32"))  # the last epoch's G differs
    _drive(cbs, model, progress, 2, 4)
    assert sorted(os.listdir(tmp_path)) == ["2_net_D.keras", "2_net_G.keras", "3_net_D.keras", "3_net_G.keras",
                                            "latest_net_D.keras", "latest_net_G.keras"]
    x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    for name in ("3_net_G.keras", "latest_net_G.keras"):
        loaded = keras.saving.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded(x, training=False), g(x, training=False), atol=0)
    loaded = keras.saving.load_model(tmp_path / "2_net_G.keras")
    assert np.abs(np.asarray(loaded(x, training=False)) - np.asarray(g(x, training=False))).max() > 0.1


def test_save_keras_atomic_leaves_no_temporary(tmp_path):
    g = _net("g")
    save_keras_atomic(g, tmp_path / "latest_net_G.keras")
    save_keras_atomic(g, tmp_path / "latest_net_G.keras")  # overwrite
    assert os.listdir(tmp_path) == ["latest_net_G.keras"]


def test_time_budget_stops_training():
    progress = TrainingProgress(10, 1)
    budget = TimeBudget(0.0, progress, show_bar=False)
    model = keras.Sequential([keras.layers.Dense(1)])
    budget.set_model(model)
    budget.on_train_begin()
    budget.on_train_batch_end(0, {})
    assert progress.stop_requested and model.stop_training


def test_tensorboard_events_without_the_tensorboard_package(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        write_scalar("losses/G_GAN", 1.25, step=3)
        write_image("label | generated | real", image, step=4)
    writer.close()
    events = [e for f in os.listdir(tmp_path)
              for e in tf.compat.v1.train.summary_iterator(str(tmp_path / f)) if e.summary.value]
    (scalar,), (picture,) = [e.summary.value for e in events]
    assert (events[0].step, scalar.tag, scalar.metadata.plugin_data.plugin_name) == (3, "losses/G_GAN", "scalars")
    assert tf.make_ndarray(scalar.tensor) == np.float32(1.25)
    assert (events[1].step, picture.metadata.plugin_data.plugin_name) == (4, "images")
    width, height, png = tf.make_ndarray(picture.tensor)
    assert (int(width), int(height)) == (10, 6)
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)


def test_tensorboard_events_after_the_resume_step_are_dropped(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(1, 8):  # a killed run logged steps 1..7; its backup was at step 4
            write_scalar("losses/G_GAN", float(step), step=step)
    writer.close()
    assert prune_event_files(tmp_path, 4) == 3
    steps = [e.step for f in os.listdir(tmp_path)
             for e in tf.compat.v1.train.summary_iterator(str(tmp_path / f)) if e.summary.value]
    assert steps == [1, 2, 3, 4] and len(os.listdir(tmp_path)) == 1
    assert prune_event_files(tmp_path, 4) == 0


def test_a_missing_epoch_snapshot_is_found_for_recreation(tmp_path):
    g = _net("g")
    progress = TrainingProgress(steps_per_epoch=4, total_epochs=3, step=8)
    snaps = NetworkSnapshots(tmp_path, {"G": g}, progress, save_latest_freq=100, save_epoch_freq=2)
    assert snaps.missing_epoch() == 2  # killed after the backup of step 8, before 2_net_G.keras
    snaps.save_epoch(2)
    assert snaps.missing_epoch() is None and sorted(os.listdir(tmp_path)) == ["2_net_G.keras", "latest_net_G.keras"]
    progress.step = 4  # epoch 1 has no snapshot (save_epoch_freq 2)
    assert snaps.missing_epoch() is None


def test_time_budget_prints_lines_not_a_bar_without_a_terminal(capsys):
    progress = TrainingProgress(10, 1)
    budget = TimeBudget(0.0, progress, show_bar=True, shown=("G_GAN",))
    assert not budget.on_terminal  # pytest captures stdout: no terminal
    budget.set_model(keras.Sequential([keras.layers.Dense(1)]))
    budget.on_train_begin()
    progress.step, progress.last_logs = 1, {"G_GAN": 1.5}
    budget.on_train_batch_end(0, {})
    out = capsys.readouterr().out
    assert out == "0/0 s - step: 1 - G_GAN: 1.5\n" and budget.stopped_by_budget
