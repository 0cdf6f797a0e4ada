"""dagan_tf.export.tflite: fp32 / fp16 / int8 TFLite models of the serving function, run with LiteRT.

Acceptance: builtin ops only; fp32 uint8 output within 1 of the Keras model's on >= 99 % of pixels;
fp16 mean abs difference <= 2 (of 255) and about half the fp32 file; int8 about a quarter of the fp32
file (its PSNR against fp32 is printed; the bench reports it for real sizes). The module's model uses
instances, dontcare and use_vae (z drawn from the seed inside the TFLite graph). A generator loaded
from an official-layout PyTorch state_dict exports the same way (last test).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
import torch
from ai_edge_litert.interpreter import Interpreter

from dagan_tf.convert import load_torch_checkpoint
from dagan_tf.export import convert_to_tflite, export_generator, export_saved_model
from dagan_tf.export.tflite import check_builtin_ops, representative_examples, tflite_op_names
from dagan_tf.models import Synthesizer, build_generator
from tests.helpers import (
    EXPORT_CONFIG,
    calibrated_generator,
    example_inputs,
    keras_image,
    pixel_agreement,
    semantic_map,
    tiny_config,
)
from tests.torch_reference import build_torch_networks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG, use_vae=True)


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config, seed=1)


@pytest.fixture(scope="module")
def models(config, generator, tmp_path_factory):
    """One .tflite file per quantize mode (int8 calibrated on the default: demo scenes, as the
    config's dataroot does not exist)."""
    out = tmp_path_factory.mktemp("tflite")
    paths = {"none": export_generator(config, generator, format="tflite", out=str(out / "tiny.tflite"))}
    for mode in ("fp16", "int8"):
        paths[mode] = convert_to_tflite(Synthesizer(generator), config, str(out / f"tiny_{mode}.tflite"), quantize=mode)
    return paths


def run_tflite(path: str, inputs: dict) -> np.ndarray:
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    return runner(**inputs)["image"]


@pytest.fixture(scope="module")
def inputs(config):
    return example_inputs(config, 2, seed=4)


@pytest.fixture(scope="module")
def reference(generator, config, inputs):
    return keras_image(generator, config, inputs)


def test_only_builtin_ops(models):
    for mode, path in models.items():
        names = tflite_op_names(path)
        assert "CONV_2D" in names and not any(n.startswith("Flex") for n in names), (mode, sorted(set(names)))
        check_builtin_ops(path, where=mode)


def test_builtin_check_catches_flex_ops():
    @tf.function(input_signature=[tf.TensorSpec([4], tf.float32)])
    def determinant(x):
        return tf.linalg.det(tf.reshape(x, [2, 2]))  # MatrixDeterminant: a Select-TF (Flex) op

    converter = tf.lite.TFLiteConverter.from_concrete_functions([determinant.get_concrete_function()], determinant)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with pytest.raises(ValueError, match="FlexMatrixDeterminant"):
        check_builtin_ops(converter.convert())


def test_inputs_and_outputs_keep_the_serving_contract(models, config):
    h, w = config.image_hw
    for mode, path in models.items():
        interpreter = Interpreter(model_path=path)
        runner = interpreter.get_signature_runner("serving_default")
        ins = {name: (d["dtype"], tuple(d["shape_signature"])) for name, d in runner.get_input_details().items()}
        outs = {name: (d["dtype"], tuple(d["shape_signature"])) for name, d in runner.get_output_details().items()}
        assert ins == {"label": (np.int32, (-1, h, w)), "instance": (np.int32, (-1, h, w)),
                       "seed": (np.int32, (-1,))}, mode
        assert outs == {"image": (np.uint8, (-1, h, w, 3))}, mode


def test_fp32_matches_keras(models, inputs, reference):
    stats = pixel_agreement(run_tflite(models["none"], inputs), reference)
    assert stats["within1"] >= 0.99, stats


def test_fp16_is_close_and_half_the_size(models, inputs, reference):
    stats = pixel_agreement(run_tflite(models["fp16"], inputs), reference)
    assert stats["mean"] <= 2.0, stats
    ratio = os.path.getsize(models["fp16"]) / os.path.getsize(models["none"])
    assert 0.45 <= ratio <= 0.55, ratio


def test_int8_is_a_quarter_of_the_size(models, inputs):
    fp32 = run_tflite(models["none"], inputs)
    stats = pixel_agreement(run_tflite(models["int8"], inputs), fp32)
    ratio = os.path.getsize(models["int8"]) / os.path.getsize(models["none"])
    print(f"int8 vs fp32: PSNR {stats['psnr']:.1f} dB, mean abs {stats['mean']:.2f}, size ratio {ratio:.3f}")
    assert 0.2 <= ratio <= 0.32, ratio
    assert "ONE_HOT" not in tflite_op_names(models["int8"])  # see preprocessor._one_hot
    # calibrated on demo scenes (the test maps add dontcare corners it never saw); 33 dB when last run
    assert stats["psnr"] >= 25.0, stats
    interpreter = Interpreter(model_path=models["int8"])
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert convs and all(tensors[op["inputs"][1]]["dtype"] == np.int8 for op in convs)  # int8 weights
    assert all(tensors[op["inputs"][0]]["dtype"] == np.int8 for op in convs)  # int8 activations


def test_int8_without_instance_map_keeps_its_fidelity(tmp_path):
    """An ADE20K-style model (no instance map): the one-hot goes straight into the float graph.

    Built as ONE_HOT + CAST, the converter folded it into a float ONE_HOT that int8 quantizes to
    garbage (14.8 dB here, 7.6 dB for ADE20K at 256x256 ngf 64); built in integer arithmetic
    (`preprocessor._one_hot`) it keeps about the fidelity of models with instances (37.6 dB here
    when written).
    """
    cfg = tiny_config(EXPORT_CONFIG, dataset_mode="ade20k", label_nc=6, contain_dontcare_label=True, no_instance=True)
    generator = calibrated_generator(cfg, seed=2)
    feeds = example_inputs(cfg, 2, seed=4)
    paths = {q: convert_to_tflite(Synthesizer(generator), cfg, str(tmp_path / f"ade_{q}.tflite"), quantize=q)
             for q in ("none", "int8")}
    assert "ONE_HOT" not in tflite_op_names(paths["int8"])
    stats = pixel_agreement(run_tflite(paths["int8"], feeds), run_tflite(paths["none"], feeds))
    print(f"int8 vs fp32 without instance map: PSNR {stats['psnr']:.1f} dB, mean abs {stats['mean']:.2f}")
    assert stats["psnr"] >= 30.0, stats
    assert pixel_agreement(run_tflite(paths["none"], feeds), keras_image(generator, cfg, feeds))["within1"] >= 0.99


def test_seed_draws_the_same_z_as_keras(models, inputs, generator, config):
    """Other seeds: the TFLite image moves, and still matches the Keras model fed seeded_normal(seed)."""
    moved = dict(inputs, seed=inputs["seed"] + 17)
    got = run_tflite(models["none"], moved)
    assert pixel_agreement(got, run_tflite(models["none"], inputs))["mean"] > 1.0
    assert pixel_agreement(got, keras_image(generator, config, moved))["within1"] >= 0.99


def test_representative_examples_from_config_data(coco_samples):
    """COCO-Stuff samples: label file values (classes or 255), instance maps, at the config's size."""
    cfg = tiny_config(EXPORT_CONFIG, dataset_mode="coco", dataroot=str(coco_samples), label_nc=182, crop_size=64,
                      aspect_ratio=1.0, load_size=64)
    examples = representative_examples(cfg, count=3)
    assert len(examples) == 3
    for ex in examples:
        assert ex["label"].shape == (64, 64) and ex["instance"].shape == (64, 64)
        values = np.unique(ex["label"])
        assert np.all((values < 182) | (values == 255)), values
    assert len(np.unique(np.concatenate([e["label"].ravel() for e in examples]))) > 3


def test_representative_examples_fall_back_to_demo_scenes(capsys):
    cfg = tiny_config(EXPORT_CONFIG, label_nc=4, contain_dontcare_label=False, no_instance=True)
    examples = representative_examples(cfg, count=2)
    assert "demo scenes" in capsys.readouterr().out
    assert [sorted(e) for e in examples] == [["label"], ["label"]]
    assert examples[0]["label"].shape == cfg.image_hw and examples[0]["label"].max() < 4


# ---------------------------------------------------------------------------------------------
# a generator converted from an official-layout (PyTorch) state_dict
# ---------------------------------------------------------------------------------------------
def _torch_generator(cfg, seg: np.ndarray) -> torch.nn.Module:
    """Reference G with realistic statistics: a few training-mode passes, conv_img scaled off saturation."""
    torch.manual_seed(5)
    net = build_torch_networks(cfg, networks=("G",))["G"]
    x = torch.from_numpy(np.ascontiguousarray(seg.transpose(0, 3, 1, 2)))
    net.train()
    with torch.no_grad():
        for _ in range(6):
            net(x)
        net.eval()
        pre_tanh = torch.atanh(net(x).clamp(-0.999999, 0.999999))
        net.conv_img.weight.mul_(0.6 / float(pre_tanh.std()))
        net.conv_img.bias.mul_(0.6 / float(pre_tanh.std()))
    return net


def test_generator_from_official_checkpoint_exports_the_same(tmp_path):
    cfg = tiny_config(EXPORT_CONFIG, crop_size=32, aspect_ratio=1.0, load_size=32)
    inputs = example_inputs(cfg, 2, seed=8)
    seg = np.asarray(semantic_map(inputs["label"], inputs["instance"], cfg))
    torch_g = _torch_generator(cfg, seg)
    with torch.no_grad():
        torch_out = torch_g(torch.from_numpy(np.ascontiguousarray(seg.transpose(0, 3, 1, 2)))).numpy()
    torch_image = np.clip(np.round((torch_out.transpose(0, 2, 3, 1) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    generator = build_generator(cfg)
    load_torch_checkpoint(generator, torch_g.state_dict(), "G")
    want = keras_image(generator, cfg, inputs)
    assert pixel_agreement(want, torch_image)["within1"] >= 0.999  # the conversion itself
    assert want.std() > 30.0

    saved = tf.saved_model.load(export_saved_model(Synthesizer(generator), cfg, out=str(tmp_path / "sm" / "1")))
    got = saved.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
    stats = pixel_agreement(got, want)
    assert stats["equal"] >= 0.999 and stats["max"] <= 1, stats

    path = convert_to_tflite(Synthesizer(generator), cfg, str(tmp_path / "official.tflite"))
    stats = pixel_agreement(run_tflite(path, inputs), want)
    assert stats["within1"] >= 0.99, stats
