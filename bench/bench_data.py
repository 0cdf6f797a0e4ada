"""Throughput of the tf.data pipelines: images/s and ms/image.

    python bench/bench_data.py [--cores 2] [--seconds 10] [--batch 8]

Measures, on `--cores` CPU cores (the process is pinned to them before TensorFlow starts):
- the COCO-Stuff samples ($DAGAN_TF_COCO_SAMPLES, default ../shared/data/coco_stuff_samples) with configs/coco.yaml at 256: training
  (resize to 286, random 256 crop, flip), test phase, and training with `cache: true`;
- demo data at 256x512 (generated into a temporary folder; configs/demo.yaml with crop 512, aspect 2).
Each pipeline is repeated, then batched (so a 13-file set does not lose 5 files an epoch to the training
drop-remainder) and timed for `--seconds` after one warm-up batch. Besides wall-clock images/s it prints
the CPU time the process spent per image, and the rate that CPU cost allows on `--cores` otherwise idle
cores (cores x 1000 / cpu ms): on a shared machine the wall-clock figure depends on what else runs.
The target is >= 100 images/s for the COCO samples at 256x256 on 2 cores.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_COCO = os.environ.get("DAGAN_TF_COCO_SAMPLES") or os.path.join(os.path.dirname(REPO), "shared", "data", "coco_stuff_samples")


def pin_cores(n: int) -> str:
    """Restrict this process (and the threads TensorFlow will start) to the first `n` usable cores."""
    available = sorted(os.sched_getaffinity(0))
    if n <= 0 or n >= len(available):
        return f"{len(available)} cores (all)"
    os.sched_setaffinity(0, available[:n])
    return f"{n} of {len(available)} cores"


def measure(ds, seconds: float, batch: int) -> tuple[float, float, int]:
    """(images per second, CPU ms per image, images timed) over `seconds` after one warm-up batch."""
    it = iter(ds.repeat().batch(batch))
    next(it)
    images = 0
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    while time.perf_counter() - start < seconds:
        images += int(next(it)["label"].shape[0])
    rate = images / (time.perf_counter() - start)
    cpu_ms = (_cpu_seconds() - cpu_start) / images * 1000.0
    del it
    gc.collect()
    return rate, cpu_ms, images


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def report(name: str, cores: int, rate: float, cpu_ms: float, images: int) -> None:
    print(f"{name:<50s} {rate:7.1f} images/s {1000.0 / rate:6.2f} ms/image | CPU {cpu_ms:6.2f} ms/image "
          f"-> {cores * 1000.0 / cpu_ms:6.1f} images/s on {cores} idle cores ({images} images)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="pin to this many cores (0 = all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per pipeline")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--coco", default=DEFAULT_COCO, help="COCO-Stuff samples folder")
    parser.add_argument("--demo-count", type=int, default=48, help="demo scenes to generate")
    args = parser.parse_args(argv)
    pinned = pin_cores(args.cores)
    cores = len(os.sched_getaffinity(0))

    sys.path.insert(0, REPO)
    import tensorflow  # noqa: F401  (imported after pinning, so its thread pools fit the cores)

    from dagan_tf.config import load_config
    from dagan_tf.data import build_dataset
    from dagan_tf.data.demo import write_demo_dataset

    print(f"bench_data: {pinned}, load average {os.getloadavg()[0]:.1f}, batch {args.batch}, "
          f"{args.seconds:.0f} s per pipeline", flush=True)
    coco = load_config(os.path.join(REPO, "configs", "coco.yaml"), {"dataroot": args.coco})
    report("coco samples, train (286 -> random 256 crop, flip)", cores,
           *measure(build_dataset(coco, "train"), args.seconds, args.batch))
    report("coco samples, test (256, no crop, no flip)", cores,
           *measure(build_dataset(coco, "test"), args.seconds, args.batch))
    report("coco samples, train, cache: true", cores,
           *measure(build_dataset(coco.replace(cache=True), "train"), args.seconds, args.batch))

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        write_demo_dataset(root, count=args.demo_count, size=512, seed=0, progress=False)
        made = time.perf_counter() - start
        print(f"{'demo data generation, 512x256':<50s} {args.demo_count / made:7.1f} scenes/s", flush=True)
        demo = load_config(os.path.join(REPO, "configs", "demo.yaml"),
                           {"dataroot": root, "crop_size": 512, "load_size": 512})
        assert demo.image_hw == (256, 512)
        report("demo data, train at 256x512 (fixed, flip)", cores,
               *measure(build_dataset(demo, "train"), args.seconds, args.batch))
    print(f"bench_data: load average at the end {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
