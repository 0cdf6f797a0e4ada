"""The reference's legacy nearest resize picks floor(i * in / out)."""

import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.layers import NearestResize, legacy_nearest_indices, legacy_nearest_resize
from tests.helpers import assert_config_round_trip


def _np_resize(x, out_h, out_w):
    in_h, in_w = x.shape[1:3]
    rows = [int(np.floor(i * in_h / out_h)) for i in range(out_h)]
    cols = [int(np.floor(j * in_w / out_w)) for j in range(out_w)]
    return x[:, rows][:, :, cols]


@pytest.mark.parametrize("in_hw,out_hw", [
    ((64, 64), (8, 8)),      # integer down-scaling
    ((7, 5), (3, 2)),        # odd, non-integer down-scaling
    ((4, 8), (16, 32)),      # integer up-scaling
    ((3, 5), (7, 11)),       # odd, non-integer up-scaling
    ((33, 17), (33, 17)),    # identity
    ((10, 3), (4, 9)),       # down in one axis, up in the other
])
def test_matches_floor_rule(in_hw, out_hw):
    x = np.random.rand(2, *in_hw, 3).astype("float32")
    y = np.asarray(legacy_nearest_resize(x, out_hw))
    np.testing.assert_array_equal(y, _np_resize(x, *out_hw))


def test_indices_and_difference_from_half_pixel_nearest():
    np.testing.assert_array_equal(legacy_nearest_indices(7, 3), [0, 2, 4])
    np.testing.assert_array_equal(legacy_nearest_indices(3, 7), [0, 0, 0, 1, 1, 2, 2])
    # tf.image.resize('nearest') uses half-pixel centres and picks other pixels
    x = np.arange(7, dtype="float32").reshape(1, 7, 1, 1)
    tf_pick = tf.image.resize(x, (3, 1), "nearest").numpy().ravel()
    assert list(tf_pick) != [0, 2, 4]


def test_dynamic_shapes_in_graph():
    fn = tf.function(lambda t: legacy_nearest_resize(t, (3, 4)),
                     input_signature=[tf.TensorSpec((None, None, None, 2))])
    x = np.random.rand(1, 7, 10, 2).astype("float32")
    np.testing.assert_array_equal(fn(x).numpy(), _np_resize(x, 3, 4))


def test_layer_config():
    layer = NearestResize((3, 5), name="r")
    assert NearestResize.from_config(layer.get_config()).size == (3, 5)
    assert layer(np.zeros((1, 9, 10, 2), "float32")).shape == (1, 3, 5, 2)


def test_config_round_trip_with_every_argument_set():
    assert_config_round_trip(NearestResize, dict(size=(5, 7)), np.random.rand(1, 3, 4, 2).astype("float32"))
