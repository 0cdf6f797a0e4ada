import os
import pathlib
import re
import sys
import time

import pytest
import yaml

from dagan_tf.config import ConfigError, DAGANConfig, load_config, parse_overrides, preset_path, save_config

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name,label_nc,semantic_nc,image_hw", [
    ("cityscapes", 35, 36, (256, 512)),
    ("ade20k", 150, 151, (256, 256)),
    ("facades", 13, 13, (1024, 1024)),
    ("celeba", 19, 19, (512, 512)),
    ("coco", 182, 184, (256, 256)),
    ("deepfashion", 20, 20, (256, 256)),
])
def test_dataset_configs_have_reference_defaults(name, label_nc, semantic_nc, image_hw):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.label_nc == label_nc
    assert cfg.semantic_nc == semantic_nc
    assert cfg.image_hw == image_hw


def test_every_yaml_loads():
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert {"cityscapes", "ade20k", "facades", "celeba", "coco", "deepfashion", "custom"} <= set(names)
    for p in CONFIGS.glob("*.yaml"):
        assert isinstance(load_config(p), DAGANConfig)


def test_latent_grid_matches_reference_rule():
    cfg = DAGANConfig(crop_size=512, load_size=512, aspect_ratio=2.0, num_upsampling_layers="more")
    assert cfg.latent_hw == (4, 8) and cfg.num_up == 6
    cfg = DAGANConfig(crop_size=256, aspect_ratio=1.5)
    assert cfg.latent_hw == (round(8 / 1.5), 8) == (5, 8)
    assert cfg.image_hw == (160, 256)
    assert DAGANConfig(num_upsampling_layers="most", crop_size=256, ngf=64).final_nc == 32


