"""A source's incremental state: kept in dlt's state with each loaded batch, restored from the warehouse when the
local pipeline is gone, and left as it was when the gate blocks a batch."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from modelatlas.pipelines.engine import load_standalone
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Batch, Request, SourceSpec, TableSpec
from modelatlas.warehouse import ConnectionInfo, read_only_query

# (state the fetch saw, cursor it kept) of every fetch, in order.
SEEN: list[tuple[dict[str, object], int]] = []


def count_up(request: Request) -> Batch:
    cursor = int(request.state.get("cursor", 0)) + 1
    SEEN.append((dict(request.state), cursor))
    return Batch(tables={"ticks": [{"tick": cursor}]}, origin="counter", state={"cursor": cursor})


def blocked(request: Request) -> Batch:
    SEEN.append((dict(request.state), -1))
    return Batch(tables={"ticks": [{"tock": 1}]}, origin="counter", state={"cursor": 999})


TICKS = TableSpec(
    name="ticks",
    description="One row per fetch.",
    columns={"tick": "bigint"},
    version_columns=("tick",),
    disposition="append",
    suite=Suite(source="counter", entity="ticks", key=("tick",), not_null=("tick",)),
)
COUNTER = SourceSpec(
    name="counter_state",
    display_name="Counter",
    description="Counts its fetches in its state.",
    kind="usage",
    tables=(TICKS,),
    extract=count_up,
    keeps_state=True,
)


def test_state_is_kept_with_each_load_restored_from_the_warehouse_and_not_saved_when_blocked(
    connection: ConnectionInfo, tmp_path: Path
) -> None:
    SEEN.clear()
    pipelines = tmp_path / "pipelines"
    for _ in range(2):
        load_standalone(COUNTER, connection, pipelines)
    assert SEEN == [({}, 1), ({"cursor": 1}, 2)]

    shutil.rmtree(pipelines)  # a new machine: only the warehouse remembers
    load_standalone(COUNTER, connection, pipelines)
    assert SEEN[-1] == ({"cursor": 2}, 3)

    refused = load_standalone(dataclasses.replace(COUNTER, extract=blocked), connection, pipelines)
    assert refused.blocked  # a batch without its declared column
    load_standalone(COUNTER, connection, pipelines)
    assert SEEN[-1] == ({"cursor": 3}, 4)
    _, rows = read_only_query(connection, "select array_agg(tick order by tick) from raw_counter_state.ticks")
    assert rows == [([1, 2, 3, 4],)]
