"""The side-by-side and model pages' logic: the offerings a URL names, the SQL they run, the feature matrix and the
price step series.

An offering is a canonical model at one provider, the key of `mart_model_comparison`. The URL names one as
`<canonical_model_id>` when the model has a single offering, else as `<canonical_model_id>@<provider>`; a bare id of a
model offered by several providers means its preferred offering (the maker's own, then one in a catalog, available,
priced by the most sources). Every query is composed with psycopg.sql from fixed identifiers; every value is a bound
parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from psycopg import sql

from modelatlas.dashboard import data
from modelatlas.dashboard.marts import bounded, table
from modelatlas.dashboard.queries import COLUMNS, MART_SCHEMA, ROW_LIMIT
from modelatlas.pipelines.prices.model import COMPONENTS
from modelatlas.warehouse import ConnectionInfo

MIN_OFFERINGS = 2
MAX_OFFERINGS = 4
SEPARATOR = "@"
# The most offerings a picker lists (the sample holds about 2,000).
OPTION_LIMIT = 20_000
# How far back the status and usage sections look.
HISTORY_DAYS = 90
INCIDENT_LIMIT = 50
MAX_PARAM_LENGTH = 300
# The model page's URL path (app.py's navigation).
MODEL_PAGE_PATH = "model"
# The columns that name an offering in mart_model_comparison.
LINK_KEYS = ("canonical_model_id", "provider")
HOW_TO_BUILD = (
    "Build it with `make run` (every source you have keys for), or fill the sample database without keys: "
    "`make run SAMPLE=1`, then open it with `make dashboard SAMPLE=1`."
)
HIGHLIGHT = "background-color: rgba(255, 190, 0, 0.28)"
MISSING = "—"

# The marts the two pages read; a section whose mart is missing says so.
COMPARISON = "mart_model_comparison"
CONSENSUS = "mart_price_consensus"
TIMELINE = "fct_price_timeline"
HISTORY = "fct_price_history"
CATALOG = "dim_models"
UPTIME = "mart_provider_uptime_daily"
INCIDENTS = "fct_incidents"
OUTAGES = "fct_outages"
USAGE = "mart_usage_daily"
MARTS = (COMPARISON, CONSENSUS, TIMELINE, HISTORY, CATALOG, UPTIME, INCIDENTS, OUTAGES, USAGE)

# Every column of mart_model_comparison, grouped as the matrix shows them.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Identity": (
        "canonical_model_id",
        "provider",
        "provider_model_id",
        "provider_model_ids",
        "display_name",
        "model_family",
        "capability_tier",
        "creator",
    ),
    "Limits and modalities": ("context_window", "max_output_tokens", "input_modalities", "output_modalities"),
    "Capabilities": (
        "supports_vision",
        "supports_tools",
        "supports_reasoning",
        "supports_structured_output",
        "supports_batch",
    ),
    "Prices (consensus)": (
        "input_price_per_mtok",
        "output_price_per_mtok",
        "cached_input_price_per_mtok",
        "blended_price_per_mtok",
        "batch_input_price_per_mtok",
        "batch_output_price_per_mtok",
        "price_source_count",
        "prices_disagree",
        "suspected_unit_error",
    ),
    "Weights": ("open_weights", "license"),
    "Lifecycle and availability": (
        "release_date",
        "deprecation_date",
        "region",
        "is_in_catalog",
        "is_available",
        "availability",
        "availability_30d_pct",
    ),
}
PRICE_LIST = "Price list (current and announced)"
SOURCES = "Sources (standard tier, base condition)"
# The price components in the order the pages list them.
COMPONENT_ORDER = COMPONENTS
TIER_ORDER = ("standard", "batch", "flex", "priority")
UNIT_LABELS = {"mtok": "million tokens"}
# The sources of mart_price_consensus, as its columns name them and as people do.
PRICE_SOURCES = (
    ("genai_prices_price_usd", "genai-prices"),
    ("litellm_price_usd", "LiteLLM"),
    ("openrouter_price_usd", "OpenRouter"),
)


def missing_mart(mart: str, what: str, database: str) -> str:
    """What to say when a mart a page reads was never built."""
    return f"{what} (`marts.{mart}`) does not exist in {database} yet. {HOW_TO_BUILD}"


@dataclass(frozen=True, order=True)
class Offering:
    """A canonical model at one provider."""

    canonical_model_id: str
    provider: str

    @property
    def key(self) -> str:
        """The explicit form, `<canonical_model_id>@<provider>`."""
        return f"{self.canonical_model_id}{SEPARATOR}{self.provider}"


@dataclass(frozen=True)
class OfferingChoice:
    """An offering as the pickers list it, with what decides which offering a bare model id means."""

    offering: Offering
    display_name: str
    creator: str | None = None
    is_in_catalog: bool = False
    is_available: bool = False
    price_source_count: int = 0

    @property
    def label(self) -> str:
        """How a picker and the matrix name it."""
        return f"{self.display_name} · {self.offering.provider}"


def _preference(choice: OfferingChoice) -> tuple[bool, bool, bool, int, str]:
    return (
        choice.offering.provider != choice.creator,
        not choice.is_in_catalog,
        not choice.is_available,
        -choice.price_source_count,
        choice.offering.provider,
    )


@dataclass(frozen=True)
class Catalog:
    """The offerings of the comparison mart, each model's preferred offering first."""

    by_model: Mapping[str, tuple[OfferingChoice, ...]]
    truncated: bool = False

    @classmethod
    def of(cls, choices: Iterable[OfferingChoice], truncated: bool = False) -> Catalog:
        """The catalog of these offerings."""
        grouped: dict[str, list[OfferingChoice]] = {}
        for choice in choices:
            grouped.setdefault(choice.offering.canonical_model_id, []).append(choice)
        return cls({model: tuple(sorted(group, key=_preference)) for model, group in grouped.items()}, truncated)

    def models(self) -> list[str]:
        """Every canonical model id, sorted."""
        return sorted(self.by_model)

    def choices(self) -> list[OfferingChoice]:
        """Every offering, by display name and provider."""
        every = [choice for group in self.by_model.values() for choice in group]
        return sorted(every, key=lambda choice: (choice.display_name.casefold(), choice.offering))

    def offerings_of(self, model: str) -> tuple[OfferingChoice, ...]:
        """The model's offerings, the preferred one first; empty for a model the mart does not hold."""
        return self.by_model.get(model, ())

    def preferred(self, model: str) -> Offering | None:
        """The offering a bare model id means."""
        offerings = self.offerings_of(model)
        return offerings[0].offering if offerings else None

    def choice(self, offering: Offering) -> OfferingChoice | None:
        """The offering's entry, None when the mart does not hold it."""
        return next(
            (choice for choice in self.offerings_of(offering.canonical_model_id) if choice.offering == offering), None
        )

    def __contains__(self, offering: object) -> bool:
        return isinstance(offering, Offering) and self.choice(offering) is not None


