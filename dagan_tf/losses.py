"""DAGAN's training losses, as the reference's `GANLoss`, feature matching, `VGGLoss` and `KLDLoss`.

Everything here is `keras.ops` (any backend) and returns float32 scalars, also under a mixed-precision
policy: predictions and features are cast to float32 before they are reduced.

Discriminator outputs come as the multi-scale discriminator returns them: a list of `num_D` scales,
each the list of every block's output `(batch, h_i, w_i, c_i)`, the last being the patch logits.
"""

from __future__ import annotations

import gc
import os

import keras
from keras import ops

from dagan_tf.config import ConfigError
from dagan_tf.layers.stride_one_conv import StrideOneConv2D

__all__ = [
    "GAN_MODES",
    "VGG_FEATURE_LAYERS",
    "VGG_FEATURE_WEIGHTS",
    "VGGLoss",
    "VGG_WEIGHTS_FILE",
    "build_vgg19",
    "feature_matching_loss",
    "gan_loss",
    "gan_loss_single",
    "kld_loss",
    "zero_loss",
]

GAN_MODES = ("hinge", "ls", "original", "w")

#: Keras VGG19 layers holding relu1_1 .. relu5_1 (Keras' convs carry their ReLU, so a conv layer's
#: output is the reference's `slice<i>` output), and the reference's weights for them.
VGG_FEATURE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
VGG_FEATURE_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
#: The file Keras downloads for `weights="imagenet"` (into ~/.keras/models/); a copy works as `vgg_weights`.
VGG_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _f32(x):
    return ops.cast(x, "float32")


def gan_loss_single(pred, target_is_real: bool, for_discriminator: bool = True, mode: str = "hinge"):
    """The reference's `GANLoss.loss` on one logits tensor `(batch, h, w, 1)` -> scalar.

    - hinge, D: real `-mean(min(x - 1, 0))`, fake `-mean(min(-x - 1, 0))`; G: `-mean(x)`.
    - ls: `mean((x - t)^2)`, t = 1 for real, 0 for fake.
    - original: binary cross-entropy with logits against t, averaged.
    - w: `-mean(x)` for real, `mean(x)` for fake.
    """
    x = _f32(pred)
    if mode == "hinge":
        if for_discriminator:
            shifted = x - 1.0 if target_is_real else -x - 1.0
            return -ops.mean(ops.minimum(shifted, 0.0))
        if not target_is_real:
            raise ValueError("the generator's hinge loss must aim for real (target_is_real=True)")
        return -ops.mean(x)
    if mode == "ls":
        target = 1.0 if target_is_real else 0.0
        return ops.mean(ops.square(x - target))
    if mode == "original":
        target = 1.0 if target_is_real else 0.0
        # numerically stable BCE with logits, as torch's binary_cross_entropy_with_logits
        return ops.mean(ops.maximum(x, 0.0) - x * target + ops.log1p(ops.exp(-ops.abs(x))))
    if mode == "w":
        return -ops.mean(x) if target_is_real else ops.mean(x)
    raise ValueError(f"gan_mode {mode!r} is not one of {', '.join(GAN_MODES)}")


def gan_loss(pred_scales, target_is_real: bool, for_discriminator: bool = True, mode: str = "hinge"):
    """The reference's `GANLoss.__call__`: each scale's last output, the per-scale loss summed over
    the scales and divided by their number. `pred_scales` may also be a single logits tensor."""
    if not isinstance(pred_scales, (list, tuple)):
        return gan_loss_single(pred_scales, target_is_real, for_discriminator, mode)
    total = 0.0
    for scale in pred_scales:
        logits = scale[-1] if isinstance(scale, (list, tuple)) else scale
        total = total + gan_loss_single(logits, target_is_real, for_discriminator, mode)
    return total / len(pred_scales)


def feature_matching_loss(fake_scales, real_scales, lambda_feat: float = 10.0):
    """Discriminator feature matching (`GAN_Feat` of the reference).

    L1 mean between fake and real features of every intermediate block of every scale (all but
    the last output, the logits), each times `lambda_feat / num_D`, summed. Real features are
    constants (the reference `.detach()`es them).
    """
    num_d = len(fake_scales)
    total = 0.0
    for fake_feats, real_feats in zip(fake_scales, real_scales):
        for fake, real in zip(fake_feats[:-1], real_feats[:-1]):
            l1 = ops.mean(ops.abs(_f32(fake) - ops.stop_gradient(_f32(real))))
            total = total + l1 * (lambda_feat / num_d)
    return total


def kld_loss(mu, logvar):
    """`-0.5 * sum(1 + logvar - mu^2 - exp(logvar))` over everything, batch included (the reference
    sums, it does not average; multiply by `lambda_kld` yourself). mu, logvar: `(batch, z_dim)`."""
    mu, logvar = _f32(mu), _f32(logvar)
    return -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar))


