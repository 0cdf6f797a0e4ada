"""Networks from explicit constructor arguments, that still know the experiment they were trained in.

keras-hub's habit: a network's `get_config` is exactly its constructor's arguments
(`models.arguments.NETWORK_ARGUMENTS`, the one config -> arguments mapping), so `from_config(get_config())`
rebuilds it. The `DAGANConfig` a network was built from (data keys such as `dataset_mode`, the label
rule, `preprocess_mode`) is kept apart, as `dagan_config`: `build_*` set it, Keras' `save` writes it as
an asset of the `.keras` archive (`assets/dagan_config.json`) and `keras.saving.load_model` reads it back,
so generate / export / paint need only the file:

    G = keras.saving.load_model("checkpoints/demo/latest_net_G.keras")   # after `import dagan_tf`
    G.get_config()                      # {"semantic_nc": 9, "latent_hw": [2, 4], "ngf": 16, ..., "name": ...}
    G.dagan_config.dataset_mode         # 'demo'

Files of dagan-tf 0.2 stored the whole config as the constructor argument `dagan_config`; they load
through the same mapping. Files of 0.1 (plain functional models) carry no config: the command line
then needs `--config` (`config_for_checkpoint`).
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Mapping

import keras

from dagan_tf.config import ConfigError, DAGANConfig, config_from_dict
from dagan_tf.models.arguments import NETWORK_KEYS, network_arguments

__all__ = ["CONFIG_ASSET", "DAGANNetwork", "NETWORK_KEYS", "saved_dagan_config"]

#: The experiment config's file among a network's Keras assets (a member `assets/<this>` of the archive).
CONFIG_ASSET = "dagan_config.json"


def _validated(values: Mapping[str, Any], where: str) -> DAGANConfig:
    try:
        return config_from_dict(values, source=where)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}" if where not in str(e) else str(e), key=e.key) from None


class DAGANNetwork(keras.Model):
    """A functional network whose `get_config` is its constructor's arguments, and which carries the
    `DAGANConfig` it was built from as `dagan_config` (None when unknown), saved as a Keras asset.

    Subclasses set `KIND` ('generator', 'discriminator', 'encoder'), build their graph in `__init__`
    from their arguments and pass the inputs, outputs and the arguments here.
    """

    KIND = ""

    def __init__(self, inputs, outputs, arguments: Mapping[str, Any], **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._constructor_arguments = dict(arguments)
        self.dagan_config: DAGANConfig | None = None

    def get_config(self) -> dict[str, Any]:
        return {**self._constructor_arguments, "name": self.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects=None):
        config = dict(config)
        if "dagan_config" not in config:
            return cls(**config)
        # a dagan-tf 0.2 file: the whole DAGANConfig as the argument; its network part through the mapping
        dagan_config = config.pop("dagan_config")
        if not isinstance(dagan_config, DAGANConfig):
            dagan_config = _validated(dagan_config, f"the config saved with {cls.__name__} {config.get('name', '')!r}")
        model = cls(**network_arguments(cls.KIND, dagan_config), **config)
        model.dagan_config = dagan_config
        return model

    def save_assets(self, dir_path):
        if self.dagan_config is not None:
            with open(os.path.join(dir_path, CONFIG_ASSET), "w", encoding="utf-8") as f:
                json.dump(self.dagan_config.to_dict(), f)

    def load_assets(self, dir_path):
        path = os.path.join(dir_path, CONFIG_ASSET)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self.dagan_config = _validated(json.load(f), f"the config saved with {type(self).__name__} "
                                                             f"{self.name!r}")


def built_from(network: DAGANNetwork, config: DAGANConfig) -> DAGANNetwork:
    """`network` with `config` as its `dagan_config` (what `build_*` return)."""
    network.dagan_config = config
    return network


def saved_dagan_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The `DAGANConfig` dict a `.keras` file was saved with, read without building the model: its asset
    (`assets/dagan_config.json`), or the 0.2 files' `dagan_config` argument; None for a file saved
    without one (a plain functional model).

    Raises OSError / zipfile.BadZipFile / ValueError for a file that is no readable `.keras` archive
    (`load_network` names such files; call it first for a friendly message)."""
    with zipfile.ZipFile(os.fspath(path)) as archive:
        if f"assets/{CONFIG_ASSET}" in archive.namelist():
            return dict(json.loads(archive.read(f"assets/{CONFIG_ASSET}")))
        saved = json.loads(archive.read("config.json"))
    inner = saved.get("config") if isinstance(saved, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("dagan_config"), dict):
        return dict(inner["dagan_config"])
    return None
