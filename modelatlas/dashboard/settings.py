"""The dashboard's settings and the command that serves it (no Streamlit import: the CLI reads these)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelatlas.settings import parse_port, parse_seconds, tool_path

APP_PATH = Path(__file__).parent / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_REFRESH_S = 30.0


@dataclass(frozen=True)
class DashboardSettings:
    """Where the dashboard listens and how long its query results are reused."""

    host: str
    port: int
    refresh_s: float


def dashboard_settings(env: Mapping[str, str] | None = None) -> DashboardSettings:
    """`MODELATLAS_DASHBOARD_HOST`, `_PORT` and `_REFRESH_S` (seconds a query result is reused)."""
    env = os.environ if env is None else env
    return DashboardSettings(
        host=env.get("MODELATLAS_DASHBOARD_HOST", "").strip() or DEFAULT_HOST,
        port=parse_port(env.get("MODELATLAS_DASHBOARD_PORT"), DEFAULT_PORT, "MODELATLAS_DASHBOARD_PORT"),
        refresh_s=parse_seconds(
            env.get("MODELATLAS_DASHBOARD_REFRESH_S"), DEFAULT_REFRESH_S, "MODELATLAS_DASHBOARD_REFRESH_S"
        ),
    )


def streamlit_command(host: str, port: int) -> list[str]:
    """`streamlit run` of the dashboard, headless, without usage statistics."""
    return [
        tool_path("streamlit"),
        "run",
        str(APP_PATH),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
