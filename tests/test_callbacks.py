"""The step bookkeeping of a training run (dagan_tf/training/callbacks.py), with the periodic backup and
the CSV log it drives, on small stand-in models."""

import csv

import keras
import pytest

from dagan_tf.training.backup import TrainingBackup
from dagan_tf.training.callbacks import ProgressTracker, TrainingProgress, crossed
from dagan_tf.training.checkpoints import PeriodicBackup
from dagan_tf.training.logs import CSVLossLogger
from tests.helpers import drive_callbacks as _drive
from tests.helpers import stand_in_dagan as _stand_in


def test_crossed_fires_once_per_multiple():
    assert [s for s in range(1, 13) if crossed(s - 1, s, 4)] == [4, 8, 12]
    assert crossed(3, 6, 4) and not crossed(4, 7, 4)  # steps_per_execution jumps
    assert crossed(0, 9, 4) and not crossed(5, 5, 4) and not crossed(0, 100, 0)


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
