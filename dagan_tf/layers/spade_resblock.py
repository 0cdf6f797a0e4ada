"""SPADEResnetBlock: the generator's residual block, as the reference's module of that name."""

import keras
from keras import ops

from dagan_tf.layers.norms import BatchNorm
from dagan_tf.layers.resize import legacy_nearest_resize
from dagan_tf.layers.spade import SPADE
from dagan_tf.layers.spectral_conv import SpectralConv2D


def leaky_relu(x, slope: float = 0.2):
    return ops.leaky_relu(x, negative_slope=slope)


@keras.saving.register_keras_serializable(package="dagan_tf")
class SPADEResnetBlock(keras.layers.Layer):
    """`out = shortcut(x, seg) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x, seg))), seg)))`.

    Call on `[x, seg]`: x `(batch, height, width, fin)`, seg `(batch, H, W, semantic_nc)`.
    Returns `(batch, height, width, fout)`. `fmiddle = min(fin, fout)`; a learned shortcut
    (`norm_s` then 1x1 `conv_s`, no bias) exists when fin != fout. With `spectral` in `norm_G`,
    conv_0, conv_1 and conv_s are spectrally normalised (docs/reference.md, SPADEResnetBlock).

    `remat=True` (config key `remat`) keeps only the block's inputs for the backward pass and
    recomputes its activations there (`keras.remat`, i.e. `tf.recompute_grad`): less peak memory
    in training, one more forward of the block per step. The state updates (spectral-norm power
    iteration, batch-norm running statistics) run once, outside the recomputed function.
    """

    def __init__(self, fout: int, norm_G: str = "spectralspadesyncbatch3x3", init_gain: float = 0.02,
                 remat: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fout = int(fout)
        self.norm_G = norm_G
        self.init_gain = float(init_gain)
        self.remat = bool(remat)

    def build(self, input_shape):
        x_shape, seg_shape = input_shape
        fin = x_shape[-1]
        self.fin = fin
        fmiddle = min(fin, self.fout)
        self.learned_shortcut = fin != self.fout
        spectral = "spectral" in self.norm_G
        spade_text = self.norm_G.replace("spectral", "")
        conv = dict(spectral_norm=spectral, init_gain=self.init_gain, dtype=self.dtype_policy)
        self.conv_0 = SpectralConv2D(fmiddle, 3, padding=1, name="conv_0", **conv)
        self.conv_1 = SpectralConv2D(self.fout, 3, padding=1, name="conv_1", **conv)
        self.norm_0 = SPADE(spade_text, init_gain=self.init_gain, name="norm_0", dtype=self.dtype_policy)
        self.norm_1 = SPADE(spade_text, init_gain=self.init_gain, name="norm_1", dtype=self.dtype_policy)
        mid_shape = tuple(x_shape[:-1]) + (fmiddle,)
        self.norm_0.build((x_shape, seg_shape))
        self.conv_0.build(x_shape)
        self.norm_1.build((mid_shape, seg_shape))
        self.conv_1.build(mid_shape)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2D(self.fout, 1, use_bias=False, name="conv_s", **conv)
            self.norm_s = SPADE(spade_text, init_gain=self.init_gain, name="norm_s", dtype=self.dtype_policy)
            self.norm_s.build((x_shape, seg_shape))
            self.conv_s.build(x_shape)

    def call(self, inputs, training=False):
        x, seg = inputs
        if self.remat and training:
            return self._rematerialized_call(x, seg)
        if self.learned_shortcut:
            x_s = self.conv_s(self.norm_s([x, seg], training=training), training=training)
        else:
            x_s = x
        dx = self.conv_0(leaky_relu(self.norm_0([x, seg], training=training)), training=training)
        dx = self.conv_1(leaky_relu(self.norm_1([dx, seg], training=training)), training=training)
        # in the block's dtype: a float32 block with bfloat16 convolutions keeps the residual
        # stream float32 (dagan_tf/precision.py)
        return ops.cast(x_s, self.compute_dtype) + ops.cast(dx, self.compute_dtype)

    def _norms_and_convs(self):
        pairs = [(self.norm_0, self.conv_0), (self.norm_1, self.conv_1)]
        return pairs + ([(self.norm_s, self.conv_s)] if self.learned_shortcut else [])

    def _rematerialized_call(self, x, seg):
        """Training forward with the activations recomputed in the backward pass (class docstring).

        Each (SPADE, conv) stage is recomputed on its own, a smaller unit than the block, so the
        backward pass needs one stage's activations at a time. Against the whole block recomputed
        at once, at batch 4 (ADE20K 256x256, ngf 64): peak RSS 100 MB lower (within run-to-run
        noise) and, with the label map's gradient stopped (`_rematerialized_stage`), 9% less time
        per step. Each stage is still computed twice.
        """
        pairs = self._norms_and_convs()
        kernels = [conv.normalized_kernel(training=True) for _, conv in pairs]  # power iteration once
        dx = self._rematerialized_stage(pairs[0], x, seg, kernels[0], activate=True)
        dx = self._rematerialized_stage(pairs[1], dx, seg, kernels[1], activate=True)
        x_s = self._rematerialized_stage(pairs[2], x, seg, kernels[2], activate=False) if self.learned_shortcut else x
        return ops.cast(x_s, self.compute_dtype) + ops.cast(dx, self.compute_dtype)

    def _rematerialized_stage(self, pair, h, seg, kernel, activate: bool):
        """`conv(lrelu?(norm(h, seg)))` of one (SPADE, conv) `pair` under `keras.remat`, then the
        norm's running-statistics update (once, outside the recomputed function)."""
        norm, conv = pair
        batch_norm = norm.param_free_norm if isinstance(norm.param_free_norm, BatchNorm) else None

        # The label map needs no gradient, but tf.recompute_grad differentiates with respect to
        # every argument: stop it, or each SPADE pays a transposed convolution into its 151
        # channels at full resolution. (Captured instead of passed, it measured worse: more peak
        # memory, more time.)
        def forward(h, seg, kernel):  # SPADE.call with the batch-norm update left out, then the conv
            seg = ops.stop_gradient(seg)
            if batch_norm is not None:
                normalized, moments = batch_norm.normalize(h, training=True)
            else:
                normalized, moments = norm.param_free_norm(h), ()
            actv = norm.mlp_shared(legacy_nearest_resize(seg, (h.shape[1], h.shape[2])))
            out = ops.add(ops.multiply(normalized, ops.add(1.0, norm.mlp_gamma(actv))), norm.mlp_beta(actv))
            out = conv.convolve(leaky_relu(out) if activate else out, kernel)
            return [out] + [ops.stop_gradient(t) for t in moments]

        results = keras.remat(forward)(h, seg, kernel)
        if batch_norm is not None:
            batch_norm.update_moving(*results[1:])
        return results[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.fout,)

    def get_config(self):
        return {**super().get_config(), "fout": self.fout, "norm_G": self.norm_G,
                "init_gain": self.init_gain, "remat": self.remat}