def _clean(text: str) -> str:
    return "".join(character for character in text if character.isprintable()).strip()[:MAX_PARAM_LENGTH]


def parse_offering(value: str, catalog: Catalog) -> Offering | None:
    """The offering a URL value names (`<model>` or `<model>@<provider>`); None when the mart holds no such one."""
    value = _clean(value)
    model, separator, provider = value.rpartition(SEPARATOR)
    if separator and Offering(model, provider) in catalog:
        return Offering(model, provider)
    return catalog.preferred(value)


def offering_param(offering: Offering, catalog: Catalog) -> str:
    """The URL value of an offering: the bare model id when the model has one offering, else `<model>@<provider>`."""
    if len(catalog.offerings_of(offering.canonical_model_id)) == 1:
        return offering.canonical_model_id
    return offering.key


@dataclass(frozen=True)
class Selection:
    """The offerings a side-by-side URL chooses, and the values it could not use."""

    offerings: tuple[Offering, ...]
    unknown: tuple[str, ...] = ()
    over_limit: tuple[Offering, ...] = ()


def select_offerings(values: Iterable[str], catalog: Catalog) -> Selection:
    """The distinct offerings the `model` values name, in order, at most MAX_OFFERINGS."""
    chosen: list[Offering] = []
    unknown: list[str] = []
    for value in values:
        offering = parse_offering(value, catalog)
        if offering is None:
            if _clean(value):
                unknown.append(_clean(value))
        elif offering not in chosen:
            chosen.append(offering)
    return Selection(tuple(chosen[:MAX_OFFERINGS]), tuple(unknown), tuple(chosen[MAX_OFFERINGS:]))


def side_by_side_params(
    offerings: Sequence[Offering], catalog: Catalog, only_differences: bool
) -> dict[str, str | list[str]]:
    """The side-by-side page's URL parameters for a choice."""
    params: dict[str, str | list[str]] = {}
    if offerings:
        params["model"] = [offering_param(offering, catalog) for offering in offerings]
    if only_differences:
        params["diff"] = "1"
    return params


def model_page_params(offering: Offering, catalog: Catalog) -> dict[str, str]:
    """The model page's URL parameters for an offering: `provider` only when it is not the preferred one."""
    params = {"model": offering.canonical_model_id}
    if catalog.preferred(offering.canonical_model_id) != offering:
        params["provider"] = offering.provider
    return params


def model_page_link(offering: Offering, catalog: Catalog) -> str:
    """A link to the offering's model page, relative to any page of the dashboard."""
    return f"{MODEL_PAGE_PATH}?{urlencode(model_page_params(offering, catalog))}"


def model_page_href(canonical_model_id: str, provider: str) -> str:
    """A link to an offering's model page naming the provider, for pages that have no catalog at hand."""
    return f"{MODEL_PAGE_PATH}?{urlencode({'model': canonical_model_id, 'provider': provider})}"


