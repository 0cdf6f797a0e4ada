"""Convolution gradients at the generator's sizes: TensorFlow's own kernels against
`dagan_tf/layers/stride_one_conv.py` (gradients as forward convolutions; the kernel gradient is
oneDNN's own where TensorFlow runs oneDNN, so `TF_ENABLE_ONEDNN_OPTS=0` times the forward form
against TensorFlow's Eigen kernels on any CPU), with PyTorch's backward as the reference, measured
in the same run.

    python bench/bench_conv_gradients.py [--runs 5] [--batch 1]

Shapes: 3x3 stride-1 convolutions of the ADE20K generator at ngf 64 (SPADE MLPs and residual
convs at 256x256, 128x128 and 64x64). Per shape: the best of `--runs` times of the forward conv, of
TensorFlow's input and kernel gradients (`tf.raw_ops.Conv2DBackpropInput` / `...Filter`, the kernels
`tape.gradient` runs), of ours (both gradients through `conv2d_stride_one`'s custom gradient), and of
PyTorch's `convolution_backward` (both gradients); the sums over shapes and their ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

#: (height = width, in channels, out channels) of the generator's 3x3 convs at ngf 64
SHAPES = [(256, 151, 128), (256, 128, 64), (256, 64, 64), (128, 151, 128), (128, 256, 128), (64, 512, 256)]


def _best(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def time_shape(size: int, cin: int, cout: int, batch: int, runs: int) -> dict:
    import numpy as np
    import tensorflow as tf
    import torch

    from dagan_tf.layers.stride_one_conv import _input_gradient, _kernel_gradient

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, size, size, cin)), tf.float32)
    w = tf.constant(rng.normal(size=(3, 3, cin, cout)), tf.float32)
    dy = tf.constant(rng.normal(size=(batch, size, size, cout)), tf.float32)
    strides = [1, 1, 1, 1]
    forward = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))
    theirs = tf.function(lambda: (
        tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=strides, padding="SAME"),
        tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=strides, padding="SAME")))
    ours = tf.function(lambda: (_input_gradient(tf.shape(x), w, dy, "SAME"), _kernel_gradient(x, w, dy, "SAME")))
    xt = torch.tensor(x.numpy().transpose(0, 3, 1, 2).copy(), requires_grad=True)
    wt = torch.tensor(w.numpy().transpose(3, 2, 0, 1).copy(), requires_grad=True)
    dyt = torch.tensor(dy.numpy().transpose(0, 3, 1, 2).copy())

    def torch_backward():
        y = torch.nn.functional.conv2d(xt, wt, padding=1)
        torch.autograd.grad(y, [xt, wt], dyt)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, padding=1)

    got, want = ours(), theirs()
    error = max(float(tf.reduce_max(tf.abs(g - e)) / tf.reduce_max(tf.abs(e))) for g, e in zip(got, want))
    tf_forward = _best(lambda: forward().numpy(), runs)
    return {"tf forward": tf_forward, "tf gradients": _best(lambda: [t.numpy() for t in theirs()], runs),
            "ours gradients": _best(lambda: [t.numpy() for t in ours()], runs),
            "torch backward": _best(torch_backward, runs) - _best(torch_forward, runs), "error": error}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="timed runs per measurement; the best is kept")
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    from _machine import cpu_line
    from dagan_tf.layers.stride_one_conv import onednn_is_on

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    print(f"{cpu_line()}; TensorFlow's oneDNN {'on: ours takes its kernel gradient' if onednn_is_on() else 'off'}")
    totals = {}
    for size, cin, cout in SHAPES:
        row = time_shape(size, cin, cout, args.batch, args.runs)
        for key, value in row.items():
            totals[key] = totals.get(key, 0.0) + (value if key != "error" else 0.0)
        print(f"{size}x{size} {cin:3d}->{cout:3d}: tf forward {row['tf forward']:.3f} s, gradients: tf {row['tf gradients']:.3f} s, "
              f"ours {row['ours gradients']:.3f} s, torch {row['torch backward']:.3f} s "
              f"(ours / tf {row['ours gradients'] / row['tf gradients']:.2f}; max relative difference {row['error']:.1e})", flush=True)
    print(f"sum over shapes: tf gradients {totals['tf gradients']:.2f} s, ours {totals['ours gradients']:.2f} s "
          f"({totals['ours gradients'] / totals['tf gradients']:.2f}x), torch {totals['torch backward']:.2f} s; "
          f"ours / torch {totals['ours gradients'] / totals['torch backward']:.2f}x; {len(os.sched_getaffinity(0))} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
