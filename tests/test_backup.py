"""dagan_tf/training/backup.py: the whole training state, written atomically, the previous backup kept
for when the newest cannot be read; on small stand-in models."""

import errno
import os

import keras
import numpy as np
import pytest

from dagan_tf.files import WriteError
from dagan_tf.training.backup import CorruptBackupError, TrainingBackup
from tests.helpers import backup_values, scramble_variables, small_net, stand_in_dagan


def test_backup_round_trip_covers_every_variable(tmp_path):
    rng = np.random.default_rng(0)
    m = stand_in_dagan()
    scramble_variables(m, rng)
    want = backup_values(m)
    groups = TrainingBackup("unused", m).groups()
    # non-trainable batch-norm statistics, optimizer moments and counters, other model state
    assert {v.path for v in groups["generator"]} >= {"g_bn/moving_mean", "g_bn/moving_variance"}
    assert len(groups["g_optimizer"]) == 2 + 2 * len(m.generator.trainable_variables + m.encoder.trainable_variables)
    assert [v.path for v in groups["model"]] == ["extra"]

    backup = TrainingBackup(tmp_path / "backup", m)
    folder = backup.save(7, epoch=1)
    assert os.path.basename(folder) == "step-000000007"
    scramble_variables(m, rng)
    assert max(np.abs(want[k] - v).max() for k, v in backup_values(m).items()) > 0.1
    meta = backup.restore()
    assert meta["step"] == 7 and meta["epoch"] == 1
    got = backup_values(m)
    assert max(np.abs(want[k] - got[k]).max() for k in want) == 0.0


def test_backup_is_atomic_and_keeps_the_two_newest(tmp_path):
    m = stand_in_dagan(with_encoder=False)
    backup = TrainingBackup(tmp_path / "backup", m)
    backup.save(3)
    m.extra.assign([5.0, 6.0])
    backup.save(6)
    # a writer killed half-way leaves a temporary folder; a folder without meta.json is no backup
    os.makedirs(tmp_path / "backup" / ".tmp-000000009-123")
    os.makedirs(tmp_path / "backup" / "step-000000012")
    (tmp_path / "backup" / "step-000000012" / "state.npz").write_bytes(b"partial")
    assert sorted(os.listdir(tmp_path / "backup")) == [".tmp-000000009-123", "step-000000003", "step-000000006",
                                                       "step-000000012"]
    path, meta = backup.latest()
    assert meta["step"] == 6 and path.endswith("step-000000006")
    m.extra.assign([0.0, 0.0])
    assert backup.restore()["step"] == 6
    np.testing.assert_array_equal(np.array(m.extra), [5.0, 6.0])
    backup.save(9)
    backup.save(10)
    # the leftover temporary folder is gone, 3 and 6 deleted (the two newest are kept: 9 in case 10
    # cannot be read); 12 (no meta.json) was never ours to delete
    assert sorted(os.listdir(tmp_path / "backup")) == ["step-000000009", "step-000000010", "step-000000012"]


def test_backup_of_another_model_is_refused_with_its_path(tmp_path):
    TrainingBackup(tmp_path / "b", stand_in_dagan()).save(1)
    with pytest.raises(ValueError, match=r"backup .*step-000000001.*'encoder' holds \d+ variables"):
        TrainingBackup(tmp_path / "b", stand_in_dagan(with_encoder=False)).restore()
    other = stand_in_dagan()
    other.generator = small_net("g", units=4)
    other.variables = other.generator.variables + other.discriminator.variables + other.encoder.variables + [other.extra]
    other.g_optimizer = keras.optimizers.Adam(name="g2")
    other.g_optimizer.build(other.generator.trainable_variables + other.encoder.trainable_variables)
    with pytest.raises(ValueError, match=r"variable g_dense/kernel has shape \(4, 3\) but .* \(4, 4\)"):
        TrainingBackup(tmp_path / "b", other).restore()


def test_a_corrupt_newest_backup_is_reported_and_the_previous_used(tmp_path):
    m = stand_in_dagan(with_encoder=False)
    backup = TrainingBackup(tmp_path / "backup", m)
    m.extra.assign([1.0, 2.0])
    backup.save(3)
    m.extra.assign([5.0, 6.0])
    newest = backup.save(6)
    with open(os.path.join(newest, "state.npz"), "r+b") as f:  # a truncated copy
        f.truncate(100)
    m.extra.assign([0.0, 0.0])
    fresh = TrainingBackup(tmp_path / "backup", m)
    assert fresh.restore()["step"] == 3
    np.testing.assert_array_equal(np.array(m.extra), [1.0, 2.0])
    assert len(fresh.warnings) == 1 and fresh.warnings[0].startswith(f"backup {newest} is corrupt (state.npz:")
    # a corrupt meta.json too: passed over by latest(), which the run uses to decide where it stands
    with open(os.path.join(newest, "meta.json"), "w") as f:
        f.write("{trunc")
    path, meta = fresh.latest()
    assert meta["step"] == 3 and f"backup {newest} is corrupt (meta.json:" in fresh.warnings[-1]
    # nothing readable left: an error naming the folder, not a silent restart at step 0
    with open(os.path.join(path, "state.npz"), "w") as f:
        f.write("x")
    with pytest.raises(CorruptBackupError, match=r"step-000000003 is corrupt .*no older backup is left"):
        TrainingBackup(tmp_path / "backup", m).restore()


