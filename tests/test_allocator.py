"""dagan_tf/training/allocator.py: training maps tensors of 1 MiB or more on their own (glibc).

The check runs in a fresh process, as a training run starts: glibc consults its mmap threshold
only when its heap has no free block to serve a request from, and this test process's heap has
whatever earlier tests left in it.
"""

import os
import subprocess
import sys

from dagan_tf.training import allocator

#: Prints, for each block size, whether glibc gave it a mapping of its own: the IS_MMAPPED bit
#: (0x2) of the chunk's size field, the word before the block (glibc's malloc.c chunk layout).
_PROBE = """
import ctypes, importlib.util, sys
# the module file alone: importing the package would start TensorFlow (seconds per probe)
spec = importlib.util.spec_from_file_location("allocator", sys.argv[2])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
map_large_allocations = allocator.map_large_allocations
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def mapped(size):
    block = libc.malloc(size)
    flag = ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value & 0x2
    libc.free(block)
    return int(bool(flag))
sizes = [3 << 19, 1 << 19, 9 << 20]
before = [mapped(s) for s in sizes]
set_it = map_large_allocations(int(sys.argv[1]))
print(int(set_it), *before, *[mapped(s) for s in sizes])
"""


def _probe(threshold: int, env_changes: dict) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", _PROBE, str(threshold), allocator.__file__], capture_output=True,
                         text=True, env=env, check=True)
    return [int(v) for v in out.stdout.split()]


def test_blocks_from_the_threshold_up_are_mapped_on_their_own_after_the_call():
    # set?, then 1.5 MiB / 512 KiB / 9 MiB mapped before the call, then after it
    set_it, *before_and_after = _probe(allocator.TRAINING_MMAP_THRESHOLD, {})
    assert set_it == 1 and allocator.TRAINING_MMAP_THRESHOLD == 1 << 20
    assert before_and_after[3:] == [1, 0, 1]  # 1.5 MiB mapped, 512 KiB from the heap
    assert _probe(8 << 20, {})[4:] == [0, 0, 1]  # a threshold of 8 MiB: 1.5 MiB from the heap


def test_a_threshold_the_user_chose_wins(monkeypatch):
    assert _probe(1 << 20, {"MALLOC_MMAP_THRESHOLD_": "4194304"}) == [0, 0, 0, 1, 0, 0, 1]
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")
    assert allocator.map_large_allocations() is False
