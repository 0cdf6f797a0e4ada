"""GAN (every mode), feature-matching, VGG and KL losses against NumPy re-statements of the
reference's `GANLoss`, `criterionFeat`, `VGGLoss` and `KLDLoss` (dagan_tf/losses.py)."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import keras
from dagan_tf.losses import (
    VGG_FEATURE_LAYERS,
    VGG_FEATURE_WEIGHTS,
    VGGLoss,
    build_vgg19,
    feature_matching_loss,
    gan_loss,
    kld_loss,
    zero_loss,
)
from tests.helpers import assert_config_round_trip


def _np_single(x, real, for_d, mode):
    """NumPy re-statement of SPADE's GANLoss.loss (float64)."""
    x = x.astype(np.float64)
    t = 1.0 if real else 0.0
    if mode == "original":
        p = 1.0 / (1.0 + np.exp(-x))
        return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)))
    if mode == "ls":
        return np.mean((x - t) ** 2)
    if mode == "hinge":
        if for_d:
            return -np.mean(np.minimum(x - 1, 0)) if real else -np.mean(np.minimum(-x - 1, 0))
        return -np.mean(x)
    return -np.mean(x) if real else np.mean(x)  # w


def _np_gan(scales, real, for_d, mode):
    """GANLoss.__call__: last output of each scale, summed, divided by the number of scales."""
    return sum(_np_single(s[-1], real, for_d, mode) for s in scales) / len(scales)


def _scales(rng, batch=2):
    """Two scales x three outputs (two features, then 1-channel logits), D-like shapes."""
    out = []
    for hw in (9, 5):
        feats = [rng.normal(size=(batch, hw, hw, 8)).astype("float32"),
                 rng.normal(size=(batch, hw - 1, hw - 1, 16)).astype("float32"),
                 (2.0 * rng.normal(size=(batch, hw - 2, hw - 2, 1))).astype("float32")]
        out.append(feats)
    return out


@pytest.mark.parametrize("mode", ["hinge", "ls", "original", "w"])
def test_gan_loss_every_mode_matches_numpy(mode):
    rng = np.random.default_rng(1)
    scales = _scales(rng)
    cases = [(True, True), (False, True), (True, False)]  # D real, D fake, G
    if mode != "hinge":
        cases.append((False, False))
    for real, for_d in cases:
        got = float(gan_loss(scales, real, for_discriminator=for_d, mode=mode))
        want = _np_gan(scales, real, for_d, mode)
        assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (mode, real, for_d, got, want)
    # a single logits tensor is the reference's non-list path
    single = scales[0][-1]
    assert abs(float(gan_loss(single, True, True, mode)) - _np_single(single, True, True, mode)) <= 1e-6


def test_hinge_is_the_relu_form_and_generator_must_aim_for_real():
    rng = np.random.default_rng(2)
    x = (3 * rng.normal(size=(2, 6, 6, 1))).astype("float32")
    np.testing.assert_allclose(float(gan_loss(x, True, True, "hinge")), np.mean(np.maximum(1 - x, 0)), rtol=1e-6)
    np.testing.assert_allclose(float(gan_loss(x, False, True, "hinge")), np.mean(np.maximum(1 + x, 0)), rtol=1e-6)
    with pytest.raises(ValueError, match="aim for real"):
        gan_loss(x, False, for_discriminator=False, mode="hinge")
    with pytest.raises(ValueError, match="gan_mode"):
        gan_loss(x, True, True, mode="wgan-gp")


def test_losses_are_float32_for_half_precision_inputs():
    rng = np.random.default_rng(3)
    scales = [[tf.constant(f, tf.float16) for f in s] for s in _scales(rng)]
    assert gan_loss(scales, True, True).dtype == tf.float32
    assert feature_matching_loss(scales, scales, 10.0).dtype == tf.float32
    assert kld_loss(tf.zeros((2, 4), tf.float16), tf.zeros((2, 4), tf.float16)).dtype == tf.float32


