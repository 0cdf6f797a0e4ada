"""The PyTorch re-statement of one reference training iteration, with or without the VGG loss
(bench helper; bench/_released_train.py runs the released trainer itself where its code is here).

tests/torch_training.py's G step (hinge GAN + feature matching) plus the reference's `VGGLoss`
(VGG19 features relu1_1..relu5_1, L1 weighted 1/32, 1/16, 1/8, 1/4, 1, times lambda_vgg) on a VGG19
of random weights (same cost as ImageNet's), then the D step. Adam as the reference (TTUR rates).
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

_VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
_SLICES = (2, 7, 12, 21, 30)  # torchvision vgg19.features indices ending relu1_1 .. relu5_1
_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def vgg19_features():
    """torchvision's vgg19().features[:30] layout (random weights, frozen)."""
    import torch.nn as nn

    layers, cin = [], 3
    for v in _VGG19:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    net = nn.Sequential(*layers[:_SLICES[-1]])
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def vgg_loss(vgg, x, y):
    loss, start, hx, hy = 0.0, 0, x, y
    for end, w in zip(_SLICES, _WEIGHTS):
        hx, hy = vgg[start:end](hx), vgg[start:end](hy)
        loss = loss + w * (hx - hy.detach()).abs().mean()
        start = end
    return loss


class ReferenceTrainer:
    """`step()` runs one reference iteration (G step with GAN + FM (+ VGG), then D step)."""

    def __init__(self, cfg, batch: int, seed: int = 0):
        import numpy as np
        import torch

        from tests.torch_reference import build_torch_networks

        torch.manual_seed(seed)
        nets = build_torch_networks(cfg)
        self.cfg, self.G, self.D = cfg, nets["G"], nets["D"]
        self.vgg = None if cfg.no_vgg_loss else vgg19_features()
        g_lr, d_lr = (cfg.lr / 2, cfg.lr * 2) if not cfg.no_TTUR else (cfg.lr, cfg.lr)
        betas = (0.0, 0.9) if not cfg.no_TTUR else (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=g_lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=d_lr, betas=betas)
        rng = np.random.default_rng(seed)
        h, w = cfg.image_hw
        label = np.repeat(np.repeat(rng.integers(0, cfg.label_nc, (batch, h // 16, w // 16)), 16, 1), 16, 2)
        sem = np.zeros((batch, cfg.semantic_nc, h, w), np.float32)
        np.put_along_axis(sem, label[:, None], 1.0, axis=1)
        self.semantic = torch.from_numpy(sem)
        self.real = torch.from_numpy(rng.uniform(-1, 1, (batch, 3, h, w)).astype(np.float32))

    def step(self) -> dict:
        import torch

        from tests.torch_training import discriminate, discriminator_loss, generator_loss

        cfg, G, D = self.cfg, self.G, self.D
        G.train()
        D.train()
        self.opt_g.zero_grad()
        fake = G(self.semantic, None)
        pred_fake, pred_real = discriminate(D, self.semantic, fake, self.real)
        g_loss = generator_loss(cfg, pred_fake, pred_real)
        if self.vgg is not None:
            g_loss = g_loss + vgg_loss(self.vgg, fake, self.real) * cfg.lambda_vgg
        g_loss.backward()
        self.opt_g.step()
        self.opt_d.zero_grad()
        with torch.no_grad():
            fake = G(self.semantic, None).detach()
        pred_fake, pred_real = discriminate(D, self.semantic, fake, self.real)
        d_loss = discriminator_loss(pred_fake, pred_real)
        d_loss.backward()
        self.opt_d.step()
        return {"G": float(g_loss.detach()), "D": float(d_loss.detach())}