def with_link_keys(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns, plus the offering's key columns where missing: what a table needs to link rows to model pages."""
    return (*columns, *(key for key in LINK_KEYS if key not in columns))


def split_links(table: data.Table, shown: Sequence[str]) -> tuple[data.Table, list[str]]:
    """A table read `with_link_keys`: the table of only the shown columns, and each row's model page link."""
    positions = [table.columns.index(column) for column in shown]
    canonical, provider = (table.columns.index(key) for key in LINK_KEYS)
    rows = [tuple(row[position] for position in positions) for row in table.rows]
    links = [model_page_href(row[canonical], row[provider]) for row in table.rows]
    return data.Table(list(shown), rows, table.truncated), links


def offering_from_params(model: str | None, provider: str | None, catalog: Catalog) -> Offering | None:
    """The offering a model page URL names: `provider` when the model has it, else the model's preferred one."""
    if not model:
        return None
    named = parse_offering(model, catalog)
    if named is None:
        return None
    if provider and Offering(named.canonical_model_id, _clean(provider)) in catalog:
        return Offering(named.canonical_model_id, _clean(provider))
    return named


def column_labels(choices: Sequence[OfferingChoice]) -> list[str]:
    """One distinct header per offering (the canonical id is added where two would read the same)."""
    labels = [choice.label for choice in choices]
    return [
        f"{label} ({choice.offering.canonical_model_id})" if labels.count(label) > 1 else label
        for label, choice in zip(labels, choices, strict=True)
    ]


def attribute_label(column: str) -> str:
    """A column's name in words."""
    words = column.replace("_per_mtok", " (USD/Mtok)").replace("_pct", " %").replace("_", " ")
    return words[:1].upper() + words[1:]


def format_decimal(value: Decimal) -> str:
    """A decimal without an exponent or trailing zeros."""
    return format(value.normalize(), "f")


def format_value(value: Any) -> str:
    """One value as a cell shows it."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value) or MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def unit_label(unit: str) -> str:
    """`mtok` as `million tokens`; other units as they are."""
    return UNIT_LABELS.get(unit, unit)


def format_price(price: Decimal | None, unit: str) -> str:
    """`$3 / million tokens`."""
    if price is None:
        return MISSING
    return f"${format_decimal(price)} / {unit_label(unit)}"


def comparable(value: Any) -> Any:
    """A value as the matrix compares it: arrays as sorted tuples, decimals exactly (3.0 equals 3)."""
    if isinstance(value, list | tuple):
        return tuple(sorted(str(item) for item in value))
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def values_differ(values: Sequence[Any]) -> bool:
    """Whether the offerings' values of one row are not all the same (a missing value differs from a present one)."""
    compared = [comparable(value) for value in values]
    return any(value != compared[0] for value in compared[1:])


@dataclass(frozen=True)
class MatrixRow:
    """One row of the matrix: what it is, each offering's value (compared) and its cell text (shown)."""

    section: str
    attribute: str
    values: tuple[Any, ...]
    cells: tuple[str, ...]

    @property
    def differs(self) -> bool:
        """Whether the offerings differ on it."""
        return values_differ(self.values)


@dataclass(frozen=True)
class PricePoint:
    """One interval of fct_price_timeline: a price of an offering from `valid_from` to `valid_to` (null: open)."""

    offering: Offering
    component: str
    service_tier: str
    condition: str
    region: str
    unit: str
    price_usd: Decimal
    source: str
    provider_model_id: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    is_current: bool
    # As the source wrote it (`3e-06 USD/token`), and when ModelAtlas first recorded it.
    original: str | None = None
    recorded_at: datetime | None = None

    @property
    def series(self) -> tuple[str, str, str, str]:
        """The price series it belongs to: component, tier, condition, region."""
        return (self.component, self.service_tier, self.condition, self.region)


@dataclass(frozen=True)
class ConsensusPrice:
    """One row of mart_price_consensus: each source's price of a component, the consensus and the disagreement."""

    offering: Offering
    component: str
    unit: str
    source_prices: Mapping[str, Decimal | None]
    consensus_price_usd: Decimal | None
    consensus_rule: str | None
    source_count: int
    price_spread: Decimal | None
    sources_disagree: bool
    suspected_unit_error: bool


def component_rank(component: str) -> tuple[int, str]:
    """Components in the order people read a price list: input, output, caching, then the rest."""
    position = COMPONENT_ORDER.index(component) if component in COMPONENT_ORDER else len(COMPONENT_ORDER)
    return (position, component)


def _tier_rank(tier: str) -> tuple[int, str]:
    return (TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER), tier)


def attribute_rows(offerings: Sequence[Offering], attributes: Mapping[Offering, Mapping[str, Any]]) -> list[MatrixRow]:
    """One row per column of mart_model_comparison, in the documented order, grouped."""
    rows = []
    for section, columns in SECTIONS.items():
        for column in columns:
            values = tuple(attributes.get(offering, {}).get(column) for offering in offerings)
            rows.append(
                MatrixRow(section, attribute_label(column), values, tuple(format_value(value) for value in values))
            )
    return rows


