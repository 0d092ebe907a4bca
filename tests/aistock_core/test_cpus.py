"""`cpus.usable_cpus`: the affinity mask capped by the container's CFS quota, read from a cgroup tree."""

from __future__ import annotations

import os

import pytest

from aistock_core.cpus import cpu_quota, usable_cpus


def v2(tmp_path, text: str):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def v1(tmp_path, quota: str, period: str = "100000"):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return tmp_path


@pytest.fixture
def sixty_four(monkeypatch):
    """A 64-CPU node."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)


@pytest.mark.parametrize(("make", "quota", "cpus"), [
    (lambda p: v2(p, "max 100000\n"), None, 64),
    (lambda p: v2(p, "250000 100000\n"), 2.5, 3),  # 2.5 CPUs of time: 3 threads keep it busy
    (lambda p: v2(p, "50000 100000\n"), 0.5, 1),
    (lambda p: v1(p, "-1"), None, 64),
    (lambda p: v1(p, "200000"), 2.0, 2),
    (lambda p: v2(p, "garbage"), None, 64),  # unreadable v2 file, no v1 tree: no quota
    (lambda p: p, None, 64),  # no cgroup files at all
])
def test_the_quota_caps_the_cpus(tmp_path, sixty_four, make, quota, cpus):
    root = make(tmp_path)
    assert cpu_quota(root) == quota
    assert usable_cpus(root) == cpus


def test_the_affinity_mask_caps_a_larger_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert usable_cpus(v2(tmp_path, "800000 100000")) == 2
