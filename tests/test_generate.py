"""`dagan-tf generate` (dagan_tf/generate.py): PNGs and index.html from a generator checkpoint, and
the three ways to get z with `use_vae` (style image, paired photo, seeded noise)."""

import os
import re

import keras
import numpy as np
import pytest
from PIL import Image

from dagan_tf.config import load_config
from dagan_tf.data import build_dataset
from dagan_tf.data.demo import write_demo_dataset
from dagan_tf.generate import ResultsPage, checkpoint_epoch, encoder_path_for, generate_results, reparameterize
from dagan_tf.models import build_encoder, build_generator
from tests.helpers import semantic_map
from dagan_tf.visualize import label_colours

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("demo_data"))
    write_demo_dataset(root, count=30, size=64, seed=3, progress=False)  # 27 train + 3 val scenes
    return root


def _config(tmp, data_dir, **changes):
    values = dict(dataroot=data_dir, results_dir=os.path.join(tmp, "results"), name="gen", crop_size=64,
                  load_size=64, ngf=8, ndf=8, batchSize=2, z_dim=8)
    values.update(changes)
    return load_config(os.path.join(REPO, "configs", "demo.yaml"), values)


def _val_batch(cfg):
    return next(iter(build_dataset(cfg, "test", batch_size=3, shuffle=False)))


def _read(page_dir, kind, name):
    return np.asarray(Image.open(os.path.join(page_dir, "images", kind, f"{name}.png")))


def _to_uint8(x):
    return np.clip((np.asarray(x) + 1) / 2 * 255, 0, 255).astype(np.uint8)


def test_checkpoint_names():
    assert checkpoint_epoch("/a/latest_net_G.keras") == "latest"
    assert checkpoint_epoch("20_net_G.keras") == "20"
    assert checkpoint_epoch("my_gen.keras") == "my_gen"
    assert encoder_path_for("/a/20_net_G.keras") == "/a/20_net_E.keras"


def test_results_page_shows_label_generated_real(tmp_path, data_dir):
    cfg = _config(str(tmp_path), data_dir)
    g = build_generator(cfg)
    ckpt = str(tmp_path / "7_net_G.keras")
    g.save(ckpt)
    page = generate_results(cfg, ckpt, verbose=False)
    page_dir = os.path.join(cfg.results_dir, "gen", "test_7")
    assert page == os.path.join(page_dir, "index.html")
    html = open(page).read()
    names = [f"demo_{i:05d}" for i in range(3)]
    assert re.findall(r"<h3>([^<]+)</h3>", html) == names
    srcs = re.findall(r"<img[^>]*src='([^']+)'", html)
    assert srcs == [f"images/{k}/{n}.png" for n in names for k in ("input_label", "synthesized_image", "real_image")]

    batch = _val_batch(cfg)
    fake = g(semantic_map(batch["label"], batch["instance"], cfg), training=False)
    colours = label_colours(batch["label"].numpy(), cfg)
    for i, name in enumerate(names):
        assert _read(page_dir, "synthesized_image", name).shape == (32, 64, 3)
        diff = np.abs(_read(page_dir, "synthesized_image", name).astype(int) - _to_uint8(fake[i]).astype(int))
        assert diff.max() <= 1  # float rounding at a uint8 boundary at most
        np.testing.assert_array_equal(_read(page_dir, "input_label", name), colours[i])
        np.testing.assert_array_equal(_read(page_dir, "real_image", name), _to_uint8(batch["image"][i]))

    page = generate_results(cfg, ckpt, results_dir=str(tmp_path / "two"), how_many=2, verbose=False)
    assert len(re.findall(r"<h3>", open(page).read())) == 2
    assert sorted(os.listdir(tmp_path / "two" / "gen" / "test_7" / "images" / "real_image")) == [
        "demo_00000.png", "demo_00001.png"]


def test_wrong_config_is_named(tmp_path, data_dir):
    cfg = _config(str(tmp_path), data_dir)
    ckpt = str(tmp_path / "latest_net_G.keras")
    build_generator(cfg).save(ckpt)
    with pytest.raises(ValueError, match=r"latest_net_G.keras expects semantic maps \(32, 64, 9\) but the config "
                                         r"gives \(32, 64, 10\)"):
        generate_results(cfg.replace(label_nc=9), ckpt, verbose=False)
    with pytest.raises(ValueError, match="use_vae"):
        generate_results(cfg, ckpt, style_image=ckpt, verbose=False)
    with pytest.raises(FileNotFoundError, match="nothere_net_G.keras"):
        generate_results(cfg, str(tmp_path / "nothere_net_G.keras"), verbose=False)


