"""`dagan-tf demo`: the newcomer's first command. No dataset, no download, a CPU, a few minutes.

1. Writes the built-in procedural landscapes (`dagan_tf.data.demo`) into `out/data` (once).
2. Trains the small DAGAN of `configs/demo.yaml` on them on the CPU for `minutes` minutes, with a
   progress bar in seconds; the run lives in `out/checkpoints/demo` (running the demo again resumes it).
3. Writes a results page (label colour map | generated | real) for the validation scenes in
   `out/results` and returns its path.

It also tells whether the pictures follow the label maps: the share of generated pixels whose colour
is nearest to the mean real colour of their own class (among the classes of that picture), on the
validation scenes, before and after this training session (`evaluation.demo_scores`). Chance is
about one over the number of classes in a picture; the scores go to `out/colour_score.json`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Iterable, Mapping

import keras
import numpy as np

from dagan_tf.config import DAGANConfig, load_config, preset_path
from dagan_tf.evaluation.demo_scores import class_mean_colours, colour_class_accuracy
from dagan_tf.training.callbacks import TrainingProgress, _ProgressCallback

__all__ = [
    "TimeBudget",
    "run_demo",
    "CPU_DEMO_OVERRIDES",
    "demo_config",
    "demo_config_path",
    "ColourScore",
    "demo_summary",
]

#: Demo scenes written when `out/data` holds none.
DEMO_SCENES = 200
#: On top of configs/demo.yaml for a few minutes on a CPU: at 64x128 a step of batch 8 takes ~10 s
#: on two cores (the SPADE layers' 128 hidden channels at full resolution dominate), so five minutes
#: would be ~30 steps; batch 2 gives ~4x more steps, enough for the pictures to take the label
#: maps' colours and layout.
CPU_DEMO_OVERRIDES = {"batchSize": 2}
#: Validation scenes scored before and after training.
_SCORED_SCENES = 16


def demo_config_path() -> str:
    """The `demo` preset: `configs/demo.yaml` of a checkout, or the copy an installed wheel ships."""
    return preset_path("demo")


def demo_config(out_dir: str, overrides: Mapping | None = None) -> DAGANConfig:
    """configs/demo.yaml, then `CPU_DEMO_OVERRIDES`, with data, checkpoints and results under
    `out_dir`, then `overrides`."""
    values = {
        **CPU_DEMO_OVERRIDES,
        "dataroot": os.path.join(out_dir, "data"),
        "checkpoints_dir": os.path.join(out_dir, "checkpoints"),
        "results_dir": os.path.join(out_dir, "results"),
        "name": "demo",
    }
    values.update(overrides or {})
    return load_config(demo_config_path(), values)


# ------------------------------------------------------------------------------------------------
# Do the pictures follow the label maps? (dagan_tf.evaluation.demo_scores)
# ------------------------------------------------------------------------------------------------
class ColourScore(keras.callbacks.Callback):
    """`colour_class_accuracy` of the generator (inference mode) on a fixed batch: `scores['before']`
    when training starts; `score()` any time. Class colours from the batch's real images."""

    def __init__(self, batch: dict, config: DAGANConfig):
        super().__init__()
        from dagan_tf.data.registry import label_values

        self.batch = batch
        self.labels = label_values(config).class_ids(batch["label"].numpy(), config.label_nc)
        self.real = (batch["image"].numpy() + 1.0) * 127.5
        self.colours = class_mean_colours(self.real, self.labels, config.num_classes)
        self.scores: dict[str, float] = {}

    def score(self) -> float:
        fake = (keras.ops.convert_to_numpy(self.model(self.batch, training=False)) + 1.0) * 127.5
        return colour_class_accuracy(fake, self.labels, self.colours)

    def on_train_begin(self, logs=None):
        self.scores.setdefault("before", self.score())


def _scoring_batch(config: DAGANConfig) -> dict:
    from dagan_tf.data import build_dataset, dataset_files

    count = min(_SCORED_SCENES, len(dataset_files(config, "val")))
    batch = next(iter(build_dataset(config, "val", batch_size=count, shuffle=False)))
    return {k: v for k, v in batch.items() if k != "path"}


