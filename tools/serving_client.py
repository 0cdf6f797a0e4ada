#!/usr/bin/env python
"""Send a label map (and instance map) to a TensorFlow Serving instance running an exported DAGAN
generator; write the image it returns.

    # REST (port 8501): needs only NumPy and Pillow
    python tools/serving_client.py LABEL.png --instance INST.png --model coco \
        --rest http://localhost:8501 --out OUT.png
    # gRPC (port 8500): needs the `tensorflow-serving-api` extra
    python tools/serving_client.py LABEL.png --model coco --grpc localhost:8500 --out OUT.png

The model is a SavedModel written by `dagan-tf export` (signature `serving_default`: `label` int32
(batch, H, W) label-file values, `instance` int32 (batch, H, W) when the model uses instances, `seed`
int32 (batch,) with use_vae; output `image` uint8 (batch, H, W, 3)). `--signature serving_uint8`
sends the label as uint8 (gRPC payloads four times smaller).

Formats, as TF Serving documents them (https://www.tensorflow.org/tfx/serving/api_rest):
- REST request, row format: `{"signature_name": S, "instances": [{"label": [[...]], "instance": ..., "seed": 3}, ...]}`
  (one object per example, no batch axis); columnar: `{"signature_name": S, "inputs": {"label": [[[...]]], ...}}`.
- REST response: `{"predictions": [...]}` (row) or `{"outputs": ...}` (columnar); with a single output the
  name is omitted (`"predictions": [image, ...]`), otherwise objects keyed by output name; errors are
  `{"error": "..."}`.
- gRPC: `tensorflow.serving.PredictionService/Predict` with a `PredictRequest` (model_spec.name,
  model_spec.signature_name, inputs: name -> TensorProto) and a `PredictResponse` (outputs: name -> TensorProto).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

DEFAULT_SIGNATURE = "serving_default"
IMAGE = "image"

#: PIL modes that hold one integer per pixel: a copy of `dagan_tf.data.loading.INTEGER_MODES` (this file
#: runs without the package); tests/test_serving_client.py checks that the two agree.
INTEGER_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


class ServingError(RuntimeError):
    """TF Serving answered with an error (its message is kept: it names the input and the bad value)."""


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def read_map_png(path: str, kind: str = "label", size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A label or instance PNG as int32 `(H, W)` (the file's values). `size_hw` resizes (nearest)."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{kind} file not found: {path}") from None
    if img.mode not in INTEGER_MODES:
        raise ValueError(f"{kind} file {path} has PIL mode {img.mode!r}; a {kind} map holds one integer per pixel "
                         f"(modes {', '.join(INTEGER_MODES)}), not colours")
    if size_hw is not None and img.size != (size_hw[1], size_hw[0]):
        img = img.resize((size_hw[1], size_hw[0]), Image.NEAREST)
    return np.asarray(img).astype(np.int32)


def write_png(image: np.ndarray, path: str) -> str:
    """Write one uint8 `(H, W, 3)` image."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(np.asarray(image, np.uint8)).save(path)
    return path


def _batched(label, instance, seed):
    label = np.asarray(label)
    if label.ndim == 2:
        label = label[None]
        instance = None if instance is None else np.asarray(instance)[None]
        seed = None if seed is None else np.atleast_1d(seed)
    inputs = {"label": label}
    if instance is not None:
        inputs["instance"] = np.asarray(instance, np.int32)
    if seed is not None:
        inputs["seed"] = np.asarray(seed, np.int32).reshape(len(label))
    return inputs


def _label_dtype(signature_name: str):
    return np.uint8 if signature_name == "serving_uint8" else np.int32


# ---------------------------------------------------------------------------------------------
# REST
# ---------------------------------------------------------------------------------------------
def predict_url(server: str, model: str, version: int | None = None) -> str:
    """`http://host:8501/v1/models/<model>[/versions/<version>]:predict`."""
    base = server.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")
    return f"{base}{path}:predict"


