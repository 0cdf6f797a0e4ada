"""`dagan-tf train` (dagan_tf/training/run.py): the files a run writes, step-exact crash recovery,
a finished run doing nothing, the mixed-precision and steps-per-execution options, periodic
evaluation. (Signals, a busy folder, a full disk and a bad file mid-run: test_run_interruptions.py.)

One uninterrupted reference run (in this process) is compared with a run that is killed with
SIGKILL after a backup and then started again with the same command (both in subprocesses, through
the CLI). The tiny config still goes through every path: random crops and flips, the VAE encoder
and its noise, the lr decay (niter 3 + niter_decay 2 epochs of 4 steps), backups in the middle of
an epoch (every 3 steps). Grappler is off in every run (tests/run_helpers.py).
"""

import csv
import math
import os
import signal
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.config import load_config
from tests.helpers import grappler_off
from tests.run_helpers import (LOSSES, STEPS_PER_EPOCH, TOTAL, cli, csv_rows, latest_backup_step,
                               make_workdir, run_config, state_at, write_yaml)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory)


class _KillAfterBackup(threading.Thread):
    """Watches a training subprocess and SIGKILLs it as soon as a backup of step >= `after` exists."""

    def __init__(self, proc, run_dir, after, timeout=1200):
        super().__init__(daemon=True)
        self.proc, self.run_dir, self.after, self.timeout = proc, run_dir, after, timeout
        self.killed_at, self.output = None, ""

    def run(self):
        deadline = time.monotonic() + self.timeout
        while (latest_backup_step(self.run_dir) < self.after and self.proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.output, _ = self.proc.communicate()
        self.killed_at = latest_backup_step(self.run_dir)


@pytest.fixture(scope="module")
def runs(workdir):
    """Starts the run that gets killed (subprocess, through the CLI), then trains the uninterrupted
    run in this process meanwhile (the machine has two cores)."""
    from dagan_tf.training import run_training

    crash_cfg = run_config(workdir, "crashed")
    command = ["train", "--config", write_yaml(crash_cfg, os.path.join(workdir, "crashed.yaml"))]
    crash_dir = os.path.join(crash_cfg.checkpoints_dir, crash_cfg.name)
    killer = _KillAfterBackup(cli(command), crash_dir, after=6)
    killer.start()

    with grappler_off():
        cfg = run_config(workdir, "uninterrupted")
        result = run_training(cfg, verbose=0)
    killer.join()
    return {"cfg": cfg, "result": result, "killer": killer, "command": command, "crash_dir": crash_dir}


def test_train_writes_every_promised_file(runs):
    cfg, result = runs["cfg"], runs["result"]
    run_dir = result.run_dir
    assert result.finished and result.step == TOTAL and result.resumed_from is None
    names = set(os.listdir(run_dir))
    nets = ["G", "D", "E"]
    want = {f"{tag}_net_{n}.keras" for tag in ("latest", "2", "4", "5") for n in nets}
    want |= {"config.yaml", "loss_log.csv", "logs", "backup"}
    assert want <= names, want - names
    assert not [n for n in names if "tmp" in n]
    assert load_config(os.path.join(run_dir, "config.yaml")) == cfg

    rows = csv_rows(run_dir)
    assert list(rows[0]) == ["step", "epoch", *LOSSES, "lr_G", "lr_D"]
    assert [int(r["step"]) for r in rows] == list(range(1, TOTAL + 1))
    assert all(math.isfinite(float(r[k])) for r in rows for k in LOSSES)
    # lr decay by epoch (TTUR: G lr/2, D lr*2; epoch niter+1 = 4 still full, epoch 5 at half)
    lr_by_epoch = {int(r["epoch"]): (float(r["lr_G"]), float(r["lr_D"])) for r in rows}
    for epoch, factor in [(1, 1.0), (3, 1.0), (4, 1.0), (5, 0.5)]:
        assert lr_by_epoch[epoch] == pytest.approx((1e-4 * factor, 4e-4 * factor), rel=1e-6)

    # every .keras file loads and gives the in-memory network's output
    model = result.model
    rng = np.random.default_rng(0)
    seg = np.eye(cfg.semantic_nc, dtype="float32")[rng.integers(0, 3, (2, 32, 32))]
    z = rng.standard_normal((2, cfg.z_dim)).astype("float32")
    g = keras.saving.load_model(os.path.join(run_dir, "latest_net_G.keras"))
    assert np.abs(np.asarray(g([seg, z])) - np.asarray(model.generator([seg, z]))).max() <= 1e-6
    e = keras.saving.load_model(os.path.join(run_dir, "latest_net_E.keras"))
    image = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    for got, ref in zip(e(image), model.encoder(image)):
        assert np.abs(np.asarray(got) - np.asarray(ref)).max() <= 1e-6
    d = keras.saving.load_model(os.path.join(run_dir, "latest_net_D.keras"))
    x = np.concatenate([seg, image], -1)
    assert np.abs(np.asarray(d(x)[-1][-1]) - np.asarray(model.discriminator(x)[-1][-1])).max() <= 1e-6
    g2 = keras.saving.load_model(os.path.join(run_dir, "2_net_G.keras"))
    assert np.abs(np.asarray(g2([seg, z])) - np.asarray(model.generator([seg, z]))).max() > 1e-4

    # TensorBoard: every loss and lr every step, the image grid every display_freq steps
    scalars, images = {}, {}
    logs = os.path.join(run_dir, "logs")
    for f in os.listdir(logs):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(logs, f)):
            for v in event.summary.value:
                kind = v.metadata.plugin_data.plugin_name
                if kind == "scalars":
                    scalars.setdefault(v.tag, []).append(event.step)
                elif kind == "images":
                    images[event.step] = tf.io.decode_png(tf.make_ndarray(v.tensor)[2]).numpy()
    assert set(scalars) == {f"losses/{n}" for n in LOSSES} | {"learning_rate/lr_G", "learning_rate/lr_D"}
    assert all(sorted(s) == list(range(1, TOTAL + 1)) for s in scalars.values())
    assert sorted(images) == [5, 10, 15, 20]
    # 4 rows (display examples) of label | generated | real, 32 px each, 2 px gaps
    assert images[20].shape == (4 * 32 + 3 * 2, 3 * 32 + 2 * 2, 3)


