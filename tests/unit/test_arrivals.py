"""The arrival sensor: a run when files arrive or change in the watched folder, none otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from modelatlas.assets.arrivals import arrival_sensor, folder_files
from modelatlas.pipelines.spec import Batch, Request, Setting, SourceSpec, TableSpec

VARIABLE = "MODELATLAS_DROPS_DIR"


def nothing(request: Request) -> Batch:
    return Batch(tables={}, origin="nowhere")


DROPS = SourceSpec(
    name="drops",
    display_name="Drops",
    description="Reads files dropped in a folder.",
    kind="usage",
    tables=(TableSpec(name="lines", description="Lines.", columns={"line": "text"}, version_columns=("line",)),),
    extract=nothing,
    settings=(Setting("DIR", "", "the folder", option="folder", required=True, variable=VARIABLE),),
    watched_folder="folder",
)


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> tuple[object, str | None]:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)  # type: ignore[operator]
    return result, context.cursor


def test_a_run_per_arrival_or_change_and_none_when_nothing_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = arrival_sensor(DROPS)
    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.delenv(VARIABLE, raising=False)
        skipped, _ = tick(sensor, instance, None)
        assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == f"skipped: {VARIABLE} is not set"

        monkeypatch.setenv(VARIABLE, str(tmp_path))
        empty, _ = tick(sensor, instance, None)
        assert isinstance(empty, dg.SkipReason) and empty.skip_message == "no file in the folder"

        (tmp_path / "a.csv").write_text("timestamp\n")
        (tmp_path / ".hidden.csv").write_text("x\n")
        (tmp_path / "b.csv.tmp").write_text("x\n")
        first, cursor = tick(sensor, instance, None)
        assert isinstance(first, dg.RunRequest) and cursor == first.run_key
        again, same = tick(sensor, instance, cursor)
        assert isinstance(again, dg.SkipReason) and same == cursor

        (tmp_path / "b.csv.tmp").rename(tmp_path / "b.csv")
        arrived, moved = tick(sensor, instance, cursor)
        assert isinstance(arrived, dg.RunRequest) and moved != cursor
    assert [path.name for path in folder_files(tmp_path)] == ["a.csv", "b.csv"]


def test_the_definitions_have_a_sensor_only_for_sources_that_watch_a_folder() -> None:
    from modelatlas.assets.arrivals import build_arrival_sensors

    assert [sensor.name for sensor in build_arrival_sensors([DROPS])] == ["drops_arrivals"]
    assert build_arrival_sensors([dataclasses.replace(DROPS, watched_folder=None)]) == []
