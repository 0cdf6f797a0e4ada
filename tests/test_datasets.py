"""dagan_tf.data (layouts, loading, pipeline): file discovery and pairing per dataset_mode, loading as the
reference, the tf.data pipeline, errors.

The reference loader (SPADE `base_dataset.py` + `pix2pix_dataset.py`) is re-stated below with PIL and
NumPy; the pipeline must give the same label and instance maps exactly and photos within 0.03 mean
absolute difference (in [-1, 1] units).
"""

import os
import re
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dagan_tf.config import load_config
from dagan_tf.data import DataError, build_dataset, dataset_files, load_example, pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(name, **changes):
    return load_config(os.path.join(REPO, "configs", f"{name}.yaml"), changes)


# ------------------------------------------------------------------------------------------------
# The reference's loader, re-stated
# ------------------------------------------------------------------------------------------------
def reference_transform(img, cfg, is_train, method, crop_pos=(0, 0), flip=False):
    """SPADE get_transform for the modes used here (resize_and_crop, crop, fixed)."""
    mode = cfg.preprocess_mode
    load = cfg.load_size if is_train else cfg.crop_size  # the reference's test-time load_size
    if "resize" in mode:
        img = img.resize((load, load), method)
    if "crop" in mode and crop_pos is not None:  # None: stop before the crop
        x, y = crop_pos
        img = img.crop((x, y, x + cfg.crop_size, y + cfg.crop_size))
    if mode == "fixed":
        img = img.resize((cfg.crop_size, round(cfg.crop_size / cfg.aspect_ratio)), method)
    if is_train and flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def reference_example(cfg, label_path, image_path, instance_path, is_train, crop_pos=(0, 0), flip=False):
    label = Image.open(label_path)
    label_t = np.asarray(reference_transform(label, cfg, is_train, Image.NEAREST, crop_pos, flip))
    label_t = (label_t.astype(np.float32) / 255.0 * 255.0)  # ToTensor() * 255
    label_t[label_t == 255] = cfg.label_nc
    if cfg.dataset_mode == "ade20k":
        label_t = label_t - 1
        label_t[label_t == -1] = cfg.label_nc
    image = Image.open(image_path).convert("RGB")
    image_t = np.asarray(reference_transform(image, cfg, is_train, Image.BICUBIC, crop_pos, flip))
    out = {"label": label_t.astype(np.int64), "image": (image_t / 255.0 - 0.5) / 0.5}
    if instance_path:
        inst = Image.open(instance_path)
        inst_t = reference_transform(inst, cfg, is_train, Image.NEAREST, crop_pos, flip)
        out["instance"] = np.asarray(inst_t).astype(np.int64)
    return out


# ------------------------------------------------------------------------------------------------
# COCO-Stuff samples against the reference
# ------------------------------------------------------------------------------------------------
def test_coco_fixed_256_test_phase_equals_reference_loader(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), preprocess_mode="fixed", load_size=256, crop_size=256)
    files = dataset_files(cfg, "test")
    assert len(files) == 8 and len(files.instances) == 8
    examples = list(build_dataset(cfg, "test").as_numpy_iterator())
    assert len(examples) == 8
    image_diffs = []
    for ex, lab, img, inst in zip(examples, files.labels, files.images, files.instances):
        ref = reference_example(cfg, lab, img, inst, is_train=False)
        assert ex["path"].decode() == img
        assert ex["label"].dtype == np.int32 and ex["label"].shape == (256, 256)
        assert ex["instance"].dtype == np.int32 and ex["image"].dtype == np.float32
        np.testing.assert_array_equal(ex["label"], ref["label"])
        np.testing.assert_array_equal(ex["instance"], ref["instance"])
        image_diffs.append(np.abs(ex["image"] - ref["image"]).mean())
        assert ex["image"].min() >= -1.0 and ex["image"].max() <= 1.0
    assert max(image_diffs) < 0.03, image_diffs
    # The COCO samples do hold dontcare pixels: 255 in the file -> label_nc.
    assert any((ex["label"] == cfg.label_nc).any() for ex in examples)
    assert all(ex["label"].max() <= cfg.label_nc for ex in examples)


