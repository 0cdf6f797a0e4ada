"""dagan_tf.evaluation.demo_scores: the demo scenes' pixel scores on pictures whose answers are known."""

import numpy as np
import pytest

from dagan_tf.evaluation.demo_scores import (blurred_distance, class_mean_colours, class_mean_painting,
                                             colour_class_accuracy, mean_colour_errors)


def _two_classes():
    labels = np.zeros((1, 4, 4), int)
    labels[0, :, 2:] = 1
    real = np.zeros((1, 4, 4, 3))
    real[0, :, 2:] = (200, 200, 200)
    return labels, real


def test_colour_class_accuracy_on_known_pictures():
    labels, real = _two_classes()
    colours = class_mean_colours(real, labels, 3)
    np.testing.assert_array_equal(colours[:2], [(0, 0, 0), (200, 200, 200)])
    assert np.isnan(colours[2]).all()
    assert colour_class_accuracy(real, labels, colours) == 1.0
    assert colour_class_accuracy(200 - real, labels, colours) == 0.0
    flat = np.full_like(real, 90.0)  # one colour everywhere: only class 0's pixels are right
    assert colour_class_accuracy(flat, labels, colours) == 0.5


def test_the_class_mean_painter_and_the_colour_errors():
    labels, real = _two_classes()
    real[0, 0, 0] = (40, 40, 40)  # class 0's mean is 40 / 8 = 5
    painting = class_mean_painting(labels, class_mean_colours(real, labels, 3))
    assert painting.dtype == np.uint8
    np.testing.assert_array_equal(painting[0, :, 0], [(5, 5, 5)] * 4)
    np.testing.assert_array_equal(painting[0, :, 3], [(200, 200, 200)] * 4)
    assert mean_colour_errors(painting, real, labels, 3) == {0: 0.0, 1: 0.0}
    shifted = real + np.array([0, 30, -10])
    assert mean_colour_errors(shifted, real, labels, 3) == {0: 30.0, 1: 30.0}


def test_blurred_distance_forgives_texture_but_not_colour():
    rng = np.random.default_rng(0)
    base = np.full((2, 128, 256, 3), 100.0)  # the shipped model's size: sigma 3 pixels
    grain = base + rng.choice([-20.0, 20.0], base.shape)  # pixel noise a GAN might draw elsewhere
    assert np.mean(np.abs(grain - base)) == 20.0
    assert blurred_distance(grain, base) < 2.0
    assert blurred_distance(base + 10.0, base) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="shapes"):
        blurred_distance(base, base[:1])