def test_feature_matching_matches_numpy_and_real_features_get_no_gradient():
    rng = np.random.default_rng(4)
    fake, real = _scales(rng), _scales(rng)
    lambda_feat, num_d = 10.0, 2
    want = sum(np.mean(np.abs(f.astype(np.float64) - r)) * lambda_feat / num_d
               for fs, rs in zip(fake, real) for f, r in zip(fs[:-1], rs[:-1]))
    got = float(feature_matching_loss(fake, real, lambda_feat))
    assert abs(got - want) <= 1e-6 * want, (got, want)
    # the logits (last outputs) take no part: changing them changes nothing
    moved = [s[:-1] + [s[-1] + 5.0] for s in fake]
    assert float(feature_matching_loss(moved, real, lambda_feat)) == pytest.approx(got, rel=1e-7)
    fake_t = [[tf.constant(t) for t in s] for s in fake]
    real_t = [[tf.constant(t) for t in s] for s in real]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fake_t)
        tape.watch(real_t)
        loss = feature_matching_loss(fake_t, real_t, lambda_feat)
    g_real = tape.gradient(loss, real_t[0][0])
    g_fake = tape.gradient(loss, fake_t[0][0])
    assert g_real is None or float(tf.reduce_max(tf.abs(g_real))) == 0.0
    # d/dfake of lambda/num_D * mean|fake - real| = lambda/num_D * sign / size
    expected = np.sign(fake[0][0] - real[0][0]) * lambda_feat / num_d / fake[0][0].size
    np.testing.assert_allclose(g_fake.numpy(), expected, rtol=1e-5, atol=1e-12)


def test_kld_matches_numpy_sum_over_everything():
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(3, 16)).astype("float32")
    logvar = (0.5 * rng.normal(size=(3, 16))).astype("float32")
    want = -0.5 * np.sum(1 + logvar.astype(np.float64) - mu.astype(np.float64) ** 2 - np.exp(logvar))
    assert abs(float(kld_loss(mu, logvar)) - want) <= 1e-5 * abs(want)
    assert float(kld_loss(np.zeros((2, 8), "float32"), np.zeros((2, 8), "float32"))) == 0.0


def _np_conv3x3_relu(x, kernel, bias):
    """'same' 3x3 convolution + ReLU in NumPy: x (N, H, W, C), kernel (3, 3, C, F)."""
    n, h, w, _ = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,cf->nhwf", xp[:, dy:dy + h, dx:dx + w], kernel[dy, dx])
    return np.maximum(out + bias, 0.0)


def test_vgg_loss_layers_weights_and_value():
    """Random VGG19 (weights none, fixed seed): the loss equals a NumPy weighted L1 over the five
    relu<k>_1 feature maps computed separately for fake and real, and relu1_1 is the raw [-1, 1]
    image through conv1_1 + ReLU (no ImageNet normalisation, as the reference)."""
    keras.utils.set_random_seed(7)
    vgg = VGGLoss("none")
    assert VGG_FEATURE_LAYERS == ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    assert VGG_FEATURE_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    assert not vgg.trainable_weights, "the VGG is a fixed loss network"
    rng = np.random.default_rng(6)
    fake = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    real = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    feats_fake = [f.numpy().astype(np.float64) for f in vgg.features(fake)]
    feats_real = [f.numpy().astype(np.float64) for f in vgg.features(real)]
    assert [f.shape[1:] for f in feats_fake] == [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (2, 2, 512)]
    conv1 = vgg.features.get_layer("block1_conv1")
    relu11 = _np_conv3x3_relu(fake, conv1.kernel.numpy(), conv1.bias.numpy())
    np.testing.assert_allclose(feats_fake[0], relu11, rtol=1e-4, atol=1e-5)
    want = sum(w * np.mean(np.abs(a - b)) for w, a, b in zip(VGG_FEATURE_WEIGHTS, feats_fake, feats_real))
    got = float(vgg(fake, real))
    assert abs(got - want) <= 1e-5 * want, (got, want)
    # the real image's features are constants (the reference detaches them)
    fake_t, real_t = tf.constant(fake), tf.constant(real)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([fake_t, real_t])
        loss = vgg(fake_t, real_t)
    g_real = tape.gradient(loss, real_t)
    assert g_real is None or float(tf.reduce_max(tf.abs(g_real))) == 0.0
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, fake_t)))) > 0.0


