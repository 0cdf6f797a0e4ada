"""Convolution with the reference's symmetric padding, optionally spectrally normalised.

Spectral normalisation follows `torch.nn.utils.spectral_norm` (docs/reference.md): the raw kernel
(`weight_orig`) is the trainable variable; `u` (out_channels) and `v` (in*kh*kw) are stored,
non-trainable. In training, one power iteration per call updates u and v (no gradient), then
`sigma = u . (W v)` with the gradient flowing through W in sigma, and the layer convolves with
`W / sigma`. In inference no iteration runs: sigma comes from the stored u, v. Keras'
`SpectralNormalization` wrapper instead overwrites its kernel, a different training dynamic.

W is laid out as the reference's `(out, in * kh * kw)` matrix (row-major over in, kh, kw), so
`v` has the reference's element order and official `weight_v` vectors load unchanged.
"""

import keras
from keras import ops

from dagan_tf.layers.initializers import xavier_normal
from dagan_tf.layers.stride_one_conv import conv2d_stride_one


def l2_normalize(x, eps: float = 1e-12):
    """torch.nn.functional.normalize(x, dim=0, eps): x / max(||x||, eps)."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), eps)


def kernel_matrix(kernel):
    """Keras kernel `(kh, kw, in, out)` -> the reference's weight matrix `(out, in * kh * kw)`."""
    out_channels = kernel.shape[-1]
    return ops.reshape(ops.transpose(kernel, (3, 2, 0, 1)), (out_channels, -1))


def power_iteration(w_mat, u, eps: float = 1e-12):
    """One step of the reference's power iteration: returns the new (u, v)."""
    v = l2_normalize(ops.matmul(ops.transpose(w_mat), u), eps)
    u = l2_normalize(ops.matmul(w_mat, v), eps)
    return u, v


def spectral_sigma(w_mat, u, v):
    """sigma = u . (W v): differentiable in W, u and v held constant."""
    return ops.sum(u * ops.matmul(w_mat, v))


@keras.saving.register_keras_serializable(package="dagan_tf")
class SpectralConv2D(keras.layers.Layer):
    """2-D convolution with symmetric zero padding `padding` on every side (as torch's Conv2d).

    `spectral_norm=True` adds the reference's spectral normalisation (module docstring).
    Input `(batch, height, width, in_channels)` ->
    `(batch, (height + 2p - k) // s + 1, (width + 2p - k) // s + 1, filters)`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: int = 0,
        use_bias: bool = True,
        spectral_norm: bool = True,
        eps: float = 1e-12,
        init_gain: float = 0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = int(padding)
        self.use_bias = bool(use_bias)
        self.spectral_norm = bool(spectral_norm)
        self.eps = float(eps)
        self.init_gain = float(init_gain)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, in_channels, self.filters),
            initializer=xavier_normal(self.init_gain), trainable=True,
            autocast=False,  # read in float32 under a mixed policy: sigma from the exact weights
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", trainable=True,
                            autocast=False)
            if self.use_bias else None
        )
        if self.spectral_norm:
            # torch draws u, v ~ N(0, 1) and normalises them; we normalise at first use instead
            # (normalising a unit-norm vector again is a no-op, so loaded vectors are unchanged).
            self.u = self.add_weight(
                name="u", shape=(self.filters,), initializer=keras.initializers.RandomNormal(0.0, 1.0),
                trainable=False, autocast=False, aggregation="mean",
            )
            self.v = self.add_weight(
                name="v", shape=(in_channels * k * k,),
                initializer=keras.initializers.RandomNormal(0.0, 1.0), trainable=False, autocast=False,
                aggregation="mean",  # every replica computes the same vectors; mean keeps them
            )
            self._normalize_uv()

    def _normalize_uv(self):
        self.u.assign(l2_normalize(ops.convert_to_tensor(self.u), self.eps))
        self.v.assign(l2_normalize(ops.convert_to_tensor(self.v), self.eps))

    def normalized_kernel(self, training=False):
        """The kernel the convolution uses: W / sigma (spectral norm) or W."""
        # sigma in float32 even under a mixed policy (float64 kept for finite-difference checks)
        precision = "float64" if self.kernel.dtype == "float64" else "float32"
        kernel = ops.cast(self.kernel, precision)
        if not self.spectral_norm:
            return kernel
        w_mat = kernel_matrix(kernel)
        u, v = self.u, self.v
        if training:
            u, v = power_iteration(ops.stop_gradient(w_mat), ops.convert_to_tensor(u), self.eps)
            self.u.assign(u)
            self.v.assign(v)
        sigma = spectral_sigma(w_mat, ops.stop_gradient(u), ops.stop_gradient(v))
        return kernel / sigma

    def call(self, inputs, training=False):
        return self.convolve(inputs, self.normalized_kernel(training=bool(training)))

    def convolve(self, inputs, kernel):
        """The convolution with a given (normalised) kernel: no state change (for remat)."""
        kernel = ops.cast(kernel, self.compute_dtype)
        k, p = self.kernel_size, self.padding
        if self.strides == 1 and k % 2 == 1 and p == k // 2:
            out = conv2d_stride_one(inputs, kernel, "same")  # identical, no pad copy
        else:
            if p:
                inputs = ops.pad(inputs, ((0, 0), (p, p), (p, p), (0, 0)))
            if self.strides == 1:
                out = conv2d_stride_one(inputs, kernel, "valid")
            else:
                out = ops.conv(inputs, kernel, strides=self.strides, padding="valid")
        if self.use_bias:
            out = out + ops.cast(self.bias, self.compute_dtype)
        return out

    def compute_output_shape(self, input_shape):
        def size(n):
            return None if n is None else (n + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "use_bias": self.use_bias,
            "spectral_norm": self.spectral_norm,
            "eps": self.eps,
            "init_gain": self.init_gain,
        }
