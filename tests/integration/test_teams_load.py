"""The teams file loaded into the warehouse keeps its history: a key moved to another team closes its old row and
opens a new one, a member taken out of the file is retired, and an unchanged file writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelatlas.pipelines.engine import SourceLoad, load_standalone
from modelatlas.pipelines.teams import FILE_VARIABLE, SPEC
from modelatlas.warehouse import ConnectionInfo, read_only_query

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "teams.yaml"
DATASET = "raw_teams_load_test"
FIRST, SECOND, THIRD = (datetime(2026, 5, day, 9, 0, tzinfo=UTC) for day in (1, 2, 3))


def _load(connection: ConnectionInfo, pipelines: Path, path: Path, at: datetime) -> SourceLoad:
    return load_standalone(SPEC, connection, pipelines, env={FILE_VARIABLE: str(path)}, dataset=DATASET, fetched_at=at)


def _query(connection: ConnectionInfo, query: str) -> Sequence[tuple[Any, ...]]:
    return read_only_query(connection, query)[1]


def test_a_moved_key_keeps_when_it_moved(
    connection: ConnectionInfo, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pipelines = tmp_path_factory.mktemp("dlt")
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(EXAMPLE.read_text())
    first = _load(connection, pipelines, teams_file, FIRST)
    assert not first.gate.blocked
    assert first.summary is not None and first.summary.row_counts["team_members"] == 15

    # key_ads moves from ads to search; proj_ads leaves the file.
    text = EXAMPLE.read_text()
    text = text.replace(
        "api_keys: [key_search_prod, key_search_eval]", "api_keys: [key_search_prod, key_search_eval, key_ads]"
    )
    text = text.replace("      api_keys: [key_ads]\n      projects: [proj_ads]\n", "")
    teams_file.write_text(text)
    second = _load(connection, pipelines, teams_file, SECOND)
    assert second.changes["team_members"].changed == ["api_key:key_ads"]
    assert second.changes["team_members"].removed == ["project:proj_ads"]

    versions = _query(
        connection,
        f"select team, _dlt_valid_from, _dlt_valid_to from {DATASET}.team_members "
        "where member_key = 'api_key:key_ads' order by _dlt_valid_from",
    )
    assert versions == [("ads", FIRST, SECOND), ("search", SECOND, None)]
    assert _query(
        connection, f"select _dlt_valid_to from {DATASET}.team_members where member_key = 'project:proj_ads'"
    ) == [(SECOND,)]
    unchanged = _query(
        connection,
        f"select count(*), min(_dlt_valid_from) from {DATASET}.team_members "
        "where member_key = 'api_key:key_search_prod'",
    )
    assert unchanged == [(1, FIRST)]

    # The same file again: nothing changes, nothing is written.
    third = _load(connection, pipelines, teams_file, THIRD)
    assert third.changes["team_members"].changed == third.changes["team_members"].removed == []
    assert _query(connection, f"select count(*) from {DATASET}.team_members") == [(16,)]
    assert _query(connection, f"select count(*) from {DATASET}.team_members where _dlt_valid_to is null") == [(14,)]
