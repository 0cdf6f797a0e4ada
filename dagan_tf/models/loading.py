"""Load a DAGAN `.keras` file: the one place generate, export and the trainer read networks from.

    generator = load_network("checkpoints/demo/latest_net_G.keras", "generator", purpose="export")

Every failure ends in one message naming the file: missing (FileNotFoundError), not a `.keras` file
(e.g. an official `.pth`: convert it first), not a valid `.keras` archive (truncated or overwritten
mid-copy; Keras itself would say "File not found" for it), not loadable, or the wrong network (a
discriminator where a generator is needed).
"""

from __future__ import annotations

import os
import zipfile

from typing import Any, Mapping

import keras

from dagan_tf.config import ConfigError, DAGANConfig, config_from_dict, load_config
from dagan_tf.models.arguments import NETWORK_KEYS
from dagan_tf.models.configured import saved_dagan_config
from dagan_tf.models.discriminator import DAGANDiscriminator, NLayerDiscriminator
from dagan_tf.models.encoder import DAGANEncoder
from dagan_tf.models.generator import DAGANGenerator
from dagan_tf.torch_io import CheckpointError

__all__ = ["CheckpointError", "NETWORK_KINDS", "SHIPPED_GENERATORS", "check_generator_fits", "config_for_checkpoint",
           "generator_file", "load_network", "network_kind", "shipped_generator_path"]

NETWORK_KINDS = ("generator", "discriminator", "encoder")
#: Generators that ship with the package (`dagan_tf/pretrained/<file>`), by the name `--checkpoint`,
#: `Synthesizer.from_preset` and `dagan-tf paint` take. docs/demo_model.md is the demo's card.
SHIPPED_GENERATORS = {"demo": "demo_net_G.keras"}
_PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")
#: The generator file of a run folder.
RUN_GENERATOR = "latest_net_G.keras"
#: What a saved `.keras` archive always holds (Keras 3's `saving_lib`).
_KERAS_MEMBERS = ("config.json", "metadata.json")


def shipped_generator_path(name: str) -> str:
    """The file of the shipped generator `name` (SHIPPED_GENERATORS); FileNotFoundError naming it when
    this installation lacks the file."""
    path = os.path.join(_PRETRAINED_DIR, SHIPPED_GENERATORS[name])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the shipped generator '{name}' is missing from this installation ({path}); "
                                "reinstall dagan-tf")
    return path


def generator_file(checkpoint) -> str:
    """The generator `.keras` file `checkpoint` names: a file path itself; a run folder's
    `latest_net_G.keras`; else a shipped generator's name ('demo'). A file wins over a name, a name
    over a folder without a generator (so a folder called `demo` does not hide the shipped model).
    Raises FileNotFoundError naming the path and the shipped names."""
    text = os.fspath(checkpoint)
    if os.path.isfile(text):
        return text
    in_folder = os.path.join(text, RUN_GENERATOR)
    if os.path.isdir(text) and os.path.isfile(in_folder):
        return in_folder
    if text in SHIPPED_GENERATORS:
        return shipped_generator_path(text)
    where = f"{text} is a folder without {RUN_GENERATOR}" if os.path.isdir(text) else f"{text} does not exist"
    raise FileNotFoundError(f"generator checkpoint not found: {where} (give a .keras file, a run folder or a "
                            f"shipped generator's name: {', '.join(SHIPPED_GENERATORS)})")


def network_kind(model: keras.Model) -> str:
    """'discriminator' (holds NLayerDiscriminator scales), 'encoder' (two outputs: mu, logvar) or 'generator'.

    The class says it for networks saved with their config; older files are told by their structure."""
    for cls, kind in ((DAGANGenerator, "generator"), (DAGANDiscriminator, "discriminator"),
                      (DAGANEncoder, "encoder")):
        if isinstance(model, cls):
            return kind
    if any(isinstance(layer, NLayerDiscriminator) for layer in model.layers):
        return "discriminator"
    if len(model.outputs) == 2 and len(model.inputs) == 1:
        return "encoder"
    return "generator"


