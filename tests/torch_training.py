"""The reference's training iteration in PyTorch (SPADE's `Pix2PixTrainer`: `run_generator_one_step`
then `run_discriminator_one_step`), on the networks of tests/torch_reference.py, for the default
losses without VGG and VAE: hinge GAN + feature matching. Layout NCHW."""

from __future__ import annotations

import torch


def _last_outputs(pred):
    return [scale[-1] for scale in pred]


def discriminate(D, semantic, fake, real):
    """D on cat[fake, real] (fake first), split back into (pred_fake, pred_real) per scale and block."""
    out = D(torch.cat([torch.cat([semantic, fake], 1), torch.cat([semantic, real], 1)], 0))
    half = fake.shape[0]
    return [[t[:half] for t in scale] for scale in out], [[t[half:] for t in scale] for scale in out]


def generator_loss(cfg, pred_fake, pred_real):
    """GANLoss(for_discriminator=False) hinge: -mean(D(fake)) averaged over scales; plus feature
    matching: L1 of every intermediate block, times lambda_feat / num_D."""
    gan = sum(-p.mean() for p in _last_outputs(pred_fake)) / len(pred_fake)
    feat = 0.0
    for fake_scale, real_scale in zip(pred_fake, pred_real):
        for f, r in zip(fake_scale[:-1], real_scale[:-1]):
            feat = feat + torch.nn.functional.l1_loss(f, r.detach()) * cfg.lambda_feat / len(pred_fake)
    return gan + feat


def discriminator_loss(pred_fake, pred_real):
    """Hinge: mean(relu(1 + D(fake))) + mean(relu(1 - D(real))), each averaged over scales."""
    fake = sum(torch.relu(1 + p).mean() for p in _last_outputs(pred_fake)) / len(pred_fake)
    real = sum(torch.relu(1 - p).mean() for p in _last_outputs(pred_real)) / len(pred_real)
    return fake + real


def reference_iteration(cfg, G, D, semantic, real, opt_g, opt_d) -> dict:
    """One iteration: the G step (D in training mode, its spectral norms iterating too), then the D
    step on the updated G's fake, generated in training mode without gradients. Returns the losses."""
    G.train()
    D.train()
    opt_g.zero_grad()
    fake = G(semantic, None)
    pred_fake, pred_real = discriminate(D, semantic, fake, real)
    g_loss = generator_loss(cfg, pred_fake, pred_real)
    g_loss.backward()
    opt_g.step()

    opt_d.zero_grad()
    with torch.no_grad():
        fake = G(semantic, None).detach()
    fake.requires_grad_()
    pred_fake, pred_real = discriminate(D, semantic, fake, real)
    d_loss = discriminator_loss(pred_fake, pred_real)
    d_loss.backward()
    opt_d.step()
    return {"G": float(g_loss.detach()), "D": float(d_loss.detach())}
