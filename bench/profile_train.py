"""Where a training iteration's seconds go: ours under TensorFlow's profiler beside the reference
under PyTorch's, by op family, with seconds, GFLOP and GFLOP/s per family.

    python bench/profile_train.py [--config configs/ade20k.yaml] [--ngf 64] [--batch 1] [--no-vgg]
                                  [--mixed-precision] [--released PATH] [--runs 2]

Ours: one `DAGAN.train_step` in a tf.function (as bench_train.py --compare times it), after two
warm-up calls; the reference: the released trainer (`--released`, a DAGAN checkout set up as
bench/_released_train.py says) or else the PyTorch re-statement (bench/_reference_train.py), each
its `--runs` profiled iterations, the median per family kept. Families and FLOP counts: see
bench/_op_families.py. Our executor may run two ops at once (inter-op threads), so our families'
seconds can add up to more than the wall time; the sums are printed beside the wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))


def ours(cfg, batch: int, policy: str):
    """(a zero-argument callable running one train_step, {family: FLOPs} of its graph)."""
    import keras
    import tensorflow as tf

    from _op_families import tf_graph_flops
    from bench_train import synthetic_batches
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
    flops = tf_graph_flops(step.get_concrete_function(data).graph)
    return (lambda: {k: float(v) for k, v in step(data).items()}), flops


def reference(cfg, batch: int, released: str | None):
    """(name, zero-argument callable running one reference iteration)."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    vgg = not cfg.no_vgg_loss
    if released:
        from _released_train import ReleasedTrainer

        return "released Pix2PixTrainer", ReleasedTrainer(cfg, batch, released, vgg=vgg).step
    from _reference_train import ReferenceTrainer

    return "PyTorch re-statement", ReferenceTrainer(cfg, batch, vgg=vgg).step


def median_profile(profile, runs: int) -> tuple[dict, dict, float]:
    """Median seconds per family, the FLOPs of the last run, the median wall time, over `runs`."""
    results = [profile() for _ in range(runs)]
    families = {f for r in results for f in r[0]}
    seconds = {f: statistics.median(r[0].get(f, 0.0) for r in results) for f in families}
    return seconds, results[-1][1], statistics.median(r[2] for r in results)


def table(ours_prof, ref_prof, ref_name: str) -> None:
    from _op_families import FAMILIES

    print(f"\n  {'family':24s} | {'ours s':>7s} {'GFLOP':>7s} {'GFLOP/s':>8s} | "
          f"{'ref s':>7s} {'GFLOP':>7s} {'GFLOP/s':>8s} | ours / ref time")
    for family in FAMILIES:
        (s1, f1), (s2, f2) = ((p[0].get(family, 0.0), p[1].get(family, 0.0)) for p in (ours_prof, ref_prof))
        if not (s1 or s2):
            continue
        rate = lambda f, s: f"{f / s / 1e9:8.0f}" if s and f else f"{'-':>8s}"  # noqa: E731
        ratio = f"{s1 / s2:5.2f}x" if s1 and s2 else "-"
        print(f"  {family:24s} | {s1:7.2f} {f1 / 1e9:7.0f} {rate(f1, s1)} | {s2:7.2f} {f2 / 1e9:7.0f} "
              f"{rate(f2, s2)} | {ratio}")
    for label, prof in (("ours", ours_prof), (ref_name, ref_prof)):
        conv = sum(prof[1].get(f, 0.0) for f in FAMILIES[:5])
        print(f"  {label}: ops' seconds summed {sum(prof[0].values()):.2f} s, wall {prof[2]:.2f} s; "
              f"conv + matmul {conv / 1e9:.0f} GFLOP -> {conv / prof[2] / 1e9:.0f} GFLOP/s of wall time")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(REPO, "configs", "ade20k.yaml"), help="config (default: ade20k)")
    p.add_argument("--ngf", type=int, default=64, help="generator width (default: 64)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    p.add_argument("--no-vgg", action="store_true", help="without the VGG loss (config key no_vgg_loss)")
    p.add_argument("--mixed-precision", action="store_true", help="ours under mixed_bfloat16")
    p.add_argument("--released", default=None, metavar="PATH",
                   help="the released code (a DAGAN checkout set up as bench/_released_train.py says) as the "
                        "reference (default: the PyTorch re-statement)")
    p.add_argument("--runs", type=int, default=2, help="profiled iterations of each (default: 2)")
    p.add_argument("--inter-op-threads", type=int, default=0,
                   help="TensorFlow's inter-op threads (default: 0, TensorFlow's choice)")
    args = p.parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    from _machine import cpu_line, fp32_peak_gflops
    from _op_families import tf_profile_seconds, torch_profile
    from dagan_tf.config import load_config

    cfg = load_config(args.config, {"ngf": args.ngf, "batchSize": args.batch, "vgg_weights": "none",
                                    "no_vgg_loss": args.no_vgg})
    print(cpu_line())
    print(f"fp32 peak: {fp32_peak_gflops()[1]}")
    print(f"{os.path.basename(args.config)} {cfg.image_hw[0]}x{cfg.image_hw[1]}, ngf {cfg.ngf}, batch {args.batch}, "
          f"{'no VGG' if args.no_vgg else 'with VGG'}; ours {'mixed_bfloat16' if args.mixed_precision else 'float32'}, "
          f"inter-op threads {tf.config.threading.get_inter_op_parallelism_threads() or 'TensorFlow default'}")
    step, flops = ours(cfg, args.batch, "mixed_bfloat16" if args.mixed_precision else "float32")
    ref_name, ref_step = reference(cfg, args.batch, args.released)
    for _ in range(2):
        step()
        ref_step()

    def ours_profile():
        seconds, wall = tf_profile_seconds(step)
        return seconds, flops, wall

    ours_prof = median_profile(ours_profile, args.runs)
    ref_prof = median_profile(lambda: torch_profile(ref_step), args.runs)
    print(f"median of {args.runs} profiled iterations each; reference: {ref_name}; "
          f"load average {os.getloadavg()[0]:.1f}")
    table(ours_prof, ref_prof, ref_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
