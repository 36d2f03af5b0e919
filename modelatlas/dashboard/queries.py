"""The compare page's logic, free of Streamlit: its filter state, the URL that carries it, the SQL it runs, its CSV.

The state travels in the URL's query parameters, so a copied link reproduces the view: every parameter is optional,
and one that is unknown or malformed is ignored (its default applies). The SQL is composed from identifiers taken
from the mart's documented columns only; every value a user typed is a bound parameter.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg import sql

MART_SCHEMA = "marts"
MART = "mart_model_comparison"

# The mart's documented columns (dbt_project/models/marts/mart_model_comparison.yml) and their kinds.
COLUMNS: dict[str, str] = {
    "canonical_model_id": "text",
    "provider": "text",
    "provider_model_id": "text",
    "provider_model_ids": "array",
    "display_name": "text",
    "model_family": "text",
    "capability_tier": "text",
    "creator": "text",
    "context_window": "integer",
    "max_output_tokens": "integer",
    "input_modalities": "array",
    "output_modalities": "array",
    "supports_vision": "boolean",
    "supports_tools": "boolean",
    "supports_reasoning": "boolean",
    "supports_structured_output": "boolean",
    "supports_batch": "boolean",
    "input_price_per_mtok": "numeric",
    "output_price_per_mtok": "numeric",
    "cached_input_price_per_mtok": "numeric",
    "blended_price_per_mtok": "numeric",
    "batch_input_price_per_mtok": "numeric",
    "batch_output_price_per_mtok": "numeric",
    "price_source_count": "integer",
    "prices_disagree": "boolean",
    "suspected_unit_error": "boolean",
    "open_weights": "boolean",
    "license": "text",
    "release_date": "date",
    "deprecation_date": "date",
    "region": "text",
    "is_in_catalog": "boolean",
    "is_available": "boolean",
    "availability": "text",
    "availability_30d_pct": "numeric",
}
# Arrays have no useful order: every other column sorts.
SORTABLE = tuple(name for name, kind in COLUMNS.items() if kind != "array")
DEFAULT_COLUMNS = (
    "display_name",
    "provider",
    "capability_tier",
    "context_window",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "blended_price_per_mtok",
    "input_modalities",
    "open_weights",
    "region",
    "availability",
    "availability_30d_pct",
)
DEFAULT_SORT = "display_name"
CAPABILITY_FLAGS = (
    "supports_vision",
    "supports_tools",
    "supports_reasoning",
    "supports_structured_output",
    "supports_batch",
)
TIERS = ("frontier", "balanced", "small", "embedding", "media")
AVAILABILITIES = ("available", "retired", "priced_only", "unpriced")
# Columns with a lower and upper bound filter, and the URL parameter name each bound takes.
RANGES: dict[str, str] = {
    "context_window": "context_window",
    "input_price_per_mtok": "input_price",
    "output_price_per_mtok": "output_price",
    "blended_price_per_mtok": "blended_price",
    "availability_30d_pct": "availability_30d",
}
# The most rows one query fetches: the page says when a filter would show more.
ROW_LIMIT = 5000
MAX_SEARCH_LENGTH = 200
MAX_VALUE_LENGTH = 200
MAX_VALUES = 100
# Bounds as the URL writes them: plain decimals, no exponent, no sign.
_NUMBER = re.compile(r"\d{1,15}(\.\d{1,18})?")

# URL parameters of the list filters, and the state field each fills.
_LIST_PARAMS = {
    "provider": "providers",
    "tier": "tiers",
    "capability": "capabilities",
    "input_modality": "input_modalities",
    "output_modality": "output_modalities",
    "region": "regions",
    "availability": "availability",
}

Bound = tuple[Decimal | None, Decimal | None]


@dataclass(frozen=True)
class FilterState:
    """Everything that defines a compare view: filters, search, sort and the columns shown."""

    providers: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    # Flags that must be true.
    capabilities: tuple[str, ...] = ()
    # Modalities the model must read (or produce): all of them.
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    open_weights: bool | None = None
    regions: tuple[str, ...] = ()
    availability: tuple[str, ...] = ()
    # Column -> (lowest, highest), inclusive; only bounds that are set.
    ranges: Mapping[str, Bound] = field(default_factory=dict)
    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False
    columns: tuple[str, ...] = DEFAULT_COLUMNS


def _values(raw: str | Sequence[str] | None) -> list[str]:
    if raw is None:
        return []
    return [raw] if isinstance(raw, str) else [value for value in raw if isinstance(value, str)]


def _last(raw: str | Sequence[str] | None) -> str | None:
    values = _values(raw)
    return values[-1] if values else None


def _clean(text: str) -> str:
    """Printable characters only (PostgreSQL text holds no NUL), spaces at the ends dropped."""
    return "".join(character for character in text if character.isprintable()).strip()


def _distinct(values: Iterable[str], allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        value = _clean(value)
        if not value or len(value) > MAX_VALUE_LENGTH or value in kept:
            continue
        if allowed is not None and value not in allowed:
            continue
        kept.append(value)
    return tuple(kept[:MAX_VALUES])


def parse_bound(raw: str | None) -> Decimal | None:
    """A range bound from the URL: a non-negative plain decimal, else None."""
    if raw is None or not _NUMBER.fullmatch(raw.strip()):
        return None
    try:
        return Decimal(raw.strip())
    except InvalidOperation:
        return None


def format_bound(value: Decimal) -> str:
    """A bound as the URL writes it (no exponent)."""
    return format(value, "f")


def valid_bound(value: Decimal | None) -> bool:
    """Whether a bound survives the URL: finite, non-negative and within the URL's digits."""
    return value is not None and parse_bound(format_bound(value)) == value


