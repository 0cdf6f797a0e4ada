"""Full-size generator CPU forward latency (batch 1): eager, tf.function, tf.function(jit_compile=True),
and the PyTorch re-statement of the reference (tests/torch_reference.py) in the same run.

Prints the median of >= 5 timed runs (after a warm-up), the ratio ours / PyTorch (goal <= 0.5),
and the achieved GFLOP/s against the generator's FLOP count (372 GFLOP per ADE20K forward,
582 per Cityscapes, as given in the core issue).

    python bench/bench_generator.py [--runs 5] [--configs ade20k cityscapes] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dagan_tf.config import load_config  # noqa: E402
from dagan_tf.models import build_generator  # noqa: E402

GFLOP = {"ade20k": 372.0, "cityscapes": 582.0}


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up (tracing / compilation / allocator)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_config(name: str, runs: int) -> dict:
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", {"ngf": 64})
    G = build_generator(cfg)
    h, w = cfg.image_hw
    rng = np.random.default_rng(0)
    labels = rng.integers(0, cfg.label_nc, size=(1, h, w))
    seg = np.zeros((1, h, w, cfg.semantic_nc), np.float32)
    np.put_along_axis(seg, labels[..., None], 1.0, axis=-1)
    seg_t = tf.constant(seg)

    graph_fn = tf.function(lambda s: G(s, training=False))
    xla_fn = tf.function(lambda s: G(s, training=False), jit_compile=True)
    results = {
        "eager": median_seconds(lambda: G(seg_t, training=False).numpy(), runs),
        "tf.function": median_seconds(lambda: graph_fn(seg_t).numpy(), runs),
        "tf.function(jit_compile=True)": median_seconds(lambda: xla_fn(seg_t).numpy(), runs),
    }
    try:
        import torch

        sys.path.insert(0, str(ROOT))
        from tests.torch_reference import build_torch_networks

        torch.set_num_threads(tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count())
        tg = build_torch_networks(cfg)["G"].eval()
        seg_nchw = torch.from_numpy(seg.transpose(0, 3, 1, 2).copy())

        def torch_forward():
            with torch.no_grad():
                tg(seg_nchw)

        results["pytorch (reference re-statement)"] = median_seconds(torch_forward, runs)
    except ImportError as e:  # torch is an optional extra
        print(f"  (PyTorch timing skipped: {e})")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--configs", nargs="+", default=["ade20k", "cityscapes"])
    args = parser.parse_args(argv)
    print(f"CPU cores: {os.cpu_count()}, TensorFlow {tf.__version__}, batch 1, median of {args.runs} runs")
    for name in args.configs:
        results = bench_config(name, args.runs)
        print(f"\n{name} ({GFLOP[name]:.0f} GFLOP per forward)")
        for mode, seconds in results.items():
            print(f"  {mode:34s} {seconds * 1000:9.1f} ms  {GFLOP[name] / seconds:7.1f} GFLOP/s")
        torch_s = results.get("pytorch (reference re-statement)")
        if torch_s:
            best = min(v for k, v in results.items() if not k.startswith("pytorch"))
            for mode, seconds in results.items():
                if not mode.startswith("pytorch"):
                    print(f"  ratio {mode} / pytorch: {seconds / torch_s:.2f}")
            print(f"  best ratio ours / pytorch: {best / torch_s:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
