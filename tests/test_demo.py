"""`dagan-tf demo` (dagan_tf/training/demo.py): on a tiny budget the generated pictures take the
colours of their classes far better than the untrained generator's."""

import json
import os
import re
import shlex

import keras
import numpy as np
import pytest
from PIL import Image

from dagan_tf.training.callbacks import TrainingProgress
from dagan_tf.evaluation.demo_scores import class_mean_colours, colour_class_accuracy
from dagan_tf.training.demo import CPU_DEMO_OVERRIDES, TimeBudget, demo_config, run_demo
from dagan_tf.visualize import label_palette
from tests.helpers import grappler_off


def test_demo_config_is_the_yaml_plus_cpu_overrides(tmp_path):
    cfg = demo_config(str(tmp_path))
    assert (cfg.dataset_mode, cfg.label_nc, cfg.image_hw) == ("demo", 8, (64, 128))
    assert cfg.batchSize == CPU_DEMO_OVERRIDES["batchSize"]
    assert cfg.dataroot == os.path.join(str(tmp_path), "data")
    assert cfg.checkpoints_dir == os.path.join(str(tmp_path), "checkpoints")


#: Training steps of the tiny demo test: 2 epochs of 9 batches. A fixed count, not a time budget, so a
#: loaded machine is slower but not worse (measured: 15 % of pixels coloured like their class before,
#: 55 % after these steps).
TINY_DEMO_STEPS = 18


@pytest.mark.slow
def test_tiny_demo_pictures_follow_the_label_maps(tmp_path, capsys):
    out = str(tmp_path / "demo")
    # 32x32 pictures of 8 classes, a tiny model, a higher lr: what the demo does, in seconds
    tiny = dict(crop_size=32, load_size=32, aspect_ratio=1.0, ngf=8, ndf=8, batchSize=4, lr=0.001)
    with grappler_off():  # ~25 s less tracing
        # a budget no machine reaches: the step count ends the training
        page = run_demo(out, minutes=60, overrides=tiny, scenes=40, scene_size=64, max_steps=TINY_DEMO_STEPS)
    printed = capsys.readouterr()  # not a terminal: plain lines, no escape codes
    assert "\x1b" not in printed.out + printed.err
    assert "pixels coloured like their class" in printed.out and "  dagan-tf paint    #" in printed.out

    scores = json.load(open(os.path.join(out, "colour_score.json")))
    assert scores["step"] == TINY_DEMO_STEPS
    # chance is ~1/(classes per picture), about a quarter here
    assert scores["before"] < 0.35
    assert scores["after"] >= scores["before"] + 0.15, scores

    # the results page, read back from its PNGs, tells the same
    page_dir = os.path.dirname(page)
    assert page == os.path.join(out, "results", "demo", "test_latest", "index.html")
    names = re.findall(r"<h3>([^<]+)</h3>", open(page).read())
    assert names == [f"demo_{i:05d}" for i in range(4)]  # the 4 validation scenes of 40

    def read(kind):
        return np.stack([np.asarray(Image.open(os.path.join(page_dir, "images", kind, f"{n}.png")))
                         for n in names]).astype(np.float64)

    palette = label_palette(demo_config(out, tiny)).astype(np.int64)
    colour_ids = {tuple(c): i for i, c in enumerate(palette)}
    labels = np.vectorize(lambda r, g, b: colour_ids[(r, g, b)])(*np.moveaxis(read("input_label").astype(int), -1, 0))
    real, fake = read("real_image"), read("synthesized_image")
    after = colour_class_accuracy(fake, labels, class_mean_colours(real, labels, 8))
    assert after == pytest.approx(scores["after"], abs=0.02)
    for kind in ("label", "img", "inst"):
        assert len(os.listdir(os.path.join(out, "data", f"train_{kind}"))) == 36
    assert os.path.isfile(os.path.join(out, "checkpoints", "demo", "latest_net_G.keras"))


def test_the_demo_says_why_it_stopped_and_what_to_try_next(tmp_path):
    from dagan_tf.training.demo import demo_summary
    from dagan_tf.training.run import TrainingResult

    run_dir = os.path.join("relative", "checkpoints", "demo")
    result = TrainingResult(run_dir, step=433, total_steps=3600, resumed_from=None, finished=False)
    lines = demo_summary(result, 5.0, stopped_by_budget=True).splitlines()
    assert lines[0] == ("stopped after step 433 of 3600: the 5-minute budget (--minutes); run the demo again "
                        "to continue from step 433")
    absolute = os.path.abspath(run_dir)
    generator = f"{absolute}/latest_net_G.keras"
    assert lines[1:] == [
        "next:",
        f"  dagan-tf generate --checkpoint {generator} --how-many 8",
        f"  dagan-tf export --checkpoint {generator} --format tflite --out {os.path.dirname(absolute)}/demo.tflite",
        f"  dagan-tf paint --checkpoint {generator}    # paint a map, get this model's photo",
        "  dagan-tf paint    # the same with the demo model dagan-tf ships (trained for hours, 256x128)",
        f"  tensorboard --logdir {absolute}/logs",
    ]
    # every dagan-tf command parses, and needs no --config: the generator file carries its config
    from dagan_tf.cli_parser import build_parser

    commands = [shlex.split(line.split("#")[0])[1:] for line in lines if line.strip().startswith("dagan-tf")]
    assert [build_parser().parse_args(argv).command for argv in commands] == ["generate", "export", "paint", "paint"]
    assert all("--config" not in argv for argv in commands)
    assert build_parser().parse_args(commands[-1]).checkpoint == "demo"
    finished = TrainingResult(run_dir, step=3600, total_steps=3600, resumed_from=0, finished=True)
    assert demo_summary(finished, 5.0, stopped_by_budget=False).splitlines()[0] == "next:"


def test_time_budget_stops_training():
    progress = TrainingProgress(10, 1)
    budget = TimeBudget(0.0, progress, show_bar=False)
    model = keras.Sequential([keras.layers.Dense(1)])
    budget.set_model(model)
    budget.on_train_begin()
    budget.on_train_batch_end(0, {})
    assert progress.stop_requested and model.stop_training


def test_time_budget_prints_lines_not_a_bar_without_a_terminal(capsys):
    progress = TrainingProgress(10, 1)
    budget = TimeBudget(0.0, progress, show_bar=True, shown=("G_GAN",))
    assert not budget.on_terminal  # pytest captures stdout: no terminal
    budget.set_model(keras.Sequential([keras.layers.Dense(1)]))
    budget.on_train_begin()
    progress.step, progress.last_logs = 1, {"G_GAN": 1.5}
    budget.on_train_batch_end(0, {})
    out = capsys.readouterr().out
    assert out == "0/0 s - step: 1 - G_GAN: 1.5\n" and budget.stopped_by_budget
