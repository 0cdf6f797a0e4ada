"""The Keras FID Inception against pytorch-fid's own `InceptionV3` (the PyPI package), both loading one
random-init weights file in pytorch-fid's format (BatchNorm statistics moved away from 0/1).

Tolerance: max |ours - pytorch-fid| / max |pytorch-fid| <= 1e-4 per feature block (measured ~5e-7),
on real COCO-Stuff photos (downsampled to 299) and made-up images of other sizes (up- and downsampled).
"""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_fid")

from dagan_tf.evaluation.inception import build_fid_inception, load_inception_state_dict, preprocess_images  # noqa: E402
from dagan_tf.evaluation.weights import convert_inception_weights, load_fid_inception  # noqa: E402
from tests.fid_reference import pytorch_fid_model, random_fid_weights  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_torch_thread")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fid_weights") / "random_fid_inception.pth"
    state = random_fid_weights(path, seed=0)
    return path, state


def _photos(coco_samples, count=3):
    from PIL import Image

    files = sorted((coco_samples / "val_img").glob("*.jpg"))[:count]
    assert files, f"no photos in {coco_samples / 'val_img'}"
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def _made_up_images():
    rng = np.random.default_rng(7)
    smooth = [np.repeat(np.repeat(rng.integers(0, 256, (h // 8, w // 8, 3)), 8, 0), 8, 1) for h, w in ((96, 160), (400, 320))]
    return [np.ascontiguousarray(im, dtype=np.uint8) for im in smooth] + [rng.integers(0, 256, (299, 299, 3), dtype=np.uint8)]


def _pytorch_fid_features(model, images):
    """pytorch-fid's get_activations per image and block: ToTensor, model (resize + [-1, 1] inside),
    spatial mean of blocks that are not 1x1. Returns one `(n, dims)` array per block."""
    import torch
    from torch.nn.functional import adaptive_avg_pool2d

    per_block = []
    with torch.no_grad():
        for image in images:
            x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
            row = []
            for pred in model(x):
                if pred.size(2) != 1 or pred.size(3) != 1:
                    pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
                row.append(pred.squeeze(3).squeeze(2).numpy()[0].astype(np.float64))
            per_block.append(row)
    return [np.stack(block) for block in zip(*per_block)]


def test_every_dims_block_matches_pytorch_fid(weights_file, coco_samples):
    path, state = weights_file
    images = _photos(coco_samples) + _made_up_images()
    ours = build_fid_inception([64, 192, 768, 2048])
    load_inception_state_dict(ours, state)
    got = ours.predict(preprocess_images(images), verbose=0)
    wanted = _pytorch_fid_features(pytorch_fid_model(path, (64, 192, 768, 2048)), images)
    for dims, features, want in zip((64, 192, 768, 2048), got, wanted):
        scale = np.abs(want).max()
        error = np.abs(features - want).max() / scale
        print(f"dims {dims}: max abs error / feature scale = {error:.2e} (scale {scale:.3f})")
        assert features.shape == (len(images), dims)
        assert scale > 0.1 and want.std() > 0.05  # the random network keeps a real signal
        assert error < TOLERANCE, (dims, error)


def test_resize_is_pytorch_fid_bilinear():
    import torch
    import torch.nn.functional as F

    images = _made_up_images()[:2]
    for image in images:
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
        want = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
        # both compute the source coordinate (dst + 0.5) * in / out - 0.5 in float32; round-off in it
        # moves a sample by ~1e-5 px, which shows as ~1e-5 at the sharp block edges of these images
        np.testing.assert_allclose(preprocess_images([image]), want, atol=5e-5)


def test_weights_file_pth_and_converted_h5(weights_file, tmp_path):
    path, _ = weights_file
    x = preprocess_images(_made_up_images()[:1])
    from_pth, _ = load_fid_inception(path, [64])
    h5 = convert_inception_weights(path, tmp_path / "fid_inception.weights.h5")
    from_h5, used = load_fid_inception(h5, [64])
    assert used == str(h5)
    np.testing.assert_array_equal(from_pth.predict(x, verbose=0), from_h5.predict(x, verbose=0))


def test_wrong_weights_name_the_problem(weights_file, tmp_path):
    _, state = weights_file
    broken = dict(state)
    del broken["Mixed_5b.branch_pool.bn.running_var"]
    with pytest.raises(ValueError, match=r"missing keys \['Mixed_5b.branch_pool.bn.running_var'\]"):
        load_inception_state_dict(build_fid_inception([768]), broken)
    with pytest.raises(FileNotFoundError, match="--inception-weights: file not found: .*nothing.pth"):
        load_fid_inception(tmp_path / "nothing.pth")
    with pytest.raises(ValueError, match="not among pytorch-fid's feature sizes"):
        build_fid_inception([1000])
