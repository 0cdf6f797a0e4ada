"""`dagan-tf train` (dagan_tf/training/run.py): the files a run writes, step-exact crash recovery,
and a finished run doing nothing.

One uninterrupted reference run (in this process) is compared with a run that is killed with
SIGKILL after a backup and then started again with the same command (both in subprocesses, through
the CLI). The tiny config still goes through every path: random crops and flips, the VAE encoder
and its noise, the lr decay (niter 3 + niter_decay 2 epochs of 4 steps), backups in the middle of
an epoch (every 3 steps).

Grappler (TensorFlow's graph optimiser) is switched off in all three runs: it costs ~25 s per
process on these tiny graphs and changes nothing that is tested here (every run uses the same
setting).
"""

import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from dagan_tf.config import load_config
from tests.conftest import tiny_config, write_tiny_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_EPOCH, EPOCHS = 4, 5
TOTAL = STEPS_PER_EPOCH * EPOCHS
LOSSES = ["G_GAN", "G_GAN_Feat", "G_KLD", "D_fake", "D_real"]

#: Runs the CLI in a subprocess with Grappler off (see the module docstring).
_CLI = ("import sys, tensorflow as tf; tf.config.optimizer.set_experimental_options("
        "{'disable_meta_optimizer': True}); from dagan_tf.cli import main; sys.exit(main(sys.argv[1:]))")


#: The runs' config, less the run's name and folders (`run_config`): a VAE on 32x32 crops of 36x36 maps of
#: 3 classes, 5 epochs (3 + 2 decaying) of 4 steps, backups every 3 steps.
RUN_CONFIG = dict(
    dataset_mode="custom", label_nc=3, no_instance=True, load_size=36, crop_size=32, ngf=8, ndf=8, z_dim=16,
    use_vae=True, no_vgg_loss=True, vgg_weights="none", batchSize=2, niter=3, niter_decay=2, save_latest_freq=3,
    save_epoch_freq=2, display_freq=5, print_freq=1, seed=7,
)


def run_config(tmp, name, **changes):
    """RUN_CONFIG for the run `name` with its checkpoints and data under `tmp`, then `changes`."""
    folders = dict(name=name, checkpoints_dir=os.path.join(tmp, "checkpoints"), dataroot=os.path.join(tmp, "data"))
    return tiny_config(RUN_CONFIG, folders, **changes)


def _write_yaml(cfg, path):
    with open(path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f)
    return path


def _backup_state(run_dir):
    folder = os.path.join(run_dir, "backup", f"step-{TOTAL:09d}")
    with np.load(os.path.join(folder, "state.npz")) as z:
        return {k: z[k] for k in z.files}


def _csv_rows(run_dir):
    with open(os.path.join(run_dir, "loss_log.csv")) as f:
        return list(csv.DictReader(f))


def _latest_backup_step(run_dir):
    folder = os.path.join(run_dir, "backup")
    steps = [int(n[5:]) for n in os.listdir(folder) if n.startswith("step-")
             and os.path.isfile(os.path.join(folder, n, "meta.json"))] if os.path.isdir(folder) else []
    return max(steps, default=0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("train"))
    write_tiny_dataset(os.path.join(tmp, "data"))
    return tmp


def _cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-c", _CLI, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


