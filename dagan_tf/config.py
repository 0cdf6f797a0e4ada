"""DAGAN configuration: one dataclass with the reference's option names, loaded from YAML.

The option names are those of the released PyTorch code (`label_nc`, `contain_dontcare_label`,
`no_instance`, `crop_size`, `aspect_ratio`, `ngf`, `num_upsampling_layers`, `norm_G`, `use_vae`,
`lambda_feat`, ...), so users of the original find their way. Every size the networks and the
data pipeline use is derived from this object (see the properties at the end of the class).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import typing
from typing import Any, Mapping

import yaml

__all__ = [
    "ConfigError",
    "DAGANConfig",
    "load_config",
    "config_from_dict",
    "parse_overrides",
    "parse_spade_norm",
    "save_config",
    "NUM_UPSAMPLING",
    "Overrides",
    "SPADE_NORM_PATTERN",
]

#: `num_upsampling_layers` -> number of x2 upsamplings in the generator.
NUM_UPSAMPLING = {"normal": 5, "more": 6, "most": 7}

#: `norm_G` strings: optional `spectral` prefix, then `spade<norm><k>x<k>` (the reference reads only the
#: first k; we also require the second to match and k to be odd, so the SPADE convs keep the map's size).
SPADE_NORM_PATTERN = re.compile(r"^(spectral)?spade(syncbatch|batch|instance)(\d)x(\d)$")
#: `norm_D` / `norm_E` strings: optional `spectral` prefix, then the parameter-free norm or none.
PLAIN_NORM_PATTERN = re.compile(r"^(spectral)?(syncbatch|batch|instance|none)$")

DATASET_MODES = ("cityscapes", "ade20k", "facades", "coco", "deepfashion", "custom", "demo")
PREPROCESS_MODES = (
    "resize_and_crop",
    "crop",
    "scale_width",
    "scale_width_and_crop",
    "scale_shortside",
    "scale_shortside_and_crop",
    "fixed",
    "none",
)
GAN_MODES = ("hinge", "ls", "original", "w")


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or impossible; the message says which.

    `key` is the config key at fault (None when the error is about a whole file).
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@dataclasses.dataclass
class DAGANConfig:
    # --- experiment -----------------------------------------------------------------------
    name: str = "dagan"
    checkpoints_dir: str = "./checkpoints"
    results_dir: str = "./results"
    seed: int = 0

    # --- data -----------------------------------------------------------------------------
    dataset_mode: str = "coco"
    dataroot: str = "./datasets"
    label_dir: str = ""  # custom mode
    image_dir: str = ""  # custom mode
    instance_dir: str = ""  # custom mode, optional
    label_nc: int = 182
    contain_dontcare_label: bool = False
    no_instance: bool = False
    preprocess_mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    aspect_ratio: float = 1.0
    no_flip: bool = False
    serial_batches: bool = False
    # photos whose size differs from their label map's are refused (DataError naming both); true
    # resizes them with the label map as the reference does (which stretches the photo)
    resize_mismatched_photos: bool = False
    max_dataset_size: int = 0  # 0 = no limit (the reference's sys.maxsize)
    nThreads: int = 0  # 0 = tf.data.AUTOTUNE
    cache: bool = False

    # --- networks ---------------------------------------------------------------------------
    ngf: int = 64
    ndf: int = 64
    num_D: int = 2
    n_layers_D: int = 4
    norm_G: str = "spectralspadesyncbatch3x3"
    norm_D: str = "spectralinstance"
    norm_E: str = "spectralinstance"
    num_upsampling_layers: str = "normal"
    use_vae: bool = False
    z_dim: int = 256
    init_type: str = "xavier"
    init_variance: float = 0.02

    # --- losses -------------------------------------------------------------------------------
    gan_mode: str = "hinge"
    no_ganFeat_loss: bool = False
    no_vgg_loss: bool = False
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0  # 0 switches the VGG loss off as no_vgg_loss does (VGG19 is never built)
    lambda_kld: float = 0.05
    vgg_weights: str = "imagenet"  # "imagenet" (download), a local .h5/.weights.h5 file, or "none"

    # --- optimisation -------------------------------------------------------------------------
    batchSize: int = 1
    lr: float = 0.0002
    beta1: float = 0.0
    beta2: float = 0.9
    no_TTUR: bool = False
    niter: int = 50
    niter_decay: int = 0
    D_steps_per_G: int = 1

    # --- logging / checkpoints ---------------------------------------------------------------
    display_freq: int = 100
    print_freq: int = 100
    save_latest_freq: int = 5000
    save_epoch_freq: int = 10

    # ------------------------------------------------------------------------------------------
    def __post_init__(self):
        for key in _FIELDS:  # ints given for float keys become floats (as from YAML)
            setattr(self, key, _coerce(key, getattr(self, key), ""))
        validate(self)

    @property
    def num_up(self) -> int:
        """Number of x2 upsamplings of the generator (5, 6 or 7)."""
        return NUM_UPSAMPLING[self.num_upsampling_layers]

    @property
    def latent_hw(self) -> tuple[int, int]:
        """(sh, sw): the generator's first grid, as `compute_latent_vector_size` of the reference."""
        sw = self.crop_size // (2**self.num_up)
        sh = round(sw / self.aspect_ratio)
        return sh, sw

    @property
    def image_hw(self) -> tuple[int, int]:
        """(height, width) of generated images and of the training crops."""
        sh, sw = self.latent_hw
        return sh * 2**self.num_up, sw * 2**self.num_up

    @property
    def num_classes(self) -> int:
        """One-hot channels: `label_nc`, plus one for dontcare."""
        return self.label_nc + (1 if self.contain_dontcare_label else 0)

    @property
    def semantic_nc(self) -> int:
        """Channels of the semantic map: one-hot (+ dontcare) + instance edge channel."""
        return self.num_classes + (0 if self.no_instance else 1)

    @property
    def final_nc(self) -> int:
        """Channels of the generator's last SPADE block (ngf, or ngf/2 under 'most')."""
        return self.ngf // 2 if self.num_upsampling_layers == "most" else self.ngf

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "DAGANConfig":
        """A copy with `changes` applied (validated)."""
        return config_from_dict({**self.to_dict(), **changes})


