"""The usage benchmark's pure parts: the request-log generator's files and the figures its measures check."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml

from bench.measures.status import LoadFigures
from bench.measures.usage import (
    BUILD_LIMIT_S,
    LOAD_LIMIT_X,
    MEMORY_LIMIT_GIB,
    QUERY_LIMIT_MS,
    UsageLoad,
    build_check,
    failed_build,
    load_checks,
    memory_check,
    query_check,
    usage_queries,
    year_start,
)
from bench.usage_generator import (
    MALFORMED_PER_FILE,
    MODELS,
    PROVIDER_SPELLINGS,
    UsageTeam,
    allocate,
    day_file,
    day_weights,
    request_table,
    teams_yaml,
    usage_teams,
    year_files,
)
from modelatlas.pipelines.teams import load_teams_file
from modelatlas.pipelines.usage_files import FIELDS, parse_file

FIRST_MONTH = date(2025, 12, 1)


def teams() -> list[UsageTeam]:
    return usage_teams(12, 2_000, seed=0)


def test_forty_models_of_three_providers_written_several_ways() -> None:
    assert len(MODELS) == 40 and len({model.model for model in MODELS}) == 40
    assert {model.family for model in MODELS} == {"openai", "anthropic", "google"} == set(PROVIDER_SPELLINGS)
    table = request_table(FIRST_MONTH, [3_000, 3_000], teams(), seed=1)
    providers = Counter(table.column("provider").to_pylist())
    assert {"openai", "OpenAI", "anthropic", "Anthropic", "google", "gemini"} <= set(providers)
    assert len(set(table.column("model").to_pylist())) >= 35


def test_a_year_is_twelve_monthly_files_of_the_format_deterministic_for_a_seed(tmp_path: Path) -> None:
    files = year_files(tmp_path / "a", FIRST_MONTH, 24_000, teams(), seed=3)
    assert [each.path.name for each in files][:2] == ["usage-2025-12.csv", "usage-2026-01.csv"]
    assert len(files) == 12 and sum(each.lines for each in files) == 24_000
    assert all(1_600 < each.lines < 2_400 and each.malformed == MALFORMED_PER_FILE for each in files)
    with files[0].path.open() as stream:
        header = next(csv.reader(stream))
    assert tuple(header) == FIELDS
    again = year_files(tmp_path / "b", FIRST_MONTH, 24_000, teams(), seed=3)
    assert [each.path.read_bytes() for each in files] == [each.path.read_bytes() for each in again]
    other = year_files(tmp_path / "c", FIRST_MONTH, 24_000, teams(), seed=4)
    assert files[0].path.read_bytes() != other[0].path.read_bytes()


def test_the_loader_parses_every_line_but_the_few_malformed_ones(tmp_path: Path) -> None:
    each = day_file(tmp_path, date(2026, 3, 2), 5_000, teams(), seed=2, malformed=10)
    parsed = parse_file(each.path, file_hash="h", fetched_at=datetime.now(UTC))
    assert parsed.lines == each.lines == 5_000
    assert parsed.malformed == each.malformed == 10 and each.loaded == 4_990
    rows = parsed.requests
    errors = rows.filter(pc.is_valid(rows.column("parse_error"))).column("parse_error").to_pylist()
    assert any("is negative" in error for error in errors)
    assert any("not a valid date" in error for error in errors)
    assert any("model is missing" in error for error in errors)
    assert any("is above input_tokens" in error for error in errors)
    assert any("fields where the header has" in error for error in errors)
    good = rows.filter(pc.is_null(rows.column("parse_error")))
    used_at = good.column("used_at")
    assert pc.min(used_at).as_py().date() == pc.max(used_at).as_py().date() == date(2026, 3, 2)
    assert len(set(good.column("request_id").to_pylist())) == good.num_rows


def test_requests_look_like_real_usage() -> None:
    table = request_table(FIRST_MONTH, [20_000], teams(), seed=5)
    rows = table.to_pylist()
    cached = [row for row in rows if row["cached_input_tokens"]]
    assert 0.25 < len(cached) / len(rows) < 0.45
    assert all(row["cached_input_tokens"] <= row["input_tokens"] for row in rows)
    writes = [row for row in rows if row["cache_write_tokens"] is not None]
    assert writes and all(row["provider"].lower() == "anthropic" for row in writes)
    assert all(row["cached_input_tokens"] + row["cache_write_tokens"] <= row["input_tokens"] for row in writes)
    reasoning = [row for row in rows if row["reasoning_tokens"] is not None]
    assert reasoning and all(row["reasoning_tokens"] <= row["output_tokens"] for row in reasoning)
    team_values = Counter(row["team"] for row in rows)
    assert team_values[None] / len(rows) < 0.3 and len(team_values) > 10
    assert [row["timestamp"] for row in rows[:50] if "T" in row["timestamp"]] == sorted(
        row["timestamp"] for row in rows[:50] if "T" in row["timestamp"]
    )


def test_days_weigh_weekends_less_and_counts_add_up() -> None:
    weights = day_weights(date(2026, 3, 2), 7)  # a Monday
    assert list(weights[:5]) == [1.0] * 5 and weights[5] == weights[6] < 1
    counts = allocate(1_000, weights)
    assert counts.sum() == 1_000 and counts[0] > counts[6]


def test_the_teams_file_names_every_generated_team_with_a_budget(tmp_path: Path) -> None:
    generated = teams()
    path = tmp_path / "teams.yaml"
    path.write_text(teams_yaml(generated))
    document = yaml.safe_load(path.read_text())
    assert [team["id"] for team in document["teams"]] == [team.id for team in generated]
    assert all(team["monthly_budget_usd"] > 0 for team in document["teams"])
    config = load_teams_file(path)  # the teams source accepts it
    assert len(config.teams) == len(generated)


def test_the_load_ratio_meets_its_target_at_twice_copys_time_at_most() -> None:
    figures = LoadFigures(rows=1_000_000, chunks=12, path_s=30.0, copy_s=20.0, steps={"load_tables": 24.0})
    load = UsageLoad(figures=figures, files=12, lines=1_000_060, malformed=60, quarantined=60, rerun_s=1.5)
    ratio, path_speed, copy_speed, rerun = load_checks(load)
    assert ratio.value == pytest.approx(1.5) and ratio.status == "met" and ratio.measure == 12
    assert ratio.target is not None and ratio.target.limit == LOAD_LIMIT_X
    assert path_speed.value == pytest.approx(1_000_000 / 30) and copy_speed.value == pytest.approx(50_000)
    assert rerun.value == 1.5 and rerun.status == "reported"
    assert "load_tables alone / COPY 1.20x" in ratio.note
    missed = dataclasses.replace(load, figures=dataclasses.replace(figures, path_s=40.1))
    assert load_checks(missed)[0].status == "missed"


def test_builds_queries_and_memory_have_their_targets() -> None:
    assert build_check("build", BUILD_LIMIT_S - 1, "").status == "met"
    assert build_check("build", BUILD_LIMIT_S, "").status == "missed"
    failed = failed_build("build", "a test failed", build_check("build", 1, "").target)
    assert failed.value is None and failed.status == "missed" and failed.measure == 13
    assert failed.note == "failed: a test failed" and failed_build("marts", "x").status == "reported"
    check = query_check("daily", [float(ms) for ms in range(1, 101)], 30, "context")
    assert check.value == pytest.approx(95.05) and check.status == "met" and check.measure == 14
    assert query_check("daily", [QUERY_LIMIT_MS] * 20, 30, "context").status == "missed"
    load = UsageLoad(files=12, lines=120, peak_rss_bytes=2**30, tree_peak_bytes=int(1.2 * 2**30))
    memory = memory_check(load)
    assert memory.value == pytest.approx(1.2) and memory.status == "met" and memory.measure == 15
    over = dataclasses.replace(load, peak_rss_bytes=int(MEMORY_LIMIT_GIB * 2**30))
    assert memory_check(over).status == "missed"


def test_the_queries_ask_for_the_last_30_days_the_month_and_a_team() -> None:
    queries = usage_queries(date(2026, 12, 5), date(2026, 11, 1))
    daily, allocation, budget = queries.values()
    assert daily("search")[1] == ("search", date(2026, 11, 5))
    assert "mart_usage_daily" in daily("search")[0]
    assert allocation("search")[1] == (date(2026, 11, 1),) and "mart_cost_allocation" in allocation("x")[0]
    assert budget("ads")[1] == ("ads",) and "mart_budget_status" in budget("ads")[0]
    assert year_start(date(2026, 12, 5)) == date(2025, 12, 1)
    assert year_start(date(2026, 1, 31)) == date(2025, 1, 1)
