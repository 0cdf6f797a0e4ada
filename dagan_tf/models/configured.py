"""Networks that know what they are: a functional Keras model that carries its `DAGANConfig`.

keras-hub's Backbone pattern: the model's `get_config` is its constructor's arguments (the
`DAGANConfig` as a dict, and the name), and `from_config` rebuilds it, so a saved `.keras` file
loads back into the same class with `model.dagan_config` set:

    G = keras.saving.load_model("checkpoints/demo/latest_net_G.keras")   # after `import dagan_tf`
    G.dagan_config.ngf, G.dagan_config.image_hw

The weights are stored by layer path exactly as for a plain functional model, so files written
before this class existed (plain `Functional`, no `dagan_config`) still load; for them the command
line needs `--config` (`config_for_checkpoint`).
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Mapping

import keras

from dagan_tf.config import ConfigError, DAGANConfig, config_from_dict

__all__ = ["ConfiguredNetwork", "NETWORK_KEYS", "saved_dagan_config"]

#: The config keys that define each network's variables and sizes (the rest are data, loss,
#: optimisation and logging keys, free to differ at generate / export / evaluate time).
NETWORK_KEYS = {
    "generator": ("label_nc", "contain_dontcare_label", "no_instance", "crop_size", "aspect_ratio", "ngf",
                  "num_upsampling_layers", "norm_G", "use_vae", "z_dim"),
    "discriminator": ("label_nc", "contain_dontcare_label", "no_instance", "ndf", "num_D", "n_layers_D",
                      "norm_D"),
    "encoder": ("crop_size", "ngf", "norm_E", "z_dim"),
}


class ConfiguredNetwork(keras.Model):
    """A functional model built from a `DAGANConfig`, which it keeps as `dagan_config`.

    Subclasses build their graph in `__init__(dagan_config, name=...)` and pass the inputs and
    outputs here. `get_config()` = `{"dagan_config": {...}, "name": ...}`: the constructor's
    arguments, so `from_config(get_config())` rebuilds the same network.
    """

    def __init__(self, inputs, outputs, dagan_config: DAGANConfig, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.dagan_config = dagan_config

    def get_config(self) -> dict[str, Any]:
        return {"dagan_config": self.dagan_config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects=None):
        config = dict(config)
        dagan_config = config.pop("dagan_config")
        if not isinstance(dagan_config, DAGANConfig):
            where = f"the config saved with {cls.__name__} {config.get('name', '')!r}"
            try:
                dagan_config = config_from_dict(dagan_config, source=where)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}" if where not in str(e) else str(e), key=e.key) from None
        return cls(dagan_config, **config)


def saved_dagan_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The `DAGANConfig` dict a `.keras` file was saved with, read from its `config.json` without
    building the model; None for a file saved without one (a plain functional model).

    Raises OSError / zipfile.BadZipFile / ValueError for a file that is no readable `.keras` archive
    (`load_network` names such files; call it first for a friendly message)."""
    with zipfile.ZipFile(os.fspath(path)) as archive:
        saved = json.loads(archive.read("config.json"))
    inner = saved.get("config") if isinstance(saved, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("dagan_config"), dict):
        return dict(inner["dagan_config"])
    return None
