"""`dagan-tf train` interrupted, with nothing lost (dagan_tf/training/run.py, backup.py, lock.py):
SIGTERM / SIGINT back up the last completed step and exit with one line; a second training in the
same run folder is refused; a full disk during a backup names the path and leaves no temporaries;
a bad label file mid-epoch ends in one line, and the fixed rerun resumes. Grappler is off in every
run (tests/run_helpers.py).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import grappler_off
from tests.run_helpers import (CLI, REPO, TOTAL, cli, csv_rows, latest_backup_step, make_workdir,
                               run_config, state_at, write_yaml)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory)


#: The CLI in a subprocess that sends itself `SIGNAL` (a real signal, through the kernel) when the
#: run's global step reaches STEP, so the interruption point is exact.
CLI_SIGNAL_AT = CLI.replace("from dagan_tf.cli import main; ", """\
import functools, os, signal, keras, dagan_tf.training as training
class SignalAt(keras.callbacks.Callback):
    progress = None
    def on_train_batch_end(self, batch, logs=None):
        if self.progress.step == STEP:
            os.kill(os.getpid(), signal.SIGNAL)
training.run_training = functools.partial(training.run_training, callbacks=[SignalAt()])
from dagan_tf.cli import main; """)


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
        yaml_path = write_yaml(cfg, os.path.join(workdir, f"{sig}.yaml"))
        script = CLI_SIGNAL_AT.replace("STEP", "3").replace("SIGNAL", sig)
        proc = subprocess.Popen([sys.executable, "-c", script, "train", "--config", yaml_path, "--max-steps", "6"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[sig] = (proc, yaml_path, os.path.join(cfg.checkpoints_dir, cfg.name))
    with grappler_off():
        ref = run_training(run_config(workdir, "six_steps", save_latest_freq=100), max_steps=6, verbose=0)

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
        assert [int(r["step"]) for r in csv_rows(run_dir)] == [1, 2, 3]
        assert not os.path.exists(os.path.join(run_dir, ".lock"))  # released

        before = _files(run_dir)
        capsys.readouterr()
        assert main(["train", "--config", yaml_path, "--set", "ngf=16"]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"dagan-tf train: error: backup {backup}: variable ") and "another config" in last
        assert _files(run_dir) == before  # a refused resume writes nothing (config.yaml included)
        reruns[sig] = (cli(["train", "--config", yaml_path, "--max-steps", "6"]), run_dir)

    want = state_at(ref.run_dir, 6)
    for sig, (rerun, run_dir) in reruns.items():
        out, _ = rerun.communicate(timeout=400)
        assert rerun.returncode == 0, out
        assert "resumed from step 3 (epoch 1, 3 of its 4 steps done)" in out
        assert "\r" not in out  # piped: one line per epoch, no carriage-return bar
        got = state_at(run_dir, 6)
        worst = max(float(np.abs(want[k].astype(np.float64) - got[k]).max()) for k in want)
        assert worst <= 1e-6, (sig, worst)
        assert [int(r["step"]) for r in csv_rows(run_dir)] == list(range(1, 7))


def test_a_second_training_in_the_same_folder_is_refused(workdir, capsys):
    from dagan_tf.cli import main

    cfg = run_config(workdir, "busy", use_vae=False)
    yaml_path = write_yaml(cfg, os.path.join(workdir, "busy.yaml"))
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    first = cli(["train", "--config", yaml_path, "--max-steps", "2"])
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
    assert [int(r["step"]) for r in csv_rows(run_dir)] == [1, 2]  # the first run's log, not interleaved


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
    yaml_path = write_yaml(cfg, str(tmp_path / "bad_label.yaml"))
    run_dir = os.path.join(cfg.checkpoints_dir, cfg.name)
    quiet = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")  # as the dagan-tf command sets it (native_logs.py)
    failed = subprocess.run([sys.executable, "-c", CLI, "train", "--config", yaml_path, "--max-steps", "6"],
                            cwd=REPO, capture_output=True, text=True, timeout=900, env=quiet)
    assert failed.returncode == 2, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("dagan-tf train: error: ") and str(bad) in last, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    assert latest_backup_step(run_dir) == 3 and [int(r["step"]) for r in csv_rows(run_dir)] == [1, 2, 3]

    bad.write_bytes(good)
    rerun = cli(["train", "--config", yaml_path, "--max-steps", "6"])
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out
    assert "resumed from step 3 (epoch 1, 3 of its 4 steps done)" in out
    assert [int(r["step"]) for r in csv_rows(run_dir)] == list(range(1, 7))
