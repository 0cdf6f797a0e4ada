"""dagan_tf.data.loading: one example as the reference loads it (the ADE20K shift, 16-bit and EXIF photos),
and DataErrors naming the bad file (label values, unreadable files, size mismatches)."""

import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dagan_tf.data import DataError, build_dataset, dataset_files, load_example
from tests.reference_loader import (class_ids, config, facades_pair, first_error, make_ade20k, random_photo,
                                    reference_example, save)



def test_ade20k_shift_and_phase_selection(tmp_path):
    rng = np.random.default_rng(1)
    make_ade20k(tmp_path, rng, "train", n=3)
    make_ade20k(tmp_path, rng, "val", n=2)
    cfg = config("ade20k", dataroot=str(tmp_path), load_size=64, crop_size=64)
    assert len(dataset_files(cfg, "train")) == 3
    files = dataset_files(cfg, "test")
    assert len(files) == 2 and all("_val_" in p for p in files.labels + files.images)
    out = list(build_dataset(cfg, "test").as_numpy_iterator())
    for ex, lab, img in zip(out, files.labels, files.images):
        ref = reference_example(cfg, lab, img, None, is_train=False)
        np.testing.assert_array_equal(class_ids(ex["label"], cfg), ref["label"])
        assert "instance" not in ex
    # Loading keeps the file's values; the shift is the preprocessor's: 0 -> label_nc (150), 1 -> 0, 150 -> 149.
    raw = np.asarray(Image.open(files.labels[0]))
    loaded = load_example(cfg.replace(preprocess_mode="crop"), files.labels[0], files.images[0], None, False)["label"]
    np.testing.assert_array_equal(loaded, raw)
    shifted = class_ids(loaded, cfg)
    np.testing.assert_array_equal(shifted[0, :4], [150, 0, 149, 74])
    np.testing.assert_array_equal(shifted, np.where(raw == 0, 150, raw.astype(np.int32) - 1))


def test_bad_files_raise_errors_naming_them(tmp_path):
    rng = np.random.default_rng(4)
    label = rng.integers(0, 13, (40, 30), dtype=np.uint8)
    save(str(tmp_path / "train_label" / "ok.png"), label)
    save(str(tmp_path / "train_img" / "ok.png"), random_photo(rng, 40, 30))
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64, serial_batches=True)
    assert len(list(build_dataset(cfg, "train"))) == 1

    # Label value >= label_nc.
    bad = label.copy()
    bad[3, 4] = 13
    save(str(tmp_path / "train_label" / "ok.png"), bad)
    message = first_error(build_dataset(cfg, "train"))
    assert "ok.png" in message and "label_nc = 13" in message and "values 13" in message
    # 255 without contain_dontcare_label.
    bad[3, 4] = 255
    save(str(tmp_path / "train_label" / "ok.png"), bad)
    assert "contain_dontcare_label is false" in first_error(build_dataset(cfg, "train"))
    # ...is fine with it (and becomes class label_nc in the model).
    dontcare_cfg = cfg.replace(contain_dontcare_label=True, preprocess_mode="crop")
    ex = load_example(dontcare_cfg, str(tmp_path / "train_label" / "ok.png"), str(tmp_path / "train_img" / "ok.png"),
                      None, False)
    assert ex["label"][3, 4] == 255 and class_ids(ex["label"], dontcare_cfg)[3, 4] == 13
    save(str(tmp_path / "train_label" / "ok.png"), label)

    # A corrupt photo, a truncated one and an RGB label map.
    (tmp_path / "train_img" / "ok.png").write_bytes(b"not an image at all" * 10)
    assert "cannot read image file" in first_error(build_dataset(cfg, "train"))
    buffer = tmp_path / "full.png"
    Image.fromarray(random_photo(rng, 40, 30)).save(str(buffer))
    (tmp_path / "train_img" / "ok.png").write_bytes(buffer.read_bytes()[:200])
    message = first_error(build_dataset(cfg, "train"))
    assert "cannot read image file" in message and "ok.png" in message
    save(str(tmp_path / "train_img" / "ok.png"), random_photo(rng, 40, 30))
    save(str(tmp_path / "train_label" / "ok.png"), random_photo(rng, 40, 30))
    message = first_error(build_dataset(cfg, "train"))
    assert "label file" in message and "'RGB'" in message and "ok.png" in message