def test_coco_training_crops_and_flips_are_reference_transforms(coco_samples):
    """Every training example equals the reference's output for some crop position and flip, with label,
    instance and photo cropped and flipped together (a misaligned crop or flip matches no candidate);
    positions and flips vary."""
    cfg = config("coco", dataroot=str(coco_samples), load_size=72, crop_size=64, seed=3)
    files = dataset_files(cfg, "train")
    by_path = {img: (lab, inst) for lab, img, inst in zip(files.labels, files.images, files.instances)}
    found = []
    for ex in build_dataset(cfg, "train").as_numpy_iterator():
        lab, inst = by_path[ex["path"].decode()]
        # The reference's resize to load_size, then every crop position and flip (PIL crop inside the
        # image is a slice, FLIP_LEFT_RIGHT a reversal of the columns).
        ref = reference_example(cfg, lab, ex["path"].decode(), inst, is_train=True, crop_pos=None)
        matches = []
        for flip in (False, True):
            for y in range(72 - 64 + 1):
                for x in range(72 - 64 + 1):
                    window = {k: v[y:y + 64, x:x + 64] for k, v in ref.items()}
                    if flip:
                        window = {k: v[:, ::-1] for k, v in window.items()}
                    same_maps = all(np.array_equal(window[k], ex[k]) for k in ("label", "instance"))
                    if same_maps:
                        matches.append((x, y, flip, np.abs(window["image"] - ex["image"]).max()))
        assert matches, f"no reference crop reproduces {ex['path']}"
        assert min(m[3] for m in matches) < 1e-5  # the photo went through the very same crop and flip
        found.append(min(matches, key=lambda m: m[3])[:3])
    assert len(found) == 13
    assert len({(x, y) for x, y, _ in found}) > 3
    assert 0 < sum(f for _, _, f in found) < 13


def test_training_batches_drop_remainder_and_test_keeps_all(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), load_size=72, crop_size=64)
    train = list(build_dataset(cfg, "train", batch_size=4).as_numpy_iterator())
    assert [b["label"].shape for b in train] == [(4, 64, 64)] * 3  # 13 files, last 1 dropped
    assert train[0]["image"].shape == (4, 64, 64, 3) and train[0]["instance"].shape == (4, 64, 64)
    test = list(build_dataset(cfg, "test", batch_size=3).as_numpy_iterator())
    assert [b["label"].shape[0] for b in test] == [3, 3, 2]
    spec = build_dataset(cfg, "train", batch_size=4).element_spec
    assert spec["label"].shape.as_list() == [4, 64, 64] and spec["label"].dtype == tf.int32


def test_shuffle_is_seeded_and_changes_every_epoch(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), load_size=64, crop_size=64, preprocess_mode="resize_and_crop")
    ds = build_dataset(cfg, "train")
    first = [ex["path"] for ex in ds.as_numpy_iterator()]
    second = [ex["path"] for ex in ds.as_numpy_iterator()]
    again = [ex["path"] for ex in build_dataset(cfg, "train").as_numpy_iterator()]
    assert sorted(first) == sorted(second) and first != second
    assert first == again
    serial = build_dataset(cfg.replace(serial_batches=True), "train")
    ordered = [ex["path"].decode() for ex in serial.as_numpy_iterator()]
    assert ordered == list(dataset_files(cfg, "train").images)


def test_cache_gives_the_same_test_examples(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), load_size=64, crop_size=64, max_dataset_size=3)
    plain = list(build_dataset(cfg, "test").as_numpy_iterator())
    cached = build_dataset(cfg.replace(cache=True), "test")
    for _ in range(2):
        again = list(cached.as_numpy_iterator())
        assert len(again) == 3
        for a, b in zip(plain, again):
            np.testing.assert_array_equal(a["label"], b["label"])
            np.testing.assert_array_equal(a["image"], b["image"])


