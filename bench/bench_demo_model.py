"""The shipped demo generator beside the 5-minute `dagan-tf demo` model and the class-mean painter, on
fresh demo scenes (a seed no model trained on), scored by `dagan_tf.evaluation.demo_scores`.

    python bench/bench_demo_model.py [--shipped demo] [--five-minute RUN_DIR] [--scenes 32] [--seed 1000]

For each generator, at its own size: the blurred per-pixel distance to the real photos (8-bit levels),
the same for the class-mean painter of those scenes (every pixel its class's mean real colour, the
means taken from these very photos), their ratio, the worst class's mean-colour error and the colour
score (`colour_class_accuracy`). Without `--five-minute`, `dagan-tf demo --minutes 5` is run first in a
temporary folder (about 6 minutes). Prints the machine (/proc/cpuinfo) first.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from _machine import cpu_line  # noqa: E402


def fresh_scenes(height: int, width: int, count: int, seed: int) -> dict:
    """Demo scenes drawn as `make-demo-data --seed SEED` draws its training split, at (height, width)."""
    from dagan_tf.data.demo import render_scene

    labels, instances, photos = [], [], []
    for i in range(count):
        label, instance, photo = render_scene(np.random.default_rng((seed, 0, i)), height, width)
        labels.append(label)
        instances.append(instance)
        photos.append(photo)
    return {"label": np.stack(labels).astype(np.int32), "instance": np.stack(instances).astype(np.int32),
            "photo": np.stack(photos)}


def score(synthesizer, scenes: dict, batch: int = 8) -> dict:
    """The generator's photos of `scenes` and the painter's, scored against the real photos."""
    from dagan_tf.evaluation import demo_scores as ds

    fakes = [np.asarray(synthesizer({"label": scenes["label"][i:i + batch],
                                     "instance": scenes["instance"][i:i + batch]}))
             for i in range(0, len(scenes["label"]), batch)]
    fake, real, labels = np.concatenate(fakes), scenes["photo"], scenes["label"]
    n = synthesizer.label_nc
    means = ds.class_mean_colours(real, labels, n)
    painting = ds.class_mean_painting(labels, means)
    return {"distance": ds.blurred_distance(fake, real), "painter": ds.blurred_distance(painting, real),
            "worst_colour": max(ds.mean_colour_errors(fake, real, labels, n).values()),
            "colour_score": ds.colour_class_accuracy(fake, labels, means),
            "painter_colour_score": ds.colour_class_accuracy(painting, labels, means)}


def five_minute_run(work: str) -> str:
    """A fresh `dagan-tf demo --minutes 5` run's folder (its generator is `checkpoints/demo`)."""
    print(f"training the 5-minute demo model in {work} ...", flush=True)
    subprocess.run([sys.executable, "-m", "dagan_tf.cli", "demo", "--out", work, "--minutes", "5"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(work, "checkpoints", "demo")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipped", default="demo", help="the shipped generator (name or .keras file)")
    parser.add_argument("--five-minute", default=None, help="a `dagan-tf demo` run folder (default: train one)")
    parser.add_argument("--scenes", type=int, default=32, help="fresh scenes per model")
    parser.add_argument("--seed", type=int, default=1000, help="their make-demo-data seed (training used 0)")
    args = parser.parse_args(argv)

    from dagan_tf.models import Synthesizer

    print(f"machine: {cpu_line()}")
    with tempfile.TemporaryDirectory(prefix="bench_demo_") as work:
        models = {"shipped": args.shipped, "5-minute demo": args.five_minute or five_minute_run(work)}
        rows = []
        for title, preset in models.items():
            synthesizer = Synthesizer.from_preset(preset)
            h, w = synthesizer.image_hw
            result = score(synthesizer, fresh_scenes(h, w, args.scenes, args.seed))
            rows.append((title, f"{w}x{h}", result))
    print(f"{args.scenes} fresh scenes (make-demo-data seed {args.seed}); blurred distance in 8-bit levels "
          "(lower is better)")
    print(f"{'model':<15}{'size':>9}{'model dist':>12}{'painter dist':>14}{'ratio':>8}{'worst colour':>14}"
          f"{'colour score':>14}{'painter score':>15}")
    for title, size, r in rows:
        print(f"{title:<15}{size:>9}{r['distance']:>12.2f}{r['painter']:>14.2f}{r['distance'] / r['painter']:>8.2f}"
              f"{r['worst_colour']:>14.1f}{r['colour_score']:>14.1%}{r['painter_colour_score']:>15.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
