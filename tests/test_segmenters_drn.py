"""DRN-D-105 (dagan_tf.evaluation.segmenters.drn) against fyu/drn's DRNSeg, re-stated in torch_segmenters.

Full-size parity at the evaluation resolution (DAGAN's Cityscapes images, 256x512) on one image;
the pipeline, conversion errors and the label mapping on a small DRN-D (one block per stage).
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dagan_tf.evaluation.segmenters import (CheckpointMismatchError, build_network, load_segmenter,  # noqa: E402
                                            make_segmenter)
from dagan_tf.evaluation.segmenters import drn  # noqa: E402
from dagan_tf.evaluation.segmenters.drn import DRN_CHANNELS, DRN_D_105_LAYERS  # noqa: E402
from tests.helpers import assert_config_round_trip  # noqa: E402
from tests.torch_segmenters import (DRNSeg, argmax_agreement, float32_parity, randomise_batch_norms,  # noqa: E402
                                    save_state_dict, state_dict_arrays, to_nchw, to_nhwc)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_torch_thread")]

SMALL = (1, 1, 1, 1, 1, 1, 1, 1)
#: widths of the small DRN-D (the real one: 16, 32, 64, 128, 256, 512, 512, 512)
NARROW = (4, 8, 8, 8, 8, 8, 8, 8)
#: max |ours - torch float32| allowed on the logits, relative to the logit scale where it exceeds 1
#: (the full-size test also holds ours to torch's own float32 error against float64: float32_parity)
TOLERANCE = 1e-3
#: cityscapesScripts labels.py: (id, trainId) for ids 0..33; -1 (license plate) is not in label files
CITYSCAPES_LABELS = [(0, 255), (1, 255), (2, 255), (3, 255), (4, 255), (5, 255), (6, 255), (7, 0), (8, 1),
                     (9, 255), (10, 255), (11, 2), (12, 3), (13, 4), (14, 255), (15, 255), (16, 255), (17, 5),
                     (18, 255), (19, 6), (20, 7), (21, 8), (22, 9), (23, 10), (24, 11), (25, 12), (26, 13),
                     (27, 14), (28, 15), (29, 255), (30, 255), (31, 16), (32, 17), (33, 18)]


def _reference(layers, seed=0, channels=NARROW, calibration_size=(64, 96)):
    """Batch norms calibrated on a random image of `calibration_size` (the parity test's own size:
    statistics from smaller, border-dominated maps make the activations grow stage after stage)."""
    torch.manual_seed(seed)
    # ~ the spread of uniform pixels after Normalize(info.json)
    calibration = 1.6 * torch.randn(1, 3, *calibration_size, generator=torch.Generator().manual_seed(seed + 100))
    return randomise_batch_norms(DRNSeg(19, layers, channels), seed, lambda m: m(calibration))


def _images(n, height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def test_drn_d_105_logits_match_drnseg_at_256x512(tmp_path):
    reference = _reference(DRN_D_105_LAYERS, channels=DRN_CHANNELS, calibration_size=(256, 512))
    segmenter = load_segmenter("drn_d_105", save_state_dict(reference, tmp_path / "drn_d_105_cityscapes.pth"))
    image = _images(1, 256, 512)
    x = to_nchw(segmenter.normalise(image))
    with torch.no_grad():
        expected = to_nhwc(reference.logits(x))
        exact = to_nhwc(copy.deepcopy(reference).double().logits(x.double()))
    ours = segmenter.scores(image)
    assert ours.shape == expected.shape == (1, 256, 512, 19)
    measured = float32_parity(ours, expected, exact, "DRN-D-105 256x512")
    assert measured["ours_vs_torch32"] < TOLERANCE * max(1.0, measured["scale"])
    agreement, pixels = argmax_agreement(exact, ours.argmax(-1), 2 * measured["torch32_vs_exact"])
    assert agreement == 1.0 and pixels > 0.95 * 256 * 512


def test_predict_is_segment_py_test_argmax():
    """segment.py `test`: ToTensor + Normalize(info.json), model(image)[0] (LogSoftmax), max over classes."""
    reference = _reference(SMALL, seed=1)
    network = build_network("drn_d_105", layers=SMALL, channels=NARROW)
    segmenter = make_segmenter("drn_d_105", network, batch_size=2)
    from dagan_tf.evaluation.segmenters import load_official_state_dict

    load_official_state_dict(network, state_dict_arrays(reference))
    images = _images(3, 64, 96, seed=2)
    mean = torch.tensor([0.29010095242892997, 0.32808144844279574, 0.28696394422942517]).view(1, 3, 1, 1)
    std = torch.tensor([0.1829540508368939, 0.18656561047509476, 0.18447508988480435]).view(1, 3, 1, 1)
    x = (to_nchw(images).float() / 255.0 - mean) / std  # ToTensor, then Normalize
    with torch.no_grad():
        final = reference(x)[0]
    predicted = segmenter.predict(images)
    assert predicted.dtype == np.int32 and predicted.shape == (3, 64, 96)
    agreement, pixels = argmax_agreement(to_nhwc(final), predicted, 2 * TOLERANCE)
    assert agreement == 1.0 and pixels > 0.95 * predicted.size
    assert segmenter.protocol["classes"] == 19 and segmenter.protocol["multi_scale"] is False
    with pytest.raises(ValueError, match="divisible by 8"):
        segmenter.predict(_images(1, 60, 96))


def test_keras_and_weights_files_round_trip(tmp_path):
    network = build_network("drn_d_105", layers=SMALL, channels=NARROW)
    network.save(tmp_path / "drn_small.keras")
    network.save_weights(tmp_path / "drn_small.weights.h5")
    images = _images(1, 32, 48, seed=3)
    expected = make_segmenter("drn_d_105", network).scores(images)
    loaded = load_segmenter("drn_d_105", tmp_path / "drn_small.keras")
    np.testing.assert_array_equal(loaded.scores(images), expected)
    loaded = load_segmenter("drn_d_105", tmp_path / "drn_small.weights.h5",
                            network_kwargs={"layers": SMALL, "channels": NARROW})
    np.testing.assert_array_equal(loaded.scores(images), expected)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_segmenter("drn_d_105", tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="unknown segmenter 'drn_d_22'"):
        load_segmenter("drn_d_22", tmp_path / "drn_small.keras")


def test_converter_names_first_mismatch():
    network = build_network("drn_d_105", layers=SMALL, channels=NARROW)
    state_dict = state_dict_arrays(_reference(SMALL))
    state_dict["base.3.0.conv2.weight"] = np.zeros((8, 8, 5, 5), np.float32)
    with pytest.raises(CheckpointMismatchError,
                       match=r"key 'base\.3\.0\.conv2\.weight': checkpoint shape \(8, 8, 5, 5\) vs "
                             r"network shape \(8, 8, 3, 3\)"):
        load_official_state_dict_checked(network, state_dict)
    del state_dict["seg.bias"]
    state_dict["base.3.0.conv2.weight"] = np.zeros((8, 8, 3, 3), np.float32)
    with pytest.raises(CheckpointMismatchError, match=r"key 'seg\.bias' is missing .* \(19,\)"):
        load_official_state_dict_checked(network, state_dict)
    # a full DRN-D-105 checkpoint does not fit the small network: the first extra block is named
    full = state_dict_arrays(_reference((1, 1, 1, 1, 2, 1, 1, 1)))
    with pytest.raises(CheckpointMismatchError, match=r"'base\.5\.1\.conv1\.weight' .* has no place"):
        load_official_state_dict_checked(network, full)


def load_official_state_dict_checked(network, state_dict):
    """Load, and check nothing was assigned when it raised (the kernel keeps its build value)."""
    from dagan_tf.evaluation.segmenters import load_official_state_dict

    before = np.array(network.seg.kernel)
    try:
        load_official_state_dict(network, state_dict)
    finally:
        np.testing.assert_array_equal(np.array(network.seg.kernel), before)


def test_ground_truth_maps_cityscapes_ids_to_train_ids():
    segmenter = make_segmenter("drn_d_105", network=None)
    ids = np.array([[i for i, _ in CITYSCAPES_LABELS] + [34, 200, 255]], np.uint8)[None]
    expected = np.array([[t for _, t in CITYSCAPES_LABELS] + [255, 255, 255]], np.int32)[None]
    np.testing.assert_array_equal(segmenter.ground_truth(ids), expected)
    assert segmenter.ignore_index == 255 and segmenter.num_classes == 19
    assert sorted(set(expected.ravel()) - {255}) == list(range(19))


def test_config_round_trips_with_every_argument_set():
    x = np.random.default_rng(0).standard_normal((1, 16, 16, 3)).astype(np.float32)
    assert_config_round_trip(drn.DepthwiseConvTranspose2D, dict(kernel_size=4, strides=2, padding=1), x)
    # a DRN-D-22-like trunk, 4 channels wide, 3 classes: the whole network through its config
    assert_config_round_trip(drn.DRNSeg, dict(num_classes=3, layers=(1, 1, 1, 1, 1, 1, 1, 0),
                                              channels=(4, 4, 4, 4, 4, 4, 4, 4)), x)
