"""dagan_tf.data.layouts (through registry.dataset_files): finding and pairing files per dataset_mode, the
errors naming folders, layouts and unpaired files, and the demo layout that reads but never writes."""

import os

import numpy as np
import pytest
from PIL import Image

from dagan_tf.data import DataError, build_dataset, dataset_files
from tests.reference_loader import class_ids, config, random_photo, reference_example, save



def test_cityscapes_pairs_by_three_fields_and_keeps_16bit_instances(tmp_path):
    rng = np.random.default_rng(0)
    h, w = 48, 96
    names = [("aachen", "000000", "000019"), ("aachen", "000001", "000019"), ("bremen", "000002", "000001")]
    for city, seq, frame in names:
        stem = f"{city}_{seq}_{frame}"
        gt = tmp_path / "gtFine" / "train" / city
        label = rng.integers(0, 34, (h, w), dtype=np.uint8)
        inst = np.where(rng.random((h, w)) < 0.5, 26000 + rng.integers(0, 5, (h, w)), label).astype(np.uint16)
        save(str(gt / f"{stem}_gtFine_labelIds.png"), label)
        save(str(gt / f"{stem}_gtFine_instanceIds.png"), inst)
        save(str(gt / f"{stem}_gtFine_color.png"), random_photo(rng, h, w))  # ignored
        save(str(tmp_path / "leftImg8bit" / "train" / city / f"{stem}_leftImg8bit.png"), random_photo(rng, h, w))
    cfg = config("cityscapes", dataroot=str(tmp_path), crop_size=128, load_size=128)
    assert cfg.image_hw == (64, 128)
    files = dataset_files(cfg, "train")
    assert [os.path.basename(p)[:20] for p in files.images] == [os.path.basename(p)[:20] for p in files.labels]
    assert all(p.endswith("_instanceIds.png") for p in files.instances) and len(files) == 3
    assert Image.open(files.instances[0]).mode.startswith("I")
    out = list(build_dataset(cfg.replace(no_flip=True), "train", shuffle=False).as_numpy_iterator())
    for ex, lab, img, inst in zip(out, files.labels, files.images, files.instances):
        ref = reference_example(cfg, lab, img, inst, is_train=True)  # fixed: resize to 128 x 64
        assert ex["label"].shape == (64, 128)
        np.testing.assert_array_equal(class_ids(ex["label"], cfg), ref["label"])
        np.testing.assert_array_equal(ex["instance"], ref["instance"])
        assert ex["instance"].max() >= 26000
        assert np.abs(ex["image"] - ref["image"]).mean() < 0.03
    # A label whose photo is missing is reported by name.
    os.remove(files.images[1])
    with pytest.raises(DataError, match="aachen_000001_000019_gtFine_labelIds.png"):
        dataset_files(cfg, "train")


def test_facades_pairing_errors_name_files(tmp_path):
    rng = np.random.default_rng(2)
    for stem in ("cmp_b0001", "cmp_b0002", "cmp_b0010"):
        save(str(tmp_path / "train_label" / f"{stem}.png"), rng.integers(0, 13, (40, 30), dtype=np.uint8))
        save(str(tmp_path / "train_img" / f"{stem}.jpg"), random_photo(rng, 40, 30))
    cfg = config("facades", dataroot=str(tmp_path), load_size=72, crop_size=64)
    files = dataset_files(cfg, "train")
    assert [os.path.basename(p) for p in files.labels] == ["cmp_b0001.png", "cmp_b0002.png", "cmp_b0010.png"]
    assert [os.path.basename(p) for p in files.images] == ["cmp_b0001.jpg", "cmp_b0002.jpg", "cmp_b0010.jpg"]
    assert files.instances == ()
    Image.fromarray(random_photo(rng, 40, 30)).save(str(tmp_path / "train_img" / "cmp_b0099.jpg"))
    with pytest.raises(DataError, match=r"1 image files have no label file: cmp_b0099\.jpg"):
        dataset_files(cfg, "train")
    with pytest.raises(DataError, match=r"no label files found.*val_label.*expected"):
        dataset_files(cfg, "test")