# ------------------------------------------------------------------------------------------------
# Fixture trees
# ------------------------------------------------------------------------------------------------
def save(path, array, **options):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **options)


def random_photo(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


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
        np.testing.assert_array_equal(ex["label"], ref["label"])
        np.testing.assert_array_equal(ex["instance"], ref["instance"])
        assert ex["instance"].max() >= 26000
        assert np.abs(ex["image"] - ref["image"]).mean() < 0.03
    # A label whose photo is missing is reported by name.
    os.remove(files.images[1])
    with pytest.raises(DataError, match="aachen_000001_000019_gtFine_labelIds.png"):
        dataset_files(cfg, "train")


def make_ade20k(root, rng, phase="train", n=3, h=40, w=56):
    split = {"train": "training", "val": "validation"}[phase]
    for i in range(1, n + 1):
        label = rng.integers(0, 151, (h, w), dtype=np.uint8)
        label[0, :4] = [0, 1, 150, 75]
        save(str(root / "ADEChallengeData2016" / "annotations" / split / f"ADE_{phase}_{i:08d}.png"), label)
        save(str(root / "ADEChallengeData2016" / "images" / split / f"ADE_{phase}_{i:08d}.jpg"),
             random_photo(rng, h, w), quality=95)


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
        np.testing.assert_array_equal(ex["label"], ref["label"])
        assert "instance" not in ex
    # The shift itself, without resizing: 0 -> label_nc (150), 1 -> 0, 150 -> 149.
    raw = np.asarray(Image.open(files.labels[0]))
    shifted = load_example(cfg.replace(preprocess_mode="crop"), files.labels[0], files.images[0], None, False)["label"]
    np.testing.assert_array_equal(shifted[0, :4], [150, 0, 149, 74])
    np.testing.assert_array_equal(shifted, np.where(raw == 0, 150, raw.astype(np.int32) - 1))


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


def first_error(ds):
    with pytest.raises(tf.errors.OpError) as err:
        for _ in ds:
            pass
    return str(err.value)


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
    # ...is fine with it (and becomes class label_nc).
    ex = load_example(cfg.replace(contain_dontcare_label=True, preprocess_mode="crop"),
                      str(tmp_path / "train_label" / "ok.png"), str(tmp_path / "train_img" / "ok.png"), None, False)
    assert ex["label"][3, 4] == 13
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


def test_max_dataset_size_and_bad_phase(coco_samples):
    cfg = config("coco", dataroot=str(coco_samples), max_dataset_size=5)
    files = dataset_files(cfg, "train")
    assert len(files) == 5 and len(files.instances) == 5
    with pytest.raises(DataError, match="phase 'training'"):
        dataset_files(cfg, "training")


def test_interpreter_exits_cleanly_with_a_live_iterator(coco_samples):
    """A script that stops reading an endless pipeline must exit, not hang in TensorFlow's threads."""
    script = (
        "from dagan_tf.config import load_config\n"
        "from dagan_tf.data import build_dataset\n"
        f"cfg = load_config({os.path.join(REPO, 'configs', 'coco.yaml')!r}, "
        f"{{'dataroot': {str(coco_samples)!r}, 'load_size': 64, 'crop_size': 64}})\n"
        "it = iter(build_dataset(cfg, 'train').repeat())\n"
        "for _ in range(3):\n"
        "    next(it)\n"
        "print('consumed', flush=True)\n"
    )
    for _ in range(2):  # the hang this guards against did not happen on every run
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=REPO, timeout=180)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert b"consumed" in result.stdout
        assert b"Traceback" not in result.stderr


def test_loader_calls_close_waits_for_running_calls_and_stops_new_ones():
    calls = pipeline._LoaderCalls()
    assert calls.enter()
    finished = []

    def finish_later():
        time.sleep(0.3)
        finished.append(time.monotonic())
        calls.leave()

    worker = threading.Thread(target=finish_later)
    worker.start()
    start = time.monotonic()
    calls.close(timeout=5.0, quiet=0.05)
    assert finished and time.monotonic() >= finished[0] + 0.05  # waited for the running call, then quiet
    assert time.monotonic() - start < 2.0
    assert not calls.enter()  # nothing new starts once closing
    worker.join()


