"""Each measurement in its own process (bench helper of bench_train.py): `--memory`'s peak resident
memory, and `--compare --isolated`, where the reference and ours never share a process.

Why isolated: in one process, interleaved, each slows the other (ADE20K 256, ngf 64, VGG on: the
released trainer 12.85 s there against 11.0 s alone, ours 10.2 s against 9.5 s): their thread pools
and allocators meet.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

BENCH_TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_train.py")


def child_run(impl: str, cfg, batch: int, steps: int, released: str | None = None) -> None:
    """In its own process: warm-up iterations (the reference's `WARMUP`, ours 1) + `steps` timed
    ones; prints 'RESULT peak_MB s_per_iteration'."""
    import resource

    from _train_compare import WARMUP, reference_step
    from bench_train import our_step

    if impl == "reference":
        fn, warmup = reference_step(cfg, batch, released)[1], WARMUP
    else:
        from dagan_tf.training.allocator import map_large_allocations

        map_large_allocations()  # as dagan-tf train does
        fn, warmup = our_step(cfg, batch, "mixed_bfloat16" if impl == "bf16" else "float32"), 1
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {peak_mb:.0f} {statistics.median(times) if times else float('nan'):.3f}", flush=True)


def run_child(args, impl: str, batch: int, extra=(), ours_env=()) -> tuple[float, float] | None:
    """(peak MB, s/iteration) of `child_run` in a subprocess, or None (its error printed)."""
    cmd = [sys.executable, BENCH_TRAIN, "--child", impl, "--batch", str(batch), "--config", args.config,
           "--ngf", str(args.ngf), "--memory-steps", str(args.memory_steps), "--no-demo", *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if impl != "reference":  # --ours-env: allocator settings for our processes alone
        env.update(item.split("=", 1) for item in ours_env)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        print(f"  {impl} batch {batch}: failed\n{out.stderr[-2000:]}")
        return None
    mb, sec = line[-1].split()[1:]
    return float(mb), float(sec)


def isolated_medians(args, impls, vgg: bool) -> dict:
    """{impl: median s/iteration} over `args.steps` rounds, each round one process per impl in turn."""
    extra = ["--vgg", "on" if vgg else "off"] + (["--released", args.released] if args.released else [])
    times = {impl: [] for impl in impls}
    for _ in range(args.steps):
        for impl in impls:
            result = run_child(args, impl, args.batch, extra)
            if result:
                times[impl].append(result[1])
    return {impl: statistics.median(ts) for impl, ts in times.items() if ts}


def memory_table(args, batches, remat_batch) -> list[tuple]:
    """[(impl, batch, remat, peak MB, s/iteration)], each measured by `child_run` in a subprocess."""
    from dagan_tf.precision import cpu_bf16_support

    impls = ("reference", "fp32", "bf16")
    if cpu_bf16_support() not in ("amx", "avx512_bf16") and not args.emulated_bf16:
        impls = impls[:2]
        print("  (no bf16 units on this CPU: bf16 skipped; --emulated-bf16 measures it anyway)")
    runs = [(impl, b, False) for b in batches for impl in impls]
    if remat_batch:
        runs.append(("fp32", remat_batch, True))
        if remat_batch not in batches:
            runs.append(("fp32", remat_batch, False))
    rows = []
    for impl, b, remat in runs:
        result = run_child(args, impl, b, ["--remat"] if remat else [], args.ours_env)
        if result is None:
            continue
        mb, sec = result
        rows.append((impl, b, remat, mb, sec))
        print(f"  {impl:9s} batch {b} remat {remat!s:5}: peak RSS {float(mb) / 1024:6.2f} GB, "
              f"{float(sec):6.2f} s/iteration (load average {os.getloadavg()[0]:.1f})"
              f"{' ' + ' '.join(args.ours_env) if args.ours_env and impl != 'reference' else ''}", flush=True)
    return rows
