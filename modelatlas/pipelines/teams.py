"""Teams: the YAML file the user keeps (`MODELATLAS_TEAMS_FILE`) saying which team each API key, project, workspace,
LiteLLM team, request-log team value and user belongs to, each team's cost centre and monthly budget, and the
monthly limits of single keys.

The file is validated whole before anything loads: a mistake is a ConfigurationError naming where it is and what to
change, and the previous teams stay in the warehouse. The tables keep their history (scd2): a key moved to another
team closes its old row and opens a new one, a team or member taken out of the file is retired, not deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Batch, DataType, Request, Rows, Setting, SourceSpec, TableSpec

SOURCE = "teams"
FILE_VARIABLE = "MODELATLAS_TEAMS_FILE"
TEAMS, MEMBERS, KEY_LIMITS = "teams", "team_members", "key_limits"
# A month's budget or spend limit above this is a typo, not a team's budget.
MAX_MONTHLY_USD = 1_000_000_000
MAX_MONTHLY_REQUESTS = 10**15

# The member lists of a team, as written in the file -> (the `kind` stored, how messages name one, its noun).
MEMBER_KINDS: dict[str, tuple[str, str, str]] = {
    "api_keys": ("api_key", "api key", "a key"),
    "projects": ("project", "project", "a project"),
    "workspaces": ("workspace", "workspace", "a workspace"),
    "litellm_teams": ("litellm_team", "LiteLLM team", "a LiteLLM team"),
    "file_teams": ("file_team", "request-log team", "a request-log team value"),
    "users": ("user", "user", "a user"),
}
KINDS = frozenset(kind for kind, _, _ in MEMBER_KINDS.values())

FETCH_COLUMNS: dict[str, DataType] = {"row_hash": "text", "fetched_at": "timestamp", "batch_id": "text"}
TEAM_COLUMNS: dict[str, DataType] = {
    "team": "text",
    "name": "text",
    "description": "text",
    "cost_centre": "text",
    "cost_centre_name": "text",
    "monthly_budget_usd": "decimal",
    **FETCH_COLUMNS,
}
MEMBER_COLUMNS: dict[str, DataType] = {
    "member_key": "text",
    "kind": "text",
    "value": "text",
    "team": "text",
    **FETCH_COLUMNS,
}
KEY_LIMIT_COLUMNS: dict[str, DataType] = {
    "api_key_id": "text",
    "team": "text",
    "monthly_spend_limit_usd": "decimal",
    "monthly_request_limit": "bigint",
    **FETCH_COLUMNS,
}
_ARROW_TYPES: dict[DataType, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "decimal": pa.decimal128(38, 18),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _as_text(value: Any) -> Any:
    """A name without surrounding blanks, a number written where a name goes (`users: [1042]`) as its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


