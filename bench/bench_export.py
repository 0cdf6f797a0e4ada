"""Exported generators: file size, CPU latency (batch 1) and difference from the Keras model, per format.

    python bench/bench_export.py [--configs demo ade20k] [--runs 5] [--threads 2]

For each config (configs/demo.yaml as it is; configs/ade20k.yaml at 256x256 with ngf 64, the paper's
size) a random-weight generator is calibrated as the export tests do (unit-scale weights, batch-norm
statistics brought to the data, output scaled off tanh's saturation: with the reference init the
image hardly depends on the label map and every comparison would look perfect), then exported as a
SavedModel (TF Serving layout), TFLite fp32 / fp16 / int8 and ONNX. Each artefact gets the same
label map (a procedural demo scene at the config's size) through its own runtime:
`tf.saved_model.load(...).signatures['serving_default']`, LiteRT's signature runner, onnxruntime.

Printed per format: size on disk (and the ratio to the fp32 TFLite file), median latency of
`--runs` calls after one warm-up, and the uint8 image's difference from the Keras model's
(max, mean, share of pixels within 1, PSNR in dB). int8 is also compared with the fp32 TFLite
output (its PSNR against fp32). The Keras row is the generator called through the serving
tf.function (label -> uint8 image). Each export runs in a fresh process: converting an ngf-64
generator takes GBs that TensorFlow keeps until the process ends.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {"demo": {}, "ade20k": {"ngf": 64, "load_size": 256, "crop_size": 256}}
FORMATS = ("saved_model", "tflite fp32", "tflite fp16", "tflite int8", "onnx")


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: tracing, tensor allocation
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def size_mb(path: str) -> float:
    if os.path.isdir(path):
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    else:
        total = os.path.getsize(path)
    return total / 2**20


def prepare(name: str, runs: int, work: str) -> dict:
    """Calibrate the generator, save it, the label map and the Keras model's image; time the Keras model."""
    import numpy as np
    import tensorflow as tf

    from dagan_tf.config import load_config, save_config
    from dagan_tf.export import build_serving_function
    from dagan_tf.models import Synthesizer
    from tests.helpers import calibrated_generator, example_inputs, keras_image

    cfg = load_config(ROOT / "configs" / f"{name}.yaml", CONFIGS[name])
    generator = calibrated_generator(cfg, seed=0)
    generator.save(os.path.join(work, "G.keras"))
    save_config(cfg, os.path.join(work, "config.yaml"))
    inputs = example_inputs(cfg, 1, seed=21)  # batch 1
    np.savez(os.path.join(work, "inputs.npz"), **inputs)
    np.save(os.path.join(work, "keras.npy"), keras_image(generator, cfg, inputs))
    serve = build_serving_function(Synthesizer(generator), validate=False)
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    np.save(os.path.join(work, "keras (tf.function).npy"), serve(**tensors)["image"].numpy())
    return {"latency_ms": median_ms(lambda: serve(**tensors)["image"].numpy(), runs),
            "params": int(generator.count_params()), "hw": list(cfg.image_hw), "ngf": cfg.ngf,
            "label_nc": cfg.label_nc, "instances": not cfg.no_instance}


def export_and_run(fmt: str, runs: int, threads: int, work: str) -> dict:
    """Export the saved generator in `fmt`, run it on the saved label map in its own runtime."""
    import numpy as np

    from dagan_tf.config import load_config
    from dagan_tf.export import convert_to_onnx, convert_to_tflite, export_saved_model, load_synthesizer

    cfg = load_config(os.path.join(work, "config.yaml"))
    generator = load_synthesizer(os.path.join(work, "G.keras"), cfg)
    inputs = dict(np.load(os.path.join(work, "inputs.npz")))
    start = time.perf_counter()
    if fmt == "saved_model":
        import tensorflow as tf

        path = export_saved_model(generator, cfg, out=os.path.join(work, "saved_model", "1"))
        del generator
        signature = tf.saved_model.load(path).signatures["serving_default"]
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        run = lambda: signature(**tensors)["image"].numpy()  # noqa: E731
    elif fmt.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter

        quantize = {"tflite fp32": "none", "tflite fp16": "fp16", "tflite int8": "int8"}[fmt]
        path = convert_to_tflite(generator, cfg, os.path.join(work, f"model_{quantize}.tflite"), quantize=quantize)
        del generator
        runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner("serving_default")
        run = lambda: runner(**inputs)["image"]  # noqa: E731
    else:
        import onnxruntime as ort

        path = convert_to_onnx(generator, os.path.join(work, "model.onnx"))
        del generator
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
        run = lambda: session.run(["image"], feeds)[0]  # noqa: E731
    export_s = time.perf_counter() - start
    np.save(os.path.join(work, f"{fmt}.npy"), run())
    return {"latency_ms": median_ms(run, runs), "size_mb": size_mb(path), "export_s": export_s}


