"""dagan_tf.convert.torch_checkpoint: official .pth state_dicts -> Keras, number for number.

Method: the PyTorch re-statement of the reference (tests/torch_reference.py) gets random weights at
a scale where every output is far from saturation, runs one training-mode forward (so batch-norm
running statistics and spectral-norm u, v are no longer at their initial values), is saved with
`torch.save(state_dict)`, converted, and compared in eval mode. Tolerances: 1e-4 (acceptance) for
outputs, 1e-5 for spectral-norm vectors after a training step.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import dagan_tf  # noqa: F401  (registers the layers for load_model)
from dagan_tf import cli
from dagan_tf.config import DAGANConfig, load_config
from dagan_tf.convert import CheckpointMismatchError, convert_checkpoint, infer_network, load_torch_checkpoint
from dagan_tf.torch_io import CheckpointError, read_torch_state_dict
from dagan_tf.models import build_discriminator, build_encoder, build_generator, official_weight_layout
from tests.torch_reference import build_torch_networks

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4
SN_TOL = 1e-5

SMALL = dict(label_nc=5, contain_dontcare_label=True, no_instance=False, ngf=16, ndf=16,
             crop_size=64, load_size=64)


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_torch_thread")]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def randomize(net: torch.nn.Module, seed: int) -> None:
    """Weights N(0, 1/fan_in) (unit-scale activations, tanh far from saturation), biases N(0, 0.1).

    The reference's own init (xavier, gain 0.02, zero biases) makes every output nearly zero, so a
    wrong mapping would hide under the tolerance; these weights make every entry count.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).numpy()


def make_inputs(cfg: DAGANConfig, batch: int, seed: int = 0):
    """A semantic map (one-hot + dontcare + sparse edges), an image in [-1, 1] and z, NHWC."""
    rng = np.random.default_rng(seed)
    h, w = cfg.image_hw
    labels = rng.integers(0, cfg.num_classes, (batch, h, w))
    seg = np.eye(cfg.semantic_nc, dtype=np.float32)[labels]
    if not cfg.no_instance:
        seg[..., -1] = rng.random((batch, h, w)) < 0.1
    image = rng.uniform(-1, 1, (batch, h, w, 3)).astype(np.float32)
    z = rng.standard_normal((batch, cfg.z_dim)).astype(np.float32)
    return seg, image, z


def trained_torch_networks(cfg: DAGANConfig, seg, image, z, networks=None) -> dict:
    """Reference networks, randomized, after one training-mode forward, then set to eval mode."""
    torch.manual_seed(0)
    nets = build_torch_networks(cfg, networks=networks)
    for i, net in enumerate(nets.values()):
        randomize(net, seed=i + 1)
        net.train()
    with torch.no_grad():
        if "G" in nets:
            nets["G"](nchw(seg), torch.from_numpy(z) if cfg.use_vae else None)
        if "D" in nets:
            nets["D"](torch.cat([nchw(seg), nchw(image)], 1))
        if "E" in nets:
            nets["E"](nchw(image))
    for net in nets.values():
        net.eval()
    return nets


@torch.no_grad()
def torch_outputs(cfg, nets, seg, image, z) -> dict:
    out = {}
    if "G" in nets:
        out["G"] = nhwc(nets["G"](nchw(seg), torch.from_numpy(z) if cfg.use_vae else None))
    if "D" in nets:
        out["D"] = [[nhwc(f) for f in scale] for scale in nets["D"](torch.cat([nchw(seg), nchw(image)], 1))]
    if "E" in nets:
        out["E"] = [t.numpy() for t in nets["E"](nchw(image))]
    return out


def keras_outputs(cfg, models, seg, image, z) -> dict:
    out = {"G": np.asarray(models["G"]([seg, z] if cfg.use_vae else seg, training=False)),
           "D": [[np.asarray(f) for f in scale]
                 for scale in models["D"](np.concatenate([seg, image], -1), training=False)]}
    if "E" in models:
        out["E"] = [np.asarray(t) for t in models["E"](image, training=False)]
    return out


