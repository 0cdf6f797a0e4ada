"""The reference's learning rates, betas and Adam update (dagan_tf/training/schedule.py)."""

import numpy as np
import pytest

from dagan_tf.config import DAGANConfig
from dagan_tf.training.schedule import (
    ReferenceAdam,
    ReferenceLRSchedule,
    adam_betas,
    build_optimizers,
    epoch_learning_rates,
    steps_per_epoch_for,
)
from tests.helpers import assert_config_round_trip


class _ReferenceTrainerRates:
    """A re-statement of SPADE's `Pix2PixTrainer` rate bookkeeping: `create_optimizers` sets the
    initial G/D rates, `update_learning_rate(epoch)` runs at every epoch end (train.py)."""

    def __init__(self, lr, niter, niter_decay, no_ttur):
        self.lr, self.niter, self.niter_decay, self.no_ttur = lr, niter, niter_decay, no_ttur
        self.old_lr = lr
        self.lr_g, self.lr_d = (lr, lr) if no_ttur else (lr / 2, lr * 2)

    def update_learning_rate(self, epoch):
        if epoch > self.niter:
            lrd = self.lr / self.niter_decay
            new_lr = self.old_lr - lrd
        else:
            new_lr = self.old_lr
        if new_lr != self.old_lr:
            if self.no_ttur:
                self.lr_g, self.lr_d = new_lr, new_lr
            else:
                self.lr_g, self.lr_d = new_lr / 2, new_lr * 2
            self.old_lr = new_lr


def _reference_table(cfg):
    """[(epoch, lr_G, lr_D)] for epochs 1 .. niter + niter_decay, as the reference trains them."""
    trainer = _ReferenceTrainerRates(cfg.lr, cfg.niter, cfg.niter_decay, cfg.no_TTUR)
    rows = []
    for epoch in range(1, cfg.niter + cfg.niter_decay + 1):
        rows.append((epoch, trainer.lr_g, trainer.lr_d))
        trainer.update_learning_rate(epoch)
    return rows


@pytest.mark.parametrize("no_ttur", [False, True])
@pytest.mark.parametrize("niter,niter_decay", [(3, 4), (5, 5), (2, 1), (50, 0)])
def test_epoch_rates_match_reference_table(no_ttur, niter, niter_decay):
    cfg = DAGANConfig(lr=0.0002, niter=niter, niter_decay=niter_decay, no_TTUR=no_ttur)
    table = _reference_table(cfg)
    assert len(table) == niter + niter_decay
    for epoch, ref_g, ref_d in table:
        lr_g, lr_d = epoch_learning_rates(cfg, epoch)
        # the reference subtracts repeatedly in float64; we use the closed form
        assert abs(lr_g - ref_g) <= 1e-15 and abs(lr_d - ref_d) <= 1e-15, (epoch, lr_g, ref_g, lr_d, ref_d)
    # TTUR keeps the 1:4 ratio; the last epoch still trains at lr / niter_decay (reference off-by-one)
    if niter_decay:
        _, last_g, last_d = table[-1]
        scale = (1.0, 1.0) if no_ttur else (0.5, 2.0)
        assert last_g == pytest.approx(cfg.lr / niter_decay * scale[0], rel=1e-12)
        assert last_d == pytest.approx(cfg.lr / niter_decay * scale[1], rel=1e-12)


