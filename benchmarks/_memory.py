"""Peak memory of a benchmark process, shared by the benchmarks that measure it."""

from __future__ import annotations

from pathlib import Path


def vm_hwm_mb() -> float:
    """Peak resident set size of this process, MiB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    import resource  # noqa: PLC0415 (non-Linux fallback)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
