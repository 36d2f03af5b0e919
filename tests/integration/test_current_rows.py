"""What the gate and the change report compare a batch with: a raw table's current rows."""

from __future__ import annotations

from modelatlas.pipelines.current import current_rows, empty_tables
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import TableSpec
from modelatlas.warehouse import ConnectionInfo
from modelatlas.warehouse.service import connect

TABLE = TableSpec(
    name="models",
    description="Models with a price.",
    columns={"id": "text", "price": "decimal", "content_hash": "text", "batch_id": "text"},
    version_columns=("id", "content_hash"),
    primary_key=("id",),
    tracked_by=(("id",), "content_hash"),
    suite=Suite(source="current", entity="models", key=("id",), guard_shrink=True, jump_columns=("price",)),
)


def test_size_and_listing_are_the_latest_batch_s_and_prices_every_row_s(connection: ConnectionInfo) -> None:
    with connect(connection, autocommit=True) as conn:
        conn.execute("drop schema if exists raw_current cascade")
        conn.execute("create schema raw_current")
        conn.execute("create table raw_current.models (id text, price numeric, content_hash text, batch_id text)")
        conn.execute("create table raw_current.empty (id text)")
        conn.execute(
            "insert into raw_current.models values "
            "('m1', 1, 'h1', 'b2'), ('m2', 2, 'h2', 'b1'), ('m3', null, 'h3', 'b2')"
        )
    current = current_rows(connection, "raw_current", TABLE)
    assert current.row_count == 2
    assert current.contents == {("m1",): "h1", ("m3",): "h3"}
    # m2 was not in the latest batch (quarantined, say): its price is still the one a new batch is compared with.
    assert current.prices == {("m1",): {"price": 1.0}, ("m2",): {"price": 2.0}}
    assert current_rows(connection, "raw_current", TableSpec("gone", "", {}, ())).row_count == 0
    assert empty_tables(connection, "raw_current", ["models", "empty", "missing"]) == {"empty", "missing"}
