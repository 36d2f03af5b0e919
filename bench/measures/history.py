"""Measure 4: 30 simulated days of 10-minute cycles with 1% of prices changing a day; warehouse bytes per cycle.

Every simulated cycle loads the registry through the engine's real path (the simulator serving that day's published
JSON, the gate, the dlt load) with a simulated clock: the request's `fetched_at`, the scd2 boundary. dbt builds the
price marts once per simulated day. Of each day's 144 cycles the one that sees the day's changes runs, and
`unchanged_per_day` of the others (all of them would take hours); the bytes an unchanged cycle adds are measured, and
the 30-day total is projected from both kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.generator import price_changes, registry_providers, rescale_price
from bench.harness import BenchWarehouse
from bench.results import Check, MeasureResult, Target, median

CYCLES_PER_DAY = 144
CHANGE_SHARE = 0.01
START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_TABLE = "raw_genai_prices.price_points"


@dataclass
class PriceSlot:
    """Where one flat price sits in the registry data: provider, model and price key."""

    provider: int
    model: int
    key: str

    @property
    def name(self) -> str:
        """A stable name of the slot."""
        return f"{self.provider}/{self.model}/{self.key}"


def price_slots(providers: list[dict[str, Any]]) -> list[PriceSlot]:
    """Every plain price (a decimal string) of every model with one price set."""
    slots = []
    for p_index, provider in enumerate(providers):
        for m_index, model in enumerate(provider.get("models", [])):
            prices = model.get("prices")
            if isinstance(prices, dict):
                slots += [PriceSlot(p_index, m_index, key) for key, value in prices.items() if isinstance(value, str)]
    return slots


def apply_changes(providers: list[dict[str, Any]], slots: list[PriceSlot], changed: set[str]) -> None:
    """Raise the changed prices by 5% in place (a price change as the registry would publish it)."""
    for slot in slots:
        if slot.name in changed:
            prices = providers[slot.provider]["models"][slot.model]["prices"]
            prices[slot.key] = rescale_price(prices[slot.key], Decimal("1.05"))


def dataset_bytes(bench: BenchWarehouse, database: str) -> int:
    """Bytes of every table, index and TOAST relation the registry's raw schema holds, after a VACUUM.

    The merged tables (providers, models, prices) rewrite their rows at every load; autovacuum makes that space
    reusable within minutes, so each measurement first does its work: the growth measured is what stays.
    """
    from modelatlas.warehouse.service import connect

    with connect(bench.info.with_database(database), autocommit=True) as conn:
        tables = conn.execute(
            "select format('%I.%I', schemaname, tablename) from pg_tables where schemaname = 'raw_genai_prices'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"vacuum {table}")  # names from the catalog
        row = conn.execute(
            "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'raw_genai_prices' and c.relkind = 'r'"
        ).fetchone()
        return int(row[0] if row else 0)


def history_rows(bench: BenchWarehouse, database: str) -> int:
    """Rows of the registry's price history."""
    from modelatlas.warehouse.service import connect

    with connect(bench.info.with_database(database)) as conn:
        row = conn.execute(f"select count(*) from {HISTORY_TABLE}").fetchone()
        return int(row[0] if row else 0)


def build_price_marts(bench: BenchWarehouse, database: str) -> float:
    """dbt run of the registry's price history and every model downstream, as `modelatlas dbt` runs it."""
    return bench.dbt(database, "run", "--select", "stg_genai_prices__price_points+", "--quiet")


def registry_loader(bench: BenchWarehouse, database: str, url: str) -> Callable[[datetime], None]:
    """A load of the registry published at `url` into `database` at a simulated time, through the engine's real path
    and the registry asset's own dlt pipeline (its state lives beside the asset's, under MODELATLAS_HOME/dlt)."""
    from modelatlas.pipelines.engine import load_source, request_for
    from modelatlas.pipelines.loading import make_pipeline
    from modelatlas.pipelines.registry import source
    from modelatlas.settings import source_config

    spec = source("genai_prices")
    info = bench.info.with_database(database)
    config = source_config(spec, {spec.variable("URL"): url, spec.variable("TIMEOUT"): "60"})
    pipeline = make_pipeline(spec.name, spec.dataset, info.url(), bench.home / "dlt" / database)

    def load(fetched_at: datetime) -> None:
        loaded = load_source(request_for(spec, config, fetched_at=fetched_at), pipeline, info)
        if loaded.blocked:
            raise RuntimeError(f"the gate blocked a simulated day's registry: {loaded.report()}")
        if loaded.batch.metadata.get("source_origin") != "published":
            raise RuntimeError(f"the registry did not load the simulated published JSON: {loaded.report()}")

    return load