def test_crash_then_rerun_equals_uninterrupted_run(runs, capsys):
    ref, killer, command, run_dir = runs["result"], runs["killer"], runs["command"], runs["crash_dir"]
    killed_at = killer.killed_at
    assert killer.proc.returncode == -signal.SIGKILL, killer.output
    assert 6 <= killed_at < TOTAL, killer.output  # killed in the middle of the run, after a backup
    assert "finished" not in killer.output

    rerun = cli(command)
    out, _ = rerun.communicate(timeout=400)
    assert rerun.returncode == 0, out
    assert f"resumed from step {killed_at} (epoch {killed_at // STEPS_PER_EPOCH + 1}," in out
    assert "Epoch 5/5" in out  # Keras' progress bar

    # weights, batch-norm statistics, spectral-norm vectors, optimizer state: as if never killed
    want, got = state_at(ref.run_dir), state_at(run_dir)
    assert sorted(want) == sorted(got) and len(want) > 100
    worst = max(float(np.abs(want[k].astype(np.float64) - got[k]).max()) for k in want)
    assert worst <= 1e-6, worst
    # every step's losses are the uninterrupted run's: same batches in the same order
    ref_rows, rows = csv_rows(ref.run_dir), csv_rows(run_dir)
    assert [int(r["step"]) for r in rows] == list(range(1, TOTAL + 1))
    for a, b in zip(ref_rows, rows):
        for k in LOSSES:
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-4, abs=1e-6), (a["step"], k)

    # the same command on the finished run says so and changes nothing
    from dagan_tf.cli import main

    before = os.stat(os.path.join(run_dir, "latest_net_G.keras")).st_mtime_ns
    capsys.readouterr()
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "is finished: step 20 of 20" in out and "Epoch" not in out, out
    assert os.stat(os.path.join(run_dir, "latest_net_G.keras")).st_mtime_ns == before


