"""UperNet-ResNet101 (dagan_tf.evaluation.segmenters.upernet) against the real `mit-semseg` package.

Full-size parity on one 256x256 image (DAGAN's ADE20K size) at the first evaluation scale (short side
300 -> a 320x320 network input), preprocessed by mit-semseg's own `ValDataset`; the whole multi-scale
eval.py pipeline (all five imgSizes) on a small UperNet (one block per stage, fpn_dim 32).
"""

import types

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("mit_semseg")

from tests.torch_segmenters import (argmax_agreement, float32_parity, import_torchvision_python_only,  # noqa: E402
                                    randomise_batch_norms, state_dict_arrays, to_nhwc)

import_torchvision_python_only()
from mit_semseg.dataset import ValDataset  # noqa: E402
from mit_semseg.models import ModelBuilder, SegmentationModule, resnet  # noqa: E402
from mit_semseg.models.models import Resnet  # noqa: E402

from dagan_tf.evaluation.segmenters import (CheckpointMismatchError, build_network,  # noqa: E402
                                            load_official_state_dict, load_segmenter, make_segmenter)
from dagan_tf.evaluation.segmenters.upernet import IMG_SIZES, UperNet  # noqa: E402
from tests.helpers import assert_config_round_trip  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_torch_thread")]

#: max |ours - torch float32| allowed on the logits, relative to the logit scale where it exceeds 1
#: (the full-size test also holds ours to torch's own float32 error against float64: float32_parity)
TOLERANCE = 1e-3


def _reference(blocks=(3, 4, 23, 3), fpn_dim=512, seed=0, calibration_size=(160, 160)):
    """mit-semseg's SegmentationModule: Resnet(resnet101) encoder + the 'upernet' decoder (softmax at
    inference, as eval.py builds it). Encoder built without ImageNet weights (no download)."""
    torch.manual_seed(seed)
    encoder = Resnet(resnet.ResNet(resnet.Bottleneck, list(blocks)))
    if fpn_dim == 512:
        decoder = ModelBuilder.build_decoder(arch="upernet", fc_dim=2048, num_class=150, use_softmax=True)
    else:  # the same UPerNet class, narrower
        from mit_semseg.models.models import UPerNet

        decoder = UPerNet(num_class=150, fc_dim=2048, use_softmax=True, fpn_dim=fpn_dim)
    module = SegmentationModule(encoder, decoder, crit=None)
    if calibration_size is None:
        return randomise_batch_norms(module, seed)
    # batch norms calibrated on a random image of the parity test's own size (statistics from
    # smaller, border-dominated maps make the activations grow stage after stage); ~ the spread of
    # uniform pixels after the ImageNet normalisation
    calibration = 1.3 * torch.randn(1, 3, *calibration_size, generator=torch.Generator().manual_seed(seed + 100))

    def calibrate(m):
        m.decoder(m.encoder(calibration, return_feature_maps=True), segSize=calibration_size)
    return randomise_batch_norms(module, seed, calibrate)


def _val_item(tmp_path, image, img_sizes):
    """mit-semseg's ValDataset item for `image` (written as a PNG, with an all-zero 'L' label)."""
    Image.fromarray(image).save(tmp_path / "image.png")
    Image.fromarray(np.zeros(image.shape[:2], np.uint8), mode="L").save(tmp_path / "label.png")
    opt = types.SimpleNamespace(imgSizes=tuple(img_sizes), imgMaxSize=1000, padding_constant=32)
    dataset = ValDataset(str(tmp_path), [{"fpath_img": "image.png", "fpath_segm": "label.png"}], opt)
    return dataset[0]


def _eval_py_scores(module, item, num_scales):
    """eval.py `evaluate` for one image: softmax scores at the label size, averaged over the scales."""
    seg_size = tuple(item["seg_label"].shape[1:])
    scores = torch.zeros(1, 150, *seg_size)
    with torch.no_grad():
        for img in item["img_data"]:
            scores = scores + module({"img_data": img}, segSize=seg_size) / num_scales
    return to_nhwc(scores)


