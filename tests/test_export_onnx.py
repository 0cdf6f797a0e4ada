"""dagan_tf.export.onnx: the serving function through tf2onnx, run with onnxruntime.

Acceptance: uint8 output within 1 of the Keras model's on >= 99 % of pixels, same inputs and output
as the SavedModel. The module's config is ADE20K-style (label files 1..label_nc, 0 = unlabeled ->
dontcare, no instance map), the other branch of the label-value mapping.
"""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest

from dagan_tf.export import export_generator
from dagan_tf.export.onnx import convert_to_onnx
from dagan_tf.models import Synthesizer
from tests.helpers import (EXPORT_CONFIG, calibrated_generator, example_inputs, keras_image, pixel_agreement,
                            tiny_config)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG, dataset_mode="ade20k", label_nc=6, contain_dontcare_label=True, no_instance=True)


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config, seed=2)


@pytest.fixture(scope="module")
def model_path(config, generator, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_generator(config, generator, format="onnx", out=str(out))


@pytest.fixture(scope="module")
def session(model_path):
    return ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])


def test_inputs_and_output_keep_the_serving_contract(session, config):
    h, w = config.image_hw
    ins = [(i.name, i.type, i.shape[1:]) for i in session.get_inputs()]
    outs = [(o.name, o.type, o.shape[1:]) for o in session.get_outputs()]
    assert ins == [("label", "tensor(int32)", [h, w])]
    assert outs == [("image", "tensor(uint8)", [h, w, 3])]


def test_standard_onnx_ops_and_opset(model_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model)
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17


def test_matches_keras(session, generator, config):
    inputs = example_inputs(config, 3, seed=4)
    assert 0 in inputs["label"] and inputs["label"].max() == config.label_nc  # unlabeled and the last class
    got = session.run(["image"], {"label": inputs["label"]})[0]
    stats = pixel_agreement(got, keras_image(generator, config, inputs))
    assert stats["within1"] >= 0.99, stats


def test_opset_below_17_is_refused(config, generator, tmp_path):
    with pytest.raises(ValueError, match="opset 17"):
        convert_to_onnx(Synthesizer(generator), str(tmp_path / "old.onnx"), opset=13)
