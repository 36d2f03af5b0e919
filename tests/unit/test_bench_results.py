"""The benchmark's results: met and missed against targets, medians and percentiles, the table and the files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.results import (
    Check,
    MeasureResult,
    Target,
    format_number,
    markdown_table,
    median,
    percentile,
    write_merged,
    write_results,
)


@pytest.mark.parametrize(
    ("target", "value", "met"),
    [
        (Target("<=", 2.0), 2.0, True),
        (Target("<=", 2.0), 2.01, False),
        (Target("<", 60), 59.9, True),
        (Target("<", 60), 60, False),
        (Target("==", 0), 0, True),
        (Target("==", 0), 3, False),
        (Target(">=", 1), 0.5, False),
        (Target("<", 1), None, False),
    ],
)
def test_a_target_is_met_only_by_a_value_within_its_limit(target: Target, value: float | None, met: bool) -> None:
    assert target.met(value) is met
    assert Check(1, "x", value, target=target).status == ("met" if met else "missed")


def test_a_figure_without_a_target_is_reported_not_judged() -> None:
    check = Check(4, "bytes per cycle", 1234.0, " B")
    assert check.status == "reported"
    assert check.figure() == "1,234 B"
    assert Check(4, "absent", None).figure() == "n/a"


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0"), (0.01234, "0.0123"), (1.5, "1.50"), (12.34, "12.3"), (1234567, "1,234,567")]
)
def test_numbers_are_shown_with_sensible_precision(value: float, text: str) -> None:
    assert format_number(value) == text


def test_median_and_percentiles_of_samples() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    samples = [float(value) for value in range(1, 101)]
    assert percentile(samples, 0.5) == pytest.approx(50.5)
    assert percentile(samples, 0.95) == pytest.approx(95.05)
    assert percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError):
        median([])
    with pytest.raises(ValueError):
        percentile([], 0.5)


def results() -> list[MeasureResult]:
    return [
        MeasureResult(
            1,
            "load",
            checks=[Check(1, "path / COPY", 1.7, "x", Target("<=", 2.0, "x"), "1,000,000 rows | median of 3")],
        ),
        MeasureResult(2, "cycle", checks=[Check(2, "wall", 75.0, " s", Target("<", 60, " s"))]),
        MeasureResult(5, "queries", error="RuntimeError: no marts"),
    ]


def test_the_table_has_one_row_per_check_with_status_and_escaped_notes() -> None:
    lines = markdown_table(results()).splitlines()
    assert lines[0] == "| # | measure | figure | target | status | note |"
    assert lines[2] == "| 1 | path / COPY | 1.70x | <= 2.00x | met | 1,000,000 rows \\| median of 3 |"
    assert lines[3] == "| 2 | wall | 75.0 s | < 60.0 s | missed |  |"
    assert lines[4] == "| 5 | queries | n/a | | error | RuntimeError: no marts |"
    assert len(lines) == 5


def test_results_are_written_as_json_and_markdown(tmp_path: Path) -> None:
    started = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    json_path, md_path = write_results(results(), tmp_path, "full", started)
    data = json.loads(json_path.read_text())
    assert data["mode"] == "full"
    assert data["started_at"] == "2026-12-01T10:00:00+00:00"
    assert data["machine"]["nproc"] >= 1
    first = data["measures"][0]["checks"][0]
    assert (first["status"], first["target"], first["value"]) == ("met", "<= 2.00x", 1.7)
    assert data["measures"][2]["error"] == "RuntimeError: no marts"
    text = md_path.read_text()
    assert text.startswith("# ModelAtlas benchmark (full)")
    assert "cores (nproc)" in text and ", load average " in text
    assert "| 2 | wall | 75.0 s | < 60.0 s | missed |" in text


def test_a_later_run_of_some_measures_replaces_only_those(tmp_path: Path) -> None:
    write_results(results(), tmp_path, "full", datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    later = [MeasureResult(5, "queries", checks=[Check(5, "p95 history", 12.0, " ms", Target("<", 100, " ms"))])]
    newer, _ = write_results(later, tmp_path / "later", "full", datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    json_path, md_path = write_merged(tmp_path, newer)
    measures = json.loads(json_path.read_text())["measures"]
    assert [(m["measure"], m["ran_at"]) for m in measures] == [
        (1, "2026-12-01T10:00:00+00:00"),
        (2, "2026-12-01T10:00:00+00:00"),
        (5, "2026-12-01T11:00:00+00:00"),
    ]
    text = md_path.read_text()
    # Each run's time comes with the machine's load averages as it ended: a shared machine slows every figure.
    assert text.count("(load average ") == 2 and "at the end" not in text
    assert "| 5 | p95 history | 12.0 ms | < 100 ms | met |  |" in text
    assert "| 1 | path / COPY | 1.70x | <= 2.00x | met |" in text
    assert "error" not in text


def test_storage_growth_per_cycle_is_the_median_cycle_not_a_vacuum_swing() -> None:
    from bench.measures.history import mean_bytes, median_bytes

    # One load that found no free space (+2.7 MB), the VACUUM after it (-2.8 MB), and the usual page or two.
    growth = [8_192, 2_719_744, 16_384, -2_793_472, 8_192]
    assert median_bytes(growth) == 8_192
    assert mean_bytes(growth) < 0
    assert median_bytes([]) == 0.0 and mean_bytes([]) == 0.0


def test_a_page_quotes_the_latest_report_between_its_markers() -> None:
    from bench.results import RESULTS_END, RESULTS_START, page_with_results

    report = (
        "# ModelAtlas benchmark (full)\n\nRun 2026-12-01 13:00 UTC on 2 cores.\n\n"
        "| # | measure |\n|---|---|\n| 1 | x |\n"
    )
    page = f"intro\n{RESULTS_START}\nold table\n{RESULTS_END}\n\n## Development\n"
    updated = page_with_results(page, report)
    assert updated.startswith("intro\n" + RESULTS_START) and updated.endswith(f"{RESULTS_END}\n\n## Development\n")
    assert "old table" not in updated
    assert "2026-12-01 13:00 UTC on 2 cores." in updated and "| 1 | x |" in updated
    assert page_with_results(updated, report) == updated
    with pytest.raises(ValueError, match="no <!-- bench:latest -->"):
        page_with_results("no markers", report)


def test_bench_docs_writes_the_latest_report_into_the_benchmarks_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.cli
    from bench.results import RESULTS_END, RESULTS_START

    results = tmp_path / "results"
    results.mkdir()
    (results / "latest.md").write_text(
        "# ModelAtlas benchmark (full)\n\nRun 2026-12-01 13:00 UTC on 2 cores.\n\n"
        "| # | measure |\n|---|---|\n| 2 | y |\n"
    )
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\n{RESULTS_START}\nold table\n{RESULTS_END}\n\nMeasure 4 ran again.\n")
    monkeypatch.setattr(bench.cli, "RESULTS_DIR", results)
    monkeypatch.setattr(bench.cli, "BENCHMARKS_PAGE", page)

    assert bench.cli.main(["--docs"]) == 0
    text = page.read_text()
    assert "old table" not in text and "| 2 | y |" in text and "2026-12-01 13:00 UTC on 2 cores." in text
    assert text.startswith("# Benchmarks\n\n") and text.endswith(f"{RESULTS_END}\n\nMeasure 4 ran again.\n")
    assert str(page) in capsys.readouterr().out


def test_the_benchmarks_page_is_where_bench_docs_writes_and_has_one_results_block() -> None:
    from bench.cli import BENCHMARKS_PAGE
    from bench.results import RESULTS_END, RESULTS_START

    page = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
    assert page == BENCHMARKS_PAGE
    text = BENCHMARKS_PAGE.read_text()
    assert text.count(RESULTS_START) == 1 and text.count(RESULTS_END) == 1
    assert text.index(RESULTS_START) < text.index(RESULTS_END)


def test_running_some_measures_again_replaces_only_theirs_in_the_latest_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    import bench.cli as cli

    started = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    first = [
        MeasureResult(1, "load", [Check(1, "ratio", 1.5, "x", Target("<=", 2.0))]),
        MeasureResult(4, "storage", [Check(4, "bytes", 300_000.0, " B")]),
    ]
    write_results(first, tmp_path, "full", started)
    again = MeasureResult(4, "storage", [Check(4, "bytes", 16_384.0, " B")])
    monkeypatch.setattr(cli, "bench_warehouse", lambda port, keep: contextlib.nullcontext(None))
    monkeypatch.setattr(cli, "groups", lambda plan, bench, seed: [((4,), "storage", lambda: [again])])
    assert cli.main(["--only", "4", "--out", str(tmp_path)]) == 0
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert [(m["measure"], m["checks"][0]["value"]) for m in latest["measures"]] == [(1, 1.5), (4, 16_384.0)]
    assert "| 1 | ratio | 1.50x |" in (tmp_path / "latest.md").read_text()
    assert (tmp_path / "latest-only.json").exists()


def test_the_per_run_fixed_cost_is_the_median_fresh_load_of_the_code_location() -> None:
    from bench.measures.cycle import LOCATION_LIMIT_S, LocationLoad, location_check

    loads = [
        LocationLoad(wall, wall / 2, wall - 1, 0.5, parsed)
        for wall, parsed in ((6.0, False), (7.0, True), (30.0, False))
    ]
    check = location_check(loads)
    assert (check.measure, check.value, check.status) == (2, 7.0, "met")
    assert check.target is not None and check.target.limit == LOCATION_LIMIT_S
    assert "median of 3" in check.note and "1 of 3 parsed the dbt project" in check.note
    slow = location_check([LocationLoad(12.0, 6.0, 10.0, 1.5, False)] * 3)
    assert slow.status == "missed"
