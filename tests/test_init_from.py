"""dagan_tf/training/init_from.py: fine-tuning starts from other weights (official .pth, a run folder,
.keras files), all of them or, with --init-partial, those whose names and shapes match."""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import pytest
import torch
import yaml

import dagan_tf.training.model as training_model
from dagan_tf.cli import main
from dagan_tf.config import config_from_dict
from dagan_tf.torch_io import to_keras_layout
from dagan_tf.models import build_discriminator, build_generator, official_weight_layout
from tests.helpers import semantic_map
from dagan_tf.training import run_training
from dagan_tf.training.epochs import epoch_dataset
from dagan_tf.training.init_from import resolve_init_source
from dagan_tf.training.schedule import ReferenceAdam, adam_betas, ttur_ratios
from tests.helpers import grappler_off, write_tiny_dataset
from tests.torch_reference import build_torch_networks
from tests.torch_training import reference_iteration

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_torch_thread")]

#: Adam's eps on both sides of the parity test. Adam's first step is lr * g / (|g| + eps): with the
#: reference's 1e-8 every weight moves by +-lr whatever |g|, so float round-off in gradients that
#: are (nearly) zero, such as conv biases in front of a norm, decides the direction, and no two
#: implementations share it. With 0.1 small gradients give proportionally small steps, which leaves
#: the iteration itself (losses, gradients, spectral norms, statistics, both steps) to compare.
ADAM_EPS = 0.1
#: Random weights at this fraction of unit scale: the generator's tanh stays out of saturation, so
#: gradients are not vanishing round-off. The crop (128: a 4x4 latent grid) keeps the first batch
#: norms away from near-constant channels, whose 1/sqrt(eps) would amplify round-off.
WEIGHT_SCALE = 0.5


def tiny(tmp, name, **changes):
    values = dict(name=name, checkpoints_dir=os.path.join(tmp, "checkpoints"), dataset_mode="custom",
                  dataroot=os.path.join(tmp, "data"), label_nc=3, no_instance=True, preprocess_mode="fixed",
                  load_size=128, crop_size=128, aspect_ratio=1.0, no_flip=True, serial_batches=True,
                  ngf=8, ndf=8, no_vgg_loss=True, vgg_weights="none", batchSize=2, niter=1, niter_decay=0,
                  save_latest_freq=100, seed=7)
    values.update(changes)
    return config_from_dict(values)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("init"))
    write_tiny_dataset(os.path.join(tmp, "data"))
    return tmp


def _layout_values(model, network):
    return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, (v, _) in official_weight_layout(model, network).items()}


def _randomized_official_files(cfg, folder, scale=WEIGHT_SCALE):
    """Reference networks with random weights (std `scale / sqrt(fan_in)`) and moved batch-norm
    statistics and spectral-norm vectors (one training forward), saved as the reference saves them."""
    torch.manual_seed(0)
    nets = build_torch_networks(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for net in nets.values():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale / math.sqrt(p[0].numel()) if p.dim() > 1
                        else torch.randn(p.shape, generator=g) * 0.1 * scale)
        h, w = cfg.image_hw
        seg = torch.eye(cfg.semantic_nc)[torch.randint(0, cfg.semantic_nc, (2, h, w), generator=g)].permute(0, 3, 1, 2)
        fake = nets["G"](seg, None)
        nets["D"](torch.cat([seg, fake], 1))
    paths = {}
    for name, net in nets.items():
        paths[name] = os.path.join(folder, f"latest_net_{name}.pth")
        torch.save(net.state_dict(), paths[name])
    return nets, paths


