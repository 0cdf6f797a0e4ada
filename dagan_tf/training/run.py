"""`dagan-tf train`: build the data, the strategy and the model, then `model.fit`, crash-safe.

A run lives in `checkpoints_dir/NAME/`:
- `config.yaml`: the resolved config;
- `loss_log.csv`: step, epoch, every loss and both learning rates, every `print_freq` steps;
- `logs/`: TensorBoard scalars (same values) and an image grid `label | generated | real` every
  `display_freq` steps;
- `latest_net_G.keras`, `latest_net_D.keras` (+ `_E`) every `save_latest_freq` steps and at each
  epoch end, `<epoch>_net_*.keras` every `save_epoch_freq` epochs and after the last one;
- `backup/step-<N>/`: the whole training state (backup.TrainingBackup) every `save_latest_freq`
  steps and whenever the process stops training: at the end, on Ctrl-C / SIGTERM (after the step in
  progress) and on an error between steps (a bad data file, a full disk); the two newest are kept;
- `.lock` while a process trains there (a second one is refused, naming the holder).

Step-exact resume. Epoch `e` (0-based) reads the training set with seed `config.seed + e` (shuffle
order, crops and flips), freshly built for that epoch, and is trained by its own `fit` call
(`initial_epoch=e`, so Keras' bar still says 'Epoch e+1/total'). A resumed run restores every
variable and skips the batches of the interrupted epoch that were already trained, so it takes the
same batches in the same order as an uninterrupted run; the lr schedule and the VAE noise are
functions of the restored optimizer iteration counters. Running the same command again resumes;
a finished run says so and returns. Nothing is written before the backup has been restored, so a
refused resume (another config) leaves the run folder as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from typing import Sequence

import keras
import tensorflow as tf

from dagan_tf.config import DAGANConfig
from dagan_tf.data import data_error_from
from dagan_tf.data import registry as dataset_registry
from dagan_tf.data.demo import ensure_demo_cache
from dagan_tf.files import remove_stale_temporaries
from dagan_tf.training.allocator import map_large_allocations
from dagan_tf.training.backup import TrainingBackup
from dagan_tf.training.interrupt import StopOnSignal, TrainingInterrupted
from dagan_tf.training.init_from import InitSource, start_from
from dagan_tf.training.epochs import RunPlan, epoch_dataset, plan_run
from dagan_tf.training.lock import RunLock
from dagan_tf.training.resume import find_backup, finished_message, restore, save_run_config
from dagan_tf.training.strategy import STRATEGIES, dtype_policy, make_strategy, worker_role
from dagan_tf.training.run_callbacks import RunCallbacks, make_callbacks

__all__ = [
    "STRATEGIES",
    "TrainingResult",
    "run_training",
    "make_strategy",
    "worker_role",
    "run_paths",
]



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


def run_paths(config: DAGANConfig, is_chief: bool = True, worker: int = 0) -> dict[str, str]:
    """Where a run writes. Non-chief workers back up into a folder of their own (they write the
    same state; keeping it apart means no two processes ever write one file)."""
    run_dir = os.path.join(config.checkpoints_dir, config.name)
    backup = os.path.join(run_dir, "backup") if is_chief else os.path.join(run_dir, f".worker{worker}", "backup")
    return {
        "run_dir": run_dir,
        "config": os.path.join(run_dir, "config.yaml"),
        "csv": os.path.join(run_dir, "loss_log.csv"),
        "eval_csv": os.path.join(run_dir, "eval_log.csv"),
        "logs": os.path.join(run_dir, "logs"),
        "backup": backup,
        "lock": ".lock" if is_chief else f".lock-worker{worker}",
        "init_record": os.path.join(run_dir, "init_from.txt"),
    }


# ------------------------------------------------------------------------------------------------
# Run: the named steps of `run_training`
# ------------------------------------------------------------------------------------------------
def _fit_epochs(model, config, plan: RunPlan, run: RunCallbacks, verbose) -> None:
    """One `fit` call per epoch (each with its own data order) until the target step or a stop."""
    progress = run.progress
    while progress.step < plan.target and not progress.stop_requested:
        epoch, in_epoch = divmod(progress.step, plan.steps_per_epoch)
        steps = min(plan.steps_per_epoch - in_epoch, plan.target - progress.step)
        ds = epoch_dataset(config, epoch, skip=in_epoch, take=steps)
        before = progress.step
        model.fit(ds, epochs=plan.total_epochs, initial_epoch=epoch, steps_per_epoch=steps,
                  callbacks=run.all, verbose=verbose, shuffle=False)
        if progress.step == before and not progress.stop_requested:
            raise RuntimeError(f"epoch {epoch + 1}: fit ran no step (is the training data empty?)")


def _state_is_at(model, step: int, data_error: bool) -> bool:
    """Whether the model's variables are those after `step` whole steps: both optimizers have
    applied exactly `step` updates (an error inside a step can leave G updated and D not).

    A step whose batch could not be read (a bad data file) fails at the iterator: nothing that
    needs the batch ran, but the step counters (the model's and the optimizers'), which do not depend
    on it, may already count the step (ops without a data dependency run in any order in a graph);
    they are set back. With loss scaling a skipped update does not count in an optimizer's counter,
    so those counters cannot tell: trust the step.
    """
    counters = [model.step] + [o.iterations for o in (model.g_optimizer, model.d_optimizer)
                               if not isinstance(o, keras.optimizers.LossScaleOptimizer)]
    counts = [int(keras.ops.convert_to_numpy(c)) for c in counters]
    if data_error and all(c in (step, step + 1) for c in counts):
        for counter, count in zip(counters, counts):
            if count != step:
                counter.assign(step)
        return True
    return all(c == step for c in counts)


def _save_state(model, run: RunCallbacks, *, after_error: bool, data_error: bool = False) -> str | None:
    """Back up the last completed step (and the latest snapshots); the backup folder, or None when
    the state is between two steps or cannot be written (then the previous backup stays)."""
    step = run.progress.step
    if after_error and not _state_is_at(model, step, data_error):
        print(f"note: no backup written: the error came in the middle of step {step + 1}; the rerun "
              "resumes from the previous backup", file=sys.stderr)
        return None
    try:
        run.saver.save_now()
        if run.snapshots is not None:
            run.snapshots.save_latest()
    except Exception as e:  # noqa: BLE001 - the first error is the one to report
        if not after_error:
            raise
        print(f"note: could not write a backup of step {step}: {e}", file=sys.stderr)
        return None
    return run.saver.backup.folder


def _close_logs(run: RunCallbacks, image: bool) -> None:
    if run.tensorboard is not None:
        if image:
            run.tensorboard.write_image()
        run.tensorboard.close()


def _train(model, config, plan: RunPlan, run: RunCallbacks, verbose) -> None:
    """`_fit_epochs` with nothing lost: a signal stops after the step in progress, an error between
    steps is reported after a backup of the last completed step."""

    def stop(signum):
        run.progress.stop_requested = True
        model.stop_training = True

    try:
        with StopOnSignal(stop) as signals:
            _fit_epochs(model, config, plan, run, verbose)
    except BaseException as exc:
        cause = data_error_from(exc)  # a bad data file, behind the error TensorFlow raised
        _save_state(model, run, after_error=not isinstance(exc, KeyboardInterrupt), data_error=cause is not None)
        _close_logs(run, image=False)
        if cause is not None:
            raise cause from None
        raise
    if signals.received is not None:
        folder = _save_state(model, run, after_error=False)
        _close_logs(run, image=False)
        import signal

        raise TrainingInterrupted(
            f"stopped by {signal.Signals(signals.received).name} at step {run.progress.step} of "
            f"{plan.total_steps}; backup written to {folder}: run the same command to resume",
            signals.received)


def run_training(
    config: DAGANConfig,
    max_steps: int | None = None,
    strategy: str | tf.distribute.Strategy = "auto",
    mixed_precision: bool = False,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    *,
    init: InitSource | None = None,
    init_partial: bool = False,
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
        init: weights a new run starts from (fine-tuning; `init_from.resolve_init_source`); a
            resumed run ignores it and continues its own backup.
        init_partial: load only the weights whose names and shapes match, the rest freshly
            initialised (another class set); without it any difference is refused.
        callbacks: extra Keras callbacks (e.g. `demo.TimeBudget`); they may read the shared
            `TrainingProgress` as `callback.progress` if they have that attribute set to None.
        verbose: Keras' progress output (`"auto"`: a bar on a terminal, one line per epoch
            otherwise; 0, 1, 2).
    Returns a `TrainingResult`. Raises `TrainingInterrupted` after SIGINT/SIGTERM (a backup of the
    last completed step is written first), `RunLockedError` when another process trains in the
    run folder, `DataError` for a bad data file (after a backup), `WriteError` naming the path.
    """
    _check_arguments(steps_per_execution, max_steps)
    map_large_allocations()  # less peak memory on glibc (allocator.py)
    verbose = 2 if verbose == "auto" and not sys.stdout.isatty() else verbose  # a pipe: lines, not a bar
    # The strategy first: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    dist = strategy if isinstance(strategy, tf.distribute.Strategy) else make_strategy(strategy)
    is_chief, worker = worker_role(dist)
    paths = run_paths(config, is_chief, worker)
    _check_batch(config, dist.num_replicas_in_sync)
    _write_demo_data_if_needed(config)
    plan = plan_run(config, max_steps)

    new_run = not os.path.exists(paths["run_dir"])
    try:
        with RunLock(paths["run_dir"], paths["lock"]) as lock:
            _clean_up_after_dead_writers(lock, paths)
            found = find_backup(paths)
            if found and int(found[1]["step"]) >= plan.target:
                step = int(found[1]["step"])
                print(finished_message(config, step, plan))
                return TrainingResult(paths["run_dir"], step, plan.total_steps, step, True)
            with dtype_policy(mixed_precision):
                model = _build_model(config, dist, plan, jit_compile, steps_per_execution)
                step, meta = _restore_or_start(model, config, paths, plan, found, init, init_partial, is_chief)
                run = make_callbacks(model, config, paths, plan, step, meta is not None, is_chief, callbacks)
                return _train_and_report(model, config, plan, run, paths, step, meta is not None, verbose,
                                         dist.num_replicas_in_sync)
    except BaseException:
        if new_run:
            _remove_if_nothing_written(paths["run_dir"])  # e.g. a refused --init-from: no empty run folder
        raise


