"""dagan_tf/training/lock.py: one training process per run folder."""

import json
import os
import socket
import subprocess
import sys

import pytest

from dagan_tf.training.lock import RunLock, RunLockedError


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                    "started": "2026-11-27T10:00:00"}))
        with pytest.raises(RunLockedError) as info:
            RunLock(tmp_path).acquire()
        message = str(info.value)
        assert f"run folder {tmp_path} is in use by process {holder.pid} on host {socket.gethostname()} " \
               "(started 2026-11-27T10:00:00)" in message
        assert f"delete {tmp_path / '.lock'}" in message
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == holder.pid  # untouched


def test_a_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    with RunLock(tmp_path) as lock:
        assert lock.took_over == f"process {dead.pid} on host {socket.gethostname()} (started x)"
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / ".lock").exists()  # released


def test_other_hosts_and_unreadable_locks(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    with pytest.raises(RunLockedError, match="process 1 on host elsewhere"):
        RunLock(tmp_path).acquire()
    (tmp_path / ".lock").write_text("{half")  # its writer died mid-write
    with RunLock(tmp_path) as lock:
        assert lock.took_over == "an unreadable lock file"
    with RunLock(tmp_path, ".lock-worker1"):  # a worker's lock is its own
        with RunLock(tmp_path):
            assert sorted(os.listdir(tmp_path)) == [".lock", ".lock-worker1"]
