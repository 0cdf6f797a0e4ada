"""`.keras` snapshots of a training run (dagan_tf/training/checkpoints.py), on small stand-in models."""

import os

import keras
import numpy as np

from dagan_tf.training.callbacks import ProgressTracker, TrainingProgress
from dagan_tf.training.checkpoints import NetworkSnapshots, save_keras_atomic
from tests.helpers import drive_callbacks as _drive
from tests.helpers import small_net as _net


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


def test_a_missing_epoch_snapshot_is_found_for_recreation(tmp_path):
    g = _net("g")
    progress = TrainingProgress(steps_per_epoch=4, total_epochs=3, step=8)
    snaps = NetworkSnapshots(tmp_path, {"G": g}, progress, save_latest_freq=100, save_epoch_freq=2)
    assert snaps.missing_epoch() == 2  # killed after the backup of step 8, before 2_net_G.keras
    snaps.save_epoch(2)
    assert snaps.missing_epoch() is None and sorted(os.listdir(tmp_path)) == ["2_net_G.keras", "latest_net_G.keras"]
    progress.step = 4  # epoch 1 has no snapshot (save_epoch_freq 2)
    assert snaps.missing_epoch() is None
