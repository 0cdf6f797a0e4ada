"""tools/serving_client.py: REST and gRPC bodies in TF Serving's documented formats.

TF Serving itself cannot run here, so the exported SavedModel is served by a stand-in that follows
TF Serving's documentation (https://www.tensorflow.org/tfx/serving/api_rest; the PredictionService
proto): a real HTTP server on localhost for `POST /v1/models/<name>[/versions/<v>]:predict` with
`instances` / `inputs` bodies answering `predictions` / `outputs` (single output: name omitted) or
`{"error": ...}`, and a real gRPC server implementing `PredictionService.Predict` with
PredictRequest / PredictResponse, both calling the loaded `signature_def`. The client talks to them
over sockets, as it would to TF Serving.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from dagan_tf.export import export_saved_model
from dagan_tf.models import Synthesizer
from tests.helpers import (EXPORT_CONFIG, calibrated_generator, example_inputs, keras_image, pixel_agreement,
                            tiny_config)

pytestmark = pytest.mark.slow

TOOL = Path(__file__).resolve().parents[1] / "tools" / "serving_client.py"
MODEL = "tiny"


def _load_client():
    spec = importlib.util.spec_from_file_location("serving_client", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _load_client()


def test_reads_label_pngs_by_the_packages_rule():
    from dagan_tf.data.loading import INTEGER_MODES

    assert client.INTEGER_MODES == INTEGER_MODES


# ---------------------------------------------------------------------------------------------
# a stand-in for TF Serving, per its documentation
# ---------------------------------------------------------------------------------------------
class SignatureRunner:
    """Calls a loaded SavedModel's signature_def like TF Serving does (inputs cast to the signature's dtypes)."""

    def __init__(self, path: str):
        self.model = tf.saved_model.load(path)

    def __call__(self, signature_name: str, arrays: dict) -> dict:
        fn = self.model.signatures[signature_name]
        specs = fn.structured_input_signature[1]
        feeds = {name: tf.constant(np.asarray(value), dtype=specs[name].dtype) for name, value in arrays.items()}
        return {name: value.numpy() for name, value in fn(**feeds).items()}


def rest_predict(runner: SignatureRunner, body: dict) -> dict:
    """TF Serving's REST predict: row ('instances') / columnar ('inputs') in, 'predictions' / 'outputs' out."""
    signature = body.get("signature_name", "serving_default")
    if "instances" in body:
        instances = body["instances"]
        arrays = {name: np.array([inst[name] for inst in instances]) for name in instances[0]}
    else:
        arrays = {name: np.array(value) for name, value in body["inputs"].items()}
    try:
        outputs = runner(signature, arrays)
    except tf.errors.InvalidArgumentError as e:
        return {"error": e.message}
    if "instances" in body:
        if len(outputs) == 1:  # "If the output of the model contains only one named tensor, we omit the name"
            return {"predictions": next(iter(outputs.values())).tolist()}
        n = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(n)]}
    if len(outputs) == 1:
        return {"outputs": next(iter(outputs.values())).tolist()}
    return {"outputs": {k: v.tolist() for k, v in outputs.items()}}


class _RestHandler(BaseHTTPRequestHandler):
    runner: SignatureRunner = None
    seen_paths: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.seen_paths.append(self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not re.fullmatch(rf"/v1/models/{MODEL}(/versions/\d+)?:predict", self.path):
            status, answer = 404, {"error": f"Servable not found for request: {self.path}"}
        else:
            answer = rest_predict(self.runner, body)
            status = 400 if "error" in answer else 200
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output quiet
        pass


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, runner: SignatureRunner):
        self.runner = runner
        self.requests = []

    def Predict(self, request, context):  # noqa: N802 (the proto's name)
        self.requests.append(request)
        if request.model_spec.name != MODEL:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found: {request.model_spec.name}")
        arrays = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        try:
            outputs = self.runner(request.model_spec.signature_name or "serving_default", arrays)
        except tf.errors.InvalidArgumentError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def config():
    return tiny_config(EXPORT_CONFIG, use_vae=True)  # label, instance and seed inputs


@pytest.fixture(scope="module")
def generator(config):
    return calibrated_generator(config, seed=4)


