"""The whole training state of a run, written so that nothing is ever lost.

Why not `keras.callbacks.BackupAndRestore`: it restores the epoch only (an interrupted epoch restarts
at its first step, with a different data order) and misses the optimizer state held as model
attributes. `TrainingBackup` writes every variable of G, D, E (trainable or not: spectral-norm u/v,
batch-norm statistics), both optimizers (moments and iteration counters, which drive the lr
schedule and the VAE noise) and the step.

Every value is stored under its variable's name, `<group>/<variable path>` (`generator/head_0/conv_0/kernel`,
`g_optimizer/iteration`, `g_optimizer/fc_kernel_momentum`...), and restored by that name: the order in which the model
creates its variables does not matter, and a backup whose names or shapes differ from the model's
is refused naming the first differing variables (backups of dagan-tf 0.1, stored by position,
still restore by position).

A backup is written into a temporary folder and renamed into place (`dagan_tf.files.atomic_path`),
so a kill at any moment leaves the previous or the new backup whole; a failed write (disk full)
leaves nothing and names the folder. The two newest backups are kept: a backup that cannot be read
(a disk error, a truncated copy) is reported by name and the one before it is used.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile

import keras
import numpy as np

from dagan_tf.files import atomic_path, remove_stale_temporaries

__all__ = ["TrainingBackup", "CorruptBackupError", "KEEP_BACKUPS"]

_STATE_FILE = "state.npz"
_META_FILE = "meta.json"
_STEP_DIR = "step-"
#: meta.json "format": 2 = values stored by variable name; absent = by position (dagan-tf 0.1).
_FORMAT = 2
#: Backups kept: the newest, and the one before it in case the newest cannot be read.
KEEP_BACKUPS = 2


class CorruptBackupError(ValueError):
    """A backup folder whose files cannot be read (every candidate, when raised by `restore`)."""


class TrainingBackup:
    """All training state of a `DAGAN` model in `folder/step-<N>/` (`state.npz` + `meta.json`).

    Groups of variables: generator, discriminator, encoder (every variable: trainable, spectral-norm
    u/v, batch-norm statistics), g_optimizer, d_optimizer (moments and iteration counters), step
    (`DAGAN.step`) and any other variable of the model (e.g. seed generators).

    `warnings` collects what `latest()` / `restore()` passed over (corrupt backups), for the run to
    print.
    """

    def __init__(self, folder, model):
        self.folder = os.fspath(folder)
        self.model = model
        self.warnings: list[str] = []

    def groups(self) -> dict[str, list]:
        model = self.model
        groups = {
            "generator": list(model.generator.variables),
            "discriminator": list(model.discriminator.variables),
            "encoder": list(model.encoder.variables) if model.encoder is not None else [],
            "g_optimizer": list(model.g_optimizer.variables),
            "d_optimizer": list(model.d_optimizer.variables),
        }
        if getattr(model, "step", None) is not None:
            groups["step"] = [model.step]  # DAGAN's one step counter
        seen = {id(v) for vs in groups.values() for v in vs}
        groups["model"] = [v for v in model.variables if id(v) not in seen]
        return groups

    def named_variables(self) -> dict[str, object]:
        """`{"<group>/<variable path>": variable}` in `groups()` order (an optimizer's path without its
        own name); a path that occurs twice in a group gets `#2`, `#3`... in creation order."""
        named = {}
        for group, variables in self.groups().items():
            owner = getattr(self.model, group, None)
            # an optimizer's variables are "<its name>/iteration", ...: the name is not part of the state
            prefix = f"{owner.name}/" if isinstance(owner, keras.optimizers.Optimizer) else ""
            for var in variables:
                name = var.path[len(prefix):] if prefix and var.path.startswith(prefix) else var.path
                key, n = f"{group}/{name}", 1
                while key in named:
                    n += 1
                    key = f"{group}/{name}#{n}"
                named[key] = var
        return named

    # -- finding ------------------------------------------------------------------------------
    def _committed(self) -> list[tuple[int, str]]:
        """(step, folder) of every committed backup (a folder with meta.json), oldest first."""
        if not os.path.isdir(self.folder):
            return []
        found = []
        for name in os.listdir(self.folder):
            path = os.path.join(self.folder, name)
            if name.startswith(_STEP_DIR) and name[len(_STEP_DIR):].isdigit() and os.path.isfile(
                    os.path.join(path, _META_FILE)):
                found.append((int(name[len(_STEP_DIR):]), path))
        return sorted(found)

    def _candidates(self):
        """(folder, meta) of the committed backups whose meta.json reads, newest first."""
        for _, path in reversed(self._committed()):
            try:
                with open(os.path.join(path, _META_FILE), encoding="utf-8") as f:
                    meta = json.load(f)
                int(meta["step"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                self._warn(f"backup {path} is corrupt ({_META_FILE}: {e}); using the one before it")
                continue
            yield path, meta

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def latest(self) -> tuple[str, dict] | None:
        """(folder, meta) of the newest backup whose meta reads, or None."""
        return next(self._candidates(), None)

    # -- writing ------------------------------------------------------------------------------
    def save(self, step: int, **meta) -> str:
        """Write the state at global `step` (plus `meta`, JSON-able) and return its folder.
        Raises `dagan_tf.files.WriteError` naming the folder when it cannot be written."""
        final = os.path.join(self.folder, f"{_STEP_DIR}{int(step):09d}")
        names = {}
        with atomic_path(final, what="training backup") as tmp:
            os.makedirs(tmp)
            state_path = os.path.join(tmp, _STATE_FILE)
            with zipfile.ZipFile(state_path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, var in self.named_variables().items():
                    value = np.asarray(keras.ops.convert_to_numpy(var))
                    with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, value, allow_pickle=False)
                    group = key.split("/", 1)[0]
                    names.setdefault(group, []).append([key, list(value.shape)])
            _fsync(state_path)
            meta_path = os.path.join(tmp, _META_FILE)
            with open(meta_path, "w", encoding="utf-8") as f:
                json.dump({"step": int(step), **meta, "format": _FORMAT, "variables": names, "time": time.time()}, f)
            _fsync(meta_path)
        for _, old in self._committed()[:-KEEP_BACKUPS]:
            shutil.rmtree(old, ignore_errors=True)
        remove_stale_temporaries(self.folder)  # leftovers of killed writers
        return final

    # -- reading ------------------------------------------------------------------------------
    def _read(self, path: str, meta: dict) -> list[tuple[object, np.ndarray]]:
        """[(variable, value)] of one backup, every name and shape checked, nothing assigned yet.
        Raises ValueError for another model, CorruptBackupError for unreadable files."""
        try:
            with np.load(os.path.join(path, _STATE_FILE), allow_pickle=False) as state:
                if meta.get("format") == _FORMAT:
                    return self._pairs_by_name(path, state)
                return self._pairs_by_position(path, meta, state)
        except (OSError, zipfile.BadZipFile, KeyError, EOFError) as e:
            raise CorruptBackupError(f"backup {path} is corrupt ({_STATE_FILE}: {e})") from None
        except ValueError as e:
            if str(e).startswith(f"backup {path}"):
                raise
            raise CorruptBackupError(f"backup {path} is corrupt ({_STATE_FILE}: {e})") from None

    def _pairs_by_name(self, path: str, state) -> list[tuple[object, np.ndarray]]:
        named = self.named_variables()
        stored = set(state.files)
        missing = [key for key in named if key not in stored]
        extra = [key for key in state.files if key not in named]  # in the order they were saved
        if missing or extra:
            parts = [f"'{group}' holds {count} variables but the model has {len(keys)}"
                     for group, keys, count in _group_counts(named, stored) if len(keys) != count]
            if missing:
                parts.append(f"the model's {_first(missing)} {'is' if len(missing) == 1 else 'are'} not in it")
            if extra:
                parts.append(f"it holds {_first(extra)}, which the model has not")
            raise ValueError(f"backup {path} does not fit the model: {'; '.join(parts)}. Was it written with "
                             f"another config? (delete {self.folder} to start over)")
        pairs = []
        for key, var in named.items():
            value = state[key]
            if tuple(value.shape) != tuple(var.shape):
                group, name = key.split("/", 1)
                raise ValueError(f"backup {path}: variable {name} has shape {tuple(value.shape)} but the model's "
                                 f"{group} has {tuple(var.shape)}; was it written with another config?")
            pairs.append((var, value))
        return pairs

    def _pairs_by_position(self, path: str, meta: dict, state) -> list[tuple[object, np.ndarray]]:
        """Backups of dagan-tf 0.1: `<group>/<index>` in creation order."""
        saved, pairs = meta.get("variables", {}), []
        for group, variables in self.groups().items():
            if group == "step" and group not in saved:
                continue  # 0.1 had no step variable: resume.restore sets it from meta["step"]
            listed = saved.get(group, [])
            if len(listed) != len(variables):
                raise ValueError(
                    f"backup {path}: '{group}' holds {len(listed)} variables but the model has "
                    f"{len(variables)}; was it written with another config? (delete {self.folder} "
                    "to start over)")
            for i, var in enumerate(variables):
                value = state[f"{group}/{i:05d}"]
                if tuple(value.shape) != tuple(var.shape):
                    raise ValueError(
                        f"backup {path}: variable {listed[i][0]} has shape {tuple(value.shape)} but "
                        f"the model's {var.path} has {tuple(var.shape)}; was it written with another "
                        "config?")
                pairs.append((var, value))
        return pairs

    def restore(self) -> dict | None:
        """Assign the newest readable backup's values to the model's variables; return its meta
        (None when there is no backup).

        A corrupt backup is passed over with a warning (in `self.warnings`) for the one before it.
        Raises ValueError naming the backup and the variable when the networks differ from the
        backed-up ones (another config), CorruptBackupError when no backup can be read.
        """
        corrupt = []
        for path, meta in self._candidates():
            try:
                pairs = self._read(path, meta)
            except CorruptBackupError as e:
                corrupt.append(str(e))
                self._warn(f"{e}; using the one before it")
                continue
            for var, value in pairs:
                var.assign(value)
            return meta
        if corrupt:
            raise CorruptBackupError(f"{corrupt[-1]}, and no older backup is left in {self.folder} "
                                     f"(delete the folder to start over)")
        return None


def _group_counts(named: dict, stored: set) -> list[tuple[str, list[str], int]]:
    """(group, the model's keys in it, how many the backup holds) for every group of either."""
    groups = sorted({k.split("/", 1)[0] for k in named} | {k.split("/", 1)[0] for k in stored})
    return [(g, [k for k in named if k.startswith(g + "/")], sum(k.startswith(g + "/") for k in stored))
            for g in groups]


def _first(keys: list[str], shown: int = 3) -> str:
    """The first `shown` variable names, and how many more."""
    more = f" (and {len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
