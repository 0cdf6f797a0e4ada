"""DeepLab v2 ResNet-101 MSC (dagan_tf.evaluation.segmenters.deeplabv2) against kazuto1011/deeplab-pytorch,
re-stated in torch_segmenters (MSC(DeepLabV2)).

Full-size parity on one 256x256 image (DAGAN's COCO-Stuff size: the script evaluates at the image's own
size) through main.py's `test` steps (cv2 BGR read, mean subtraction, MSC logits resized to the label
size); predict, conversion errors and the label mapping on a small DeepLab v2 (one block per stage)
and odd image sizes (the ceil-mode pool and `scale_factor` resizes).
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from dagan_tf.evaluation.segmenters import (CheckpointMismatchError, build_network,  # noqa: E402
                                            load_official_state_dict, load_segmenter, make_segmenter)
from dagan_tf.evaluation.segmenters.deeplabv2 import DeepLabV2  # noqa: E402
from tests.helpers import assert_config_round_trip  # noqa: E402
from tests.torch_segmenters import (DeepLabV2_ResNet101_MSC, argmax_agreement, float32_parity,  # noqa: E402
                                    randomise_batch_norms, save_state_dict, state_dict_arrays, to_nchw, to_nhwc)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_torch_thread")]

#: max |ours - torch float32| allowed on the logits, relative to the logit scale where it exceeds 1
#: (the full-size test also holds ours to torch's own float32 error against float64: float32_parity)
TOLERANCE = 1e-3
MEAN_BGR = (104.008, 116.669, 122.675)


def _reference(n_blocks=(3, 4, 23, 3), seed=0, calibration_size=(64, 64)):
    """Batch norms calibrated on a random image of `calibration_size` (the parity test's own size:
    statistics from smaller, border-dominated maps make the activations grow block after block),
    through the base alone (MSC's later, downscaled passes would leave their statistics)."""
    torch.manual_seed(seed)
    # ~ the spread of uniform pixels minus the BGR mean
    calibration = 74 * torch.randn(1, 3, *calibration_size, generator=torch.Generator().manual_seed(seed + 100))
    return randomise_batch_norms(DeepLabV2_ResNet101_MSC(182, n_blocks), seed, lambda m: m.base(calibration))


def _images(n, height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _main_py_logits(model, images_bgr, dtype=torch.float32):
    """main.py `test`: the dataset's `image -= mean_bgr` (float32 BGR), MSC logits, resized to the label
    size (align_corners=False). Returns NHWC logits (main.py then softmaxes and argmaxes)."""
    batch = []
    for image in images_bgr:
        image = image.astype(np.float32)
        image -= MEAN_BGR
        batch.append(image)
    with torch.no_grad():
        logits = model(to_nchw(np.stack(batch)).to(dtype))
        return to_nhwc(F.interpolate(logits, size=images_bgr.shape[1:3], mode="bilinear", align_corners=False))


def test_deeplabv2_msc_logits_match_reference_at_256x256(tmp_path):
    cv2 = pytest.importorskip("cv2")
    reference = _reference(calibration_size=(256, 256))
    path = save_state_dict(reference, tmp_path / "deeplabv2_resnet101_msc-cocostuff164k-100000.pth")
    segmenter = load_segmenter("deeplabv2_resnet101", path)
    image = _images(1, 256, 256)
    cv2.imwrite(str(tmp_path / "image.png"), image[0][..., ::-1])  # the dataset reads files with cv2
    bgr = cv2.imread(str(tmp_path / "image.png"), cv2.IMREAD_COLOR)[None]
    expected = _main_py_logits(reference, bgr)
    exact = _main_py_logits(copy.deepcopy(reference).double(), bgr, torch.float64)
    ours = segmenter.scores(image)
    assert ours.shape == expected.shape == (1, 256, 256, 182)
    measured = float32_parity(ours, expected, exact, "DeepLab v2 R101 MSC 256x256")
    assert measured["ours_vs_torch32"] < TOLERANCE * max(1.0, measured["scale"])
    agreement, pixels = argmax_agreement(exact, ours.argmax(-1), 2 * measured["torch32_vs_exact"])
    assert agreement == 1.0 and pixels > 0.95 * 256 * 256


@pytest.fixture(scope="module")
def small_pair():
    """A small DeepLab v2 (one block per stage) and its conversion, shared by the pipeline tests."""
    reference = _reference((1, 1, 1, 1), seed=1)
    network = build_network("deeplabv2_resnet101", n_blocks=(1, 1, 1, 1))
    load_official_state_dict(network, state_dict_arrays(reference))
    return reference, network


def test_predict_is_main_py_argmax(small_pair):
    """Odd sizes: the ceil-mode pool, and 0.5 / 0.75 resizes whose grid uses 1/scale."""
    reference, network = small_pair
    segmenter = make_segmenter("deeplabv2_resnet101", network, batch_size=1)
    for seed, size in enumerate([(67, 93), (96, 80)]):
        images = _images(2, *size, seed=seed)
        with torch.no_grad():
            logits = torch.from_numpy(_main_py_logits(reference, images[..., ::-1]))
            probabilities = F.softmax(logits, dim=-1).numpy()
        predicted = segmenter.predict(images)
        assert predicted.shape == (2, *size) and predicted.dtype == np.int32
        agreement, pixels = argmax_agreement(probabilities, predicted, 1e-5)
        assert agreement == 1.0 and pixels > 0.95 * predicted.size
    assert segmenter.protocol["classes"] == 182 and segmenter.protocol["multi_scale"] is True


def test_converter_names_first_mismatch(small_pair):
    reference, network = small_pair
    state_dict = state_dict_arrays(reference)
    state_dict["base.aspp.c2.weight"] = np.zeros((21, 2048, 3, 3), np.float32)  # a VOC (21-class) head
    with pytest.raises(CheckpointMismatchError, match=r"key 'base\.aspp\.c2\.weight': checkpoint shape "
                                                      r"\(21, 2048, 3, 3\) vs network shape \(182, 2048, 3, 3\)"):
        load_official_state_dict(network, state_dict)
    without_msc = {k[len("base."):]: v for k, v in state_dict_arrays(reference).items()}
    with pytest.raises(CheckpointMismatchError, match=r"key 'base\.layer1\.conv1\.conv\.weight' is missing"):
        load_official_state_dict(network, without_msc)


def test_ground_truth_maps_cocostuff_values():
    segmenter = make_segmenter("deeplabv2_resnet101", network=None)
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    mapped = segmenter.ground_truth(values)
    expected = np.where(values < 182, values, 255).astype(np.int32)
    np.testing.assert_array_equal(mapped, expected)
    assert mapped.ravel()[0] == 0 and mapped.ravel()[181] == 181 and mapped.ravel()[255] == 255


def test_config_round_trip_with_every_argument_set():
    # config only: DeepLab's stage widths are fixed (64 .. 2048), too heavy to run twice here
    _, rebuilt = assert_config_round_trip(DeepLabV2, dict(num_classes=3, n_blocks=(1, 1, 2, 1), atrous_rates=(2, 3),
                                                          msc_scales=(0.5,)))
    assert [len(stage) for stage in rebuilt.stages] == [1, 1, 2, 1] and len(rebuilt.aspp) == 2
