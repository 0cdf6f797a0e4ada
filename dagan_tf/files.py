"""Writing files so that a crash, a signal or a full disk never leaves half a file behind.

Every file the project writes for a user (snapshots, backups, logs, exports) goes through
`atomic_path`: the content is written under a temporary name beside the target, then renamed onto
it (atomic on POSIX), so readers see the old file or the new one, never a mix. A failed write
removes its temporary and raises `WriteError`, whose message names the target and the reason.

Temporary names start with a dot and contain `.tmp` (`.latest_net_G.1234.tmp.keras`); a process
that was killed mid-write leaves one behind, which `remove_stale_temporaries` deletes once no
writer can be alive (a run folder under its lock).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from typing import Iterator

__all__ = ["WriteError", "atomic_path", "temporary_name", "remove_stale_temporaries", "is_temporary"]

_TMP_MARK = ".tmp"


class WriteError(OSError):
    """A file or folder could not be written; the message names it and says why (disk full,
    permission denied, ...). Nothing partial is left at the target."""


def temporary_name(path: str) -> str:
    """`folder/.name.<pid>.tmp<ext>` for `folder/name<ext>` (the extension is kept: Keras only saves
    to names ending in `.keras`)."""
    folder, name = os.path.split(os.fspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.{os.getpid()}{_TMP_MARK}{ext}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of `temporary_name`'s (or an older `.tmp-*` backup folder)."""
    return name.startswith(".") and (_TMP_MARK in name)


def _describe(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only folder?)"
    return error.strerror or str(error)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


@contextlib.contextmanager
def atomic_path(path, *, what: str = "file") -> Iterator[str]:
    """Yield a temporary path beside `path`; when the block ends without error, rename it onto
    `path` (a folder target that exists is replaced). On any error the temporary is removed; an
    `OSError` becomes a `WriteError` naming `path`.

        with atomic_path("run/latest_net_G.keras") as tmp:
            model.save(tmp)
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise WriteError(e.errno, f"cannot create folder {folder} for {path}: {_describe(e)}") from None
    tmp = temporary_name(path)
    _remove(tmp)
    try:
        yield tmp
        if os.path.isdir(tmp) and os.path.isdir(path):
            _remove(path)  # os.replace cannot replace a non-empty folder
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if isinstance(e, WriteError):
            raise
        raise WriteError(e.errno, f"cannot write {what} {path}: {_describe(e)}") from None
    except BaseException:
        _remove(tmp)
        raise


def remove_stale_temporaries(folder) -> list[str]:
    """Delete the temporaries of dead writers directly in `folder`; return what was removed.
    Call it only where no writer can be alive (a locked run folder)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        if is_temporary(name):
            _remove(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    return removed
