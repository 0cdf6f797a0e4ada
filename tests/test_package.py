"""The package itself (dagan_tf/__init__.py) and the one network loader (dagan_tf/models/loading.py).

Acceptance: `import dagan_tf` alone (a fresh process) lets `keras.saving.load_model` read generator,
discriminator and encoder `.keras` files; every bad network file ends in one message naming it
(missing, a `.pth`, a truncated archive, the wrong network) through the library and `dagan-tf`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import keras
import pytest

from dagan_tf import cli
from dagan_tf.config import save_config
from dagan_tf.models import (
    CheckpointError,
    build_discriminator,
    build_encoder,
    build_generator,
    load_network,
    network_kind,
)
from tests.helpers import NO_DATA, tiny_config

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


#: G, D and E of the package tests: 32x32, 4 classes, a VAE, two two-layer discriminator scales.
PACKAGE_CONFIG = dict(name="pkg", dataset_mode="coco", dataroot=NO_DATA, label_nc=4, crop_size=32, load_size=32,
                      ngf=8, ndf=8, num_D=2, n_layers_D=2, use_vae=True, z_dim=8)


@pytest.fixture(scope="module")
def network_files(tmp_path_factory):
    """Tiny G, D and E `.keras` files (the trainer's names) and the config they were built with."""
    folder = tmp_path_factory.mktemp("networks")
    config = tiny_config(PACKAGE_CONFIG)
    files = {}
    for letter, build in (("G", build_generator), ("D", build_discriminator), ("E", build_encoder)):
        path = str(folder / f"latest_net_{letter}.keras")
        build(config).save(path)
        files[letter] = path
    config_path = str(folder / "config.yaml")
    save_config(config, config_path)
    files["config"] = config_path
    keras.backend.clear_session()
    return files


def test_import_dagan_tf_alone_loads_every_network(network_files):
    script = (
        "import json, sys\n"
        "import keras\n"
        "import dagan_tf\n"
        "out = {}\n"
        "for path in sys.argv[1:]:\n"
        "    model = keras.saving.load_model(path, compile=False)\n"
        "    out[path] = [len(model.inputs), len(model.outputs), model.count_params()]\n"
        "print(json.dumps(out))\n"
    )
    paths = [network_files[k] for k in ("G", "D", "E")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    config = tiny_config(PACKAGE_CONFIG)
    for letter, build in (("G", build_generator), ("D", build_discriminator), ("E", build_encoder)):
        model = build(config)
        want = [len(model.inputs), len(model.outputs), model.count_params()]
        assert loaded[network_files[letter]] == want, letter
    keras.backend.clear_session()


@pytest.mark.parametrize("first", ["dagan_tf.layers", "dagan_tf.layers.stride_one_conv"])
def test_a_layers_module_imported_first_still_registers_every_network(network_files, first):
    """A module of ours that imports keras midway (nothing else imported before it): the networks
    are registered once its import has finished, and a generator file loads."""
    script = (f"import sys\nimport {first}\nimport keras\n"
              "model = keras.saving.load_model(sys.argv[1], compile=False)\n"
              "print(model.count_params())\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", script, network_files["G"]], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) == build_generator(tiny_config(PACKAGE_CONFIG)).count_params()
    keras.backend.clear_session()


def test_network_kind_tells_the_three_apart(network_files):
    kinds = {letter: network_kind(load_network(network_files[letter])) for letter in ("G", "D", "E")}
    assert kinds == {"G": "generator", "D": "discriminator", "E": "encoder"}
    keras.backend.clear_session()


def test_wrong_network_is_named(network_files):
    with pytest.raises(CheckpointError, match=r"latest_net_D\.keras is a discriminator, export needs a generator"):
        load_network(network_files["D"], "generator", purpose="export")


def test_truncated_keras_file_is_not_file_not_found(tmp_path, network_files):
    data = open(network_files["G"], "rb").read()
    truncated = tmp_path / "latest_net_G.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"^{truncated} is not a valid \.keras file \(BadZipFile"):
        load_network(str(truncated), "generator")
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(CheckpointError, match=rf"^{empty_zip} is not a valid \.keras file \(the archive holds "
                                              r"no config\.json, metadata\.json\)"):
        load_network(str(empty_zip))


def test_missing_and_pth_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"generator checkpoint not found: {tmp_path}/no\.keras$"):
        load_network(str(tmp_path / "no.keras"), "generator")
    pth = tmp_path / "latest_net_G.pth"
    pth.write_bytes(b"\x80\x02torch")
    with pytest.raises(CheckpointError, match=r"latest_net_G\.pth is not a \.keras file .*dagan-tf convert"):
        load_network(str(pth), "generator")


def _last_error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_cli_export_and_generate_name_the_bad_file(tmp_path, network_files, capsys):
    cfg = network_files["config"]
    out = str(tmp_path / "models")
    assert cli.main(["export", "--config", cfg, "--checkpoint", network_files["D"], "--out", out]) == 2
    assert _last_error_line(capsys) == (f"dagan-tf export: error: {network_files['D']} is a discriminator, "
                                        "export needs a generator (the *_net_G.keras file)")
    truncated = tmp_path / "latest_net_G.keras"
    data = open(network_files["G"], "rb").read()
    truncated.write_bytes(data[:1000])
    assert cli.main(["export", "--config", cfg, "--checkpoint", str(truncated), "--out", out]) == 2
    assert _last_error_line(capsys).startswith(f"dagan-tf export: error: {truncated} is not a valid .keras file")
    assert cli.main(["generate", "--config", cfg, "--checkpoint", str(truncated)]) == 2
    assert _last_error_line(capsys).startswith(f"dagan-tf generate: error: {truncated} is not a valid .keras file")
    assert not os.path.exists(out)


def test_a_wheel_of_the_checkout_ships_the_presets_and_the_demo_model(tmp_path):
    """configs/ is the one source of the presets; the wheel carries them as dagan_tf/presets/, and an
    installed copy (no checkout beside it) loads `load_config("ade20k")` by name, and the shipped demo
    generator by its name (`Synthesizer.from_preset("demo")`)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    source = tmp_path / "source"
    for name in tracked.decode().split("\0"):
        if name and os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(source / os.path.dirname(name), exist_ok=True)
            with open(os.path.join(REPO, name), "rb") as f:
                (source / name).write_bytes(f.read())
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(wheels)], check=True, capture_output=True)
    (wheel,) = wheels.glob("dagan_tf-*.whl")
    configs = sorted(n for n in os.listdir(os.path.join(REPO, "configs")) if n.endswith(".yaml"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(n[len("dagan_tf/presets/"):] for n in archive.namelist() if n.startswith("dagan_tf/presets/"))
        assert shipped == configs
        for name in configs:
            with open(os.path.join(REPO, "configs", name), "rb") as f:
                assert archive.read(f"dagan_tf/presets/{name}") == f.read()
        assert "dagan_tf/paint/static/index.html" in archive.namelist()
        assert archive.read("dagan_tf/pretrained/demo_net_G.keras") == open(
            os.path.join(REPO, "dagan_tf", "pretrained", "demo_net_G.keras"), "rb").read()

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = ("import dagan_tf, dagan_tf.config as c, dagan_tf.training.demo as d; print(dagan_tf.__file__); "
            "print(c.preset_names()); cfg = c.load_config('ade20k'); print(cfg.dataset_mode, cfg.label_nc); "
            "print(d.demo_config_path()); from dagan_tf.models import Synthesizer, generator_file; "
            "print(generator_file('demo')); print(Synthesizer.from_preset('demo').image_hw)")
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    assert out[0] == str(site / "dagan_tf" / "__init__.py")  # the installed copy, not the checkout
    assert out[1] == str([n[:-5] for n in configs])
    assert out[2] == "ade20k 150"
    assert out[3] == str(site / "dagan_tf" / "presets" / "demo.yaml")
    assert out[4] == str(site / "dagan_tf" / "pretrained" / "demo_net_G.keras")
    assert out[5] == "(128, 256)"