class _KillAfterBackup(threading.Thread):
    """Watches a training subprocess and SIGKILLs it as soon as a backup of step >= `after` exists."""

    def __init__(self, proc, run_dir, after, timeout=1200):
        super().__init__(daemon=True)
        self.proc, self.run_dir, self.after, self.timeout = proc, run_dir, after, timeout
        self.killed_at, self.output = None, ""

    def run(self):
        deadline = time.monotonic() + self.timeout
        while (_latest_backup_step(self.run_dir) < self.after and self.proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.output, _ = self.proc.communicate()
        self.killed_at = _latest_backup_step(self.run_dir)


@pytest.fixture(scope="module")
def runs(workdir):
    """Starts the run that gets killed (subprocess, through the CLI), then trains the uninterrupted
    run in this process meanwhile (the machine has two cores)."""
    from dagan_tf.training import run_training

    crash_cfg = run_config(workdir, "crashed")
    command = ["train", "--config", _write_yaml(crash_cfg, os.path.join(workdir, "crashed.yaml"))]
    crash_dir = os.path.join(crash_cfg.checkpoints_dir, crash_cfg.name)
    killer = _KillAfterBackup(_cli(command), crash_dir, after=6)
    killer.start()

    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        cfg = run_config(workdir, "uninterrupted")
        result = run_training(cfg, verbose=0)
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **options})
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

    rows = _csv_rows(run_dir)
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

    rerun = _cli(command)
    out, _ = rerun.communicate(timeout=400)
    assert rerun.returncode == 0, out
    assert f"resumed from step {killed_at} (epoch {killed_at // STEPS_PER_EPOCH + 1}," in out
    assert "Epoch 5/5" in out  # Keras' progress bar

    # weights, batch-norm statistics, spectral-norm vectors, optimizer state: as if never killed
    want, got = _backup_state(ref.run_dir), _backup_state(run_dir)
    assert sorted(want) == sorted(got) and len(want) > 100
    worst = max(float(np.abs(want[k].astype(np.float64) - got[k]).max()) for k in want)
    assert worst <= 1e-6, worst
    # every step's losses are the uninterrupted run's: same batches in the same order
    ref_rows, rows = _csv_rows(ref.run_dir), _csv_rows(run_dir)
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
    assert (result.step, _latest_backup_step(result.run_dir)) == (0, 0)

    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        result = run_training(cfg, max_steps=3, steps_per_execution=2, verbose=0)
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **options})
    assert (result.step, result.finished, result.resumed_from) == (3, False, None)
    assert int(result.model.g_optimizer.iterations) == 3 and int(result.model.d_optimizer.iterations) == 3
    # two steps per call: the logs see steps 2 and 3 (the data of the 3-step fit ends in the second call)
    rows = _csv_rows(result.run_dir)
    assert [int(r["step"]) for r in rows] == [2, 3]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("G_GAN", "G_GAN_Feat", "D_fake", "D_real"))
    assert _latest_backup_step(result.run_dir) == 3  # backed up where it stopped
    assert sorted(n for n in os.listdir(result.run_dir) if n.endswith(".keras")) == [
        "latest_net_D.keras", "latest_net_G.keras"]  # no epoch was completed

    capsys.readouterr()
    again = run_training(cfg, max_steps=3, steps_per_execution=2, verbose=0)
    assert again.model is None and again.step == 3
    assert "is at step 3, which reaches --max-steps 3; nothing to do" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Nothing lost: signals, errors, a second process
# ------------------------------------------------------------------------------------------------
#: The CLI in a subprocess that sends itself `SIGNAL` (a real signal, through the kernel) when the
#: run's global step reaches STEP, so the interruption point is exact.
_CLI_SIGNAL_AT = _CLI.replace("from dagan_tf.cli import main; ", """\
import functools, os, signal, keras, dagan_tf.training as training
class SignalAt(keras.callbacks.Callback):
    progress = None
    def on_train_batch_end(self, batch, logs=None):
        if self.progress.step == STEP:
            os.kill(os.getpid(), signal.SIGNAL)
training.run_training = functools.partial(training.run_training, callbacks=[SignalAt()])
from dagan_tf.cli import main; """.replace("\n", "\n"))


def _state_at(run_dir, step):
    folder = os.path.join(run_dir, "backup", f"step-{step:09d}")
    with np.load(os.path.join(folder, "state.npz")) as z:
        return {k: z[k] for k in z.files}


