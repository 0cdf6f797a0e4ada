"""Training: `DAGAN(keras.Model)` with the reference's iteration as `train_step`, its optimisers and
lr schedule, the callbacks of a run, `run_training` (`dagan-tf train`) and the demo (`dagan-tf demo`).

    from dagan_tf.training import DAGAN, run_training
    run_training(load_config("configs/ade20k.yaml"), max_steps=1000)
"""

from dagan_tf.training.model import DAGAN, LOSS_NAMES, active_loss_names  # noqa: F401
from dagan_tf.training.run import TrainingResult, make_strategy, run_training  # noqa: F401
from dagan_tf.training.schedule import ReferenceLRSchedule, build_optimizers  # noqa: F401

__all__ = [
    "DAGAN",
    "LOSS_NAMES",
    "active_loss_names",
    "TrainingResult",
    "make_strategy",
    "run_training",
    "ReferenceLRSchedule",
    "build_optimizers",
]