def test_one_step_from_official_weights_equals_the_reference_iteration(workdir, monkeypatch):
    cfg = tiny(workdir, "from_official")
    nets, paths = _randomized_official_files(cfg, workdir)

    def optimizers(config, steps_per_epoch=None):
        betas = adam_betas(config)
        g_ratio, d_ratio = ttur_ratios(config)
        return (ReferenceAdam(config.lr * g_ratio, *betas, epsilon=ADAM_EPS, name="g_optimizer"),
                ReferenceAdam(config.lr * d_ratio, *betas, epsilon=ADAM_EPS, name="d_optimizer"))

    monkeypatch.setattr(training_model, "build_optimizers", optimizers)
    source = resolve_init_source(paths["G"], init_D=paths["D"])
    result = run_training(cfg, max_steps=1, strategy="default", init=source, verbose=0)

    batch = next(iter(epoch_dataset(cfg, 0)))  # the batch the run's step took (no shuffle, no flip)
    semantic = np.asarray(semantic_map(batch["label"], None, cfg))
    to_nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    before = {k: {n: t.detach().numpy().copy() for n, t in net.state_dict().items()} for k, net in nets.items()}
    betas = adam_betas(cfg)
    g_ratio, d_ratio = ttur_ratios(cfg)
    opt_g = torch.optim.Adam(nets["G"].parameters(), lr=cfg.lr * g_ratio, betas=betas, eps=ADAM_EPS)
    opt_d = torch.optim.Adam(nets["D"].parameters(), lr=cfg.lr * d_ratio, betas=betas, eps=ADAM_EPS)
    reference_iteration(cfg, nets["G"], nets["D"], to_nchw(semantic), to_nchw(batch["image"].numpy()), opt_g, opt_d)

    for key, network in (("G", result.model.generator), ("D", result.model.discriminator)):
        ours = _layout_values(network, key)
        kinds = {k: kind for k, (_, kind) in official_weight_layout(network, key).items()}
        theirs = {k: to_keras_layout(t.detach().numpy(), kinds[k]) for k, t in nets[key].state_dict().items() if k in kinds}
        assert sorted(ours) == sorted(theirs)
        weights = [k for k in ours if ".running_" not in k]  # trained weights and spectral-norm u, v
        worst = max(float(np.abs(ours[k] - theirs[k]).max()) for k in weights)
        moved = max(float(np.abs(to_keras_layout(before[key][k], kinds[k]) - theirs[k]).max()) for k in weights)
        assert worst <= 1e-5, (key, worst)
        assert moved > 20 * worst and moved > 1e-5, (key, moved)  # the step did move them
        # batch-norm statistics (G only), relative to their size: two updates of float32 sums
        statistics = [k for k in ours if ".running_" in k]
        assert all(np.abs(ours[k] - theirs[k]).max() <= 1e-5 * np.abs(theirs[k]).max() for k in statistics)
    assert result.step == 1 and int(result.model.g_optimizer.iterations) == 1
    record = open(os.path.join(result.run_dir, "config.yaml")).read()
    assert record.startswith(f"# initialised from {os.path.abspath(paths['G'])}, {os.path.abspath(paths['D'])}\n")
    assert yaml.safe_load(record)["ngf"] == 8  # still a config file


def _save_random_networks(cfg, folder, tag, seed):
    keras.utils.set_random_seed(seed)
    files = {}
    for key, build in (("G", build_generator), ("D", build_discriminator)):
        net = build(cfg)
        for v in net.trainable_variables:  # away from the reference's near-zero init
            v.assign(np.random.default_rng(seed).normal(0, 0.05, v.shape).astype("float32"))
        files[key] = os.path.join(folder, f"{tag}_net_{key}.keras")
        net.save(files[key])
    return files


def test_init_epoch_takes_that_snapshot_at_step_zero(workdir):
    cfg = tiny(workdir, "from_epoch")
    source_run = os.path.join(workdir, "source_run")
    os.makedirs(source_run)
    epoch_files = _save_random_networks(cfg, source_run, "1", seed=1)
    _save_random_networks(cfg, source_run, "latest", seed=2)
    source = resolve_init_source(source_run, init_epoch=1)
    result = run_training(cfg, max_steps=0, init=source, verbose=0)
    assert result.step == 0 and int(result.model.d_optimizer.iterations) == 0
    for key, network in (("G", result.model.generator), ("D", result.model.discriminator)):
        want = _layout_values(keras.saving.load_model(epoch_files[key]), key)
        got = _layout_values(network, key)
        assert max(float(np.abs(want[k] - got[k]).max()) for k in want) == 0.0
    with pytest.raises(FileNotFoundError, match=r"no 7_net_G.keras in that run folder \(snapshots there: 1, latest\)"):
        resolve_init_source(source_run, init_epoch=7)


