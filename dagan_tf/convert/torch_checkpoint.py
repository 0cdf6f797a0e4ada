"""Official PyTorch DAGAN checkpoints (`<epoch>_net_G.pth`, `_net_D.pth`, `_net_E.pth`) -> our Keras models.

The released checkpoints are plain `torch.save(net.state_dict())` files. Every official key maps to
exactly one of our variables (`dagan_tf.models.official_weight_layout`), with one of three transforms:
- "conv":   torch `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`
- "dense":  torch `(out, in)` -> Keras `(in, out)`
- "vector": copied as is (biases, spectral-norm `weight_u` / `weight_v`, batch-norm running statistics)
Spectral-norm layers keep the raw kernel (`weight_orig`) and the stored u, v: inference then uses
sigma from the stored vectors exactly as the reference's eval mode, and further training continues
the power iteration from them. `num_batches_tracked` has no counterpart (torch's BatchNorm only uses
it when momentum is None, which the reference never sets). The VAE generator's `fc` output and the
encoder's flatten are in NCHW order in our models too, so plain transposes suffice.

`torch` is only needed to read `.pth` files (the `torch` extra); a state dict of arrays needs nothing.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import numpy as np

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "read_torch_state_dict",
    "load_torch_checkpoint",
    "convert_checkpoint",
    "infer_network",
    "build_network",
]

NETWORKS = ("G", "D", "E")
#: Buffers of the official state_dicts that have no counterpart in our models.
IGNORED_SUFFIXES = (".num_batches_tracked",)
#: How many keys of each kind a mismatch message lists.
MAX_LISTED = 5

_FILE_NETWORK = re.compile(r"_net_([GDE])\.(pth|pt)$")


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (missing torch, truncated, not a state_dict)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not fit the model built from the config; the message says why."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "reading PyTorch .pth checkpoints needs the 'torch' package, which is not installed; "
            "install the extra with `pip install 'dagan-tf[torch]'` (or a CPU wheel: "
            "`pip install torch --index-url https://download.pytorch.org/whl/cpu`), "
            "or pass a state dict of numpy arrays instead of a file"
        ) from e
    return torch


def _unwrap(obj: Any, source: str) -> Mapping[str, Any]:
    """The state dict inside what torch.load returned (plain, or under 'state_dict' / 'model')."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(
            f"{source} does not hold a state_dict (a mapping of parameter names to tensors) but a "
            f"{type(obj).__name__}; the official checkpoints are `torch.save(net.state_dict())` files"
        )
    bad = [k for k, v in obj.items() if not hasattr(v, "shape")]
    if bad:
        raise CheckpointError(f"{source}: entries {bad[:MAX_LISTED]} of the state_dict are not tensors")
    # checkpoints saved from a DataParallel wrapper carry a 'module.' prefix on every key
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a `.pth` file into `{key: torch.Tensor}` on the CPU (safe loading: tensors only).

    Raises FileNotFoundError for a missing file, ImportError without torch and CheckpointError for a
    truncated file or one that is not a saved state_dict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    torch = _import_torch()
    size = os.path.getsize(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by format
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} ({size} bytes): it is truncated or not a PyTorch "
            f"state_dict saved with torch.save ({type(e).__name__}: {reason})"
        ) from e
    return dict(_unwrap(obj, path))


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    return np.asarray(value)


# ---------------------------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------------------------
def _guess_network(keys) -> str | None:
    """Which official network a set of keys comes from, by its characteristic first keys."""
    keys = set(keys)
    if any(k.startswith("discriminator_") for k in keys):
        return "D"
    if any(k.startswith("layer1.") for k in keys) and any(k.startswith("fc_mu.") for k in keys):
        return "E"
    if any(k.startswith("head_0.") for k in keys):
        return "G"
    return None


_NORM_KEY = {"G": "norm_G", "D": "norm_D", "E": "norm_E"}
_WIDTH_KEY = {"G": "ngf", "D": "ndf", "E": "ngf"}


def _in_channels(shape):
    return shape[1] if len(shape) >= 2 else None