BUILDERS = {"G": build_generator, "D": build_discriminator, "E": build_encoder}


def convert_all(cfg, nets, tmp_path: Path) -> dict:
    """torch.save every state_dict as the reference names them, load each into a fresh Keras model."""
    models = {}
    for name, net in nets.items():
        path = tmp_path / f"latest_net_{name}.pth"
        torch.save(net.state_dict(), path)
        models[name] = load_torch_checkpoint(BUILDERS[name](cfg), path, network=name)
    return models


def max_diffs(k_out: dict, t_out: dict) -> dict:
    diffs = {"G": float(np.abs(k_out["G"] - t_out["G"]).max()),
             "D": [[float(np.abs(a - b).max()) for a, b in zip(ks, ts)] for ks, ts in zip(k_out["D"], t_out["D"])]}
    if "E" in t_out:
        diffs["E"] = [float(np.abs(a - b).max()) for a, b in zip(k_out["E"], t_out["E"])]
    return diffs


def assert_parity(cfg, k_out, t_out):
    diffs = max_diffs(k_out, t_out)
    print(f"max abs diffs: {diffs}")
    assert k_out["G"].shape == t_out["G"].shape == (k_out["G"].shape[0], *cfg.image_hw, 3)
    # the comparison is informative: outputs spread over (-1, 1), few saturated
    assert t_out["G"].std() > 0.2 and (np.abs(t_out["G"]) > 0.99).mean() < 0.1
    assert diffs["G"] <= TOL
    assert len(k_out["D"]) == cfg.num_D and all(len(s) == cfg.n_layers_D + 1 for s in k_out["D"])
    for ks, ts in zip(k_out["D"], t_out["D"]):
        assert [a.shape for a in ks] == [b.shape for b in ts]
    assert max(max(s) for s in diffs["D"]) <= TOL
    if "E" in t_out:
        assert all(a.shape == (k_out["G"].shape[0], cfg.z_dim) for a in k_out["E"])
        assert max(diffs["E"]) <= TOL


# ---------------------------------------------------------------------------------------------
# parity of converted networks
# ---------------------------------------------------------------------------------------------
PARITY_CASES = {
    # VAE generator (dense fc viewed as NCHW) with instance-norm SPADE and plain (non-spectral)
    # convs; encoder at 64 px (resized to 128, five layers)
    "vae_instance_nospectral": dict(use_vae=True, norm_G="spadeinstance3x3"),
    # conv fc on a 1x2 latent grid (default spectral sync-batch SPADE); D: 3 scales of 3 layers
    # with affine batch norm
    "more_aspect2": dict(num_upsampling_layers="more", crop_size=128, load_size=128, aspect_ratio=2.0,
                         norm_D="spectralbatch", n_layers_D=3, num_D=3, ngf=8, ndf=8),
    # 'most' (up_4, x_tmp upsampled), batch-norm SPADE, no instance channel
    "vae_most_batchnorm": dict(num_upsampling_layers="most", crop_size=128, load_size=128, use_vae=True,
                               norm_G="spectralspadebatch3x3", no_instance=True, ngf=8, ndf=8),
}
# Not here: instance-norm SPADE on a 1x2 latent grid. Normalising 2 values per channel is so
# ill-conditioned that torch float32 itself differs from torch float64 by 4e-4 there (ours: 1.4e-4).


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_small_parity(case, tmp_path):
    """G, every D feature of every scale and E (mu, logvar) match the reference in eval mode."""
    cfg = DAGANConfig(**{**SMALL, **PARITY_CASES[case]})
    seg, image, z = make_inputs(cfg, batch=2)
    nets = trained_torch_networks(cfg, seg, image, z)
    t_out = torch_outputs(cfg, nets, seg, image, z)
    models = convert_all(cfg, nets, tmp_path)
    assert_parity(cfg, keras_outputs(cfg, models, seg, image, z), t_out)


