"""Starting a new run from trained weights: fine-tuning (`dagan-tf train --init-from PATH`).

Where the weights come from (`InitSource`): another run's folder (its `latest_net_*.keras`, or
`<N>_net_*.keras` with `--init-epoch N`), a generator `.keras` file (with optional D and E files),
or official `.pth` files (read with the `torch` extra and converted on the fly). Every network
goes through the official state_dict layout (`dagan_tf.models.official_weight_layout`), so weights
are matched by their official names, never by position, and spectral-norm vectors and batch-norm
statistics come along (the first step continues the power iteration).

Only the weights: the optimisers start fresh, the step at 0, the lr schedule from the config. A
network without a source file keeps the reference's initialisation. With `partial`, every weight
whose name and shape match is loaded and the rest keep their fresh initialisation (another class
set: the SPADE `mlp_shared` convs and `fc` see a different number of semantic channels); without
it, any difference is refused naming the keys and the config keys that likely cause it.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

__all__ = ["InitSource", "LoadReport", "resolve_init_source", "initialize_networks", "start_from"]

NETWORK_NAMES = {"G": "generator", "D": "discriminator", "E": "encoder"}


@dataclasses.dataclass(frozen=True)
class InitSource:
    """A weight file per network (`{"G": path, "D": path, "E": path}`, any subset) and where they
    were found, for the run's records."""

    files: dict
    description: str


def _check_file(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} does not exist")
    if not path.endswith((".keras", ".pth", ".pt")):
        raise ValueError(f"{what} {path}: expected a .keras file or an official .pth checkpoint")
    return path


def resolve_init_source(init_from, init_epoch: int | None = None, init_D=None, init_E=None) -> InitSource:
    """Resolve `--init-from` (a run folder or a generator file), `--init-epoch`, `--init-D`, `--init-E`."""
    path = os.fspath(init_from)
    if os.path.isdir(path):
        if init_D or init_E:
            raise ValueError("--init-D / --init-E go with a generator file; a run folder brings its own")
        tag = "latest" if init_epoch is None else str(int(init_epoch))
        files = {k: os.path.join(path, f"{tag}_net_{k}.keras") for k in NETWORK_NAMES}
        if not os.path.isfile(files["G"]):
            epochs = sorted(n.split("_")[0] for n in os.listdir(path) if n.endswith("_net_G.keras"))
            raise FileNotFoundError(f"--init-from {path}: no {tag}_net_G.keras in that run folder "
                                    f"(snapshots there: {', '.join(epochs) or 'none'})")
        files = {k: f for k, f in files.items() if os.path.isfile(f)}
        return InitSource(files, f"run folder {os.path.abspath(path)} ({tag}_net_*.keras)")
    if init_epoch is not None:
        raise ValueError(f"--init-epoch goes with a run folder; --init-from {path} is not a folder")
    files = {"G": _check_file(path, "--init-from")}
    for key, extra in (("D", init_D), ("E", init_E)):
        if extra:
            files[key] = _check_file(os.fspath(extra), f"--init-{key}")
    return InitSource(files, ", ".join(os.path.abspath(f) for f in files.values()))


@dataclasses.dataclass
class LoadReport:
    """What one network took from its source: keys loaded, re-initialised (with the source's and
    our shapes), missing from the source, and unused source keys."""

    network: str
    source: str
    loaded: list
    reinitialised: list
    missing: list
    unused: list

    def table(self) -> str:
        lines = [f"{NETWORK_NAMES[self.network]} from {self.source}: {len(self.loaded)} tensors loaded, "
                 f"{len(self.reinitialised)} re-initialised, {len(self.missing)} missing, "
                 f"{len(self.unused)} unused"]
        lines += [f"  re-initialised  {k}: source {src} vs config {ours}" for k, ours, src in self.reinitialised]
        lines += [f"  missing         {k} (not in the source: fresh initialisation)" for k in self.missing]
        lines += [f"  unused          {k} (no such weight in the config's network)" for k in self.unused]
        return "\n".join(lines)


def official_state(path: str, network: str) -> dict:
    """The weights of one network file as an official-layout state_dict `{key: array}`."""
    from dagan_tf.torch_io import read_torch_state_dict, to_torch_layout
    from dagan_tf.models import official_weight_layout

    if not path.endswith(".keras"):
        return read_torch_state_dict(path)
    try:
        source = keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - any unreadable archive is the same user error
        raise ValueError(f"{path} is not a valid .keras file of a DAGAN network ({type(e).__name__}: {e})") from None
    try:
        layout = official_weight_layout(source, network)
    except Exception as e:  # noqa: BLE001 - e.g. a D file passed as the generator
        raise ValueError(f"{path} does not hold a DAGAN {NETWORK_NAMES[network]} "
                         f"({type(e).__name__}: {e})") from None
    return {k: to_torch_layout(np.asarray(keras.ops.convert_to_numpy(v)), kind) for k, (v, kind) in layout.items()}


def initialize_networks(model, source: InitSource, partial: bool = False) -> list[LoadReport]:
    """Load `source` into the DAGAN `model`'s networks; return one report per network loaded.

    Raises `dagan_tf.convert.CheckpointMismatchError` (naming keys and config keys) when a network
    differs and `partial` is False; nothing is assigned then.
    """
    from dagan_tf.convert import assign_state_dict, compare_state_dict

    networks = {"G": model.generator, "D": model.discriminator, "E": model.encoder}
    if "E" in source.files and networks["E"] is None:
        raise ValueError(f"--init-E {source.files['E']}: the config has no encoder (use_vae is false)")
    planned = []
    for key, path in source.files.items():
        state = official_state(path, key)
        comparison = compare_state_dict(networks[key], state, key)
        if not comparison.fits and not partial:
            raise comparison.error(path)
        planned.append((key, path, state, comparison))
    reports = []
    for key, path, state, comparison in planned:  # every file checked before anything is assigned
        loaded = assign_state_dict(comparison, state)
        reports.append(LoadReport(key, path, loaded, comparison.mismatched, comparison.missing,
                                  comparison.unexpected))
    return reports


def start_from(model, init: InitSource, partial: bool, record_path: str, resumed: bool, is_chief: bool) -> None:
    """A new run takes `init`'s weights and records where they came from in `record_path` (its
    lines head config.yaml); a resumed run keeps its own backup's weights."""
    from dagan_tf.files import atomic_path

    if resumed:
        print(f"note: resuming this run's own backup; the weights of {init.description} were used "
              "only when it started")
        return
    reports = initialize_networks(model, init, partial)
    record = f"initialised from {init.description}" + (" (partial)" if partial else "") + "\n"
    record += "\n".join(r.table() for r in reports) + "\n"
    print(record, end="")
    if is_chief:
        with atomic_path(record_path, what="init record") as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(record)
