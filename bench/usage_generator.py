"""Synthetic request logs: the CSV files an organisation drops into `MODELATLAS_USAGE_DIR`, one per UTC month.

Each line is one request, in the usage-files format (docs/usage-files.md): 40 models of OpenAI, Anthropic and Google,
provider and model written as people write them (`OpenAI`, `gemini`, dated ids and aliases), spread over teams,
their users, projects and API keys (some requests attributed to nobody). Requests follow office hours and weekdays;
prompt and output sizes are lognormal, a share of requests reads the prompt cache, Anthropic requests sometimes
write it, reasoning models spend part of their output reasoning. A few malformed lines sit in every file (a negative
count, an impossible date, a missing model, more cached tokens than input, a line with too few fields). The teams
file naming the generated teams, their members and monthly budgets goes with them. Deterministic for a seed.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import yaml

from modelatlas.pipelines.usage_files import FIELDS


@dataclass(frozen=True)
class UsageModel:
    """A model as people write it: its provider family, its id, its share of the requests, whether it reasons."""

    family: str
    model: str
    weight: float
    reasoning: bool = False


MODELS = (
    UsageModel("openai", "gpt-4o-mini", 14.0),
    UsageModel("openai", "gpt-4o", 8.0),
    UsageModel("openai", "gpt-4o-2024-08-06", 5.0),
    UsageModel("openai", "gpt-4o-mini-2024-07-18", 3.0),
    UsageModel("openai", "gpt-4.1", 5.0),
    UsageModel("openai", "gpt-4.1-mini", 6.0),
    UsageModel("openai", "gpt-4.1-nano", 3.0),
    UsageModel("openai", "gpt-5", 4.0, reasoning=True),
    UsageModel("openai", "gpt-5-mini", 5.0, reasoning=True),
    UsageModel("openai", "gpt-5-nano", 2.0, reasoning=True),
    UsageModel("openai", "o3", 1.5, reasoning=True),
    UsageModel("openai", "o3-mini", 1.5, reasoning=True),
    UsageModel("openai", "o4-mini", 2.0, reasoning=True),
    UsageModel("openai", "gpt-3.5-turbo", 1.0),
    UsageModel("openai", "gpt-4-turbo", 0.5),
    UsageModel("openai", "text-embedding-3-small", 3.0),
    UsageModel("anthropic", "claude-sonnet-4-5", 7.0),
    UsageModel("anthropic", "claude-sonnet-4-5-20250929", 4.0),
    UsageModel("anthropic", "claude-sonnet-4-20250514", 2.0),
    UsageModel("anthropic", "claude-3-7-sonnet-latest", 1.5),
    UsageModel("anthropic", "claude-3-5-sonnet-20241022", 1.0),
    UsageModel("anthropic", "claude-haiku-4-5", 4.0),
    UsageModel("anthropic", "claude-haiku-4-5-20251001", 2.0),
    UsageModel("anthropic", "claude-3-5-haiku-latest", 2.0),
    UsageModel("anthropic", "claude-3-haiku-20240307", 1.0),
    UsageModel("anthropic", "claude-opus-4-1", 1.0),
    UsageModel("anthropic", "claude-opus-4-1-20250805", 0.5),
    UsageModel("anthropic", "claude-opus-4-5", 1.0),
    UsageModel("google", "gemini-2.5-flash", 6.0, reasoning=True),
    UsageModel("google", "gemini-2.5-pro", 3.0, reasoning=True),
    UsageModel("google", "gemini-2.5-flash-lite", 3.0),
    UsageModel("google", "gemini-2.0-flash", 2.0),
    UsageModel("google", "gemini-2.0-flash-001", 1.0),
    UsageModel("google", "gemini-2.0-flash-lite", 1.0),
    UsageModel("google", "gemini-1.5-pro", 0.5),
    UsageModel("google", "gemini-1.5-flash", 0.5),
    UsageModel("google", "gemini-1.5-flash-002", 0.5),
    UsageModel("google", "gemini-3-pro-preview", 1.0, reasoning=True),
    UsageModel("google", "gemini-2.5-flash-preview-05-20", 0.5, reasoning=True),
    UsageModel("google", "gemma-3", 0.5),
)
# How each family's provider is written, and how often.
PROVIDER_SPELLINGS: dict[str, tuple[tuple[str, float], ...]] = {
    "openai": (("openai", 0.9), ("OpenAI", 0.1)),
    "anthropic": (("anthropic", 0.85), ("Anthropic", 0.15)),
    "google": (("google", 0.6), ("gemini", 0.3), ("Google", 0.1)),
}
SERVICE_TIERS = (("", 0.55), ("default", 0.25), ("standard", 0.1), ("flex", 0.04), ("batch", 0.04), ("priority", 0.02))
REGIONS = (("", 0.7), ("us", 0.2), ("eu", 0.1))
TEAM_NAMES = (
    "search",
    "ads",
    "support",
    "research",
    "platform",
    "growth",
    "billing",
    "mobile",
    "data",
    "security",
    "sales",
    "docs",
    "legal",
    "design",
    "infra",
    "finance",
)
# Requests nobody is attributed to: no team value, a shared key and a user no team lists.
UNATTRIBUTED_SHARE = 0.03
# Requests whose line names the team (the others are attributed by key, project or user).
TEAM_WRITTEN_SHARE = 0.8
CACHE_READ_SHARE = 0.35
CACHE_WRITE_SHARE = 0.08
# Office hours (UTC) weigh more, weekends less.
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 3, 2], float)
WEEKEND_WEIGHT = 0.35
NAIVE_TIME_SHARE = 0.1
MALFORMED_PER_FILE = 5
# An average request's cost (USD) the budgets are sized by.
BUDGETED_REQUEST_USD = 0.004
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class UsageTeam:
    """One generated team: how its lines name it, its users, projects and keys, its share and monthly budget."""

    id: str
    file_teams: tuple[str, ...]
    users: tuple[str, ...]
    projects: tuple[str, ...]
    api_keys: tuple[str, ...]
    share: float
    monthly_budget_usd: int


@dataclass(frozen=True)
class UsageFile:
    """One written request-log file: its path, request lines (malformed ones included) and malformed lines."""

    path: Path
    lines: int
    malformed: int
    first_day: date
    days: int

    @property
    def loaded(self) -> int:
        """Lines that load (the malformed ones are quarantined)."""
        return self.lines - self.malformed


def usage_teams(count: int, monthly_requests: int, seed: int) -> list[UsageTeam]:
    """`count` teams (at most len(TEAM_NAMES)), their shares falling off like real organisations' spend."""
    if not 0 < count <= len(TEAM_NAMES):
        raise ValueError(f"between 1 and {len(TEAM_NAMES)} teams, not {count}")
    rng = np.random.default_rng([seed, count])
    weights = 1 / np.arange(1, count + 1) ** 0.8
    shares = weights / weights.sum()
    teams = []
    for index, (name, share) in enumerate(zip(TEAM_NAMES, shares, strict=False)):
        spend = share * monthly_requests * BUDGETED_REQUEST_USD
        # Some teams budget tightly, some loosely: the budget statuses come out mixed.
        budget = max(int(round(spend * rng.uniform(0.6, 1.6), -1)), 10)
        teams.append(
            UsageTeam(
                id=name,
                file_teams=(name, f"{name}-team") if index % 3 == 0 else (name,),
                users=tuple(f"{name}.user{number}@example.com" for number in range(1, 2 + index % 5 + 2)),
                projects=tuple(f"proj_{name}_{suffix}" for suffix in ("prod", "eval")[: 1 + index % 2]),
                api_keys=tuple(f"key_{name}_{suffix}" for suffix in ("prod", "dev", "ci")[: 1 + index % 3]),
                share=float(share),
                monthly_budget_usd=budget,
            )
        )
    return teams