# ------------------------------------------------------------------------------------------------
def run_demo(out_dir: str = "demo_out", minutes: float = 5.0, *, overrides: Mapping | None = None,
             scenes: int = DEMO_SCENES, scene_size: int | None = None, max_steps: int | None = None,
             verbose: bool = True) -> str:
    """Make the demo data, train for `minutes` on the CPU, write the results page; return its path.

    Args:
        out_dir: everything goes here (data, checkpoints, results, colour_score.json).
        minutes: training time after the first step (building the graph comes on top).
        overrides: config changes on top of configs/demo.yaml (e.g. a smaller model for tests).
        scenes: demo scenes to write when `out_dir/data` holds none.
        scene_size: their width in pixels (default: the config's crop_size).
        max_steps: also stop after this many training steps (None: the budget and the config decide).
        verbose: progress bars and messages.
    """
    if minutes <= 0:
        raise ValueError(f"demo: --minutes must be > 0 (got {minutes})")
    from dagan_tf.data.demo import write_demo_dataset
    from dagan_tf.generate import generate_results
    from dagan_tf.training.run import run_training

    started = time.monotonic()
    config = demo_config(out_dir, overrides)
    if not os.path.isdir(os.path.join(config.dataroot, "train_label")):
        summary = write_demo_dataset(config.dataroot, count=scenes, size=scene_size or config.crop_size,
                                     seed=config.seed, progress=verbose)
        if verbose:
            print(summary)
    score = ColourScore(_scoring_batch(config), config)
    budget = TimeBudget(minutes * 60.0, progress=None, show_bar=verbose, start_at_first_step=True,
                        shown=("G_GAN", "G_GAN_Feat", "D_fake", "D_real"))
    if verbose:
        print(f"training a small DAGAN on the CPU for {minutes:g} minute(s) (Ctrl-C stops it; "
              "running the demo again continues it)")
    result = run_training(config, max_steps, strategy="default", callbacks=[budget, score], verbose=0)
    if result.model is not None:
        score.set_model(result.model)
        score.scores["after"] = score.score()
    checkpoint = os.path.join(result.run_dir, "latest_net_G.keras")
    page = generate_results(config, checkpoint, results_dir=config.results_dir, verbose=verbose)
    scores = {"step": result.step, **score.scores, "classes": config.num_classes,
              "seconds": round(time.monotonic() - started, 1)}
    with open(os.path.join(out_dir, "colour_score.json"), "w", encoding="utf-8") as f:
        json.dump(scores, f)
    if verbose and "after" in score.scores:
        print(f"pixels coloured like their class: {score.scores['before']:.0%} before, "
              f"{score.scores['after']:.0%} after {result.step} steps")
    if verbose:
        print(demo_summary(result, minutes, budget.stopped_by_budget))
    return page


def demo_summary(result, minutes: float, stopped_by_budget: bool) -> str:
    """Why training stopped where it did, and the commands to try next (absolute paths)."""
    run_dir = os.path.abspath(result.run_dir)
    lines = []
    if stopped_by_budget and not result.finished:
        lines.append(f"stopped after step {result.step} of {result.total_steps}: the {minutes:g}-minute "
                     f"budget (--minutes); run the demo again to continue from step {result.step}")
    generator = os.path.join(run_dir, "latest_net_G.keras")
    lines += [
        "next:",
        f"  dagan-tf generate --checkpoint {generator} --how-many 8",
        f"  dagan-tf export --checkpoint {generator} --format tflite "
        f"--out {os.path.join(os.path.dirname(run_dir), 'demo.tflite')}",
        f"  dagan-tf paint --checkpoint {generator}    # paint a map, get this model's photo",
        "  dagan-tf paint    # the same with the demo model dagan-tf ships (trained for hours, 256x128)",
        f"  tensorboard --logdir {os.path.join(run_dir, 'logs')}",
    ]
    return "\n".join(lines)


class TimeBudget(_ProgressCallback):
    """Stops training once `seconds` have passed (the demo), drawing a progress bar in seconds
    with the step and the latest losses when `show_bar`.

    The clock starts when training starts, or with `start_at_first_step` when the first step is
    done (so the time tracing the graph takes is not counted). `progress` may be None when the
    callback is handed to `run_training`, which sets it.
    """

    #: Without a terminal (output to a file or pipe): one line this often instead of a bar.
    LINE_EVERY_S = 30.0

    def __init__(self, seconds: float, progress: TrainingProgress | None = None, show_bar: bool = True,
                 shown: Iterable[str] = (), start_at_first_step: bool = False):
        super().__init__(progress)
        self.seconds = float(seconds)
        self.show_bar = show_bar
        self.on_terminal = sys.stdout.isatty()
        self.stopped_by_budget = False
        self._last_line = None
        self.shown = tuple(shown)
        self.start_at_first_step = start_at_first_step
        self.start = None
        self.bar = None

    def _start(self):
        self.start = time.monotonic()
        if self.show_bar and self.on_terminal:
            self.bar = keras.utils.Progbar(max(1, round(self.seconds)), unit_name="s",
                                           stateful_metrics=["step", *self.shown])

    def on_train_begin(self, logs=None):
        if self.start is None and not self.start_at_first_step:
            self._start()

    def elapsed(self) -> float:
        return 0.0 if self.start is None else time.monotonic() - self.start

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self._start()
        elapsed = self.elapsed()
        over = elapsed >= self.seconds
        values = [("step", self.progress.step)]
        values += [(k, self.progress.last_logs[k]) for k in self.shown if k in self.progress.last_logs]
        if self.bar is not None:
            self.bar.update(min(round(elapsed), self.bar.target), values, finalize=over)
        elif self.show_bar and (over or self._last_line is None or elapsed - self._last_line >= self.LINE_EVERY_S):
            self._last_line = elapsed
            shown = " - ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in values)
            print(f"{elapsed:.0f}/{self.seconds:.0f} s - {shown}", flush=True)
        if over:
            self.stopped_by_budget = True
            self.progress.stop_requested = True
            self.model.stop_training = True
