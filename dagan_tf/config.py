"""DAGAN configuration: one dataclass with the reference's option names, loaded from YAML.

The option names are those of the released PyTorch code (`label_nc`, `contain_dontcare_label`,
`no_instance`, `crop_size`, `aspect_ratio`, `ngf`, `num_upsampling_layers`, `norm_G`, `use_vae`,
`lambda_feat`, ...), so users of the original find their way. Every size the networks and the
data pipeline use is derived from this object (see the properties at the end of the class).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Mapping

import yaml

from dagan_tf.config_checks import (  # noqa: F401  (re-exported: the names have always lived here)
    DATASET_MODES,
    GAN_MODES,
    NUM_UPSAMPLING,
    PLAIN_NORM_PATTERN,
    PREPROCESS_MODES,
    SPADE_NORM_PATTERN,
    ConfigError,
    coerce,
    parse_spade_norm,
    read_yaml,
    shown,
    suggest,
    validate,
)

__all__ = [
    "ConfigError",
    "DAGANConfig",
    "load_config",
    "config_from_dict",
    "parse_overrides",
    "parse_spade_norm",
    "preset_names",
    "preset_path",
    "one_hot_channels",
    "save_config",
    "semantic_channels",
    "NUM_UPSAMPLING",
    "Overrides",
    "SPADE_NORM_PATTERN",
]


def one_hot_channels(label_nc: int, contain_dontcare_label: bool) -> int:
    """One-hot channels of the semantic map: `label_nc`, plus one for dontcare."""
    return label_nc + (1 if contain_dontcare_label else 0)


def semantic_channels(label_nc: int, contain_dontcare_label: bool, no_instance: bool) -> int:
    """Channels of the semantic map (docs/reference.md): one-hot (+ dontcare), + the instance edge channel."""
    return one_hot_channels(label_nc, contain_dontcare_label) + (0 if no_instance else 1)


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
    # photos and instance maps whose size differs from their label map's are refused (DataError naming
    # both); true resizes them with the label map as the reference does (which stretches the photo)
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
    remat: bool = False  # recompute SPADE residual blocks in the backward pass: less memory, more time

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

    # --- evaluation during training (dagan_tf/evaluation) --------------------------------------
    eval_freq: int = 0  # every this many epochs FID (+ mIoU/accuracy with a segmenter); 0 = off
    eval_how_many: int = 500  # validation images per evaluation
    inception_weights: str = ""  # "" = pytorch-fid's published file, downloaded once; or a local file
    segmenter: str = ""  # "" = FID only; else a name of dagan_tf.evaluation.segmenters
    segmenter_weights: str = ""  # the segmenter's official .pth or converted weights

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
        return one_hot_channels(self.label_nc, self.contain_dontcare_label)

    @property
    def semantic_nc(self) -> int:
        """Channels of the semantic map: one-hot (+ dontcare) + instance edge channel."""
        return semantic_channels(self.label_nc, self.contain_dontcare_label, self.no_instance)

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


def _coerce(key: str, value: Any, source: str) -> Any:
    return coerce(_TYPES[key], key, value, source)




def config_from_dict(values: Mapping[str, Any], source: str = "") -> DAGANConfig:
    """Build a validated DAGANConfig from a mapping; unknown keys and wrong types are errors."""
    where = f" in {source}" if source else ""
    clean = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown config key '{shown(key)}'{where}.{suggest(str(key), _FIELDS)}", key=key)
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
            out[key] = read_yaml(raw) if raw.strip() else ""
        except ConfigError as e:
            raise ConfigError(f"--set {shown(item)}: {e}", key=key) from None
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
        dumped = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
        dumped = dumped[:-4] if dumped.endswith("\n...") else dumped
        text = f"{key}={dumped}"
    return f"--set {shown(text)}"


def _presets_folder() -> str | None:
    """Where the presets are: `configs/` of a checkout, or `dagan_tf/presets/` of an installed wheel
    (setup.py ships `configs/` as that package data: one source)."""
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(os.path.dirname(package), "configs"), os.path.join(package, "presets")):
        if os.path.isfile(os.path.join(folder, "demo.yaml")):
            return folder
    return None


def preset_names() -> list[str]:
    """The names `load_config` takes besides file paths: 'ade20k', 'cityscapes', 'coco', 'demo', ..."""
    folder = _presets_folder()
    if folder is None:
        return []
    return sorted(name[:-5] for name in os.listdir(folder) if name.endswith(".yaml"))


def preset_path(path_or_name: str | os.PathLike) -> str:
    """A config file's path: `path_or_name` itself when it is a file or looks like a path (a folder
    separator, a .yaml/.yml suffix), else the preset of that name (`preset_names()`), whatever the
    current folder holds (a folder named `demo` does not hide the `demo` preset)."""
    text = os.fspath(path_or_name)
    if os.path.isfile(text) or os.sep in text or "/" in text or text.endswith((".yaml", ".yml")):
        return text
    folder = _presets_folder()
    if folder is not None and os.path.isfile(os.path.join(folder, f"{text}.yaml")):
        return os.path.join(folder, f"{text}.yaml")
    what = "a folder, not a config file" if os.path.isdir(text) else "not a file"
    raise ConfigError(f"config file not found: {shown(text)} ({what}, nor a preset name: "
                      f"{', '.join(preset_names()) or 'no presets installed'})")


def _read_yaml_mapping(source: str) -> dict[str, Any]:
    if not os.path.isfile(source):
        raise ConfigError(f"config file not found: {source}")
    with open(source, "r", encoding="utf-8") as f:
        try:
            loaded = read_yaml(f)
        except ConfigError as e:
            raise ConfigError(f"config file {source}: {e}", key=e.key) from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {source} is not valid YAML: {shown(' '.join(str(e).split()), 400)}") from None
    if loaded is None:
        raise ConfigError(f"config file {source} is empty; it must hold a mapping of option names to values "
                          "(see configs/*.yaml)")
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {source} must hold a mapping of option names to values")
    return loaded


def load_config(path: str | os.PathLike | None, overrides: Mapping[str, Any] | None = None,
                base: Mapping[str, Any] | None = None) -> DAGANConfig:
    """Read a YAML file (or the defaults when `path` is None) and apply `overrides` (`parse_overrides`).

    `path` is a file or a preset's name (`load_config("ade20k")`: `configs/ade20k.yaml`, shipped in the
    package as `dagan_tf.presets`; `preset_names()` lists them). `base`: values under the file's (e.g. a
    checkpoint's saved config). Raises ConfigError naming the file and the key at fault, or
    `--set KEY=VALUE` when an override is.
    """
    values: dict[str, Any] = dict(base or {})
    source = ""
    if path is not None:
        source = preset_path(path)
        from_file = _read_yaml_mapping(source)
        for key, value in from_file.items():  # wrong keys and types of the file, blamed on the file
            if key not in _FIELDS:
                raise ConfigError(f"unknown config key '{shown(key)}' in {source}.{suggest(str(key), _FIELDS)}",
                                  key=key)
            values[key] = _coerce(key, value, source)
    overrides = overrides or {}
    for key, value in overrides.items():
        origin = _override_source(overrides, key)
        if key not in _FIELDS:
            raise ConfigError(f"{origin}: unknown config key '{shown(key)}'.{suggest(str(key), _FIELDS)}", key=key)
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
    from dagan_tf.files import atomic_path

    with atomic_path(path, what="config") as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
