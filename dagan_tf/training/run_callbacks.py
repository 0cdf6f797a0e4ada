"""The callbacks of a training run, built in the order Keras must call them at each batch end:
progress first, then the logs and snapshots, then extra callbacks, then the backup, so that a
backup of step N implies that the logs and snapshots hold step N."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras

from dagan_tf.config import DAGANConfig
from dagan_tf.training.backup import TrainingBackup
from dagan_tf.training.callbacks import ProgressTracker, StopAtEpochEnd, TrainingProgress
from dagan_tf.training.checkpoints import NetworkSnapshots, PeriodicBackup
from dagan_tf.training.epochs import display_batch, display_fn
from dagan_tf.training.logs import CSVLossLogger, EvaluationLogger, TensorBoardLogger

__all__ = ["RunCallbacks", "make_callbacks"]


def _evaluator(config: DAGANConfig):
    """FID (+ mIoU / accuracy with `config.segmenter`) on `eval_how_many` validation images."""
    from dagan_tf.evaluation.callback import PeriodicEvaluation

    segmenter = None
    if config.segmenter:
        from dagan_tf.evaluation.segmenters import load_segmenter

        segmenter = load_segmenter(config.segmenter, config.segmenter_weights)
    return PeriodicEvaluation(config, config.eval_freq, config.eval_how_many,
                              inception_weights=config.inception_weights or None, segmenter=segmenter,
                              verbose=False)


@dataclasses.dataclass
class RunCallbacks:
    """The run's callbacks, in the order Keras must call them, and the ones the run talks to."""

    progress: TrainingProgress
    saver: PeriodicBackup
    snapshots: NetworkSnapshots | None
    tensorboard: TensorBoardLogger | None
    all: list


def make_callbacks(model, config, paths, plan, step: int, resumed: bool, is_chief: bool,
                    extra: Sequence[keras.callbacks.Callback]) -> RunCallbacks:
    from dagan_tf.training.model import active_loss_names

    progress = TrainingProgress(plan.steps_per_epoch, plan.total_epochs, step)
    saver = PeriodicBackup(
        TrainingBackup(paths["backup"], model), progress, config.save_latest_freq,
        meta=lambda: {"epoch": progress.epoch, "steps_per_epoch": plan.steps_per_epoch,
                      "batch_size": config.batchSize, "name": config.name},
    )
    cbs: list[keras.callbacks.Callback] = [ProgressTracker(progress)]
    snapshots = tensorboard = None
    if is_chief:
        columns = [*active_loss_names(config), "lr_G", "lr_D"]
        resume_step = step if resumed else None
        cbs.append(CSVLossLogger(paths["csv"], columns, progress, config.print_freq, resume_step=resume_step))
        tensorboard = TensorBoardLogger(paths["logs"], progress, config.print_freq, config.display_freq,
                                        display_fn(model, display_batch(config, plan.size), config),
                                        resume_step=resume_step)
        snapshots = NetworkSnapshots(
            paths["run_dir"], {"G": model.generator, "D": model.discriminator, "E": model.encoder},
            progress, config.save_latest_freq, config.save_epoch_freq,
        )
        missing = snapshots.missing_epoch()  # killed between a backup and that epoch's snapshot
        if missing:
            snapshots.save_epoch(missing)
        cbs += [tensorboard, snapshots]
        if config.eval_freq:
            cbs.append(EvaluationLogger(_evaluator(config), paths["eval_csv"], progress, config.eval_freq,
                                        tensorboard, resume_step=resume_step))
    for cb in extra:
        if hasattr(cb, "progress") and cb.progress is None:
            cb.progress = progress
    # the backup after the logs and snapshots: a backup of step N implies they hold step N (a resume
    # drops the log rows after its step and writes them again)
    cbs += [*extra, saver, StopAtEpochEnd()]
    return RunCallbacks(progress, saver, snapshots, tensorboard, cbs)