def price_key_label(point: PricePoint, now: datetime) -> str:
    """`input · standard · base`, with the region when not global and the start of an announced price."""
    parts = [point.component, point.service_tier, point.condition]
    if point.region != "global":
        parts.append(point.region)
    if point.valid_from is not None and point.valid_from > now:
        parts.append(f"from {point.valid_from.date().isoformat()}")
    return " · ".join(parts)


def _price_sort_key(point: PricePoint) -> tuple[Any, ...]:
    return (
        component_rank(point.component),
        _tier_rank(point.service_tier),
        point.condition != "base",
        point.condition,
        point.region != "global",
        point.region,
        point.valid_from is not None,
        point.valid_from or datetime.min,
    )


def price_list_rows(offerings: Sequence[Offering], points: Iterable[PricePoint], now: datetime) -> list[MatrixRow]:
    """One row per component, tier, condition and region any offering prices now or has announced: the price and
    the source it comes from."""
    relevant = [point for point in points if point.is_current or (point.valid_from and point.valid_from > now)]
    by_label: dict[str, dict[Offering, PricePoint]] = {}
    for point in sorted(relevant, key=_price_sort_key):
        by_label.setdefault(price_key_label(point, now), {})[point.offering] = point
    rows = []
    for label, priced in by_label.items():
        chosen = [priced.get(offering) for offering in offerings]
        values = tuple(point.price_usd if point else None for point in chosen)
        cells = tuple(
            f"{format_price(point.price_usd, point.unit)} ({point.source})" if point else MISSING for point in chosen
        )
        rows.append(MatrixRow(PRICE_LIST, label, values, cells))
    return rows


def _spread_cell(price: ConsensusPrice) -> str:
    spread = MISSING if price.price_spread is None else f"{format_decimal(price.price_spread * 100)}%"
    flags = [
        flag for flag, on in (("disagree", price.sources_disagree), ("unit error?", price.suspected_unit_error)) if on
    ]
    return f"{spread} ({', '.join(flags)})" if flags else spread


def source_rows(offerings: Sequence[Offering], consensus: Iterable[ConsensusPrice]) -> list[MatrixRow]:
    """Per component: each source's price, the consensus with its rule, and the spread between the sources."""
    by_component: dict[tuple[str, str], dict[Offering, ConsensusPrice]] = {}
    for price in sorted(consensus, key=lambda price: (component_rank(price.component), price.unit)):
        by_component.setdefault((price.component, price.unit), {})[price.offering] = price
    rows = []
    for (component, unit), priced in by_component.items():
        chosen = [priced.get(offering) for offering in offerings]
        for column, source in PRICE_SOURCES:
            values = tuple(price.source_prices.get(column) if price else None for price in chosen)
            cells = tuple(format_price(value, unit) for value in values)
            rows.append(MatrixRow(SOURCES, f"{component}: {source}", values, cells))
        consensus_values = tuple(price.consensus_price_usd if price else None for price in chosen)
        consensus_cells = tuple(
            f"{format_price(price.consensus_price_usd, unit)} ({price.consensus_rule})" if price else MISSING
            for price in chosen
        )
        rows.append(MatrixRow(SOURCES, f"{component}: consensus", consensus_values, consensus_cells))
        spreads = tuple(
            (price.price_spread, price.sources_disagree, price.suspected_unit_error) if price else None
            for price in chosen
        )
        rows.append(
            MatrixRow(
                SOURCES,
                f"{component}: spread between sources",
                spreads,
                tuple(_spread_cell(price) if price else MISSING for price in chosen),
            )
        )
    return rows


@dataclass(frozen=True)
class Matrix:
    """The side-by-side matrix: a header per offering and the rows."""

    columns: tuple[str, ...]
    rows: tuple[MatrixRow, ...]


def feature_matrix(
    choices: Sequence[OfferingChoice],
    attributes: Mapping[Offering, Mapping[str, Any]],
    points: Iterable[PricePoint],
    consensus: Iterable[ConsensusPrice],
    now: datetime,
) -> Matrix:
    """Every attribute, every current and announced price, and each source's price with the consensus, of these
    offerings."""
    offerings = [choice.offering for choice in choices]
    rows = [
        *attribute_rows(offerings, attributes),
        *price_list_rows(offerings, points, now),
        *source_rows(offerings, consensus),
    ]
    return Matrix(tuple(column_labels(choices)), tuple(rows))


def matrix_frame(matrix: Matrix, only_differences: bool = False) -> pd.DataFrame:
    """The matrix as a table: section, attribute, one column per offering, and whether the row differs."""
    rows = [row for row in matrix.rows if row.differs or not only_differences]
    frame = pd.DataFrame(
        [[row.section, row.attribute, *row.cells] for row in rows], columns=["Section", "Attribute", *matrix.columns]
    )
    frame["Differs"] = [row.differs for row in rows]
    return frame


