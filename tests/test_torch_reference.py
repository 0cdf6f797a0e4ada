"""tests/torch_reference.py reproduces the official state_dicts: every key, every shape, in order.

The listings `official_{G,G_vae,D,E}_{cityscapes,ade20k}.txt` were written from the released
checkpoints; each header states the network's trainable-parameter count, which we compare too
(torch counts only parameters, so spectral-norm u/v and batch-norm statistics are excluded).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from dagan_tf.config import load_config
from tests.helpers import REFERENCE_DIR
from tests.torch_reference import build_torch_networks

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def read_listing(path: Path) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """(ordered [(key, shape)], trainable parameter count from the header)."""
    lines = path.read_text().splitlines()
    match = re.search(r"trainable parameters: (\d+)", lines[0])
    assert match, f"{path}: header line has no trainable parameter count"
    entries = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        key, shape = line.split("\t")
        entries.append((key, tuple(int(s) for s in re.findall(r"\d+", shape))))
    return entries, int(match.group(1))


# (listing stem, config file, use_vae, network)
CASES = [
    ("official_G_cityscapes", "cityscapes", False, "G"),
    ("official_G_vae_cityscapes", "cityscapes", True, "G"),
    ("official_D_cityscapes", "cityscapes", False, "D"),
    ("official_E_cityscapes", "cityscapes", True, "E"),
    ("official_G_ade20k", "ade20k", False, "G"),
    ("official_G_vae_ade20k", "ade20k", True, "G"),
    ("official_D_ade20k", "ade20k", False, "D"),
    ("official_E_ade20k", "ade20k", True, "E"),
]


@pytest.mark.parametrize("stem,dataset,use_vae,network", CASES, ids=[c[0] for c in CASES])
def test_state_dict_matches_official_listing(stem, dataset, use_vae, network):
    expected, expected_trainable = read_listing(REFERENCE_DIR / f"{stem}.txt")
    cfg = load_config(REPO / "configs" / f"{dataset}.yaml", {"use_vae": use_vae})
    net = build_torch_networks(cfg, device="meta")[network]
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert got == expected, (
        f"{stem}: missing {sorted(set(expected) - set(got))[:5]}, unexpected {sorted(set(got) - set(expected))[:5]}"
    )
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == expected_trainable


@torch.no_grad()
def test_small_networks_run_and_keep_shapes():
    """A tiny config through all three networks on the CPU: output shapes and value ranges."""
    cfg = load_config(REPO / "configs" / "cityscapes.yaml",
                      {"ngf": 16, "ndf": 16, "crop_size": 128, "load_size": 128, "use_vae": True})
    torch.manual_seed(0)
    nets = build_torch_networks(cfg)
    h, w = cfg.image_hw
    assert (h, w) == (64, 128)
    seg = torch.zeros(2, cfg.semantic_nc, h, w)
    seg[:, 3] = 1.0
    z = torch.randn(2, cfg.z_dim)
    fake = nets["G"](seg, z)
    assert tuple(fake.shape) == (2, 3, h, w)
    assert float(fake.abs().max()) <= 1.0
    feats = nets["D"](torch.cat([seg, fake], dim=1))
    assert len(feats) == cfg.num_D and all(len(f) == cfg.n_layers_D + 1 for f in feats)
    assert [tuple(f.shape) for f in feats[0]] == [(2, 16, 33, 65), (2, 32, 17, 33), (2, 64, 9, 17),
                                                  (2, 128, 10, 18), (2, 1, 11, 19)]
    mu, logvar = nets["E"](fake)
    assert tuple(mu.shape) == tuple(logvar.shape) == (2, cfg.z_dim)


@torch.no_grad()
def test_most_generalisation_shapes():
    """Under 'most' (ngf 16): conv_64 16*2 -> 8, CAM (16 -> 8, 8 -> 8), output at full size."""
    cfg = load_config(REPO / "configs" / "ade20k.yaml",
                      {"ngf": 16, "ndf": 16, "crop_size": 128, "load_size": 128, "num_upsampling_layers": "most"})
    nets = build_torch_networks(cfg)
    sd = nets["G"].state_dict()
    assert tuple(sd["conv_64.weight"].shape) == (8, 32, 3, 3)
    assert tuple(sd["cab.conv1.weight"].shape) == (8, 16, 1, 1)
    assert tuple(sd["cab.conv2.weight"].shape) == (8, 8, 1, 1)
    assert tuple(sd["conv_img.weight"].shape) == (3, 8, 3, 3)
    seg = torch.zeros(2, cfg.semantic_nc, 128, 128)
    seg[:, 0] = 1.0
    assert tuple(nets["G"](seg).shape) == (2, 3, 128, 128)
