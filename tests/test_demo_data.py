"""dagan_tf.data.demo: procedural paired scenes, deterministic, textured, readable by the demo pipeline."""

import functools
import os

import numpy as np
import pytest
from PIL import Image

import dagan_tf.data.demo as demo
from dagan_tf.config import load_config
from dagan_tf.data import DataError, build_dataset, dataset_files
from tests.helpers import semantic_map

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    return np.asarray(Image.open(path))


def test_layout_file_formats_and_summary(tmp_path):
    summary = demo.write_demo_dataset(str(tmp_path), count=6, size=64, seed=5, progress=False)
    assert summary.startswith("wrote 5 train + 1 val demo scenes of 64x32 pixels (8 classes")
    assert str(tmp_path) in summary
    for phase, n in (("train", 5), ("val", 1)):
        names = sorted(os.listdir(tmp_path / f"{phase}_label"))
        assert names == [f"demo_{i:05d}.png" for i in range(n)]
        assert sorted(os.listdir(tmp_path / f"{phase}_img")) == [f"demo_{i:05d}.jpg" for i in range(n)]
        assert sorted(os.listdir(tmp_path / f"{phase}_inst")) == names
    label = Image.open(tmp_path / "train_label" / "demo_00000.png")
    inst = Image.open(tmp_path / "train_inst" / "demo_00000.png")
    img = Image.open(tmp_path / "train_img" / "demo_00000.jpg")
    assert (label.mode, label.size) == ("L", (64, 32))
    assert inst.mode.startswith("I") and inst.size == (64, 32)  # 16-bit PNG
    assert (img.mode, img.size) == ("RGB", (64, 32))
    assert np.asarray(label).max() < len(demo.DEMO_CLASSES)


def test_same_seed_same_scenes_other_seed_other_scenes(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        demo.write_demo_dataset(str(tmp_path / name), count=3, size=64, seed=seed, progress=False)
    for kind, ext in (("label", "png"), ("inst", "png"), ("img", "jpg")):
        for i in range(2):
            a = read(tmp_path / "a" / f"train_{kind}" / f"demo_{i:05d}.{ext}")
            np.testing.assert_array_equal(a, read(tmp_path / "b" / f"train_{kind}" / f"demo_{i:05d}.{ext}"))
    differ = [not np.array_equal(read(tmp_path / "a" / "train_label" / f"demo_{i:05d}.png"),
                                 read(tmp_path / "c" / "train_label" / f"demo_{i:05d}.png")) for i in range(2)]
    assert all(differ)


def scenes(n=16, h=64, w=128):
    return [demo.render_scene(np.random.default_rng((0, 0, i)), h, w) for i in range(n)]


def test_classes_and_instance_ids():
    seen = set()
    things = 0
    for label, instance, image in scenes():
        assert label.dtype == np.uint8 and instance.dtype == np.uint16 and image.shape == label.shape + (3,)
        seen.update(np.unique(label).tolist())
        thing_ids = [demo.DEMO_CLASSES.index(c) for c in demo.THING_CLASSES]
        stuff = ~np.isin(label, thing_ids)
        np.testing.assert_array_equal(instance[stuff], label[stuff])  # stuff: the class id
        for ident in np.unique(instance[~stuff]):
            cls = ident // 1000
            assert cls in thing_ids and (label[instance == ident] == cls).all()  # thing k of class c: c*1000+k
            things += 1
    assert seen == set(range(len(demo.DEMO_CLASSES)))  # all 8 classes appear in 16 scenes
    assert things >= 16


def test_classes_are_textured_and_distinct_in_colour():
    pixels = {c: [] for c in range(len(demo.DEMO_CLASSES))}
    for label, _, image in scenes():
        for c in pixels:
            pixels[c].append(image[label == c].astype(np.float32) / 255.0)
    means = {}
    for c, chunks in pixels.items():
        values = np.concatenate(chunks)
        assert len(values) > 50, demo.DEMO_CLASSES[c]
        assert values.std(0).mean() > 0.02, f"{demo.DEMO_CLASSES[c]} is flat"  # a texture, not a flat fill
        means[c] = values.mean(0)
    for a in means:
        for b in means:
            if a < b:
                assert np.abs(means[a] - means[b]).max() > 0.05, (demo.DEMO_CLASSES[a], demo.DEMO_CLASSES[b])


def test_demo_config_reads_the_data_in_batches(tmp_path):
    demo.write_demo_dataset(str(tmp_path), count=10, size=256, seed=0, progress=False)
    cfg = load_config(os.path.join(REPO, "configs", "demo.yaml"), {"dataroot": str(tmp_path)})
    assert cfg.label_nc == len(demo.DEMO_CLASSES) and cfg.image_hw == (64, 128)
    assert len(dataset_files(cfg, "train")) == 9 and len(dataset_files(cfg, "val")) == 1
    batch = next(iter(build_dataset(cfg, "train", batch_size=4)))
    assert batch["label"].shape == (4, 64, 128) and batch["image"].shape == (4, 64, 128, 3)
    assert int(batch["label"].numpy().max()) < cfg.label_nc and int(batch["instance"].numpy().max()) >= 1000
    seg = semantic_map(batch["label"], batch["instance"], cfg)
    assert seg.shape == (4, 64, 128, cfg.semantic_nc) == (4, 64, 128, 9)
    np.testing.assert_array_equal(seg.numpy()[..., :8].sum(-1), 1.0)


def test_ensure_demo_cache_fills_the_cache_read_by_an_empty_dataroot_with_a_log_line(tmp_path, monkeypatch, capsys):
    small = functools.partial(demo.write_demo_dataset, count=4, size=64, progress=False)
    monkeypatch.setattr(demo, "write_demo_dataset", small)
    monkeypatch.setenv(demo.DEMO_CACHE_VARIABLE, str(tmp_path / "cache"))
    cfg = load_config(os.path.join(REPO, "configs", "demo.yaml"))
    with pytest.raises(DataError, match="holds no demo data yet"):  # reading never fills it
        dataset_files(cfg, "train")
    assert not (tmp_path / "cache").exists()
    demo.ensure_demo_cache(progress=False)
    files = dataset_files(cfg, "train")
    assert len(files) == 3 and len(files.instances) == 3
    out = capsys.readouterr().out
    assert f"reads the demo-data cache {tmp_path / 'cache'}" in out and "wrote 3 train + 1 val" in out
    dataset_files(cfg, "train")
    assert "demo-data cache" not in capsys.readouterr().out  # only on first use
    with pytest.raises(DataError, match="make-demo-data"):  # a dataroot that holds nothing is not filled
        dataset_files(cfg.replace(dataroot=str(tmp_path / "fresh")), "train")
    assert not (tmp_path / "fresh").exists()


def test_cli_and_argument_errors(tmp_path, capsys):
    from dagan_tf.cli import main

    assert main(["make-demo-data", str(tmp_path), "--count", "3", "--size", "64", "--seed", "1"]) == 0
    assert "wrote 2 train + 1 val demo scenes of 64x32 pixels" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--size"):
        demo.write_demo_dataset(str(tmp_path), count=2, size=33)
    with pytest.raises(ValueError, match="--count"):
        demo.write_demo_dataset(str(tmp_path), count=0)