def highlight_styles(frame: pd.DataFrame) -> pd.DataFrame:
    """The CSS of every cell: the rows whose values differ highlighted (by the frame's `Differs` column)."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    styles.loc[frame["Differs"].astype(bool)] = HIGHLIGHT
    return styles


@dataclass(frozen=True)
class StepSeries:
    """One component's price over time, as a step line: a marker at each interval's start (a change of the price or
    of the source that sets it), a break where no price applied."""

    component: str
    unit: str
    x: tuple[datetime, ...]
    y: tuple[float | None, ...]
    marker_sizes: tuple[int, ...]
    hover: tuple[str, ...]


MARKER_SIZE = 9


def series_choices(points: Iterable[PricePoint]) -> tuple[list[str], list[str], list[str]]:
    """The tiers, conditions and regions the points have, the usual ones first."""
    points = list(points)
    tiers = sorted({point.service_tier for point in points}, key=_tier_rank)
    conditions = sorted({point.condition for point in points}, key=lambda condition: (condition != "base", condition))
    regions = sorted({point.region for point in points}, key=lambda region: (region != "global", region))
    return tiers, conditions, regions


def _hover(point: PricePoint) -> str:
    since = point.valid_from.strftime("%Y-%m-%d %H:%M UTC") if point.valid_from else "before the first record"
    until = point.valid_to.strftime("%Y-%m-%d %H:%M UTC") if point.valid_to else "now"
    model_id = f" ({point.provider_model_id})" if point.provider_model_id else ""
    lines = [
        f"<b>{point.component}</b>: {format_price(point.price_usd, point.unit)}",
        f"source: {point.source}{model_id}",
        f"from {since} until {until}",
    ]
    if point.original:
        lines.append(f"as written: {point.original}")
    if point.recorded_at:
        lines.append(f"first recorded {point.recorded_at.strftime('%Y-%m-%d %H:%M UTC')}")
    return "<br>".join(lines)


def chart_span(points: Sequence[PricePoint], now: datetime) -> tuple[datetime, datetime]:
    """Where the chart starts and ends: before the earliest known time (a price of unknown start begins there) and at
    now or the latest announced start."""
    known = [moment for point in points for moment in (point.valid_from, point.valid_to) if moment is not None]
    earliest = min([*known, now])
    latest = max([*known, now])
    padding = max(timedelta(days=7), (latest - earliest) / 20)
    return earliest - padding, latest


def step_series(points: Iterable[PricePoint], now: datetime) -> list[StepSeries]:
    """One step series per component (and unit) of the points, which are one series each (one tier, condition and
    region of one offering), in price-list order."""
    points = list(points)
    start, end = chart_span(points, now)
    grouped: dict[tuple[str, str], list[PricePoint]] = {}
    for point in points:
        grouped.setdefault((point.component, point.unit), []).append(point)
    series = []
    for (component, unit), group in sorted(grouped.items(), key=lambda item: (component_rank(item[0][0]), item[0][1])):
        ordered = sorted(group, key=lambda point: point.valid_from or start)
        x: list[datetime] = []
        y: list[float | None] = []
        sizes: list[int] = []
        hover: list[str] = []
        for position, point in enumerate(ordered):
            begins = point.valid_from or start
            ends = point.valid_to or end
            following = ordered[position + 1] if position + 1 < len(ordered) else None
            text = _hover(point)
            x.append(begins)
            y.append(float(point.price_usd))
            sizes.append(MARKER_SIZE if point.valid_from is not None else 0)
            hover.append(text)
            if following is not None and following.valid_from == point.valid_to:
                continue
            # The interval ends without a successor: draw it to its end, then break the line until the next one.
            x.append(max(ends, begins))
            y.append(float(point.price_usd))
            sizes.append(0)
            hover.append(text)
            if following is not None:
                x.append(max(ends, begins))
                y.append(None)
                sizes.append(0)
                hover.append("")
        series.append(StepSeries(component, unit, tuple(x), tuple(y), tuple(sizes), tuple(hover)))
    return series


def disagreements(consensus: Iterable[ConsensusPrice]) -> list[ConsensusPrice]:
    """The components whose sources disagree or look like a unit error, in price-list order."""
    return sorted(
        (price for price in consensus if price.sources_disagree or price.suspected_unit_error),
        key=lambda price: component_rank(price.component),
    )


def consensus_frame(consensus: Iterable[ConsensusPrice]) -> pd.DataFrame:
    """Each component's source prices, consensus and disagreement, as a table."""
    rows = []
    for price in sorted(consensus, key=lambda price: (component_rank(price.component), price.unit)):
        row: dict[str, Any] = {"component": price.component, "unit": unit_label(price.unit)}
        for column, source in PRICE_SOURCES:
            row[source] = _as_float(price.source_prices.get(column))
        row.update(
            consensus=_as_float(price.consensus_price_usd),
            rule=price.consensus_rule,
            sources=price.source_count,
            spread_pct=_as_float(None if price.price_spread is None else price.price_spread * 100),
            disagree=price.sources_disagree,
            unit_error=price.suspected_unit_error,
        )
        rows.append(row)
    return pd.DataFrame(rows)