def teams_yaml(teams: Sequence[UsageTeam]) -> str:
    """The teams file (MODELATLAS_TEAMS_FILE) naming every generated team, its members and its budget."""
    centres = ("cc-product", "cc-research", "cc-operations")
    document = {
        "cost_centres": [{"id": centre, "name": centre.removeprefix("cc-").title()} for centre in centres],
        "teams": [
            {
                "id": team.id,
                "name": team.id.title(),
                "cost_centre": centres[index % len(centres)],
                "monthly_budget_usd": team.monthly_budget_usd,
                "members": {
                    "api_keys": list(team.api_keys),
                    "projects": list(team.projects),
                    "file_teams": list(team.file_teams),
                    "users": list(team.users),
                },
            }
            for index, team in enumerate(teams)
        ],
        "key_limits": [
            {"api_key_id": team.api_keys[0], "monthly_spend_limit_usd": team.monthly_budget_usd // 2}
            for team in teams[:3]
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def day_weights(first_day: date, days: int) -> np.ndarray:
    """Each day's weight: weekdays 1, weekends less."""
    weekdays = (first_day.weekday() + np.arange(days)) % 7
    return np.where(weekdays >= 5, WEEKEND_WEIGHT, 1.0)


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """`total` split in proportion to `weights`, whole numbers summing to `total` (largest remainders first)."""
    exact = total * weights / weights.sum()
    counts: np.ndarray = np.floor(exact).astype(np.int64)
    remainder = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return counts


def _pick(values: Sequence[str], indices: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string column of `values[indices]` (null where not `valid`)."""
    mask = None if valid is None else ~valid
    dictionary = pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), pa.array(values))
    return dictionary.cast(pa.string())


def _choice(rng: np.random.Generator, options: Sequence[tuple[str, float]], size: int) -> pa.Array:
    weights = np.array([weight for _, weight in options])
    return _pick([value for value, _ in options], rng.choice(len(options), size=size, p=weights / weights.sum()))


def _tokens(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=None if valid is None else ~valid, type=pa.int64())


def _member(rng: np.random.Generator, team_index: np.ndarray, lists: Sequence[Sequence[str]]) -> np.ndarray:
    """For each row, the position (in all lists flattened) of a random member of its team's list."""
    sizes = np.array([len(members) for members in lists])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    positions: np.ndarray = offsets[team_index] + (rng.random(len(team_index)) * sizes[team_index]).astype(np.int64)
    return positions


def request_table(
    first_day: date, counts: Sequence[int] | np.ndarray, teams: Sequence[UsageTeam], seed: int
) -> pa.Table:
    """The request lines of consecutive days from `first_day` (`counts[i]` on day i), in time order, every field of
    the format as written (tokens as numbers, empty fields null); no line malformed yet."""
    day_counts = np.asarray(counts, dtype=np.int64)
    rows = int(day_counts.sum())
    rng = np.random.default_rng([seed, first_day.toordinal(), rows])
    day_start = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp() * 1000)
    day_of_row = np.repeat(np.arange(len(day_counts)), day_counts)
    hour = rng.choice(24, size=rows, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    millis = day_start + day_of_row * 86_400_000 + hour * 3_600_000 + rng.integers(0, 3_600_000, rows)
    millis.sort()
    at = pa.array(millis, pa.timestamp("ms", tz="UTC"))
    naive = rng.random(rows) < NAIVE_TIME_SHARE
    timestamp = pc.if_else(
        naive,
        pc.strftime(at.cast(pa.timestamp("s", tz="UTC"), safe=False), _TIME_FORMATS[1]),
        pc.strftime(at, _TIME_FORMATS[0]),
    )

    weights = np.array([model.weight for model in MODELS])
    model = rng.choice(len(MODELS), size=rows, p=weights / weights.sum())
    families = sorted(PROVIDER_SPELLINGS)
    family = np.array([families.index(each.family) for each in MODELS])[model]
    spellings = [spelling for name in families for spelling, _ in PROVIDER_SPELLINGS[name]]
    offsets = np.cumsum([0] + [len(PROVIDER_SPELLINGS[name]) for name in families])
    provider = np.empty(rows, dtype=np.int64)
    for index, name in enumerate(families):
        chosen = family == index
        shares = np.array([share for _, share in PROVIDER_SPELLINGS[name]])
        provider[chosen] = offsets[index] + rng.choice(len(shares), size=int(chosen.sum()), p=shares / shares.sum())

    prompt = np.clip(np.round(rng.lognormal(np.log(1100.0), 1.1, rows)), 1, 400_000)
    output = np.clip(np.round(rng.lognormal(np.log(250.0), 0.9, rows)), 1, 64_000)
    cache_read = rng.random(rows) < CACHE_READ_SHARE
    cached = np.where(cache_read, np.floor(prompt * rng.uniform(0.2, 0.95, rows)), 0)
    anthropic = family == families.index("anthropic")
    writes = anthropic & (rng.random(rows) < CACHE_WRITE_SHARE)
    cache_write = np.floor((prompt - cached) * rng.uniform(0.3, 0.9, rows))
    reasons = np.array([each.reasoning for each in MODELS])[model]
    reasoning = np.floor(output * rng.uniform(0.3, 0.8, rows))
    embedding = np.array([each.model.startswith("text-embedding") for each in MODELS])[model]
    output = np.where(embedding, 0, output)

    team_index = rng.choice(len(teams), size=rows, p=np.array([team.share for team in teams]))
    attributed = rng.random(rows) >= UNATTRIBUTED_SHARE
    written = attributed & (rng.random(rows) < TEAM_WRITTEN_SHARE)
    file_teams = [value for team in teams for value in team.file_teams]
    users = [value for team in teams for value in team.users] + ["someone@example.com"]
    projects = [value for team in teams for value in team.projects]
    keys = [value for team in teams for value in team.api_keys] + ["key_shared_demo"]
    user = np.where(attributed, _member(rng, team_index, [team.users for team in teams]), len(users) - 1)
    key = np.where(attributed, _member(rng, team_index, [team.api_keys for team in teams]), len(keys) - 1)
    sequence = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, rows + 1)), pa.string()), 8, "0")
    columns: dict[str, Any] = {
        "timestamp": timestamp,
        "provider": _pick(spellings, provider),
        "model": _pick([each.model for each in MODELS], model),
        "input_tokens": _tokens(prompt),
        "cached_input_tokens": _tokens(cached),
        "output_tokens": _tokens(output),
        "cache_write_tokens": _tokens(cache_write, writes),
        "reasoning_tokens": _tokens(reasoning, reasons),
        "team": _pick(file_teams, _member(rng, team_index, [team.file_teams for team in teams]), written),
        "project": _pick(projects, _member(rng, team_index, [team.projects for team in teams]), attributed),
        "user": _pick(users, user),
        "api_key_id": _pick(keys, key),
        "request_id": pc.binary_join_element_wise(f"req_{first_day:%Y%m%d}_", sequence, ""),
        "service_tier": _choice(rng, SERVICE_TIERS, rows),
        "region": _choice(rng, REGIONS, rows),
    }
    return pa.table({name: columns[name] for name in FIELDS})


