"""Inference precision: the generator in float32 (default) or bfloat16 on CPUs with bf16 units.

`generator_in_precision(G, "bf16")` rebuilds G under Keras' `mixed_bfloat16` policy (variables stay
float32, convolutions run in bfloat16: oneDNN uses AVX512-BF16 / AMX tiles) and copies its weights.
What bfloat16's 8-bit mantissa breaks stays float32 (`FLOAT32_ISLANDS`, measured in
bench/bench_generator.py on the trained demo generator):

- `norm`: the parameter-free batch / instance norms. Their statistics and `(x - mean) / std` are
  float32 already; keeping the layer float32 also keeps SPADE's `norm(x) * (1 + gamma) + beta` in
  float32 (Keras promotes bf16 * float32 to float32), instead of rounding the normalised activations.
- `residual`: the SPADE residual blocks' sums `shortcut + dx` (the block runs in float32, its
  convolutions in bfloat16): the residual stream carries the picture through 7 blocks.
- `head`: DAGAN's attention head (CAM, SAM), the last convolution and the tanh (already float32).
  These are cheap (global pooling, 1x1 and 2-/3-channel convolutions) and sit right before the
  output; `conv_64` (a full-resolution 3x3 convolution feeding CAM) stays bfloat16.

Spectral-norm sigma stays float32 in every case (`SpectralConv2D` reads its kernel without autocast).
On a CPU without bf16 units, bfloat16 is emulated and several times slower than float32, so
`--precision bf16` is refused there (`PrecisionError`); `allow_emulated=True` overrides that for tests.
"""

from __future__ import annotations

import platform

import keras

__all__ = ["PRECISIONS", "FLOAT32_ISLANDS", "PrecisionError", "check_precision", "cpu_bf16_support", "float32_layer_names",
           "generator_in_precision"]

PRECISIONS = ("fp32", "bf16")

#: Groups of layers kept float32 under bf16 (module docstring); every one is measured by the bench.
FLOAT32_ISLANDS = ("norm", "residual", "head")

#: The generator's layers after the last residual block (DAGAN head), by name.
_HEAD_LAYERS = ("cab", "spatialAtt", "sam", "cam_plus_sam", "lrelu_out", "conv_img", "tanh")


class PrecisionError(ValueError):
    """--precision asks for something this machine or format cannot do."""


def _cpuinfo_flags() -> set[str] | None:
    """The `flags` of /proc/cpuinfo's first processor, or None where there is no such file."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def cpu_bf16_support() -> str:
    """'amx' (AMX-BF16 tiles), 'avx512_bf16', 'none', or 'unknown' (no /proc/cpuinfo: not Linux)."""
    flags = _cpuinfo_flags() if platform.system() == "Linux" else None
    if flags is None:
        return "unknown"
    if "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return "none"


def check_precision(precision: str, allow_emulated: bool = False) -> None:
    """ValueError for an unknown precision; PrecisionError for bf16 on a CPU without bf16 units."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision {precision!r} is not a precision; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and not allow_emulated:
        support = cpu_bf16_support()
        if support in ("none", "unknown"):
            where = "this CPU has neither" if support == "none" else "cannot tell (no /proc/cpuinfo) whether this CPU has"
            raise PrecisionError(
                f"--precision bf16: {where} AVX512-BF16 nor AMX-BF16 units, so bfloat16 would be emulated and "
                "slower than float32; use --precision fp32 (the default)")


def _float32_layers(generator: keras.Model, islands) -> list:
    """The layers of `generator` that `islands` keeps in float32 (module docstring). A residual block
    alone (its convolutions stay bfloat16); a head layer with everything inside it."""
    from dagan_tf.layers import BatchNorm, InstanceNorm, SPADEResnetBlock

    out = []
    for layer in generator._flatten_layers(include_self=False, recursive=True):
        if "norm" in islands and isinstance(layer, (BatchNorm, InstanceNorm)):
            out.append(layer)
        elif "residual" in islands and isinstance(layer, SPADEResnetBlock):
            out.append(layer)
        elif "head" in islands and layer.name in _HEAD_LAYERS and layer in generator.layers:
            out.extend(layer._flatten_layers(include_self=True, recursive=True))
    return out


def float32_layer_names(generator: keras.Model) -> list[str]:
    """Paths of the layers of `generator` whose compute dtype is float32 (e.g. a bf16 copy's islands)."""
    return [layer.path for layer in generator._flatten_layers(include_self=False, recursive=True)
            if layer.compute_dtype == "float32"]


def generator_in_precision(generator: keras.Model, precision: str, config=None, *,
                           islands=FLOAT32_ISLANDS, allow_emulated: bool = False) -> keras.Model:
    """`generator` itself for 'fp32'; for 'bf16' a copy built under `mixed_bfloat16` with its weights.

    Args:
        generator: a built DAGAN generator (float32).
        precision: 'fp32' or 'bf16'.
        config: its DAGANConfig (default: `generator.dagan_config`).
        islands: which of `FLOAT32_ISLANDS` stay float32 (all by default; fewer only to measure).
        allow_emulated: build the bf16 copy even where the CPU has no bf16 units (slow; for tests).
    Raises PrecisionError (a ValueError) for bf16 on a CPU without bf16 units.
    """
    check_precision(precision, allow_emulated)
    if precision == "fp32":
        return generator
    from dagan_tf.models import build_generator

    config = config if config is not None else getattr(generator, "dagan_config", None)
    if config is None:
        raise ValueError("generator_in_precision: pass the generator's config (it has no dagan_config)")
    unknown = set(islands) - set(FLOAT32_ISLANDS)
    if unknown:
        raise ValueError(f"islands: unknown {sorted(unknown)}; choose from {', '.join(FLOAT32_ISLANDS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        low = build_generator(config, name=generator.name)
    finally:
        keras.config.set_dtype_policy(previous)
    for layer in _float32_layers(low, islands):
        layer.dtype_policy = "float32"
    low.set_weights(generator.get_weights())
    return low