USAGE_MEASURES = ("cost_usd", "requests", "prompt_tokens", "cache_read_tokens", "output_tokens")
OFFICIAL_MINUTES = ("minutes_degraded", "minutes_partial_outage", "minutes_major_outage", "minutes_maintenance")


def usage_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Decimal | None]:
    """The usage rows' cost, requests and tokens added up; None for a measure no row counts (not every source counts
    requests)."""
    totals: dict[str, Decimal | None] = dict.fromkeys(USAGE_MEASURES)
    for row in rows:
        for measure in USAGE_MEASURES:
            value = row.get(measure)
            if value is not None:
                totals[measure] = (totals[measure] or Decimal(0)) + Decimal(value)
    return totals


def usage_by(rows: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """The usage totals per value of `key` (provider, team), the costliest first."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    summary = [{key: name, **usage_totals(group)} for name, group in groups.items()]
    return sorted(summary, key=lambda total: (-(total["cost_usd"] or 0), total[key]))


def daily_cost(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[date, Decimal]]:
    """The cost per provider and day (teams added up)."""
    costs: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        days = costs.setdefault(str(row["provider"]), {})
        days[row["day"]] = days.get(row["day"], Decimal(0)) + Decimal(row["cost_usd"] or 0)
    return {provider: dict(sorted(days.items())) for provider, days in sorted(costs.items())}


def official_minutes_by_day(rows: Iterable[Mapping[str, Any]]) -> dict[date, dict[str, Decimal]]:
    """The minutes per day the official status was not operational, by status. The mart repeats the official figures
    on every region row of a day, so each day counts once."""
    minutes: dict[date, dict[str, Decimal]] = {}
    for row in rows:
        if row["day"] not in minutes:
            minutes[row["day"]] = {column: Decimal(row[column] or 0) for column in OFFICIAL_MINUTES}
    return dict(sorted(minutes.items()))


def availability_by_region(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[date, Decimal]]:
    """The probes' availability per region and day, where the provider was probed."""
    availability: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        if row["probes"] and row["availability_pct"] is not None:
            availability.setdefault(str(row["region"]), {})[row["day"]] = row["availability_pct"]
    return {region: dict(sorted(days.items())) for region, days in sorted(availability.items())}


def _as_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Query:
    """A statement, its parameters and the most rows it may return (None: no limit)."""

    statement: sql.Composed
    params: list[Any]
    limit: int | None = None


def _limited(statement: sql.Composed, params: list[Any], limit: int) -> Query:
    """One row over the limit is fetched, to tell that more matched."""
    limited, values = bounded(statement, params, limit)
    return Query(limited, values, limit)


def existing_marts_query(names: Sequence[str]) -> Query:
    """Which of these marts exist (and the reader sees)."""
    query = sql.SQL(
        "select name from unnest(%s::text[]) as marts(name) "
        "where to_regclass(quote_ident(%s) || '.' || quote_ident(name)) is not null order by name"
    )
    return Query(sql.Composed([query]), [list(names), MART_SCHEMA])


def has_rows_query(mart: str) -> Query:
    """Whether a mart holds any row."""
    return Query(sql.SQL("select exists (select 1 from {})").format(table(mart)), [])


def catalog_query(limit: int = OPTION_LIMIT) -> Query:
    """Every offering with what the pickers show and what decides a model's preferred offering."""
    query = sql.SQL(
        "select canonical_model_id, provider, display_name, creator, is_in_catalog, is_available, price_source_count "
        "from {} order by display_name, canonical_model_id, provider"
    ).format(table(COMPARISON))
    return _limited(query, [], limit)


def _offering_arrays(offerings: Sequence[Offering]) -> tuple[list[str], list[str]]:
    return [offering.canonical_model_id for offering in offerings], [offering.provider for offering in offerings]


def _offerings_filter(offerings: Sequence[Offering]) -> tuple[sql.Composable, list[Any]]:
    condition = sql.SQL("(canonical_model_id, provider) in (select * from unnest(%s::text[], %s::text[]))")
    return condition, list(_offering_arrays(offerings))


def comparison_query(offerings: Sequence[Offering], limit: int = ROW_LIMIT) -> Query:
    """Every documented column of mart_model_comparison for these offerings."""
    condition, params = _offerings_filter(offerings)
    query = sql.SQL("select {columns} from {table} where {condition} order by canonical_model_id, provider").format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in COLUMNS),
        table=table(COMPARISON),
        condition=condition,
    )
    return _limited(query, params, limit)


PRICE_POINT_COLUMNS = (
    "canonical_model_id",
    "provider",
    "component",
    "service_tier",
    "condition",
    "region",
    "unit",
    "price_usd",
    "source",
    "provider_model_id",
    "valid_from",
    "valid_to",
    "is_current",
)


