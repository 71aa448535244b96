"""The machine's CPU from /proc, for the benches that report cores by process group (crm.py, load.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def machine_ticks() -> tuple[int, int]:
    """(all ticks, idle ticks) of the machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(parts[:8]), parts[3] + parts[4]


def wait_for_quiet(
    max_wait: float, log: Callable[[str], None], threshold_cores: float = 0.3
) -> dict[str, float]:
    """Wait (bounded) until the machine is idle; returns the cores in use just before the run."""
    started = time.monotonic()
    cores = os.cpu_count() or 1
    while True:
        t0, i0 = machine_ticks()
        time.sleep(1.0)
        t1, i1 = machine_ticks()
        busy = cores * (1 - (i1 - i0) / max(1, t1 - t0))
        waited = time.monotonic() - started
        if busy <= threshold_cores or waited >= max_wait:
            if busy > threshold_cores:
                log(f"machine still busy ({busy:.2f} of {cores} cores) after {waited:.0f} s: figures low?")
            return {"busy_cores_before": round(busy, 2), "waited_s": round(waited, 1)}


def process_ticks() -> dict[int, tuple[str, int, int, int, str]]:
    """pid -> (name, process group, CPU ticks, start time in ticks since boot, command line)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
            cmdline = (
                Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # [2] process group, [11] + [12] CPU, [19] start time
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        out[int(entry.name)] = (
            name,
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
            int(fields[19]),
            cmdline,
        )
    return out


def ticks_since_boot() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK"))