def _replaced(table: pa.Table, name: str, row: int, value: Any) -> pa.Table:
    values = table.column(name).to_pylist()
    values[row] = value
    index = table.schema.get_field_index(name)
    return table.set_column(index, name, pa.array(values, table.schema.field(name).type))


def with_malformed(table: pa.Table, count: int, seed: int) -> tuple[pa.Table, list[tuple[int, str]]]:
    """`table` with `count` lines spoilt as people spoil them, and the too-short lines to insert (position, text).

    The kinds take turns: a negative count, an impossible date, a missing model, more cached tokens than input, a
    line with too few fields (taking the place of the row at its position, which leaves the table; the others replace
    a row's value). The lines stay as many."""
    if count <= 0 or table.num_rows == 0:
        return table, []
    rng = np.random.default_rng([seed, table.num_rows, count])
    rows = sorted(int(row) for row in rng.choice(table.num_rows, size=min(count, table.num_rows), replace=False))
    inserted: list[tuple[int, str]] = []
    for number, original in enumerate(rows):
        row = original - len(inserted)  # the rows before it taken out of the table
        kind = number % 5
        if kind == 0:
            table = _replaced(table, "input_tokens", row, -5)
        elif kind == 1:
            day = table.column("timestamp")[row].as_py()[:4]
            table = _replaced(table, "timestamp", row, f"{day}-02-30T10:15:00Z")
        elif kind == 2:
            table = _replaced(table, "model", row, None)
        elif kind == 3:
            prompt = table.column("input_tokens")[row].as_py()
            table = _replaced(table, "cached_input_tokens", row, prompt + 100)
        else:
            first = table.slice(row, 1).to_pylist()[0]
            inserted.append((row, f"{first['timestamp']},{first['provider']},{first['model']},120"))
            table = pa.concat_tables([table.slice(0, row), table.slice(row + 1)])
    return table, inserted


