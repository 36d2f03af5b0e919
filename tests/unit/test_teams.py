"""The teams file: the example loads into the rows of its three tables, every mistake is a ConfigurationError naming
where it is and what to change, and without MODELATLAS_TEAMS_FILE the source is skipped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.engine import fetch, request_for
from modelatlas.pipelines.quality import Baseline, GateSettings
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.teams import (
    FILE_VARIABLE,
    KEY_LIMIT_COLUMNS,
    KEY_LIMITS,
    MEMBER_COLUMNS,
    MEMBERS,
    SPEC,
    TEAM_COLUMNS,
    TEAMS,
    key_limit_rows,
    load_teams_file,
    member_rows,
    team_rows,
)
from modelatlas.settings import source_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "teams.yaml"
AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
VALID = """\
cost_centres: [{id: cc-research, name: Research}]
teams:
  - id: search
    cost_centre: cc-research
    monthly_budget_usd: 1500
    members: {api_keys: [key_abc], projects: [proj_search]}
  - id: ads
    members: {api_keys: [key_ads]}
key_limits:
  - {api_key_id: key_abc, monthly_spend_limit_usd: 400}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teams.yaml"
    path.write_text(text)
    return path


def replaced(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


def batch_of(path: Path) -> Any:
    request = request_for(SPEC, source_config(SPEC, {FILE_VARIABLE: str(path)}), fetched_at=AT)
    return fetch(request)


def test_the_example_loads_into_the_expected_rows() -> None:
    config = load_teams_file(EXAMPLE)
    teams = {row["team"]: row for row in team_rows(config, AT)}
    assert set(teams) == {"search", "ads", "platform"}
    assert {
        name: (row["cost_centre"], row["cost_centre_name"], row["monthly_budget_usd"]) for name, row in teams.items()
    } == {
        "search": ("cc-research", "Research", Decimal("1500")),
        "ads": ("cc-research", "Research", Decimal("800.50")),
        "platform": ("cc-platform", "Platform engineering", None),
    }
    assert teams["search"]["name"] == "Search"
    members = {row["member_key"]: row["team"] for row in member_rows(config, AT)}
    assert members["api_key:key_search_eval"] == "search"
    assert members["project:proj_ads"] == "ads"
    assert members["workspace:wrkspc_default"] == "platform"
    assert members["litellm_team:team-search"] == "search"
    assert members["file_team:search-team"] == "search"
    assert members["user:bob@example.com"] == "platform"
    assert {key.split(":", 1)[0] for key in members} == {
        "api_key",
        "project",
        "workspace",
        "litellm_team",
        "file_team",
        "user",
    }
    limits = {row["api_key_id"]: row for row in key_limit_rows(config, AT)}
    assert {
        key: (row["team"], row["monthly_spend_limit_usd"], row["monthly_request_limit"]) for key, row in limits.items()
    } == {
        "key_search_eval": ("search", Decimal("400"), 100000),
        "key_shared_demo": (None, Decimal("50"), None),
    }


def test_the_batch_carries_every_declared_column_and_passes_the_gate() -> None:
    batch = batch_of(EXAMPLE)
    assert batch.origin == str(EXAMPLE)
    assert batch.metadata == {"cost_centres": 2, "teams": 3, "members": 15, "key_limits": 2}
    for name, columns in ((TEAMS, TEAM_COLUMNS), (MEMBERS, MEMBER_COLUMNS), (KEY_LIMITS, KEY_LIMIT_COLUMNS)):
        assert all(set(row) == set(columns) for row in batch.tables[name])
        assert SPEC.table(name).disposition == "scd2"
    row = batch.tables[MEMBERS][0]
    assert (row["batch_id"], row["fetched_at"]) == ("20260504T093000.000000Z", AT)
    gate = gate_batch(SPEC, batch, {name: Baseline() for name in batch.tables}, GateSettings(), now=AT)
    assert not gate.blocked
    assert all(not rows for rows in gate.quarantined.values())


def test_a_file_without_key_limits_gives_an_empty_table_with_its_columns(tmp_path: Path) -> None:
    batch = batch_of(write(tmp_path, VALID.split("key_limits:")[0]))
    limits = batch.tables[KEY_LIMITS]
    assert isinstance(limits, pa.Table)
    assert (limits.num_rows, limits.column_names) == (0, list(KEY_LIMIT_COLUMNS))
    gate = gate_batch(SPEC, batch, {name: Baseline() for name in batch.tables}, GateSettings(), now=AT)
    assert not gate.blocked


def test_the_row_hash_follows_the_content_not_its_notation_or_the_load() -> None:
    first = load_teams_file(EXAMPLE)
    again = team_rows(first, datetime(2026, 6, 1, tzinfo=UTC))
    assert [row["row_hash"] for row in team_rows(first, AT)] == [row["row_hash"] for row in again]


def test_notation_and_a_moved_member_change_the_row_hash_only_when_the_content_changes(tmp_path: Path) -> None:
    original = load_teams_file(write(tmp_path, VALID))
    reformatted = load_teams_file(write(tmp_path, replaced("1500", "1500.00")))
    assert team_rows(original, AT)[0]["row_hash"] == team_rows(reformatted, AT)[0]["row_hash"]
    moved = load_teams_file(
        write(tmp_path, replaced("api_keys: [key_abc], ", "").replace("[key_ads]", "[key_ads, key_abc]"))
    )
    before = {row["member_key"]: row for row in member_rows(original, AT)}
    after = {row["member_key"]: row for row in member_rows(moved, AT)}
    assert (before["api_key:key_abc"]["team"], after["api_key:key_abc"]["team"]) == ("search", "ads")
    assert before["api_key:key_abc"]["row_hash"] != after["api_key:key_abc"]["row_hash"]
    assert before["project:proj_search"]["row_hash"] == after["project:proj_search"]["row_hash"]


@pytest.mark.parametrize("value", [None, "", "  "])
def test_an_unset_or_empty_variable_skips_the_source(value: str | None) -> None:
    env = {} if value is None else {FILE_VARIABLE: value}
    assert source_config(SPEC, env).skip_reason == "skipped: MODELATLAS_TEAMS_FILE is not set"


def test_a_missing_file_says_which_variable_points_at_it(tmp_path: Path) -> None:
    missing = tmp_path / "teams.yaml"
    with pytest.raises(
        ConfigurationError, match=re.escape(f"{FILE_VARIABLE} points at {missing}, which does not exist")
    ):
        batch_of(missing)
    with pytest.raises(ConfigurationError, match=re.escape(f"points at {tmp_path}, which is a folder")):
        load_teams_file(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            replaced("  - id: ads\n", "  - id: ads\n    cost_centre: cc-ads\n"),
            "teams[1] (ads).cost_centre is cc-ads, which is not a cost centre: list it under cost_centres, "
            "or use one of cc-research",
            id="unknown cost centre",
        ),
        pytest.param(
            replaced("1500", "-5"),
            "teams[0] (search).monthly_budget_usd is -5: a budget cannot be negative",
            id="negative budget",
        ),
        pytest.param(
            replaced("monthly_spend_limit_usd: 400", "monthly_spend_limit_usd: -1"),
            "key_limits[0] (key_abc).monthly_spend_limit_usd is -1: a limit cannot be negative",
            id="negative spend limit",
        ),
        pytest.param(
            replaced("monthly_spend_limit_usd: 400", "monthly_request_limit: -10"),
            "key_limits[0] (key_abc).monthly_request_limit is -10: a limit cannot be negative",
            id="negative request limit",
        ),
        pytest.param(
            replaced("[key_ads]", "[key_ads, key_abc]"),
            "api key key_abc is listed in teams search and ads: a key belongs to one team",
            id="key in two teams",
        ),
        pytest.param(
            replaced("{api_keys: [key_ads]}", "{projects: [proj_search]}"),
            "project proj_search is listed in teams search and ads: a project belongs to one team",
            id="project in two teams",
        ),
        pytest.param(
            replaced("  - id: ads\n", "  - id: search\n"),
            "teams[1]: the team id search is already used by teams[0]: team ids must be unique",
            id="duplicate team id",
        ),
        pytest.param(
            VALID + "owners: []\n",
            "the top level: unknown key `owners`: the keys here are cost_centres, teams, key_limits",
            id="unknown top-level key",
        ),
        pytest.param(
            replaced("monthly_budget_usd: 1500", "budget: 1500"),
            "teams[0] (search): unknown key `budget`: the keys here are id, name, description, cost_centre, "
            "monthly_budget_usd, members",
            id="unknown team key",
        ),
        pytest.param(
            replaced("{api_keys: [key_ads]}", "{keys: [key_ads]}"),
            "teams[1] (ads).members: unknown key `keys`: the keys here are api_keys, projects, workspaces, "
            "litellm_teams, file_teams, users",
            id="unknown member list",
        ),
        pytest.param(
            replaced("{api_key_id: key_abc, ", "{api_key_id: key_abc, team: growth, "),
            "key_limits[0] (key_abc).team is growth, which is not a team: use one of search, ads",
            id="key limit of an unknown team",
        ),
        pytest.param(
            replaced("{api_key_id: key_abc, ", "{api_key_id: key_abc, team: ads, "),
            "key_limits[0] (key_abc).team is ads, but api key key_abc is listed in team search",
            id="key limit of another team",
        ),
        pytest.param(
            replaced("{api_key_id: key_abc, monthly_spend_limit_usd: 400}", "{api_key_id: key_abc}"),
            "key_limits[0] (key_abc) sets no limit",
            id="key limit without a limit",
        ),
        pytest.param(
            VALID + "  - {api_key_id: key_abc, monthly_request_limit: 5}\n",
            "key_limits[1]: the api key key_abc is already used by key_limits[0]",
            id="two limits of one key",
        ),
        pytest.param(
            replaced("  - id: ads\n", "  - name: Ads\n"),
            "teams[1].id is missing: add it",
            id="team without id",
        ),
        pytest.param(
            replaced("cost_centre: cc-research", "cost_centre: cc-research: more"),
            "is not valid YAML at line 4, column 29: mapping values are not allowed here",
            id="unreadable YAML",
        ),
        pytest.param(
            VALID + "teams: []\n",
            "is not valid YAML at line 11, column 1: the key `teams` is written twice in one mapping",
            id="key written twice",
        ),
        pytest.param(
            replaced("[proj_search]", "[proj_search, '  ']"),
            "teams[0] (search).members.projects[1] is empty: write a name or remove the entry",
            id="empty member",
        ),
        pytest.param(
            replaced("[proj_search]", "[proj_search, no]"),
            "teams[0] (search).members.projects[1] is read as false: YAML takes yes/no/on/off as true/false, "
            "write it in quotes",
            id="unquoted yes or no",
        ),
        pytest.param("", "the file is empty", id="empty file"),
        pytest.param("- search\n- ads\n", "the file holds a list: it must be a mapping", id="not a mapping"),
        pytest.param("teams: []\n", "teams lists no team: add at least one", id="no team"),
    ],
)
def test_each_mistake_names_its_place_and_what_to_change(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        load_teams_file(path)
    assert str(path) in str(raised.value)


def test_several_mistakes_are_listed_together(tmp_path: Path) -> None:
    # The cross-references are checked once the schema accepts the file: its errors come alone.
    path = write(tmp_path, replaced("1500", "-5").replace("[key_ads]", "[key_ads, key_abc]"))
    with pytest.raises(ConfigurationError, match=re.escape(f"{path}: teams[0] (search).monthly_budget_usd is -5")):
        load_teams_file(path)
    text = replaced("  - id: ads\n", "  - id: ads\n    cost_centre: nope\n").replace("[key_ads]", "[key_ads, key_abc]")
    with pytest.raises(ConfigurationError, match=re.escape("has 2 problems:\n- teams[1] (ads).cost_centre")) as raised:
        load_teams_file(write(tmp_path, text))
    assert "- api key key_abc is listed in teams search and ads" in str(raised.value)


def test_numbers_written_as_names_are_names(tmp_path: Path) -> None:
    config = load_teams_file(write(tmp_path, replaced("{api_keys: [key_ads]}", "{users: [1042]}")))
    assert "user:1042" in {row["member_key"] for row in member_rows(config, AT)}