def normalize(state: FilterState) -> FilterState:
    """The state as the URL would give it back: unknown choices, columns and bad bounds dropped, defaults filled."""
    ranges: dict[str, Bound] = {}
    for column, (low, high) in state.ranges.items():
        if column not in RANGES:
            continue
        bound = (low if valid_bound(low) else None, high if valid_bound(high) else None)
        if bound != (None, None):
            ranges[column] = bound
    columns = _distinct(state.columns, tuple(COLUMNS))
    return FilterState(
        providers=_distinct(state.providers, None),
        tiers=_distinct(state.tiers, TIERS),
        capabilities=_distinct(state.capabilities, CAPABILITY_FLAGS),
        input_modalities=_distinct(state.input_modalities, None),
        output_modalities=_distinct(state.output_modalities, None),
        open_weights=state.open_weights,
        regions=_distinct(state.regions, None),
        availability=_distinct(state.availability, AVAILABILITIES),
        descending=state.descending,
        ranges=ranges,
        search=_clean(_clean(state.search)[:MAX_SEARCH_LENGTH]),
        sort=state.sort if state.sort in SORTABLE else DEFAULT_SORT,
        columns=columns or DEFAULT_COLUMNS,
    )


def from_query_params(params: Mapping[str, str | Sequence[str]]) -> FilterState:
    """The view a URL's query parameters describe; anything unknown or malformed is ignored."""
    lists = {state_field: _values(params.get(name)) for name, state_field in _LIST_PARAMS.items()}
    ranges: dict[str, Bound] = {}
    for column, name in RANGES.items():
        bound = (parse_bound(_last(params.get(f"min_{name}"))), parse_bound(_last(params.get(f"max_{name}"))))
        ranges[column] = bound
    open_weights = {"yes": True, "no": False}.get(_last(params.get("open_weights")) or "")
    columns = [column for raw in _values(params.get("columns")) for column in raw.split(",")]
    state = FilterState(
        **{name: tuple(values) for name, values in lists.items()},
        open_weights=open_weights,
        ranges=ranges,
        search=_last(params.get("q")) or "",
        sort=_last(params.get("sort")) or DEFAULT_SORT,
        descending=_last(params.get("desc")) == "1",
        columns=tuple(columns),
    )
    return normalize(state)


