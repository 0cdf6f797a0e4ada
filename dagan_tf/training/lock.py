"""One training process per run folder.

Two `dagan-tf train` runs writing into one folder would corrupt each other's backups and logs
(one dies on the other's temporary file, the CSV interleaves). A run therefore holds a lock file
in its folder, created exclusively (`O_CREAT | O_EXCL`), holding the owner's pid, host and start
time. A second run is refused with a message naming the holder. A lock left by a process that is
gone (same host, pid not alive, or the same pid reused by this very process) is stale: it is taken
over with a note. A lock held on another host cannot be checked from here; it is refused, and the
message says which file to delete if that run is really gone.
"""

from __future__ import annotations

import datetime
import json
import os
import socket

from dagan_tf.files import WriteError

__all__ = ["RunLock", "RunLockedError"]


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """`with RunLock(folder, name=".lock"):` holds `folder/name` for the block.

    Attributes after `acquire()`: `took_over` (the stale holder's description, or None).
    """

    def __init__(self, folder, name: str = ".lock"):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, name)
        self.took_over: str | None = None
        self._held = False

    @staticmethod
    def _describe(owner: dict) -> str:
        started = owner.get("started", "?")
        return f"process {owner.get('pid', '?')} on host {owner.get('host', '?')} (started {started})"

    def _read_owner(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}  # half-written or unreadable: its writer died before finishing it

    def _stale(self, owner: dict) -> bool:
        if not owner:
            return True
        if owner.get("host") != socket.gethostname():
            return False
        pid = int(owner.get("pid", -1))
        return pid == os.getpid() or pid <= 0 or not _alive(pid)

    def acquire(self) -> "RunLock":
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.datetime.now().isoformat(timespec="seconds")}
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as e:
            raise WriteError(e.errno, f"cannot create the run folder {self.folder}: {e.strerror}") from None
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read_owner()
                if not self._stale(owner):
                    raise RunLockedError(
                        f"run folder {self.folder} is in use by {self._describe(owner)}: two trainings "
                        f"cannot share a run folder (choose another --name; if that process is gone, "
                        f"delete {self.path})") from None
                self.took_over = self._describe(owner) if owner else "an unreadable lock file"
                os.remove(self.path)
                continue
            except OSError as e:
                raise WriteError(e.errno, f"cannot write the lock file {self.path}: {e.strerror}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self._held = True
            return self
        raise RunLockedError(f"run folder {self.folder}: another process took the lock {self.path} meanwhile")

    def release(self) -> None:
        if self._held:
            self._held = False
            owner = self._read_owner()
            if owner.get("pid") == os.getpid():
                try:
                    os.remove(self.path)
                except OSError:
                    pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
