"""Training speed: seconds per iteration at a realistic size, with and without XLA, and the demo's wall time.

    python bench/bench_train.py [--config configs/ade20k.yaml] [--steps 3] [--batch 1] [--ngf 64]
                                [--no-jit] [--only-jit] [--demo-minutes 5 | --no-demo] [--device CPU]

Iterations: `DAGAN.train_step` through `model.fit` (one G step + one D step, every loss of the config
on; VGG19 with random weights, which costs what the ImageNet one does) on synthetic batches (random
label maps, `--batch` images of the config's size, 256x256 for ade20k), after one warm-up step that
traces (and with XLA compiles) the graph. Reports the median of `--steps` timed iterations and the
XLA / no-XLA ratio, the CPU seconds per iteration (all threads; less sensitive to other
processes on the machine) and the load average. Then it runs `dagan-tf demo` into a temporary folder and reports its wall time:
data, graph building, training (steps), results page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


class _StepTimer:
    """Wall time of every `train_function` call (one iteration with steps_per_execution=1)."""

    def __init__(self):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(cb):
                super().__init__()
                cb.times, cb.cpu_times = [], []

            def on_train_batch_begin(cb, batch, logs=None):
                cb.start = time.perf_counter(), time.process_time()

            def on_train_batch_end(cb, batch, logs=None):
                float(logs["G_GAN"])  # wait for the step's results
                cb.times.append(time.perf_counter() - cb.start[0])
                cb.cpu_times.append(time.process_time() - cb.start[1])

        self.callback = Timer()


def synthetic_batches(cfg, batch: int, seed: int = 0):
    """A tf.data.Dataset repeating one batch of random label maps (blobs, not noise) and images."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    h, w = cfg.image_hw
    coarse = rng.integers(0, cfg.label_nc, (batch, h // 16, w // 16))
    label = np.repeat(np.repeat(coarse, 16, 1), 16, 2).astype(np.int32)
    data = {"label": label, "image": rng.uniform(-1, 1, (batch, h, w, 3)).astype(np.float32)}
    if not cfg.no_instance:
        data["instance"] = label.copy()
    return tf.data.Dataset.from_tensors(data).repeat()


def seconds_per_iteration(cfg, steps: int, batch: int, jit: bool):
    """(median wall seconds per iteration, seconds of the first (tracing) step, every timed step's
    wall seconds, median CPU seconds per iteration (all threads of this process))."""
    import keras

    from dagan_tf.training.model import DAGAN

    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    model = DAGAN(cfg)
    model.compile(steps_per_epoch=100, jit_compile=jit)
    timer = _StepTimer().callback
    ds = synthetic_batches(cfg, batch)
    model.fit(ds, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    first, rest = timer.times[0], timer.times[1:]
    return statistics.median(rest), first, rest, statistics.median(timer.cpu_times[1:])


def demo_wall_time(minutes: float) -> dict:
    import json

    from dagan_tf.training.demo import run_demo

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        page = run_demo(out, minutes=minutes, verbose=False)
        total = time.perf_counter() - start
        scores = json.load(open(os.path.join(out, "colour_score.json")))
        return {"wall_s": total, "page_ok": os.path.isfile(page), **scores}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(REPO, "configs", "ade20k.yaml"))
    p.add_argument("--steps", type=int, default=3, help="timed iterations (after one warm-up)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--no-jit", action="store_true", help="skip the XLA measurement")
    p.add_argument("--only-jit", action="store_true", help="skip the measurement without XLA")
    p.add_argument("--demo-minutes", type=float, default=5.0)
    p.add_argument("--no-demo", action="store_true")
    p.add_argument("--device", default="CPU", choices=["CPU", "GPU"],
                   help="CPU hides any GPU (default); GPU uses the first one")
    args = p.parse_args(argv)
    if args.device == "CPU":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    from dagan_tf.config import load_config

    cfg = load_config(args.config, {"ngf": args.ngf, "batchSize": args.batch, "vgg_weights": "none"})
    h, w = cfg.image_hw
    cores = len(os.sched_getaffinity(0))
    print(f"config {os.path.basename(args.config)}: ngf {cfg.ngf}, {h}x{w}, semantic_nc {cfg.semantic_nc}, "
          f"batch {args.batch}, losses GAN+FM+VGG{'+KLD' if cfg.use_vae else ''}; TensorFlow {tf.__version__}, "
          f"{args.device}, {cores} cores")
    results = {}
    modes = [False] if args.no_jit else [True] if args.only_jit else [False, True]
    for jit in modes:
        median, first, times, cpu = seconds_per_iteration(cfg, args.steps, args.batch, jit)
        results[jit] = median
        print(f"jit_compile={jit!s:5}: {median:.2f} s/iteration (median of {len(times)}: "
              f"{', '.join(f'{t:.2f}' for t in times)}), {cpu:.2f} CPU s/iteration; first step "
              f"(trace{' + XLA compile' if jit else ''}) {first:.1f} s; load average {os.getloadavg()[0]:.1f}",
              flush=True)
    if len(results) == 2:
        print(f"XLA speed-up: {results[False] / results[True]:.2f}x (no-XLA time / XLA time)")
    if not args.no_demo:
        d = demo_wall_time(args.demo_minutes)
        print(f"demo (--minutes {args.demo_minutes:g}): wall time {d['wall_s']:.0f} s, {d['step']} training "
              f"steps; pixels coloured like their class {d['before']:.0%} -> {d['after']:.0%}; "
              f"results page written: {d['page_ok']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
