"""One-to-one map between our Keras variables and the official PyTorch state_dict keys.

`official_weight_layout(model, network)` returns `{torch_key: (variable, kind)}` where kind says
how the tensor crosses over:
- "conv":   torch `(out, in, kh, kw)` <-> Keras `(kh, kw, in, out)`
- "dense":  torch `(out, in)` <-> Keras `(in, out)`
- "vector": the same 1-D tensor (biases, spectral-norm u / v, batch-norm statistics)
`num_batches_tracked` buffers have no counterpart (the converter ignores them). The VAE `fc` and
the encoder's flatten need no special case: our models reshape / flatten in NCHW order as the
reference does.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import keras

from dagan_tf.layers import BatchNorm, ConvNorm, SpectralConv2D
from dagan_tf.models.discriminator import NLayerDiscriminator, build_discriminator
from dagan_tf.models.encoder import build_encoder
from dagan_tf.models.generator import build_generator

GENERATOR_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "up_4")


def _conv(prefix: str, layer) -> dict:
    """A conv: spectral (`weight_orig`, `weight_u`, `weight_v`) or plain (`weight`), plus bias."""
    out = {}
    if isinstance(layer, SpectralConv2D) and layer.spectral_norm:
        out[f"{prefix}.weight_orig"] = (layer.kernel, "conv")
        out[f"{prefix}.weight_u"] = (layer.u, "vector")
        out[f"{prefix}.weight_v"] = (layer.v, "vector")
    else:
        out[f"{prefix}.weight"] = (layer.kernel, "conv")
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        out[f"{prefix}.bias"] = (layer.bias, "vector")
    return out


def _batch_norm(prefix: str, norm) -> dict:
    if not isinstance(norm, BatchNorm):
        return {}  # instance norm: no parameters, no buffers
    out = {f"{prefix}.running_mean": (norm.moving_mean, "vector"),
           f"{prefix}.running_var": (norm.moving_variance, "vector")}
    if norm.affine:
        out[f"{prefix}.weight"] = (norm.gamma, "vector")
        out[f"{prefix}.bias"] = (norm.beta, "vector")
    return out


def _spade(prefix: str, spade) -> dict:
    return {
        **_batch_norm(f"{prefix}.param_free_norm", spade.param_free_norm),
        **_conv(f"{prefix}.mlp_shared.0", spade.mlp_shared),
        **_conv(f"{prefix}.mlp_gamma", spade.mlp_gamma),
        **_conv(f"{prefix}.mlp_beta", spade.mlp_beta),
    }


def _resblock(prefix: str, block) -> dict:
    out = {**_conv(f"{prefix}.conv_0", block.conv_0), **_conv(f"{prefix}.conv_1", block.conv_1)}
    if block.learned_shortcut:
        out.update(_conv(f"{prefix}.conv_s", block.conv_s))
    out.update(_spade(f"{prefix}.norm_0", block.norm_0))
    out.update(_spade(f"{prefix}.norm_1", block.norm_1))
    if block.learned_shortcut:
        out.update(_spade(f"{prefix}.norm_s", block.norm_s))
    return out


def _conv_norm(prefix: str, block: ConvNorm) -> dict:
    """`norm_layer(conv)`: Sequential(conv, norm) -> `.0` / `.1`; with norm 'none' just the conv."""
    if block.norm is None:
        return _conv(prefix, block.conv)
    return {**_conv(f"{prefix}.0", block.conv), **_batch_norm(f"{prefix}.1", block.norm)}


def _layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}


def _generator(model) -> dict:
    names = _layer_names(model)
    out = {}
    fc = model.get_layer("fc")
    out["fc.weight"] = (fc.kernel, "dense" if isinstance(fc, keras.layers.Dense) else "conv")
    out["fc.bias"] = (fc.bias, "vector")
    for block in GENERATOR_BLOCKS:
        if block in names:
            out.update(_resblock(block, model.get_layer(block)))
    out.update(_conv("conv_img", model.get_layer("conv_img")))
    out.update(_conv("conv_64", model.get_layer("conv_64")))
    cab = model.get_layer("cab")
    out.update(_conv("cab.conv1", cab.conv1))
    out.update(_conv("cab.conv2", cab.conv2))
    out.update(_conv("spatialAtt.conv", model.get_layer("spatialAtt").conv))
    return out


def _discriminator(model) -> dict:
    out = {}
    for layer in model.layers:
        if not isinstance(layer, NLayerDiscriminator):
            continue
        p = layer.name
        out.update(_conv(f"{p}.model0.0", layer.model0))
        for i, block in enumerate(layer.blocks, start=1):
            out.update(_conv_norm(f"{p}.model{i}.0", block))
        out.update(_conv(f"{p}.model{layer.n_layers}.0", layer.final))
    return out


def _encoder(model) -> dict:
    out = {}
    for layer in model.layers:
        if isinstance(layer, ConvNorm):
            out.update(_conv_norm(layer.name, layer))
    for name in ("fc_mu", "fc_var"):
        dense = model.get_layer(name)
        out[f"{name}.weight"] = (dense.kernel, "dense")
        out[f"{name}.bias"] = (dense.bias, "vector")
    return out


class OfficialNetwork(NamedTuple):
    """One of the reference's networks: how to build ours from a config, and its state_dict layout."""

    build: Callable  # DAGANConfig -> keras.Model
    layout: Callable  # that model -> {official key: (variable, kind)}


#: The reference's networks by their checkpoint letter (`<epoch>_net_G.pth`, ...).
OFFICIAL_NETWORKS = {
    "G": OfficialNetwork(build_generator, _generator),
    "D": OfficialNetwork(build_discriminator, _discriminator),
    "E": OfficialNetwork(build_encoder, _encoder),
}


def official_network(network: str) -> OfficialNetwork:
    """The entry of OFFICIAL_NETWORKS for 'G', 'D' or 'E'; ValueError naming the choices otherwise."""
    if network not in OFFICIAL_NETWORKS:
        raise ValueError(f"network must be one of {', '.join(OFFICIAL_NETWORKS)}, not {network!r}")
    return OFFICIAL_NETWORKS[network]


def build_network(config, network: str) -> keras.Model:
    """The Keras network the official `network` ('G', 'D' or 'E') checkpoint belongs to, built from `config`."""
    return official_network(network).build(config)


def official_weight_layout(model: keras.Model, network: str) -> dict:
    """`{official state_dict key: (keras variable, kind)}` for network 'G', 'D' or 'E'."""
    return official_network(network).layout(model)