@pytest.mark.parametrize("no_ttur", [False, True])
def test_keras_schedule_follows_table_by_step(no_ttur):
    """The optimisers' schedules, fed the step counter, give each epoch's reference rates for every
    step of that epoch (steps_per_epoch = 3), and 0 after the last epoch."""
    cfg = DAGANConfig(lr=0.0002, niter=3, niter_decay=4, no_TTUR=no_ttur)
    spe = 3
    g_opt, d_opt = build_optimizers(cfg, steps_per_epoch=spe)
    g_sched, d_sched = g_opt._learning_rate, d_opt._learning_rate
    worst = 0.0
    for epoch, ref_g, ref_d in _reference_table(cfg):
        for k in range(spe):
            step = (epoch - 1) * spe + k
            worst = max(worst, abs(float(g_sched(step)) - ref_g), abs(float(d_sched(step)) - ref_d))
    assert worst <= 1e-10, worst  # float32 rates: relative error ~1e-7 of 4e-4
    end = (cfg.niter + cfg.niter_decay) * spe
    assert float(g_sched(end)) == 0.0 and float(d_sched(end + 100)) == 0.0
    # the optimiser reads the rate at its own iteration count (what resume restores)
    d_opt.iterations.assign((cfg.niter + 2) * spe)  # epoch niter + 3 -> two decays so far
    expected = epoch_learning_rates(cfg, cfg.niter + 3)[1]
    assert abs(float(d_opt.learning_rate) - expected) <= 1e-10


def test_schedule_serialises():
    import keras

    sched = ReferenceLRSchedule(0.0002, 3, 4, 17, ratio=2.0, name="lr_D")
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(sched))
    assert isinstance(again, ReferenceLRSchedule)
    assert again.get_config() == sched.get_config()
    assert float(again(17 * 5)) == pytest.approx(float(sched(17 * 5)), abs=0)
    opt = ReferenceAdam(sched, 0.0, 0.9)
    opt2 = ReferenceAdam.from_config(opt.get_config())
    assert float(opt2.learning_rate) == pytest.approx(0.0004, rel=1e-6)


def test_betas_and_rates_per_mode():
    ttur = DAGANConfig()
    assert adam_betas(ttur) == (0.0, 0.9)
    assert epoch_learning_rates(ttur, 1) == pytest.approx((0.0001, 0.0004))
    plain = DAGANConfig(no_TTUR=True)
    assert adam_betas(plain) == (0.5, 0.999)  # the reference's no_TTUR defaults
    assert epoch_learning_rates(plain, 1) == pytest.approx((0.0002, 0.0002))
    explicit = DAGANConfig(no_TTUR=True, beta1=0.3, beta2=0.99)
    assert adam_betas(explicit) == (0.3, 0.99)  # explicit values win, as with --beta1/--beta2
    g_opt, d_opt = build_optimizers(plain)
    assert (g_opt.beta_1, g_opt.beta_2, d_opt.beta_1, d_opt.beta_2) == (0.5, 0.999, 0.5, 0.999)
    with pytest.raises(ValueError, match="niter_decay"):
        build_optimizers(DAGANConfig(niter_decay=3), steps_per_epoch=None)
    assert steps_per_epoch_for(13, 4) == 3  # the reference's loader drops the last partial batch


