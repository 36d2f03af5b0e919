"""genai-prices rows (from `modelatlas.pipelines.genai_prices.normalize.price_rows`) as normalised price points."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from modelatlas.pipelines.prices.model import (
    MappingStats,
    PricePoint,
    Source,
    checked_price,
    condition_key,
    per_units_to_per_unit,
    unique_points,
)

SOURCE: Source = "genai-prices"
# Registry price key -> (component, unit, units one registry price covers, the registry's unit).
PRICE_KEYS: dict[str, tuple[str, str, int, str]] = {
    "input_mtok": ("input", "mtok", 1, "USD/1M tokens"),
    "output_mtok": ("output", "mtok", 1, "USD/1M tokens"),
    "cache_read_mtok": ("cache_read", "mtok", 1, "USD/1M tokens"),
    # The registry's plain cache write is Anthropic's default five-minute write.
    "cache_write_mtok": ("cache_write_5m", "mtok", 1, "USD/1M tokens"),
    "cache_write_5m_mtok": ("cache_write_5m", "mtok", 1, "USD/1M tokens"),
    "cache_write_1h_mtok": ("cache_write_1h", "mtok", 1, "USD/1M tokens"),
    "output_reasoning_mtok": ("reasoning", "mtok", 1, "USD/1M tokens"),
    "input_audio_mtok": ("input_audio", "mtok", 1, "USD/1M tokens"),
    "output_audio_mtok": ("output_audio", "mtok", 1, "USD/1M tokens"),
    "input_image_mtok": ("input_image", "mtok", 1, "USD/1M tokens"),
    "output_image_mtok": ("output_image", "mtok", 1, "USD/1M tokens"),
    "requests_kcount": ("request", "request", 1000, "USD/1K requests"),
    "web_searches_kcount": ("web_search", "search", 1000, "USD/1K searches"),
}
# Request variants that are service tiers: `processing=batch`, `service_tier=flex`; `default` is the standard tier.
SERVICE_TIER_VARIANTS = {
    "processing=batch": "batch",
    "service_tier=batch": "batch",
    "service_tier=flex": "flex",
    "service_tier=priority": "priority",
    "service_tier=default": "standard",
    "service_tier=standard": "standard",
}


def split_variant(variant: str | None) -> tuple[str, list[str]]:
    """(service_tier, the other request-variant parts) of a registry variant label such as `processing=batch`."""
    tier = "standard"
    others: list[str] = []
    for part in (variant or "").split(", "):
        if not part:
            continue
        if part in SERVICE_TIER_VARIANTS:
            tier = SERVICE_TIER_VARIANTS[part]
        else:
            others.append(part)
    return tier, others


def genai_point(row: Mapping[str, Any], stats: MappingStats) -> PricePoint | None:
    """One `prices` row of the registry as a price point, or None (counted) when its key is no component."""
    mapped = PRICE_KEYS.get(str(row["price_key"]))
    if mapped is None:
        stats.unknown_keys[str(row["price_key"])] += 1
        return None
    component, unit, per, original_unit = mapped
    where = f"genai-prices: {row['provider_id']}/{row['model_id']} {row['price_key']}"
    price = checked_price(row["price_usd"], where, stored=False)
    tier, others = split_variant(row["variant"])
    return PricePoint(
        source=SOURCE,
        source_provider=str(row["provider_id"]),
        source_model_key=str(row["model_id"]),
        provider_model_id=str(row["model_id"]),
        component=component,
        price_usd=checked_price(per_units_to_per_unit(price, per), where),
        unit=unit,
        original_value=str(row["price_usd"]),
        original_unit=original_unit,
        service_tier=tier,
        condition=condition_key(row["above_input_tokens"], row["window_start_utc"], row["window_end_utc"], others),
        above_input_tokens=row["above_input_tokens"],
        window_start_utc=row["window_start_utc"],
        window_end_utc=row["window_end_utc"],
        effective_from=row["effective_from"],
        effective_until=row["effective_until"],
    )


def genai_price_points(rows: Iterable[Mapping[str, Any]], stats: MappingStats) -> Iterator[PricePoint]:
    """The registry's price rows as price points, one per natural key."""
    points = (genai_point(row, stats) for row in rows)
    yield from unique_points((point for point in points if point is not None), stats)