def test_a_full_disk_during_a_backup_leaves_nothing_and_names_the_path(tmp_path, monkeypatch):
    m = stand_in_dagan()
    backup = TrainingBackup(tmp_path / "backup", m)
    backup.save(2)
    calls = []

    def disk_full(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:  # a few arrays in: the backup is half written
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    real = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(WriteError) as info:
        backup.save(4)
    target = os.path.join(str(tmp_path / "backup"), "step-000000004")
    assert info.value.strerror == f"cannot write training backup {target}: no space left on the device"
    assert os.listdir(tmp_path / "backup") == ["step-000000002"]  # no partial folder, the old one intact
    monkeypatch.undo()
    assert TrainingBackup(tmp_path / "backup", m).restore()["step"] == 2


def _two_branch_net(first: str):
    """A network with two parallel Dense layers 'a' and 'b' (their sum), created and called in the
    order `first` says."""
    inp = keras.Input((3,))
    branches = [keras.layers.Dense(2, name=name)(inp) for name in (first, "ab".replace(first, ""))]
    return keras.Model(inp, keras.layers.Add(name="sum")(branches), name="g")


def _with_generator(m, generator):
    m.generator = generator
    m.g_optimizer = keras.optimizers.Adam(1e-3, name="g_opt")
    m.g_optimizer.build(m.generator.trainable_variables + m.encoder.trainable_variables)
    m.variables = [v for n in (m.generator, m.discriminator, m.encoder) for v in n.variables] + [m.extra]
    return m


def test_a_backup_restores_by_name_when_the_variables_are_created_in_another_order(tmp_path):
    rng = np.random.default_rng(1)
    before = _with_generator(stand_in_dagan(), _two_branch_net(first="a"))
    scramble_variables(before, rng)
    TrainingBackup(tmp_path / "b", before).save(5)
    after = _with_generator(stand_in_dagan(), _two_branch_net(first="b"))
    assert [v.path for v in after.generator.variables] == ["b/kernel", "b/bias", "a/kernel", "a/bias"]
    assert [v.path for v in before.generator.variables] == ["a/kernel", "a/bias", "b/kernel", "b/bias"]
    scramble_variables(after, rng)
    assert TrainingBackup(tmp_path / "b", after).restore()["step"] == 5
    want = {v.path: np.array(v) for v in before.generator.variables + before.g_optimizer.variables}
    got = {v.path: np.array(v) for v in after.generator.variables + after.g_optimizer.variables}
    assert sorted(want) == sorted(got)
    assert max(np.abs(want[k] - got[k]).max() for k in want) == 0.0  # restored by name, not by position
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(before.generator(x), after.generator(x))


def test_a_backup_whose_variables_differ_is_refused_naming_them(tmp_path):
    m = stand_in_dagan()
    TrainingBackup(tmp_path / "b", m).save(2)
    renamed = _with_generator(stand_in_dagan(), small_net("gen"))  # the same shapes, other layer names
    with pytest.raises(ValueError, match=(
            r"^backup .*step-000000002 does not fit the model: the model's generator/gen_dense/kernel, "
            r"generator/gen_dense/bias, generator/gen_bn/gamma \(and \d+ more\) are not in it; it holds "
            r"generator/g_dense/kernel, generator/g_dense/bias, generator/g_bn/gamma \(and \d+ more\), which the model has not\. Was it written with another config\?")):
        TrainingBackup(tmp_path / "b", renamed).restore()
    assert [v.path for v in renamed.generator.variables][:3] == ["gen_dense/kernel", "gen_dense/bias", "gen_bn/gamma"]


def test_a_positional_backup_of_dagan_tf_0_1_still_restores(tmp_path):
    """Format 1 stored `<group>/<index>` in creation order and meta.json without 'format'."""
    import json

    rng = np.random.default_rng(2)
    m = stand_in_dagan()
    scramble_variables(m, rng)
    want = backup_values(m)
    folder = tmp_path / "b" / "step-000000003"
    folder.mkdir(parents=True)
    groups = TrainingBackup("unused", m).groups()
    np.savez(folder / "state.npz", **{f"{g}/{i:05d}": np.array(v) for g, vs in groups.items()
                                      for i, v in enumerate(vs)})
    listing = {g: [[v.path, list(v.shape)] for v in vs] for g, vs in groups.items()}
    (folder / "meta.json").write_text(json.dumps({"step": 3, "variables": listing}))
    scramble_variables(m, rng)
    assert TrainingBackup(tmp_path / "b", m).restore()["step"] == 3
    got = backup_values(m)
    assert max(np.abs(want[k] - got[k]).max() for k in want) == 0.0
