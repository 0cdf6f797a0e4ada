"""`dagan-tf train`: build the data, the strategy and the model, then `model.fit`, crash-safe.

A run lives in `checkpoints_dir/NAME/`:
- `config.yaml`: the resolved config;
- `loss_log.csv`: step, epoch, every loss and both learning rates, every `print_freq` steps;
- `logs/`: TensorBoard scalars (same values) and an image grid `label | generated | real` every
  `display_freq` steps;
- `latest_net_G.keras`, `latest_net_D.keras` (+ `_E`) every `save_latest_freq` steps and at each
  epoch end, `<epoch>_net_*.keras` every `save_epoch_freq` epochs and after the last one;
- `backup/step-<N>/`: the whole training state (callbacks.TrainingBackup) every `save_latest_freq`
  steps and when the process stops training.

Step-exact resume. Epoch `e` (0-based) reads the training set with seed `config.seed + e` (shuffle
order, crops and flips), freshly built for that epoch, and is trained by its own `fit` call
(`initial_epoch=e`, so Keras' bar still says 'Epoch e+1/total'). A resumed run restores every
variable and skips the batches of the interrupted epoch that were already trained, so it takes the
same batches in the same order as an uninterrupted run; the lr schedule and the VAE noise are
functions of the restored optimizer iteration counters. Running the same command again resumes;
a finished run says so and returns.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from dagan_tf.config import DAGANConfig, config_from_dict, save_config
from dagan_tf.training.callbacks import (
    CSVLossLogger,
    NetworkSnapshots,
    PeriodicBackup,
    ProgressTracker,
    StopAtEpochEnd,
    TensorBoardLogger,
    TrainingBackup,
    TrainingProgress,
)

__all__ = [
    "STRATEGIES",
    "TrainingResult",
    "run_training",
    "make_strategy",
    "worker_role",
    "epoch_dataset",
    "run_paths",
    "mixed_precision_policy",
]

STRATEGIES = ("auto", "mirrored", "multiworker", "default")

#: Examples shown in the TensorBoard image grid.
_DISPLAY_EXAMPLES = 4


@dataclasses.dataclass
class TrainingResult:
    """What `run_training` did: the run folder, the global step reached, and the model (None when
    the run was already finished and nothing was built)."""

    run_dir: str
    step: int
    total_steps: int
    resumed_from: int | None
    finished: bool
    model: keras.Model | None = None


# ------------------------------------------------------------------------------------------------
# Strategy, roles, paths
# ------------------------------------------------------------------------------------------------
def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """'auto': MirroredStrategy over all local GPUs if there are any, else the default strategy;
    'mirrored': MirroredStrategy over the local GPUs, or over every logical CPU device when there is
    no GPU; 'multiworker': MultiWorkerMirroredStrategy from `TF_CONFIG`; 'default': no distribution.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} is not allowed; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy 'multiworker' reads the cluster from the TF_CONFIG environment "
                             "variable, which is not set")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.get_strategy()


