import pathlib

import pytest

from dagan_tf.config import ConfigError, DAGANConfig, load_config, parse_overrides, save_config

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
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["ngf"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
