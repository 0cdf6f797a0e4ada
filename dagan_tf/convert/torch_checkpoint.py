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

from dagan_tf.convert.mismatch import IGNORED_SUFFIXES, hints_for, mismatch_message
from dagan_tf.files import atomic_path
from dagan_tf.models.official_names import (  # noqa: F401  (build_network: re-exported, it has always lived here)
    OFFICIAL_NETWORKS,
    build_network,
    official_network,
    official_weight_layout,
)
from dagan_tf.torch_io import (  # noqa: F401  (CheckpointError: re-exported, the one class)
    CheckpointError,
    as_numpy,
    read_torch_state_dict,
    state_dict_of,
    to_keras_layout,
    torch_shape,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "load_torch_checkpoint",
    "convert_checkpoint",
    "infer_network",
    "build_network",
]

NETWORKS = tuple(OFFICIAL_NETWORKS)
_FILE_NETWORK = re.compile(r"_net_([GDE])\.(pth|pt)$")


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not fit the model built from the config; the message says why."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_torch_checkpoint(model, path_or_state_dict, network: str = "G"):
    """Load an official DAGAN state_dict into `model` (built by build_generator/discriminator/encoder).

    `path_or_state_dict`: a `.pth` file, or a mapping `{official key: tensor or array}`.
    `network`: 'G', 'D' or 'E'. Nothing is assigned unless every key and shape fits; otherwise a
    CheckpointMismatchError lists missing keys, unexpected keys and shape mismatches (first few) and
    the config keys that likely cause them. Returns `model`.
    """
    official_network(network)  # ValueError naming the choices
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = os.fspath(path_or_state_dict)
        state_dict = read_torch_state_dict(source)
    else:
        source = "<state_dict>"
        state_dict = state_dict_of(path_or_state_dict, source)

    comparison = compare_state_dict(model, state_dict, network)
    if not comparison.fits:
        raise comparison.error(source)
    assign_state_dict(comparison, state_dict)
    return model


class StateDictComparison:
    """How an official-layout state_dict lines up with one of our networks: `layout`
    (`{key: (variable, kind)}`), keys `missing` from the state_dict, `unexpected` in it, and
    `mismatched` `[(key, our torch-layout shape, its shape)]`; `matching` keys fit."""

    def __init__(self, model, network: str, state_dict: Mapping[str, Any]):
        self.model, self.network, self.state_dict = model, network, state_dict
        self.layout = official_weight_layout(model, network)
        wanted = {k: torch_shape(var, kind) for k, (var, kind) in self.layout.items()}
        present = {k: tuple(int(s) for s in v.shape) for k, v in state_dict.items()
                   if not k.endswith(IGNORED_SUFFIXES)}
        self.missing = [k for k in wanted if k not in present]
        self.unexpected = [k for k in present if k not in wanted]
        self.mismatched = [(k, wanted[k], present[k]) for k in wanted if k in present and wanted[k] != present[k]]
        bad = {k for k, _, _ in self.mismatched}
        self.matching = [k for k in wanted if k in present and k not in bad]

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def error(self, source: str) -> "CheckpointMismatchError":
        """The mismatch as an error listing the keys and the config keys that likely cause it."""
        hints = hints_for(self.network, self.missing, self.unexpected, self.mismatched, self.state_dict)
        return CheckpointMismatchError(mismatch_message(source, self.network, self.model, self.missing,
                                                         self.unexpected, self.mismatched, hints))


def compare_state_dict(model, state_dict: Mapping[str, Any], network: str = "G") -> StateDictComparison:
    """Line an official-layout state_dict up with `model` (see `StateDictComparison`)."""
    return StateDictComparison(model, network, state_dict)


def assign_state_dict(comparison: StateDictComparison, state_dict: Mapping[str, Any]) -> list[str]:
    """Assign every matching key's tensor to its variable; return the keys assigned."""
    for key in comparison.matching:
        variable, kind = comparison.layout[key]
        variable.assign(to_keras_layout(as_numpy(state_dict[key]), kind).astype(variable.dtype))
    return list(comparison.matching)


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
        from dagan_tf.progress import progress_bar

        progress = progress_bar(4, "stage")
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
    with atomic_path(out_path, what="converted checkpoint") as tmp:
        model.save(tmp)
    if progress is not None:
        progress.update(4)
    return out_path
