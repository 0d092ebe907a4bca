"""How many CPUs this process can use: the ones it may run on, capped by its container's CPU quota.

``os.cpu_count()`` counts the machine's CPUs; a pod limited to 2 CPUs on a 64-core node would start 64 threads
for 2 CPUs' worth of time, each thread then holding its block's temporaries and waiting for the quota. The
affinity mask gives the CPUs the process may run on (``taskset``, cpusets); the CFS quota (cgroup v2
``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, as a container sees its own cgroup) gives how many
of them it gets, rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """CPUs this process may run on, at most its cgroup's CPU quota (rounded up); at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cpu_quota(cgroup)
    return max(1, min(cpus, math.ceil(quota)) if quota is not None else cpus)


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The cgroup's CPU quota in CPUs (2.5 = 250 ms per 100 ms), or None where there is none or it cannot be
    read (no cgroup file system, another OS)."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # v2: "max 100000" or "200000 100000"
        if quota == "max":
            return None
    except (OSError, ValueError):
        try:  # v1: quota -1 means none
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
