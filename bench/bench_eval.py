"""FID Inception feature extraction on the CPU: images/s at 299x299, batch 32, ours (Keras: eager and
tf.function) beside pytorch-fid's own InceptionV3 in the same run, with the ratio ours / pytorch-fid.

Both networks load one random-init weights file in pytorch-fid's format (tests/fid_reference.py; the
speed does not depend on the values). Inputs are uint8 images of 299x299 (no resize cost on either side).
Segmenters are timed by bench/bench_segmenters.py.

    python bench/bench_eval.py [--runs 3] [--batch 32] [--threads N]
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

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up (tracing, allocator)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs after one warm-up (default: 3)")
    parser.add_argument("--batch", type=int, default=32, help="images per call (default: 32)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    import torch

    from dagan_tf.evaluation.fid import InceptionFeatures
    from dagan_tf.evaluation.inception import preprocess_images
    from tests.fid_reference import pytorch_fid_model, random_fid_weights

    torch.set_num_threads(args.threads or os.cpu_count())
    images = np.random.default_rng(0).integers(0, 256, (args.batch, 299, 299, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "fid_inception.pth")
        random_fid_weights(weights)
        ours = InceptionFeatures(weights, batch_size=args.batch)
        theirs = pytorch_fid_model(weights, (2048,))
    graph = tf.function(lambda x: ours.model(x, training=False))

    def run_torch():
        with torch.no_grad():
            x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
            return theirs(x)[0].numpy()

    results = {
        "ours (eager, as dagan-tf fid)": median_seconds(lambda: ours(images), args.runs),
        "ours (tf.function)": median_seconds(lambda: graph(preprocess_images(images)).numpy(), args.runs),
        "pytorch-fid InceptionV3": median_seconds(run_torch, args.runs),
    }
    print(f"FID Inception, batch {args.batch} at 299x299, CPU threads: tf {tf.config.threading.get_intra_op_parallelism_threads() or 'all'}, "
          f"torch {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")
    reference = args.batch / results["pytorch-fid InceptionV3"]
    for name, seconds in results.items():
        rate = args.batch / seconds
        print(f"  {name:<32} {rate:7.2f} images/s  (ours / pytorch-fid = {rate / reference:.2f})")


if __name__ == "__main__":
    main()
