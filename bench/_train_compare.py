"""`bench_train.py --compare`: one training iteration of the reference, ours float32 and ours bf16,
interleaved, with and without the VGG loss, with the GFLOP/s each reaches (bench helper).

The reference is the released trainer (`--released PATH`, bench/_released_train.py) where its code
is here, else the PyTorch re-statement (bench/_reference_train.py); the table says which. GFLOP per
iteration: the convolutions and matmuls of our iteration's graph (bench/_op_families.py), the same
count for every row, so GFLOP/s compare as the times do.
"""

from __future__ import annotations

import os


def reference_step(cfg, batch: int, released: str | None):
    """(name, zero-argument callable running one reference iteration of `cfg`, VGG loss as its
    `no_vgg_loss` says)."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    if released:
        from _released_train import ReleasedTrainer

        return "released Pix2PixTrainer", ReleasedTrainer(cfg, batch, released).step
    from _reference_train import ReferenceTrainer

    return "PyTorch re-statement", ReferenceTrainer(cfg, batch).step


def iteration_gflop(graph) -> float:
    """GFLOP of the convolutions and matmuls of one iteration's graph."""
    from _op_families import FAMILIES, tf_graph_flops

    flops = tf_graph_flops(graph)
    return sum(flops.get(family, 0.0) for family in FAMILIES[:5]) / 1e9


#: Warm-up rounds before timing: the released trainer's iteration takes 4 to settle (alone in a
#: process, ADE20K 256, ngf 64: 13.2, 12.3, 11.7, then 11.0-11.2 s; the same with glibc's mmap
#: threshold fixed at 32 MiB, so not that); ours settles after 1.
WARMUP = 4


def compare(cfg, batch: int, steps: int, bf16: bool, released: str | None, vgg: bool) -> tuple[dict, str, float]:
    """({row name: median s/iteration}, the reference's name, our iteration's GFLOP)."""
    import dataclasses

    from bench_generator import interleaved_medians
    from bench_train import our_step_and_graph

    cfg = dataclasses.replace(cfg, no_vgg_loss=not vgg)
    ref_name, ref = reference_step(cfg, batch, released)
    fp32, graph = our_step_and_graph(cfg, batch)
    modes = {f"reference ({ref_name})": ref, "ours fp32": fp32}
    if bf16:
        modes["ours --mixed-precision (bf16)"] = our_step_and_graph(cfg, batch, "mixed_bfloat16")[0]
    return interleaved_medians(modes, steps, WARMUP), ref_name, iteration_gflop(graph)


def print_compare(args, cfg, bf16: bool, vgg_modes) -> None:
    """Runs `compare` (or, with `args.isolated`, `isolated_medians`) for each VGG setting and prints
    its table (ratio, GFLOP/s, share of peak)."""
    import dataclasses

    from _machine import fp32_peak_gflops
    from _train_children import isolated_medians
    from bench_train import our_step_and_graph

    peak, assumption = fp32_peak_gflops()
    print(f"  fp32 peak: {assumption}")
    for vgg in vgg_modes:
        if args.isolated:
            ref_name = "released Pix2PixTrainer" if args.released else "PyTorch re-statement"
            impls = ("reference", "fp32", "bf16") if bf16 else ("reference", "fp32")
            medians = isolated_medians(args, impls, vgg)
            names = {"reference": f"reference ({ref_name})", "fp32": "ours fp32", "bf16": "ours --mixed-precision (bf16)"}
            res = {names[impl]: sec for impl, sec in medians.items()}
            gflop = iteration_gflop(our_step_and_graph(dataclasses.replace(cfg, no_vgg_loss=not vgg), args.batch)[1])
            how = f"median of {args.steps} rounds of one process each, after {WARMUP} (reference) / 1 (ours) warm-up"
        else:
            res, ref_name, gflop = compare(cfg, args.batch, args.steps, bf16, args.released, vgg)
            how = f"median of {args.steps} interleaved in one process after {WARMUP} warm-up rounds"
        ref = next(iter(res.values()))
        print(f"  {'with' if vgg else 'without'} VGG: reference = {ref_name}; {gflop:.0f} GFLOP per iteration "
              f"(our graph's convs + matmuls); {how}; load average {os.getloadavg()[0]:.1f}")
        for name, sec in res.items():
            rate = gflop / sec
            print(f"    {name:40s} {sec:6.2f} s/iteration  {sec / ref:5.2f}x the reference  "
                  f"{rate:5.0f} GFLOP/s ({rate / peak:4.0%} of fp32 peak)", flush=True)
