"""The one mapping from a `DAGANConfig` to each network's constructor arguments.

    kwargs = network_arguments("generator", cfg)   # {"semantic_nc": 13, "latent_hw": [8, 8], "ngf": 64, ...}
    G = DAGANGenerator(**kwargs)

Each argument names the config keys it is made of. The networks' own `get_config` is exactly these
arguments; `NETWORK_KEYS` (the config keys that define a network's variables and sizes, which a saved
file's config always decides) and the converter's mismatch hints (`config_keys_text`) are derived from
this table, so a new argument is one new row here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

__all__ = ["NETWORK_ARGUMENTS", "NETWORK_KEYS", "NetworkArgument", "config_keys_text", "network_arguments"]


@dataclasses.dataclass(frozen=True)
class NetworkArgument:
    """One constructor argument: its name, the config keys it comes from, how it is computed from them,
    and whether it defines the network's variables or sizes (False: initialisation, recomputation)."""

    name: str
    config_keys: tuple[str, ...]
    value: Callable[[Any], Any]
    defines_weights: bool = True


def _key(name: str, argument: str | None = None, defines_weights: bool = True) -> NetworkArgument:
    """An argument that is the config key `name` itself (constructor argument `argument`, default the same)."""
    return NetworkArgument(argument or name, (name,), lambda cfg: getattr(cfg, name), defines_weights)


def _encoder_input_size(cfg) -> int:
    """256 (six stride-2 convs); 128 with five convs when crop_size < 256 (docs/reference.md: the released
    code crashes there, an 8x8 grid meeting a 4x4 fc; this project resizes to 128 instead)."""
    return 256 if cfg.crop_size >= 256 else 128


_SEMANTIC_NC = NetworkArgument("semantic_nc", ("label_nc", "contain_dontcare_label", "no_instance"),
                               lambda cfg: cfg.semantic_nc)
_INIT_GAIN = _key("init_variance", "init_gain", defines_weights=False)

#: kind -> its constructor arguments, in the constructor's order.
NETWORK_ARGUMENTS: dict[str, tuple[NetworkArgument, ...]] = {
    "generator": (
        _SEMANTIC_NC,
        NetworkArgument("latent_hw", ("crop_size", "aspect_ratio", "num_upsampling_layers"),
                        lambda cfg: list(cfg.latent_hw)),
        _key("ngf"), _key("num_upsampling_layers"), _key("norm_G"), _key("use_vae"), _key("z_dim"), _INIT_GAIN,
        _key("remat", defines_weights=False),
    ),
    "discriminator": (
        _SEMANTIC_NC, _key("ndf"), _key("num_D"), _key("n_layers_D"), _key("norm_D"), _INIT_GAIN,
    ),
    "encoder": (
        NetworkArgument("input_size", ("crop_size",), _encoder_input_size),
        _key("ngf"), _key("norm_E"), _key("z_dim"), _INIT_GAIN,
    ),
}


def network_arguments(kind: str, config) -> dict[str, Any]:
    """The constructor arguments of the `kind` network ('generator', 'discriminator', 'encoder') for `config`."""
    return {arg.name: arg.value(config) for arg in NETWORK_ARGUMENTS[kind]}


def _network_keys(kind: str) -> tuple[str, ...]:
    keys: list[str] = []
    for arg in NETWORK_ARGUMENTS[kind]:
        keys += [k for k in arg.config_keys if arg.defines_weights and k not in keys]
    return tuple(keys)


#: The config keys that define each network's variables and sizes (the rest are data, loss,
#: optimisation and logging keys, free to differ at generate / export / evaluate time).
NETWORK_KEYS: dict[str, tuple[str, ...]] = {kind: _network_keys(kind) for kind in NETWORK_ARGUMENTS}


def config_keys_text(kind: str, *arguments: str) -> str:
    """The config keys behind constructor `arguments` of `kind`, for messages: "'label_nc', 'ngf' and 'z_dim'"."""
    by_name = {arg.name: arg for arg in NETWORK_ARGUMENTS[kind]}
    keys: list[str] = []
    for name in arguments:
        keys += [k for k in by_name[name].config_keys if k not in keys]
    quoted = [f"'{k}'" for k in keys]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