def test_mixed_precision_steps_per_execution_and_max_steps(workdir, capsys):
    from dagan_tf.training import run_training

    cfg = run_config(workdir, "options", use_vae=False, niter=1, niter_decay=0, save_latest_freq=2)
    # --max-steps 0 builds and writes everything at step 0 under the policy, trains nothing
    # (bfloat16 convolutions are emulated on this CPU: training in it would only cost time here)
    result = run_training(cfg, max_steps=0, mixed_precision=True, verbose=0)
    g = result.model.generator
    assert g.get_layer("head_0").compute_dtype == "bfloat16"  # mixed_bfloat16 on a CPU
    assert g.output.dtype == "float32" and g.get_layer("head_0").variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert (result.step, latest_backup_step(result.run_dir)) == (0, 0)

    with grappler_off():
        result = run_training(cfg, max_steps=3, steps_per_execution=2, verbose=0)
    assert (result.step, result.finished, result.resumed_from) == (3, False, None)
    assert int(result.model.g_optimizer.iterations) == 3 and int(result.model.d_optimizer.iterations) == 3
    # two steps per call: the logs see steps 2 and 3 (the data of the 3-step fit ends in the second call)
    rows = csv_rows(result.run_dir)
    assert [int(r["step"]) for r in rows] == [2, 3]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("G_GAN", "G_GAN_Feat", "D_fake", "D_real"))
    assert latest_backup_step(result.run_dir) == 3  # backed up where it stopped
    assert sorted(n for n in os.listdir(result.run_dir) if n.endswith(".keras")) == [
        "latest_net_D.keras", "latest_net_G.keras"]  # no epoch was completed

    capsys.readouterr()
    again = run_training(cfg, max_steps=3, steps_per_execution=2, verbose=0)
    assert again.model is None and again.step == 3
    assert "is at step 3, which reaches --max-steps 3; nothing to do" in capsys.readouterr().out


def test_evaluation_every_eval_freq_epochs_goes_to_its_log_and_tensorboard(workdir, monkeypatch):
    """eval_freq wiring: the evaluator runs after each completed eval_freq-th epoch, with the model
    being trained, and its values land in eval_log.csv and TensorBoard at that step (the metrics
    themselves are tested in test_evaluation_callback.py)."""
    from dagan_tf.evaluation.callback import PeriodicEvaluation
    from dagan_tf.training import run_training

    seen = []

    def evaluate_now(self):
        seen.append(int(self.model.g_optimizer.iterations))
        return {"val_fid": 10.0 + len(seen)}

    monkeypatch.setattr(PeriodicEvaluation, "evaluate_now", evaluate_now)
    cfg = run_config(workdir, "evaluated", use_vae=False, niter=3, niter_decay=0, eval_freq=2, eval_how_many=4)
    result = run_training(cfg, max_steps=10, verbose=0)
    assert seen == [8]  # after epoch 2 (steps 5-8); epoch 3 stopped at step 10 is no evaluation epoch
    with open(os.path.join(result.run_dir, "eval_log.csv")) as f:
        assert list(csv.reader(f)) == [["step", "epoch", "val_fid"], ["8", "2", "11"]]
    logs = os.path.join(result.run_dir, "logs")
    fid = [(e.step, tf.make_ndarray(v.tensor)) for n in os.listdir(logs)
           for e in tf.compat.v1.train.summary_iterator(os.path.join(logs, n)) for v in e.summary.value
           if v.tag == "evaluation/val_fid"]
    assert fid == [(8, np.float32(11.0))]
