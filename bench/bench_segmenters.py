"""CPU throughput of each segmenter's whole evaluation pipeline at its evaluation resolution, ours
(`Segmenter.predict` on uint8 images) beside the PyTorch reference pipeline in the same run.

- drn_d_105: one 256x512 image (DAGAN's Cityscapes size), segment.py `test` (single scale);
- upernet101: one 256x256 image (ADE20K), eval.py's five scales (short side 300..600), mit-semseg;
- deeplabv2_resnet101: one 256x256 image (COCO-Stuff), MSC (scales 1, 0.5, 0.75).

Weights are random (the test re-statements / mit-semseg, converted as the tests do): throughput
does not depend on them. Prints images/s of each side and the ratio ours / PyTorch (> 1: faster).

    python bench/bench_segmenters.py [--segmenters drn_d_105 upernet101 deeplabv2_resnet101]
                                     [--runs 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dagan_tf.evaluation.segmenters import build_network, load_official_state_dict, make_segmenter  # noqa: E402
from tests.torch_segmenters import (DeepLabV2_ResNet101_MSC, DRNSeg, import_torchvision_python_only,  # noqa: E402
                                    randomise_batch_norms, state_dict_arrays, to_nchw)

SIZES = {"drn_d_105": (256, 512), "upernet101": (256, 256), "deeplabv2_resnet101": (256, 256)}


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _drn(image):
    model = randomise_batch_norms(DRNSeg(19))
    segmenter = make_segmenter("drn_d_105", build_network("drn_d_105"))

    def reference():
        with torch.no_grad():
            return model(to_nchw(segmenter.normalise(image)))[0].argmax(1)
    return model, segmenter, reference


def _deeplab(image):
    model = randomise_batch_norms(DeepLabV2_ResNet101_MSC(182))
    segmenter = make_segmenter("deeplabv2_resnet101", build_network("deeplabv2_resnet101"))

    def reference():
        with torch.no_grad():
            logits = model(to_nchw(segmenter.normalise(image)))
            return F.softmax(F.interpolate(logits, size=image.shape[1:3], mode="bilinear",
                                           align_corners=False), dim=1).argmax(1)
    return model, segmenter, reference


def _upernet(image):
    import_torchvision_python_only()
    from mit_semseg.models import ModelBuilder, SegmentationModule, resnet
    from mit_semseg.models.models import Resnet

    model = randomise_batch_norms(SegmentationModule(
        Resnet(resnet.resnet101(pretrained=False)),
        ModelBuilder.build_decoder(arch="upernet", fc_dim=2048, num_class=150, use_softmax=True), crit=None))
    segmenter = make_segmenter("upernet101", build_network("upernet101"))

    def reference():  # eval.py evaluate; the PIL resizes as ValDataset makes them
        inputs = segmenter.resized_inputs(image[0])
        scores = torch.zeros(1, 150, *image.shape[1:3])
        with torch.no_grad():
            for x in inputs:
                scores = scores + model({"img_data": to_nchw(x)}, segSize=image.shape[1:3]) / len(inputs)
        return scores.argmax(1)
    return model, segmenter, reference


BUILDERS = {"drn_d_105": _drn, "upernet101": _upernet, "deeplabv2_resnet101": _deeplab}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segmenters", nargs="+", default=list(BUILDERS), choices=list(BUILDERS),
                        help="segmenters to time (default: all three)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side, median reported (default: 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (default: 0 = torch's default, all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{'segmenter':22s} {'size':>9s} {'ours img/s':>11s} {'torch img/s':>12s} {'ours/torch':>11s}")
    for name in args.segmenters:
        height, width = SIZES[name]
        image = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
        torch.manual_seed(0)
        model, segmenter, reference = BUILDERS[name](image)
        load_official_state_dict(segmenter.network, state_dict_arrays(model))
        ours = 1.0 / median_seconds(lambda: segmenter.predict(image), args.runs)
        theirs = 1.0 / median_seconds(reference, args.runs)
        print(f"{name:22s} {height:>4d}x{width:<4d} {ours:11.3f} {theirs:12.3f} {ours / theirs:11.2f}", flush=True)


if __name__ == "__main__":
    main()
