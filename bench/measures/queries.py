"""Measure 5: BI query latency on a year of price history at ten times the catalog size.

The warehouse is one real cycle at 10x (every source, every mart); a year of history is then written into the
`price_points` table of every price source the way dlt's scd2 merge records it (1% of the open prices a day get
their interval closed and a new version opened), the marts are rebuilt by dbt, and each BI query runs many times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, percentile
from modelatlas.pipelines.registry import dbt_vars

# Every price source's history (the sources with a `price_points` table).
PRICE_TABLES = tuple(f"raw_{name}.price_points" for name in dbt_vars()["price_sources"])
LIMIT_MS = 100.0
YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
USAGE_TABLE = "public.bench_usage"
# The README's bulk as-of pattern: each usage row (provider, model, time) of a usage table priced through
# marts.fct_price_timeline.
AS_OF_QUERY = (
    "select count(price.price_usd) "
    f"from {USAGE_TABLE} as usage "
    "left join lateral (select t.price_usd, t.source from marts.fct_price_timeline as t "
    "where t.provider = usage.provider and t.canonical_model_id = usage.model "
    "and t.component = 'input' and t.service_tier = 'standard' and t.condition = 'base' and t.region = 'global' "
    "and coalesce(t.valid_from, '-infinity') <= usage.used_at "
    "and (t.valid_to is null or usage.used_at < t.valid_to) "
    "order by coalesce(t.valid_from, '-infinity') desc limit 1) as price on true"
)
USAGE_ROWS = 10_000


def _columns(conn: Any, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (schema, name),
    ).fetchall()
    return [row[0] for row in rows]


def write_history(conn: Any, days: int, share: float) -> int:
    """A year of scd2 history in every price_points table: each day `share` of the open versions change price."""
    added = 0
    for table in PRICE_TABLES:
        columns = _columns(conn, table)
        if not columns:
            continue
        target = sql.SQL(table)  # names from PRICE_TABLES only
        conn.execute(sql.SQL("update {} set _dlt_valid_from = %s").format(target), (YEAR_START,))
        # The new version is open: its _dlt_valid_to is left null, not copied from the version it closes.
        versioned = ("price_usd", "price_hash", "_dlt_valid_from", "_dlt_valid_to", "_dlt_id")
        copied = [name for name in columns if name not in versioned]
        column_list = sql.SQL(", ").join(
            map(sql.Identifier, [*copied, "price_usd", "price_hash", "_dlt_valid_from", "_dlt_id"])
        )
        values = sql.SQL(", ").join(map(sql.Identifier, copied))
        for day in range(1, days + 1):
            at = YEAR_START + timedelta(days=day)
            # Pick the day's changes by a hash of the row and the day: repeatable, spread over every source.
            changed = conn.execute(
                sql.SQL(
                    "with picked as (select _dlt_id from {t} where _dlt_valid_to is null "
                    "and abs(hashtext(_dlt_id || %s)) %% 10000 < %s), "
                    "closed as (update {t} set _dlt_valid_to = %s where _dlt_id in (select _dlt_id from picked) "
                    "returning *) "
                    "insert into {t} ({cols}) select {vals}, price_usd * 1.05, md5(price_hash || %s), %s, "
                    "md5(_dlt_id || %s) from closed"
                ).format(t=target, cols=column_list, vals=values),
                (str(day), int(share * 10000), at, str(day), at, str(day)),
            )
            added += changed.rowcount
    return added


def _pick(conn: Any, query: str) -> list[Any]:
    return [row[0] for row in conn.execute(query).fetchall()]


def write_usage(conn: Any, rows: list[tuple[str, str, datetime]]) -> None:
    """Replace the usage table's rows (an organisation's usage: provider, model, time), analyzed as a loaded table."""
    conn.execute(f"create table if not exists {USAGE_TABLE} (provider text, model text, used_at timestamptz)")
    conn.execute(f"truncate {USAGE_TABLE}")
    with conn.cursor().copy(f"copy {USAGE_TABLE} (provider, model, used_at) from stdin") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(f"analyze {USAGE_TABLE}")


def bi_queries(conn: Any, rng: random.Random, setup: Any) -> dict[str, Callable[[], tuple[str, tuple[Any, ...]]]]:
    """Each BI query with fresh parameters per run, drawn from what the marts hold.

    `setup` is a writable autocommit connection: the as-of lookup writes fresh usage rows before each run.
    """
    models = _pick(
        conn, "select distinct canonical_model_id from marts.fct_price_history where canonical_model_id is not null"
    )
    tiers = _pick(
        conn, "select distinct capability_tier from marts.mart_model_comparison where capability_tier is not null"
    ) or [None]
    providers = _pick(conn, "select distinct provider from marts.mart_price_trends") or [None]
    offerings = conn.execute(
        "select distinct provider, canonical_model_id from marts.fct_price_timeline where component = 'input' "
        "and condition = 'base' and service_tier = 'standard' and region = 'global'"
    ).fetchall()

    def comparison() -> tuple[str, tuple[Any, ...]]:
        return (
            "select canonical_model_id, provider, display_name, input_price_per_mtok, output_price_per_mtok "
            "from marts.mart_model_comparison where capability_tier is not distinct from %s "
            "and input_price_per_mtok <= %s and supports_tools order by blended_price_per_mtok limit 50",
            (rng.choice(tiers), rng.choice([1, 3, 10])),
        )

    def history() -> tuple[str, tuple[Any, ...]]:
        return (
            "select source, provider, component, condition, price_usd, valid_from, valid_to "
            "from marts.fct_price_history where canonical_model_id = %s order by component, valid_from",
            (rng.choice(models),),
        )

    def trends() -> tuple[str, tuple[Any, ...]]:
        return (
            "select price_month, capability_tier, median_input_price_per_mtok, price_index "
            "from marts.mart_price_trends where provider is not distinct from %s order by price_month",
            (rng.choice(providers),),
        )

    def disagreements() -> tuple[str, tuple[Any, ...]]:
        return (
            "select canonical_model_id, provider, component, min_price_usd, max_price_usd, price_spread "
            "from marts.mart_price_consensus where sources_disagree order by price_spread desc nulls last limit 100",
            (),
        )

    def as_of() -> tuple[str, tuple[Any, ...]]:
        usage = [
            (*rng.choice(offerings), YEAR_START + timedelta(seconds=rng.randrange(365 * 86_400)))
            for _ in range(USAGE_ROWS)
        ]
        write_usage(setup, usage)
        return (AS_OF_QUERY, ())

    return {
        "filtered model comparison": comparison,
        "one model's price history": history,
        "monthly price trends": trends,
        "current source disagreements": disagreements,
        "as-of price of 10,000 usage rows": as_of,
    }


def measure_queries(bench: BenchWarehouse, database: str, days: int, repeats: int, seed: int) -> MeasureResult:
    """Measure 5: p50/p95 of each BI query over `repeats` runs on `days` of history in `database`."""
    from modelatlas.warehouse.service import connect

    info = bench.info.with_database(database)
    with connect(info, autocommit=True) as conn:
        added = write_history(conn, days, 0.01)
        total = sum(
            int(conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(t))).fetchone()[0]) for t in PRICE_TABLES
        )
    bench.dbt(database, "run", "--quiet")  # every model over the new history; tests are no BI user's wait
    rng = random.Random(seed)
    checks = []
    details: dict[str, Any] = {"history_rows_written": added, "price_points_rows": total}
    # Both in autocommit: a BI session holds no transaction (and no lock on the usage table) between queries.
    with connect(info, autocommit=True) as setup, connect(info, autocommit=True) as conn:
        conn.execute("set default_transaction_read_only = on")
        history_rows = int(conn.execute("select count(*) from marts.fct_price_history").fetchone()[0])
        details["fct_price_history_rows"] = history_rows
        for name, make in bi_queries(conn, rng, setup).items():
            query, params = make()
            conn.execute(query, params).fetchall()  # one warm-up run: a BI tool's first query pays the cold cache
            samples = []
            for _ in range(repeats):
                query, params = make()
                started = time.perf_counter()
                rows = conn.execute(query, params).fetchall()
                samples.append((time.perf_counter() - started) * 1000)
            p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
            details[name] = {"p50_ms": p50, "p95_ms": p95, "samples_ms": samples, "rows_returned": len(rows)}
            returned = f"{len(rows):,} rows returned"
            if query == AS_OF_QUERY:
                returned = f"{rows[0][0]:,} of {USAGE_ROWS:,} usage rows priced"
            checks.append(
                Check(
                    5,
                    f"p95 {name}",
                    p95,
                    " ms",
                    Target("<", LIMIT_MS, " ms"),
                    f"p50 {p50:.1f} ms over {repeats} runs; {returned}; {history_rows:,} history rows, {days} days",
                )
            )
    return MeasureResult(measure=5, title="BI queries", checks=checks, details=details)