_FIELDS = {f.name: f for f in dataclasses.fields(DAGANConfig)}
_TYPES = typing.get_type_hints(DAGANConfig)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _coerce(key: str, value: Any, source: str) -> Any:
    """Check `value` against the field's type; ints are accepted for floats, nothing else is cast."""
    want = _TYPES[key]
    where = f" in {source}" if source else ""
    if want is bool:
        if isinstance(value, bool):
            return value
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif want is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif want is str:
        if isinstance(value, str):
            return value
    raise ConfigError(
        f"config key '{key}'{where}: value {value!r} is a {type(value).__name__}, "
        f"expected {want.__name__}", key=key
    )


def _choice(cfg, key: str, choices) -> None:
    value = getattr(cfg, key)
    if value not in choices:
        raise ConfigError(
            f"config key '{key}': value {value!r} is not allowed; choose one of "
            f"{', '.join(map(str, choices))}.{_suggest(str(value), choices)}", key=key
        )


def _positive(cfg, *keys: str) -> None:
    for key in keys:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"config key '{key}': value {getattr(cfg, key)!r} must be > 0", key=key)


def _at_least(cfg, minimum: int, *keys: str, meaning: str = "") -> None:
    for key in keys:
        if getattr(cfg, key) < minimum:
            raise ConfigError(f"config key '{key}': value {getattr(cfg, key)!r} must be >= {minimum}{meaning}",
                              key=key)


def _unit_interval(cfg, *keys: str) -> None:
    """0 <= value < 1 (Adam's betas)."""
    for key in keys:
        value = getattr(cfg, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"config key '{key}': value {value!r} must be in [0, 1)", key=key)


def _finite_floats(cfg) -> None:
    for key, want in _TYPES.items():
        if want is float and not math.isfinite(getattr(cfg, key)):
            raise ConfigError(f"config key '{key}': value {getattr(cfg, key)!r} must be a finite number", key=key)


