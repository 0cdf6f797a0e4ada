"""Where a training iteration's seconds go: ours under TensorFlow's profiler beside the reference
under PyTorch's, by op family, with seconds, GFLOP and GFLOP/s per family.

    python bench/profile_train.py [--config configs/ade20k.yaml] [--ngf 64] [--batch 1] [--no-vgg]
                                  [--mixed-precision] [--released PATH] [--runs 2] [--top 12]
                                  [--inter-op-threads 1]

Ours: one `DAGAN.train_step` in a tf.function (as bench_train.py --compare times it), after two
warm-up calls; the reference, after bench/_train_compare.py's WARMUP calls: the released trainer (`--released`, a DAGAN checkout set up as
bench/_released_train.py says) or else the PyTorch re-statement (bench/_reference_train.py), each
its `--runs` profiled iterations, the median per family kept. Families and FLOP counts: see
bench/_op_families.py. Then the op types (as run, after Grappler's fusions) that took ours the
most time. Our executor runs two ops at once by default (inter-op threads; the iteration is fastest
so), and then our families' seconds add up to more than the wall time, each op having had part of
the cores: `--inter-op-threads 1` runs one op at a time, so that each family's seconds are its own
(the sums and the wall time are printed). In one process the two slow each other down (their thread
pools and allocators meet): `--only ours` and `--only reference` profile each alone.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))


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
        if not prof[2]:
            continue  # not profiled (--only)
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
    p.add_argument("--only", choices=["ours", "reference"], default=None,
                   help="profile one side alone in this process (in one process the two slow each other; "
                        "default: both)")
    p.add_argument("--top", type=int, default=12, help="our op types taking the most time to list (default: 12)")
    p.add_argument("--inter-op-threads", type=int, default=0,
                   help="TensorFlow's inter-op threads (default: 0, TensorFlow's choice)")
    args = p.parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    from _machine import cpu_line, fp32_peak_gflops
    from _op_families import tf_graph_flops, tf_profile_seconds, torch_profile
    from _train_compare import WARMUP, reference_step
    from bench_train import our_step_and_graph
    from dagan_tf.config import load_config

    cfg = load_config(args.config, {"ngf": args.ngf, "batchSize": args.batch, "vgg_weights": "none",
                                    "no_vgg_loss": args.no_vgg})
    print(cpu_line())
    print(f"fp32 peak: {fp32_peak_gflops()[1]}")
    print(f"{os.path.basename(args.config)} {cfg.image_hw[0]}x{cfg.image_hw[1]}, ngf {cfg.ngf}, batch {args.batch}, "
          f"{'no VGG' if args.no_vgg else 'with VGG'}; ours {'mixed_bfloat16' if args.mixed_precision else 'float32'}, "
          f"inter-op threads {tf.config.threading.get_inter_op_parallelism_threads() or 'TensorFlow default'}")
    empty = ({}, {}, 0.0)
    by_op_type = collections.Counter()
    ours_prof = ref_prof = empty
    if args.only in (None, "ours"):
        step, graph = our_step_and_graph(cfg, args.batch, "mixed_bfloat16" if args.mixed_precision else "float32")
        flops = tf_graph_flops(graph)
        for _ in range(2):
            step()

        def ours_profile():
            seconds, wall = tf_profile_seconds(step, by_op_type)
            return seconds, flops, wall

        ours_prof = median_profile(ours_profile, args.runs)
    ref_name = "released Pix2PixTrainer" if args.released else "PyTorch re-statement"
    if args.only in (None, "reference"):
        ref_name, ref_step = reference_step(cfg, args.batch, args.released)
        for _ in range(WARMUP):
            ref_step()
        ref_prof = median_profile(lambda: torch_profile(ref_step), args.runs)
    print(f"median of {args.runs} profiled iterations each; reference: {ref_name}; "
          f"load average {os.getloadavg()[0]:.1f}")
    table(ours_prof, ref_prof, ref_name)
    if args.top:
        print(f"\n  ours: the {args.top} op types (as run, after Grappler) taking the most time, per iteration")
        for (family, op_type), sec in by_op_type.most_common(args.top):
            print(f"    {op_type:36s} {family:24s} {sec / args.runs:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
