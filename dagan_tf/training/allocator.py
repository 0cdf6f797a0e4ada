"""Peak memory of long training runs on glibc: large tensors mapped on their own, not carved from
the heap.

glibc's malloc serves requests below its mmap threshold from its heaps. The threshold starts at
128 KiB and rises (up to 32 MiB on 64-bit Linux) each time a mapped block is freed, so after the
first step most of TensorFlow's activations come from the heap, where freed blocks of mixed sizes
fragment it and the process holds more than its live tensors: peak RSS of an ADE20K 256x256
batch-1 step 4.7-5.0 GB, against 4.2 GB for the PyTorch re-statement (bench/bench_train.py
--memory). A fixed threshold of 1 MiB maps every tensor of 1 MiB or more on its own and unmaps it
when freed: 4.17-4.27 GB, for 1% more time per step (4 steps each, interleaved in one process). A
128 KiB threshold gave 4.18 GB but +20% time (page faults for the many small blocks); 4 MiB gave
4.36 GB. A user's own MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES mmap_threshold wins.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: mallopt's parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: the threshold training sets (module docstring)
TRAINING_MMAP_THRESHOLD = 1 << 20


def _user_chose_threshold() -> bool:
    return "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")


def map_large_allocations(threshold: int = TRAINING_MMAP_THRESHOLD) -> bool:
    """Sets this process's glibc mmap threshold to `threshold` bytes (module docstring), the trim
    threshold to twice that (glibc's own ratio), and returns the heap's free top to the system:
    malloc consults the mmap threshold only when no free heap block serves a request. Returns
    whether it was set: False off Linux with glibc, or where the user chose a threshold."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc" or _user_chose_threshold():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    if not (mallopt(M_MMAP_THRESHOLD, int(threshold)) and mallopt(M_TRIM_THRESHOLD, 2 * int(threshold))):
        return False
    malloc_trim(0)
    return True
