"""Stopping a training run on Ctrl-C (SIGINT) or SIGTERM without losing a step.

While `StopOnSignal` is active, the first SIGINT or SIGTERM does not kill the process: it asks
`fit` to stop at the end of the step in progress (a step is never cut in half), after which the run
writes a backup of that step and raises `TrainingInterrupted`. A second signal acts as usual
(Ctrl-C again quits at once, losing the steps since the last backup), for a user who insists.
"""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["StopOnSignal", "TrainingInterrupted"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after a backup of the last completed step was written.

    `exit_code` is the shell's convention for a process ended by that signal (128 + number).
    """

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class StopOnSignal:
    """Context manager: SIGINT/SIGTERM call `on_signal(signum)` once, then the default handlers
    are back. Installs nothing outside the main thread (Python delivers signals only there)."""

    def __init__(self, on_signal):
        self.on_signal = on_signal
        self.received: int | None = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.received = signum
        for sig, handler in self._previous.items():  # a second signal acts as usual
            signal.signal(sig, handler)
        name = signal.Signals(signum).name
        print(f"\n{name} received: stopping after the current step and writing a backup "
              f"(send it again to quit at once)", file=sys.stderr, flush=True)
        self.on_signal(signum)

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.received is None:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        self._previous = {}
