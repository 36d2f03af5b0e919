"""A source's scheduled job loads that source only: its op and its quality gate, never a dbt step."""

from __future__ import annotations

import pytest

from modelatlas.assets.sources import GATE_CHECK
from modelatlas.definitions import build_definitions
from modelatlas.pipelines.registry import sources


@pytest.mark.parametrize("spec", sources(), ids=lambda spec: spec.name)
def test_a_source_job_runs_the_source_op_and_its_gate_only(spec) -> None:  # type: ignore[no-untyped-def]
    job = build_definitions().resolve_job_def(f"refresh_{spec.name}")
    graph = job.asset_layer.asset_graph

    assert [node.name for node in job.graph.node_defs] == [spec.dataset]
    checks = {(key.asset_key.path[0], key.name) for key in graph.asset_check_keys}
    assert checks <= {(dataset, GATE_CHECK) for dataset in spec.datasets()}
    assert len(graph.asset_check_keys) == sum(1 for table in spec.tables if table.suite is not None)