def write_requests(path: Path, table: pa.Table, inserted: Sequence[tuple[int, str]] = ()) -> None:
    """The table as a CSV file with a header, each inserted line before the row at its position; nothing quoted, as
    most exports write it (no generated value holds a comma or a quote)."""
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with path.open("wb") as stream:
        stream.write(",".join(table.column_names).encode() + b"\n")
        start = 0
        for position, text in sorted(inserted):
            pa_csv.write_csv(table.slice(start, position - start), stream, options)
            stream.write(text.encode() + b"\n")
            start = position
        pa_csv.write_csv(table.slice(start), stream, options)


def month_starts(first_month: date, months: int) -> list[date]:
    """`months` consecutive UTC month starts from `first_month`'s."""
    starts = []
    current = first_month.replace(day=1)
    for _ in range(months):
        starts.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return starts


def write_file(
    path: Path,
    first_day: date,
    counts: Sequence[int] | np.ndarray,
    teams: Sequence[UsageTeam],
    seed: int,
    malformed: int,
) -> UsageFile:
    """One request-log file of the days from `first_day` (`counts` lines each, malformed ones among them)."""
    table, inserted = with_malformed(request_table(first_day, counts, teams, seed), malformed, seed)
    write_requests(path, table, inserted)
    return UsageFile(path, table.num_rows + len(inserted), malformed, first_day, len(counts))


def year_files(
    folder: Path,
    first_month: date,
    rows: int,
    teams: Sequence[UsageTeam],
    seed: int,
    months: int = 12,
    malformed: int = MALFORMED_PER_FILE,
) -> list[UsageFile]:
    """`rows` request lines over `months` months from `first_month`, one file per month (`usage-YYYY-MM.csv`)."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = month_starts(first_month, months)
    lengths = [calendar.monthrange(start.year, start.month)[1] for start in starts]
    per_day = allocate(rows, day_weights(starts[0], sum(lengths)))
    files = []
    offset = 0
    for start, length in zip(starts, lengths, strict=True):
        counts = per_day[offset : offset + length]
        offset += length
        path = folder / f"usage-{start:%Y-%m}.csv"
        files.append(write_file(path, start, counts, teams, seed, malformed))
    return files


def day_file(
    folder: Path, day: date, rows: int, teams: Sequence[UsageTeam], seed: int, malformed: int = MALFORMED_PER_FILE
) -> UsageFile:
    """One day's request lines as a file of its own (`usage-YYYY-MM-DD.csv`)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_file(folder / f"usage-{day:%Y-%m-%d}.csv", day, [rows], teams, seed, malformed)
