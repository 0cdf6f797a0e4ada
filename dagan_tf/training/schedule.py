"""The reference's optimisation: Adam with torch's update rule, TTUR rates and betas, and the
linear learning-rate decay of `Pix2PixTrainer.update_learning_rate`, as Keras objects.

Reference (docs/reference.md, "Optimisation"; SPADE `train_options.py`, `pix2pix_model.create_optimizers`):
- TTUR (default): G lr = lr/2, D lr = lr*2, betas (beta1, beta2) = (0.0, 0.9) by default.
- `no_TTUR`: both lr; the betas' defaults become (0.5, 0.999). The reference switches the *defaults*
  (`parser.set_defaults`) so explicit `--beta1/--beta2` still win; a config cannot tell "not set" from
  "set to the default", so here `no_TTUR` with beta1/beta2 at their TTUR defaults (0.0, 0.9) means
  (0.5, 0.999), and any other explicit pair is used as given.
- lr constant for `niter` epochs; at the end of every epoch `e > niter` the trainer subtracts
  `lr / niter_decay`. The rate used *during* (1-based) epoch `e` is therefore
  `lr * (1 - max(0, e - 1 - niter) / niter_decay)`, times 1/2 (G) and 2 (D) under TTUR. Note the
  reference's off-by-one: epoch niter + 1 still runs at the full rate and the last epoch runs at
  lr / niter_decay, never 0. Past niter + niter_decay epochs (which the reference never trains)
  the rate stays at 0.

The schedule maps the optimizer's own step counter (`optimizer.iterations`, which is saved with the
optimizer's state) to the epoch through `steps_per_epoch`, so a resumed run continues on the same
rate without any callback state.
"""

from __future__ import annotations

import contextlib
import math

import keras
from keras import ops

__all__ = [
    "ReferenceAdam",
    "ReferenceLRSchedule",
    "adam_betas",
    "build_optimizers",
    "epoch_learning_rates",
    "steps_per_epoch_for",
    "ttur_ratios",
]

_TTUR_DEFAULT_BETAS = (0.0, 0.9)
_NO_TTUR_DEFAULT_BETAS = (0.5, 0.999)


def ttur_ratios(config) -> tuple[float, float]:
    """(G, D) multipliers of the base lr: (1/2, 2) with TTUR, (1, 1) with `no_TTUR`."""
    return (1.0, 1.0) if config.no_TTUR else (0.5, 2.0)


def adam_betas(config) -> tuple[float, float]:
    """(beta1, beta2) for both optimisers (module docstring: `no_TTUR` switches the defaults)."""
    betas = (float(config.beta1), float(config.beta2))
    if config.no_TTUR and betas == _TTUR_DEFAULT_BETAS:
        return _NO_TTUR_DEFAULT_BETAS
    return betas


def _decay_fraction(epoch_index, niter: int, niter_decay: int):
    """1 - (decays so far) / niter_decay for a 0-based epoch index (plain float or tensor)."""
    if niter_decay <= 0:
        return 1.0
    if isinstance(epoch_index, (int, float)):
        decays = min(max(epoch_index - niter, 0), niter_decay)
        return 1.0 - decays / niter_decay
    decays = ops.clip(epoch_index - float(niter), 0.0, float(niter_decay))
    return 1.0 - decays / float(niter_decay)


def epoch_learning_rates(config, epoch: int) -> tuple[float, float]:
    """(lr_G, lr_D) the reference trains with during the 1-based `epoch`."""
    base = float(config.lr) * _decay_fraction(int(epoch) - 1, config.niter, config.niter_decay)
    g_ratio, d_ratio = ttur_ratios(config)
    return base * g_ratio, base * d_ratio