def price_points_query(offerings: Sequence[Offering], current_only: bool, limit: int = ROW_LIMIT) -> Query:
    """The offerings' price intervals: fct_price_timeline (fct_price_history resolved to one price per offering,
    component, tier, condition and region at each time) with what the source wrote and when ModelAtlas first
    recorded it (fct_price_history); with `current_only`, the prices in effect now or announced."""
    canonical, providers = _offering_arrays(offerings)
    condition: sql.Composable = sql.SQL(
        "(t.canonical_model_id, t.provider) in (select * from unnest(%s::text[], %s::text[]))"
    )
    if current_only:
        condition = sql.SQL("{} and (t.is_current or t.valid_from > now())").format(condition)
    query = sql.SQL(
        "select {columns}, h.original_value, h.original_unit, h.first_seen_at as recorded_at "
        "from {timeline} as t left join {history} as h on h.price_history_id = t.price_history_id "
        "where {condition} order by t.canonical_model_id, t.provider, t.component, t.service_tier, t.condition, "
        "t.region, t.valid_from nulls first"
    ).format(
        columns=sql.SQL(", ").join(sql.Identifier("t", column) for column in PRICE_POINT_COLUMNS),
        timeline=table(TIMELINE),
        history=table(HISTORY),
        condition=condition,
    )
    return _limited(query, [canonical, providers], limit)


CONSENSUS_COLUMNS = (
    "canonical_model_id",
    "provider",
    "component",
    "unit",
    *(column for column, _ in PRICE_SOURCES),
    "consensus_price_usd",
    "consensus_rule",
    "source_count",
    "price_spread",
    "sources_disagree",
    "suspected_unit_error",
)


def consensus_query(offerings: Sequence[Offering], limit: int = ROW_LIMIT) -> Query:
    """The offerings' rows of mart_price_consensus."""
    condition, params = _offerings_filter(offerings)
    query = sql.SQL("select {columns} from {table} where {condition} order by canonical_model_id, provider").format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in CONSENSUS_COLUMNS),
        table=table(CONSENSUS),
        condition=condition,
    )
    return _limited(query, params, limit)


MODEL_OFFERING_COLUMNS = (
    "provider",
    "provider_model_id",
    "display_name",
    "availability",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "blended_price_per_mtok",
    "prices_disagree",
    "context_window",
    "region",
    "availability_30d_pct",
    "release_date",
    "deprecation_date",
)


def model_offerings_query(model: str, limit: int = ROW_LIMIT) -> Query:
    """The model's offerings (mart_model_comparison), every provider."""
    query = sql.SQL("select {columns} from {table} where canonical_model_id = %s order by provider").format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in MODEL_OFFERING_COLUMNS),
        table=table(COMPARISON),
    )
    return _limited(query, [model], limit)


def catalog_entries_query(model: str, limit: int = ROW_LIMIT) -> Query:
    """The ids the provider catalogs list the model under (dim_models)."""
    query = sql.SQL(
        "select provider, provider_model_id, display_name, is_available, first_seen_at, last_seen_at, "
        "deprecation_date, replacement_model_id from {} where canonical_model_id = %s order by provider, "
        "provider_model_id"
    ).format(table(CATALOG))
    return _limited(query, [model], limit)


UPTIME_COLUMNS = (
    "day",
    "region",
    "probes",
    "availability_pct",
    "latency_p50_ms",
    "latency_p95_ms",
    "minutes_operational",
    "minutes_degraded",
    "minutes_partial_outage",
    "minutes_major_outage",
    "minutes_maintenance",
    "incidents",
    "incident_minutes",
)


def uptime_query(provider: str, days: int = HISTORY_DAYS, limit: int = ROW_LIMIT) -> Query:
    """The provider's daily uptime rows of the last `days` days."""
    query = sql.SQL(
        "select {columns} from {table} where provider = %s and day > current_date - %s::integer order by day, region"
    ).format(columns=sql.SQL(", ").join(sql.Identifier(column) for column in UPTIME_COLUMNS), table=table(UPTIME))
    return _limited(query, [provider, days], limit)


def incidents_query(provider: str, limit: int = INCIDENT_LIMIT) -> Query:
    """The provider's latest incidents."""
    query = sql.SQL(
        "select title, impact, status, created_at, resolved_at, time_to_resolve_minutes, components, shortlink "
        "from {} where provider = %s order by created_at desc"
    ).format(table(INCIDENTS))
    return _limited(query, [provider], limit)


def outages_query(provider: str, model: str, limit: int = INCIDENT_LIMIT) -> Query:
    """The provider's outage episodes (probes and official status), and OpenRouter's of this model's endpoints."""
    query = sql.SQL(
        "select source, provider, region, upstream_provider, started_at, ended_at, duration_minutes, severity, "
        "linked_incident_ids from {} where (provider = %s and source <> 'openrouter') or canonical_model_id = %s "
        "order by started_at desc"
    ).format(table(OUTAGES))
    return _limited(query, [provider, model], limit)


