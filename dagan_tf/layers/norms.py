"""Parameter-free (and optionally affine) normalisations with the reference's numerics.

- `BatchNorm`: eps 1e-5; PyTorch momentum 0.1, i.e. `running = 0.9 * running + 0.1 * batch`;
  normalises with the biased batch variance but updates the running variance with the unbiased
  one (as torch does, and Keras' BatchNormalization does not). `synchronized=True` computes the
  statistics over the global batch under `tf.distribute` (SynchronizedBatchNorm2d of the reference).
- `InstanceNorm`: per sample and channel over (height, width), eps 1e-5, biased variance, no
  running statistics (torch's InstanceNorm2d defaults).
"""

import keras
from keras import ops

from dagan_tf.layers.recording import tape_records

_PYTORCH_MOMENTUM = 0.1


def _num_replicas_in_sync() -> int:
    """Replicas whose batches a synchronized batch norm pools (1 outside tf.distribute)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else int(ctx.num_replicas_in_sync)


def batch_moments(x, synchronized: bool = False):
    """Per-channel mean and biased variance over (batch, height, width), and the element count."""
    axes = [0, 1, 2]
    sync = synchronized and keras.backend.backend() == "tensorflow"
    mean, variance = ops.moments(ops.cast(x, "float32"), axes=axes, synchronized=sync)
    count = ops.cast(ops.shape(x)[0] * ops.shape(x)[1] * ops.shape(x)[2], "float32")
    if sync:
        count = count * _num_replicas_in_sync()
    return mean, variance, count


def _batch_normalize_keeping_output(x, epsilon: float, synchronized: bool):
    """`(x - mean) * rsqrt(variance + eps)` with the batch's moments, and the moments, for a tape.

    Same forward as the plain ops; the backward pass keeps only the output y and `rsqrt` instead of
    x and `x - mean` (two activation-sized tensors fewer per norm; SPADE's `y * (1 + gamma)` keeps
    y anyway): `dx = r * (dy - mean(dy) - y * mean(dy * y))`, means over (batch, height, width),
    summed over the replicas when `synchronized`. TensorFlow backend only.
    """
    import tensorflow as tf

    # the moments of a constant copy: the tape records nothing of them (their gradient is in grad)
    mean, variance, count = batch_moments(tf.stop_gradient(x), synchronized)
    rstd = tf.math.rsqrt(variance + epsilon)

    @tf.custom_gradient
    def normalize(x):
        y = (x - mean) * rstd

        def grad(dy):
            with tf.name_scope("batch_norm_gradient"):  # named so profiles find it
                sums = [tf.reduce_sum(dy, [0, 1, 2]), tf.reduce_sum(dy * y, [0, 1, 2])]
                if synchronized and _num_replicas_in_sync() > 1:
                    sums = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, sums)
                return rstd * (dy - sums[0] / count - y * (sums[1] / count))

        return y, grad

    return normalize(x), (mean, variance, count)


@keras.saving.register_keras_serializable(package="dagan_tf")
class BatchNorm(keras.layers.Layer):
    """Batch norm over `(batch, height, width, channels)`, torch semantics (module docstring).

    Variables: `moving_mean`, `moving_variance` (torch `running_mean`, `running_var`) and, with
    `affine=True`, `gamma`, `beta` (torch `weight`, `bias`; gamma initialised N(1, 0.02) as the
    reference's `init_weights`).
    """

    def __init__(self, epsilon: float = 1e-5, momentum: float = _PYTORCH_MOMENTUM,
                 synchronized: bool = False, affine: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.synchronized = bool(synchronized)
        self.affine = bool(affine)

    def build(self, input_shape):
        channels = input_shape[-1]
        stat = dict(shape=(channels,), trainable=False, autocast=False, aggregation="mean")
        self.moving_mean = self.add_weight(name="moving_mean", initializer="zeros", **stat)
        self.moving_variance = self.add_weight(name="moving_variance", initializer="ones", **stat)
        if self.affine:
            self.gamma = self.add_weight(
                name="gamma", shape=(channels,), initializer=keras.initializers.RandomNormal(1.0, 0.02)
            )
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs, training=False):
        out, moments = self.normalize(inputs, training)
        if moments is not None:
            self.update_moving(*moments)
        return out

    def normalize(self, inputs, training=False):
        """(normalised inputs, (mean, biased variance, count) of the batch or None): no state change,
        so a rematerialised block can recompute it (`SPADEResnetBlock(remat=True)`)."""
        x = ops.cast(inputs, "float32")
        if training and tape_records(x):
            out, moments = _batch_normalize_keeping_output(x, self.epsilon, self.synchronized)
        else:
            moments = batch_moments(x, self.synchronized) if training else None
            mean, variance = moments[:2] if training else (self.moving_mean, self.moving_variance)
            out = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.affine:
            out = out * self.gamma + self.beta
        return ops.cast(out, self.compute_dtype), moments

    def update_moving(self, mean, variance, count):
        """Running statistics as torch: biased mean, unbiased variance, momentum 0.1."""
        unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
        m = self.momentum
        self.moving_mean.assign((1.0 - m) * self.moving_mean + m * mean)
        self.moving_variance.assign((1.0 - m) * self.moving_variance + m * unbiased)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "momentum": self.momentum,
                "synchronized": self.synchronized, "affine": self.affine}


def instance_normalize(x, epsilon: float = 1e-5):
    """Per-sample, per-channel normalisation over (height, width) with the biased variance."""
    x32 = ops.cast(x, "float32")
    mean, variance = ops.moments(x32, axes=[1, 2], keepdims=True)
    return ops.cast((x32 - mean) * ops.rsqrt(variance + epsilon), x.dtype)


@keras.saving.register_keras_serializable(package="dagan_tf")
class InstanceNorm(keras.layers.Layer):
    """Instance norm without affine parameters: `(batch, height, width, channels)` -> same shape."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        return instance_normalize(inputs, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def make_norm(kind: str, name: str, affine_batch: bool = False):
    """The reference's norm by name: 'batch', 'syncbatch', 'instance', or 'none' (returns None)."""
    if kind == "none":
        return None
    if kind == "instance":
        return InstanceNorm(name=name)
    if kind in ("batch", "syncbatch"):
        return BatchNorm(synchronized=kind == "syncbatch", affine=affine_batch, name=name)
    raise ValueError(f"unknown norm {kind!r}; expected one of batch, syncbatch, instance, none")