def _image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_upernet101_logits_match_mit_semseg_at_first_scale(tmp_path):
    reference = _reference(calibration_size=(320, 320))
    torch.save({k[len("encoder."):]: v for k, v in reference.state_dict().items() if k.startswith("encoder.")},
               tmp_path / "encoder_epoch_50.pth")
    torch.save({k[len("decoder."):]: v for k, v in reference.state_dict().items() if k.startswith("decoder.")},
               tmp_path / "decoder_epoch_50.pth")
    segmenter = load_segmenter("upernet101", tmp_path, img_sizes=(300,))  # the folder of the release
    image = _image(256, 256)
    item = _val_item(tmp_path, image, (300,))
    expected_input = to_nhwc(item["img_data"][0])
    ours_input = segmenter.resized_inputs(image)[0]
    assert ours_input.shape == expected_input.shape == (1, 320, 320, 3)
    assert np.abs(ours_input - expected_input).max() < 1e-6
    captured = []
    reference.decoder.conv_last.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        reference({"img_data": item["img_data"][0]}, segSize=(256, 256))
        exact_model = _reference(calibration_size=None)  # (not deepcopy: mit-semseg's sync BN holds a lock)
        exact_model.load_state_dict(reference.state_dict())
        exact_model.decoder.conv_last.register_forward_hook(lambda m, i, o: captured.append(o))
        exact_model.double()({"img_data": item["img_data"][0].double()}, segSize=(256, 256))
    expected, exact = to_nhwc(captured[0]), to_nhwc(captured[1])
    ours = np.asarray(segmenter.network(expected_input, training=False))
    assert ours.shape == expected.shape == (1, 80, 80, 150)
    measured = float32_parity(ours, expected, exact, "UperNet-R101 320x320")
    assert measured["ours_vs_torch32"] < TOLERANCE * max(1.0, measured["scale"])


def test_predict_is_eval_py_multiscale_argmax(tmp_path):
    blocks, fpn_dim = (1, 1, 1, 1), 32
    reference = _reference(blocks, fpn_dim, seed=1)
    network = build_network("upernet101", blocks=blocks, fpn_dim=fpn_dim)
    load_official_state_dict(network, state_dict_arrays(reference))
    segmenter = make_segmenter("upernet101", network)
    image = _image(256, 256, seed=2)
    expected = _eval_py_scores(reference, _val_item(tmp_path, image, IMG_SIZES), len(IMG_SIZES))
    ours = segmenter.scores(image[None])
    assert ours.shape == expected.shape == (1, 256, 256, 150)
    assert np.abs(ours - expected).max() < 1e-5  # averaged probabilities (measured 3.4e-6)
    predicted = segmenter.predict(image[None])
    agreement, pixels = argmax_agreement(expected, predicted, 1e-6)
    assert agreement == 1.0 and pixels > 0.95 * predicted.size
    assert segmenter.protocol["multi_scale"] and "300, 375, 450, 525, 600" in segmenter.protocol["resolution"]


def test_converter_names_first_mismatch(tmp_path):
    network = build_network("upernet101", blocks=(1, 1, 1, 1), fpn_dim=32)
    state_dict = state_dict_arrays(_reference((1, 1, 1, 1), 64, calibration_size=None))
    with pytest.raises(CheckpointMismatchError, match=r"key 'decoder\.ppm_last_conv\.0\.weight': checkpoint "
                                                      r"shape \(64, 4096, 3, 3\) vs network shape \(32, 4096, 3, 3\)"):
        load_official_state_dict(network, state_dict)
    # the encoder file alone (its decoder partner absent) is named
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "encoder_epoch_50.pth")
    with pytest.raises(FileNotFoundError, match="decoder_epoch_50.pth"):
        load_segmenter("upernet101", tmp_path / "encoder_epoch_50.pth")


def test_ground_truth_maps_ade20k_values():
    """ValDataset.segm_transform subtracts 1: 0 (other) -> -1 is never counted; here it is 255."""
    segmenter = make_segmenter("upernet101", network=None)
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    mapped = segmenter.ground_truth(values)
    expected = values.astype(np.int32) - 1
    expected[(expected < 0) | (expected >= 150)] = 255
    np.testing.assert_array_equal(mapped, expected)
    assert mapped[0, 0, 0] == 255 and mapped.ravel()[150] == 149 and mapped.ravel()[151] == 255


def test_config_round_trip_with_every_argument_set():
    # a 1-1-1-1 ResNet trunk with an 8-wide head (the trunk's widths are fixed), 3 classes
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    assert_config_round_trip(UperNet, dict(num_classes=3, blocks=(1, 1, 1, 1), fpn_dim=8), x)