def test_full_size_ade20k_parity(tmp_path):
    """The official ade20k networks (ngf 64, 151 semantic channels, default norms): G and D hold
    exactly the released checkpoints' tensors (96,578,709 and 5,836,930 parameters; non-VAE G and D
    do not depend on crop_size) and run at 64x64 to keep the test fast; E runs at its full 256x256
    with all six layers."""
    cfg = load_config(REPO / "configs" / "ade20k.yaml", {"crop_size": 64, "load_size": 64})
    seg, image, z = make_inputs(cfg, batch=1)
    nets = trained_torch_networks(cfg, seg, image, z, networks=("G", "D"))
    assert sum(p.numel() for p in nets["G"].parameters()) == 96_578_709
    t_out = torch_outputs(cfg, nets, seg, image, z)
    models = convert_all(cfg, nets, tmp_path)
    assert_parity(cfg, keras_outputs(cfg, models, seg, image, z), t_out)

    cfg_e = load_config(REPO / "configs" / "ade20k.yaml", {"use_vae": True})
    _, image_e, _ = make_inputs(cfg_e, batch=1)
    encoder = trained_torch_networks(cfg_e, None, image_e, None, networks=("E",))["E"]
    assert hasattr(encoder, "layer6")
    with torch.no_grad():
        mu, logvar = encoder(nchw(image_e))
    torch.save(encoder.state_dict(), tmp_path / "latest_net_E.pth")
    k_mu, k_logvar = load_torch_checkpoint(build_encoder(cfg_e), tmp_path / "latest_net_E.pth", "E")(
        image_e, training=False)
    diffs = [float(np.abs(np.asarray(k_mu) - mu.numpy()).max()),
             float(np.abs(np.asarray(k_logvar) - logvar.numpy()).max())]
    print(f"full-size E max abs diffs: {diffs}; |mu| up to {float(mu.abs().max()):.3g}")
    assert float(mu.abs().max()) > 0.1 and max(diffs) <= TOL


def test_parity_is_sensitive_to_a_wrong_mapping():
    """A negative control: one kernel with its spatial axes swapped moves G's output far above TOL."""
    cfg = DAGANConfig(**{**SMALL, "ngf": 8})
    seg, image, z = make_inputs(cfg, batch=1)
    nets = trained_torch_networks(cfg, seg, image, z, networks=("G",))
    expected = torch_outputs(cfg, nets, seg, image, z)["G"]
    state = dict(nets["G"].state_dict())
    state["conv_img.weight"] = state["conv_img.weight"].transpose(2, 3).contiguous()
    out = np.asarray(load_torch_checkpoint(build_generator(cfg), state, "G")(seg, training=False))
    assert np.abs(out - expected).max() > 100 * TOL


# ---------------------------------------------------------------------------------------------
# training continues from the stored spectral-norm vectors
# ---------------------------------------------------------------------------------------------
def _sn_state(model, network) -> dict:
    return {k: np.asarray(v) for k, (v, kind) in official_weight_layout(model, network).items()
            if k.endswith((".weight_u", ".weight_v"))}


def _keras_sgd_step(model, inputs, target, lr):
    """One SGD step on a loss touching every output: G: mean(out * target); D: sum of feature means."""
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        if isinstance(out, (list, tuple)):
            loss = sum(tf.reduce_mean(f) for scale in out for f in scale)
        else:
            loss = tf.reduce_mean(out * target)
    grads = tape.gradient(loss, model.trainable_variables)
    for var, grad in zip(model.trainable_variables, grads):
        if grad is not None:
            var.assign_sub(lr * grad)


def _torch_sgd_step(net, inputs, target, lr):
    """The same step for the reference: same loss on the NHWC view of its outputs, plain SGD."""
    net.train()
    net.zero_grad()
    out = net(*inputs)
    if isinstance(out, list):
        loss = sum(f.mean() for scale in out for f in scale)
    else:
        loss = (out.permute(0, 2, 3, 1) * target).mean()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p -= lr * p.grad


