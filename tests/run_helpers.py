"""Shared by test_run.py and test_run_interruptions.py: the tiny training run's config, the CLI in a
subprocess (Grappler off) and readers of what a run folder holds.

Grappler (TensorFlow's graph optimiser) is switched off in every run these tests start: it costs
~25 s per process on these tiny graphs and changes nothing that is tested (every run of a
comparison uses the same setting). `grappler_off()` (helpers) does the same in the test's own process.
"""

import csv
import os
import subprocess
import sys

import numpy as np
import yaml

from tests.helpers import tiny_config, write_tiny_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_EPOCH, EPOCHS = 4, 5
TOTAL = STEPS_PER_EPOCH * EPOCHS
LOSSES = ["G_GAN", "G_GAN_Feat", "G_KLD", "D_fake", "D_real"]

#: Runs the CLI in a subprocess with Grappler off (module docstring).
CLI = ("import sys, tensorflow as tf; tf.config.optimizer.set_experimental_options("
       "{'disable_meta_optimizer': True}); from dagan_tf.cli import main; sys.exit(main(sys.argv[1:]))")

#: The runs' config, less the run's name and folders (`run_config`): a VAE on 32x32 crops of 36x36 maps of
#: 3 classes, 5 epochs (3 + 2 decaying) of 4 steps, backups every 3 steps.
RUN_CONFIG = dict(
    dataset_mode="custom", label_nc=3, no_instance=True, load_size=36, crop_size=32, ngf=8, ndf=8, z_dim=16,
    use_vae=True, no_vgg_loss=True, vgg_weights="none", batchSize=2, niter=3, niter_decay=2, save_latest_freq=3,
    save_epoch_freq=2, display_freq=5, print_freq=1, seed=7,
)


def make_workdir(tmp_path_factory) -> str:
    """A folder holding the tiny dataset under data/ (each module's `workdir` fixture)."""
    tmp = str(tmp_path_factory.mktemp("train"))
    write_tiny_dataset(os.path.join(tmp, "data"))
    return tmp


def run_config(tmp, name, **changes):
    """RUN_CONFIG for the run `name` with its checkpoints and data under `tmp`, then `changes`."""
    folders = dict(name=name, checkpoints_dir=os.path.join(tmp, "checkpoints"), dataroot=os.path.join(tmp, "data"))
    return tiny_config(RUN_CONFIG, folders, **changes)


def write_yaml(cfg, path):
    with open(path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f)
    return path


def state_at(run_dir, step=TOTAL):
    """The arrays of the run's backup of `step`."""
    folder = os.path.join(run_dir, "backup", f"step-{step:09d}")
    with np.load(os.path.join(folder, "state.npz")) as z:
        return {k: z[k] for k in z.files}


def csv_rows(run_dir):
    with open(os.path.join(run_dir, "loss_log.csv")) as f:
        return list(csv.DictReader(f))


def latest_backup_step(run_dir):
    folder = os.path.join(run_dir, "backup")
    steps = [int(n[5:]) for n in os.listdir(folder) if n.startswith("step-")
             and os.path.isfile(os.path.join(folder, n, "meta.json"))] if os.path.isdir(folder) else []
    return max(steps, default=0)


def cli(args, **kwargs):
    """`dagan-tf ARGS` in a subprocess (Grappler off), stdout and stderr together."""
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)
