"""Seconds and FLOPs of one training iteration by op family, from TensorFlow's profiler and from
PyTorch's (bench helper of bench/profile_train.py and bench/bench_train.py --compare).

Families: forward conv, input gradient, filter gradient (PyTorch's CPU `convolution_backward`
computes both in one call, so its two are one row, "input + filter gradient"), matmul,
normalization (batch and instance norm, forward and backward), data movement (copies, transposes,
pads, concatenations, reshapes), elementwise and other (activations, losses, the optimizers'
updates, pooling, upsampling, reductions).

FLOPs: convolutions and matmuls count 2 per multiply-add, from each op's static shapes (ours: the
ops of the tf.function graph, before Grappler, that its outputs and variable updates need; PyTorch's: the recorded shapes and arguments of each call).
Other families count one FLOP per output element, so their GFLOP/s read as elements per
nanosecond.
"""

from __future__ import annotations

import collections
import glob
import math
import os
import re
import tempfile

FAMILIES = ("forward conv", "input gradient", "filter gradient", "input + filter gradient", "matmul",
            "normalization", "data movement", "elementwise and other")

_BOOKKEEPING = {"ThreadpoolListener::Record", "ThreadpoolListener::StartRegion", "ThreadpoolListener::StopRegion",
                "ExecutorState::Process", "MemoryDeallocation", "MemoryAllocation"}
_MOVEMENT = ("Transpose", "Pad", "MirrorPad", "Concat", "Reshape", "Copy", "Slice", "Tile", "Pack", "Unpack",
             "Split", "Reverse", "Identity", "Squeeze", "ExpandDims", "Gather", "Fill", "ZerosLike", "OnesLike",
             "Const", "ReadVariableOp")
#: dagan_tf/layers/stride_one_conv.py's gradients as forward convolutions (scopes get _1, _2...)
_INPUT_GRADIENT = re.compile(r"(^|/)input_gradient(_\d+)?/")
_KERNEL_GRADIENT = re.compile(r"(^|/)kernel_gradient(_\d+)?/")
#: our norm layers' scopes (SPADE's `param_free_norm`, the discriminator's `norm`), their gradients'
_NORM_SCOPE = re.compile(r"/(param_free_norm|norm|batch_norm_gradient)(_\d+)?/")


def tf_family(name: str, op_type: str) -> str:
    """The family of a TensorFlow node (its name and its op type, before or after Grappler)."""
    if "BackpropInput" in op_type or "Conv" in op_type and _INPUT_GRADIENT.search(name):
        return "input gradient"
    if "BackpropFilter" in op_type or "Conv" in op_type and _KERNEL_GRADIENT.search(name):
        return "filter gradient"
    if "Conv2D" in op_type or "Conv3D" in op_type:
        return "forward conv"
    if "MatMul" in op_type or "Einsum" in op_type:
        return "matmul"
    if "BatchNorm" in op_type or _NORM_SCOPE.search("/" + name):
        return "normalization"
    if any(kind in op_type for kind in _MOVEMENT):
        return "data movement"
    return "elementwise and other"


def _numel(shape) -> int:
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    return math.prod(d for d in dims if d is not None) if dims is not None else 0


def tf_op_flops(op) -> float:
    """FLOPs of one graph op from its static shapes (module docstring)."""
    kind = op.type
    try:
        if kind in ("Conv2D", "DepthwiseConv2dNative"):
            kh, kw, cin = op.inputs[1].shape.as_list()[:3]
            return 2.0 * _numel(op.outputs[0].shape) * kh * kw * cin
        if kind in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
            dy = op.inputs[2]
            kh, kw, cin = (op.inputs[1].shape.as_list() if kind.endswith("Input") else op.outputs[0].shape.as_list())[:3]
            return 2.0 * _numel(dy.shape) * kh * kw * cin
        if kind in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"):
            a = op.inputs[0].shape.as_list()
            transposed = op.get_attr("transpose_a") if kind == "MatMul" else op.get_attr("adj_x")
            k = a[-2] if transposed else a[-1]
            return 2.0 * _numel(op.outputs[0].shape) * k
    except (ValueError, TypeError):
        return 0.0
    if kind in ("Const", "Placeholder", "NoOp", "ReadVariableOp", "Identity", "Reshape", "Shape"):
        return 0.0
    return float(sum(_numel(out.shape) for out in op.outputs if out.shape.rank is not None))


def _live_ops(graph) -> list:
    """The ops of `graph` that its outputs or its stateful ops (variable updates) need: the ones
    TensorFlow runs. A custom gradient returns, for instance, the input gradient of a conv on the
    label map, which nothing uses and TensorFlow prunes."""
    wanted = [t.op for t in graph.outputs] + [op for op in graph.get_operations() if op._is_stateful]
    live, stack = set(), list(wanted)
    while stack:
        op = stack.pop()
        if op.name in live:
            continue
        live.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in live]


def tf_graph_flops(graph) -> dict:
    """{family: FLOPs} of the ops of `graph` (a FuncGraph) that run (`_live_ops`)."""
    flops = collections.Counter()
    for op in _live_ops(graph):
        flops[tf_family(op.name, op.type)] += tf_op_flops(op)
    return dict(flops)


