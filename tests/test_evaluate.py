"""`dagan-tf evaluate` (evaluation/evaluate.py) on a tiny demo generator and demo data: metrics.json holds
finite FID and KID equal to a recomputation from the page's PNGs, and mIoU / accuracy of a tiny test
segmenter equal a direct NumPy count; the results page shows them.

FID here uses `dims=64` (pytorch-fid's --dims 64, the Inception stem): the 2048-dims path is the same code
(tests/test_inception.py, tests/test_fid.py check it against pytorch-fid), but each 2048x2048 `sqrtm`
costs ~30 s on 2 CPU cores."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from dagan_tf.config import load_config
from dagan_tf.data import build_dataset
from dagan_tf.data.demo import write_demo_dataset
from dagan_tf.evaluation.evaluate import evaluate
from dagan_tf.evaluation.fid import InceptionFeatures, activation_statistics, frechet_distance, kernel_distance
from dagan_tf.evaluation.inception import build_fid_inception
from dagan_tf.models import build_generator

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_CLASSES = 8  # the demo's classes
DIMS = 64


class TinySegmenter:
    """The Segmenter interface in a few lines: a pixel's class is the argmax of a fixed linear map of its
    colour (deterministic, uses every class); ground truth keeps the demo's class ids, 255 elsewhere."""

    name = "tiny_colour"
    num_classes = NUM_CLASSES
    ignore_index = 255
    protocol = {"resolution": "generated (32x64)", "classes": NUM_CLASSES, "scores": "deeplab",
                "source": "tests/test_evaluate.py"}

    def __init__(self):
        self.weights = np.random.default_rng(0).standard_normal((3, NUM_CLASSES))

    def predict(self, images):
        return np.argmax(images.astype(np.float64) @ self.weights, axis=-1).astype(np.int32)

    def ground_truth(self, labels):
        labels = np.asarray(labels)
        return np.where((labels >= 0) & (labels < NUM_CLASSES), labels, 255).astype(np.int32)


def random_inception(seed=0, dims=(2048,)):
    """A FID Inception with He-normal convs and BatchNorm statistics moved off 0/1, so that features
    differ between images (Keras' default init flattens them and FID comes out ~1e-4)."""
    import keras

    rng = np.random.default_rng(seed)
    model = build_fid_inception(dims)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            shape = layer.kernel.shape
            layer.kernel.assign(rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:3])))
        elif isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([0.6 + 0.8 * rng.random(n), 0.1 * rng.standard_normal(n),
                               0.1 * rng.standard_normal(n), 0.5 + 1.5 * rng.random(n)])
    return model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    data = str(tmp / "data")
    write_demo_dataset(data, count=40, size=64, seed=5, progress=False)  # 36 train + 4 val scenes
    cfg = load_config(os.path.join(REPO, "configs", "demo.yaml"),
                      dict(dataroot=data, results_dir=str(tmp / "results"), name="ev", crop_size=64, load_size=64,
                           ngf=8, ndf=8, batchSize=2))
    checkpoint = str(tmp / "3_net_G.keras")
    build_generator(cfg).save(checkpoint)
    # a random-init FID Inception saved as Keras weights (no torch needed): the converter's output format
    inception = random_inception()
    weights = str(tmp / "fid_inception.weights.h5")
    inception.save_weights(weights)
    stem = build_fid_inception([DIMS])
    for layer in stem.layers:
        if layer.weights:
            layer.set_weights(inception.get_layer(layer.name).get_weights())
    return cfg, checkpoint, weights, stem


def _pngs(page_dir, kind):
    folder = os.path.join(page_dir, "images", kind)
    return np.stack([np.asarray(Image.open(os.path.join(folder, f))) for f in sorted(os.listdir(folder))])


