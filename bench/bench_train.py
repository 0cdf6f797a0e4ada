"""Training speed and memory: seconds per iteration at a realistic size, with and without XLA, against
the reference; peak memory; bf16 loss drift; the demo's wall time.

    python bench/bench_train.py [--config configs/ade20k.yaml] [--steps 3] [--batch 1] [--ngf 64]
                                [--no-jit] [--only-jit] [--demo-minutes 5 | --no-demo] [--device CPU]
    python bench/bench_train.py --compare [--isolated] [--released PATH] [--vgg both] [--steps 3] --no-demo
                                                                     # reference vs fp32 vs bf16, interleaved
    python bench/bench_train.py --memory 1 4 [--remat-batch 4] [--ours-env NAME=VALUE] --no-demo   # peak RSS
    python bench/bench_train.py --loss-drift-steps 50 --no-demo      # bf16 vs fp32 demo losses, 3 seeds

`--compare` (bench/_train_compare.py) times one iteration of the reference (the released
trainer with `--released PATH`, else the PyTorch re-statement: G step with GAN + feature matching
(+ VGG19 of random weights), then D step), ours float32 and ours under `mixed_bfloat16`
(`--mixed-precision` on a CPU), each `DAGAN.train_step` in a tf.function, in turn, `--steps`
rounds after warm-up rounds, with and without the VGG loss (`--vgg`); medians, ratios and
GFLOP/s against the CPU's fp32 peak. `--isolated` runs each measurement in a process of its own
instead (bench/_train_children.py: in one process the two slow each other down). `--memory` runs each configuration
(reference / ours fp32 / ours bf16, per batch; ours with and without `remat` at `--remat-batch`) in
its own process for one warm-up and `--memory-steps` iterations, and reports its peak resident
memory (ru_maxrss) and seconds per iteration. Our processes set glibc's mmap threshold as
`dagan-tf train` does (dagan_tf/training/allocator.py); `--ours-env` sets glibc allocator variables
(`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`, a `MALLOC_MMAP_THRESHOLD_` of their own) for our processes only.

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


def our_step_and_graph(cfg, batch: int, policy: str = "float32"):
    """(a zero-argument callable running one `DAGAN.train_step` (tf.function) of `cfg` under
    `policy`, that tf.function's graph)."""
    import keras
    import tensorflow as tf

    from dagan_tf.training.model import DAGAN

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(cfg.seed)
        model = DAGAN(cfg)
        model.compile(steps_per_epoch=100)
    finally:
        keras.config.set_dtype_policy(previous)
    data = next(iter(synthetic_batches(cfg, batch)))
    step = tf.function(model.train_step)
    graph = step.get_concrete_function(data).graph
    return (lambda: {k: float(v) for k, v in step(data).items()}), graph


def our_step(cfg, batch: int, policy: str = "float32"):
    """A zero-argument callable running one `DAGAN.train_step` (tf.function) of `cfg` under `policy`."""
    return our_step_and_graph(cfg, batch, policy)[0]


def loss_drift(steps: int, floor_runs: int = 3, seeds=(0,)) -> None:
    """bf16 vs fp32 demo runs of `steps` steps, per seed: each loss's mean over the steps, judged
    against the spread of `floor_runs` float32 runs whose initial G weights differ by 1e-6 relative.

    GAN training is chaotic: a change of rounding size grows until two runs follow different
    trajectories, so a single pair of runs drifts apart by an amount that has nothing to do with
    precision. The perturbed float32 runs measure that spread in the same run; bf16's mean passes
    where it lies inside [min, max] of theirs. The first step's losses come from the same weights
    and data in every run, before any chaos: their gap (target <= 1%) is bf16's rounding alone.
    """
    from _demo_train import train_demo

    def run(seed, policy, noise=0.0, noise_seed=1):
        with tempfile.TemporaryDirectory() as out:
            rows = train_demo(out, steps, policy, seed=seed, weight_noise=noise, noise_seed=noise_seed)[1]
        return {k: statistics.mean(r[k] for r in rows) for k in rows[0] if not k.startswith("lr")}, rows[0]

    def gap(a, b):
        return abs(b - a) / max(abs(a), 1e-8)

    print(f"demo, {steps} steps, mean of every step's loss; spread: [min, max] of {floor_runs} fp32 runs with G's "
          "initial weights x (1 + 1e-6 N(0,1)); target: bf16 inside the spread, first step within 1%")
    inside, first_within, control = [], [], []  # one entry per (seed, loss)
    for seed in seeds:
        (fp32, fp32_first), (bf16, bf16_first) = run(seed, "float32"), run(seed, "mixed_bfloat16")
        spread = [run(seed, "float32", 1e-6, noise_seed)[0] for noise_seed in range(1, floor_runs + 1)]
        print(f"seed {seed}:")
        for k, v in bf16.items():
            low, high = min(f[k] for f in spread), max(f[k] for f in spread)
            first_gap = gap(fp32_first[k], bf16_first[k])
            inside.append(low <= v <= high)
            first_within.append(first_gap <= 0.01)
            control.append(low <= fp32[k] <= high)
            print(f"  {k:10s} bf16 {v:8.4f}  fp32 {fp32[k]:8.4f}{'' if control[-1] else ' (outside)'}  perturbed fp32 "
                  f"[{low:8.4f}, {high:8.4f}]  {'inside' if inside[-1] else 'OUTSIDE'}; first step gap "
                  f"{first_gap:6.2%}{'' if first_within[-1] else ' (over 1%)'}")
    print(f"first step within 1% {sum(first_within)} of {len(first_within)} times; bf16 inside the spread "
          f"{sum(inside)} of {len(inside)} times, the unperturbed fp32 run (the control) {sum(control)}; a run "
          f"exchangeable with the {floor_runs} lies inside their range with probability "
          f"{(floor_runs - 1) / (floor_runs + 1):.0%}")


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
    p.add_argument("--compare", action="store_true",
                   help="reference vs ours fp32 vs ours bf16, with GFLOP/s (and skip the fit timing)")
    p.add_argument("--released", default=None, metavar="PATH",
                   help="with --compare: the released code's trainer as the reference (a DAGAN checkout set up "
                        "as bench/_released_train.py says; default: the PyTorch re-statement)")
    p.add_argument("--isolated", action="store_true",
                   help="with --compare: each measurement in a process of its own, the reference's and ours in "
                        "turn for --steps rounds (in one process they slow each other)")
    p.add_argument("--vgg", choices=["both", "on", "off"], default="both",
                   help="with --compare: iterations with the VGG loss, without, or both (default: both)")
    p.add_argument("--inter-op-threads", type=int, default=0,
                   help="TensorFlow's inter-op threads for ours (default: 0, TensorFlow's choice)")
    p.add_argument("--emulated-bf16", action="store_true",
                   help="with --compare / --memory: bf16 even on a CPU without bf16 units (emulated, slow)")
    p.add_argument("--memory", type=int, nargs="*", default=None, metavar="BATCH",
                   help="peak memory per batch size, each configuration in its own process")
    p.add_argument("--remat-batch", type=int, default=0, help="with --memory: also ours with remat at this batch")
    p.add_argument("--memory-steps", type=int, default=1, help="timed iterations per memory process (default: 1)")
    p.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE",
                   help="with --memory: an environment variable for our processes only (repeatable), e.g. "
                        "MALLOC_ARENA_MAX=1; the reference's processes keep the environment as it is")
    p.add_argument("--loss-drift-steps", type=int, default=0, help="bf16 vs fp32 demo losses over N steps, beside perturbed fp32 runs' gaps")
    p.add_argument("--loss-drift-seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="with --loss-drift-steps: the seeds (data, weights) of the runs (default: 0 1 2)")
    p.add_argument("--loss-drift-floor-runs", type=int, default=3,
                   help="with --loss-drift-steps: perturbed fp32 runs that measure the floor (default: 3)")
    p.add_argument("--child", choices=["reference", "fp32", "bf16"], help=argparse.SUPPRESS)
    p.add_argument("--remat", action="store_true", help="config key remat: true (with --child)")
    p.add_argument("--device", default="CPU", choices=["CPU", "GPU"],
                   help="CPU hides any GPU (default); GPU uses the first one")
    args = p.parse_args(argv)
    if args.device == "CPU":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    from dagan_tf.config import load_config

    cfg = load_config(args.config, {"ngf": args.ngf, "batchSize": args.batch, "vgg_weights": "none",
                                    "no_vgg_loss": args.vgg == "off",
                                    "remat": args.remat})
    sys.path.insert(0, os.path.join(REPO, "bench"))
    if args.child:
        from _train_children import child_run

        child_run(args.child, cfg, args.batch, args.memory_steps, args.released)
        return 0
    from _machine import cpu_line

    h, w = cfg.image_hw
    cores = len(os.sched_getaffinity(0))
    print(cpu_line())
    print(f"config {os.path.basename(args.config)}: ngf {cfg.ngf}, {h}x{w}, semantic_nc {cfg.semantic_nc}, "
          f"batch {args.batch}, losses GAN+FM+VGG{'+KLD' if cfg.use_vae else ''}; TensorFlow {tf.__version__}, "
          f"{args.device}, {cores} cores, inter-op threads {args.inter_op_threads or 'TensorFlow default'}")
    if args.compare:
        from dagan_tf.precision import cpu_bf16_support

        bf16 = cpu_bf16_support() in ("amx", "avx512_bf16") or args.emulated_bf16
        if not bf16:
            print("  (no bf16 units on this CPU: bf16 skipped; --emulated-bf16 times it anyway)")
        from _train_compare import print_compare

        print_compare(args, cfg, bf16, {"both": (True, False), "on": (True,), "off": (False,)}[args.vgg])
    if args.memory is not None:
        from _train_children import memory_table

        memory_table(args, args.memory, args.remat_batch)
    if args.loss_drift_steps:
        loss_drift(args.loss_drift_steps, args.loss_drift_floor_runs, args.loss_drift_seeds)
    if args.compare or args.memory is not None or args.loss_drift_steps:
        return 0
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
