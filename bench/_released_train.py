"""The released DAGAN code's own trainer as the training reference (bench helper).

`ReleasedTrainer(cfg, batch, folder).step()` runs one iteration of `Pix2PixTrainer` from the
paper's repository (https://github.com/Ha0Tang/DAGAN, folder `DAGAN_v1`) exactly as its
`train.py` does: `run_generator_one_step` then `run_discriminator_one_step`, on the CPU
(`--gpu_ids -1`). Nothing is downloaded, so it can be built offline:

- `folder` is a checkout's `DAGAN_v1`, set up as its README says: the `sync_batchnorm` package of
  https://github.com/vacancy/Synchronized-BatchNorm-PyTorch copied into `models/networks/`
  (on one CPU device `SynchronizedBatchNorm2d` runs `F.batch_norm`, as `BatchNorm2d` does);
- its VGG loss asks torchvision for ImageNet weights; here the VGG19 gets random weights, which
  cost the same;
- its `VGGLoss` moves the VGG19 to the GPU whatever `--gpu_ids` says (`VGG19().cuda()`, loss.py),
  so on a CPU the bench makes that one move a no-op (without it the released code cannot train
  with the VGG loss on a CPU at all);
- its `util` imports `dill` only to pickle the options file; where dill is not installed, the
  standard `pickle` takes its place (nothing timed uses it);
- torchvision's C ops do not load beside the CPU torch wheel, and only its Python VGG is needed
  (the workaround of tests/fid_reference.py).

The released generator hard-codes one 128 -> 64 convolution (`conv_64` in its generator.py), so
it builds at ngf 64 only, the size of the comparison. The options are the released parser's own (`TrainOptions`), given every value of our config whose
key the parser has: configs keep the reference's option names.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import types

class ReleasedCodeMissing(RuntimeError):
    """The folder is not a set-up `DAGAN_v1` checkout (the message says what is missing)."""


def find_released(folder: str) -> str:
    """The `DAGAN_v1` folder under `folder` (a checkout or the folder itself), checked for the
    files the trainer needs; raises ReleasedCodeMissing naming the first one absent."""
    root = folder if os.path.isfile(os.path.join(folder, "trainers", "pix2pix_trainer.py")) \
        else os.path.join(folder, "DAGAN_v1")
    for needed in ("trainers/pix2pix_trainer.py", "options/train_options.py",
                   "models/networks/sync_batchnorm/__init__.py"):
        if not os.path.isfile(os.path.join(root, needed)):
            raise ReleasedCodeMissing(f"{os.path.join(root, needed)} is missing (a DAGAN checkout's DAGAN_v1 "
                                      "with sync_batchnorm copied into models/networks/, as its README says)")
    return root


def _released_argv(cfg, parser_dests: set, batch: int, checkpoints: str) -> list[str]:
    """Command-line arguments giving the released parser every value of `cfg` it has an option for
    (`no_vgg_loss` among them)."""
    import dataclasses

    argv = ["--gpu_ids", "-1", "--checkpoints_dir", checkpoints, "--batchSize", str(batch), "--nThreads", "0"]
    skip = {"name", "checkpoints_dir", "results_dir", "dataroot", "batchSize", "nThreads", "gpu_ids",
            "max_dataset_size", "seed"}
    for field in dataclasses.fields(cfg):
        key, value = field.name, getattr(cfg, field.name)
        if key in skip or key not in parser_dests:
            continue
        if isinstance(value, bool):
            argv += [f"--{key}"] if value else []
        else:
            argv += [f"--{key}", str(value)]
    return argv


def _offline_imports():
    """dill (or pickle), torchvision with its Python models only, and a vgg19 that builds without
    downloading."""
    try:
        import dill  # noqa: F401
    except ImportError:
        import pickle

        sys.modules["dill"] = pickle
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision

    build = torchvision.models.vgg19

    def vgg19_random(pretrained=False, **kwargs):  # noqa: ARG001 - the released call passes pretrained=True
        return build(weights=None)

    torchvision.models.vgg19 = vgg19_random


def _parser_dests(options, dataset_mode: str) -> set:
    """Every option of the released parser, with the model's and the dataset mode's additions
    (its `gather_options` adds them from the command line, so one is set for it)."""
    import argparse

    import data
    import models

    sys.argv = ["train.py", "--dataset_mode", dataset_mode]
    parser = options.initialize(argparse.ArgumentParser())
    parser = models.get_option_setter("pix2pix")(parser, True)
    parser = data.get_option_setter(dataset_mode)(parser, True)
    return {action.dest for action in parser._actions}


class ReleasedTrainer:
    """`step()` runs one released iteration (G step, then D step) on a fixed random batch."""

    def __init__(self, cfg, batch: int, folder: str, seed: int = 0):
        import numpy as np
        import torch

        root = find_released(folder)
        _offline_imports()
        sys.path.insert(0, root)
        saved_argv = sys.argv
        try:
            from options.train_options import TrainOptions
            from models.networks.architecture import VGG19
            from trainers.pix2pix_trainer import Pix2PixTrainer

            VGG19.cuda = lambda self, device=None: self  # the CPU run (module docstring)

            dests = _parser_dests(TrainOptions(), cfg.dataset_mode)
            options = TrainOptions()
            self._checkpoints = tempfile.TemporaryDirectory(prefix="released-")
            sys.argv = ["train.py"] + _released_argv(cfg, dests, batch, self._checkpoints.name)
            torch.manual_seed(seed)
            with contextlib.redirect_stdout(io.StringIO()):  # parse() and the network summary print
                self.opt = options.parse()
                self.trainer = Pix2PixTrainer(self.opt)
        finally:
            sys.argv = saved_argv
            sys.path.remove(root)
        rng = np.random.default_rng(seed)
        h, w = cfg.image_hw
        label = np.repeat(np.repeat(rng.integers(0, cfg.label_nc, (batch, 1, h // 16, w // 16)), 16, 2), 16, 3)
        self.data = {"label": torch.from_numpy(label).long(),
                     "instance": torch.from_numpy(label).float(),
                     "image": torch.from_numpy(rng.uniform(-1, 1, (batch, 3, h, w)).astype(np.float32)),
                     "path": ["synthetic"] * batch}

    def step(self) -> dict:
        self.trainer.run_generator_one_step(self.data)
        self.trainer.run_discriminator_one_step(self.data)
        return {k: float(v.detach().mean()) for k, v in self.trainer.get_latest_losses().items()}