def test_unknown_key_suggests_closest(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("label_ncc: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    msg = str(e.value)
    assert "label_ncc" in msg and "label_nc" in msg and str(f) in msg


def test_wrong_type_names_key_value_and_type():
    with pytest.raises(ConfigError, match=r"'ngf'.*'64'.*expected int"):
        load_config(None, {"ngf": "64"})
    with pytest.raises(ConfigError, match="'use_vae'"):
        load_config(None, {"use_vae": 1})
    assert load_config(None, {"aspect_ratio": 2}).aspect_ratio == 2.0  # int is fine for a float


def test_impossible_combinations():
    with pytest.raises(ConfigError, match=r"'crop_size'.*100.*2\*\*5 = 32"):
        load_config(None, {"crop_size": 100, "load_size": 100})
    with pytest.raises(ConfigError, match=r"'norm_G'.*spectralspadefoo3x3"):
        load_config(None, {"norm_G": "spectralspadefoo3x3"})
    with pytest.raises(ConfigError, match=r"'norm_D'.*'spectralgroup'"):
        load_config(None, {"norm_D": "spectralgroup"})
    with pytest.raises(ConfigError, match=r"'num_upsampling_layers'.*'mor'.*Did you mean 'more'"):
        load_config(None, {"num_upsampling_layers": "mor"})
    with pytest.raises(ConfigError, match=r"'load_size'.*200.*crop_size 256"):
        load_config(None, {"load_size": 200})


def test_overrides_and_roundtrip(tmp_path):
    overrides = parse_overrides(["ngf=16", "use_vae=true", "name=x", "aspect_ratio=2.0"])
    assert overrides == {"ngf": 16, "use_vae": True, "name": "x", "aspect_ratio": 2.0}
    cfg = load_config(CONFIGS / "ade20k.yaml", overrides)
    assert (cfg.ngf, cfg.use_vae, cfg.label_nc) == (16, True, 150)
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    with pytest.raises(ConfigError, match="--set ngf: not of the form KEY=VALUE"):
        parse_overrides(["ngf"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


# ---------------------------------------------------------------------------------------------
# ranges, norm strings, empty files, --set (issue 10: every bad value named, by file or by --set)
# ---------------------------------------------------------------------------------------------
def _cli_error(capsys, argv) -> str:
    """Run `dagan-tf` in-process; assert exit code 2 and return the last stderr line."""
    from dagan_tf import cli

    assert cli.main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("key,value,message", [
    ("niter", -1, "config key 'niter': value -1 must be >= 0"),
    ("niter_decay", -2, "config key 'niter_decay': value -2 must be >= 0"),
    ("lr", -1, "config key 'lr': value -1.0 must be > 0"),
    ("lr", 0, "config key 'lr': value 0.0 must be > 0"),
    ("beta1", 5, "config key 'beta1': value 5.0 must be in [0, 1)"),
    ("beta2", 1, "config key 'beta2': value 1.0 must be in [0, 1)"),
    ("beta1", -0.1, "config key 'beta1': value -0.1 must be in [0, 1)"),
    ("lambda_feat", -10, "config key 'lambda_feat': value -10.0 must be >= 0"),
    ("lambda_vgg", -1, "config key 'lambda_vgg': value -1.0 must be >= 0"),
    ("lambda_kld", -0.05, "config key 'lambda_kld': value -0.05 must be >= 0"),
    ("save_latest_freq", 0, "config key 'save_latest_freq': value 0 must be >= 1"),
    ("save_epoch_freq", 0, "config key 'save_epoch_freq': value 0 must be >= 1"),
    ("print_freq", -1, "config key 'print_freq': value -1 must be >= 1"),
    ("display_freq", 0, "config key 'display_freq': value 0 must be >= 1"),
    ("max_dataset_size", -5, "config key 'max_dataset_size': value -5 must be >= 0 (0 = no limit)"),
    ("nThreads", -3, "config key 'nThreads': value -3 must be >= 0 (0 = tf.data.AUTOTUNE)"),
    ("seed", -1, "config key 'seed': value -1 must be >= 0"),
    ("init_variance", 0, "config key 'init_variance': value 0.0 must be > 0"),
    ("lr", float("nan"), "config key 'lr': value nan must be a finite number"),
    ("norm_G", "spadeinstance5x3", "config key 'norm_G': value 'spadeinstance5x3' has kernel 5x3; SPADE kernels "
                                   "are square and odd (1x1, 3x3, 5x5, 7x7 or 9x9), e.g. 'spadeinstance3x3'"),
    ("norm_G", "spectralspadebatch4x4", "config key 'norm_G': value 'spectralspadebatch4x4' has kernel 4x4"),
])
def test_every_numeric_range_and_norm_string_is_checked(tmp_path, capsys, key, value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}") as caught:
        DAGANConfig(**{key: value})
    assert caught.value.key == key
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(yaml.safe_dump({"name": "x", key: value}))
    last = _cli_error(capsys, ["train", "--config", str(bad_yaml)])
    assert last.startswith(f"dagan-tf train: error: {bad_yaml}: {message}")


def test_limits_themselves_are_allowed():
    cfg = DAGANConfig(niter=0, niter_decay=1, beta1=0.0, beta2=0.999, lambda_feat=0, lambda_vgg=0, lambda_kld=0,
                      save_latest_freq=1, max_dataset_size=sys.maxsize, nThreads=0, norm_G="spadebatch5x5")
    assert (cfg.niter, cfg.max_dataset_size, cfg.norm_G) == (0, sys.maxsize, "spadebatch5x5")
    with pytest.raises(ConfigError, match=r"^config key 'niter': niter \+ niter_decay = 0 \+ 0 trains no epoch"):
        DAGANConfig(niter=0, niter_decay=0)


def test_empty_yaml_is_an_error_naming_the_file(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing but a comment\n")
    with pytest.raises(ConfigError, match=f"^config file {re.escape(str(empty))} is empty"):
        load_config(empty)
    assert _cli_error(capsys, ["generate", "--config", str(empty), "--checkpoint", "G.keras"]) == (
        f"dagan-tf generate: error: config file {empty} is empty; it must hold a mapping of option names to "
        "values (see configs/*.yaml)")


def test_set_errors_name_the_set_item_not_the_file(capsys):
    demo = str(CONFIGS / "demo.yaml")
    cases = {
        "lr=-1": "--set lr=-1: config key 'lr': value -1.0 must be > 0",
        "ngf=abc": "config key 'ngf' in --set ngf=abc: value 'abc' is a str, expected int",
        "ngff=16": "--set ngff=16: unknown config key 'ngff'. Did you mean 'ngf'?",
        "norm_G=spadeinstance5x3": "--set norm_G=spadeinstance5x3: config key 'norm_G': value 'spadeinstance5x3' "
                                   "has kernel 5x3",
        "name=[": "--set name=[: the value is not a YAML scalar",
    }
    for item, message in cases.items():
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            load_config(demo, parse_overrides([item]))
        last = _cli_error(capsys, ["train", "--config", demo, "--set", item])
        assert last.startswith(f"dagan-tf train: error: {message}"), last
        assert demo not in last
    with pytest.raises(ConfigError, match=r"^--set lr=-1: config key 'lr'"):
        load_config(None, parse_overrides(["lr=-1"]))
    with pytest.raises(ConfigError, match=r"^--set lr=-1: config key 'lr'"):
        load_config(None, {"lr": -1})  # a plain dict: the item is rebuilt from the value
    with pytest.raises(ConfigError, match=r"^--set =3: not of the form KEY=VALUE"):
        parse_overrides(["=3"])


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    """The 800-byte alias bomb (each level nine times the one before) ends at once, in one short line."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
               f"*a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nname: *a8\n")
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_config(str(bomb))
    assert time.monotonic() - start < 2.0
    assert str(err.value) == (f"config file {bomb}: line 2: YAML aliases (*a0) are not allowed in a config; "
                              "write the value out")
    with pytest.raises(ConfigError, match=r"--set name=\*x: .*YAML aliases"):
        load_config("demo", parse_overrides(["name=*x"]))


def test_duplicate_keys_are_refused_naming_the_key_and_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: dup\nngf: 8\nlabel_nc: 3\nngf: 64\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value) == f"config file {path}: duplicate key 'ngf' (lines 2 and 4); keep one"
    assert err.value.key == "ngf"


def test_error_messages_bound_the_values_they_show(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("name: [" + ", ".join(["abcdefgh"] * 5000) + "]\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert "(60000 characters) is a list, expected str" in str(err.value) and len(str(err.value)) < 500
    path.write_text("x" * 1000 + ": 1\n")  # YAML's longest plain key
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert "unknown config key 'xxxx" in str(err.value) and len(str(err.value)) < 500


def test_a_preset_name_is_found_whatever_the_current_folder_holds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("demo")  # e.g. after `dagan-tf make-demo-data demo`
    assert load_config("demo").dataset_mode == "demo"
    assert preset_path("demo").endswith(os.path.join("", "demo.yaml"))
    (tmp_path / "custom").write_text("name: mine\ndataset_mode: custom\n")  # a file wins over the preset
    assert load_config("custom").name == "mine"
    os.mkdir("no_such_preset")
    with pytest.raises(ConfigError, match=r"config file not found: no_such_preset \(a folder, not a config file, "
                                          r"nor a preset name: ade20k, "):
        load_config("no_such_preset")