def _shape_hint(network: str, key: str, want: tuple, got: tuple, has_up_4: bool) -> str | None:
    """The config keys behind one shape mismatch (`want`: config, `got`: checkpoint)."""
    first_layer = (
        key.endswith("mlp_shared.0.weight")
        or (network == "G" and key == "fc.weight" and len(got) == 4 and len(want) == 4)
        or (network == "D" and re.fullmatch(r"discriminator_\d+\.model0\.0\.weight", key))
    )
    if first_layer and _in_channels(want) != _in_channels(got):
        offset = 3 if network == "D" else 0  # D sees concat[semantic map, RGB image]
        return (f"the checkpoint's first layers take {_in_channels(got) - offset} semantic channels, the "
                f"config gives {_in_channels(want) - offset} (semantic_nc): check 'label_nc', "
                "'contain_dontcare_label' and 'no_instance'")
    if network == "G" and key == "fc.weight" and len(got) != len(want):
        kind = "dense layer (VAE generator)" if len(got) == 2 else "conv (generator without VAE)"
        return f"the checkpoint's 'fc' is a {kind}: check 'use_vae'"
    if network == "G" and key in ("fc.weight", "fc.bias"):
        if key == "fc.weight" and len(got) == 2 and got[1] != want[1]:
            return f"the checkpoint's z has {got[1]} dimensions, the config's {want[1]}: check 'z_dim'"
        return (f"the VAE generator's latent size differs (fc outputs {got[0]} values, the config needs "
                f"{want[0]} = 16*ngf*sh*sw): check 'crop_size', 'aspect_ratio', 'num_upsampling_layers' "
                "(and 'ngf')")
    if network == "E" and key.startswith(("fc_mu.", "fc_var.")):
        if len(got) == 2 and got[0] != want[0]:
            return (f"the checkpoint's encoder gives {got[0]}-dimensional mu/logvar, the config "
                    f"{want[0]}: check 'z_dim'")
        return "the encoder's flattened grid differs: check 'ngf' and 'crop_size'"
    if network == "G" and has_up_4 and key.startswith(("conv_64.", "cab.", "conv_img.")):
        return None  # final_nc follows num_upsampling_layers; said by the up_4 hint
    return (f"layer widths differ (e.g. {key}: checkpoint {got}, config {want}): "
            f"check '{_WIDTH_KEY[network]}'")


def _structure_hints(network: str, names: list, common: list) -> list[str]:
    """The config keys behind keys present on one side only (`names`); `common`: keys on both."""
    hints = []
    norm_key = _NORM_KEY[network]
    if network == "G" and any(k.startswith("up_4.") for k in names):
        hints.append("only num_upsampling_layers='most' has 'up_4' (and final_nc = ngf/2 for conv_64, "
                     "cab, conv_img): check 'num_upsampling_layers'")
    # the same conv stored raw on one side and spectrally normalised on the other
    raw = {k[: -len(".weight")] for k in names if k.endswith(".weight")}
    if any(k.endswith(".weight_orig") and k[: -len(".weight_orig")] in raw for k in names):
        hints.append(f"spectral normalisation differs ('weight_orig' vs 'weight'): check '{norm_key}'")
    # batch-norm tensors on one side only, in a module both sides have
    for k in names:
        if ".running_" in k or (network != "G" and re.search(r"\.1\.(weight|bias)$", k)):
            module = k.rsplit(".", 2)[0]
            if any(c.startswith(module + ".") for c in common):
                hints.append(f"batch-norm statistics present on one side only (batch vs instance norm): "
                             f"check '{norm_key}'")
                break

    def one_sided(pattern):  # modules whose keys all sit on one side
        prefixes = {m.group(0) for k in names if (m := re.match(pattern, k))}
        return [p for p in prefixes if not any(c.startswith(p) for c in common)]

    if network == "D" and one_sided(r"discriminator_\d+\."):
        hints.append("the number of scales differs: check 'num_D'")
    elif network == "D" and one_sided(r"discriminator_\d+\.model\d+\."):
        hints.append("the number of layers per scale differs: check 'n_layers_D'")
    if network == "E" and any(k.startswith("layer6.") for k in names):
        hints.append("the encoder has six layers only when crop_size >= 256 (five below): check 'crop_size'")
    return hints


def _hints(network: str, missing, unexpected, mismatched, state_dict) -> list[str]:
    """The config keys that likely cause a mismatch, from what the differences look like."""
    names = list(missing) + list(unexpected)
    common = [k for k in state_dict if k not in unexpected and not k.endswith(IGNORED_SUFFIXES)]
    has_up_4 = any(k.startswith("up_4.") for k in names)
    hints = []
    for text in [_shape_hint(network, k, want, got, has_up_4) for k, want, got in mismatched] \
            + _structure_hints(network, names, common):
        if text and text not in hints:
            hints.append(text)
    guessed = _guess_network(state_dict.keys())
    if guessed and guessed != network:
        hints.insert(0, f"the checkpoint looks like a {guessed} network, not {network}: "
                        f"pass network={guessed!r} (CLI: --network {guessed})")
    return hints


