"""`DAGAN(keras.Model)`: G, D (and E) with a `train_step` that is one iteration of the reference.

One reference iteration (SPADE `train.py` with `D_steps_per_G = 1`, `pix2pix_model.py`):
1. G step: with `use_vae`, `mu, logvar = E(image)`, `z = mu + exp(logvar / 2) * eps`, KLD;
   `fake = G(semantic[, z])`; D sees `concat[fake, real]` along the batch (fake first, each
   `concat[semantic, image]` on channels); losses G_GAN, G_GAN_Feat, G_VGG, G_KLD; the gradient of
   their sum updates G (and E) only.
2. D step: a new fake from the *updated* G (E encodes again, fresh eps), without gradient;
   D_fake + D_real updates D only.
Every network runs in training mode in both steps, as the reference's modules do: every call
advances the spectral-norm power iteration and the batch-norm running statistics (so D's u/v move in
the G step too, and G's batch-norm statistics move twice per iteration). D is never frozen with
`trainable=False` (that would switch its norms to inference); the G step simply differentiates with
respect to G's variables only.

Distribution (`tf.distribute`, TensorFlow backend): each replica computes its losses on its local
batch; optimizers sum gradients over replicas, so a replica's contribution to a mean-type loss is
divided by `num_replicas_in_sync` (the global batch's mean), while the KL term, a sum over the batch
in the reference, is not divided (the global batch's sum). The logged values are those of the global
batch on every replica. Batch norms of type `syncbatch` pool their statistics over all replicas.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from dagan_tf.config import DAGANConfig
from dagan_tf.losses import VGGLoss, feature_matching_loss, gan_loss, kld_loss, zero_loss
from dagan_tf.models import SemanticPreprocessor, build_discriminator, build_encoder, build_generator
from dagan_tf.training.schedule import build_optimizers

__all__ = ["DAGAN", "LOSS_NAMES", "active_loss_names"]

#: Every loss the trainer can log, in the reference's order.
LOSS_NAMES = ("G_GAN", "G_GAN_Feat", "G_VGG", "G_KLD", "D_fake", "D_real")


def active_loss_names(config: DAGANConfig) -> tuple[str, ...]:
    """The losses switched on by `config` (the keys `train_step` logs, besides lr_G and lr_D)."""
    off = set()
    if config.no_ganFeat_loss:
        off.add("G_GAN_Feat")
    if config.no_vgg_loss:
        off.add("G_VGG")
    if not config.use_vae:
        off.add("G_KLD")
    return tuple(name for name in LOSS_NAMES if name not in off)


def _num_replicas() -> int:
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def _multi_worker() -> bool:
    """Whether Keras treats the current strategy as multi-worker (its `reduce_per_replica` rule)."""
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


def _replica_id():
    ctx = tf.distribute.get_replica_context()
    return 0 if ctx is None else ctx.replica_id_in_sync_group


def _sum_over_replicas(values: dict) -> dict:
    """{name: per-replica share} -> {name: global value}, the same on every replica."""
    if _num_replicas() == 1:
        return values
    names = list(values)
    reduced = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, [values[n] for n in names]
    )
    return dict(zip(names, reduced))


class DAGAN(keras.Model):
    """The trainable DAGAN: `generator`, `discriminator`, `encoder` (with `use_vae`, else None),
    `vgg_loss` (unless `no_vgg_loss`), and after `compile` the `g_optimizer` / `d_optimizer`.

    Build it (and compile it) inside `strategy.scope()`. Data: dicts with `label` int `(N, H, W)`,
    `instance` int `(N, H, W)` (unless `no_instance`) and `image` float32 `(N, H, W, 3)` in [-1, 1];
    `N` is the global batch under `fit` (each replica gets N / replicas). Calling the model,
    `model(data)`, generates images `(N, H, W, 3)` (with `use_vae`, z from the encoded `image`, or
    N(0, 1) when the dict has no image).
    """

    def __init__(self, config: DAGANConfig, generator=None, discriminator=None, encoder=None,
                 vgg_loss=None, name: str = "dagan", **kwargs):
        super().__init__(name=name, **kwargs)
        if config.D_steps_per_G != 1:
            # A D-only iteration needs a cond around an optimizer update, which tf.distribute does
            # not allow in a replica context; the reference's default is 1.
            raise ValueError(
                f"config key 'D_steps_per_G': value {config.D_steps_per_G} is not supported by the "
                "Keras trainer; use 1 (the reference's default)"
            )
        self.config = config
        self.generator = generator if generator is not None else build_generator(config)
        self.discriminator = discriminator if discriminator is not None else build_discriminator(config)
        self.preprocessor = SemanticPreprocessor.from_dagan_config(config)
        if config.use_vae:
            self.encoder = encoder if encoder is not None else build_encoder(config)
        else:
            self.encoder = None
        if not config.no_vgg_loss and vgg_loss is None:
            # lambda_vgg 0 switches the loss off: G_VGG stays a logged 0, and VGG19 is never built
            vgg_loss = VGGLoss(config.vgg_weights, name="vgg_loss") if config.lambda_vgg else zero_loss
        # The VGG is a fixed loss network rebuilt from `vgg_weights`: keep it out of Keras' and
        # tf.train's tracking so its 20M weights are not written into every checkpoint / backup.
        self.__dict__["_vgg_loss"] = None if config.no_vgg_loss else vgg_loss
        self.g_optimizer = None
        self.d_optimizer = None
        # The run's one step counter (see `step`). Every replica adds 1 per iteration; one counts.
        self._step = keras.Variable(0, dtype="int64", trainable=False, name="step",
                                    aggregation="only_first_replica")
        self.built = True

    @property
    def vgg_loss(self):
        return self.__dict__["_vgg_loss"]

    @property
    def step(self):
        """The run's one step counter: iterations done since the run's start, an int64 variable saved
        with the training state. The VAE noise, the epoch, the data to skip on a resume, every log and
        every periodic action derive from it. (The optimizers' own `iterations`, which position the lr
        schedules, count the same updates; a backup checks that they agree.)"""
        return self._step

    # ------------------------------------------------------------------------------------------
    @property
    def g_variables(self) -> list:
        """What G's optimiser trains: G's trainable variables, then E's (the reference's G_params)."""
        out = list(self.generator.trainable_variables)
        if self.encoder is not None:
            out += list(self.encoder.trainable_variables)
        return out

    @property
    def d_variables(self) -> list:
        return list(self.discriminator.trainable_variables)

    def compile(self, g_optimizer=None, d_optimizer=None, steps_per_epoch: int | None = None,
                jit_compile=False, **kwargs):
        """Set (or build from the config) both optimisers and create their state now.

        Defaults: `schedule.build_optimizers(config, steps_per_epoch)` (Adam as torch, TTUR rates
        and betas, the reference's lr decay; `steps_per_epoch` is needed when `niter_decay > 0`).
        Under a `mixed_float16` policy both are wrapped in `LossScaleOptimizer`. Their variables
        are created here, on the variables they train, so that checkpoints made before the first
        step already hold them. Other keyword arguments go to `keras.Model.compile`
        (`steps_per_execution`, `run_eagerly`, ...). Call inside the strategy's scope.
        """
        if g_optimizer is None or d_optimizer is None:
            default_g, default_d = build_optimizers(self.config, steps_per_epoch)
            g_optimizer = g_optimizer if g_optimizer is not None else default_g
            d_optimizer = d_optimizer if d_optimizer is not None else default_d
        if keras.config.dtype_policy().name == "mixed_float16":
            wrap = keras.optimizers.LossScaleOptimizer
            g_optimizer = g_optimizer if isinstance(g_optimizer, wrap) else wrap(g_optimizer, name="g_loss_scale")
            d_optimizer = d_optimizer if isinstance(d_optimizer, wrap) else wrap(d_optimizer, name="d_loss_scale")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.g_variables)
        self.d_optimizer.build(self.d_variables)
        # no Keras-level optimizer/loss: train_step owns both updates
        super().compile(optimizer=None, loss=None, jit_compile=jit_compile, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build: every network is built in __init__ and the optimisers in compile().

        Keras' TF trainer (3.15) would otherwise run `strategy.reduce("MEAN", batch)` over the first
        data dict before `fit`, which MultiWorkerMirroredStrategy rejects for a dict of PerReplica
        values (keras-team/keras#20329); skipping it changes nothing for an already-built model.
        """
        return None

    # ------------------------------------------------------------------------------------------
    def semantic_map(self, data):
        """The data dict's label file values (+ instance) -> the semantic map `(N, H, W, semantic_nc)`
        float32 (`preprocessor`, the Synthesizer's own)."""
        return self.preprocessor({key: data[key] for key in ("label", "instance") if key in data})

    def _noise(self, shape, phase: int, step=None):
        """eps ~ N(0, 1) for the reparameterisation: a function of (seed, step, replica, phase), so
        it is reproducible, differs across replicas and survives a resume. `step`: the iteration in
        progress (default: `self.step` now)."""
        step = ops.cast(self.step if step is None else step, "int32")
        seed = tf.stack([tf.constant(self.config.seed, tf.int32), step])
        seed = tf.random.experimental.stateless_fold_in(seed, _replica_id() * 2 + phase)
        return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32)

    def encode(self, image, phase: int, training: bool = True, step=None):
        """E(image) -> (z, mu, logvar), `z = mu + exp(logvar / 2) * eps`."""
        mu, logvar = self.encoder(image, training=training)
        mu, logvar = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
        eps = self._noise(ops.shape(mu), phase, step)
        return mu + ops.exp(0.5 * logvar) * eps, mu, logvar

    def _generate(self, semantic, z, training: bool):
        inputs = semantic if z is None else [semantic, z]
        return ops.cast(self.generator(inputs, training=training), "float32")

    def discriminate(self, semantic, fake, real, training: bool = True):
        """D on `concat[fake, real]` (fake first), split back: (pred_fake, pred_real), each a list
        of scales, each a list of every block's output."""
        fake_and_real = ops.concatenate(
            [ops.concatenate([semantic, fake], -1), ops.concatenate([semantic, real], -1)], 0
        )
        out = self.discriminator(fake_and_real, training=training)
        half = ops.shape(fake)[0]
        pred_fake = [[t[:half] for t in scale] for scale in out]
        pred_real = [[t[half:] for t in scale] for scale in out]
        return pred_fake, pred_real

    # ------------------------------------------------------------------------------------------
    def generator_losses(self, semantic, image, step=None):
        """The G step's forward pass: ({name: loss on the local batch}, fake). G_KLD includes
        lambda_kld, G_GAN_Feat lambda_feat, G_VGG lambda_vgg (as the reference's dict)."""
        cfg = self.config
        losses, z = {}, None
        if cfg.use_vae:
            z, mu, logvar = self.encode(image, phase=0, step=step)
            losses["G_KLD"] = kld_loss(mu, logvar) * cfg.lambda_kld
        fake = self._generate(semantic, z, training=True)
        pred_fake, pred_real = self.discriminate(semantic, fake, image)
        losses["G_GAN"] = gan_loss(pred_fake, True, for_discriminator=False, mode=cfg.gan_mode)
        if not cfg.no_ganFeat_loss:
            losses["G_GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, cfg.lambda_feat)
        if not cfg.no_vgg_loss:
            losses["G_VGG"] = self.vgg_loss(fake, image) * cfg.lambda_vgg
        return losses, fake

    def discriminator_fake(self, semantic, image, step=None):
        """The D step's fake: the current G (E encodes again, fresh eps), no gradient."""
        z = None
        if self.config.use_vae:
            z, _, _ = self.encode(image, phase=1, step=step)
        return ops.stop_gradient(self._generate(semantic, z, training=True))

    def discriminator_losses(self, semantic, image, step=None, fake=None):
        """The D step's forward pass: {D_fake, D_real} on the local batch, for `fake` (default: a
        new `discriminator_fake`)."""
        cfg = self.config
        if fake is None:
            fake = self.discriminator_fake(semantic, image, step)
        pred_fake, pred_real = self.discriminate(semantic, fake, image)
        return {
            "D_fake": gan_loss(pred_fake, False, for_discriminator=True, mode=cfg.gan_mode),
            "D_real": gan_loss(pred_real, True, for_discriminator=True, mode=cfg.gan_mode),
        }

    @staticmethod
    def _replica_shares(losses: dict) -> dict:
        """Each loss's share of the global-batch value: means / replicas, KL sums as they are."""
        n = _num_replicas()
        if n == 1:
            return losses
        return {k: (v if k == "G_KLD" else v / float(n)) for k, v in losses.items()}

    def _apply(self, optimizer, tape, total, variables):
        grads = tape.gradient(total, variables)
        optimizer.apply(grads, variables)

    def train_step(self, data):
        """One reference iteration (module docstring). Returns the global batch's losses and the
        learning rates this step used."""
        if self.g_optimizer is None:
            raise RuntimeError("DAGAN.train_step before compile(): call model.compile() first")
        step = ops.convert_to_tensor(self.step)  # the iteration in progress
        semantic = self.semantic_map(data)
        image = ops.cast(data["image"], "float32")
        lr_g = ops.cast(self.g_optimizer.learning_rate, "float32")
        lr_d = ops.cast(self.d_optimizer.learning_rate, "float32")

        g_vars = self.g_variables
        with tf.GradientTape() as tape:
            g_losses, _ = self.generator_losses(semantic, image, step)
            g_shares = self._replica_shares(g_losses)
            g_total = self.g_optimizer.scale_loss(ops.sum(ops.stack(list(g_shares.values()))))
        self._apply(self.g_optimizer, tape, g_total, g_vars)

        d_vars = self.d_variables
        # outside the tape: no gradient flows into G here, so none of its activations are recorded
        fake = self.discriminator_fake(semantic, image, step)
        with tf.GradientTape() as tape:
            d_losses = self.discriminator_losses(semantic, image, step, fake)
            d_shares = self._replica_shares(d_losses)
            d_total = self.d_optimizer.scale_loss(d_shares["D_fake"] + d_shares["D_real"])
        self._apply(self.d_optimizer, tape, d_total, d_vars)

        self.step.assign_add(1)
        logs = _sum_over_replicas({**g_shares, **d_shares})
        logs = {name: logs[name] for name in LOSS_NAMES if name in logs}
        logs["lr_G"] = lr_g
        logs["lr_D"] = lr_d
        if _multi_worker():
            # Keras reduces fit's logs under MultiWorkerMirroredStrategy with
            # strategy.reduce("MEAN", value, axis=0), which fails on scalars; a length-1 axis
            # reduces back to the (already global, identical) scalar.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def call(self, data, training=False):
        """Generate images for a data dict (see the class docstring)."""
        semantic = self.semantic_map(data)
        z = None
        if self.config.use_vae:
            if "image" in data:
                mu, logvar = self.encoder(ops.cast(data["image"], "float32"), training=training)
                z = ops.cast(mu, "float32")
            else:
                z = keras.random.normal((ops.shape(semantic)[0], self.config.z_dim))
        return self._generate(semantic, z, training=training)

    def test_step(self, data):
        """Losses of both steps on a batch without updating anything (networks in training mode
        would move their statistics, so this runs them in inference mode)."""
        semantic = self.semantic_map(data)
        image = ops.cast(data["image"], "float32")
        fake = self(data, training=False)
        pred_fake, pred_real = self.discriminate(semantic, fake, image, training=False)
        cfg = self.config
        logs = {"G_GAN": gan_loss(pred_fake, True, for_discriminator=False, mode=cfg.gan_mode)}
        if not cfg.no_ganFeat_loss:
            logs["G_GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, cfg.lambda_feat)
        if not cfg.no_vgg_loss:
            logs["G_VGG"] = self.vgg_loss(fake, image) * cfg.lambda_vgg
        logs["D_fake"] = gan_loss(pred_fake, False, for_discriminator=True, mode=cfg.gan_mode)
        logs["D_real"] = gan_loss(pred_real, True, for_discriminator=True, mode=cfg.gan_mode)
        return _sum_over_replicas(self._replica_shares(logs))