def test_partial_init_for_another_class_set(workdir, capsys):
    src = _save_random_networks(tiny(workdir, "twelve", label_nc=12), workdir, "twelve", seed=4)
    cfg = tiny(workdir, "five", label_nc=5)
    yaml_path = os.path.join(workdir, "five.yaml")
    with open(yaml_path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f)
    command = ["train", "--config", yaml_path, "--init-from", src["G"], "--init-D", src["D"], "--max-steps", "0"]
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"dagan-tf train: error: checkpoint {src['G']} does not fit the G network")
    assert "check 'label_nc'" in err[-1]
    assert not os.path.exists(os.path.join(cfg.checkpoints_dir, "five", "latest_net_G.keras"))

    assert main(command + ["--init-partial"]) == 0
    out = capsys.readouterr().out
    run_dir = os.path.join(cfg.checkpoints_dir, "five")
    for key in ("G", "D"):
        source = _layout_values(keras.saving.load_model(src[key]), key)
        got = _layout_values(keras.saving.load_model(os.path.join(run_dir, f"latest_net_{key}.keras")), key)
        same = [k for k in got if source[k].shape == got[k].shape]
        differ = [k for k in got if source[k].shape != got[k].shape]
        assert all(np.array_equal(source[k], got[k]) for k in same), key
        assert differ and all(np.isfinite(got[k]).all() for k in differ)
        for k in differ:
            assert f"  re-initialised  {k}: source " in out, k
        if key == "G":  # the first conv and every SPADE's shared conv see the semantic map
            assert sorted(differ) == sorted(k for k in got if k == "fc.weight" or k.endswith("mlp_shared.0.weight"))
        else:
            assert differ == ["discriminator_0.model0.0.weight", "discriminator_1.model0.0.weight"]
    assert "generator from " in out and f"tensors loaded, {len(differ)} re-initialised" in out
    assert open(os.path.join(run_dir, "config.yaml")).read().startswith("# initialised from ")


def test_a_stopped_fine_tuning_run_resumes_its_own_backup(workdir, monkeypatch, capsys):
    import dagan_tf.training.init_from as init_from

    cfg = tiny(workdir, "resume_fine_tuning")
    src = _save_random_networks(cfg, workdir, "base", seed=5)
    source = resolve_init_source(src["G"], init_D=src["D"])
    with grappler_off():
        first = run_training(cfg, max_steps=2, init=source, verbose=0)
        assert first.step == 2

        def never(*args, **kwargs):
            raise AssertionError("a resumed run must not load the init weights again")

        monkeypatch.setattr(init_from, "initialize_networks", never)
        capsys.readouterr()
        again = run_training(cfg, max_steps=2, init=source, verbose=0)  # finished: nothing to do
        assert again.model is None
        second = run_training(cfg, max_steps=3, init=source, verbose=0)
    out = capsys.readouterr().out
    assert "resumed from step 2" in out and "resuming this run's own backup" in out
    assert second.resumed_from == 2 and second.step == 3


def test_a_refused_init_leaves_no_run_folder(workdir):
    """Weights of another class set without --init-partial: refused naming the keys, and the new run's
    folder is gone again (a rerun with the right weights starts clean)."""
    cfg = tiny(workdir, "refused_init")
    src = _save_random_networks(cfg.replace(label_nc=5), workdir, "other_classes", seed=2)
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    with grappler_off(), pytest.raises(ValueError, match="label_nc"):
        run_training(cfg, max_steps=1, init=resolve_init_source(src["G"]), verbose=0)
    assert not os.path.exists(run_dir)
