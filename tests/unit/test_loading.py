"""The dlt settings every ModelAtlas pipeline runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelatlas.pipelines.loading import make_pipeline


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