def _files(folder):
    """{relative path: (size, mtime)} of every file below `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            found[os.path.relpath(p, folder)] = (os.path.getsize(p), os.stat(p).st_mtime_ns)
    return found


def test_sigterm_and_sigint_back_up_the_last_step_and_the_rerun_continues(workdir, capsys):
    """Stopped by SIGTERM / SIGINT after step 3 with no periodic backup due (every 100 steps): exit
    128+N with one line, a backup of step 3; a refused resume (another ngf) writes nothing; the rerun
    resumes at step 3 and ends equal to an uninterrupted run."""
    from dagan_tf.cli import main
    from dagan_tf.training import run_training

    procs = {}
    for sig in ("SIGTERM", "SIGINT"):
        cfg = run_config(workdir, sig.lower(), save_latest_freq=100)
        yaml_path = _write_yaml(cfg, os.path.join(workdir, f"{sig}.yaml"))
        script = _CLI_SIGNAL_AT.replace("STEP", "3").replace("SIGNAL", sig)
        proc = subprocess.Popen([sys.executable, "-c", script, "train", "--config", yaml_path, "--max-steps", "6"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[sig] = (proc, yaml_path, os.path.join(cfg.checkpoints_dir, cfg.name))
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        ref = run_training(run_config(workdir, "six_steps", save_latest_freq=100), max_steps=6, verbose=0)
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **options})

    reruns = {}
    for sig, (proc, yaml_path, run_dir) in procs.items():
        out, err = proc.communicate(timeout=400)
        number = getattr(signal, sig).value
        assert proc.returncode == 128 + number, (out, err)
        backup = os.path.join(run_dir, "backup", "step-000000003")
        assert err.strip().splitlines()[-1] == (
            f"dagan-tf train: stopped by {sig} at step 3 of {TOTAL}; backup written to "
            f"{os.path.join(run_dir, 'backup')}: run the same command to resume"), err
        assert os.path.isfile(os.path.join(backup, "meta.json"))
        assert [int(r["step"]) for r in _csv_rows(run_dir)] == [1, 2, 3]
        assert not os.path.exists(os.path.join(run_dir, ".lock"))  # released

        before = _files(run_dir)
        capsys.readouterr()
        assert main(["train", "--config", yaml_path, "--set", "ngf=16"]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"dagan-tf train: error: backup {backup}: variable ") and "another config" in last
        assert _files(run_dir) == before  # a refused resume writes nothing (config.yaml included)
        reruns[sig] = (_cli(["train", "--config", yaml_path, "--max-steps", "6"]), run_dir)

    want = _state_at(ref.run_dir, 6)
    for sig, (rerun, run_dir) in reruns.items():
        out, _ = rerun.communicate(timeout=400)
        assert rerun.returncode == 0, out
        assert "resumed from step 3 (epoch 1, 3 of its 4 steps done)" in out
        assert "\r" not in out  # piped: one line per epoch, no carriage-return bar
        got = _state_at(run_dir, 6)
        worst = max(float(np.abs(want[k].astype(np.float64) - got[k]).max()) for k in want)
        assert worst <= 1e-6, (sig, worst)
        assert [int(r["step"]) for r in _csv_rows(run_dir)] == list(range(1, 7))


def test_a_second_training_in_the_same_folder_is_refused(workdir, capsys):
    from dagan_tf.cli import main

    cfg = run_config(workdir, "busy", use_vae=False)
    yaml_path = _write_yaml(cfg, os.path.join(workdir, "busy.yaml"))
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    first = _cli(["train", "--config", yaml_path, "--max-steps", "2"])
    deadline = time.monotonic() + 300
    while not os.path.exists(os.path.join(run_dir, ".lock")) and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    capsys.readouterr()
    assert main(["train", "--config", yaml_path, "--max-steps", "2"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"dagan-tf train: error: run folder {run_dir} is in use by process {first.pid} on host ")
    out, _ = first.communicate(timeout=400)
    assert first.returncode == 0, out
    assert [int(r["step"]) for r in _csv_rows(run_dir)] == [1, 2]  # the first run's log, not interleaved


def test_a_full_disk_during_the_backup_names_the_path_and_leaves_nothing(workdir, monkeypatch):
    from dagan_tf.files import WriteError
    from dagan_tf.training import run_training

    cfg = run_config(workdir, "full_disk", use_vae=False, save_latest_freq=1)
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, ".latest_net_G.99999.tmp.keras"), "w") as f:
        f.write("left by a killed writer")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(WriteError) as info:
        run_training(cfg, max_steps=2, verbose=0)
    target = os.path.join(run_dir, "backup", "step-000000001")
    assert info.value.strerror == f"cannot write training backup {target}: no space left on the device"
    leftovers = [os.path.join(r, n) for r, ds, ns in os.walk(run_dir) for n in ds + ns if "tmp" in n]
    assert leftovers == []  # the stale temporary removed at start, the failed backup's too
    assert not os.path.exists(os.path.join(run_dir, "backup", "step-000000001"))


def test_a_bad_label_file_mid_epoch_ends_in_one_line_and_the_fixed_rerun_resumes(workdir, tmp_path):
    """scene6.png (the 4th batch in file order) is truncated: steps 1-3 run, a backup of step 3 is
    written, the last line names the file (exit 2); after the fix the rerun resumes at step 3."""
    data = tmp_path / "data"
    shutil.copytree(os.path.join(workdir, "data"), data)
    bad = data / "train_label" / "scene6.png"
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    cfg = run_config(str(tmp_path), "bad_label", dataroot=str(data), serial_batches=True, use_vae=False,
                      save_latest_freq=100)
    yaml_path = _write_yaml(cfg, str(tmp_path / "bad_label.yaml"))
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    quiet = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")  # as the dagan-tf command sets it (native_logs.py)
    failed = subprocess.run([sys.executable, "-c", _CLI, "train", "--config", yaml_path, "--max-steps", "6"],
                            cwd=REPO, capture_output=True, text=True, timeout=900, env=quiet)
    assert failed.returncode == 2, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("dagan-tf train: error: ") and str(bad) in last, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    assert _latest_backup_step(run_dir) == 3 and [int(r["step"]) for r in _csv_rows(run_dir)] == [1, 2, 3]

    bad.write_bytes(good)
    rerun = _cli(["train", "--config", yaml_path, "--max-steps", "6"])
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out
    assert "resumed from step 3 (epoch 1, 3 of its 4 steps done)" in out
    assert [int(r["step"]) for r in _csv_rows(run_dir)] == list(range(1, 7))


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