def parse_spade_norm(text: str, key: str = "norm_G") -> tuple[bool, str, int]:
    """'spectralspadesyncbatch3x3' -> (True, 'syncbatch', 3); ConfigError naming `key` otherwise.

    The kernel must be written `<k>x<k>` with an odd k (the SPADE convs pad k // 2, so only odd
    kernels keep the feature map's size).
    """
    match = SPADE_NORM_PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"config key '{key}': value {text!r} is not a SPADE norm string; expected "
            "'[spectral]spade<syncbatch|batch|instance><k>x<k>', e.g. 'spectralspadesyncbatch3x3'", key=key)
    kernel, kernel_w = int(match.group(3)), int(match.group(4))
    if kernel != kernel_w or kernel % 2 == 0:
        raise ConfigError(
            f"config key '{key}': value {text!r} has kernel {kernel}x{kernel_w}; SPADE kernels are square and "
            f"odd (1x1, 3x3, 5x5, 7x7 or 9x9), e.g. '{text[:match.start(3)]}3x3'", key=key)
    return match.group(1) is not None, match.group(2), kernel


def _check_ranges(cfg: DAGANConfig) -> None:
    """Every numeric option within the range it makes sense in (NaN and infinity nowhere)."""
    _finite_floats(cfg)
    _positive(cfg, "label_nc", "crop_size", "load_size", "aspect_ratio", "ngf", "ndf", "num_D",
              "n_layers_D", "z_dim", "batchSize", "D_steps_per_G", "lr", "init_variance")
    _at_least(cfg, 0, "seed", "niter", "niter_decay", "lambda_feat", "lambda_vgg", "lambda_kld")
    _at_least(cfg, 0, "max_dataset_size", meaning=" (0 = no limit)")
    _at_least(cfg, 0, "nThreads", meaning=" (0 = tf.data.AUTOTUNE)")
    _at_least(cfg, 1, "display_freq", "print_freq", "save_latest_freq", "save_epoch_freq")
    _unit_interval(cfg, "beta1", "beta2")
    if cfg.niter + cfg.niter_decay < 1:
        raise ConfigError(f"config key 'niter': niter + niter_decay = {cfg.niter} + {cfg.niter_decay} trains no "
                          "epoch; make their sum >= 1", key="niter")


def validate(cfg: DAGANConfig) -> None:
    """Raise ConfigError naming the key, the value and what is allowed, for any impossible option."""
    for key in _FIELDS:
        _coerce(key, getattr(cfg, key), "")
    _choice(cfg, "dataset_mode", DATASET_MODES)
    _choice(cfg, "preprocess_mode", PREPROCESS_MODES)
    _choice(cfg, "num_upsampling_layers", tuple(NUM_UPSAMPLING))
    _choice(cfg, "gan_mode", GAN_MODES)
    _choice(cfg, "init_type", ("xavier",))
    _check_ranges(cfg)
    parse_spade_norm(cfg.norm_G)
    for key in ("norm_D", "norm_E"):
        if not PLAIN_NORM_PATTERN.match(getattr(cfg, key)):
            raise ConfigError(
                f"config key '{key}': value {getattr(cfg, key)!r} is not allowed; expected "
                "'[spectral]<syncbatch|batch|instance|none>', e.g. 'spectralinstance'", key=key
            )
    div = 2**cfg.num_up
    if cfg.crop_size % div:
        raise ConfigError(
            f"config key 'crop_size': value {cfg.crop_size} is not divisible by 2**{cfg.num_up} = {div} "
            f"(num_upsampling_layers={cfg.num_upsampling_layers!r}); use a multiple of {div}", key="crop_size"
        )
    if cfg.latent_hw[0] < 1:
        raise ConfigError(
            f"config key 'aspect_ratio': value {cfg.aspect_ratio} makes the latent grid height "
            f"round({cfg.crop_size // div} / {cfg.aspect_ratio}) = 0; use a smaller aspect_ratio", key="aspect_ratio"
        )
    if cfg.num_upsampling_layers == "most" and cfg.ngf % 2:
        raise ConfigError(f"config key 'ngf': value {cfg.ngf} must be even with num_upsampling_layers='most'",
                          key="ngf")
    if cfg.load_size < cfg.crop_size and cfg.preprocess_mode.endswith("crop"):
        raise ConfigError(
            f"config key 'load_size': value {cfg.load_size} is smaller than crop_size {cfg.crop_size} "
            f"with preprocess_mode={cfg.preprocess_mode!r}; load_size must be >= crop_size", key="load_size"
        )
    if cfg.dataset_mode == "custom" and cfg.label_dir and not cfg.image_dir:
        raise ConfigError("config key 'image_dir': custom mode with a label_dir needs an image_dir too",
                          key="image_dir")


