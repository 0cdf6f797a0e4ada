"""Weight files of the evaluation networks: the user's file, or the published one fetched once.

A user passes a file (`--inception-weights F`): pytorch-fid's `.pth` (read with torch, the `torch` extra)
or a `.weights.h5` converted from it (`convert_inception_weights`, no torch needed afterwards). Without a
file, the published `pt_inception-2015-12-05-6726825d.pth` is downloaded once into the Keras cache
(`~/.keras/datasets/dagan_tf/`, `keras.utils.get_file`) and checked against the hash prefix in its name:
torch hub names files `<name>-<first 8 hex digits of the SHA-256>.pth`, the check pytorch-fid's own
download relies on. Tests never download; they pass files they make.
"""

from __future__ import annotations

import hashlib
import os
from typing import Sequence

__all__ = [
    "FID_WEIGHTS_URL",
    "FID_WEIGHTS_SHA256_PREFIX",
    "file_sha256",
    "fetch_published",
    "resolve_inception_weights",
    "load_fid_inception",
    "convert_inception_weights",
]

#: pytorch-fid's release asset (`pytorch_fid/inception.py`, `FID_WEIGHTS_URL`).
FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
CACHE_SUBDIR = "dagan_tf"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (recorded in metrics.json beside each weight file used)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_published(url: str, sha256_prefix: str, cache_subdir: str = CACHE_SUBDIR) -> str:
    """Download `url` once into the Keras cache; check its SHA-256 starts with `sha256_prefix`.

    A file that fails the check is deleted and ValueError raised (a truncated download or a changed asset).
    """
    import keras

    fname = url.rsplit("/", 1)[-1]
    try:
        path = keras.utils.get_file(fname, origin=url, cache_subdir=cache_subdir)
    except Exception as e:
        raise ValueError(f"cannot download {url} ({type(e).__name__}: {e}); download it yourself and pass "
                         "the file (--inception-weights / --segmenter-weights)") from e
    digest = file_sha256(path)
    if not digest.startswith(sha256_prefix):
        os.remove(path)
        raise ValueError(f"downloaded {fname} has SHA-256 {digest}, expected one starting with {sha256_prefix}; "
                         "deleted it, try again or pass a file")
    return path


def resolve_inception_weights(weights: str | os.PathLike | None) -> str:
    """The FID Inception weight file: `weights` if given (must exist), else the published file (cached)."""
    if weights is None:
        return fetch_published(FID_WEIGHTS_URL, FID_WEIGHTS_SHA256_PREFIX)
    weights = os.fspath(weights)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"--inception-weights: file not found: {weights}")
    return weights


def load_fid_inception(weights: str | os.PathLike | None = None, dims: Sequence[int] = (2048,)):
    """Build the FID Inception for `dims` (see `inception.build_fid_inception`) and load `weights`.

    `weights`: pytorch-fid's `.pth` (needs torch), a `.weights.h5` from `convert_inception_weights`, or
    None for the published file (downloaded once). Returns `(model, weights_path)`.
    """
    from dagan_tf.evaluation.inception import build_fid_inception, load_inception_state_dict

    path = resolve_inception_weights(weights)
    if path.endswith(".weights.h5"):
        full = build_fid_inception([2048])  # holds every weighted layer; files are saved from it
        try:
            full.load_weights(path)
        except Exception as e:
            raise ValueError(f"--inception-weights {path}: not a FID Inception .weights.h5 "
                             f"({type(e).__name__}: {e})") from e
        if sorted(set(dims)) == [2048]:
            return full, path
        model = build_fid_inception(dims)
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(full.get_layer(layer.name).get_weights())
        return model, path
    model = build_fid_inception(dims)
    if not path.endswith((".pth", ".pt")):
        raise ValueError(f"--inception-weights {path}: expected pytorch-fid's .pth or a converted .weights.h5")
    from dagan_tf.torch_io import read_torch_state_dict

    load_inception_state_dict(model, read_torch_state_dict(path))
    return model, path


def convert_inception_weights(pth: str | os.PathLike, out: str | os.PathLike) -> str:
    """pytorch-fid's `.pth` -> a Keras `.weights.h5` that `load_fid_inception` reads without torch."""
    out = os.fspath(out)
    if not out.endswith(".weights.h5"):
        raise ValueError(f"output file {out} must end with .weights.h5")
    model, _ = load_fid_inception(pth, [2048])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    model.save_weights(out)
    return out