def test_vgg_weights_from_a_local_file_and_bad_values(tmp_path):
    keras.utils.set_random_seed(8)
    source = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg19_notop.weights.h5"
    source.save_weights(path)
    loaded = VGGLoss(str(path))
    for name in VGG_FEATURE_LAYERS:
        np.testing.assert_array_equal(source.get_layer(name).kernel.numpy(),
                                      loaded.features.get_layer(name).kernel.numpy())
    with pytest.raises(FileNotFoundError, match="vgg_weights"):
        VGGLoss(str(tmp_path / "missing.h5"))
    again = VGGLoss.from_config(loaded.get_config())
    assert again.vgg_weights == str(path)
    np.testing.assert_array_equal(again.features.get_layer("block5_conv1").kernel.numpy(),
                                  source.get_layer("block5_conv1").kernel.numpy())
    # vgg_weights is VGGLoss's only argument: through get_config with a non-default value
    _, rebuilt = assert_config_round_trip(VGGLoss, dict(vgg_weights=str(path)))
    np.testing.assert_array_equal(rebuilt.features.get_layer("block1_conv1").kernel.numpy(),
                                  source.get_layer("block1_conv1").kernel.numpy())


# ---------------------------------------------------------------------------------------------
# VGG switched off by lambda_vgg 0; a failed download names the keys to set (never the network)
# ---------------------------------------------------------------------------------------------
_DOWNLOAD_FAILURE = ("URL fetch failure on https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
                     "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5: None -- [Errno -3] Temporary failure "
                     "in name resolution")
_VGG_MESSAGE = ("the VGG loss needs the ImageNet VGG19 weights and getting them failed (Exception: "
                f"{_DOWNLOAD_FAILURE}); set config key 'vgg_weights: FILE' (a local copy of "
                "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) or 'no_vgg_loss: true' (or 'lambda_vgg: 0') "
                "to train without the VGG loss")


@pytest.fixture
def offline(monkeypatch):
    """Keras' downloader fails as it does without a network (and nothing is fetched)."""
    from keras.src.utils import file_utils

    def fail(*args, **kwargs):
        raise Exception(_DOWNLOAD_FAILURE)

    monkeypatch.setattr(file_utils, "get_file", fail)


def test_failed_vgg_download_names_the_keys(offline):
    from dagan_tf.config import ConfigError

    with pytest.raises(ConfigError, match=f"^{re.escape(_VGG_MESSAGE)}$") as caught:
        VGGLoss("imagenet")
    assert caught.value.key == "vgg_weights"


