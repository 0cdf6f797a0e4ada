"""What a rerun of a training command finds in its run folder: the newest readable backup, whether
the run is already finished, and the config it was started with."""

from __future__ import annotations

import os
import sys

import keras

from dagan_tf.config import DAGANConfig, config_from_dict
from dagan_tf.files import atomic_path
from dagan_tf.training.backup import CorruptBackupError, TrainingBackup

__all__ = ["find_backup", "finished_message", "restore", "save_run_config"]


def config_changes(old_path: str, config: DAGANConfig) -> list[str]:
    """Keys whose values differ from the run's saved config.yaml (resuming with other options)."""
    import yaml

    try:
        with open(old_path, encoding="utf-8") as f:
            old = config_from_dict(yaml.safe_load(f) or {}).to_dict()
    except Exception:  # an unreadable old file is not a reason to stop
        return []
    new = config.to_dict()
    return [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if old.get(k) != new[k]]


def finished_message(config: DAGANConfig, step: int, plan) -> str:
    """What a rerun of a run that reached its target step prints."""
    if step >= plan.total_steps:
        return (f"training run '{config.name}' is finished: step {step} of {plan.total_steps} "
                f"({plan.total_epochs} epochs); nothing to do. Delete "
                f"{os.path.join(config.checkpoints_dir, config.name)} to train again.")
    return (f"training run '{config.name}' is at step {step}, which reaches --max-steps {plan.target}; "
            "nothing to do.")


def find_backup(paths: dict) -> tuple[str, dict] | None:
    """The newest readable backup (folder, meta); corrupt ones are reported and passed over."""
    probe = TrainingBackup(paths["backup"], model=None)
    found = probe.latest()
    for warning in probe.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if found is None and probe.warnings:
        raise CorruptBackupError(f"no readable backup in {paths['backup']} (delete it to start over)")
    return found


def restore(backup: TrainingBackup, plan, found) -> tuple[int, dict | None]:
    """(step, meta) of the restored backup, or (0, None) for a new run."""
    meta = backup.restore() if found else None
    for warning in backup.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not meta:
        return 0, None
    step = int(meta["step"])
    model = backup.model
    if "format" not in meta:  # a dagan-tf 0.1 backup has no step variable
        model.step.assign(step)
    if int(keras.ops.convert_to_numpy(model.step)) != step:
        raise CorruptBackupError(f"backup of step {step} in {backup.folder} holds the step counter "
                                 f"{int(keras.ops.convert_to_numpy(model.step))}; delete it to use the one before")
    if meta.get("steps_per_epoch") not in (None, plan.steps_per_epoch):
        print(f"warning: the backup was written with {meta['steps_per_epoch']} steps per epoch, the data "
              f"now gives {plan.steps_per_epoch}: the resumed data order differs from an uninterrupted run")
    epoch, in_epoch = divmod(step, plan.steps_per_epoch)
    print(f"resumed from step {step} (epoch {epoch + 1}, {in_epoch} of its {plan.steps_per_epoch} steps done) "
          f"from {os.path.dirname(backup.folder)}")
    return step, meta


def save_run_config(config: DAGANConfig, paths: dict, resumed: bool) -> None:
    """config.yaml of the run (a resume with other values says which keys changed). A run started
    from other weights (`init_from.txt`) says so in comment lines at its top."""
    import yaml

    if resumed and os.path.isfile(paths["config"]):
        changes = config_changes(paths["config"], config)
        if changes:
            print("note: resuming with a config that differs from the run's config.yaml: " + "; ".join(changes))
    header = ""
    if os.path.isfile(paths["init_record"]):
        with open(paths["init_record"], encoding="utf-8") as f:
            header = "".join(f"# {line}" for line in f.read().splitlines(keepends=True)) + "\n"
    with atomic_path(paths["config"], what="run config") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(header)
            yaml.safe_dump(config.to_dict(), f, sort_keys=False)