# ------------------------------------------------------------------------------------------------
# One clear message per data fault (issue 10): DataError out of tf.data, photos, demo data
# ------------------------------------------------------------------------------------------------
def _facades_pair(root, rng, stem="a", h=40, w=30, photo=None):
    label = rng.integers(0, 13, (h, w), dtype=np.uint8)
    save(str(root / "train_label" / f"{stem}.png"), label)
    save(str(root / "train_img" / f"{stem}.png"), random_photo(rng, h, w) if photo is None else photo)
    return str(root / "train_label" / f"{stem}.png"), str(root / "train_img" / f"{stem}.png")


def test_truncated_label_is_recovered_as_data_error_from_the_iterator_and_fit(tmp_path):
    from dagan_tf.data import data_error_from

    rng = np.random.default_rng(20)
    for stem in ("a", "b"):
        label_path, _ = _facades_pair(tmp_path, rng, stem)
    good = (tmp_path / "train_label" / "b.png").read_bytes()
    (tmp_path / "train_label" / "b.png").write_bytes(good[: len(good) // 3])
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64, serial_batches=True)
    want = rf"^cannot read label file {tmp_path}/train_label/b\.png: OSError: "
    with pytest.raises(tf.errors.OpError) as caught:
        for _ in build_dataset(cfg, "train", batch_size=1):
            pass
    assert "IteratorGetNext" in str(caught.value)  # what the user saw: the op, not the file, ends the text
    error = data_error_from(caught.value)
    assert isinstance(error, DataError)
    assert re.match(want, str(error)) and "\n" not in str(error)
    # a real `fit` wraps it once more; the same DataError comes back
    model = tf.keras.Sequential([tf.keras.layers.Input((64 * 64,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    pairs = build_dataset(cfg, "train", batch_size=1).map(
        lambda ex: (tf.reshape(tf.cast(ex["label"], tf.float32), (-1, 64 * 64)), tf.zeros((1, 1))))
    with pytest.raises(Exception) as caught_fit:
        model.fit(pairs, epochs=1, verbose=0)
    assert data_error_from(caught_fit.value) is not None
    assert re.match(want, str(data_error_from(caught_fit.value)))
    # errors that are no data error stay None; a message from another process is read back
    assert data_error_from(ValueError("something else")) is None
    foreign = tf.errors.InvalidArgumentError(None, None, "Error in user-defined function: DataError: label file "
                                             "/elsewhere/x.png: 3 pixels have values 40\nTraceback ...")
    assert str(data_error_from(foreign)) == "label file /elsewhere/x.png: 3 pixels have values 40"


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
    label_path, photo_path = _facades_pair(tmp_path, rng, "a", 32, 64)
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
    label_path, photo_path = _facades_pair(tmp_path, rng, "a", 32, 64, photo=upright)
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # a camera held sideways: stored 32 wide, 64 high
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    Image.fromarray(stored).save(photo_path, exif=exif)
    got = load_example(cfg, label_path, photo_path, None, False)["image"]
    np.testing.assert_array_equal(got, upright)


def test_photo_label_size_mismatch_is_refused_naming_both(tmp_path, capsys):
    rng = np.random.default_rng(23)
    label_path, photo_path = _facades_pair(tmp_path, rng, "a", 40, 30, photo=random_photo(rng, 50, 30))
    cfg = config("facades", dataroot=str(tmp_path), load_size=64, crop_size=64)
    message = (f"image file {photo_path} is 30x50 but its label file {label_path} is 30x40; fix the pair, or "
               "set resize_mismatched_photos: true to resize photos with their label maps as the reference does "
               "(stretching them)")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_example(cfg, label_path, photo_path, None, True)
    stretched = load_example(cfg.replace(resize_mismatched_photos=True), label_path, photo_path, None, True)
    assert stretched["image"].shape == (64, 64, 3) and stretched["label"].shape == (64, 64)


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
