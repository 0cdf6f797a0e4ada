"""Using a saved network without its config (dagan_tf/models/loading.py `config_for_checkpoint`):
`generate` and `export` with `--checkpoint` alone, on a trained demo generator and on a generator
converted from an official-layout `.pth`; `--set` of a network key refused; old files need `--config`."""

import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dagan_tf import cli
from dagan_tf.config import ConfigError, load_config, save_config
from dagan_tf.data import build_dataset
from dagan_tf.data.demo import write_demo_dataset
from dagan_tf.models import build_generator, config_for_checkpoint
from tests.helpers import semantic_map
from dagan_tf.training import run_training

pytestmark = pytest.mark.slow

#: The demo preset, shrunk (64x32 scenes).
TINY = dict(crop_size=64, load_size=64, ngf=8, ndf=8, batchSize=2, niter=1, niter_decay=0, print_freq=1,
            save_latest_freq=2)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("demo_data"))
    write_demo_dataset(root, count=12, size=64, seed=5, progress=False)  # 11 train + 1 val
    return root


@pytest.fixture(scope="module")
def trained_generator(tmp_path_factory, demo_data):
    """latest_net_G.keras of a 2-step demo run (its config: the demo preset + TINY, in a tmp folder)."""
    tmp = str(tmp_path_factory.mktemp("run"))
    cfg = load_config("demo", {**TINY, "dataroot": demo_data, "checkpoints_dir": tmp, "name": "tiny"})
    result = run_training(cfg, max_steps=2)
    assert result.step == 2
    return os.path.join(result.run_dir, "latest_net_G.keras"), cfg


def _synthesized(page_dir, name):
    return np.asarray(Image.open(os.path.join(page_dir, "images", "synthesized_image", f"{name}.png")))


def _expected_images(generator, cfg, count):
    batch = next(iter(build_dataset(cfg, "test", batch_size=count, shuffle=False)))
    fake = generator(semantic_map(batch["label"], batch["instance"], cfg), training=False)
    return batch, np.clip(np.round((np.asarray(fake) + 1) * 127.5), 0, 255).astype(np.uint8)


def _generate_and_export_alone(tmp_path, capsys, checkpoint, cfg, count):
    """`dagan-tf generate` / `export` given only `--checkpoint` reproduce the generator's images."""
    results = str(tmp_path / "results")
    assert cli.main(["generate", "--checkpoint", checkpoint, "--results-dir", results]) == 0
    page = capsys.readouterr().out.strip().splitlines()[-1]
    generator = keras.saving.load_model(checkpoint)
    batch, want = _expected_images(generator, cfg, count)
    names = re.findall(r"<h3>([^<]+)</h3>", open(page).read())
    assert len(names) == count
    for i, name in enumerate(names):
        diff = np.abs(_synthesized(os.path.dirname(page), name).astype(int) - want[i].astype(int))
        assert diff.max() <= 1  # float rounding at a uint8 boundary at most

    out = str(tmp_path / "served")
    assert cli.main(["export", "--checkpoint", checkpoint, "--out", out]) == 0
    served = tf.saved_model.load(os.path.join(out, "1")).signatures["serving_default"]
    got = served(label=tf.constant(batch["label"].numpy(), tf.int32),
                 instance=tf.constant(batch["instance"].numpy(), tf.int32))["image"].numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_generate_and_export_a_trained_demo_generator_with_the_checkpoint_alone(tmp_path, capsys, trained_generator):
    checkpoint, cfg = trained_generator
    assert keras.saving.load_model(checkpoint).dagan_config == cfg
    _generate_and_export_alone(tmp_path, capsys, checkpoint, cfg, count=1)


def test_generate_and_export_a_converted_official_generator_with_the_checkpoint_alone(tmp_path, capsys,
                                                                                      demo_data):
    torch = pytest.importorskip("torch", reason="the 'torch' extra converts official .pth files")
    from tests.torch_reference import build_torch_networks

    cfg = load_config("demo", {**TINY, "dataroot": demo_data})
    torch.manual_seed(3)
    net = build_torch_networks(cfg, networks=("G",))["G"]
    with torch.no_grad():  # weights away from the init's near-zero outputs, statistics moved
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.add_(torch.randn_like(b) * 0.1)
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    yaml_path = str(tmp_path / "tiny_demo.yaml")
    save_config(cfg, yaml_path)
    out = str(tmp_path / "G.keras")
    assert cli.main(["convert", "--config", yaml_path, "--checkpoint", str(tmp_path / "latest_net_G.pth"),
                     "--out", out]) == 0
    capsys.readouterr()
    os.remove(yaml_path)  # nothing but the .keras file is left to describe the network
    assert keras.saving.load_model(out).dagan_config == cfg
    _generate_and_export_alone(tmp_path, capsys, out, cfg, count=1)


def test_set_of_a_data_key_applies_and_of_a_network_key_is_refused(tmp_path, trained_generator):
    checkpoint, cfg = trained_generator
    assert config_for_checkpoint(checkpoint) == cfg
    assert config_for_checkpoint(checkpoint, overrides={"dataroot": "/data/x"}).dataroot == "/data/x"
    assert config_for_checkpoint(checkpoint, overrides={"ngf": 8}) == cfg  # the same value is fine
    with pytest.raises(ConfigError, match=re.escape(f"--set ngf=32: {checkpoint} holds a generator built with "
                                                    "ngf=8; its network keys come from the file")):
        config_for_checkpoint(checkpoint, overrides={"ngf": 32})


def test_a_config_file_gives_data_keys_and_the_checkpoint_its_network_keys(tmp_path, trained_generator):
    checkpoint, cfg = trained_generator
    other = load_config("demo", {"dataroot": "/elsewhere", "ngf": 64})  # another size of network
    save_config(other, tmp_path / "other.yaml")
    merged = config_for_checkpoint(checkpoint, str(tmp_path / "other.yaml"))
    assert (merged.dataroot, merged.ngf, merged.crop_size) == ("/elsewhere", 8, 64)


def test_an_old_file_without_its_config_needs_config(tmp_path, capsys, trained_generator):
    _, cfg = trained_generator
    generator = build_generator(cfg)
    plain = keras.Model(generator.inputs, generator.outputs)  # what dagan-tf 0.1 saved
    old = str(tmp_path / "run" / "latest_net_G.keras")
    os.makedirs(os.path.dirname(old))
    plain.save(old)
    save_config(cfg, tmp_path / "run" / "config.yaml")
    with pytest.raises(ConfigError, match=re.escape(
            f"{old} was saved without its config (an older file or not a .keras file): pass --config with the "
            f"config it was trained with (its run's config is probably {tmp_path / 'run' / 'config.yaml'})")):
        config_for_checkpoint(old)
    assert config_for_checkpoint(old, str(tmp_path / "run" / "config.yaml")) == cfg
    assert cli.main(["export", "--checkpoint", old, "--out", str(tmp_path / "served")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"dagan-tf export: error: {old} was saved without its config")