def _png_16bit_rgb(path, array):
    """A 16-bit-per-channel RGB PNG (PIL cannot write one): IHDR bit depth 16, colour type 2."""
    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_16bit_photos_scale_like_their_8bit_equivalent(tmp_path):
    rng = np.random.default_rng(21)
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64, preprocess_mode="none")
    label_path, photo_path = facades_pair(tmp_path, rng, "a", 32, 64)
    eight = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    sixteen = eight.astype(np.uint16) * 257  # the same picture with 16 bits per sample
    # grey, PIL mode I;16: was clipped at 255 (almost white)
    Image.fromarray(sixteen[..., 0]).save(photo_path)
    assert Image.open(photo_path).mode == "I;16"
    got = load_example(cfg, label_path, photo_path, None, False)["image"]
    np.testing.assert_array_equal(got, np.repeat(eight[..., :1], 3, axis=-1))
    # RGB, 16 bits per channel
    _png_16bit_rgb(tmp_path / "train_img" / "a.png", sixteen)
    got = load_example(cfg, label_path, photo_path, None, False)["image"]
    assert np.abs(got.astype(int) - eight).max() <= 1  # PIL keeps the high byte: within one level of 8-bit


def test_exif_orientation_is_applied(tmp_path):
    rng = np.random.default_rng(22)
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64, preprocess_mode="none")
    upright = random_photo(rng, 32, 64)  # as shown: 64 wide, 32 high
    label_path, photo_path = facades_pair(tmp_path, rng, "a", 32, 64, photo=upright)
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # a camera held sideways: stored 32 wide, 64 high
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    Image.fromarray(stored).save(photo_path, exif=exif)
    got = load_example(cfg, label_path, photo_path, None, False)["image"]
    np.testing.assert_array_equal(got, upright)


def test_photo_label_size_mismatch_is_refused_naming_both(tmp_path, capsys):
    rng = np.random.default_rng(23)
    label_path, photo_path = facades_pair(tmp_path, rng, "a", 40, 30, photo=random_photo(rng, 50, 30))
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64)
    message = (f"image file {photo_path} is 30x50 but its label file {label_path} is 30x40; fix the pair, or "
               "set resize_mismatched_photos: true to resize photos with their label maps as the reference does "
               "(stretching them)")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_example(cfg, label_path, photo_path, None, True)
    stretched = load_example(cfg.replace(resize_mismatched_photos=True), label_path, photo_path, None, True)
    assert stretched["image"].shape == (64, 64, 3) and stretched["label"].shape == (64, 64)


def test_instance_label_size_mismatch_is_refused_naming_both(tmp_path):
    rng = np.random.default_rng(24)
    label_path, photo_path = facades_pair(tmp_path, rng, "a", 40, 30)
    instance_path = str(tmp_path / "train_inst" / "a.png")
    save(instance_path, rng.integers(0, 5, (44, 30), dtype=np.uint8))
    cfg = config("coco", dataroot=str(tmp_path), label_nc=13, load_size=64, crop_size=64)
    message = (f"instance file {instance_path} is 30x44 but its label file {label_path} is 30x40; fix the pair, or "
               "set resize_mismatched_photos: true to resize photos and instance maps with their label maps as the "
               "reference does")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_example(cfg, label_path, photo_path, instance_path, True)
    resized = load_example(cfg.replace(resize_mismatched_photos=True), label_path, photo_path, instance_path, True)
    assert resized["instance"].shape == (64, 64)
