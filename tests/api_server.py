"""The API served over real HTTP on loopback: in a thread of the test process (so a test can count what it does), or
as `modelatlas api` in a process of its own (the benchmark's load must not share the server's interpreter)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping

import httpx
import uvicorn
from fastapi import FastAPI

from modelatlas.settings import PROJECT_ROOT, tool_path

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn in a thread; yields its base URL and stops it on leaving."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def api_process(env: Mapping[str, str], workers: int = 1) -> Iterator[str]:
    """`modelatlas api` in a process of its own with `env`; yields its base URL once it answers."""
    port = free_port()
    command = [tool_path("modelatlas"), "api", "--port", str(port), "--workers", str(workers)]
    # Its log goes to a file, not a pipe: a pipe nobody reads fills up and stops the server mid-load.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open while the server runs, closed on leaving
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                log.seek(0)
                error = log.read().decode(errors="replace")
                raise RuntimeError(f"modelatlas api exited with {process.returncode}: {error[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/openapi.json", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("modelatlas api did not answer in time")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