def _remove_if_nothing_written(run_dir: str) -> None:
    """Remove a run folder this process created if no file is in it (its lock is gone by now)."""
    if os.path.isdir(run_dir) and not any(files for _, _, files in os.walk(run_dir)):
        shutil.rmtree(run_dir, ignore_errors=True)


def _clean_up_after_dead_writers(lock: RunLock, paths: dict) -> None:
    if lock.took_over:
        print(f"note: took over the lock of {lock.took_over}, which is no longer running")
    for folder in (paths["run_dir"], paths["backup"], paths["logs"]):
        remove_stale_temporaries(folder)  # of writers killed mid-write; none can be alive now


def _check_arguments(steps_per_execution: int, max_steps: int | None) -> None:
    if steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be >= 1, got {steps_per_execution}")
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"--max-steps must be >= 0, got {max_steps}")


def _check_batch(config: DAGANConfig, replicas: int) -> None:
    if config.batchSize % replicas:
        raise ValueError(f"config key 'batchSize': value {config.batchSize} (the global batch) is not "
                         f"divisible by the {replicas} replicas of the strategy")


def _write_demo_data_if_needed(config: DAGANConfig) -> None:
    """`dataset_mode: demo` with an empty dataroot trains on the demo-data cache: written here, once,
    saying where (reading data never writes it)."""
    if dataset_registry.get(config.dataset_mode).draws_scenes and not config.dataroot:
        ensure_demo_cache()


