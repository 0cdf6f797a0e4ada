"""Full-size generator CPU forward (batch 1): the PyTorch re-statement of the reference
(tests/torch_reference.py), ours float32 (tf.function, and with XLA) and ours bf16
(`dagan_tf.precision`, `--precision bf16`), timed interleaved in one run; then bf16 fidelity.

Prints per config the median of `--runs` timed rounds (each round times every mode once, in turn,
so load from other processes hits all alike), each mode's ratio to the reference, and GFLOP/s
against the fp32 peak of the cores it ran on (cores x GHz x FLOP/cycle from /proc/cpuinfo's
avx512f / fma flags; the assumption is printed). Fidelity: PSNR (peak 2, the [-1, 1] range) and max
abs of bf16 against fp32 on the demo generator trained for `--demo-steps` steps here (or
`--demo-generator G.keras`), and on the full-size random generators (batch-norm statistics of a
real input, output scaled to std 0.5 before tanh), per set of float32 islands.

    python bench/bench_generator.py [--runs 5] [--configs ade20k cityscapes] [--demo-steps 150]
                                    [--demo-generator G.keras] [--no-torch]

On a CPU without AVX512-BF16/AMX the bf16 rows run emulated (`allow_emulated`): their fidelity
is what bf16 hardware gives, their time is not.
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

import numpy as np  # noqa: E402
from _machine import cpu_line, fp32_peak_gflops  # noqa: E402
import tensorflow as tf  # noqa: E402

from dagan_tf.config import load_config  # noqa: E402
from dagan_tf.layers import BatchNorm  # noqa: E402
from dagan_tf.models import build_generator  # noqa: E402
from dagan_tf.precision import cpu_bf16_support, generator_in_precision  # noqa: E402

GFLOP = {"ade20k": 372.0, "cityscapes": 582.0}
ISLAND_SETS = [(), ("norm",), ("residual",), ("head",), ("norm", "residual", "head")]
TORCH = "pytorch (reference re-statement)"


def blob_semantic(cfg, n: int = 1, seed: int = 0, cell: int = 16):
    """A semantic map of random square blobs (a label map's structure, not per-pixel noise)."""
    from dagan_tf.data.registry import label_values
    from dagan_tf.models import SemanticPreprocessor

    rng = np.random.default_rng(seed)
    h, w = cfg.image_hw
    coarse = rng.integers(0, cfg.label_nc, (n, h // cell + 1, w // cell + 1))
    ids = np.repeat(np.repeat(coarse, cell, 1), cell, 2)[:, :h, :w].astype(np.int32)
    values = label_values(cfg).file_values(ids, cfg.label_nc)
    return SemanticPreprocessor.from_dagan_config(cfg)({"label": values, "instance": ids})


def realistic_random_generator(cfg, seg):
    """A random generator with batch-norm statistics of `seg` and an output of std 0.5 before tanh."""
    G = build_generator(cfg)
    norms = [layer for layer in G._flatten_layers() if isinstance(layer, BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0
    G(seg, training=True)
    for norm in norms:
        norm.momentum = 0.1
    kernel = G.get_layer("conv_img").kernel
    kernel.assign(kernel * (0.5 / np.arctanh(np.clip(G(seg).numpy(), -0.999, 0.999)).std()))
    return G


def psnr_and_max(got, want) -> tuple[float, float]:
    diff = np.asarray(got, np.float64) - want
    return 10 * np.log10(4.0 / max(np.mean(diff**2), 1e-30)), float(np.abs(diff).max())


def timed_modes(cfg, G, seg, use_torch: bool) -> dict:
    """{mode: zero-argument callable running one forward to completion}."""
    low = generator_in_precision(G, "bf16", cfg, allow_emulated=True)
    graph = tf.function(lambda s: G(s, training=False))
    xla = tf.function(lambda s: G(s, training=False), jit_compile=True)
    bf16 = tf.function(lambda s: low(s, training=False))
    modes = {"ours fp32 tf.function": lambda: graph(seg).numpy(),
             "ours fp32 tf.function + XLA": lambda: xla(seg).numpy(),
             "ours bf16 tf.function": lambda: bf16(seg).numpy()}
    if use_torch:
        try:
            import torch

            from tests.torch_reference import build_torch_networks
        except ImportError as e:  # torch is an optional extra
            print(f"  (PyTorch timing skipped: {e})")
            return modes
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        tg = build_torch_networks(cfg)["G"].eval()
        seg_nchw = torch.from_numpy(seg.numpy().transpose(0, 3, 1, 2).copy())

        def torch_forward():
            with torch.no_grad():
                tg(seg_nchw)

        modes = {TORCH: torch_forward, **modes}
    return modes


def interleaved_medians(modes: dict, runs: int, warmup: int = 1) -> dict:
    """{name: median seconds} of `runs` rounds calling each of `modes` in turn, after `warmup`
    rounds (tracing, XLA compilation, allocator)."""
    for _ in range(warmup):
        for fn in modes.values():
            fn()
    times = {name: [] for name in modes}
    for _ in range(runs):
        for name, fn in modes.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def fidelity_lines(cfg, G, seg) -> list[str]:
    want = G(seg, training=False).numpy()
    lines = [f"  fp32 output std {want.std():.3f}"]
    for islands in ISLAND_SETS:
        low = generator_in_precision(G, "bf16", cfg, islands=islands, allow_emulated=True)
        p, m = psnr_and_max(tf.function(lambda s: low(s, training=False))(seg).numpy(), want)
        name = "+".join(islands) or "none"
        lines.append(f"  bf16, float32 islands {name:20s} PSNR {p:6.2f} dB  max abs {m:.4f}")
    return lines


def bench_config(name: str, runs: int, use_torch: bool, peak: float) -> None:
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", {"ngf": 64})
    seg = blob_semantic(cfg)
    G = realistic_random_generator(cfg, seg)
    results = interleaved_medians(timed_modes(cfg, G, seg, use_torch), runs)
    print(f"\n{name} {cfg.image_hw[0]}x{cfg.image_hw[1]} ({GFLOP[name]:.0f} GFLOP per forward), "
          f"load average {os.getloadavg()[0]:.1f}")
    ref = results.get(TORCH)
    for mode, seconds in results.items():
        ratio = f"  {seconds / ref:5.2f}x the reference" if ref else ""
        gflops = GFLOP[name] / seconds
        print(f"  {mode:32s} {seconds * 1000:8.0f} ms  {gflops:6.0f} GFLOP/s ({gflops / peak:4.0%} of fp32 peak)"
              f"{ratio}")
    print("  bf16 fidelity on this random generator (batch-norm statistics of the input, output std 0.5):")
    print("\n".join(fidelity_lines(cfg, G, seg)))


def demo_fidelity(path: str | None, steps: int) -> None:
    import keras

    from dagan_tf.training.demo import demo_config

    with tempfile.TemporaryDirectory() as out:
        if path:
            G, how = keras.models.load_model(path), path
        else:
            from _demo_train import train_demo

            t0 = time.perf_counter()
            G = train_demo(out, steps)[0].generator
            how = f"trained here for {steps} steps (batch 2, {time.perf_counter() - t0:.0f} s)"
        cfg = getattr(G, "dagan_config", None) or demo_config(out)  # a generator file carries its config
        seg = blob_semantic(cfg, n=4, seed=1, cell=8)
        print(f"\ndemo generator {cfg.image_hw[0]}x{cfg.image_hw[1]} ngf {cfg.ngf}, {how}; "
              "4 random blob label maps (target: PSNR >= 35 dB)")
        print("\n".join(fidelity_lines(cfg, G, seg)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--configs", nargs="*", default=["ade20k", "cityscapes"],
                        help="full-size configs to time (default: ade20k cityscapes)")
    parser.add_argument("--demo-steps", type=int, default=150,
                        help="training steps of the demo generator for the fidelity check (default: 150)")
    parser.add_argument("--demo-generator", default=None, help="a trained demo G.keras instead (default: train)")
    parser.add_argument("--no-torch", action="store_true", help="skip the reference (default: time it)")
    args = parser.parse_args(argv)
    peak, assumption = fp32_peak_gflops()
    support = cpu_bf16_support()
    print(cpu_line())
    print(f"TensorFlow {tf.__version__}, batch 1, median of {args.runs} interleaved rounds; fp32 peak: {assumption}")
    print(f"bf16 units: {support}" + ("" if support in ("amx", "avx512_bf16") else
                                      " -> bf16 rows run EMULATED here: fidelity is valid, timings are not"))
    for name in args.configs:
        bench_config(name, args.runs, not args.no_torch, peak)
    if args.demo_steps > 0 or args.demo_generator:
        demo_fidelity(args.demo_generator, args.demo_steps)


if __name__ == "__main__":
    main()