def config_from_dict(values: Mapping[str, Any], source: str = "") -> DAGANConfig:
    """Build a validated DAGANConfig from a mapping; unknown keys and wrong types are errors."""
    where = f" in {source}" if source else ""
    clean = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown config key '{key}'{where}.{_suggest(key, _FIELDS)}", key=key)
        clean[key] = _coerce(key, value, source)
    return DAGANConfig(**clean)


class Overrides(dict):
    """`{key: value}` from `--set KEY=VALUE` items; `text[key]` keeps what the user typed, for messages."""

    def __init__(self):
        super().__init__()
        self.text: dict[str, str] = {}


def parse_overrides(items) -> Overrides:
    """Turn `["key=value", ...]` (the CLI's `--set`) into a dict, values parsed as YAML scalars.

    Raises ConfigError naming the `--set` item that is no `KEY=VALUE` pair or whose value is no YAML.
    """
    out = Overrides()
    for item in items or ():
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"--set {item}: not of the form KEY=VALUE (e.g. --set ngf=16)")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            problem = str(e).splitlines()[0]
            raise ConfigError(f"--set {item}: the value is not a YAML scalar ({problem}); quote it", key=key) from None
        out.text[key] = f"{key}={raw}"
    return out


def _override_source(overrides: Mapping[str, Any], key: str) -> str:
    """`--set KEY=VALUE` as the user typed it (or as YAML would print the value)."""
    text = getattr(overrides, "text", {}).get(key)
    if text is None:
        value = overrides[key]
        shown = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
        shown = shown[:-4] if shown.endswith("\n...") else shown
        text = f"{key}={shown}"
    return f"--set {text}"


def _read_yaml_mapping(source: str) -> dict[str, Any]:
    if not os.path.isfile(source):
        raise ConfigError(f"config file not found: {source}")
    with open(source, "r", encoding="utf-8") as f:
        try:
            loaded = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {source} is not valid YAML: {e}") from e
    if loaded is None:
        raise ConfigError(f"config file {source} is empty; it must hold a mapping of option names to values "
                          "(see configs/*.yaml)")
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {source} must hold a mapping of option names to values")
    return loaded


def load_config(path: str | os.PathLike | None, overrides: Mapping[str, Any] | None = None) -> DAGANConfig:
    """Read a YAML file (or the defaults when `path` is None) and apply `overrides` (`parse_overrides`).

    Raises ConfigError naming the file and the key at fault, or `--set KEY=VALUE` when an override is.
    """
    values: dict[str, Any] = {}
    source = ""
    if path is not None:
        source = os.fspath(path)
        values.update(_read_yaml_mapping(source))
        for key, value in values.items():  # wrong keys and types of the file, blamed on the file
            if key not in _FIELDS:
                raise ConfigError(f"unknown config key '{key}' in {source}.{_suggest(key, _FIELDS)}", key=key)
            values[key] = _coerce(key, value, source)
    overrides = overrides or {}
    for key, value in overrides.items():
        origin = _override_source(overrides, key)
        if key not in _FIELDS:
            raise ConfigError(f"{origin}: unknown config key '{key}'.{_suggest(key, _FIELDS)}", key=key)
        values[key] = _coerce(key, value, origin)
    try:
        return config_from_dict(values)
    except ConfigError as e:
        if e.key in overrides:
            raise ConfigError(f"{_override_source(overrides, e.key)}: {e}", key=e.key) from None
        if source and source not in str(e):
            raise ConfigError(f"{source}: {e}", key=e.key) from None
        raise


def save_config(cfg: DAGANConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
    os.replace(tmp, path)