def test_vae_style_paired_and_sampled_codes(tmp_path, data_dir):
    cfg = _config(str(tmp_path), data_dir, use_vae=True)
    g, e = build_generator(cfg), build_encoder(cfg)
    ckpt = str(tmp_path / "latest_net_G.keras")
    g.save(ckpt)
    e.save(str(tmp_path / "latest_net_E.keras"))
    batch = _val_batch(cfg)
    seg = semantic_map(batch["label"], batch["instance"], cfg)
    names = [f"demo_{i:05d}" for i in range(3)]

    def generated(results):
        page_dir = os.path.join(results, "gen", "test_latest")
        return np.stack([_read(page_dir, "synthesized_image", n) for n in names]).astype(int)

    def expect(z):
        return _to_uint8(g([seg, keras.ops.convert_to_tensor(z)], training=False)).astype(int)

    # style: one image's code for every label map
    style = os.path.join(data_dir, "train_img", "demo_00004.jpg")
    generate_results(cfg, ckpt, results_dir=str(tmp_path / "style"), style_image=style, seed=5, verbose=False)
    img = np.asarray(Image.open(style).convert("RGB").resize((64, 32), Image.BICUBIC), np.float32)[None] / 127.5 - 1
    mu, logvar = e(img, training=False)
    z = reparameterize(np.asarray(mu), np.asarray(logvar), np.random.default_rng(5))
    assert np.abs(generated(tmp_path / "style") - expect(np.repeat(z, 3, 0))).max() <= 1

    # paired: each label map's own photo
    generate_results(cfg, ckpt, results_dir=str(tmp_path / "paired"), seed=5, verbose=False)
    rng = np.random.default_rng(5)
    zs = []
    for start in (0, 2):  # batchSize 2: batches of 2 and 1, noise drawn batch by batch
        mu, logvar = e(batch["image"][start:start + 2], training=False)
        zs.append(reparameterize(np.asarray(mu), np.asarray(logvar), rng))
    assert np.abs(generated(tmp_path / "paired") - expect(np.concatenate(zs))).max() <= 1

    # no encoder: z ~ N(0, 1) from the seed
    os.remove(tmp_path / "latest_net_E.keras")
    generate_results(cfg, ckpt, results_dir=str(tmp_path / "noise"), seed=5, verbose=False)
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.standard_normal((2, 8)), rng.standard_normal((1, 8))]).astype(np.float32)
    assert np.abs(generated(tmp_path / "noise") - expect(z)).max() <= 1
    # the codes matter: style, paired and sampled pictures differ
    assert np.abs(generated(tmp_path / "noise") - generated(tmp_path / "paired")).mean() > 0.5
    with pytest.raises(FileNotFoundError, match="latest_net_E.keras"):
        generate_results(cfg, ckpt, style_image=style, verbose=False)


def test_generate_cli(tmp_path, data_dir, capsys):
    from dagan_tf.cli import main

    cfg = _config(str(tmp_path), data_dir)
    ckpt = str(tmp_path / "latest_net_G.keras")
    build_generator(cfg).save(ckpt)
    config_path = str(tmp_path / "gen.yaml")
    from dagan_tf.config import save_config

    save_config(cfg, config_path)
    assert main(["generate", "--config", config_path, "--checkpoint", ckpt, "--results-dir",
                 str(tmp_path / "cli"), "--how-many", "1"]) == 0
    page = capsys.readouterr().out.strip().splitlines()[-1]
    assert page == str(tmp_path / "cli" / "gen" / "test_latest" / "index.html") and os.path.isfile(page)
    assert main(["generate", "--config", config_path, "--checkpoint", str(tmp_path / "no.keras")]) == 2
    assert "generator checkpoint not found" in capsys.readouterr().err
    keras.backend.clear_session()


def test_how_many_beyond_the_split_says_how_many_and_why(tmp_path, data_dir, capsys):
    from dagan_tf.cli import main
    from dagan_tf.config import save_config

    cfg = _config(str(tmp_path), data_dir)
    ckpt = str(tmp_path / "latest_net_G.keras")
    build_generator(cfg).save(ckpt)
    config_path = str(tmp_path / "gen.yaml")
    save_config(cfg, config_path)
    argv = ["generate", "--config", config_path, "--checkpoint", ckpt, "--results-dir", str(tmp_path / "r")]
    assert main(argv + ["--how-many", "50"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2] == (f"wrote 3 images, fewer than the 50 asked for (--how-many): the test split "
                         f"(dataset_mode 'demo', {data_dir}) holds only 3 examples")
    images = os.listdir(os.path.join(os.path.dirname(lines[-1]), "images", "synthesized_image"))
    assert len(images) == 3
    split = f"dataset_mode 'demo', {data_dir}"
    page = ResultsPage(lines[-1], 2, 2, 3, split)
    assert page == lines[-1] and (page.written, page.requested, page.available) == (2, 2, 3)
    assert page.summary == f"wrote 2 images (--how-many 2; the test split ({split}) holds 3)"
    assert ResultsPage("p", 3, None, 3, split).summary == f"wrote 3 images: every example of the test split ({split})"
    assert ResultsPage("p", 1, 5, 1, split).summary == (
        f"wrote 1 image, fewer than the 5 asked for (--how-many): the test split ({split}) holds only 1 example")
    keras.backend.clear_session()


def test_truncated_label_ends_in_one_line_naming_it(tmp_path, capsys):
    from dagan_tf.cli import main
    from dagan_tf.config import save_config

    data = str(tmp_path / "data")
    write_demo_dataset(data, count=2, size=64, seed=4, progress=False)  # 1 train + 1 val scene
    bad = os.path.join(data, "val_label", "demo_00000.png")
    content = open(bad, "rb").read()
    open(bad, "wb").write(content[: len(content) // 2])
    cfg = _config(str(tmp_path), data)
    ckpt = str(tmp_path / "latest_net_G.keras")
    build_generator(cfg).save(ckpt)
    save_config(cfg, str(tmp_path / "gen.yaml"))
    assert main(["generate", "--config", str(tmp_path / "gen.yaml"), "--checkpoint", ckpt]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(rf"dagan-tf generate: error: cannot read label file {re.escape(bad)}: OSError: ", last), last
    keras.backend.clear_session()