def worker_role(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """(is_chief, worker index). Single-host strategies: (True, 0). Multi-worker: the 'chief' task,
    or worker 0 when the cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, task_id + (1 if has_chief and task_type == "worker" else 0)


def run_paths(config: DAGANConfig, is_chief: bool = True, worker: int = 0) -> dict[str, str]:
    """Where a run writes. Non-chief workers back up into a folder of their own (they write the
    same state; keeping it apart means no two processes ever write one file)."""
    run_dir = os.path.join(config.checkpoints_dir, config.name)
    backup = os.path.join(run_dir, "backup") if is_chief else os.path.join(run_dir, f".worker{worker}", "backup")
    return {
        "run_dir": run_dir,
        "config": os.path.join(run_dir, "config.yaml"),
        "csv": os.path.join(run_dir, "loss_log.csv"),
        "logs": os.path.join(run_dir, "logs"),
        "backup": backup,
    }


def mixed_precision_policy() -> str:
    """'mixed_float16' when a GPU is visible, else 'mixed_bfloat16' (CPUs lack fast float16)."""
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
def epoch_seed(config: DAGANConfig, epoch: int) -> int:
    """Seed of the data order, crops and flips of the 0-based `epoch`."""
    return int(config.seed) + int(epoch)


def epoch_dataset(config: DAGANConfig, epoch: int, skip: int = 0, take: int | None = None) -> tf.data.Dataset:
    """The training batches (global batch `batchSize`) of the 0-based `epoch`, in the order an
    uninterrupted run takes them, without the first `skip` batches, at most `take` of them."""
    from dagan_tf.data import build_dataset

    ds = build_dataset(config.replace(seed=epoch_seed(config, epoch)), "train", batch_size=config.batchSize)
    # 'path' (strings) is for people, not for the train step (and strings cannot go to a GPU)
    ds = ds.map(lambda ex: {k: v for k, v in ex.items() if k != "path"})
    if skip:
        ds = ds.skip(skip)
    if take is not None:
        ds = ds.take(take)
    return ds


def _dataset_size(config: DAGANConfig) -> int:
    from dagan_tf.data import dataset_files

    return len(dataset_files(config, "train"))


def _display_batch(config: DAGANConfig, size: int) -> dict:
    """A fixed batch (the first examples in file order) for the TensorBoard image grid."""
    from dagan_tf.data import build_dataset

    count = max(1, min(_DISPLAY_EXAMPLES, size))
    ds = build_dataset(config, "train", batch_size=count, shuffle=False)
    batch = next(iter(ds))
    return {k: v for k, v in batch.items() if k != "path"}


def _display_fn(model, batch: dict, config: DAGANConfig):
    from dagan_tf.visualize import colorize_label, image_grid, label_palette, to_uint8_image

    palette = label_palette(config)
    labels = colorize_label(batch["label"].numpy(), palette)
    reals = to_uint8_image(batch["image"].numpy())

    def display() -> np.ndarray:
        fakes = to_uint8_image(keras.ops.convert_to_numpy(model(batch, training=False)))
        return image_grid([[labels[i], fakes[i], reals[i]] for i in range(len(labels))])

    return display


# ------------------------------------------------------------------------------------------------
# Run
# ------------------------------------------------------------------------------------------------
def _config_changes(old_path: str, config: DAGANConfig) -> list[str]:
    """Keys whose values differ from the run's saved config.yaml (resuming with other options)."""
    import yaml

    try:
        with open(old_path, encoding="utf-8") as f:
            old = config_from_dict(yaml.safe_load(f) or {}).to_dict()
    except Exception:  # an unreadable old file is not a reason to stop
        return []
    new = config.to_dict()
    return [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if old.get(k) != new[k]]


def _finished_message(config, step, target, total_steps, steps_per_epoch):
    if step >= total_steps:
        return (f"training run '{config.name}' is finished: step {step} of {total_steps} "
                f"({total_steps // steps_per_epoch} epochs); nothing to do. Delete "
                f"{os.path.join(config.checkpoints_dir, config.name)} to train again.")
    return (f"training run '{config.name}' is at step {step}, which reaches --max-steps {target}; "
            "nothing to do.")


def run_training(
    config: DAGANConfig,
    max_steps: int | None = None,
    strategy: str | tf.distribute.Strategy = "auto",
    mixed_precision: bool = False,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose="auto",
) -> TrainingResult:
    """Train `config` (or resume its run) for `niter + niter_decay` epochs, or up to global step
    `max_steps`. See the module docstring for what is written where.

    Args:
        config: the resolved config; the run folder is `checkpoints_dir/name`.
        max_steps: stop once this many iterations (since the run's start) are done.
        strategy: a name of `STRATEGIES` (see `make_strategy`) or a `tf.distribute.Strategy`.
        mixed_precision: `mixed_float16` on GPU, `mixed_bfloat16` on CPU; losses and G's output
            stay float32.
        jit_compile: compile the train step with XLA.
        steps_per_execution: train steps per `tf.function` call.
        callbacks: extra Keras callbacks (e.g. `TimeBudget`); they may read the shared
            `TrainingProgress` as `callback.progress` if they have that attribute set to None.
        verbose: Keras' progress bar (`"auto"`, 0, 1, 2).
    Returns a `TrainingResult`.
    """
    if steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be >= 1, got {steps_per_execution}")
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"--max-steps must be >= 0, got {max_steps}")
    # The strategy first: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    dist = strategy if isinstance(strategy, tf.distribute.Strategy) else make_strategy(strategy)
    is_chief, worker = worker_role(dist)
    paths = run_paths(config, is_chief, worker)
    replicas = dist.num_replicas_in_sync
    if config.batchSize % replicas:
        raise ValueError(f"config key 'batchSize': value {config.batchSize} (the global batch) is not "
                         f"divisible by the {replicas} replicas of the strategy")

    from dagan_tf.training.schedule import steps_per_epoch_for

    size = _dataset_size(config)
    try:
        steps_per_epoch = steps_per_epoch_for(size, config.batchSize)
    except ValueError:
        raise ValueError(f"config key 'batchSize': value {config.batchSize} is larger than the training set "
                         f"({size} examples in {config.dataroot})") from None
    total_epochs = config.niter + config.niter_decay
    total_steps = steps_per_epoch * total_epochs
    target = total_steps if max_steps is None else min(total_steps, max_steps)

    backup_probe = TrainingBackup(paths["backup"], model=None)
    found = backup_probe.latest()
    start_step = found[1]["step"] if found else 0
    if found and start_step >= target:
        print(_finished_message(config, start_step, target, total_steps, steps_per_epoch))
        return TrainingResult(paths["run_dir"], start_step, total_steps, start_step, True)
    if found and found[1].get("steps_per_epoch") not in (None, steps_per_epoch):
        print(f"warning: the backup was written with {found[1]['steps_per_epoch']} steps per epoch, the data "
              f"now gives {steps_per_epoch}: the resumed data order differs from an uninterrupted run")

    os.makedirs(paths["run_dir"], exist_ok=True)
    if is_chief:
        if found and os.path.isfile(paths["config"]):
            changes = _config_changes(paths["config"], config)
            if changes:
                print("note: resuming with a config that differs from the run's config.yaml: " + "; ".join(changes))
        save_config(config, paths["config"])

    previous_policy = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy(mixed_precision_policy())
    try:
        keras.utils.set_random_seed(config.seed)
        from dagan_tf.training.model import DAGAN, active_loss_names

        with dist.scope():
            model = DAGAN(config)
            model.compile(steps_per_epoch=steps_per_epoch, jit_compile=bool(jit_compile),
                          steps_per_execution=int(steps_per_execution))
        backup = TrainingBackup(paths["backup"], model)
        meta = backup.restore() if found else None
        step = int(meta["step"]) if meta else 0
        if meta:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            print(f"resumed from step {step} (epoch {epoch + 1}, {in_epoch} of its {steps_per_epoch} steps done) "
                  f"from {os.path.dirname(paths['backup'])}")

        progress = TrainingProgress(steps_per_epoch, total_epochs, step)
        saver = PeriodicBackup(
            backup, progress, config.save_latest_freq,
            meta=lambda: {"epoch": progress.epoch, "steps_per_epoch": steps_per_epoch,
                          "batch_size": config.batchSize, "name": config.name},
        )
        cbs: list[keras.callbacks.Callback] = [ProgressTracker(progress)]
        snapshots = tensorboard = None
        if is_chief:
            columns = [*active_loss_names(config), "lr_G", "lr_D"]
            cbs.append(CSVLossLogger(paths["csv"], columns, progress, config.print_freq,
                                     resume_step=step if meta else None))
            tensorboard = TensorBoardLogger(paths["logs"], progress, config.print_freq, config.display_freq,
                                            _display_fn(model, _display_batch(config, size), config))
            snapshots = NetworkSnapshots(
                paths["run_dir"], {"G": model.generator, "D": model.discriminator, "E": model.encoder},
                progress, config.save_latest_freq, config.save_epoch_freq,
            )
            cbs += [tensorboard, snapshots]
        for cb in callbacks:
            if hasattr(cb, "progress") and cb.progress is None:
                cb.progress = progress
        # the backup after the logs: a backup of step N implies the logs hold step N (a resume
        # drops the log rows after its step and writes them again)
        cbs += [*callbacks, saver, StopAtEpochEnd()]

        started, first = time.monotonic(), step
        print(f"training '{config.name}': {size} examples, batch {config.batchSize} over {replicas} "
              f"replica(s), {steps_per_epoch} steps per epoch, {total_epochs} epochs, "
              f"steps {step} -> {target}; writing to {paths['run_dir']}")
        while progress.step < target and not progress.stop_requested:
            epoch, in_epoch = divmod(progress.step, steps_per_epoch)
            steps = min(steps_per_epoch - in_epoch, target - progress.step)
            ds = epoch_dataset(config, epoch, skip=in_epoch, take=steps)
            before, progress.fit_steps = progress.step, steps
            model.fit(ds, epochs=total_epochs, initial_epoch=epoch, steps_per_epoch=steps,
                      callbacks=cbs, verbose=verbose, shuffle=False)
            if progress.step == before:
                raise RuntimeError(f"epoch {epoch + 1}: fit ran no step (is the training data empty?)")

        saver.save_now()
        if is_chief:
            snapshots.save_latest()
            tensorboard.write_image()
            tensorboard.close()
        took = time.monotonic() - started
        done = progress.step - first
        print(f"trained {done} steps in {took:.1f} s ({took / max(done, 1):.3f} s/step); at step "
              f"{progress.step} of {total_steps}" + (" - finished" if progress.step >= total_steps else ""))
        return TrainingResult(paths["run_dir"], progress.step, total_steps, step if meta else None,
                              progress.step >= total_steps, model)
    finally:
        if mixed_precision:
            keras.config.set_dtype_policy(previous_policy)
