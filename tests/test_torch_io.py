"""dagan_tf.torch_io: the one place for torch checkpoint I/O and the one CheckpointError."""

import numpy as np
import pytest
import torch

from dagan_tf import convert, models, torch_io
from dagan_tf.evaluation.segmenters import convert as segmenter_convert


def test_one_checkpoint_error_class():
    assert models.CheckpointError is convert.CheckpointError is torch_io.CheckpointError
    assert segmenter_convert.CheckpointError is torch_io.CheckpointError
    assert issubclass(convert.CheckpointMismatchError, torch_io.CheckpointError)
    assert issubclass(torch_io.CheckpointError, ValueError)  # the CLI reports it in one line


@pytest.mark.parametrize("kind, keras_shape, torch_layout_shape", [
    ("conv", (3, 5, 4, 6), (6, 4, 3, 5)),
    ("dense", (7, 2), (2, 7)),
    ("depthwise_transpose", (3, 3, 8), (8, 1, 3, 3)),
    ("vector", (9,), (9,)),
])
def test_layouts_are_inverse_and_match_torch_shape(kind, keras_shape, torch_layout_shape):
    array = np.arange(np.prod(keras_shape), dtype=np.float32).reshape(keras_shape)
    as_torch = torch_io.to_torch_layout(array, kind)
    assert as_torch.shape == torch_layout_shape == torch_io.torch_shape(array, kind)
    np.testing.assert_array_equal(torch_io.to_keras_layout(as_torch, kind), array)


def test_conv_layout_is_torchs():
    """A torch conv's weight, moved to HWIO, computes torch's convolution (as tf's NHWC conv does)."""
    conv = torch.nn.Conv2d(2, 3, 3, bias=False)
    x = torch.randn(1, 2, 5, 5)
    kernel = torch_io.to_keras_layout(torch_io.as_numpy(conv.weight), "conv")
    xs = x.numpy()[0].transpose(1, 2, 0)  # HWC
    out = np.zeros((3, 3, 3), np.float32)
    for y in range(3):
        for x0 in range(3):
            out[y, x0] = np.einsum("hwi,hwio->o", xs[y:y + 3, x0:x0 + 3], kernel)
    want = conv(x).detach().numpy()[0].transpose(1, 2, 0)
    np.testing.assert_allclose(out, want, atol=1e-5)  # float32 sums in another order


def test_state_dict_of_unwraps_and_refuses_by_name():
    inner = {"module.a": torch.zeros(2), "module.b": torch.ones(1)}
    assert sorted(torch_io.state_dict_of({"state_dict": inner}, "x.pth")) == ["a", "b"]
    with pytest.raises(torch_io.CheckpointError, match="x.pth does not hold a state_dict"):
        torch_io.state_dict_of([1, 2], "x.pth")
    with pytest.raises(torch_io.CheckpointError, match=r"x.pth: entries \['a'\] of the state_dict are not tensors"):
        torch_io.state_dict_of({"a": 3}, "x.pth")