def mean_bytes(values: list[int]) -> float:
    """The mean growth of a list of cycles (0 for none)."""
    return sum(values) / len(values) if values else 0.0


def median_bytes(values: list[int]) -> float:
    """The median growth of a list of cycles (0 for none)."""
    return median([float(value) for value in values]) if values else 0.0


def measure_history(
    bench: BenchWarehouse, database: str, days: int, unchanged_per_day: int, seed: int
) -> MeasureResult:
    """Measure 4: bytes per changed and per unchanged cycle over `days` simulated days, in `database` (a warehouse
    a full cycle filled: every source's tables and every mart exist)."""
    from modelatlas.pipelines.registry import source
    from modelatlas.simulator import Simulator, handler_for, sample_environment
    from modelatlas.simulator.genai_prices import RegistryHandler

    spec = source("genai_prices")
    providers = registry_providers(1, seed)
    slots = price_slots(providers)
    handler = handler_for(spec)
    assert isinstance(handler, RegistryHandler)
    changed_bytes: list[int] = []
    unchanged_bytes: list[int] = []
    unchanged_rows: list[int] = []
    changed_rows: list[int] = []
    dbt_s: list[float] = []
    with Simulator({spec.name: handler}) as simulator:
        load = registry_loader(bench, database, sample_environment(simulator, [spec])[spec.variable("URL")])
        # What the registry publishes is encoded when it is set: later changes to `providers` are the next day's.
        handler.update(providers)
        load(START)
        build_price_marts(bench, database)
        for day in range(1, days + 1):
            changed = price_changes([slot.name for slot in slots], CHANGE_SHARE, day, seed)
            apply_changes(providers, slots, changed)
            handler.update(providers)
            # The day's first cycle sees the changes; the later ones see the same registry again.
            for cycle in range(1 + unchanged_per_day):
                fetched_at = START + timedelta(
                    days=day, minutes=10 * cycle * (CYCLES_PER_DAY // (1 + unchanged_per_day))
                )
                size, rows = dataset_bytes(bench, database), history_rows(bench, database)
                load(fetched_at)
                grown, added = dataset_bytes(bench, database) - size, history_rows(bench, database) - rows
                (changed_bytes if cycle == 0 else unchanged_bytes).append(grown)
                (changed_rows if cycle == 0 else unchanged_rows).append(added)
            dbt_s.append(build_price_marts(bench, database))
    # The merge tables rewrite their rows on every load and VACUUM frees the old versions for a later load, so single
    # cycles swing by megabytes either way (a load that found no free space, then the VACUUM after it): the median
    # cycle of each kind is the growth, the period's net total its check.
    per_changed, per_unchanged = median_bytes(changed_bytes), median_bytes(unchanged_bytes)
    projected = days * (per_changed + (CYCLES_PER_DAY - 1) * per_unchanged)
    loads = len(changed_bytes) + len(unchanged_bytes)
    net_total = sum(changed_bytes) + sum(unchanged_bytes)
    note = (
        f"{days} days, {len(slots):,} registry prices, {CHANGE_SHARE:.0%} changed a day; "
        f"{loads} loads run ({unchanged_per_day} unchanged a day); "
        f"history rows per changed cycle {median([float(r) for r in changed_rows]):.0f}, per unchanged "
        f"{max(unchanged_rows, default=0)}; projected {projected / 2**20:.1f} MiB for {days * CYCLES_PER_DAY:,} cycles"
    )
    return MeasureResult(
        measure=4,
        title="storage growth",
        checks=[
            Check(4, "bytes per changed cycle (1% of prices), median", per_changed, " B", None, note),
            Check(
                4,
                "bytes per unchanged cycle, median",
                per_unchanged,
                " B",
                None,
                "raw_genai_prices tables, all 5, after VACUUM (what autovacuum does); "
                f"means: unchanged {mean_bytes(unchanged_bytes):,.0f} B, changed {mean_bytes(changed_bytes):,.0f} B",
            ),
            Check(
                4,
                "net growth over the period",
                float(net_total),
                " B",
                None,
                f"{loads} loads over {days} days: {net_total / max(loads, 1):,.0f} B per load",
            ),
            Check(
                4,
                "history rows added by unchanged cycles",
                float(sum(unchanged_rows)),
                " rows",
                Target("==", 0, " rows"),
                "size grows with the changes, not with the cycles",
            ),
        ],
        details={
            "changed_bytes": changed_bytes,
            "unchanged_bytes": unchanged_bytes,
            "changed_history_rows": changed_rows,
            "unchanged_history_rows": unchanged_rows,
            "dbt_build_s": dbt_s,
            "projected_bytes_30_days": projected,
            "net_bytes": net_total,
        },
    )
