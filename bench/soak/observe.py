"""What the soak samples every few seconds while it runs: the run queue, and CPU and memory of its process tree."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from modelatlas.services import open_instance

QUEUED = "QUEUED"
IN_FLIGHT = ("NOT_STARTED", "STARTING", "STARTED")


@dataclass
class Sample:
    """One look at the queue and the processes."""

    at: float
    queued: dict[str, int]
    in_flight: int
    cpu_percent: float
    rss_bytes: int
    load_average: float


@dataclass
class Processes:
    """CPU seconds of every process of the tree, kept per process so that ended ones still count."""

    cpu_s: dict[tuple[int, float], float] = field(default_factory=dict)
    _previous_total: float | None = None
    _previous_at: float | None = None

    def look(self, roots: list[psutil.Process]) -> tuple[float, int]:
        """(CPU use since the previous look in % of one core, RSS of the tree now)."""
        rss = 0
        for process in _tree(roots):
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    self.cpu_s[(process.pid, process.create_time())] = times.user + times.system
                    rss += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        total, now = sum(self.cpu_s.values()), time.monotonic()
        percent = 0.0
        if self._previous_total is not None and self._previous_at is not None and now > self._previous_at:
            percent = 100 * (total - self._previous_total) / (now - self._previous_at)
        self._previous_total, self._previous_at = total, now
        return percent, rss


def _tree(roots: list[psutil.Process]) -> list[psutil.Process]:
    seen: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            for process in [root, *root.children(recursive=True)]:
                seen.setdefault(process.pid, process)
        except psutil.NoSuchProcess:
            continue
    return list(seen.values())


def warehouse_process(pgdata: Path) -> psutil.Process | None:
    """The embedded PostgreSQL server's postmaster (its backends are its children)."""
    try:
        return psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


class Sampler(threading.Thread):
    """Samples the queue (from the Dagster instance) and the process tree every `interval_s` until stopped."""

    def __init__(self, instance_home: Path, pgdata: Path, interval_s: float = 5.0) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.instance_home = instance_home
        self.pgdata = pgdata
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.processes = Processes()
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join(timeout=60)

    def run(self) -> None:
        """Sample until stopped."""
        import dagster as dg

        me = psutil.Process(os.getpid())
        with open_instance(self.instance_home) as instance:
            while not self._stop_event.is_set():
                try:
                    self.samples.append(self._sample(instance, me, dg))
                except Exception as exc:  # a missed sample must not end the soak
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                self._stop_event.wait(self.interval_s)

    def _sample(self, instance: Any, me: psutil.Process, dg: Any) -> Sample:
        statuses = [dg.DagsterRunStatus[name] for name in (QUEUED, *IN_FLIGHT)]
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
        queued = Counter(run.job_name for run in runs if run.status.value == QUEUED)
        in_flight = sum(1 for run in runs if run.status.value != QUEUED)
        roots = [me] + [process for process in [warehouse_process(self.pgdata)] if process is not None]
        cpu, rss = self.processes.look(roots)
        return Sample(time.time(), dict(queued), in_flight, cpu, rss, os.getloadavg()[0])
