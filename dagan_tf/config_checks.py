"""Validation of a DAGANConfig: each option's type and range, the norm strings, impossible combinations.

Every failure is a ConfigError whose message names the key, the value and what is allowed (and whose
`key` attribute says which key, so `load_config` can blame the YAML file or the `--set` item).
"""

from __future__ import annotations

import difflib
import math
import typing
from typing import Any

import yaml

# The dataset registry is imported by config validation: the list of modes and their config rules
# live with the datasets. It imports nothing of the config, so no cycle.
from dagan_tf.data import registry as dataset_registry
from dagan_tf.norm_strings import (  # noqa: F401  (re-exported: the names have always lived here)
    PLAIN_NORM_PATTERN,
    SPADE_NORM_PATTERN,
    parse_plain_norm,
    parse_spade_norm,
)

__all__ = [
    "DATASET_MODES",
    "GAN_MODES",
    "NUM_UPSAMPLING",
    "PLAIN_NORM_PATTERN",
    "PREPROCESS_MODES",
    "SPADE_NORM_PATTERN",
    "ConfigError",
    "coerce",
    "read_yaml",
    "shown",
    "parse_plain_norm",
    "parse_spade_norm",
    "suggest",
    "validate",
]

#: `num_upsampling_layers` -> number of x2 upsamplings in the generator.
NUM_UPSAMPLING = {"normal": 5, "more": 6, "most": 7}

#: Every `dataset_mode`: the dataset registry's entries (the one place a dataset's rules live).
DATASET_MODES = dataset_registry.DATASET_MODES
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


#: The most characters of one value an error message shows.
SHOWN_CHARACTERS = 200


def shown(value, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` for an error message (a str as it is, anything else as its repr), at most `limit`
    characters: a longer one is cut, saying how long it was."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class _ConfigLoader(yaml.SafeLoader):
    """`yaml.safe_load`'s loader, stricter for configs: no aliases (an 800-byte alias bomb expands to
    gigabytes before anyone sees a value) and no duplicate keys (the last would silently win)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor[:40]}) are not "
                              "allowed in a config; write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        lines = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                continue  # a config's keys are names; other keys are refused as unknown later
            line = key_node.start_mark.line + 1
            if key in lines:
                raise ConfigError(f"duplicate key '{shown(key)}' (lines {lines[key]} and {line}); keep one",
                                  key=key)
            lines[key] = line
        return super().construct_mapping(node, deep)


def read_yaml(text_or_file):
    """A YAML document (a config file, a `--set` value) parsed as `yaml.safe_load` does, refusing aliases and duplicate keys (ConfigError)."""
    return yaml.load(text_or_file, Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)


def suggest(word: str, choices) -> str:
    """The hint ` Did you mean 'x'?` for the closest of `choices` to `word`, or ''."""
    if len(word) > 2 * max((len(str(c)) for c in choices), default=0) + 10:
        return ""  # nothing long is a typo of a short choice (and difflib is quadratic)
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def coerce(want: type, key: str, value: Any, source: str) -> Any:
    """Check `value` against the key's type `want`; ints are accepted for floats, nothing else is cast."""
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
        f"config key '{key}'{where}: value {shown(repr(value))} is a {type(value).__name__}, "
        f"expected {want.__name__}", key=key
    )


def _choice(cfg, key: str, choices) -> None:
    value = getattr(cfg, key)
    if value not in choices:
        raise ConfigError(
            f"config key '{key}': value {shown(repr(value))} is not allowed; choose one of "
            f"{', '.join(map(str, choices))}.{suggest(str(value), choices)}", key=key
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
    for key, want in typing.get_type_hints(type(cfg)).items():
        if want is float and not math.isfinite(getattr(cfg, key)):
            raise ConfigError(f"config key '{key}': value {getattr(cfg, key)!r} must be a finite number", key=key)


def _check_norm_strings(cfg) -> None:
    """`norm_G` a SPADE norm string, `norm_D` / `norm_E` plain ones (dagan_tf.norm_strings)."""
    for key, parse in (("norm_G", parse_spade_norm), ("norm_D", parse_plain_norm), ("norm_E", parse_plain_norm)):
        try:
            parse(getattr(cfg, key), f"config key '{key}'")
        except ValueError as error:
            raise ConfigError(str(error), key=key) from None


def _check_ranges(cfg) -> None:
    """Every numeric option within the range it makes sense in (NaN and infinity nowhere)."""
    _finite_floats(cfg)
    _positive(cfg, "label_nc", "crop_size", "load_size", "aspect_ratio", "ngf", "ndf", "num_D",
              "n_layers_D", "z_dim", "batchSize", "D_steps_per_G", "lr", "init_variance")
    _at_least(cfg, 0, "seed", "niter", "niter_decay", "lambda_feat", "lambda_vgg", "lambda_kld")
    _at_least(cfg, 0, "max_dataset_size", meaning=" (0 = no limit)")
    _at_least(cfg, 0, "nThreads", meaning=" (0 = tf.data.AUTOTUNE)")
    _at_least(cfg, 1, "display_freq", "print_freq", "save_latest_freq", "save_epoch_freq")
    _at_least(cfg, 0, "eval_freq", meaning=" (0 = no evaluation during training)")
    _at_least(cfg, 2, "eval_how_many", meaning=" (FID needs two images at least)")
    _unit_interval(cfg, "beta1", "beta2")
    if cfg.niter + cfg.niter_decay < 1:
        raise ConfigError(f"config key 'niter': niter + niter_decay = {cfg.niter} + {cfg.niter_decay} trains no "
                          "epoch; make their sum >= 1", key="niter")


def _check_name(name: str) -> None:
    """The experiment name is one folder (`checkpoints_dir/name`, `results_dir/name`): a run never writes
    outside those folders."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ConfigError(f"config key 'name': value {shown(repr(name))} must be a plain folder name (no '/', "
                          "'\\', '.' or '..'): the run folder is checkpoints_dir/<name>", key="name")


def validate(cfg) -> None:
    """Raise ConfigError naming the key, the value and what is allowed, for any impossible option."""
    for key, want in typing.get_type_hints(type(cfg)).items():
        coerce(want, key, getattr(cfg, key), "")
    _choice(cfg, "dataset_mode", DATASET_MODES)
    _choice(cfg, "preprocess_mode", PREPROCESS_MODES)
    _choice(cfg, "num_upsampling_layers", tuple(NUM_UPSAMPLING))
    _choice(cfg, "gan_mode", GAN_MODES)
    _choice(cfg, "init_type", ("xavier",))
    _check_ranges(cfg)
    _check_norm_strings(cfg)
    _check_name(cfg.name)
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
    problem = dataset_registry.get(cfg.dataset_mode).config_problem(cfg)
    if problem:
        raise ConfigError(problem[1], key=problem[0])
