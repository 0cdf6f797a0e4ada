"""`DAGAN.train_step` is the reference's iteration (dagan_tf/training/model.py).

The re-statement below does SPADE's `run_generator_one_step` + `run_discriminator_one_step` by hand
on copies of the networks: plain TF forward passes and losses, `tf.GradientTape`, and its own Adam
optimisers set up from the reference's rates and betas. Every weight (trainable, spectral-norm
u/v, batch-norm statistics) of G, D and E must agree after the iterations, and so must the logged
losses.
"""

import numpy as np
import pytest
import tensorflow as tf

import keras
from dagan_tf.config import load_config
from dagan_tf.models import build_discriminator, build_encoder, build_generator
from tests.helpers import semantic_map
from dagan_tf.training.model import DAGAN, LOSS_NAMES, active_loss_names
from dagan_tf.training.schedule import ReferenceAdam, epoch_learning_rates
from tests.helpers import grappler_off, tiny_config

pytestmark = pytest.mark.slow


TOL = 1e-5


#: G, D (and E) at ngf / ndf 8 on 32x32 maps of 4 classes; no VGG weights to read.
TRAIN_STEP_CONFIG = dict(label_nc=4, ngf=8, ndf=8, crop_size=32, load_size=32, vgg_weights="none", z_dim=16,
                         niter=100, seed=3)


