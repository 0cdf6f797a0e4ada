"""dagan_tf.data.pipeline: build_dataset against the reference's loader (tests/reference_loader.py) on
the real COCO-Stuff samples, batching, shuffling, caching, clean interpreter exit, DataError out of tf.data."""

import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.data import DataError, build_dataset, dataset_files, pipeline
from tests.reference_loader import REPO, class_ids, config, facades_pair, reference_example



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
        np.testing.assert_array_equal(class_ids(ex["label"], cfg), ref["label"])
        np.testing.assert_array_equal(ex["instance"], ref["instance"])
        image_diffs.append(np.abs(ex["image"] - ref["image"]).mean())
        assert ex["image"].min() >= -1.0 and ex["image"].max() <= 1.0
    assert max(image_diffs) < 0.03, image_diffs
    # The COCO samples do hold dontcare pixels: 255 in the file -> label_nc.
    assert any((class_ids(ex["label"], cfg) == cfg.label_nc).any() for ex in examples)
    assert all(class_ids(ex["label"], cfg).max() <= cfg.label_nc for ex in examples)


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
                    same_maps = (np.array_equal(window["label"], class_ids(ex["label"], cfg))
                                 and np.array_equal(window["instance"], ex["instance"]))
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


def test_truncated_label_is_recovered_as_data_error_from_the_iterator_and_fit(tmp_path):
    from dagan_tf.data import data_error_from

    rng = np.random.default_rng(20)
    for stem in ("a", "b"):
        label_path, _ = facades_pair(tmp_path, rng, stem)
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