def test_unreadable_vgg_weights_file_is_named(tmp_path):
    from dagan_tf.config import ConfigError

    bad = tmp_path / "vgg19.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ConfigError, match=rf"^config key 'vgg_weights': cannot load VGG19 weights from {bad} \("):
        VGGLoss(str(bad))


def test_lambda_vgg_zero_never_builds_vgg19(monkeypatch, offline):
    from dagan_tf.config import ConfigError, DAGANConfig
    from dagan_tf.training.model import DAGAN

    def no_vgg(*args, **kwargs):
        raise AssertionError("VGG19 built although lambda_vgg is 0")

    monkeypatch.setattr(keras.applications, "VGG19", no_vgg)
    cfg = DAGANConfig(dataset_mode="coco", label_nc=4, no_instance=True, crop_size=32, load_size=32, ngf=8, ndf=8,
                      n_layers_D=2, norm_G="spectralspadebatch3x3", lambda_vgg=0, vgg_weights="imagenet")
    model = DAGAN(cfg)
    fake = np.ones((1, 32, 32, 3), "float32")
    assert model.vgg_loss is zero_loss
    assert float(model.vgg_loss(fake, -fake)) == 0.0
    with pytest.raises(ConfigError, match="AssertionError: VGG19 built although lambda_vgg is 0"):
        # the same config with the loss on does build it
        DAGAN(cfg.replace(lambda_vgg=10.0), generator=model.generator, discriminator=model.discriminator)
    keras.backend.clear_session()


def test_cli_train_offline_ends_in_the_vgg_message(tmp_path, offline, capsys):
    """`dagan-tf train` with the VGG loss on an offline machine: exit 2, the message as the last line."""
    from dagan_tf import cli
    from dagan_tf.data.demo import write_demo_dataset

    data = tmp_path / "data"
    write_demo_dataset(str(data), count=4, size=64, progress=False)
    pairs = [f"dataroot={data}", f"checkpoints_dir={tmp_path / 'runs'}", "ngf=8", "ndf=8", "crop_size=64",
             "load_size=64", "batchSize=1", "no_vgg_loss=false", "vgg_weights=imagenet"]
    demo_config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")
    code = cli.main(["train", "--config", demo_config, *[a for p in pairs for a in ("--set", p)], "--max-steps", "1"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"dagan-tf train: error: {_VGG_MESSAGE}"
    keras.backend.clear_session()


def test_vgg_features_run_on_stride_one_convs_with_keras_vgg19s_outputs():
    """VGGLoss swaps VGG19's convs for StrideOneConv2D (faster backward on TensorFlow): same
    layer names and weights, outputs identical to keras.applications' VGG19."""
    from dagan_tf.layers import StrideOneConv2D

    loss = VGGLoss("none")
    convs = [layer for layer in loss.features.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 13 and all(isinstance(layer, StrideOneConv2D) for layer in convs)
    assert convs[0].name == "block1_conv1" and convs[-1].name == "block5_conv1"
    plain = build_vgg19("none")
    plain_features = keras.Model(plain.input, [plain.get_layer(name).output for name in VGG_FEATURE_LAYERS])
    plain_features.set_weights(loss.features.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    for ours, theirs in zip(loss.features(x), plain_features(x)):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_vgg_backward_pass_runs_over_the_fake_alone():
    """The real image's VGG pass gets no backward pass: in the traced gradient, every convolution runs
    on one image (a pass over concat[fake, real] would run on 2), only the fake's 13 layers have an
    input gradient, and the gradient equals the one through a concatenated pass."""
    keras.utils.set_random_seed(9)
    loss = VGGLoss("none")
    rng = np.random.default_rng(2)
    fake, real = (tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")) for _ in range(2))

    def concatenated_loss(f, r):  # the one-pass formulation, for the gradient's value
        feats = loss.features(tf.concat([f, tf.stop_gradient(r)], 0))
        return sum(w * tf.reduce_mean(tf.abs(t[:1] - tf.stop_gradient(t[1:])))
                   for w, t in zip(VGG_FEATURE_WEIGHTS, feats))

    def gradient(loss_fn):
        def fn(f, r):
            with tf.GradientTape() as tape:
                tape.watch(f)
                value = loss_fn(f, r)
            return value, tape.gradient(value, f)
        return tf.function(fn)

    ours = gradient(loss)
    graph = ours.get_concrete_function(fake, real).graph
    convs = [op for op in graph.get_operations() if op.type in ("Conv2D", "Conv2DBackpropInput")]
    assert {op.outputs[0].shape[0] for op in convs} == {1}
    # 13 forward convs per pass, one backward (input-gradient) conv per layer of the fake's pass, and
    # no kernel gradients (the VGG is frozen)
    assert sum(op.type == "Conv2D" for op in convs) == 2 * 13
    assert sum(op.type == "Conv2DBackpropInput" for op in convs) == 13
    (value, grad), (want_value, want_grad) = ours(fake, real), gradient(concatenated_loss)(fake, real)
    assert abs(float(value) - float(want_value)) <= 1e-6 * abs(float(want_value))
    np.testing.assert_allclose(grad.numpy(), want_grad.numpy(), rtol=1e-5, atol=1e-6 * float(tf.reduce_max(tf.abs(want_grad))))