def tiny_batch(cfg, n=2, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    h, w = cfg.image_hw
    # blocky labels / instances, so the edge channel has both values
    label = np.kron(rng.integers(0, cfg.label_nc, (n, h // 8, w // 8)), np.ones((1, 8, 8))).astype("int32")
    instance = np.kron(rng.integers(0, 3, (n, h // 4, w // 4)), np.ones((1, 4, 4))).astype("int32")
    image = rng.uniform(-1, 1, (n, h, w, 3)).astype("float32")
    return {"label": label, "instance": instance, "image": image}


# --------------------------------------------------------------------------------------------
# The re-statement
# --------------------------------------------------------------------------------------------
class IndependentAdam:
    """The reference's optimiser for the re-statement: a separate `ReferenceAdam` (proven equal to
    torch.optim.Adam in test_schedule.py) created from the reference's numbers, not from the
    model's compile(). Using the same float32 kernels as the model keeps the comparison free of
    round-off, which Adam would otherwise amplify into +-lr steps on parameters whose gradient is
    mathematically zero (conv biases in front of batch norm, D's last bias under a balanced hinge)."""

    def __init__(self, lr, betas, epsilon=1e-8):
        self.opt = ReferenceAdam(lr, *betas, epsilon=epsilon)

    def step(self, variables, grads):
        self.opt.apply(grads, variables)


def _copy(net, builder, cfg):
    twin = builder(cfg)
    twin.set_weights(net.get_weights())
    return twin


def _eps(cfg, step, phase, shape):
    """The model's documented noise: stateless normal keyed by (seed, step), folded with
    replica * 2 + phase (replica 0 here)."""
    seed = tf.random.experimental.stateless_fold_in(tf.constant([cfg.seed, step], tf.int32), phase)
    return tf.random.stateless_normal(shape, seed=seed)


def _d_outputs(D, sem, fake, real):
    out = D(tf.concat([tf.concat([sem, fake], -1), tf.concat([sem, real], -1)], 0), training=True)
    n = fake.shape[0]
    return [[t[:n] for t in s] for s in out], [[t[n:] for t in s] for s in out]


def reference_iteration(nets, vgg_features, cfg, data, step, adam_g, adam_d):
    """One iteration of SPADE's trainer, written out; returns the losses it logs."""
    G, D, E = nets
    sem = semantic_map(data["label"], data["instance"], cfg)
    real = tf.constant(data["image"])
    num_d = cfg.num_D
    losses = {}
    # --- generator step --------------------------------------------------------------------
    with tf.GradientTape() as tape:
        z = None
        if cfg.use_vae:
            mu, logvar = E(real, training=True)
            z = mu + tf.exp(0.5 * logvar) * _eps(cfg, step, 0, mu.shape)
            losses["G_KLD"] = -0.5 * tf.reduce_sum(1 + logvar - mu**2 - tf.exp(logvar)) * cfg.lambda_kld
        fake = G([sem, z] if cfg.use_vae else sem, training=True)
        pred_fake, pred_real = _d_outputs(D, sem, fake, real)
        losses["G_GAN"] = tf.add_n([-tf.reduce_mean(s[-1]) for s in pred_fake]) / num_d
        losses["G_GAN_Feat"] = tf.add_n([
            tf.reduce_mean(tf.abs(f - tf.stop_gradient(r))) * cfg.lambda_feat / num_d
            for fs, rs in zip(pred_fake, pred_real) for f, r in zip(fs[:-1], rs[:-1])])
        if vgg_features is not None:
            vgg_fake, vgg_real = vgg_features(fake), vgg_features(real)
            losses["G_VGG"] = tf.add_n([
                w * tf.reduce_mean(tf.abs(a - tf.stop_gradient(b)))
                for w, a, b in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0], vgg_fake, vgg_real)]) * cfg.lambda_vgg
        total = tf.add_n(list(losses.values()))
    g_vars = G.trainable_variables + (E.trainable_variables if cfg.use_vae else [])
    adam_g.step(g_vars, tape.gradient(total, g_vars))
    # --- discriminator step (fake from the updated G, no gradient to G) ------------------------
    z = None
    if cfg.use_vae:
        mu, logvar = E(real, training=True)
        z = mu + tf.exp(0.5 * logvar) * _eps(cfg, step, 1, mu.shape)
    fake = tf.stop_gradient(G([sem, z] if cfg.use_vae else sem, training=True))
    with tf.GradientTape() as tape:
        pred_fake, pred_real = _d_outputs(D, sem, fake, real)
        losses["D_fake"] = tf.add_n([tf.reduce_mean(tf.nn.relu(1 + s[-1])) for s in pred_fake]) / num_d
        losses["D_real"] = tf.add_n([tf.reduce_mean(tf.nn.relu(1 - s[-1])) for s in pred_real]) / num_d
        total = losses["D_fake"] + losses["D_real"]
    adam_d.step(D.trainable_variables, tape.gradient(total, D.trainable_variables))
    return {k: float(v) for k, v in losses.items()}


def _max_weight_diff(a, b):
    assert len(a.weights) == len(b.weights)
    return max(float(np.abs(x.numpy() - y.numpy()).max()) for x, y in zip(a.weights, b.weights))


#: variant -> (config changes, iterations). The eager variants call train_step eagerly with the
#: reference's optimisers (Adam eps 1e-8): every number must agree. The graph variant runs Keras' fit
#: (train_step traced by tf.function); see GRAPH_ADAM_EPSILON for its one difference.
VARIANTS = {
    "ttur_eager": (dict(), 2),
    "no_ttur_eager": (dict(no_TTUR=True, no_vgg_loss=True), 2),
    "vae_eager": (dict(use_vae=True, no_vgg_loss=True), 1),
    "ttur_fit_graph": (dict(), 2),
}
#: Adam's epsilon in the graph variant (both sides). A traced gradient differs from the eager one
#: in float32 round-off (gradient accumulation order), and on parameters whose gradient is
#: mathematically zero (conv biases in front of a batch norm, which removes any per-channel shift)
#: Adam with eps 1e-8 turns that round-off (~1e-6) into full +-lr steps (~1e-4, then moving the
#: batch-norm statistics downstream). With eps 1e-3 such noise moves a weight by ~1e-3 * lr, while
#: real gradients (>= 1e-2 here) still give ~lr steps: what is left to compare is what the traced
#: step does (order of the updates, which fake D sees, the logged values), at the same 1e-5.
GRAPH_ADAM_EPSILON = 1e-3


def _vgg_or_none(model):
    return None if model.vgg_loss is None else model.vgg_loss.features


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_train_steps_equal_the_reference_iteration(variant):
    changes, steps = VARIANTS[variant]
    cfg = tiny_config(TRAIN_STEP_CONFIG, **changes)
    model = DAGAN(cfg)
    lr_g, lr_d = epoch_learning_rates(cfg, 1)
    betas = (0.5, 0.999) if cfg.no_TTUR else (0.0, 0.9)
    epsilon = GRAPH_ADAM_EPSILON if variant == "ttur_fit_graph" else 1e-8
    if variant == "ttur_fit_graph":
        model.compile(ReferenceAdam(lr_g, *betas, epsilon=epsilon), ReferenceAdam(lr_d, *betas, epsilon=epsilon))
    else:
        model.compile()  # the optimisers the config asks for
    nets = (_copy(model.generator, build_generator, cfg), _copy(model.discriminator, build_discriminator, cfg),
            _copy(model.encoder, build_encoder, cfg) if cfg.use_vae else None)
    before = [w.numpy().copy() for w in model.generator.weights]
    batches = [tiny_batch(cfg, seed=s) for s in range(steps)]

    if variant == "ttur_fit_graph":  # Keras' fit, train_step traced by tf.function
        seen = []
        ds = tf.data.Dataset.from_tensor_slices({k: np.stack([b[k] for b in batches]) for k in batches[0]})
        # Grappler's rewrites (op fusion, reordering) change float32 rounding, not semantics; with
        # them off the traced graph runs the eager kernels, so any difference left would be a
        # difference in what the step does (order of updates, which fake D sees, ...).
        with grappler_off():
            model.fit(ds, epochs=1, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda i, logs: seen.append(dict(logs)))])
    else:
        seen = [{k: float(v) for k, v in model.train_step(b).items()} for b in batches]

    adam_g, adam_d = IndependentAdam(lr_g, betas, epsilon), IndependentAdam(lr_d, betas, epsilon)
    expected = [reference_iteration(nets, _vgg_or_none(model), cfg, b, step, adam_g, adam_d)
                for step, b in enumerate(batches)]

    assert len(seen) == steps
    for got, want in zip(seen, expected):
        assert set(want) | {"lr_G", "lr_D"} == set(got)
        for name, value in want.items():
            assert abs(float(got[name]) - value) <= TOL * max(1.0, abs(value)), (variant, name, got[name], value)
        assert float(got["lr_G"]) == pytest.approx(lr_g, rel=1e-6)
        assert float(got["lr_D"]) == pytest.approx(lr_d, rel=1e-6)
    diffs = {"G": _max_weight_diff(model.generator, nets[0]), "D": _max_weight_diff(model.discriminator, nets[1])}
    if cfg.use_vae:
        diffs["E"] = _max_weight_diff(model.encoder, nets[2])
    assert max(diffs.values()) <= TOL, (variant, diffs)
    # and the steps really trained: G moved by at least one Adam step of lr_G
    moved = max(float(np.abs(w.numpy() - b).max()) for w, b in zip(model.generator.weights, before))
    assert moved > lr_g
    print(f"{variant}: max weight diffs {diffs}, G moved {moved:.2e}")


def test_compile_builds_optimizer_state_and_logs_switched_on_losses():
    cfg = tiny_config(TRAIN_STEP_CONFIG, no_vgg_loss=True, no_ganFeat_loss=True)
    model = DAGAN(cfg)
    assert model.vgg_loss is None and model.encoder is None
    model.compile()
    # Adam state exists before the first step (so a checkpoint made now restores it)
    n_g, n_d = len(model.generator.trainable_variables), len(model.discriminator.trainable_variables)
    assert len(model.g_optimizer.variables) == 2 + 2 * n_g  # iterations, lr?, m and v per variable
    assert len(model.d_optimizer.variables) == 2 + 2 * n_d
    assert active_loss_names(cfg) == ("G_GAN", "D_fake", "D_real")
    logs = model.train_step(tiny_batch(cfg))
    assert list(logs) == ["G_GAN", "D_fake", "D_real", "lr_G", "lr_D"]
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 1
    assert set(active_loss_names(tiny_config(TRAIN_STEP_CONFIG, use_vae=True))) == set(LOSS_NAMES)
    with pytest.raises(ValueError, match="D_steps_per_G"):
        DAGAN(tiny_config(TRAIN_STEP_CONFIG, D_steps_per_G=2))


def test_every_gan_mode_gives_finite_losses_and_call_generates():
    """The step's two forward passes in every GAN mode (the update path does not depend on it)."""
    data = tiny_batch(tiny_config(TRAIN_STEP_CONFIG))
    for mode in ("hinge", "ls", "original", "w"):
        cfg = tiny_config(TRAIN_STEP_CONFIG, gan_mode=mode, no_vgg_loss=True)
        model = DAGAN(cfg)
        sem, image = model.semantic_map(data), tf.constant(data["image"])
        g_losses, fake = model.generator_losses(sem, image)
        d_losses = model.discriminator_losses(sem, image)
        values = {**g_losses, **d_losses}
        assert set(values) == {"G_GAN", "G_GAN_Feat", "D_fake", "D_real"}
        assert all(np.isfinite(float(v)) for v in values.values()), (mode, values)
        if mode == "ls":  # mean((x - 1)^2) for real, mean(x^2) for fake: both near 1 and 0 at init
            assert 0.5 < float(d_losses["D_real"]) < 1.5 and float(d_losses["D_fake"]) < 0.5
    out = model(data)
    assert out.shape == (2, 32, 32, 3) and out.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(out))) <= 1.0


def test_coco_stuff_samples_train_at_64px_with_finite_losses(coco_samples):
    """The real COCO-Stuff samples (182 classes + dontcare + instance edges) through the data
    pipeline and Keras' fit for 3 steps at 64 px: every loss term finite, the G loss changes."""
    from dagan_tf.data import build_dataset

    cfg = load_config("configs/coco.yaml", dict(crop_size=64, load_size=72, ngf=8, ndf=16, batchSize=2,
                                                vgg_weights="none", dataroot=str(coco_samples)))
    ds = build_dataset(cfg, "train", batch_size=cfg.batchSize, shuffle=True)
    model = DAGAN(cfg)
    model.compile(steps_per_epoch=13 // cfg.batchSize)
    seen = []
    model.fit(ds.take(3), epochs=1, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda i, logs: seen.append(dict(logs)))])
    assert len(seen) == 3
    for logs in seen:
        assert set(active_loss_names(cfg)) | {"lr_G", "lr_D"} == set(logs)
        assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert seen[0]["G_GAN_Feat"] != seen[-1]["G_GAN_Feat"]
    print("coco 64px losses:", {k: round(float(v), 4) for k, v in seen[-1].items()})
