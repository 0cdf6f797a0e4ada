"""Progress for people: a bar on a terminal, plain lines in a file or a pipe (no escape codes there).

    bar = progress_bar(len(files), "image")
    for i, f in enumerate(files):
        ...
        bar.update(i + 1)

On a terminal this is Keras' `Progbar`; elsewhere a line `k/total units (p%)` at most every
`PLAIN_EVERY_S` seconds and one at the end. Keras' own bar writes ANSI colour codes whether or not
its output is a terminal, which a log file or `| tee` then keeps.
"""

from __future__ import annotations

import sys
import time

__all__ = ["PLAIN_EVERY_S", "progress_bar"]

#: Seconds between two plain progress lines.
PLAIN_EVERY_S = 10.0


class _PlainProgress:
    """`update(current)` / `add(n)` like Keras' Progbar, printing plain lines."""

    def __init__(self, total: int, unit: str, stream):
        self.total, self.unit, self.stream = int(total), unit, stream
        self.current = 0
        self._last = None

    def update(self, current, values=None, finalize=None):
        self.current = int(current)
        now = time.monotonic()
        done = self.current >= self.total if finalize is None else finalize
        if done or self._last is None or now - self._last >= PLAIN_EVERY_S:
            self._last = now
            share = f" ({self.current / self.total:.0%})" if self.total else ""
            print(f"{self.current}/{self.total} {self.unit}s{share}", file=self.stream, flush=True)

    def add(self, n, values=None):
        self.update(self.current + n, values)


def progress_bar(total: int, unit: str, verbose: bool = True, stream=None):
    """A progress reporter of `total` `unit`s: Keras' Progbar on a terminal, plain lines elsewhere, silent
    unless `verbose`. Both take `update(current)` and `add(n)`."""
    import keras

    stream = sys.stdout if stream is None else stream
    if not verbose:
        return keras.utils.Progbar(total, unit_name=unit, verbose=0)
    if stream.isatty():
        return keras.utils.Progbar(total, unit_name=unit)
    return _PlainProgress(total, unit, stream)