Name = Annotated[str, BeforeValidator(_as_text), StringConstraints(min_length=1)]
Usd = Annotated[Decimal, Field(ge=0, le=MAX_MONTHLY_USD, allow_inf_nan=False)]
Requests = Annotated[int, Field(ge=0, le=MAX_MONTHLY_REQUESTS)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CostCentre(_Section):
    """A cost centre teams are charged to."""

    id: Name
    name: Name | None = None


class Members(_Section):
    """What belongs to a team: usage carrying one of these values is the team's."""

    api_keys: list[Name] = []
    projects: list[Name] = []
    workspaces: list[Name] = []
    litellm_teams: list[Name] = []
    file_teams: list[Name] = []
    users: list[Name] = []


class Team(_Section):
    """One team: its cost centre, its monthly budget and its members."""

    id: Name
    name: Name | None = None
    description: str | None = None
    cost_centre: Name | None = None
    monthly_budget_usd: Usd | None = None
    members: Members = Members()


class KeyLimit(_Section):
    """The monthly limits of one API key."""

    api_key_id: Name
    team: Name | None = None
    monthly_spend_limit_usd: Usd | None = None
    monthly_request_limit: Requests | None = None


class TeamsFile(_Section):
    """The whole teams file."""

    cost_centres: list[CostCentre] = []
    teams: list[Team]
    key_limits: list[KeyLimit] = []


# The section a key sits in, by the list it is an element of (or the field holding it): for unknown-key messages.
_SECTIONS: dict[str | None, type[BaseModel]] = {
    None: TeamsFile,
    "cost_centres": CostCentre,
    "teams": Team,
    "members": Members,
    "key_limits": KeyLimit,
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            continue  # construct_mapping refuses it with its own message
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key `{key}` is written twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_file(raw: str, variable: str) -> Path:
    """The teams file's path (`~` expanded); whether it exists is checked when it is read, so it can come later."""
    return Path(raw.strip()).expanduser()


def read_text(path: Path) -> str:
    """The file's text; a missing or unreadable file is a ConfigurationError saying so."""
    if not path.exists():
        raise ConfigurationError(
            f"{FILE_VARIABLE} points at {path}, which does not exist: create it (examples/teams.yaml shows the "
            "format) or unset the variable"
        )
    if path.is_dir():
        raise ConfigurationError(f"{FILE_VARIABLE} points at {path}, which is a folder: name the YAML file itself")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{FILE_VARIABLE} points at {path}, which cannot be read: {exc}") from None


def parse_yaml(text: str, path: Path) -> Any:
    """The YAML document of `text`; invalid YAML is a ConfigurationError with its line and column."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(
            f"the teams file {path} is not valid YAML{where}: {exc.problem or exc.context}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"the teams file {path} is not valid YAML: {exc}") from None


def _entry_label(data: Any, section: str, index: int) -> str:
    """`teams[1]`, with the entry's id when it has one: `teams[1] (ads)`."""
    label = f"{section}[{index}]"
    entries = data.get(section) if isinstance(data, Mapping) else None
    entry = entries[index] if isinstance(entries, list) and 0 <= index < len(entries) else None
    if isinstance(entry, Mapping):
        identifier = entry.get("api_key_id" if section == KEY_LIMITS else "id")
        if identifier is not None and str(identifier).strip():
            label += f" ({identifier})"
    return label


def place(loc: Sequence[int | str], data: Any) -> str:
    """Where an error is, readable: `teams[1] (ads).members.api_keys[0]`; the top level is `the top level`."""
    text = ""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            parent = loc[position - 1] if position else None
            if position == 1 and isinstance(parent, str):
                text = _entry_label(data, parent, part)
            else:
                text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "the top level"


def _section_of(loc: Sequence[int | str]) -> type[BaseModel]:
    names = [part for part in loc if isinstance(part, str)]
    return _SECTIONS.get(names[-1] if names else None, TeamsFile)


def describe_error(error: Mapping[str, Any], data: Any) -> str:
    """One pydantic error as a sentence naming the place and what to write instead."""
    loc = error["loc"]
    value = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = ", ".join(_section_of(parent).model_fields)
        return f"{place(parent, data)}: unknown key `{loc[-1]}`: the keys here are {allowed}"
    where = place(loc, data)
    field = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"{where} is missing: add it"
    if kind == "greater_than_equal":
        noun = "a budget" if "budget" in field else "a limit"
        return f"{where} is {value}: {noun} cannot be negative, give 0 or more (or leave it out for none)"
    if kind == "less_than_equal":
        return f"{where} is {value}, more than {error.get('ctx', {}).get('le'):,}: check the number"
    if kind == "string_type" and isinstance(value, bool):
        return f"{where} is read as {str(value).lower()}: YAML takes yes/no/on/off as true/false, write it in quotes"
    if kind in {"string_too_short", "too_short"}:
        return f"{where} is empty: write a name or remove the entry"
    return f"{where} is {value!r}: {error['msg'].lower()}"


def _listed(teams: Sequence[str]) -> str:
    return teams[0] if len(teams) == 1 else f"{', '.join(teams[:-1])} and {teams[-1]}"


def _duplicates(section: str, ids: Sequence[str], noun: str) -> list[str]:
    """A problem for each id used again after its first entry."""
    first: dict[str, int] = {}
    problems = []
    for index, identifier in enumerate(ids):
        if identifier in first:
            problems.append(
                f"{section}[{index}]: the {noun} {identifier} is already used by {section}[{first[identifier]}]: "
                f"{noun}s must be unique"
            )
        else:
            first[identifier] = index
    return problems


def member_teams(config: TeamsFile) -> dict[tuple[str, str], list[str]]:
    """(member list, value) -> the teams listing it, in file order."""
    owners: dict[tuple[str, str], list[str]] = {}
    for team in config.teams:
        for field in MEMBER_KINDS:
            for value in getattr(team.members, field):
                listing = owners.setdefault((field, value), [])
                if team.id not in listing:
                    listing.append(team.id)
    return owners


def check_references(config: TeamsFile) -> list[str]:
    """What the schema cannot tell: unique ids, known cost centres and teams, each member in one team only."""
    problems = _duplicates("cost_centres", [centre.id for centre in config.cost_centres], "cost centre id")
    problems += _duplicates("teams", [team.id for team in config.teams], "team id")
    problems += _duplicates("key_limits", [limit.api_key_id for limit in config.key_limits], "api key")
    if not config.teams:
        problems.append("teams lists no team: add at least one")
    centres = [centre.id for centre in config.cost_centres]
    for index, team in enumerate(config.teams):
        if team.cost_centre is not None and team.cost_centre not in centres:
            known = f"use one of {', '.join(centres)}" if centres else "there is none yet"
            problems.append(
                f"teams[{index}] ({team.id}).cost_centre is {team.cost_centre}, which is not a cost centre: "
                f"list it under cost_centres, or {known}"
            )
    owners = member_teams(config)
    for (field, value), teams in owners.items():
        if len(teams) > 1:
            _, label, noun = MEMBER_KINDS[field]
            problems.append(f"{label} {value} is listed in teams {_listed(teams)}: {noun} belongs to one team")
    team_ids = [team.id for team in config.teams]
    for index, limit in enumerate(config.key_limits):
        where = f"key_limits[{index}] ({limit.api_key_id})"
        if limit.monthly_spend_limit_usd is None and limit.monthly_request_limit is None:
            problems.append(f"{where} sets no limit: give monthly_spend_limit_usd, monthly_request_limit or both")
        if limit.team is None:
            continue
        owner = owners.get(("api_keys", limit.api_key_id), [])
        if limit.team not in team_ids:
            problems.append(f"{where}.team is {limit.team}, which is not a team: use one of {', '.join(team_ids)}")
        elif not owner:
            problems.append(
                f"{where}.team is {limit.team}, but no team lists api key {limit.api_key_id}: add it to the "
                f"members.api_keys of {limit.team}, or leave `team` out"
            )
        elif limit.team not in owner:
            problems.append(
                f"{where}.team is {limit.team}, but api key {limit.api_key_id} is listed in team {owner[0]}: "
                "move the key, or leave `team` out (the team listing the key is used)"
            )
    return problems


def _invalid(path: Path, problems: Sequence[str]) -> ConfigurationError:
    if len(problems) == 1:
        return ConfigurationError(f"the teams file {path}: {problems[0]}")
    listed = "\n".join(f"- {problem}" for problem in problems)
    return ConfigurationError(f"the teams file {path} has {len(problems)} problems:\n{listed}")


def validate(data: Any, path: Path) -> TeamsFile:
    """The teams file of a parsed YAML document; every problem found is listed in one ConfigurationError."""
    if data is None:
        raise _invalid(path, ["the file is empty: list the teams under `teams:` (examples/teams.yaml)"])
    if not isinstance(data, Mapping):
        raise _invalid(
            path, [f"the file holds a {type(data).__name__}: it must be a mapping with `teams:` at the top level"]
        )
    try:
        config = TeamsFile.model_validate(data)
    except ValidationError as exc:
        raise _invalid(path, [describe_error(error, data) for error in exc.errors()]) from None
    if problems := check_references(config):
        raise _invalid(path, problems)
    return config


def load_teams_file(path: Path) -> TeamsFile:
    """The validated teams file at `path`."""
    return validate(parse_yaml(read_text(path), path), path)


def _canonical(value: Any) -> Any:
    """A value as hashed: decimals written one way only (`1500`, not `1500.00` or `1.5E+3`)."""
    if isinstance(value, Decimal):
        return "0" if value.is_zero() else format(value.normalize(), "f")
    return value


def with_row_hash(content: Mapping[str, Any], batch: str, fetched_at: datetime) -> dict[str, Any]:
    """A row: its content, the hash of that content (the scd2 row version) and the load that read it."""
    canonical = json.dumps({name: _canonical(value) for name, value in content.items()}, sort_keys=True)
    return {
        **content,
        "row_hash": hashlib.sha256(canonical.encode()).hexdigest(),
        "fetched_at": fetched_at,
        "batch_id": batch,
    }


def team_rows(config: TeamsFile, fetched_at: datetime) -> list[dict[str, Any]]:
    """One `teams` row per team."""
    batch = batch_id(fetched_at)
    centres = {centre.id: centre.name or centre.id for centre in config.cost_centres}
    return [
        with_row_hash(
            {
                "team": team.id,
                "name": team.name or team.id,
                "description": team.description,
                "cost_centre": team.cost_centre,
                "cost_centre_name": centres.get(team.cost_centre) if team.cost_centre else None,
                "monthly_budget_usd": team.monthly_budget_usd,
            },
            batch,
            fetched_at,
        )
        for team in config.teams
    ]


def member_rows(config: TeamsFile, fetched_at: datetime) -> list[dict[str, Any]]:
    """One `team_members` row per member (`<kind>:<value>`), a value listed twice in one team once."""
    batch = batch_id(fetched_at)
    rows = []
    for (field, value), teams in member_teams(config).items():
        kind = MEMBER_KINDS[field][0]
        content = {"member_key": f"{kind}:{value}", "kind": kind, "value": value, "team": teams[0]}
        rows.append(with_row_hash(content, batch, fetched_at))
    return rows


def key_limit_rows(config: TeamsFile, fetched_at: datetime) -> list[dict[str, Any]]:
    """One `key_limits` row per key, with the team listing the key (null when no team does)."""
    batch = batch_id(fetched_at)
    owners = member_teams(config)
    rows = []
    for limit in config.key_limits:
        owner = owners.get(("api_keys", limit.api_key_id))
        rows.append(
            with_row_hash(
                {
                    "api_key_id": limit.api_key_id,
                    "team": owner[0] if owner else None,
                    "monthly_spend_limit_usd": limit.monthly_spend_limit_usd,
                    "monthly_request_limit": limit.monthly_request_limit,
                },
                batch,
                fetched_at,
            )
        )
    return rows


def table_rows(rows: list[dict[str, Any]], columns: Mapping[str, DataType]) -> Rows:
    """The rows, or no rows with every declared column (the gate checks a batch's columns even when it is empty)."""
    if rows:
        return rows
    return pa.table({name: pa.array([], type=_ARROW_TYPES[kind]) for name, kind in columns.items()})


def teams_batch(request: Request) -> Batch:
    """The teams file as rows of its three tables; an invalid file loads nothing."""
    path: Path = request.options["file"]
    config = load_teams_file(path)
    teams = team_rows(config, request.fetched_at)
    members = member_rows(config, request.fetched_at)
    limits = key_limit_rows(config, request.fetched_at)
    request.stats.pages = 1
    return Batch(
        tables={
            TEAMS: table_rows(teams, TEAM_COLUMNS),
            MEMBERS: table_rows(members, MEMBER_COLUMNS),
            KEY_LIMITS: table_rows(limits, KEY_LIMIT_COLUMNS),
        },
        origin=str(path),
        metadata={
            "cost_centres": len(config.cost_centres),
            "teams": len(teams),
            "members": len(members),
            "key_limits": len(limits),
        },
    )


def _history_table(
    name: str,
    description: str,
    columns: Mapping[str, DataType],
    key: str,
    *,
    not_null: Iterable[str] = (),
    suite_rules: Mapping[str, Any] | None = None,
    preview: tuple[str, ...] = (),
) -> TableSpec:
    """A table of the file's current content with scd2 history: each version's row hash decides what changed."""
    required = (key, *not_null, "row_hash", "fetched_at", "batch_id")
    return TableSpec(
        name=name,
        description=description,
        columns=dict(columns),
        version_columns=("row_hash",),
        disposition="scd2",
        row_version="row_hash",
        not_null=required,
        tracked_by=((key,), "row_hash"),
        suite=Suite(
            source=SOURCE,
            entity=name,
            key=(key,),
            not_null=required,
            not_in_future=("fetched_at",),
            **(suite_rules or {}),
        ),
        preview=preview,
    )


SPEC = SourceSpec(
    name=SOURCE,
    display_name="Teams",
    description="The teams file: teams, cost centres, budgets, what belongs to each team and per-key limits.",
    kind="usage",
    group="usage",
    cadence="*/10 * * * *",
    tables=(
        _history_table(
            TEAMS,
            "One row per team of the teams file, with scd2 history.",
            TEAM_COLUMNS,
            "team",
            not_null=("name",),
            suite_rules={"ranges": {"monthly_budget_usd": (0, MAX_MONTHLY_USD)}},
            preview=("team", "name", "cost_centre", "monthly_budget_usd"),
        ),
        _history_table(
            MEMBERS,
            "One row per member of a team (`<kind>:<value>`), with scd2 history: a move closes the old row.",
            MEMBER_COLUMNS,
            "member_key",
            not_null=("kind", "value", "team"),
            suite_rules={"known_values": {"kind": KINDS}},
            preview=("member_key", "team"),
        ),
        _history_table(
            KEY_LIMITS,
            "One row per API key with monthly limits, with scd2 history.",
            KEY_LIMIT_COLUMNS,
            "api_key_id",
            suite_rules={
                "ranges": {
                    "monthly_spend_limit_usd": (0, MAX_MONTHLY_USD),
                    "monthly_request_limit": (0, MAX_MONTHLY_REQUESTS),
                }
            },
            preview=("api_key_id", "team", "monthly_spend_limit_usd", "monthly_request_limit"),
        ),
    ),
    extract=teams_batch,
    settings=(
        Setting(
            "FILE",
            "",
            "the YAML file of teams, cost centres, budgets, members and key limits (docs/teams.md); unset: skipped",
            option="file",
            parse=parse_file,
            variable=FILE_VARIABLE,
            required=True,
        ),
    ),
    endpoint_doc=f"the YAML file `{FILE_VARIABLE}` names",
)