def usage_query(model: str, days: int = HISTORY_DAYS, limit: int = ROW_LIMIT) -> Query:
    """The organisation's daily usage and cost of the model, every provider and team, of the last `days` days."""
    query = sql.SQL(
        "select day, provider, team, requests, prompt_tokens, cache_read_tokens, output_tokens, cost_usd "
        "from {} where canonical_model_id = %s and day > current_date - %s::integer order by day, provider, team"
    ).format(table(USAGE))
    return _limited(query, [model, days], limit)


_QUERIES: dict[str, Callable[..., Query]] = {
    "existing": existing_marts_query,
    "has_rows": has_rows_query,
    "catalog": catalog_query,
    "comparison": comparison_query,
    "price_points": price_points_query,
    "consensus": consensus_query,
    "model_offerings": model_offerings_query,
    "catalog_entries": catalog_entries_query,
    "uptime": uptime_query,
    "incidents": incidents_query,
    "outages": outages_query,
    "usage": usage_query,
}


def fetch(info: ConnectionInfo, query: Query) -> data.Table:
    """A query's rows through the read-only role, at most its limit, and whether more matched."""
    return data.fetch_limited(info, query.statement, query.params, query.limit)


def _cached_read(_info: ConnectionInfo, database: str, name: str, args: tuple[Any, ...]) -> data.Table:
    return fetch(_info, _QUERIES[name](*args))


def read(info: ConnectionInfo, name: str, *args: Any) -> data.Table:
    """A named query's rows, reused for the refresh interval (keyed by the database, the query and its arguments)."""
    table: data.Table = data.cached(_cached_read, data.refresh_interval())(info, info.display_url(), name, args)
    return table


def records(table: data.Table) -> list[dict[str, Any]]:
    """The rows as dicts by column name."""
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def existing_marts(info: ConnectionInfo) -> frozenset[str]:
    """Which of the pages' marts exist."""
    return frozenset(row[0] for row in read(info, "existing", MARTS).rows)


def has_rows(info: ConnectionInfo, mart: str) -> bool:
    """Whether an existing mart holds any row."""
    return bool(read(info, "has_rows", mart).rows[0][0])


def catalog(info: ConnectionInfo) -> Catalog:
    """The offerings of mart_model_comparison (which must exist)."""
    table = read(info, "catalog", OPTION_LIMIT)
    choices = [
        OfferingChoice(
            Offering(row["canonical_model_id"], row["provider"]),
            row["display_name"] or row["canonical_model_id"],
            row["creator"],
            bool(row["is_in_catalog"]),
            bool(row["is_available"]),
            int(row["price_source_count"] or 0),
        )
        for row in records(table)
    ]
    return Catalog.of(choices, truncated=table.truncated)


def comparison_attributes(info: ConnectionInfo, offerings: Sequence[Offering]) -> dict[Offering, dict[str, Any]]:
    """Each offering's row of mart_model_comparison by column."""
    rows = records(read(info, "comparison", tuple(offerings)))
    return {Offering(row["canonical_model_id"], row["provider"]): row for row in rows}


def price_points(info: ConnectionInfo, offerings: Sequence[Offering], current_only: bool) -> data.Table:
    """The offerings' price intervals (see price_points_query)."""
    return read(info, "price_points", tuple(offerings), current_only)


def to_price_points(table: data.Table) -> list[PricePoint]:
    """Rows of price_points_query as PricePoints."""
    return [
        PricePoint(
            Offering(row["canonical_model_id"], row["provider"]),
            row["component"],
            row["service_tier"],
            row["condition"],
            row["region"],
            row["unit"],
            row["price_usd"],
            row["source"],
            row["provider_model_id"],
            row["valid_from"],
            row["valid_to"],
            bool(row["is_current"]),
            " ".join(part for part in (row["original_value"], row["original_unit"]) if part) or None,
            row["recorded_at"],
        )
        for row in records(table)
    ]


def consensus_prices(info: ConnectionInfo, offerings: Sequence[Offering]) -> list[ConsensusPrice]:
    """The offerings' rows of mart_price_consensus."""
    return to_consensus(read(info, "consensus", tuple(offerings)))


def to_consensus(table: data.Table) -> list[ConsensusPrice]:
    """Rows of consensus_query as ConsensusPrices."""
    return [
        ConsensusPrice(
            Offering(row["canonical_model_id"], row["provider"]),
            row["component"],
            row["unit"],
            {column: row[column] for column, _ in PRICE_SOURCES},
            row["consensus_price_usd"],
            row["consensus_rule"],
            int(row["source_count"] or 0),
            row["price_spread"],
            bool(row["sources_disagree"]),
            bool(row["suspected_unit_error"]),
        )
        for row in records(table)
    ]


def frame(table: data.Table) -> pd.DataFrame:
    """A table as a DataFrame: decimals as floats, so that charts and number columns take them."""
    rows = [[float(value) if isinstance(value, Decimal) else value for value in row] for row in table.rows]
    return pd.DataFrame(rows, columns=table.columns)
