"""The Arrow load path of the Hugging Face catalog into tables created empty first, as the asset does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines.huggingface import huggingface_source
from modelatlas.pipelines.loading import append_where_nothing_to_merge, ensure_tables, make_pipeline, run_source
from modelatlas.simulator.core import load_fixture
from modelatlas.simulator.huggingface import HuggingFaceHandler
from modelatlas.simulator.server import Simulator
from modelatlas.warehouse import ConnectionInfo, read_only_query

pytestmark = pytest.mark.integration
FIXTURE: list[dict[str, Any]] = load_fixture("huggingface")
ORGANIZATIONS = sorted({item["author"] for item in FIXTURE})


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator({"huggingface": HuggingFaceHandler(None)}) as server:
        yield server


def test_arrow_batches_load_into_tables_created_empty_and_merge_on_the_id(
    simulator: Simulator, connection: ConnectionInfo, tmp_path: Path
) -> None:
    dataset = "raw_huggingface_arrow"
    pipeline = make_pipeline("huggingface_arrow", dataset, connection.url(), tmp_path)

    def source() -> Any:
        return huggingface_source(base_url=simulator.root_url("huggingface"), organizations=ORGANIZATIONS)

    ensure_tables(pipeline, source())
    # Into the empty table the catalog appends (nothing to merge with); once it holds rows, it merges.
    assert append_where_nothing_to_merge(pipeline, source()) == ["models"]
    first = run_source(pipeline, source())
    assert append_where_nothing_to_merge(pipeline, source()) == []
    second = run_source(pipeline, source())
    assert first.row_counts == second.row_counts == {"models": len(FIXTURE), "model_stats": len(FIXTURE)}
    _, models = read_only_query(
        connection,
        f"select count(*), count(distinct id), count(_dlt_load_id), count(_dlt_id), "
        f"count(*) filter (where jsonb_typeof(payload) = 'object' and jsonb_typeof(tags) = 'array') "
        f"from {dataset}.models",
    )
    assert models[0] == (len(FIXTURE),) * 5
    _, stats = read_only_query(
        connection, f"select count(*), count(distinct batch_id), count(_dlt_load_id) from {dataset}.model_stats"
    )
    assert stats[0] == (2 * len(FIXTURE), 2, 2 * len(FIXTURE))
    _, llama = read_only_query(
        connection,
        f"select payload->>'id', license, created_at::text from {dataset}.models "
        "where id = 'meta-llama/Llama-3.1-8B-Instruct'",
    )
    assert llama == [("meta-llama/Llama-3.1-8B-Instruct", "llama3.1", "2024-07-18 08:56:00+00")]