def tf_profile_seconds(fn, by_op_type: collections.Counter | None = None) -> tuple[dict, float]:
    """({family: seconds summed over the ops TensorFlow ran}, the call's wall seconds) of one call
    of `fn` under TensorFlow's profiler (its XSpace trace, read without TensorBoard); adds the
    seconds per (family, op type as run) to `by_op_type` where given."""
    import time

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory(prefix="tf-profile-") as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1], "rb") as f:
            space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue  # the executor's threads; Eigen's pool lines carry no op names
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name
                if label in _BOOKKEEPING or ":" not in label:
                    continue
                name, op_type = label.rsplit(":", 1)
                family = tf_family(name, op_type)
                seconds[family] += event.duration_ps * 1e-12
                if by_op_type is not None:
                    by_op_type[family, op_type] += event.duration_ps * 1e-12
    return dict(seconds), wall


_TORCH_CONV = {"aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution",
               "aten::_slow_conv2d_forward", "aten::thnn_conv2d", "aten::_convolution_mode"}
_TORCH_MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::mv", "aten::addmv",
                 "aten::linear", "aten::dot")
_TORCH_NORM = ("batch_norm", "instance_norm")
_TORCH_MOVEMENT = ("aten::copy_", "aten::cat", "aten::pad", "aten::constant_pad_nd", "aten::reflection_pad",
                   "aten::permute", "aten::contiguous", "aten::clone", "aten::transpose", "aten::view",
                   "aten::reshape", "aten::slice", "aten::select", "aten::expand", "aten::empty", "aten::zero_",
                   "aten::fill_", "aten::zeros", "aten::narrow", "aten::index", "aten::stack", "aten::t")


def torch_family(name: str) -> str | None:
    """The family of a PyTorch op name, or None where its parent's family applies."""
    if "convolution_backward" in name or "slow_conv2d_backward" in name:
        return "input + filter gradient"
    if name in _TORCH_CONV:
        return "forward conv"
    if name.startswith(_TORCH_MATMUL):
        return "matmul"
    if any(kind in name for kind in _TORCH_NORM):
        return "normalization"
    if name.startswith(_TORCH_MOVEMENT):
        return "data movement"
    if name.startswith("aten::"):
        return "elementwise and other"
    return None


def _torch_event_family(event) -> str:
    """The family of the nearest op above (or at) `event` that has one; a conv's or a norm's inner
    calls (copies, fills) count for the conv or the norm."""
    family, node = None, event
    while node is not None:
        own = torch_family(node.name)
        if own in ("input + filter gradient", "forward conv", "normalization", "matmul"):
            family = own  # the outermost of these wins
        elif own is not None and family is None:
            family = own
        node = node.cpu_parent
    return family or "elementwise and other"


def _torch_conv_flops(event) -> float:
    args, shapes = event.concrete_inputs, event.input_shapes
    if event.name == "aten::convolution" and len(shapes) >= 2 and len(shapes[1]) == 4:
        (n, _, h, w), (cout, cin_g, kh, kw) = shapes[0], shapes[1]
        stride, padding, dilation = args[3], args[4], args[5]
        ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        return 2.0 * n * ho * wo * cout * cin_g * kh * kw
    if event.name == "aten::convolution_backward" and len(shapes) >= 3 and len(shapes[2]) == 4:
        dy, (_, cin_g, kh, kw) = shapes[0], shapes[2]
        mask = args[-1] if isinstance(args[-1], (list, tuple)) else [True, True, False]
        return 2.0 * math.prod(dy) * cin_g * kh * kw * (int(bool(mask[0])) + int(bool(mask[1])))
    return 0.0


def torch_profile(fn) -> tuple[dict, dict, float]:
    """({family: self seconds}, {family: FLOPs}, wall seconds) of one call of `fn` under
    torch.profiler (shapes recorded)."""
    import time

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
    seconds, flops = collections.Counter(), collections.Counter()
    for event in prof.events():
        family = _torch_event_family(event)
        seconds[family] += event.self_cpu_time_total * 1e-6
        if event.name in ("aten::convolution", "aten::convolution_backward"):
            flops[family] += _torch_conv_flops(event)
        elif event.name.startswith(("aten::mm", "aten::addmm", "aten::bmm", "aten::mv", "aten::addmv")) \
                and event.input_shapes:
            flops[family] += _torch_matmul_flops(event.name, event.input_shapes)
    return dict(seconds), dict(flops), wall


def _torch_matmul_flops(name: str, shapes) -> float:
    """2 x output elements x contraction length for mm / addmm / bmm / mv / addmv calls."""
    mats = [s for s in shapes if len(s) >= 1]
    if name.startswith("aten::add"):
        mats = mats[1:]  # addmm(bias, a, b), addmv(bias, a, v)
    if len(mats) < 2 or len(mats[0]) < 2:
        return 0.0
    a, b = mats[0], mats[1]
    out = a[:-1] + (b[-1:] if len(b) >= 2 else [])
    return 2.0 * math.prod(out) * a[-1]
