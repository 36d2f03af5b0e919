"""The benchmark's own warehouse and timing helpers: one embedded PostgreSQL in a throwaway MODELATLAS_HOME."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
from psycopg import sql

from modelatlas.alerts.settings import alert_variables
from modelatlas.pipelines.registry import sources
from modelatlas.redaction import OWN_SECRET_VARIABLES
from modelatlas.settings import PROJECT_ROOT, environment, warehouse_settings
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import connect

T = TypeVar("T")
log = logging.getLogger("bench")
# Settings of the caller's environment that would point the benchmark at another warehouse or real providers, or
# change what a source reads (every variable of every source spec).
ISOLATED_VARIABLES = (
    "MODELATLAS_WAREHOUSE_URL",
    "MODELATLAS_WAREHOUSE_DATABASE",
    "MODELATLAS_DAGSTER_DATABASE",
    "DAGSTER_HOME",
    *OWN_SECRET_VARIABLES,
    *alert_variables(),
    *sorted({variable for spec in sources() for variable in spec.variables()}),
)
# Compiled bytecode of the interpreter's packages and the project, kept beside the virtualenv between runs.
BYTECODE_DIR = Path(sys.prefix) / "bench-pycache"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BenchWarehouse:
    """The benchmark's PostgreSQL server and the MODELATLAS_HOME it lives in."""

    home: Path
    port: int
    warehouse: Warehouse
    info: ConnectionInfo

    def env(self) -> dict[str, str]:
        """The variables that point ModelAtlas (and a child process) at this warehouse."""
        return {"MODELATLAS_HOME": str(self.home), "MODELATLAS_WAREHOUSE_PORT": str(self.port)}

    def dbt(self, database: str, *args: str) -> float:
        """`modelatlas dbt -- <args>` against `database`, as a user runs it; its wall time in seconds.

        The source lists the union models read (`--vars`) are given as the runs give them: `modelatlas dbt` does not
        pass them itself.
        """
        from modelatlas.assets.dbt import vars_arguments

        env = {**os.environ, **self.env(), "MODELATLAS_WAREHOUSE_DATABASE": database}
        command = [str(Path(sys.executable).parent / "modelatlas"), "dbt", "--", *args, *vars_arguments()]
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"dbt {' '.join(args)} in {database} failed: {completed.stdout[-1500:]}")
        return time.perf_counter() - started

    def execute(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode and return its rows (none for statements without)."""
        with connect(self.info, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def drop_schemas(self, *names: str) -> None:
        """Drop schemas and everything in them (a measure's scratch datasets)."""
        with connect(self.info, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))

    def database_bytes(self) -> int:
        """The warehouse database's size on disk."""
        rows = self.execute("select pg_database_size(current_database())")
        return int(rows[0][0])


def compile_bytecode(prefix: Path = BYTECODE_DIR) -> float:
    """Compile every module the measured processes import into `prefix`, once; seconds it took (little when done).

    A deployment runs from compiled bytecode: Python writes it on first import, and every later process (each run the
    daemon launches, each dbt invocation) reads it. A caller that disables writing it (PYTHONDONTWRITEBYTECODE) would
    otherwise have every child process compile thousands of modules again, and time that instead of the product.
    """
    paths = sysconfig.get_paths()
    packages = sorted({paths["purelib"], paths["platlib"]})
    folders = [*packages, str(PROJECT_ROOT / "modelatlas"), str(PROJECT_ROOT / "bench")]
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    # -qq: some packages ship files that are not Python 3 (templates, test data); they are never imported.
    subprocess.run([sys.executable, "-m", "compileall", "-qq", "-j", "0", *folders], env=env, check=False)
    return time.perf_counter() - started


@contextlib.contextmanager
def compiled_bytecode(prefix: Path = BYTECODE_DIR) -> Iterator[None]:
    """This process and its children import from compiled bytecode in `prefix`, compiled first if needed."""
    seconds = compile_bytecode(prefix)
    log.info("bytecode in %s ready in %.1f s", prefix, seconds)
    saved = sys.pycache_prefix, sys.dont_write_bytecode
    sys.pycache_prefix, sys.dont_write_bytecode = str(prefix), False
    try:
        with environment({"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": None}):
            yield
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = saved


@contextlib.contextmanager
def bench_warehouse(port: int | None = None, keep: bool = False) -> Iterator[BenchWarehouse]:
    """A fresh embedded warehouse in a temporary MODELATLAS_HOME on a free port; stopped and removed afterwards.

    Everything measured inside runs from compiled bytecode, as a deployment does.
    """
    home = Path(tempfile.mkdtemp(prefix="modelatlas-bench-"))
    chosen = port or free_port()
    overrides: dict[str, str | None] = dict.fromkeys(ISOLATED_VARIABLES)
    overrides |= {"MODELATLAS_HOME": str(home), "MODELATLAS_WAREHOUSE_PORT": str(chosen)}
    with compiled_bytecode(), environment(overrides):
        warehouse = Warehouse(warehouse_settings())
        try:
            info = warehouse.ensure_ready()
            yield BenchWarehouse(home, chosen, warehouse, info)
        finally:
            with contextlib.suppress(Exception):
                warehouse.stop()
            if not keep:
                shutil.rmtree(home, ignore_errors=True)


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Run `action` once; its wall time in seconds and its result."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


class TreeRssSampler:
    """Samples the resident memory of a process and all its descendants; keeps the peak of the sum."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> int:
        """The current resident set size of the whole tree, in bytes (0 once the process has gone)."""
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