def _child(action: str, *args) -> dict:
    """Run one step in a fresh process (an ngf-64 export holds GBs that TensorFlow does not give back)."""
    proc = subprocess.run([sys.executable, __file__, "--child", action, *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if proc.returncode != 0:
        raise RuntimeError(f"{action} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_config(name: str, runs: int, threads: int, work: str) -> None:
    import numpy as np

    from tests.helpers import pixel_agreement

    work = os.path.join(work, name)
    os.makedirs(work)
    print(f"\n{name}: calibrating a random-weight generator ...", flush=True)
    info = _child("prepare", name, runs, work)
    h, w = info["hw"]
    print(f"  {h}x{w}, ngf {info['ngf']}, label_nc {info['label_nc']}, "
          f"{'instances' if info['instances'] else 'no instances'}; {info['params']:,} parameters "
          f"({info['params'] * 4 / 2**20:.1f} MB as float32); batch 1, median of {runs} runs, {threads} threads",
          flush=True)
    rows = {"keras (tf.function)": info}
    for fmt in FORMATS:
        rows[fmt] = _child("export", fmt, runs, threads, work)
        print(f"  exported {fmt} in {rows[fmt]['export_s']:.0f} s", flush=True)

    want = np.load(os.path.join(work, "keras.npy"))
    images = {fmt: np.load(os.path.join(work, f"{fmt}.npy")) for fmt in rows}
    fp32_mb = rows["tflite fp32"]["size_mb"]
    print(f"  {'format':<22s}{'size MB':>10s}{'/ fp32':>8s}{'latency ms':>12s}{'max':>6s}{'mean':>8s}"
          f"{'within 1':>10s}{'PSNR dB':>9s}   (difference from the Keras model's uint8 image)")
    for fmt, row in rows.items():
        stats = pixel_agreement(images[fmt], want)
        size = (f"{row['size_mb']:10.2f}{row['size_mb'] / fp32_mb:8.2f}" if "size_mb" in row
                else f"{'-':>10s}{'-':>8s}")
        print(f"  {fmt:<22s}{size}{row['latency_ms']:12.1f}{stats['max']:6d}{stats['mean']:8.3f}"
              f"{stats['within1'] * 100:9.2f}%{min(stats['psnr'], 99.0):9.1f}", flush=True)
    int8 = pixel_agreement(images["tflite int8"], images["tflite fp32"])
    fp16 = pixel_agreement(images["tflite fp16"], images["tflite fp32"])
    print(f"  against the fp32 TFLite output: int8 PSNR {int8['psnr']:.1f} dB (mean abs {int8['mean']:.2f}), "
          f"fp16 PSNR {min(fp16['psnr'], 99.0):.1f} dB (mean abs {fp16['mean']:.3f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="LiteRT / onnxruntime threads (default: the usable cores)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # internal: one step in a fresh process
    args = parser.parse_args(argv)
    if args.child:
        action, *rest = args.child
        result = prepare(rest[0], int(rest[1]), rest[2]) if action == "prepare" else \
            export_and_run(rest[0], int(rest[1]), int(rest[2]), rest[3])
        print(json.dumps(result))
        return 0

    import tensorflow as tf

    print(f"CPU cores: {len(os.sched_getaffinity(0))}, TensorFlow {tf.__version__}; each step in its own process")
    with tempfile.TemporaryDirectory(prefix="dagan_bench_export_") as work:
        for name in args.configs:
            bench_config(name, args.runs, args.threads, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
