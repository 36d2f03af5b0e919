"""The Arrow load path of the Hugging Face catalog: tables created empty first, then csv loads that merge `models`
on the id and append one `model_stats` observation per model and fetch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from modelatlas.pipelines import engine
from modelatlas.pipelines.http import RetryPolicy
from modelatlas.pipelines.huggingface import SPEC
from modelatlas.pipelines.loading import make_pipeline
from modelatlas.simulator import Simulator, build_simulator, sample_environment
from modelatlas.simulator.core import load_fixture
from modelatlas.warehouse import ConnectionInfo, read_only_query

pytestmark = pytest.mark.integration
FAST = RetryPolicy(attempts=3, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=2.0)
FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
DATASET = "raw_huggingface_arrow"


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with build_simulator([SPEC]) as server:
        yield server


def query(connection: ConnectionInfo, sql: str) -> list[tuple[Any, ...]]:
    return list(read_only_query(connection, sql)[1])


def test_empty_tables_are_created_with_their_declared_types_without_fetching(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    pipeline = make_pipeline("huggingface_empty", "raw_huggingface_empty", connection.url(), tmp_path)

    assert engine.ensure_tables(pipeline, connection, SPEC) is True
    assert engine.ensure_tables(pipeline, connection, SPEC) is False  # they exist now

    assert simulator.requests == []
    assert query(
        connection,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_huggingface_empty' and table_name in ('models', 'model_stats') "
        "and column_name in ('downloads', 'trending_score', 'created_at', 'tags', 'observed_at', 'gated') "
        "order by 1, 2",
    ) == [
        ("model_stats", "downloads", "bigint"),
        ("model_stats", "observed_at", "timestamp with time zone"),
        ("model_stats", "trending_score", "double precision"),
        ("models", "created_at", "timestamp with time zone"),
        ("models", "downloads", "bigint"),
        ("models", "gated", "character varying"),
        ("models", "tags", "jsonb"),
        ("models", "trending_score", "double precision"),
    ]
    assert query(connection, "select count(*) from raw_huggingface_empty.models") == [(0,)]


def test_arrow_batches_load_as_csv_merge_the_catalog_and_append_the_counters(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sample_environment(simulator, [SPEC])

    def load() -> engine.SourceLoad:
        return engine.load_standalone(SPEC, connection, tmp_path, env=env, dataset=DATASET, policy=FAST)

    first = load()
    hashes = dict(query(connection, f"select id, content_hash from {DATASET}.models"))
    handler = simulator.handlers["huggingface"]
    busier = [{**model, "downloads": model["downloads"] + 1000, "likes": model["likes"] + 1} for model in FIXTURE]
    monkeypatch.setattr(handler, "models", busier)
    second = load()

    assert first.loaded_rows("models") == second.loaded_rows("models") == len(FIXTURE)
    assert second.loaded_rows("model_stats") == len(FIXTURE)
    # Only the counters moved: the catalog is unchanged, its version too; the stats are a new observation.
    assert len(second.changes["models"].changed) == 0 and not second.changes["models"].added
    assert second.versions["models"] == first.versions["models"]
    assert second.versions["model_stats"] != first.versions["model_stats"]
    assert dict(query(connection, f"select id, content_hash from {DATASET}.models")) == hashes

    attached = dlt.attach(pipeline_name=f"huggingface__{DATASET}", pipelines_dir=str(tmp_path))
    trace = attached.last_trace
    assert trace is not None and trace.last_load_info is not None
    jobs = [job for package in trace.last_load_info.load_packages for job in package.jobs["completed_jobs"]]
    data_files = {
        (job.job_file_info.table_name, job.job_file_info.file_format)
        for job in jobs
        if job.job_file_info.table_name in ("models", "model_stats") and job.job_file_info.file_format != "sql"
    }
    assert data_files == {("models", "csv"), ("model_stats", "csv")}  # PostgreSQL COPY, not inserts

    assert query(
        connection,
        f"select count(*), count(distinct id), count(distinct batch_id), count(_dlt_load_id), count(_dlt_id), "
        f"count(*) filter (where jsonb_typeof(payload) = 'object' and jsonb_typeof(tags) = 'array') "
        f"from {DATASET}.models",
    ) == [(len(FIXTURE), len(FIXTURE), 1, len(FIXTURE), len(FIXTURE), len(FIXTURE))]
    assert query(
        connection,
        f"select count(*), count(distinct id), count(distinct batch_id), count(distinct (id, batch_id)) "
        f"from {DATASET}.model_stats",
    ) == [(2 * len(FIXTURE), len(FIXTURE), 2, 2 * len(FIXTURE))]
    assert query(
        connection,
        f"select max(s.downloads) - min(s.downloads), max(m.downloads) = max(s.downloads), "
        f"count(distinct s.observed_at) from {DATASET}.model_stats s join {DATASET}.models m using (id) "
        "where id = 'deepseek-ai/DeepSeek-R1'",
    ) == [(1000, True, 2)]
    assert query(
        connection,
        f"select payload->>'id', license, created_at::text, gated from {DATASET}.models "
        "where id = 'meta-llama/Llama-3.1-8B-Instruct'",
    ) == [("meta-llama/Llama-3.1-8B-Instruct", "llama3.1", "2024-07-18 08:56:00+00", "manual")]