def to_query_params(state: FilterState) -> dict[str, str | list[str]]:
    """The URL's query parameters for a view: only what differs from the defaults."""
    state = normalize(state)
    params: dict[str, str | list[str]] = {}
    for name, state_field in _LIST_PARAMS.items():
        values: tuple[str, ...] = getattr(state, state_field)
        if values:
            params[name] = list(values)
    if state.open_weights is not None:
        params["open_weights"] = "yes" if state.open_weights else "no"
    for column, name in RANGES.items():
        low, high = state.ranges.get(column, (None, None))
        if low is not None:
            params[f"min_{name}"] = format_bound(low)
        if high is not None:
            params[f"max_{name}"] = format_bound(high)
    if state.search:
        params["q"] = state.search
    if state.sort != DEFAULT_SORT:
        params["sort"] = state.sort
    if state.descending:
        params["desc"] = "1"
    if state.columns != DEFAULT_COLUMNS:
        params["columns"] = ",".join(state.columns)
    return params


def state_key(state: FilterState) -> str:
    """One string per distinct view (a cache key)."""
    params = to_query_params(state)
    return "&".join(f"{name}={value!r}" for name, value in sorted(params.items()))


def escape_like(text: str) -> str:
    """`text` matched literally by ILIKE (its default escape character is the backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _column(name: str) -> sql.Identifier:
    if name not in COLUMNS:
        raise ValueError(f"{name!r} is not a column of {MART}")
    return sql.Identifier(name)


def build_query(state: FilterState, limit: int = ROW_LIMIT) -> tuple[sql.Composed, list[Any]]:
    """The SELECT of a view over the mart, and its parameters; raises ValueError for a column not in the mart."""
    if state.sort not in SORTABLE:
        raise ValueError(f"cannot sort by {state.sort!r}: choose one of {', '.join(SORTABLE)}")
    selected = [_column(name) for name in state.columns]
    conditions: list[sql.Composable] = []
    params: list[Any] = []

    def where(condition: str, *values: Any, column: str | None = None) -> None:
        template = sql.SQL(condition)
        conditions.append(template.format(_column(column)) if column else template)
        params.extend(values)

    for column, values in (
        ("provider", state.providers),
        ("capability_tier", state.tiers),
        ("region", state.regions),
        ("availability", state.availability),
    ):
        if values:
            where("{} = any(%s)", list(values), column=column)
    for flag in state.capabilities:
        where("{} is true", column=_flag(flag))
    if state.input_modalities:
        where("{} @> %s::text[]", list(state.input_modalities), column="input_modalities")
    if state.output_modalities:
        where("{} @> %s::text[]", list(state.output_modalities), column="output_modalities")
    if state.open_weights is not None:
        where("{} = %s", state.open_weights, column="open_weights")
    for column, (low, high) in state.ranges.items():
        if column not in RANGES:
            raise ValueError(f"{column!r} has no range filter")
        if low is not None:
            where("{} >= %s", low, column=column)
        if high is not None:
            where("{} <= %s", high, column=column)
    if state.search:
        pattern = f"%{escape_like(state.search)}%"
        conditions.append(
            sql.SQL("({} ilike %s or {} ilike %s or {} ilike %s)").format(
                _column("display_name"), _column("canonical_model_id"), _column("provider_model_id")
            )
        )
        params.extend([pattern] * 3)
    query = sql.SQL("select {columns} from {table} where {conditions} order by {sort} {direction} nulls last, {tie}")
    composed = query.format(
        columns=sql.SQL(", ").join(selected),
        table=sql.Identifier(MART_SCHEMA, MART),
        conditions=sql.SQL(" and ").join(conditions) if conditions else sql.SQL("true"),
        sort=_column(state.sort),
        direction=sql.SQL("desc" if state.descending else "asc"),
        tie=sql.SQL(", ").join([_column("canonical_model_id"), _column("provider")]),
    )
    composed += sql.SQL(" limit %s")
    params.append(limit)
    return composed, params


def _flag(name: str) -> str:
    if name not in CAPABILITY_FLAGS:
        raise ValueError(f"{name!r} is not a capability flag")
    return name


def cell_text(value: Any) -> str:
    """One value as the CSV writes it: empty for null, arrays joined, decimals without trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(item) for item in value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV of exactly these columns and rows, with a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell_text(value) for value in row] for row in rows)
    return buffer.getvalue()