def test_evaluate_writes_metrics_json_and_page(setup):
    cfg, checkpoint, weights, inception = setup
    result = evaluate(cfg, checkpoint, inception_weights=weights, inception_model=inception, dims=DIMS,
                      segmenter=TinySegmenter(), batch_size=3, kid_subsets=10, verbose=False,
                      save_real_stats=os.path.join(cfg.results_dir, "real.npz"))
    page_dir = os.path.dirname(result["page"])
    saved = json.load(open(os.path.join(page_dir, "metrics.json")))
    values = saved["values"]
    assert saved["images"] == 4 and set(values) == {"fid", "kid", "miou", "class_iou", "accuracy"}
    assert all(np.isfinite(values[k]) for k in ("fid", "kid", "miou", "accuracy"))

    # FID / KID: the same numbers from the PNGs the page shows (PNG is lossless)
    features = InceptionFeatures(weights, dims=DIMS, batch_size=3, model=inception)
    fake, real = features(_pngs(page_dir, "synthesized_image")), features(_pngs(page_dir, "real_image"))
    assert values["fid"] > 0
    assert values["fid"] == pytest.approx(frechet_distance(*activation_statistics(fake), *activation_statistics(real)),
                                          rel=1e-6)
    assert values["kid"] == pytest.approx(kernel_distance(fake, real, 10, seed=0), rel=1e-6, abs=1e-9)

    # mIoU / accuracy: a direct count on the test labels (the pipeline's file values)
    labels = np.concatenate([b["label"].numpy() for b in build_dataset(cfg, "test", batch_size=4, shuffle=False)])
    seg = TinySegmenter()
    truth = seg.ground_truth(labels)
    pred = seg.predict(_pngs(page_dir, "synthesized_image"))
    valid = truth != 255
    assert values["accuracy"] == pytest.approx(np.mean(pred[valid] == truth[valid]), rel=1e-12)
    ious = [np.sum((pred == c) & (truth == c) & valid) / np.sum(((pred == c) | (truth == c)) & valid)
            for c in range(NUM_CLASSES) if np.any(((pred == c) | (truth == c)) & valid)]
    assert values["miou"] == pytest.approx(np.mean(ious), rel=1e-12)

    assert saved["protocol"]["segmentation"]["score_rule"] == "deeplab"
    assert saved["protocol"]["fid"]["dims"] == DIMS and saved["protocol"]["kid"]["num_subsets"] == 10
    assert re.fullmatch(r"[0-9a-f]{64}", saved["weights"]["inception"]["sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", saved["weights"]["generator"]["sha256"])
    assert {"tensorflow", "keras", "numpy", "scipy", "dagan_tf"} <= set(saved["versions"])

    html = open(result["page"]).read()
    assert "Metrics (4 test images)" in html
    for label, key in (("FID", "fid"), ("KID", "kid"), ("mIoU", "miou"), ("pixel accuracy", "accuracy")):
        assert f"<td>{label}</td><td>{values[key]:.4f}</td>" in html
    assert html.count("<h3>") == 4  # the examples are still there

    # --real-stats: the saved statistics of the real photos give the same FID without recomputing them
    again = evaluate(cfg, checkpoint, metrics=["fid"], inception_model=inception, dims=DIMS, batch_size=3,
                     verbose=False,
                     real_stats=os.path.join(cfg.results_dir, "real.npz"))
    assert again["values"]["fid"] == pytest.approx(values["fid"], rel=1e-9)


def test_evaluate_cli_and_errors(setup, tmp_path, capsys):
    from dagan_tf.cli import main

    cfg, checkpoint, weights, _ = setup
    common = ["--config", os.path.join(REPO, "configs", "demo.yaml"), "--set", f"dataroot={cfg.dataroot}",
              "--set", "crop_size=64", "--set", "load_size=64", "--set", "ngf=8", "--set", "name=ev",
              "--checkpoint", checkpoint, "--results-dir", str(tmp_path), "--inception-weights", weights]
    assert main(["evaluate", *common, "--metrics", "fid,kid", "--how-many", "3", "--dims", "192"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"FID\s+\d+\.\d{4}", out[-3]) and re.fullmatch(r"KID\s+-?\d+\.\d{4}", out[-2])
    saved = json.load(open(out[-1].split(": ", 1)[1]))
    assert saved["images"] == 3 and np.isfinite(saved["values"]["fid"]) and np.isfinite(saved["values"]["kid"])

    assert main(["evaluate", *common, "--metrics", "fid,miou"]) == 2
    assert "need --segmenter-weights" in capsys.readouterr().err
    assert main(["evaluate", *common, "--metrics", "fid,psnr"]) == 2
    assert "--metrics: unknown ['psnr']" in capsys.readouterr().err
