"""The paint page's on-device latency: LiteRT.js (WASM) in headless Chromium beside the Python LiteRT interpreter.

    python bench/bench_web.py [--checkpoint G.keras --config CFG] [--set ngf=16] [--runs 10] [--threads 1 2]

Without a checkpoint, configs/demo.yaml's generator (64x128, ngf 16, or as `--set` says) with random
weights calibrated as the export tests do. It is exported once per quantisation (TFLite, batch 1, as
`dagan-tf paint` does) into one site, served with the page's headers; for each model and thread count
the page is opened (`?model=...&threads=N`: 1 thread loads LiteRT.js's single-threaded WASM build, N > 1
the threaded one, which needs the COOP/COEP headers) and `dagan.time(runs)` gives the median of `runs`
inferences on the first random scene, after the page's own first photo (the warm-up). The Python
interpreter (`ai_edge_litert`, `num_threads=N`) runs the same model on the same maps in the same process,
one warm-up then the median of `runs`. Needs /usr/bin/chromium, /usr/bin/chromedriver and `npm ci`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

QUANTIZE = ("none", "fp16", "int8")


def build_site(args, work: pathlib.Path) -> tuple[pathlib.Path, object]:
    from dagan_tf.config import load_config, parse_overrides
    from dagan_tf.export import export_generator
    from dagan_tf.models import config_for_checkpoint
    from dagan_tf.paint import write_site
    from dagan_tf.paint.site import add_to_site

    if args.checkpoint:
        checkpoint = args.checkpoint
        config = config_for_checkpoint(checkpoint, args.config, parse_overrides(args.overrides))
    else:
        config = load_config(args.config or ROOT / "configs" / "demo.yaml", parse_overrides(args.overrides))
        from tests.helpers import calibrated_generator

        checkpoint = str(work / "G.keras")
        calibrated_generator(config, seed=0).save(checkpoint)
    site = work / "site"
    for q in QUANTIZE:
        print(f"exporting {q} ...", flush=True)
        export_generator(config, checkpoint, format="tflite", quantize=q, out=str(work / f"model_{q}.tflite"), batch=1)
    write_site(site, work / "model_none.tflite", config)
    for q in QUANTIZE:
        add_to_site(site, work / f"model_{q}.tflite", f"model_{q}.tflite")
    return site, config


def python_ms(model: pathlib.Path, site: pathlib.Path, config, threads: int, runs: int) -> float:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    h, w = config.image_hw
    inputs = {k: np.fromfile(site / f"scenes/00.{k}.bin", "<i4").reshape(1, h, w)
              for k in ("label", "instance") if (site / f"scenes/00.{k}.bin").exists()}
    if config.use_vae:
        inputs["seed"] = np.zeros([1], np.int32)
    runner = Interpreter(model_path=str(model), num_threads=threads).get_signature_runner("serving_default")
    runner(**inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(**inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def page_ms(driver, url: str, runs: int) -> tuple[float, dict]:
    driver.get(url)
    result = driver.execute_async_script(
        "const done = arguments[0]; dagan.ready.then(() => dagan.settled())"
        f".then(() => dagan.time({runs})).then((ms) => done([ms, dagan.backend]), (e) => done([null, String(e)]));")
    if result[0] is None:
        raise RuntimeError(f"page failed: {result[1]}")
    return result[0], result[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None,
                        help="generator .keras, run folder or shipped name, e.g. demo (default: a calibrated "
                             "random generator of --config)")
    parser.add_argument("--config", default=None, help="config (default: the checkpoint's own, else "
                        "configs/demo.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=int, default=10, help="timed inferences per cell (default: 10)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    args = parser.parse_args(argv)

    from _machine import cpu_line

    from dagan_tf.paint import SiteServer

    with tempfile.TemporaryDirectory(prefix="dagan_bench_web_") as tmp:
        site, config = build_site(args, pathlib.Path(tmp))
        h, w = config.image_hw
        print(f"\nmachine: {cpu_line()}")
        print(f"{config.name} {h}x{w} ngf {config.ngf}; median of {args.runs} runs")
        print(f"{'model':<6} {'MB':>6} {'threads':>7} {'browser ms':>11} {'python ms':>10} {'ratio':>6}  backend")
        from tests.browser import chromium_driver, quit_driver

        driver = chromium_driver(phone=False, script_timeout_s=600)
        try:
            with SiteServer(site, port=0) as server:
                for q in QUANTIZE:
                    model = site / f"model_{q}.tflite"
                    for threads in args.threads:
                        web, backend = page_ms(driver, f"{server.url}?model={model.name}&threads={threads}", args.runs)
                        py = python_ms(model, site, config, threads, args.runs)
                        print(f"{q:<6} {model.stat().st_size / 2**20:6.1f} {threads:7d} {web:11.1f} {py:10.1f} "
                              f"{web / py:6.2f}  {backend['accelerator']}, {backend['threads']} thread(s), "
                              f"isolated={backend['crossOriginIsolated']}", flush=True)
        finally:
            quit_driver(driver)
    return 0


if __name__ == "__main__":
    sys.exit(main())
