"""Stride-1 convolution whose gradients run as forward convolutions (TensorFlow backend).

Why: on CPUs where TensorFlow leaves oneDNN off (its default without AVX512-VNNI / AMX, e.g. AVX2
machines), its Eigen kernels for `Conv2DBackpropInput` and `Conv2DBackpropFilter` take 2-5x the
time of the forward convolution at the generator's sizes, while PyTorch's backward takes about
1.2x. Both gradients of a stride-1 convolution are forward convolutions themselves:

- input: the full correlation of the output gradient with the kernel flipped in space and with
  in/out swapped (`conv(dy, flip(W)^T)`, "same" for odd kernels, zero-padded by k - 1 for "valid");
- kernel: a convolution over the padded input with channels and batch swapped, whose "kernel" is
  the output gradient (`conv(x^T, dy^T)` -> `(in, kh, kw, out)`).

`bench/bench_conv_gradients.py` times both against TensorFlow's own kernels; a whole training
iteration of the ADE20K generator at ngf 64 takes about a fifth less. Where TensorFlow runs oneDNN
(its default on CPUs with AVX512-VNNI, AVX512-BF16 or AMX), oneDNN's own kernel gradient is up to
2.1x faster than the forward convolution at 256x256 and no slower anywhere (input gradients: the
same), so there the kernel gradient is TensorFlow's `Conv2DBackpropFilter`
(`bench/profile_train.py` found it: 39% of an iteration's op time). The forward pass is the
same `tf.nn.conv2d`, and the custom gradient is only attached while a gradient tape records the
call (training): serving graphs, exports and inference never contain it. Other Keras backends use
`keras.ops.conv` unchanged.
"""

from __future__ import annotations

import keras
from keras import ops

from dagan_tf.layers.recording import tape_records

#: Below this many output pixels per image TensorFlow's own input-gradient kernel is as fast or
#: faster (64x64 at 512 channels: 0.19 s against 0.28 s), so it is kept there.
_FORWARD_DX_MIN_PIXELS = 128 * 128


def _input_gradient(input_shape, kernel, dy, padding: str):
    """d input of `conv2d(x, kernel, 1, padding)` (`input_shape`: x's, a tensor), as a forward
    convolution where that is faster."""
    import tensorflow as tf

    kh, kw = kernel.shape[0], kernel.shape[1]
    height, width = dy.shape[1], dy.shape[2]
    if height is None or width is None or height * width < _FORWARD_DX_MIN_PIXELS:
        return tf.raw_ops.Conv2DBackpropInput(input_sizes=input_shape, filter=kernel, out_backprop=dy,
                                              strides=[1, 1, 1, 1], padding=padding)
    flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    if padding == "SAME":
        return tf.nn.conv2d(dy, flipped, 1, "SAME")
    return tf.nn.conv2d(tf.pad(dy, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]]), flipped, 1, "VALID")


def onednn_is_on() -> bool:
    """Whether TensorFlow runs its CPU kernels through oneDNN in this process (its default on CPUs
    with AVX512-VNNI, AVX512-BF16 or AMX; `TF_ENABLE_ONEDNN_OPTS` overrides). TensorFlow has no
    public call for it; its own tests use this one."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def _kernel_gradient(x, kernel, dy, padding: str):
    """d kernel of `conv2d(x, kernel, 1, padding)`: oneDNN's kernel where TensorFlow runs oneDNN,
    else a forward convolution (module docstring)."""
    import tensorflow as tf

    if onednn_is_on():
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                                               strides=[1, 1, 1, 1], padding=padding)
    kh, kw = kernel.shape[0], kernel.shape[1]
    padded = tf.pad(x, [[0, 0], [kh // 2, kh // 2], [kw // 2, kw // 2], [0, 0]]) if padding == "SAME" else x
    # batch <-> channels: the sum over (batch, height, width) becomes a convolution's contraction
    dw = tf.nn.conv2d(tf.transpose(padded, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, "VALID")
    return tf.transpose(dw, [1, 2, 0, 3])


def _named_gradients(input_shape, kernel, dy, padding: str, x=None):
    """(d input, d kernel where `x` is given); their ops are named `input_gradient/...` and
    `kernel_gradient/...`, which is how profiles (bench/profile_train.py) tell these forward
    convolutions from the forward pass's."""
    import tensorflow as tf

    with tf.name_scope("input_gradient"):
        dx = _input_gradient(input_shape, kernel, dy, padding)
    if x is None:
        return dx, None
    with tf.name_scope("kernel_gradient"):
        return dx, _kernel_gradient(x, kernel, dy, padding)


def conv2d_stride_one(inputs, kernel, padding: str = "same", kernel_gradient: bool = True):
    """`keras.ops.conv(inputs, kernel, 1, padding)` for `(batch, height, width, in)` inputs and a
    `(kh, kw, in, out)` kernel (odd kh, kw for "same"); with the TensorFlow backend, inside a
    gradient tape, its gradients are forward convolutions (module docstring).

    `kernel_gradient=False` (a frozen kernel): no kernel gradient is built, even where a tape watches
    the kernel's variable (Keras 3 leaves a frozen layer's tf.Variable trainable, so tapes watch it).
    """
    padding = padding.upper()
    kh, kw = kernel.shape[0], kernel.shape[1]
    if keras.backend.backend() != "tensorflow" or (padding == "SAME" and (kh % 2 == 0 or kw % 2 == 0)):
        return ops.conv(inputs, kernel, strides=1, padding=padding.lower())
    import tensorflow as tf

    # a layer's variable is read here (autocast under a mixed policy) as ops.conv would read it
    inputs, kernel = tf.convert_to_tensor(inputs), tf.convert_to_tensor(kernel)
    if not tape_records([inputs, kernel]):
        return ops.conv(inputs, kernel, strides=1, padding=padding.lower())

    if not kernel_gradient or not tape_records([kernel]):
        # a frozen kernel (the VGG loss's): no kernel gradient is built, and x is not kept for one
        @tf.custom_gradient
        def conv_frozen_kernel(x):
            shape = tf.shape(x)
            return tf.nn.conv2d(x, kernel, 1, padding), lambda dy: _named_gradients(shape, kernel, dy, padding)[0]

        return conv_frozen_kernel(inputs)

    @tf.custom_gradient
    def conv(x, w):
        def grad(dy):
            return _named_gradients(tf.shape(x), w, dy, padding, x)

        return tf.nn.conv2d(x, w, 1, padding), grad

    return conv(inputs, kernel)


@keras.saving.register_keras_serializable(package="dagan_tf")
class StrideOneConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (stride 1, no dilation, channels last) whose gradients run through
    `conv2d_stride_one`. Same variables (`kernel`, `bias`) and outputs as Conv2D:
    `(batch, height, width, in)` -> `(batch, height', width', filters)`."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if tuple(self.strides) != (1, 1) or tuple(self.dilation_rate) != (1, 1) \
                or self.data_format != "channels_last" or self.groups != 1:
            raise ValueError("StrideOneConv2D takes strides 1, dilation 1, groups 1, channels_last")

    def convolution_op(self, inputs, kernel):
        return conv2d_stride_one(inputs, kernel, self.padding, kernel_gradient=self.kernel.trainable)
