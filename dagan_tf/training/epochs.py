"""The data of a run's epochs: epoch `e` reads the training set with seed `config.seed + e` (shuffle
order, crops and flips), so a resumed run takes the same batches in the same order; plus the fixed
batch shown in TensorBoard."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from dagan_tf.config import DAGANConfig

__all__ = ["RunPlan", "plan_run", "epoch_seed", "epoch_dataset", "dataset_size", "display_batch", "display_fn"]

#: Examples shown in the TensorBoard image grid.
_DISPLAY_EXAMPLES = 4


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


def dataset_size(config: DAGANConfig) -> int:
    from dagan_tf.data import dataset_files

    return len(dataset_files(config, "train"))


def display_batch(config: DAGANConfig, size: int) -> dict:
    """A fixed batch (the first examples in file order) for the TensorBoard image grid."""
    from dagan_tf.data import build_dataset

    count = max(1, min(_DISPLAY_EXAMPLES, size))
    ds = build_dataset(config, "train", batch_size=count, shuffle=False)
    batch = next(iter(ds))
    return {k: v for k, v in batch.items() if k != "path"}


def display_fn(model, batch: dict, config: DAGANConfig):
    from dagan_tf.visualize import image_grid, label_colours, to_uint8_truncated

    labels = label_colours(batch["label"].numpy(), config)
    reals = to_uint8_truncated(batch["image"].numpy())

    def display() -> np.ndarray:
        fakes = to_uint8_truncated(keras.ops.convert_to_numpy(model(batch, training=False)))
        return image_grid([[labels[i], fakes[i], reals[i]] for i in range(len(labels))])

    return display


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """The run's size: examples, steps per epoch, epochs, total steps and the step to stop at."""

    size: int
    steps_per_epoch: int
    total_epochs: int
    total_steps: int
    target: int


def plan_run(config: DAGANConfig, max_steps: int | None) -> RunPlan:
    """The run's size from the training set and the config; `max_steps` caps the target step."""
    from dagan_tf.training.schedule import steps_per_epoch_for

    size = dataset_size(config)
    try:
        steps_per_epoch = steps_per_epoch_for(size, config.batchSize)
    except ValueError:
        raise ValueError(f"config key 'batchSize': value {config.batchSize} is larger than the training set "
                         f"({size} examples in {config.dataroot})") from None
    total_epochs = config.niter + config.niter_decay
    total_steps = steps_per_epoch * total_epochs
    target = total_steps if max_steps is None else min(total_steps, max_steps)
    return RunPlan(size, steps_per_epoch, total_epochs, total_steps, target)
