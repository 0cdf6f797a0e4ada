"""Keeping TensorFlow's C++ log lines off a command-line user's terminal.

Importing TensorFlow prints lines like `Could not find cuda drivers`, `failed call to cuInit:
UNKNOWN ERROR (303)` or `This TensorFlow binary is optimized to use...`, written straight to file
descriptor 2 by C++ code before its logging is configured, so neither `TF_CPP_MIN_LOG_LEVEL` nor
Python can filter them. `quiet_tensorflow_import()` imports TensorFlow (and lets it look for
devices, where the CUDA lines come from) with descriptor 2 pointed at a temporary file, then puts
it back; what was written is replayed if the import fails. `TF_CPP_MIN_LOG_LEVEL=3` then keeps the
later C++ messages (Grappler's `remapper failed`, ...) quiet.

Only the `dagan-tf` command does this, after parsing its arguments and not with `--verbose`
(`dagan_tf/cli.py`); a library user's process is left alone. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["quiet_tensorflow_import"]


def quiet_tensorflow_import() -> None:
    """Import TensorFlow and find its devices with native stderr silenced (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            tf.get_logger().setLevel("ERROR")
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