@pytest.mark.parametrize("in_graph", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("betas", [(0.0, 0.9), (0.5, 0.999)])
def test_reference_adam_is_torch_adam(betas, in_graph):
    """Three steps of ReferenceAdam equal torch.optim.Adam (eps 1e-8) on the same gradients,
    including near-zero gradients where Keras' own Adam differs; in a tf.function too, where the
    updates of its variables run one after another (`_after_previous_update`)."""
    import keras
    import tensorflow as tf
    import torch

    rng = np.random.default_rng(0)
    init = np.zeros(64, "float32")  # weights then stay ~1e-3, so float32 rounding stays ~1e-10
    grads = [rng.normal(size=(64,)).astype("float32") * 10.0 ** rng.uniform(-11, 0, size=64).astype("float32")
             for _ in range(3)]
    var, other = keras.Variable(init), keras.Variable(init)  # two: the graph orders their updates
    opt = ReferenceAdam(1e-3, *betas)
    opt.build([var, other])
    apply_in_graph = tf.function(lambda gs: opt.apply(gs, [var, other]))
    param = torch.nn.Parameter(torch.tensor(init))
    topt = torch.optim.Adam([param], lr=1e-3, betas=betas, eps=1e-8)
    for g in grads:
        pair = [keras.ops.convert_to_tensor(g), keras.ops.convert_to_tensor(-g)]
        apply_in_graph(pair) if in_graph else opt.apply(pair, [var, other])
        param.grad = torch.tensor(g)
        topt.step()
    for got, sign in ((var, 1.0), (other, -1.0)):
        diff = np.abs(np.asarray(got.numpy()) - sign * param.detach().numpy()).max()
        assert diff <= 1e-9, diff
    # Keras' Adam with the same eps is measurably different on these gradients
    kvar = keras.Variable(init)
    kopt = keras.optimizers.Adam(1e-3, *betas, epsilon=1e-8)
    for g in grads:
        kopt.apply([keras.ops.convert_to_tensor(g)], [kvar])
    assert np.abs(np.asarray(kvar.numpy()) - param.detach().numpy()).max() > 1e-5


def test_keras_private_hook_that_reference_adam_overrides_is_still_there():
    """ReferenceAdam overrides Keras' private `_backend_update_step(grads, trainable_variables,
    learning_rate)` and expects BaseOptimizer to call it with the optimizer's rate, then `update_step`
    to receive what it passes on. setup.cfg allows the Keras minors where that holds (3.10 .. 3.15);
    this test names what moved when a newer Keras changes it."""
    import inspect

    import keras
    from keras.src.optimizers import base_optimizer

    where = (f"keras {keras.__version__}: ReferenceAdam (dagan_tf/training/schedule.py) overrides the private "
             "Optimizer._backend_update_step; ")
    parent = super(ReferenceAdam, ReferenceAdam)._backend_update_step
    assert parent is not ReferenceAdam._backend_update_step, where + "the hook is gone from keras.optimizers.Adam"
    signature = list(inspect.signature(parent).parameters)
    assert signature == ["self", "grads", "trainable_variables", "learning_rate"], (
        where + f"its signature is now {signature}")
    caller = inspect.getsource(base_optimizer.BaseOptimizer._backend_apply_gradients)
    assert "self._backend_update_step(" in caller and "self.learning_rate" in caller, (
        where + "BaseOptimizer._backend_apply_gradients no longer calls it with self.learning_rate")
    update = list(inspect.signature(keras.optimizers.Adam.update_step).parameters)
    assert update == ["self", "gradient", "variable", "learning_rate"], where + f"update_step is now {update}"
    # and the override is what runs: update_step receives its (step size, sqrt(1 - beta_2^t)) pair
    seen = []
    opt = ReferenceAdam(1e-3, 0.5, 0.999)
    original = opt.update_step
    opt.update_step = lambda gradient, variable, learning_rate: (seen.append(learning_rate),
                                                                 original(gradient, variable, learning_rate))
    var = keras.Variable(np.zeros(3, "float32"))
    opt.apply([keras.ops.ones(3)], [var])
    assert len(seen) == 1 and isinstance(seen[0], tuple) and len(seen[0]) == 2, (
        where + f"update_step received {seen!r} instead of ReferenceAdam's (step_size, bias2_sqrt)")
    step_size, bias2_sqrt = (float(x) for x in seen[0])
    assert step_size == pytest.approx(1e-3 / (1 - 0.5)) and bias2_sqrt == pytest.approx((1 - 0.999) ** 0.5)
    np.testing.assert_allclose(var.numpy(), -1e-3, rtol=1e-5)  # torch Adam's first step: -lr * sign(g)


def test_config_round_trips_with_every_argument_set():
    schedule, rebuilt = assert_config_round_trip(
        ReferenceLRSchedule, dict(base_lr=0.001, niter=2, niter_decay=3, steps_per_epoch=5, ratio=2.0, name="lr_x"))
    for step in (0, 12, 17, 30):
        assert float(rebuilt(step)) == float(schedule(step))
    # a rate exact in float32 (the optimizer keeps it in a float32 variable)
    opt, again = assert_config_round_trip(
        ReferenceAdam, dict(learning_rate=2.0**-10, beta_1=0.5, beta_2=0.99, epsilon=1e-6, name="adam_x"))
    assert (again.beta_1, again.beta_2, again.epsilon, again.name) == (0.5, 0.99, 1e-6, "adam_x")
