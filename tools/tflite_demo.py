#!/usr/bin/env python
"""Run an exported DAGAN TFLite model on a label map with LiteRT alone (no TensorFlow needed).

    pip install ai-edge-litert numpy pillow
    python tools/tflite_demo.py LABEL.png [--instance INST.png] --model saved_models/demo.tflite --out OUT.png

The model comes from `dagan-tf export --format tflite [--quantize fp16|int8]`: inputs `label` int32
(batch, H, W) (the label file's values), `instance` int32 (batch, H, W) when the model uses instances,
`seed` int32 (batch,) for use_vae models; output `image` uint8 (batch, H, W, 3). Maps of another size
are resized (nearest) to the model's. Prints the median latency and the output path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

SIGNATURE = "serving_default"
# This file is meant to be copied alone onto a device, so it shares nothing with serving_client.py
# (whose read_map_png is the same reader) and imports only LiteRT, NumPy and Pillow.
#: PIL modes that hold one integer per pixel: a copy of `dagan_tf.data.loading.INTEGER_MODES` (this file
#: runs without the package); tests/test_tflite_demo.py checks that the two agree.
INTEGER_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


def read_map(path: str, kind: str, size_hw: tuple[int, int]) -> np.ndarray:
    """A label / instance PNG as int32 `(H, W)` at `size_hw` (nearest resize when it differs)."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{kind} file not found: {path}") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        message = " ".join(str(e).split())
        raise ValueError(f"cannot read {kind} file {path}: {type(e).__name__}: {message}") from None
    if img.mode not in INTEGER_MODES:
        raise ValueError(f"{kind} file {path} has PIL mode {img.mode!r}; a {kind} map holds one integer per pixel "
                         f"(modes {', '.join(INTEGER_MODES)}), not colours")
    if img.size != (size_hw[1], size_hw[0]):
        print(f"resizing {kind} map {path} from {img.size[0]}x{img.size[1]} to the model's "
              f"{size_hw[1]}x{size_hw[0]} (nearest)")
        img = img.resize((size_hw[1], size_hw[0]), Image.NEAREST)
    return np.asarray(img).astype(np.int32)


class GeneratorModel:
    """A DAGAN .tflite model: `model(label, instance=None, seed=0)` -> uint8 `(H, W, 3)` for one map."""

    def __init__(self, path: str, threads: int | None = None):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file not found: {path}")
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=threads)
        except Exception as e:  # LiteRT raises ValueError / RuntimeError with a multi-line text
            message = " ".join(str(e).split())
            raise ValueError(f"cannot load TFLite model {path}: {type(e).__name__}: {message}") from None
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ValueError(f"{path} has no '{SIGNATURE}' signature (found {sorted(signatures)}); "
                             "export it with `dagan-tf export --format tflite`")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.inputs = self.runner.get_input_details()
        shape = self.inputs["label"]["shape_signature"]
        self.size_hw = (int(shape[1]), int(shape[2]))

    @property
    def uses_instance(self) -> bool:
        return "instance" in self.inputs

    @property
    def uses_seed(self) -> bool:
        return "seed" in self.inputs

    def __call__(self, label: np.ndarray, instance: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        feeds = {"label": np.asarray(label, self.inputs["label"]["dtype"])[None]}
        if self.uses_instance:
            if instance is None:
                raise ValueError("this model uses instance maps: pass --instance INST.png")
            feeds["instance"] = np.asarray(instance, np.int32)[None]
        if self.uses_seed:
            feeds["seed"] = np.array([seed], np.int32)
        return self.runner(**feeds)["image"][0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="DAGAN label map -> image with a TFLite model (LiteRT only).")
    p.add_argument("label", help="label map PNG (the dataset's file values)")
    p.add_argument("--instance", default=None, help="instance map PNG (models that use instances)")
    p.add_argument("--seed", type=int, default=0, help="style seed (use_vae models)")
    p.add_argument("--model", required=True, help=".tflite file from `dagan-tf export --format tflite`")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (default: 5)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for LiteRT (default: its own choice)")
    args = p.parse_args(argv)
    try:
        model = GeneratorModel(args.model, args.threads)
        label = read_map(args.label, "label", model.size_hw)
        instance = None
        if args.instance:
            if model.uses_instance:
                instance = read_map(args.instance, "instance", model.size_hw)
            else:
                print(f"this model takes no instance map; ignoring {args.instance}")
        image = model(label, instance, args.seed)  # warm-up (allocates tensors)
        times = []
        for _ in range(max(1, args.runs)):
            start = time.perf_counter()
            image = model(label, instance, args.seed)
            times.append((time.perf_counter() - start) * 1000.0)
        Image.fromarray(image).save(args.out)
    except (OSError, ValueError) as e:  # FileNotFoundError is an OSError: every one names its file
        print(f"tflite_demo: error: {e}", file=sys.stderr)
        return 2
    h, w = model.size_hw
    print(f"latency: median {statistics.median(times):.1f} ms over {len(times)} runs ({w}x{h}, batch 1)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