def _check_archive(path: str) -> None:
    """Refuse files that are not whole `.keras` archives before Keras reads them."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(
            f"{path} is not a valid .keras file ({type(e).__name__}: {e}); it may be truncated or "
            "not written by Keras: save or copy it again") from None
    missing = [m for m in _KERAS_MEMBERS if m not in names]
    if missing or broken is not None:
        what = f"a damaged member {broken}" if broken is not None else f"no {', '.join(missing)}"
        raise CheckpointError(f"{path} is not a valid .keras file (the archive holds {what}); "
                              "save or copy it again")


def load_network(path, kind: str | None = None, purpose: str = "") -> keras.Model:
    """A `.keras` file as a keras.Model (not compiled), checked to be a `kind` network.

    Args:
        path: the `.keras` file.
        kind: 'generator', 'discriminator', 'encoder', or None (any network).
        purpose: what needs it, for the wrong-network message (e.g. 'export').
    Raises FileNotFoundError for a missing file and CheckpointError (a ValueError) naming the file
    for a `.pth` or other non-`.keras` file, an invalid archive, a load failure or another network.
    """
    if kind is not None and kind not in NETWORK_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(NETWORK_KINDS)}")
    path = os.fspath(path)
    what = kind or "network"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} checkpoint not found: {path}")
    if not path.endswith(".keras"):
        raise CheckpointError(f"{what} checkpoint {path} is not a .keras file (convert official .pth files "
                              "with `dagan-tf convert` first)")
    _check_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise CheckpointError(f"cannot load {what} checkpoint {path}: {type(e).__name__}: {e}") from e
    found = network_kind(model)
    if kind is not None and found != kind:
        needs = f"{purpose} needs" if purpose else "this needs"
        raise CheckpointError(f"{path} is a {found}, {needs} a {kind} (the *_net_{kind[0].upper()}.keras file)")
    return model



def config_for_checkpoint(path, config_path=None, overrides: Mapping[str, Any] | None = None,
                          kind: str = "generator") -> DAGANConfig:
    """The config to use a saved network with (`path`: for a generator, what `generator_file` takes):
    the one the file carries, or `config_path`'s
    (`--config`) data keys with the file's network keys, and `overrides` (`--set`) on top.

    The network keys (NETWORK_KEYS[kind]: sizes, ngf, norms...) always come from the file; an
    override that would change one is refused naming it. A file saved without its config
    (dagan-tf 0.1, plain functional models) needs `config_path`, which is then used as it is.
    Raises FileNotFoundError, CheckpointError (not a valid `.keras` file) or ConfigError.
    """
    from_file = None if config_path is None else load_config(config_path, overrides)  # its errors first
    path = generator_file(path) if kind == "generator" else os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{kind} checkpoint not found: {path}")
    saved = None
    if path.endswith(".keras"):
        _check_archive(path)
        saved = saved_dagan_config(path)
    if saved is None:
        if from_file is None:
            beside = os.path.join(os.path.dirname(os.path.abspath(path)), "config.yaml")
            hint = f" (its run's config is probably {beside})" if os.path.isfile(beside) else ""
            raise ConfigError(f"{path} was saved without its config (an older file or not a .keras file): pass "
                              f"--config with the config it was trained with{hint}")
        return from_file
    saved_config = config_from_dict(saved, source=f"the config saved in {path}")
    overrides = overrides or {}
    for key in NETWORK_KEYS[kind]:
        if key in overrides and overrides[key] != getattr(saved_config, key):
            raise ConfigError(f"--set {key}={overrides[key]}: {path} holds a {kind} built with {key}="
                              f"{getattr(saved_config, key)!r}; its network keys come from the file", key=key)
    if from_file is None:
        return load_config(None, overrides, base=saved_config.to_dict())
    return from_file.replace(**{key: getattr(saved_config, key) for key in NETWORK_KEYS[kind]})


def check_generator_fits(generator: keras.Model, config: DAGANConfig, where: str) -> None:
    """Refuse a generator whose inputs do not fit `config` (a file saved without its config used with
    another one), naming `where` (the file) and the config keys behind the sizes."""
    inputs = generator.inputs
    want = 2 if config.use_vae else 1
    if len(inputs) != want:
        raise ValueError(f"{where} takes {len(inputs)} input(s) but config key 'use_vae' is {config.use_vae} "
                         f"(expects {want}); use the config the generator was trained with")
    got = tuple(inputs[0].shape[1:])
    expected = tuple(config.image_hw) + (config.semantic_nc,)
    if got != expected:
        raise ValueError(
            f"{where} expects semantic maps {got} but the config gives {expected} (crop_size={config.crop_size}, "
            f"aspect_ratio={config.aspect_ratio}, label_nc={config.label_nc}, contain_dontcare_label="
            f"{config.contain_dontcare_label}, no_instance={config.no_instance}); use the config the generator "
            "was trained with")
    if config.use_vae and tuple(inputs[1].shape[1:]) != (config.z_dim,):
        raise ValueError(f"{where} takes z of size {inputs[1].shape[1]} but config key 'z_dim' is {config.z_dim}; "
                         "use the config the generator was trained with")