@pytest.mark.parametrize("network", ["G", "D"])
def test_training_step_updates_spectral_norm_like_reference(network, tmp_path):
    """One SGD step each side from the same converted weights: same u, v (<= 1e-5), same new kernels,
    and a second training forward again gives the same u (power iteration continued, not restarted)."""
    cfg = DAGANConfig(**{**SMALL, "use_vae": True, "ngf": 8, "ndf": 8})
    seg, image, z = make_inputs(cfg, batch=2)
    net = trained_torch_networks(cfg, seg, image, z, networks=(network,))[network]
    torch.save(net.state_dict(), tmp_path / f"latest_net_{network}.pth")
    model = load_torch_checkpoint(BUILDERS[network](cfg), tmp_path / f"latest_net_{network}.pth", network)
    before = {k: v.clone() for k, v in net.state_dict().items()}

    target = np.random.default_rng(1).standard_normal((2, *cfg.image_hw, 3)).astype(np.float32)
    if network == "G":
        k_inputs, t_inputs = [seg, z], (nchw(seg), torch.from_numpy(z))
    else:
        k_inputs, t_inputs = np.concatenate([seg, image], -1), (torch.cat([nchw(seg), nchw(image)], 1),)
    lr = 0.5
    _torch_sgd_step(net, t_inputs, torch.from_numpy(target), lr)
    _keras_sgd_step(model, k_inputs, target, lr)

    after = net.state_dict()
    layout = official_weight_layout(model, network)
    sn_keys = [k for k in layout if k.endswith(".weight_u")]
    assert len(sn_keys) >= 3
    moved = max(float((after[k] - before[k]).abs().max()) for k in sn_keys)
    assert moved > 1e-4  # the step really iterated (else equality would prove nothing)
    keras_sn = _sn_state(model, network)
    u_diff = max(float(np.abs(keras_sn[k] - after[k].numpy()).max()) for k in keras_sn)
    print(f"{network}: u/v moved by up to {moved:.3g}; max |u_keras - u_torch| = {u_diff:.3g}")
    assert u_diff <= SN_TOL

    # the new raw kernels agree too: gradients flow through sigma as in the reference
    kernel_diff, kernel_moved = 0.0, 0.0
    for key, (var, kind) in layout.items():
        if key.endswith(".weight_orig"):
            t_new = after[key].numpy().transpose(2, 3, 1, 0)
            kernel_diff = max(kernel_diff, float(np.abs(np.asarray(var) - t_new).max()))
            kernel_moved = max(kernel_moved, float((after[key] - before[key]).abs().max()))
    print(f"{network}: kernels moved by up to {kernel_moved:.3g}; max diff {kernel_diff:.3g}")
    assert kernel_moved > 1e-4 and kernel_diff <= SN_TOL

    # a second training forward continues the iteration from the updated vectors on both sides
    with torch.no_grad():
        net.train()(*t_inputs)
    model(k_inputs, training=True)
    after2, keras_sn2 = net.state_dict(), _sn_state(model, network)
    assert max(float(np.abs(keras_sn2[k] - after2[k].numpy()).max()) for k in sn_keys) <= SN_TOL


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def _meta_state_dict(cfg, network):
    """Official-shaped tensors without memory (device 'meta'): enough for every shape check."""
    return build_torch_networks(cfg, device="meta")[network].state_dict()