@keras.saving.register_keras_serializable(package="dagan_tf")
class ReferenceLRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`step` (the optimizer's iteration count) -> the reference's per-epoch learning rate.

    `rate(step) = base_lr * ratio * (1 - clip(floor(step / steps_per_epoch) - niter, 0, niter_decay)
    / niter_decay)`; `ratio` is 1/2 (G) or 2 (D) under TTUR, 1 otherwise. `steps_per_epoch` is the
    number of times *this* optimizer steps per epoch.
    """

    def __init__(self, base_lr: float, niter: int, niter_decay: int, steps_per_epoch: int,
                 ratio: float = 1.0, name: str = "reference_lr"):
        if int(steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
        self.base_lr = float(base_lr)
        self.niter = int(niter)
        self.niter_decay = int(niter_decay)
        self.steps_per_epoch = int(steps_per_epoch)
        self.ratio = float(ratio)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        epoch_index = ops.floor(step / float(self.steps_per_epoch))
        return ops.cast(self.base_lr * self.ratio, "float32") * _decay_fraction(
            epoch_index, self.niter, self.niter_decay
        )

    def get_config(self):
        return {"base_lr": self.base_lr, "niter": self.niter, "niter_decay": self.niter_decay,
                "steps_per_epoch": self.steps_per_epoch, "ratio": self.ratio, "name": self.name}


def _one_minus_power(beta: float, t):
    """1 - beta**t in float32 to full precision: -expm1(t * log(beta)) with log(beta) taken in
    float64 (float32's 0.999 is off by 1.3e-5 relative in 1 - 0.999, which torch's float64
    bias correction is not)."""
    beta = float(beta)
    if beta == 0.0:
        return ops.ones_like(t)
    return -ops.expm1(t * math.log(beta))


@keras.saving.register_keras_serializable(package="dagan_tf")
class ReferenceAdam(keras.optimizers.Adam):
    """Adam with torch.optim.Adam's update (the reference's optimiser), eps 1e-8 by default.

    torch: `var -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`. Keras' Adam adds eps to
    the *uncorrected* sqrt(v), i.e. uses eps / sqrt(1 - b2^t), which differs from torch on weights
    whose gradient is near zero (e.g. conv biases feeding a batch norm).
    """

    def __init__(self, learning_rate=0.0002, beta_1=0.0, beta_2=0.9, epsilon=1e-8,
                 name="reference_adam", **kwargs):
        if kwargs.pop("amsgrad", False):
            raise ValueError("ReferenceAdam has no amsgrad variant (torch's default Adam has none on)")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=False, name=name, **kwargs)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # The bias corrections are the same for every variable: compute them once per step and
        # hand them to update_step in place of the rate (fewer ops to trace and run).
        t = ops.cast(self.iterations + 1, "float32")
        lr = ops.cast(learning_rate, "float32")
        step_size = lr / _one_minus_power(self.beta_1, t)
        bias2_sqrt = ops.sqrt(_one_minus_power(self.beta_2, t))
        self.__dict__["_previous_update"] = {}  # not an attribute Keras or tf.train would track
        try:
            # last layers first: the order in which backpropagation delivers their gradients, so
            # the (sequential, see _after_previous_update) updates overlap the rest of it
            super()._backend_update_step(list(grads)[::-1], list(trainable_variables)[::-1],
                                         (step_size, bias2_sqrt))
        finally:
            self.__dict__["_previous_update"] = {}

    def _after_previous_update(self, variable):
        """TensorFlow: a context that runs this variable's update after the previous variable's
        (on the same device). Left unordered, TensorFlow's executor interleaves the updates of all
        the variables and holds the temporaries of many at once: +0.9 GB peak for the ngf-64
        generator's 96M weights (bench/bench_train.py --memory); in sequence one variable's live."""
        previous = self.__dict__.get("_previous_update", {}).get(getattr(variable, "device", ""))
        if previous is None or keras.backend.backend() != "tensorflow":
            return contextlib.nullcontext()
        import tensorflow as tf

        return tf.control_dependencies([previous])

    def _note_update(self, variable):
        if keras.backend.backend() == "tensorflow" and "_previous_update" in self.__dict__:
            import tensorflow as tf

            # a read of the variable, which tf.function orders after its update (automatic control
            # dependencies on the same resource)
            self.__dict__["_previous_update"][getattr(variable, "device", "")] = tf.identity(variable)

    def update_step(self, gradient, variable, learning_rate):
        step_size, bias2_sqrt = learning_rate  # from _backend_update_step
        with self._after_previous_update(variable):
            dtype = variable.dtype
            gradient = ops.cast(gradient, dtype)
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            beta_1, beta_2 = float(self.beta_1), float(self.beta_2)
            self.assign(m, m * beta_1 + gradient * (1.0 - beta_1))
            self.assign(v, v * beta_2 + ops.square(gradient) * (1.0 - beta_2))
            denom = ops.sqrt(v) / ops.cast(bias2_sqrt, dtype) + self.epsilon
            self.assign_sub(variable, ops.cast(step_size, dtype) * m / denom)
        self._note_update(variable)


def build_optimizers(config, steps_per_epoch: int | None = None):
    """(g_optimizer, d_optimizer): ReferenceAdam with the reference's rates, betas and schedule.

    With `niter_decay > 0` the decay needs `steps_per_epoch` (iterations per epoch: the reference
    drops the last incomplete batch, so `floor(dataset_size / batchSize)`); without decay a
    constant rate is used and `steps_per_epoch` may be None. Create them inside the strategy's
    scope.
    """
    beta_1, beta_2 = adam_betas(config)
    g_ratio, d_ratio = ttur_ratios(config)
    if config.niter_decay > 0:
        if steps_per_epoch is None:
            raise ValueError(
                f"config key 'niter_decay': value {config.niter_decay} decays the learning rate per "
                "epoch, so build_optimizers / DAGAN.compile need steps_per_epoch"
            )
        g_lr = ReferenceLRSchedule(config.lr, config.niter, config.niter_decay, steps_per_epoch,
                                   g_ratio, name="lr_G")
        d_lr = ReferenceLRSchedule(config.lr, config.niter, config.niter_decay, steps_per_epoch,
                                   d_ratio, name="lr_D")
    else:
        g_lr, d_lr = config.lr * g_ratio, config.lr * d_ratio
    g_opt = ReferenceAdam(g_lr, beta_1, beta_2, name="g_optimizer")
    d_opt = ReferenceAdam(d_lr, beta_1, beta_2, name="d_optimizer")
    return g_opt, d_opt


def steps_per_epoch_for(dataset_size: int, batch_size: int) -> int:
    """Iterations per epoch as the reference's loader (drop_last in training): floor(size / batch)."""
    steps = dataset_size // batch_size
    if steps < 1:
        raise ValueError(f"dataset of {dataset_size} items is smaller than one batch of {batch_size}")
    return steps