def _mismatch_message(source, network, model, missing, unexpected, mismatched, hints) -> str:
    def listing(items, fmt):
        shown = [fmt(i) for i in items[:MAX_LISTED]]
        more = f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
        return ", ".join(shown) + more

    lines = [f"checkpoint {source} does not fit the {network} network built from the config "
             f"({getattr(model, 'name', type(model).__name__)}):"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {listing(missing, str)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {listing(unexpected, str)}")
    if mismatched:
        lines.append(f"  shape mismatches ({len(mismatched)}): "
                     + listing(mismatched, lambda m: f"{m[0]} checkpoint {m[2]} vs config {m[1]}"))
    if hints:
        lines.append("  likely cause: " + "; ".join(hints))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _to_keras(array: np.ndarray, kind: str) -> np.ndarray:
    if kind == "conv":
        return np.transpose(array, (2, 3, 1, 0))  # OIHW -> HWIO
    if kind == "dense":
        return np.transpose(array)  # (out, in) -> (in, out)
    if kind == "vector":
        return array
    raise ValueError(f"unknown weight kind {kind!r} in the official weight layout")


def load_torch_checkpoint(model, path_or_state_dict, network: str = "G"):
    """Load an official DAGAN state_dict into `model` (built by build_generator/discriminator/encoder).

    `path_or_state_dict`: a `.pth` file, or a mapping `{official key: tensor or array}`.
    `network`: 'G', 'D' or 'E'. Nothing is assigned unless every key and shape fits; otherwise a
    CheckpointMismatchError lists missing keys, unexpected keys and shape mismatches (first few) and
    the config keys that likely cause them. Returns `model`.
    """
    from dagan_tf.models import official_weight_layout
    from dagan_tf.models.official_names import torch_shape

    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = os.fspath(path_or_state_dict)
        state_dict = read_torch_state_dict(source)
    else:
        source = "<state_dict>"
        state_dict = dict(_unwrap(path_or_state_dict, source))

    layout = official_weight_layout(model, network)
    wanted = {k: torch_shape(var, kind) for k, (var, kind) in layout.items()}
    present = {k: tuple(int(s) for s in v.shape) for k, v in state_dict.items()
               if not k.endswith(IGNORED_SUFFIXES)}
    missing = [k for k in wanted if k not in present]
    unexpected = [k for k in present if k not in wanted]
    mismatched = [(k, wanted[k], present[k]) for k in wanted if k in present and wanted[k] != present[k]]
    if missing or unexpected or mismatched:
        hints = _hints(network, missing, unexpected, mismatched, state_dict)
        raise CheckpointMismatchError(
            _mismatch_message(source, network, model, missing, unexpected, mismatched, hints))

    for key, (variable, kind) in layout.items():
        value = _to_keras(_as_numpy(state_dict[key]), kind)
        variable.assign(value.astype(variable.dtype))
    return model


# ---------------------------------------------------------------------------------------------
# Converting files
# ---------------------------------------------------------------------------------------------
def infer_network(checkpoint_path: str | os.PathLike) -> str:
    """'G', 'D' or 'E' from a reference checkpoint name such as `latest_net_G.pth` / `200_net_E.pth`."""
    name = os.path.basename(os.fspath(checkpoint_path))
    match = _FILE_NETWORK.search(name)
    if match is None:
        raise ValueError(
            f"cannot tell which network {name!r} holds: the reference names checkpoints "
            "'<epoch>_net_G.pth', '<epoch>_net_D.pth' or '<epoch>_net_E.pth'; pass network='G'|'D'|'E' "
            "(CLI: --network)"
        )
    return match.group(1)


def build_network(config, network: str):
    """The Keras network the official `network` checkpoint belongs to, built from `config`."""
    from dagan_tf.models import build_discriminator, build_encoder, build_generator

    builders = {"G": build_generator, "D": build_discriminator, "E": build_encoder}
    if network not in builders:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")
    return builders[network](config)


def _save_atomically(model, out_path: str) -> None:
    """model.save to a temporary .keras file beside `out_path`, then rename: no half-written output."""
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(out_path)}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def convert_checkpoint(config, checkpoint_path: str | os.PathLike, out_path: str | os.PathLike,
                       network: str | None = None, verbose: bool = True) -> str:
    """Convert an official `.pth` checkpoint to a `.keras` file; returns the output path.

    `network` ('G', 'D', 'E') defaults to the one named by the file (`*_net_G.pth` ...). The result
    loads with `keras.saving.load_model(out_path)` after `import dagan_tf`. `verbose` shows a
    progress bar over the four stages (read, build, load, save).
    """
    checkpoint_path, out_path = os.fspath(checkpoint_path), os.fspath(out_path)
    if not out_path.endswith(".keras"):
        raise ValueError(f"output path {out_path!r} must end with '.keras' (Keras' native format)")
    network = network or infer_network(checkpoint_path)
    progress = None
    if verbose:
        import keras

        progress = keras.utils.Progbar(4, unit_name="stage")
    state_dict = read_torch_state_dict(checkpoint_path)
    if progress is not None:
        progress.update(1)
    model = build_network(config, network)
    if progress is not None:
        progress.update(2)
    try:
        load_torch_checkpoint(model, state_dict, network)
    except CheckpointMismatchError as e:
        raise CheckpointMismatchError(str(e).replace("<state_dict>", checkpoint_path, 1)) from None
    if progress is not None:
        progress.update(3)
    _save_atomically(model, out_path)
    if progress is not None:
        progress.update(4)
    return out_path