@pytest.fixture(scope="module")
def runner(config, generator, tmp_path_factory):
    path = export_saved_model(Synthesizer(generator), config, out=str(tmp_path_factory.mktemp("sm") / MODEL / "1"))
    return SignatureRunner(path)


@pytest.fixture(scope="module")
def rest_server(runner):
    handler = type("Handler", (_RestHandler,), {"runner": runner, "seen_paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def grpc_server(runner):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service = _PredictionService(runner)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", service
    server.stop(grace=None)


@pytest.fixture(scope="module")
def inputs(config):
    return example_inputs(config, 2, seed=3)


@pytest.fixture(scope="module")
def reference(generator, config, inputs):
    return keras_image(generator, config, inputs)


# ---------------------------------------------------------------------------------------------
# REST
# ---------------------------------------------------------------------------------------------
def test_rest_row_body_follows_the_documented_format(inputs, config):
    h, w = config.image_hw
    body = client.rest_request_body(inputs["label"], inputs["instance"], inputs["seed"])
    assert set(body) == {"signature_name", "instances"} and body["signature_name"] == "serving_default"
    assert len(body["instances"]) == 2
    first = body["instances"][0]
    assert set(first) == {"label", "instance", "seed"}
    assert np.array(first["label"]).shape == (h, w) and isinstance(first["seed"], int)
    np.testing.assert_array_equal(np.array(first["label"]), inputs["label"][0])
    json.dumps(body)  # plain JSON types only


def test_rest_columnar_body_follows_the_documented_format(inputs):
    body = client.rest_request_body(inputs["label"], inputs["instance"], inputs["seed"], layout="columnar")
    assert set(body) == {"signature_name", "inputs"}
    assert {k: np.array(v).shape for k, v in body["inputs"].items()} == {
        "label": inputs["label"].shape, "instance": inputs["instance"].shape, "seed": (2,)}


@pytest.mark.parametrize("layout", ["row", "columnar"])
def test_rest_round_trip_gives_the_keras_image(rest_server, inputs, reference, layout):
    url, handler = rest_server
    images = client.predict_rest(url, MODEL, inputs["label"], inputs["instance"], inputs["seed"], layout=layout,
                                 version=1)
    assert handler.seen_paths[-1] == f"/v1/models/{MODEL}/versions/1:predict"
    stats = pixel_agreement(images, reference)
    assert stats["equal"] >= 0.999 and stats["max"] <= 1, stats


def test_rest_response_with_named_outputs_is_parsed(reference):
    """Several outputs: 'predictions' is a list of objects keyed by output name (documented form)."""
    body = {"predictions": [{"image": img.tolist(), "image_float": [[0.0]]} for img in reference]}
    np.testing.assert_array_equal(client.parse_rest_response(json.dumps(body)), reference)
    body = {"outputs": {"image": reference.tolist(), "image_float": [[0.0]]}}
    np.testing.assert_array_equal(client.parse_rest_response(body), reference)


def test_rest_error_carries_the_servers_message(rest_server, inputs):
    url, _ = rest_server
    label = inputs["label"].copy()
    label[0, 0, 0] = 9
    with pytest.raises(client.ServingError, match=r"(?s)input `label`.*\[9\]"):
        client.predict_rest(url, MODEL, label, inputs["instance"], inputs["seed"])
    with pytest.raises(client.ServingError, match="Servable not found"):
        client.predict_rest(url, "no_such_model", inputs["label"], inputs["instance"], inputs["seed"])


# ---------------------------------------------------------------------------------------------
# gRPC
# ---------------------------------------------------------------------------------------------
def test_predict_request_proto(inputs, config):
    h, w = config.image_hw
    request = client.predict_request(MODEL, inputs["label"], inputs["instance"], inputs["seed"], version=3)
    assert request.model_spec.name == MODEL and request.model_spec.signature_name == "serving_default"
    assert request.model_spec.version.value == 3
    arrays = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
    assert {k: (v.dtype, v.shape) for k, v in arrays.items()} == {
        "label": (np.int32, (2, h, w)), "instance": (np.int32, (2, h, w)), "seed": (np.int32, (2,))}
    np.testing.assert_array_equal(arrays["label"], inputs["label"])
    uint8 = client.predict_request(MODEL, inputs["label"], signature_name="serving_uint8")
    assert tf.make_ndarray(uint8.inputs["label"]).dtype == np.uint8


def test_response_proto_in_both_encodings_is_parsed(reference):
    response = predict_pb2.PredictResponse()
    response.outputs["image"].CopyFrom(tf.make_tensor_proto(reference))  # tensor_content
    np.testing.assert_array_equal(client.parse_predict_response(response), reference)
    as_fields = predict_pb2.PredictResponse()
    proto = as_fields.outputs["image"]
    proto.CopyFrom(tf.make_tensor_proto(reference))
    proto.tensor_content = b""
    proto.int_val.extend(reference.ravel().tolist())  # the typed-field encoding
    np.testing.assert_array_equal(client.parse_predict_response(as_fields), reference)


def test_grpc_round_trip_gives_the_keras_image(grpc_server, inputs, reference):
    target, service = grpc_server
    images = client.predict_grpc(target, MODEL, inputs["label"], inputs["instance"], inputs["seed"])
    assert service.requests[-1].model_spec.name == MODEL
    stats = pixel_agreement(images, reference)
    assert stats["equal"] >= 0.999 and stats["max"] <= 1, stats
    images = client.predict_grpc(target, MODEL, inputs["label"].astype(np.uint8), inputs["instance"], inputs["seed"],
                                 signature_name="serving_uint8")
    assert pixel_agreement(images, reference)["max"] <= 1


def test_grpc_error_carries_the_servers_message(grpc_server, inputs, config):
    target, _ = grpc_server
    h, w = config.image_hw
    with pytest.raises(client.ServingError, match=rf"(?s)INVALID_ARGUMENT.*input `label`.*\[1 {h} {w + 2}\]"):
        client.predict_grpc(target, MODEL, np.zeros((h, w + 2), np.int32), np.zeros((h, w + 2), np.int32), 0)


# ---------------------------------------------------------------------------------------------
# the command line: PNG in, PNG out
# ---------------------------------------------------------------------------------------------
def _write_maps(tmp_path, inputs):
    label_png, inst_png = tmp_path / "label.png", tmp_path / "inst.png"
    Image.fromarray(inputs["label"][0].astype(np.uint8)).save(label_png)
    Image.fromarray(inputs["instance"][0].astype(np.uint16)).save(inst_png)
    return str(label_png), str(inst_png)


def test_cli_rest_and_grpc_write_the_image(tmp_path, rest_server, grpc_server, inputs, reference, capsys):
    label_png, inst_png = _write_maps(tmp_path, inputs)
    seed = str(int(inputs["seed"][0]))
    out_rest, out_grpc = tmp_path / "rest.png", tmp_path / "grpc.png"
    assert client.main([label_png, "--instance", inst_png, "--seed", seed, "--model", MODEL,
                        "--rest", rest_server[0], "--out", str(out_rest)]) == 0
    assert client.main([label_png, "--instance", inst_png, "--seed", seed, "--model", MODEL,
                        "--grpc", grpc_server[0], "--signature", "serving_uint8", "--out", str(out_grpc)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out_rest}" in printed and f"wrote {out_grpc}" in printed
    for out in (out_rest, out_grpc):
        assert pixel_agreement(np.asarray(Image.open(out)), reference[0])["max"] <= 1


def test_cli_reports_server_errors(tmp_path, rest_server, inputs, capsys):
    label = inputs["label"].copy()
    label[0, 2, 2] = 77
    label_png, inst_png = _write_maps(tmp_path, dict(inputs, label=label))
    code = client.main([label_png, "--instance", inst_png, "--seed", "1", "--model", MODEL,
                        "--rest", rest_server[0], "--out", str(tmp_path / "x.png")])
    assert code == 2 and "[77]" in capsys.readouterr().err
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    assert client.main([str(tmp_path / "rgb.png"), "--model", MODEL, "--rest", rest_server[0],
                        "--out", str(tmp_path / "y.png")]) == 2
    assert "rgb.png" in capsys.readouterr().err
