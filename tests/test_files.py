"""dagan_tf.files: atomic writes that name the path on failure and leave nothing partial."""

import errno
import os

import pytest

from dagan_tf.files import WriteError, atomic_path, is_temporary, remove_stale_temporaries, temporary_name


def test_atomic_path_replaces_the_target_whole(tmp_path):
    target = tmp_path / "sub" / "loss_log.csv"
    with atomic_path(target) as tmp:
        assert os.path.basename(tmp) == f".loss_log.{os.getpid()}.tmp.csv" and is_temporary(os.path.basename(tmp))
        with open(tmp, "w") as f:
            f.write("new")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text() == "new" and os.listdir(target.parent) == ["loss_log.csv"]
    with atomic_path(target) as tmp:  # over an existing file
        with open(tmp, "w") as f:
            f.write("newer")
    assert target.read_text() == "newer"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "latest_net_G.keras"
    target.write_text("old")
    with pytest.raises(WriteError) as info:
        with atomic_path(target, what="snapshot") as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(info.value.strerror) == f"cannot write snapshot {target}: no space left on the device"
    assert info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == ["latest_net_G.keras"] and target.read_text() == "old"


def test_a_read_only_folder_is_named(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "makedirs", refuse)  # root ignores chmod: simulate the refusal
    with pytest.raises(WriteError, match=r"cannot create folder .*ro for .*ro/config.yaml: permission denied"):
        with atomic_path(tmp_path / "ro" / "config.yaml"):
            pass


def test_folders_are_written_atomically_too(tmp_path):
    target = tmp_path / "step-000000003"
    for content in ("first", "second"):
        with atomic_path(target) as tmp:
            os.makedirs(tmp)
            (open(os.path.join(tmp, "meta.json"), "w")).write(content)
    assert os.listdir(tmp_path) == ["step-000000003"] and (target / "meta.json").read_text() == "second"


def test_stale_temporaries_are_removed(tmp_path):
    for name in (".latest_net_G.123.tmp.keras", ".tmp-000000009-123", "latest_net_G.keras", ".lock"):
        (tmp_path / name).write_text("x")
    os.makedirs(tmp_path / ".step-000000004.77.tmp")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(os.path.basename(r) for r in removed) == [
        ".latest_net_G.123.tmp.keras", ".step-000000004.77.tmp", ".tmp-000000009-123"]
    assert sorted(os.listdir(tmp_path)) == [".lock", "latest_net_G.keras"]
    assert temporary_name("/a/b.keras") == f"/a/.b.{os.getpid()}.tmp.keras"
    assert remove_stale_temporaries(tmp_path / "absent") == []
