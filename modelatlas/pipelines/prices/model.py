"""The normalised price point every price source writes: components, units, exact conversions and the row hash."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded
from typing import Any, Literal

from modelatlas.errors import SourceError

log = logging.getLogger(__name__)

Source = Literal["genai-prices", "litellm", "openrouter"]
COMPONENTS = (
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "input_audio",
    "output_audio",
    "input_image",
    "output_image",
    "request",
    "web_search",
)
SERVICE_TIERS = ("standard", "batch", "flex", "priority")
UNITS = ("mtok", "request", "image", "search", "second", "character", "page")
BASE_CONDITION = "base"
GLOBAL_REGION = "global"
TOKENS_PER_MTOK = 1_000_000
# price_usd is numeric(38, 18): 18 decimals and at most 20 integer digits, so every stored price is exact.
PRICE_SCALE = 18
PRICE_LIMIT = Decimal(10) ** (38 - PRICE_SCALE)
# Arithmetic that raises instead of rounding: a conversion is exact or it is an error.
_EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation])
NATURAL_KEY = (
    "source",
    "source_provider",
    "source_model_key",
    "component",
    "service_tier",
    "condition",
    "region",
    "effective_from",
)


def per_token_to_per_mtok(per_token: Decimal) -> Decimal:
    """USD per token as USD per million tokens, exactly."""
    return _EXACT.multiply(per_token, Decimal(TOKENS_PER_MTOK))


def per_mtok_to_per_token(per_mtok: Decimal) -> Decimal:
    """USD per million tokens as USD per token, exactly."""
    return _EXACT.divide(per_mtok, Decimal(TOKENS_PER_MTOK))


def per_units_to_per_unit(price: Decimal, units: int) -> Decimal:
    """A price quoted per `units` (1,000 requests) as a price per single unit, exactly."""
    return _EXACT.divide(price, Decimal(units))


def per_unit_to_per_units(price: Decimal, units: int) -> Decimal:
    """A price per single unit as a price per `units` units, exactly."""
    return _EXACT.multiply(price, Decimal(units))


def canonical_text(price: Decimal) -> str:
    """A price written one way only (`3`, `0.125`), whatever its source notation (`3e-06` per token, `3.000`)."""
    if price.is_zero():
        return "0"
    return format(price.normalize(_EXACT), "f")


def parse_decimal(value: Any, where: str) -> Decimal:
    """A source value (JSON number or decimal string) as an exact Decimal; booleans and non-numbers are errors."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise SourceError(f"{where}: the price {value!r} is not a number")
    try:
        # A float goes through its shortest repr, so 3e-06 stays 3e-06 rather than its binary expansion.
        result = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise SourceError(f"{where}: the price {value!r} is not a number") from None
    return result


def checked_price(price: Decimal, where: str, *, stored: bool = True) -> Decimal:
    """`price` when it is finite, not negative and (when `stored`) exact as numeric(38, 18); a clear error otherwise.

    A source's raw value is checked with `stored=False`: a per-token price may need more decimals than its
    per-million price, which is the one stored.
    """
    if not price.is_finite():
        raise SourceError(f"{where}: the price {price} is not finite")
    if price < 0:
        raise SourceError(f"{where}: the price {price} is negative")
    if not stored:
        return price
    if price >= PRICE_LIMIT:
        raise SourceError(f"{where}: the price {price} is too large to be a price")
    exponent = price.normalize(_EXACT).as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PRICE_SCALE:
        raise SourceError(f"{where}: the price {price} has more than {PRICE_SCALE} decimals")
    return price


@dataclass(frozen=True)
class PricePoint:
    """One normalised price: what is priced, under which condition, at what price, and as the source wrote it."""

    source: Source
    source_provider: str
    source_model_key: str
    provider_model_id: str
    component: str
    price_usd: Decimal
    unit: str
    original_value: str
    original_unit: str
    service_tier: str = "standard"
    condition: str = BASE_CONDITION
    above_input_tokens: int | None = None
    window_start_utc: str | None = None
    window_end_utc: str | None = None
    region: str = GLOBAL_REGION
    effective_from: date | None = None
    effective_until: date | None = None

    def natural_key(self) -> tuple[Any, ...]:
        """The key that is unique within one load of one source."""
        return tuple(getattr(self, name) for name in NATURAL_KEY)

    def row(self) -> dict[str, Any]:
        """The warehouse row, with its `price_hash`."""
        return {**asdict(self), "price_hash": price_hash(self)}


def price_hash(point: PricePoint) -> str:
    """sha256 hex of the natural key, the price and the dated validity: the scd2 row version."""
    parts = [
        *(value.isoformat() if isinstance(value, date) else value for value in point.natural_key()),
        canonical_text(point.price_usd),
        point.effective_until.isoformat() if point.effective_until else None,
    ]
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def condition_key(
    above_input_tokens: int | None = None,
    window_start_utc: str | None = None,
    window_end_utc: str | None = None,
    extra: Iterable[str] = (),
) -> str:
    """The readable condition: `base`, or its parts joined by `; ` (`input > 200000 tokens`, `00:30-08:30 UTC`)."""
    parts = list(extra)
    if window_start_utc and window_end_utc:
        parts.append(f"{window_start_utc}-{window_end_utc} UTC")
    if above_input_tokens is not None:
        parts.append(f"input > {above_input_tokens} tokens")
    return "; ".join(parts) or BASE_CONDITION


@dataclass
class MappingStats:
    """What a mapping left out: source keys that are no price component, and prices that claimed one key twice."""

    unknown_keys: Counter[str] = field(default_factory=Counter)
    not_a_price: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0

    @property
    def unknown_count(self) -> int:
        """How many source prices were not loaded because their key maps to no component."""
        return sum(self.unknown_keys.values())

    def log_summary(self, source: str) -> None:
        """One log line per kind of thing left out."""
        if self.unknown_keys:
            shown = ", ".join(f"{key} ({count})" for key, count in self.unknown_keys.most_common(10))
            log.info(
                "%s: %d prices with keys that map to no component, not loaded: %s", source, self.unknown_count, shown
            )
        if self.not_a_price:
            shown = ", ".join(f"{key} ({count})" for key, count in self.not_a_price.most_common(10))
            log.info(
                "%s: %d values that state no price (varies), not loaded: %s",
                source,
                sum(self.not_a_price.values()),
                shown,
            )
        if self.conflicts:
            log.warning(
                "%s: %d prices claimed a price point another key of the model already priced differently; "
                "neither is loaded",
                source,
                self.conflicts,
            )


def unique_points(points: Iterable[PricePoint], stats: MappingStats) -> Iterator[PricePoint]:
    """`points` with one row per natural key: equal duplicates collapse, differing ones are both left out."""
    by_key: dict[tuple[Any, ...], PricePoint | None] = {}
    for point in points:
        key = point.natural_key()
        if key not in by_key:
            by_key[key] = point
            continue
        kept = by_key[key]
        if kept is not None and kept.price_usd != point.price_usd:
            stats.conflicts += 2
            by_key[key] = None
        elif kept is None:
            stats.conflicts += 1
    yield from (point for point in by_key.values() if point is not None)
