"""The dlt settings every ModelAtlas pipeline runs with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from modelatlas.pipelines.loading import LOAD_FILE_ROWS, make_pipeline, table_items


def test_pipelines_leave_ctrl_c_to_the_run_instead_of_failing_one_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With dlt's own handlers, a SIGINT during normalize or load failed that step only and the run went on
    # (exit 1 after every other source ran) instead of stopping the cycle (exit 130).
    monkeypatch.delenv("RUNTIME__INTERCEPT_SIGNALS", raising=False)
    pipeline = make_pipeline("signals", "raw_signals", "postgresql://user:secret@127.0.0.1:1/db", tmp_path)
    assert pipeline.runtime_config.intercept_signals is False


def test_a_setting_the_environment_makes_wins_over_modelatlas_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__INTERCEPT_SIGNALS", "true")
    pipeline = make_pipeline("signals_env", "raw_signals", "postgresql://user:secret@127.0.0.1:1/db", tmp_path)
    assert pipeline.runtime_config.intercept_signals is True


def test_a_big_arrow_table_is_given_to_dlt_in_slices_of_one_load_file_each() -> None:
    rows = pa.table({"n": list(range(2 * LOAD_FILE_ROWS + 5))})
    slices = list(table_items(rows))
    assert [part.num_rows for part in slices] == [LOAD_FILE_ROWS, LOAD_FILE_ROWS, 5]
    assert pa.concat_tables(slices).equals(rows)
    assert list(table_items(rows.slice(0, 0))) == []


def test_a_pipeline_never_starts_dlts_anonymous_telemetry(tmp_path: Path) -> None:
    # In a fresh interpreter: dlt resolves its runtime settings once per process, on the first touch of its config.
    script = (
        "import pathlib, sys\n"
        "from dlt.common.runtime import anon_tracker\n"
        "from modelatlas.pipelines.loading import make_pipeline\n"
        "pipeline = make_pipeline('t', 'raw_t', 'postgresql://u:p@127.0.0.1:1/db', pathlib.Path(sys.argv[1]))\n"
        "print(pipeline.run_context.runtime_config.dlthub_telemetry, anon_tracker._ANON_TRACKER_ENDPOINT)\n"
    )
    environment = {name: value for name, value in os.environ.items() if not name.startswith("RUNTIME__")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "None"]
