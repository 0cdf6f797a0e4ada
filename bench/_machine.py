"""The machine a bench ran on, from /proc/cpuinfo (printed with every figure: machines differ)."""

from __future__ import annotations

import os

__all__ = ["cpu_line", "fp32_peak_gflops"]


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


def fp32_peak_gflops() -> tuple[float, str]:
    """(peak GFLOP/s of the cores this process may use, the assumption in words)."""
    cores = len(os.sched_getaffinity(0))
    flags, mhz = set(), 0.0
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    # two FMA units per core (Intel since Haswell, AMD since Zen 2): 2 x lanes x 2 FLOP per cycle
    lanes, unit = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2") if "fma" in flags else (4, "SSE")
    ghz = mhz / 1000 or 2.0
    peak = cores * ghz * 2 * lanes * 2
    return peak, (f"{cores} cores x {ghz:.2f} GHz (cpuinfo{'' if mhz else ': unknown, assumed'}) x 2 {unit} "
                  f"FMA units x {lanes} fp32 lanes x 2 = {peak:.0f} GFLOP/s")
