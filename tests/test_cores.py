"""The CPUs a container may use, not the host's: gunicorn's workers and verify_audit's jobs."""

import os
import runpy

from aliases.audit.verify import default_jobs
from portal.cores import usable_cores

from .deploy_helpers import ROOT


def test_the_cpus_of_the_affinity_mask_count_not_the_hosts(monkeypatch):
    # A container limited to two of the host's 64 CPUs (a cpuset) sees 64 in os.cpu_count().
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5}, raising=False)
    assert usable_cores() == 2
    assert default_jobs() == 2
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["workers"] == 5  # 2 x cores + 1


def test_without_an_affinity_call_the_cpu_count_counts(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert usable_cores() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1