def _resolve_vgg_weights(vgg_weights: str):
    """Config value -> the `weights` argument of keras.applications.VGG19."""
    if vgg_weights is None or str(vgg_weights).lower() == "none":
        return None
    if vgg_weights == "imagenet":
        return "imagenet"  # downloaded by Keras on first use
    if not os.path.isfile(vgg_weights):
        raise FileNotFoundError(
            f"config key 'vgg_weights': value {vgg_weights!r} is not 'imagenet', 'none' or an existing "
            "weights file (a VGG19 include_top=False .h5 / .weights.h5)"
        )
    return vgg_weights


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def build_vgg19(vgg_weights: str = "imagenet") -> keras.Model:
    """Keras' VGG19 without its classifier, any input size, with the weights `vgg_weights` names.

    Raises ConfigError naming the keys to set when the ImageNet weights cannot be downloaded (offline
    machines) or a weights file cannot be loaded.
    """
    weights = _resolve_vgg_weights(vgg_weights)
    try:
        return keras.applications.VGG19(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as e:
        if weights == "imagenet":
            raise ConfigError(
                f"the VGG loss needs the ImageNet VGG19 weights and getting them failed ({_one_line(e)}); "
                f"set config key 'vgg_weights: FILE' (a local copy of {VGG_WEIGHTS_FILE}) or "
                "'no_vgg_loss: true' (or 'lambda_vgg: 0') to train without the VGG loss", key="vgg_weights"
            ) from e
        raise ConfigError(f"config key 'vgg_weights': cannot load VGG19 weights from {weights} ({_one_line(e)}); "
                          f"it must hold Keras' VGG19 include_top=False weights ({VGG_WEIGHTS_FILE})",
                          key="vgg_weights") from e


def _with_stride_one_convs(vgg: keras.Model) -> keras.Model:
    """The same network with its (stride-1) convs as StrideOneConv2D: same names, weights and
    outputs, and TensorFlow's backward pass through it, which the G step needs, runs as forward
    convolutions (dagan_tf/layers/stride_one_conv.py)."""
    def clone(layer):
        if isinstance(layer, keras.layers.Conv2D):
            return StrideOneConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(vgg, clone_function=clone)
    copy.set_weights(vgg.get_weights())
    del vgg
    gc.collect()  # the original's 80 MB of weights sit in reference cycles until a collection
    return copy


def zero_loss(fake, real):
    """The VGG loss when `lambda_vgg` is 0: a float32 zero, so no VGG19 is built (or downloaded) for it."""
    del fake, real
    return ops.zeros((), "float32")


@keras.saving.register_keras_serializable(package="dagan_tf")
class VGGLoss(keras.layers.Layer):
    """The reference's perceptual loss: weighted L1 between VGG19 features of fake and real.

    `loss = sum_i w_i * mean(|vgg_i(fake) - vgg_i(real)|)` over relu1_1 .. relu5_1 with weights
    1/32, 1/16, 1/8, 1/4, 1 (multiply by `lambda_vgg` yourself). Real features are constants.

    Inputs: fake, real `(batch, height, width, 3)` in [-1, 1]. They go into the VGG as they are:
    the reference feeds [-1, 1] RGB straight into torchvision's VGG19 without ImageNet
    normalisation, and so do we. Keras' ImageNet VGG19 weights are the caffe (BGR, mean-subtracted
    0..255) ones, so with `weights="imagenet"` this is the reference's pipeline literally, not
    feature-for-feature parity with torchvision's network.

    `vgg_weights`: "imagenet" (downloaded by Keras), a local weights file, or "none" (random
    initialisation, for tests). The VGG is frozen: its weights never train. A failed download or an
    unreadable file raises ConfigError naming the keys to set (`build_vgg19`).
    """

    def __init__(self, vgg_weights: str = "imagenet", **kwargs):
        super().__init__(**kwargs)
        self.vgg_weights = "none" if vgg_weights is None else str(vgg_weights)
        vgg = _with_stride_one_convs(build_vgg19(self.vgg_weights))
        vgg.trainable = False
        self.features = keras.Model(
            vgg.input, [vgg.get_layer(name).output for name in VGG_FEATURE_LAYERS], name="vgg19_features"
        )
        self.features.trainable = False

    def call(self, fake, real):
        # Two passes, as the reference's: no gradient reaches the real image's pass, so the backward
        # pass keeps none of its activations and runs over the fake alone. One pass over
        # concat[fake, real] would keep both halves' activations and backpropagate through both.
        fake_feats = self.features(ops.cast(fake, "float32"), training=False)
        real_feats = self.features(ops.cast(ops.stop_gradient(real), "float32"), training=False)
        total = 0.0
        for weight, fake_feat, real_feat in zip(VGG_FEATURE_WEIGHTS, fake_feats, real_feats):
            l1 = ops.mean(ops.abs(_f32(fake_feat) - ops.stop_gradient(_f32(real_feat))))
            total = total + weight * l1
        return total

    def compute_output_spec(self, fake, real):
        return keras.KerasTensor((), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "vgg_weights": self.vgg_weights}
