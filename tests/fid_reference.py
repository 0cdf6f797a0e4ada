"""pytorch-fid (the PyPI package, unchanged) driven with a random-init weights file instead of its download.

pytorch-fid's `fid_inception_v3()` fetches `pt_inception-2015-12-05-6726825d.pth` with
`load_state_dict_from_url`. Tests never download: `random_fid_weights` builds pytorch-fid's own network
with random weights (BatchNorm statistics moved away from 0/1 so that a wrong mapping of any of them shows)
and saves its state_dict; `pytorch_fid_model` loads that file through the same call, patched, and
`start_pytorch_fid_cli` runs `python -m pytorch_fid` with `TORCH_HOME` pointing at a hub cache that holds
the file under the official name, which torch's loader then reads instead of downloading.

torchvision's C ops do not load beside our CPU torch wheel (`operator torchvision::nms does not exist`);
pytorch-fid needs only torchvision's Python Inception, so `import_pytorch_fid` puts an empty
`torchvision._meta_registrations` module into `sys.modules` first (the import that fails).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import types
from unittest import mock

import numpy as np

OFFICIAL_FILE_NAME = "pt_inception-2015-12-05-6726825d.pth"
_SHIM = ("import sys, types; "
         "sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('torchvision._meta_registrations')); ")


def import_pytorch_fid():
    """`pytorch_fid.inception` and `pytorch_fid.fid_score`, with the torchvision workaround (module doc)."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import pytorch_fid.fid_score as fid_score
    import pytorch_fid.inception as inception

    return inception, fid_score


def random_fid_weights(path, seed: int = 0) -> dict:
    """Save a random state_dict of pytorch-fid's FID Inception to `path`; returns it (numpy arrays).

    Convs: He-normal (keeps activations at a sane scale through 94 layers); BatchNorm: gamma in [0.6, 1.4],
    beta ~ N(0, 0.1), running mean ~ N(0, 0.1), running variance in [0.5, 2].
    """
    import torch

    inception, _ = import_pytorch_fid()
    import torchvision  # after import_pytorch_fid's workaround

    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict", lambda self, *a, **k: None):
        net = inception.fid_inception_v3()
    gen = torch.Generator().manual_seed(seed)
    state = net.state_dict()
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        if key.endswith(".conv.weight") or key == "fc.weight":
            fan_in = value[0].numel()
            value.copy_(torch.randn(value.shape, generator=gen) * np.sqrt(2.0 / fan_in))
        elif key.endswith(".bn.weight"):
            value.copy_(0.6 + 0.8 * torch.rand(value.shape, generator=gen))
        elif key.endswith(".bn.running_var"):
            value.copy_(0.5 + 1.5 * torch.rand(value.shape, generator=gen))
        else:  # bn.bias, bn.running_mean, fc.bias
            value.copy_(0.1 * torch.randn(value.shape, generator=gen))
    torch.save(state, os.fspath(path))
    return {k: v.numpy().copy() for k, v in state.items()}


def pytorch_fid_model(weights_path, dims=(2048,)):
    """pytorch-fid's `InceptionV3(blocks of dims)` (eval mode) with `weights_path` loaded where it would
    download; its forward returns one feature map per block, in `sorted(dims)` order."""
    import torch

    inception, _ = import_pytorch_fid()

    def load(url, *args, **kwargs):
        assert url.endswith(OFFICIAL_FILE_NAME), url
        return torch.load(os.fspath(weights_path), map_location="cpu", weights_only=True)

    with mock.patch.object(inception, "load_state_dict_from_url", load):
        model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[d] for d in sorted(dims)])
    return model.eval()


def torch_hub_with(weights_path, torch_home) -> pathlib.Path:
    """A `TORCH_HOME` whose hub cache holds `weights_path` under pytorch-fid's official file name."""
    checkpoints = pathlib.Path(torch_home) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    target = checkpoints / OFFICIAL_FILE_NAME
    if not target.exists():
        os.symlink(os.path.abspath(weights_path), target)
    return pathlib.Path(torch_home)


def start_pytorch_fid_cli(args, weights_path, torch_home) -> subprocess.Popen:
    """Start `python -m pytorch_fid ARGS` (its own `__main__`, unchanged) reading `weights_path`, on one
    torch thread; `finish_pytorch_fid_cli` waits for it. Running it beside our side halves a test's time."""
    env = dict(os.environ, TORCH_HOME=os.fspath(torch_hub_with(weights_path, torch_home)), OMP_NUM_THREADS="1")
    code = _SHIM + "import runpy; sys.argv = ['pytorch_fid'] + sys.argv[1:]; runpy.run_module('pytorch_fid', run_name='__main__')"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_pytorch_fid_cli(process: subprocess.Popen, timeout: float = 900) -> str:
    """Wait for a `start_pytorch_fid_cli` process; its stdout (AssertionError with stderr on failure)."""
    out, err = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise AssertionError(f"python -m pytorch_fid failed:\n{err[-3000:]}")
    return out