def rest_request_body(label, instance=None, seed=None, signature_name: str = DEFAULT_SIGNATURE,
                      layout: str = "row") -> dict:
    """The JSON body of a REST predict request, row ('instances') or columnar ('inputs') format.

    label, instance: `(H, W)` or `(batch, H, W)` integer arrays; seed: int or `(batch,)` (use_vae models).
    """
    inputs = _batched(label, instance, seed)
    inputs["label"] = inputs["label"].astype(_label_dtype(signature_name))
    if layout == "row":
        instances = [{name: value[i].tolist() for name, value in inputs.items()} for i in range(len(inputs["label"]))]
        return {"signature_name": signature_name, "instances": instances}
    if layout == "columnar":
        return {"signature_name": signature_name, "inputs": {name: value.tolist() for name, value in inputs.items()}}
    raise ValueError(f"layout={layout!r}: use 'row' (instances) or 'columnar' (inputs)")


def parse_rest_response(body) -> np.ndarray:
    """`{"predictions": ...}` or `{"outputs": ...}` (JSON text or dict) -> uint8 `(batch, H, W, 3)`.

    Raises ServingError with the server's message for `{"error": ...}`.
    """
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    if "error" in body:
        raise ServingError(f"TF Serving error: {body['error']}")
    if "predictions" in body:
        predictions = body["predictions"]
        if predictions and isinstance(predictions[0], dict):  # several named outputs: one object per example
            predictions = [p[IMAGE] for p in predictions]
        images = np.asarray(predictions)
    elif "outputs" in body:
        outputs = body["outputs"]
        images = np.asarray(outputs[IMAGE] if isinstance(outputs, dict) else outputs)
    else:
        raise ServingError(f"TF Serving response has neither 'predictions' nor 'outputs': keys {sorted(body)}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ServingError(f"expected images (batch, H, W, 3) in the response, got shape {images.shape}")
    return np.clip(images, 0, 255).astype(np.uint8)


def post_json(url: str, body: dict, timeout: float = 60.0) -> dict:
    """POST `body` as JSON; returns the decoded answer (TF Serving's error bodies included)."""
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:  # 400 / 404 ... carry {"error": "..."}
        text = e.read().decode("utf-8", "replace")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ServingError(f"HTTP {e.code} from {url}: {text[:500]}") from None
    except urllib.error.URLError as e:
        raise ServingError(f"cannot reach TF Serving at {url}: {e.reason}") from None


def predict_rest(server: str, model: str, label, instance=None, seed=None, signature_name: str = DEFAULT_SIGNATURE,
                 version: int | None = None, layout: str = "row", timeout: float = 60.0) -> np.ndarray:
    body = rest_request_body(label, instance, seed, signature_name, layout)
    return parse_rest_response(post_json(predict_url(server, model, version), body, timeout))


# ---------------------------------------------------------------------------------------------
# gRPC (tensorflow-serving-api)
# ---------------------------------------------------------------------------------------------
def _protos():
    try:
        from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorflow_serving.apis import predict_pb2
    except ImportError as e:
        raise ImportError("gRPC needs the tensorflow-serving-api package (pip install tensorflow-serving-api); "
                          f"REST (--rest) works without it ({e})") from None
    return tensor_pb2, tensor_shape_pb2, types_pb2, predict_pb2


def tensor_proto(array: np.ndarray):
    """A TensorProto (dtype, shape, tensor_content) for an int32 / uint8 / float32 array."""
    tensor_pb2, tensor_shape_pb2, types_pb2, _ = _protos()
    array = np.ascontiguousarray(array)
    dtypes = {np.dtype(np.int32): types_pb2.DT_INT32, np.dtype(np.uint8): types_pb2.DT_UINT8,
              np.dtype(np.float32): types_pb2.DT_FLOAT}
    if array.dtype not in dtypes:
        raise ValueError(f"unsupported dtype {array.dtype} for a request tensor")
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in array.shape])
    return tensor_pb2.TensorProto(dtype=dtypes[array.dtype], tensor_shape=shape,
                                  tensor_content=array.astype(array.dtype.newbyteorder("<")).tobytes())


