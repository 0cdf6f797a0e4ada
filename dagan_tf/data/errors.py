"""DataError, and getting it back out of TensorFlow.

A bad file is found inside `tf.data` (the loader runs in `tf.numpy_function`), so what reaches the
caller is a TensorFlow error (`InvalidArgumentError ... [[{{node load_example}}]] [Op:IteratorGetNext]`)
whose text buries the DataError under two tracebacks; `model.fit` wraps it once more. The loader
hands every DataError to `remember` before raising it, and `data_error_from` finds it again:

    try:
        model.fit(ds)
    except Exception as e:
        error = data_error_from(e)
        if error is None:
            raise
        print(f"error: {error}")  # 'cannot read label file .../00042.png: OSError: ...'
"""

from __future__ import annotations

import collections
import re
import threading

__all__ = ["DataError", "data_error_from", "remember"]

#: DataErrors remembered (the newest); tf.data may raise several before the first reaches the caller.
_REMEMBER_AT_MOST = 64
#: How a Python exception's last line reads inside a TensorFlow error message.
_DATA_ERROR_LINE = re.compile(r"(?:^|[\s.])DataError: (.+)$", re.MULTILINE)


class DataError(ValueError):
    """A data folder or file is missing, unpaired, unreadable or holds impossible values (the message names it)."""


class _Recent:
    """The last DataErrors raised by the loaders, by message (thread-safe: tf.data loads in parallel)."""

    def __init__(self, limit: int):
        self._lock = threading.Lock()
        self._errors: collections.OrderedDict[str, DataError] = collections.OrderedDict()
        self._limit = limit

    def add(self, error: DataError) -> None:
        with self._lock:
            self._errors.pop(str(error), None)
            self._errors[str(error)] = error
            while len(self._errors) > self._limit:
                self._errors.popitem(last=False)

    def found_in(self, text: str) -> DataError | None:
        with self._lock:
            for message in reversed(self._errors):
                if message and message in text:
                    return self._errors[message]
        return None


_RECENT = _Recent(_REMEMBER_AT_MOST)


def remember(error: DataError) -> DataError:
    """Keep `error` so that `data_error_from` recovers it from the TF error it turns into; returns it."""
    _RECENT.add(error)
    return error


def _chain(exc: BaseException):
    """`exc`, then its causes and contexts (each once)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _text(exc: BaseException) -> str:
    message = getattr(exc, "message", None)  # tf.errors.OpError keeps the op's message here
    return message if isinstance(message, str) and message else str(exc)


def data_error_from(exc: BaseException) -> DataError | None:
    """The DataError behind `exc` (a TF error from a dataset iterator or `model.fit`), or None.

    The DataError itself when `exc` is one or has one in its cause/context chain; else the remembered
    DataError whose message the TF error text holds (the same object, message naming the file); else,
    for errors raised where nothing was remembered (another process), a new DataError with the
    message read back from the text. None when `exc` has nothing to do with a DataError.
    """
    for link in _chain(exc):
        if isinstance(link, DataError):
            return link
    for link in _chain(exc):
        found = _RECENT.found_in(_text(link))
        if found is not None:
            return found
    for link in _chain(exc):
        match = _DATA_ERROR_LINE.search(_text(link))
        if match:
            return DataError(match.group(1).strip())
    return None