def _build_model(config: DAGANConfig, dist, plan: RunPlan, jit_compile: bool, steps_per_execution: int):
    """DAGAN built and compiled in the strategy's scope, from the config's seed."""
    keras.utils.set_random_seed(config.seed)
    from dagan_tf.training.model import DAGAN

    with dist.scope():
        model = DAGAN(config)
        model.compile(steps_per_epoch=plan.steps_per_epoch, jit_compile=bool(jit_compile),
                      steps_per_execution=int(steps_per_execution))
    return model


def _restore_or_start(model, config, paths: dict, plan: RunPlan, found, init: InitSource | None,
                      init_partial: bool, is_chief: bool) -> tuple[int, dict | None]:
    """Restore the run's backup, or start a new run from `init`'s weights; write config.yaml.
    (step, the backup's meta or None)."""
    step, meta = restore(TrainingBackup(paths["backup"], model), plan, found)
    if init is not None:
        start_from(model, init, init_partial, paths["init_record"], resumed=meta is not None, is_chief=is_chief)
    if is_chief:
        save_run_config(config, paths, resumed=meta is not None)
    return step, meta


def _train_and_report(model, config, plan: RunPlan, run: RunCallbacks, paths: dict, step: int, resumed: bool,
                      verbose, replicas: int) -> TrainingResult:
    """Train from `step` to the plan's target, back up the end state, say what was done."""
    started = time.monotonic()
    print(f"training '{config.name}': {plan.size} examples, batch {config.batchSize} over {replicas} "
          f"replica(s), {plan.steps_per_epoch} steps per epoch, {plan.total_epochs} epochs, "
          f"steps {step} -> {plan.target}; writing to {os.path.abspath(paths['run_dir'])}", flush=True)
    _train(model, config, plan, run, verbose)
    _save_state(model, run, after_error=False)
    _close_logs(run, image=True)
    took, done = time.monotonic() - started, run.progress.step - step
    print(f"trained {done} steps in {took:.1f} s ({took / max(done, 1):.3f} s/step); at step "
          f"{run.progress.step} of {plan.total_steps}"
          + (" - finished" if run.progress.step >= plan.total_steps else ""))
    return TrainingResult(paths["run_dir"], run.progress.step, plan.total_steps,
                          step if resumed else None, run.progress.step >= plan.total_steps, model)
