"""The status benchmark's pure parts: the probe history generator's rows and the figures its measures check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.measures.status import (
    LOAD_LIMIT_X,
    LoadFigures,
    bytes_per_million,
    load_checks,
    query_check,
    rows_per_second,
    status_queries,
    tick_targets,
)
from bench.status_generator import PROBE_SCHEMA, monthly_spans, probe_history, probe_table, series_targets
from modelatlas.pipelines.probe import COLUMNS, DURATION_RANGE_MS, ERROR_CLASSES, SPEC, TABLE, ProbeTarget

ENDPOINTS = [(f"provider{index}", f"https://api{index}.test/v1/models") for index in range(6)]
START = datetime(2026, 1, 31, 22, 0, tzinfo=UTC)


def two_days(seed: int = 0) -> pa.Table:
    """Two days of probes of 20 series."""
    return probe_table(series_targets(ENDPOINTS, 20), START, 2 * 1440, seed)


def test_twenty_series_over_six_endpoints_are_distinct_provider_and_region_pairs() -> None:
    targets = series_targets(ENDPOINTS, 20)
    assert len({(target.provider, target.region) for target in targets}) == 20
    assert {target.provider for target in targets} == {provider for provider, _ in ENDPOINTS}
    assert all(target.url == dict(ENDPOINTS)[target.provider] for target in targets)
    many = series_targets(ENDPOINTS, 60)
    assert len({(target.provider, target.region) for target in many}) == 60


def test_rows_have_the_probe_tables_columns_in_order_with_their_types() -> None:
    table = two_days()
    assert table.schema == PROBE_SCHEMA
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("observed_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("http_status").type == pa.int64()


def test_a_probe_a_minute_of_every_series_in_tick_order() -> None:
    table = two_days()
    assert table.num_rows == 2 * 1440 * 20
    observed = table.column("observed_at").to_pylist()
    assert observed[0] == START and observed[19] == START and observed[20] == START + timedelta(minutes=1)
    assert observed[-1] == START + timedelta(days=2) - timedelta(minutes=1)
    keys = table.select(["observed_at", "provider", "region"]).to_pylist()
    assert len({tuple(key.values()) for key in keys}) == table.num_rows


def test_probe_outcomes_look_like_the_extractors() -> None:
    rows = two_days().to_pylist()
    ok = [row for row in rows if row["ok"]]
    failed = [row for row in rows if not row["ok"]]
    assert failed and len(failed) < len(rows) * 0.05
    assert all(row["http_status"] == 200 and row["error_class"] is None and row["error"] is None for row in ok)
    assert all(row["dns_connect_ms"] and row["ttfb_ms"] and row["total_ms"] for row in ok)
    assert {row["error_class"] for row in failed} <= ERROR_CLASSES
    assert all(row["error"] for row in failed)
    for row in failed:
        if row["error_class"] in ("timeout", "connection"):
            assert row["http_status"] is None and row["ttfb_ms"] is None
        if row["error_class"] == "connection":
            assert row["dns_connect_ms"] is None
        if row["error_class"] == "server_error":
            assert row["http_status"] >= 500
    low, high = DURATION_RANGE_MS
    for name in ("dns_connect_ms", "ttfb_ms", "total_ms"):
        values = [row[name] for row in rows if row[name] is not None]
        assert low <= min(values) and max(values) <= high


def test_each_series_has_outage_episodes_of_consecutive_failures() -> None:
    table = probe_table(series_targets(ENDPOINTS, 6), START, 30 * 1440, seed=1)
    longest = 0
    for index in range(6):
        series = table.filter(pc.equal(table.column("provider"), f"provider{index}")).column("ok").to_pylist()
        run = 0
        for ok in series:
            run = 0 if ok else run + 1
            longest = max(longest, run)
    assert longest >= 3


def test_history_comes_a_month_at_a_time_and_is_deterministic_for_a_seed() -> None:
    end = START + timedelta(days=40)
    spans = monthly_spans(START, end)
    assert [first for first, _ in spans] == [START, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]
    assert sum(minutes for _, minutes in spans) == 40 * 1440
    targets = series_targets(ENDPOINTS, 3)
    chunks = list(probe_history(targets, START, end, seed=5))
    assert [chunk.num_rows for chunk in chunks] == [minutes * 3 for _, minutes in spans]
    assert pa.concat_tables(chunks).equals(pa.concat_tables(probe_history(targets, START, end, seed=5)))
    assert not chunks[1].equals(next(iter(probe_history(targets, datetime(2026, 2, 1, tzinfo=UTC), end, seed=6))))
    assert monthly_spans(end, START) == []


def test_the_load_ratio_meets_its_target_at_twice_copys_time_at_most() -> None:
    within = LoadFigures(rows=1_000_000, chunks=12, path_s=30.0, copy_s=20.0, steps={"load_tables": 24.0})
    ratio, path_speed, copy_speed = load_checks(within)
    assert ratio.value == pytest.approx(1.5) and ratio.status == "met"
    assert ratio.target is not None and ratio.target.limit == LOAD_LIMIT_X
    assert path_speed.value == pytest.approx(1_000_000 / 30) and path_speed.status == "reported"
    assert copy_speed.value == pytest.approx(50_000)
    assert "load_tables alone / COPY 1.20x" in ratio.note
    assert load_checks(dataclasses.replace(within, path_s=40.0))[0].status == "met"
    assert load_checks(dataclasses.replace(within, path_s=40.1))[0].status == "missed"


def test_throughput_and_bytes_per_million() -> None:
    assert rows_per_second(1000, 0.5) == 2000
    assert rows_per_second(1000, 0.0) == 0.0
    assert bytes_per_million(150_000_000, 2_000_000) == 75_000_000
    with pytest.raises(ValueError):
        bytes_per_million(8192, 0)


def test_a_query_check_is_the_p95_against_100_ms() -> None:
    check = query_check("uptime", [float(ms) for ms in range(1, 101)], 30, "context")
    assert check.value == pytest.approx(95.05)
    assert check.status == "met" and check.measure == 9
    assert query_check("uptime", [120.0] * 20, 30, "context").status == "missed"


def test_probe_results_load_arrow_batches_as_csv() -> None:
    # Measure 8 loads a year of Arrow batches through the declared spec: COPY of dlt's csv files, not the normalizer.
    assert SPEC.table(TABLE).file_format == "csv"


def test_tick_targets_are_the_series_on_the_simulated_endpoints() -> None:
    series = series_targets(ENDPOINTS[:2], 5)
    simulated = [ProbeTarget(provider, "sample", f"http://127.0.0.1:1/{provider}") for provider, _ in ENDPOINTS[:2]]
    targets = tick_targets(series, simulated)
    assert [(target.provider, target.region) for target in targets] == [(s.provider, s.region) for s in series]
    assert all(target.url.startswith("http://127.0.0.1:1/") for target in targets)


def test_status_queries_ask_for_the_last_30_and_90_days() -> None:
    end = datetime(2026, 12, 4, 21, tzinfo=UTC)
    queries = status_queries(end)
    assert len(queries) == 3
    uptime, outages, current = queries.values()
    assert uptime("openai")[1] == ("openai", datetime(2026, 11, 4, tzinfo=UTC).date())
    assert outages("openai")[1] == ("openai", end - timedelta(days=90))
    assert "mart_status_current" in current("openai")[0]
