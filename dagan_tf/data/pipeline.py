"""The tf.data pipeline: paired files -> decoded, resized, cropped and flipped examples, batched.

Decoding and resizing run in PIL inside `tf.numpy_function` (loading.py; PIL releases the GIL, so the
parallel map uses every core); crop, flip and scaling to [-1, 1] run in TensorFlow (transforms.py).
"""

from __future__ import annotations

import atexit
import os
import threading
import time

import numpy as np
import tensorflow as tf

from dagan_tf.data import registry, transforms
from dagan_tf.data.errors import DataError, remember
from dagan_tf.data.loading import load_example

__all__ = ["build_dataset"]


class _LoaderCalls:
    """Counts the loader's calls from tf.data threads, and lets the interpreter exit cleanly.

    An iterator still alive when Python exits (a training loop stopped by max_steps, a global
    iterator) keeps calling the loader from TensorFlow's threads. A thread that needs the GIL while the
    interpreter finalises never returns, and the iterator's destructor then waits for it forever: the
    process hangs. `atexit` hooks run before finalisation, so at exit we stop loading (`enter` returns
    False and the caller returns empty arrays at once, which nobody reads) and wait until the running
    calls have returned and the pipelines are quiet.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._closing = False
        self._last_return = 0.0

    def enter(self) -> bool:
        """Register a call; False when the interpreter is exiting (load nothing)."""
        with self._lock:
            if self._closing:
                return False
            self._running += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            self._last_return = time.monotonic()

    def close(self, timeout: float = 10.0, quiet: float = 0.1) -> None:
        with self._lock:
            self._closing = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._running == 0 and time.monotonic() - self._last_return > quiet:
                    return
            time.sleep(0.01)


_LOADER_CALLS = _LoaderCalls()
atexit.register(_LOADER_CALLS.close)


def _loader(config, is_train: bool, with_instance: bool):
    """The tf.data map function: paths -> {'label' int32, 'image' uint8, 'path'[, 'instance' int32]},
    decoded and resized by `load_example` in a `tf.numpy_function`."""
    out_h, out_w = transforms.output_hw(config)

    def load_numpy(label_path, image_path, instance_path):
        if not _LOADER_CALLS.enter():  # exiting: placeholders that pass the shape checks below
            hw = (out_h or 0, out_w or 0)
            idle = [np.zeros(hw, np.int32), np.zeros(hw + (3,), np.uint8)]
            return idle + [np.zeros(hw, np.int32)] if with_instance else idle
        try:
            ex = load_example(config, os.fsdecode(label_path), os.fsdecode(image_path),
                              os.fsdecode(instance_path) if with_instance else None, is_train)
        except DataError as e:  # reaches the caller as a TF error: keep it for data_error_from
            raise remember(e)
        finally:
            _LOADER_CALLS.leave()
        arrays = [ex["label"], ex["image"]]
        return arrays + [ex["instance"]] if with_instance else arrays

    def load(paths):
        types = [tf.int32, tf.uint8] + ([tf.int32] if with_instance else [])
        arrays = tf.numpy_function(load_numpy, [paths["label_path"], paths["image_path"], paths["instance_path"]],
                                   types, stateful=False, name="load_example")
        ex = {"label": tf.ensure_shape(arrays[0], [None, None]),
              "image": tf.ensure_shape(arrays[1], [None, None, 3]),
              "path": paths["image_path"]}
        if with_instance:
            ex["instance"] = tf.ensure_shape(arrays[2], [None, None])
        return ex

    return load


def _cropper(config, is_train: bool, with_instance: bool):
    """The tf.data map function `(example, seed) -> example` cropped and flipped (one window and flip
    for label, instance and photo) and scaled to [-1, 1]."""
    window = transforms.crop_hw(config) if transforms.uses_crop(config) else None
    out_h, out_w = transforms.output_hw(config)

    def crop_flip(ex, seed):
        y0, x0, flip = transforms.crop_params(seed, tf.shape(ex["label"]), window or (0, 0), is_train,
                                              flip=not config.no_flip)
        # file values: the reference's zero padding (PIL crop past the border) is a 0 in the file too
        label = transforms.crop_and_flip(ex["label"], y0, x0, window, flip, 0)
        image = transforms.normalize_image(transforms.crop_and_flip(ex["image"], y0, x0, window, flip, 0))
        out = {"label": tf.ensure_shape(label, [out_h, out_w]),
               "image": tf.ensure_shape(image, [out_h, out_w, 3])}
        if with_instance:
            instance = transforms.crop_and_flip(ex["instance"], y0, x0, window, flip, 0)
            out["instance"] = tf.ensure_shape(instance, [out_h, out_w])
        out["path"] = ex["path"]
        return out

    return crop_flip


def build_dataset(config, phase: str, *, batch_size: int | None = None, shuffle: bool | None = None) -> tf.data.Dataset:
    """The examples of `config` for `phase` ('train', 'val' or 'test') as a tf.data.Dataset.

    Elements are dicts: 'label' int32 (H, W) file values, 'instance' int32 (H, W) unless `config.no_instance`,
    'image' float32 (H, W, 3) in [-1, 1], 'path' (the photo's path, a string); with `batch_size`, each
    gets a leading batch axis. Training crops and `fixed` outputs are (H, W) = `config.image_hw`.

    Training: random crop (same window for label, instance and photo), random horizontal flip unless
    `no_flip`, shuffled unless `serial_batches` (or `shuffle` says otherwise), incomplete last batch
    dropped (as the reference's `drop_last`). Other phases: centred crop, no flip, no shuffle, every
    example kept. Randomness derives from `config.seed` and changes every epoch.
    Uses parallel map (`nThreads`, 0 = autotune), caches the resized arrays in memory when
    `config.cache`, and prefetches.

    Files are found and paired now (DataError if anything is missing or unpaired); unreadable files and
    bad label values raise a DataError naming the file when the iterator reaches them, which surfaces as
    a TensorFlow error: `dagan_tf.data.data_error_from(error)` gives the DataError back.
    """
    files = registry.dataset_files(config, phase)
    is_train = phase == "train"
    if shuffle is None:
        shuffle = is_train and not config.serial_batches
    with_instance = bool(files.instances)
    parallel = config.nThreads if config.nThreads > 0 else tf.data.AUTOTUNE

    slices = {"label_path": list(files.labels), "image_path": list(files.images),
              "instance_path": list(files.instances) if with_instance else [""] * len(files)}
    ds = tf.data.Dataset.from_tensor_slices(slices)
    if shuffle and not config.cache:
        ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.map(_loader(config, is_train, with_instance), num_parallel_calls=parallel)
    if config.cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, seeds)).map(_cropper(config, is_train, with_instance), num_parallel_calls=parallel)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=is_train, num_parallel_calls=parallel)
    return ds.prefetch(tf.data.AUTOTUNE)