def array_from_tensor_proto(proto) -> np.ndarray:
    """TensorProto -> NumPy, from `tensor_content` or the typed value fields (int_val, float_val)."""
    _, _, types_pb2, _ = _protos()
    numpy_dtype = {types_pb2.DT_UINT8: np.uint8, types_pb2.DT_INT32: np.int32, types_pb2.DT_FLOAT: np.float32}
    if proto.dtype not in numpy_dtype:
        raise ServingError(f"unexpected output dtype {types_pb2.DataType.Name(proto.dtype)}")
    dtype = np.dtype(numpy_dtype[proto.dtype])
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_content:
        values = np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype)
    else:
        field = proto.float_val if proto.dtype == types_pb2.DT_FLOAT else proto.int_val
        values = np.asarray(field, dtype=dtype)
        if values.size == 1 and int(np.prod(shape)) > 1:  # a repeated value is stored once
            values = np.full(int(np.prod(shape)), values[0], dtype)
    return values.reshape(shape)


def predict_request(model: str, label, instance=None, seed=None, signature_name: str = DEFAULT_SIGNATURE,
                    version: int | None = None):
    """A PredictRequest for the model's signature (inputs as in the module docstring)."""
    _, _, _, predict_pb2 = _protos()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    inputs = _batched(label, instance, seed)
    inputs["label"] = inputs["label"].astype(_label_dtype(signature_name))
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto(value))
    return request


def parse_predict_response(response) -> np.ndarray:
    """PredictResponse -> uint8 `(batch, H, W, 3)` from its 'image' output."""
    if IMAGE not in response.outputs:
        raise ServingError(f"PredictResponse has no '{IMAGE}' output: {sorted(response.outputs)}")
    return array_from_tensor_proto(response.outputs[IMAGE]).astype(np.uint8)


def grpc_predict(target: str, request, timeout: float = 60.0):
    """Call PredictionService/Predict at `target` (host:port); gRPC errors become ServingError."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024),
                                                ("grpc.max_send_message_length", 256 * 1024 * 1024)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            return stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(f"TF Serving error ({e.code().name}): {e.details()}") from None


def predict_grpc(target: str, model: str, label, instance=None, seed=None, signature_name: str = DEFAULT_SIGNATURE,
                 version: int | None = None, timeout: float = 60.0) -> np.ndarray:
    request = predict_request(model, label, instance, seed, signature_name, version)
    return parse_predict_response(grpc_predict(target, request, timeout))


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected HEIGHTxWIDTH, e.g. 256x256") from None
    return h, w


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Call a TF Serving DAGAN generator with a label map; write the image.")
    p.add_argument("label", help="label map PNG (the dataset's file values, e.g. 255 = dontcare)")
    p.add_argument("--instance", default=None, help="instance map PNG (models that use instances)")
    p.add_argument("--seed", type=int, default=None, help="style seed (use_vae models)")
    p.add_argument("--model", required=True, help="model name (MODEL_NAME of the TF Serving container)")
    p.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    transport = p.add_mutually_exclusive_group(required=True)
    transport.add_argument("--rest", metavar="URL", help="REST endpoint, e.g. http://localhost:8501")
    transport.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint, e.g. localhost:8500")
    p.add_argument("--signature", default=DEFAULT_SIGNATURE,
                   help="serving_default (int32 label) or serving_uint8 (uint8 label)")
    p.add_argument("--layout", choices=["row", "columnar"], default="row",
                   help="REST body format: 'instances' (row) or 'inputs' (columnar)")
    p.add_argument("--size", type=_size, default=None, metavar="HxW",
                   help="resize the maps (nearest) to the model's size first")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--out", required=True, help="output PNG")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        label = read_map_png(args.label, "label", args.size)
        instance = read_map_png(args.instance, "instance", args.size) if args.instance else None
        start = time.perf_counter()
        if args.rest:
            images = predict_rest(args.rest, args.model, label, instance, args.seed, args.signature, args.version,
                                  args.layout, args.timeout)
        else:
            images = predict_grpc(args.grpc, args.model, label, instance, args.seed, args.signature, args.version,
                                  args.timeout)
        latency_ms = (time.perf_counter() - start) * 1000.0
    except (ServingError, FileNotFoundError, ValueError, ImportError) as e:
        print(f"serving_client: error: {e}", file=sys.stderr)
        return 2
    write_png(images[0], args.out)
    print(f"{'REST' if args.rest else 'gRPC'} round trip {latency_ms:.1f} ms; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
