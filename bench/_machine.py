"""The machine a bench ran on, from /proc/cpuinfo (printed with every figure: machines differ)."""

from __future__ import annotations

import os

__all__ = ["cpu_line"]


def cpu_line() -> str:
    """Model name, the cores this process may use, and the vector / bf16 flags that decide speed."""
    name, flags = "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and name == "unknown CPU":
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name}, {len(os.sched_getaffinity(0))} cores, flags: {' '.join(shown) or 'none of avx2/avx512'}"
