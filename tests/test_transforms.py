"""dagan_tf.data.transforms: the reference's preprocess modes, crop parameters, crop and flip."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dagan_tf.config import DAGANConfig
from dagan_tf.data import transforms


def cfg(mode, load=286, crop=256, aspect=1.0, **kw):
    return DAGANConfig(preprocess_mode=mode, load_size=load, crop_size=crop, aspect_ratio=aspect, **kw)


@pytest.mark.parametrize("mode, size, train, expected", [
    # (width, height) in PIL order, as the reference's get_transform computes them.
    ("resize_and_crop", (640, 480), True, (286, 286)),
    ("resize_and_crop", (640, 480), False, (256, 256)),  # test phase: load_size = crop_size
    ("scale_width", (640, 480), True, (286, 214)),  # int(286 * 480 / 640) = 214
    ("scale_width_and_crop", (500, 375), True, (286, 214)),  # int(286 * 375 / 500) = 214.5 -> 214
    ("scale_width_and_crop", (286, 999), True, (286, 999)),  # already the right width: untouched
    ("scale_shortside_and_crop", (640, 480), True, (381, 286)),  # int(286 * 640 / 480) = 381
    ("scale_shortside", (300, 700), True, (286, 667)),
    ("none", (500, 375), True, (512, 384)),  # round(15.625) * 32, round(11.72) * 32
    ("none", (528, 368), True, (512, 384)),  # round(16.5) = 16 (Python rounds half to even), round(11.5) = 12
    ("crop", (640, 480), True, (640, 480)),
])
def test_resized_size_follows_the_reference(mode, size, train, expected):
    assert transforms.resized_size(cfg(mode), *size, is_train=train) == expected


def test_fixed_resizes_to_image_hw():
    c = DAGANConfig(preprocess_mode="fixed", load_size=512, crop_size=512, aspect_ratio=2.0,
                    num_upsampling_layers="more")
    assert c.image_hw == (256, 512)
    assert transforms.resized_size(c, 2048, 1024, is_train=True) == (512, 256)
    assert transforms.output_hw(c) == (256, 512)
    assert transforms.output_hw(cfg("scale_width")) == (None, None)
    assert transforms.crop_hw(cfg("resize_and_crop")) == (256, 256)


def test_resize_for_mode_uses_pil_and_leaves_fitting_images_alone():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (30, 50), dtype=np.uint8))
    c = cfg("resize_and_crop", load=40, crop=32)
    out = transforms.resize_for_mode(img, c, True, Image.NEAREST)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((40, 40), Image.NEAREST)))
    c = cfg("scale_width", load=50, crop=32)
    assert transforms.resize_for_mode(img, c, True, Image.BICUBIC) is img


def test_crop_params_train_range_and_flip_rate_test_centred():
    window = (64, 96)
    size = tf.constant([80, 100])
    ys, xs, flips = [], [], []
    for seed in range(400):
        y0, x0, flip = transforms.crop_params(tf.constant(seed, tf.int64), size, window, is_train=True)
        ys.append(int(y0)), xs.append(int(x0)), flips.append(bool(flip))
    assert min(ys) == 0 and max(ys) == 16 and min(xs) == 0 and max(xs) == 4  # both ends reached, never beyond
    assert len(set(ys)) == 17 and len(set(xs)) == 5
    assert 0.4 < np.mean(flips) < 0.6
    y0, x0, flip = transforms.crop_params(tf.constant(7, tf.int64), size, window, is_train=False)
    assert (int(y0), int(x0), bool(flip)) == (8, 2, False)
    y0, x0, flip = transforms.crop_params(tf.constant(7, tf.int64), tf.constant([50, 90]), window, is_train=True)
    assert (int(y0), int(x0)) == (0, 0)  # smaller than the window: top-left, padded by crop_and_flip
    assert not any(bool(transforms.crop_params(tf.constant(s, tf.int64), size, window, True, flip=False)[2])
                   for s in range(20))


def test_crop_and_flip_matches_pil_crop_and_transpose():
    rng = np.random.default_rng(1)
    array = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    img = Image.fromarray(array)
    for (y0, x0, flip) in [(0, 0, False), (3, 7, True), (12, 25, False), (12, 25, True)]:
        # PIL pads with zeros where the window leaves the image (as the reference's __crop does).
        ref = img.crop((x0, y0, x0 + 16, y0 + 10))
        if flip:
            ref = ref.transpose(Image.FLIP_LEFT_RIGHT)
        out = transforms.crop_and_flip(tf.constant(array), y0, x0, (10, 16), tf.constant(flip))
        np.testing.assert_array_equal(out.numpy(), np.asarray(ref))
        np.testing.assert_array_equal(out.numpy(), transforms.numpy_crop_and_flip(array, y0, x0, (10, 16), flip))
    labels = tf.fill([4, 5], 3)
    padded = transforms.crop_and_flip(labels, 0, 2, (6, 6), tf.constant(False), pad_value=150).numpy()
    assert (padded[:4, :3] == 3).all() and (padded[4:] == 150).all() and (padded[:, 3:] == 150).all()
    flipped = transforms.crop_and_flip(tf.reshape(tf.range(6), [2, 3]), 0, 0, None, tf.constant(True)).numpy()
    np.testing.assert_array_equal(flipped, [[2, 1, 0], [5, 4, 3]])


def test_normalize_image_is_totensor_then_normalize():
    x = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(transforms.normalize_image(tf.constant(x)).numpy(),
                               (x.astype(np.float32) / 255.0 - 0.5) / 0.5, atol=1e-7)