def test_no_files_error_names_folders_and_layout(tmp_path):
    cfg = config("coco", dataroot=str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        dataset_files(cfg, "train")
    message = str(err.value)
    assert "train_label" in message and "train_img" in message and "train_inst" in message
    assert "expected" in message and "paired by file name stem" in message


def test_custom_layout_with_phase_placeholder_and_missing_instances(tmp_path):
    rng = np.random.default_rng(3)
    for phase in ("train", "val"):
        for stem in ("a", "b"):
            save(str(tmp_path / f"{phase}_lbl" / f"{stem}.png"), rng.integers(0, 19, (32, 32), dtype=np.uint8))
            save(str(tmp_path / f"{phase}_photo" / f"{stem}.png"), random_photo(rng, 32, 32))
    cfg = config("celeba", label_dir=str(tmp_path / "{phase}_lbl"), image_dir=str(tmp_path / "{phase}_photo"),
                 load_size=72, crop_size=64)
    assert "val_lbl" in dataset_files(cfg, "test").labels[0]
    assert "train_lbl" in dataset_files(cfg, "train").labels[0]
    with pytest.raises(DataError, match="instance_dir"):
        dataset_files(cfg.replace(no_instance=False), "train")
    save(str(tmp_path / "inst" / "a.png"), np.zeros((32, 32), np.uint8))
    with pytest.raises(DataError, match=r"1 label files have no instance file: b\.png"):
        dataset_files(cfg.replace(no_instance=False, instance_dir=str(tmp_path / "inst")), "train")


def test_max_dataset_size_and_bad_phase(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), max_dataset_size=5)
    files = dataset_files(cfg, "train")
    assert len(files) == 5 and len(files.instances) == 5
    with pytest.raises(DataError, match="phase 'training'"):
        dataset_files(cfg, "training")


def test_demo_data_goes_only_where_asked(tmp_path, monkeypatch, capsys):
    from dagan_tf.data import demo

    small = demo.write_demo_dataset
    monkeypatch.setattr(demo, "write_demo_dataset", lambda out, **kw: small(out, count=4, size=64, progress=False))
    cache = tmp_path / "cache"
    monkeypatch.setenv(demo.DEMO_CACHE_VARIABLE, str(cache))
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    cfg = config("demo")
    assert cfg.dataroot == ""
    # reading never writes: an empty cache is an error saying how to fill it
    with pytest.raises(DataError, match=rf"^dataset_mode 'demo': the demo-data cache {cache} holds no demo data "
                                        rf"yet .*`dagan-tf make-demo-data {cache}`"):
        dataset_files(cfg, "train")
    assert not cache.exists() and capsys.readouterr().out == ""
    demo.ensure_demo_cache()  # writing is explicit
    files = dataset_files(cfg, "train")
    assert len(files) == 3 and all(p.startswith(str(cache) + os.sep) for p in files.labels)
    said = capsys.readouterr().out
    assert f"reads the demo-data cache {cache}; writing the demo scenes there once (set DAGAN_TF_DEMO_DATA" in said
    assert os.listdir(workdir) == [] and sorted(os.listdir(tmp_path)) == ["cache", "work"]
    assert len(dataset_files(cfg, "test")) == 1 and capsys.readouterr().out == ""  # filled once
    with pytest.raises(DataError, match=rf"^dataset_mode 'demo': no demo data in {tmp_path}/none \(no train_label "
                                        r"folder\); write it with `dagan-tf make-demo-data .*none`"):
        dataset_files(cfg.replace(dataroot=str(tmp_path / "none")), "train")
    assert not (tmp_path / "none").exists()
    monkeypatch.delenv(demo.DEMO_CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo.demo_cache_dir() == str(tmp_path / "xdg" / "dagan_tf" / "demo")
