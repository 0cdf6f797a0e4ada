"""dagan_tf.precision: the bf16 generator copy, its float32 islands, the no-bf16 refusal, --precision."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dagan_tf import precision as precision_lib
from dagan_tf.config import load_config
from dagan_tf.layers import BatchNorm, SPADEResnetBlock
from dagan_tf.models import build_generator
from dagan_tf.precision import PrecisionError, cpu_bf16_support, generator_in_precision

pytestmark = pytest.mark.slow

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")

#: bf16 vs float32 output of the calibrated tiny generator, PSNR over the [-1, 1] range (peak 2).
#: Measured 43.9-45.1 dB on this random one whichever float32 islands (the trained demo generator of
#: bench_generator.py: 66-75 dB): bf16 rounds every convolution's inputs to 8 mantissa bits
#: (relative 2^-9), and random weights amplify that more than trained ones.
PSNR_BOUND_DB = 40.0


def psnr(a, b, peak=2.0):
    return 10.0 * np.log10(peak**2 / np.mean((np.asarray(a, np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def config():
    return load_config(CONFIG, {"ngf": 8, "crop_size": 64, "load_size": 64, "dataroot": "unused"})


def _semantic(config, n=2, seed=0):
    from tests.helpers import semantic_map

    rng = np.random.default_rng(seed)
    h, w = config.image_hw
    label = np.repeat(np.repeat(rng.integers(0, config.label_nc, (n, h // 8, w // 8)), 8, 1), 8, 2)
    return semantic_map(tf.constant(label, tf.int32), tf.constant(label, tf.int32), config)


@pytest.fixture(scope="module")
def generator(config):
    """A 'trained-ish' tiny generator: batch-norm statistics of a real input (not 0/1) and a last
    convolution scaled so the output spans the range (std 0.5 before tanh), as a trained one does."""
    keras.utils.set_random_seed(3)
    G = build_generator(config)
    seg = _semantic(config, seed=1)
    norms = [layer for layer in G._flatten_layers() if isinstance(layer, BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0  # moving statistics := this batch's
    G(seg, training=True)
    for norm in norms:
        norm.momentum = 0.1
    kernel = G.get_layer("conv_img").kernel
    kernel.assign(kernel * (0.5 / np.arctanh(np.clip(G(seg).numpy(), -0.999, 0.999)).std()))
    return G


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(precision_lib, "_cpuinfo_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})


def test_bf16_output_close_to_fp32(config, generator, bf16_cpu):
    seg = _semantic(config, seed=2)
    want = generator(seg).numpy()
    assert want.std() > 0.3  # a spread-out picture, not a near-constant one
    low = generator_in_precision(generator, "bf16", config)
    got = low(seg).numpy()
    assert got.dtype == np.float32
    assert psnr(got, want) >= PSNR_BOUND_DB
    assert np.abs(got - want).max() < 0.2
    # ...and it is bf16 arithmetic at all: not bit-identical to float32
    assert np.abs(got - want).max() > 0


def test_fp32_path_is_the_model_itself(config, generator):
    seg = _semantic(config, seed=2)
    before = generator(seg).numpy()
    assert generator_in_precision(generator, "fp32", config) is generator
    np.testing.assert_array_equal(generator(seg).numpy(), before)


def test_which_layers_stay_float32(config, generator, bf16_cpu):
    low = generator_in_precision(generator, "bf16", config)
    layers = list(low._flatten_layers(include_self=False))
    dtype = {layer.path: layer.compute_dtype for layer in layers}
    for layer in layers:
        if isinstance(layer, (BatchNorm, SPADEResnetBlock)):
            assert layer.compute_dtype == "float32", layer.path
    for name in ("cab", "spatialAtt", "conv_img", "tanh"):
        assert low.get_layer(name).compute_dtype == "float32", name
    assert dtype["cab/conv1"] == "float32"
    # the convolutions doing the work run in bfloat16
    for path in ("conv_64", "head_0/conv_0", "up_3/conv_1", "up_3/norm_0/mlp_shared", "up_3/norm_0/mlp_gamma", "fc"):
        assert dtype[path] == "bfloat16", path
    # weights are the float32 originals, spectral-norm vectors included
    for a, b in zip(low.weights, generator.weights):
        assert a.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert precision_lib.float32_layer_names(low) == [
        layer.path for layer in layers if layer.compute_dtype == "float32"]


@pytest.mark.parametrize("flags, support", [({"avx2", "fma"}, "none"), (None, "unknown"),
                                            ({"avx512_bf16"}, "avx512_bf16"), ({"amx_bf16"}, "amx")])
def test_cpu_bf16_support_from_cpuinfo(monkeypatch, flags, support):
    monkeypatch.setattr(precision_lib, "_cpuinfo_flags", lambda: flags)
    monkeypatch.setattr(precision_lib.platform, "system", lambda: "Linux")
    assert cpu_bf16_support() == support


def test_bf16_refused_without_bf16_units(monkeypatch, config, generator):
    monkeypatch.setattr(precision_lib, "_cpuinfo_flags", lambda: {"avx2", "fma"})
    with pytest.raises(PrecisionError, match=r"--precision bf16: this CPU has neither AVX512-BF16 nor "
                                             r"AMX-BF16.*use --precision fp32"):
        generator_in_precision(generator, "bf16", config)
    with pytest.raises(ValueError, match="--precision 'fp16' is not a precision; choose one of fp32, bf16"):
        generator_in_precision(generator, "fp16", config)
    assert generator_in_precision(generator, "fp32", config) is generator  # fp32 needs nothing


def test_export_precision_bf16_saved_model(tmp_path, config, generator, bf16_cpu):
    from dagan_tf.export import export_generator

    with pytest.raises(ValueError, match="--precision bf16 applies to format 'saved_model' only"):
        export_generator(config, generator, format="tflite", precision="bf16")
    out = export_generator(config, generator, out=str(tmp_path / "m"), precision="bf16")
    seg = _semantic(config, seed=4)
    got = tf.saved_model.load(out).signatures["semantic_map"](semantic_map=seg)["image_float"].numpy()
    want = generator(seg).numpy()
    assert psnr(got, want) >= PSNR_BOUND_DB
    assert np.abs(got - want).max() > 0  # bf16 arithmetic, not the float32 graph


@pytest.mark.parametrize("command, target", [("generate", "dagan_tf.generate.generate_results"),
                                             ("evaluate", "dagan_tf.evaluation.evaluate.evaluate"),
                                             ("export", "dagan_tf.export.export_generator")])
def test_cli_precision_reaches_the_library(monkeypatch, tmp_path, command, target):
    from dagan_tf import cli

    seen = {}

    class Stop(Exception):
        pass

    def capture(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, capture)
    argv = [command, "--config", CONFIG, "--checkpoint", str(tmp_path / "G.keras")]
    build_generator(load_config(CONFIG, {"ngf": 8})).save(tmp_path / "G.keras")  # its config is read first
    with pytest.raises(Stop):
        cli.COMMANDS[command](cli.build_parser().parse_args(argv + ["--precision", "bf16"]))
    assert seen["precision"] == "bf16"
    assert cli.build_parser().parse_args(argv).precision == "fp32"
    help_text = cli.build_parser()._subparsers._group_actions[0].choices[command].format_help()
    assert "--precision {fp32,bf16}" in help_text and "(default: fp32)" in help_text