def test_ade20k_checkpoint_into_cityscapes_config_names_the_cause():
    ade = load_config(REPO / "configs" / "ade20k.yaml")
    city = load_config(REPO / "configs" / "cityscapes.yaml")
    model = build_generator(city)
    before = np.asarray(model.get_layer("fc").kernel)
    with pytest.raises(CheckpointMismatchError) as err:
        load_torch_checkpoint(model, _meta_state_dict(ade, "G"), "G")
    msg = str(err.value)
    assert "shape mismatches (19)" in msg  # fc + 18 SPADE mlp_shared convs: 151 vs 36 input channels
    assert "fc.weight checkpoint (1024, 151, 3, 3) vs config (1024, 36, 3, 3)" in msg
    assert "missing keys" not in msg and "unexpected keys" not in msg
    for key in ("label_nc", "contain_dontcare_label", "no_instance"):
        assert f"'{key}'" in msg
    assert "151 semantic channels" in msg and "36" in msg
    np.testing.assert_array_equal(np.asarray(model.get_layer("fc").kernel), before)  # nothing assigned


def test_ade20k_discriminator_file_into_cityscapes_via_cli(tmp_path, capsys):
    ade = load_config(REPO / "configs" / "ade20k.yaml")
    path = tmp_path / "latest_net_D.pth"
    torch.save(build_torch_networks(ade)["D"].state_dict(), path)
    out = tmp_path / "D.keras"
    rc = cli.main(["convert", "--checkpoint", str(path), "--config", str(REPO / "configs" / "cityscapes.yaml"),
                   "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert str(path) in err
    assert "discriminator_0.model0.0.weight checkpoint (64, 154, 4, 4) vs config (64, 39, 4, 4)" in err
    assert "151 semantic channels, the config gives 36" in err and "'label_nc'" in err


def test_vae_latent_size_mismatch_names_crop_size():
    ade_small = DAGANConfig(**{**SMALL, "use_vae": True})  # 64 px, normal: 2x2 latent
    city_small = DAGANConfig(**{**SMALL, "use_vae": True, "crop_size": 128, "load_size": 128,
                                "aspect_ratio": 2.0, "num_upsampling_layers": "more"})  # 1x2 latent
    with pytest.raises(CheckpointMismatchError) as err:
        load_torch_checkpoint(build_generator(city_small), _meta_state_dict(ade_small, "G"), "G")
    msg = str(err.value)
    assert "fc.weight checkpoint (1024, 256) vs config (512, 256)" in msg
    for key in ("crop_size", "aspect_ratio", "num_upsampling_layers"):
        assert f"'{key}'" in msg


def test_structural_mismatches_list_keys_and_causes():
    cfg = DAGANConfig(**SMALL)
    # a 'most' checkpoint has up_4; a VAE checkpoint's fc is dense; a D checkpoint is no G
    with pytest.raises(CheckpointMismatchError) as err:
        load_torch_checkpoint(build_generator(cfg), _meta_state_dict(
            cfg.replace(num_upsampling_layers="most", crop_size=128, load_size=128), "G"), "G")
    msg = str(err.value)
    assert "unexpected keys (35): up_4.conv_0.bias" in msg and "... (30 more)" in msg
    assert "shape mismatches (7): conv_img.weight checkpoint (3, 8, 3, 3) vs config (3, 16, 3, 3)" in msg
    assert "'num_upsampling_layers'" in msg and "norm_G" not in msg
    with pytest.raises(CheckpointMismatchError, match="'use_vae'"):
        load_torch_checkpoint(build_generator(cfg), _meta_state_dict(cfg.replace(use_vae=True), "G"), "G")
    with pytest.raises(CheckpointMismatchError, match="looks like a D network, not G"):
        load_torch_checkpoint(build_generator(cfg), _meta_state_dict(cfg, "D"), "G")
    with pytest.raises(CheckpointMismatchError) as err:
        load_torch_checkpoint(build_encoder(cfg), _meta_state_dict(cfg.replace(use_vae=True, crop_size=256,
                                                                               load_size=256), "E"), "E")
    assert "unexpected keys (3): layer6.0.weight_orig" in str(err.value) and "'crop_size'" in str(err.value)
    with pytest.raises(CheckpointMismatchError, match="'num_D'"):
        load_torch_checkpoint(build_discriminator(cfg), _meta_state_dict(cfg.replace(num_D=3), "D"), "D")


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    cfg = DAGANConfig(**SMALL)
    good = tmp_path / "latest_net_D.pth"
    torch.save(build_torch_networks(cfg)["D"].state_dict(), good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated_net_D.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated_net_D\.pth .*truncated or not a PyTorch state_dict"):
        load_torch_checkpoint(build_discriminator(cfg), truncated, "D")
    text = tmp_path / "notes_net_G.pth"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes_net_G\.pth"):
        read_torch_state_dict(text)
    not_a_dict = tmp_path / "list_net_G.pth"
    torch.save([torch.zeros(3)], not_a_dict)
    with pytest.raises(CheckpointError, match="does not hold a state_dict"):
        read_torch_state_dict(not_a_dict)
    with pytest.raises(FileNotFoundError, match="missing_net_G.pth"):
        read_torch_state_dict(tmp_path / "missing_net_G.pth")
    # the untruncated file reads: 26 tensors for a 2-scale, 4-layer D
    assert len(read_torch_state_dict(good)) == 26


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "latest_net_G.pth"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'dagan-tf\[torch\]'"):
        read_torch_state_dict(path)


def test_network_is_inferred_from_the_file_name():
    assert infer_network("checkpoints/ade20k/latest_net_G.pth") == "G"
    assert infer_network("200_net_D.pth") == "D"
    assert infer_network(Path("x") / "latest_net_E.pth") == "E"
    with pytest.raises(ValueError, match="--network"):
        infer_network("generator.pth")


# ---------------------------------------------------------------------------------------------
# the CLI round trip
# ---------------------------------------------------------------------------------------------
def test_cli_convert_round_trip(tmp_path, capsys):
    """`dagan-tf convert` writes .keras files that load_model reads and that match the reference."""
    overrides = ["label_nc=5", "ngf=8", "ndf=8", "crop_size=64", "load_size=64", "use_vae=true"]
    cfg = load_config(REPO / "configs" / "ade20k.yaml", {"label_nc": 5, "ngf": 8, "ndf": 8,
                                                         "crop_size": 64, "load_size": 64, "use_vae": True})
    seg, image, z = make_inputs(cfg, batch=2)
    nets = trained_torch_networks(cfg, seg, image, z)
    t_out = torch_outputs(cfg, nets, seg, image, z)
    torch.save(nets["G"].state_dict(), tmp_path / "latest_net_G.pth")
    torch.save(nets["D"].state_dict(), tmp_path / "discriminator.pth")  # no _net_X: needs --network
    torch.save(nets["E"].state_dict(), tmp_path / "latest_net_E.pth")
    models = {}
    for name, ckpt, extra in (("G", "latest_net_G.pth", []), ("D", "discriminator.pth", ["--network", "D"]),
                              ("E", "latest_net_E.pth", [])):
        out = tmp_path / "out" / f"{name}.keras"
        argv = ["convert", "--checkpoint", str(tmp_path / ckpt), "--config", str(REPO / "configs" / "ade20k.yaml"),
                *[a for o in overrides for a in ("--set", o)], *extra, "--out", str(out)]
        assert cli.main(argv) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
        models[name] = keras.saving.load_model(out)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["D.keras", "E.keras", "G.keras"]
    assert_parity(cfg, keras_outputs(cfg, models, seg, image, z), t_out)


def test_convert_checkpoint_api_requires_keras_suffix(tmp_path):
    cfg = DAGANConfig(**SMALL)
    path = tmp_path / "latest_net_D.pth"
    torch.save(build_torch_networks(cfg)["D"].state_dict(), path)
    with pytest.raises(ValueError, match=r"must end with '\.keras'"):
        convert_checkpoint(cfg, path, tmp_path / "D.h5")
    assert convert_checkpoint(cfg, path, tmp_path / "D.keras") == str(tmp_path / "D.keras")
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".keras"] == ["D.keras"]  # no temp left
