"""OpenRouter's `pricing` object (decimal strings, USD per token or per unit) as normalised price points."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelatlas.pipelines.prices.model import (
    MappingStats,
    PricePoint,
    Source,
    checked_price,
    parse_decimal,
    per_token_to_per_mtok,
)

SOURCE: Source = "openrouter"
# `pricing` key -> (component, unit, OpenRouter's unit).
PRICING_KEYS: dict[str, tuple[str, str, str]] = {
    "prompt": ("input", "mtok", "USD/token"),
    "completion": ("output", "mtok", "USD/token"),
    "input_cache_read": ("cache_read", "mtok", "USD/token"),
    "input_cache_write": ("cache_write_5m", "mtok", "USD/token"),
    "internal_reasoning": ("reasoning", "mtok", "USD/token"),
    "audio": ("input_audio", "mtok", "USD/token"),
    "image": ("input_image", "image", "USD/image"),
    "image_output": ("output_image", "mtok", "USD/token"),
    "request": ("request", "request", "USD/request"),
    "web_search": ("web_search", "search", "USD/search"),
}
# OpenRouter writes "0" for every optional component a model is not charged for: only these are real zero prices.
_ZERO_IS_A_PRICE = frozenset({"prompt", "completion"})
VARIES = "-1"


def openrouter_price_points(item: Mapping[str, Any], stats: MappingStats) -> Iterator[PricePoint]:
    """Every price in one OpenRouter model object; "-1" (varies) and optional zeros are no price point."""
    model_id = item.get("id")
    pricing = item.get("pricing")
    if not isinstance(model_id, str) or not isinstance(pricing, Mapping):
        return
    for key, value in pricing.items():
        mapped = PRICING_KEYS.get(key)
        if mapped is None:
            stats.unknown_keys[key] += 1
            continue
        if value is None:
            continue
        if isinstance(value, str) and value.strip() == VARIES:
            stats.not_a_price[key] += 1
            continue
        component, unit, original_unit = mapped
        where = f"OpenRouter: {model_id} pricing.{key}"
        price = checked_price(parse_decimal(value, where), where, stored=False)
        if price.is_zero() and key not in _ZERO_IS_A_PRICE:
            continue
        yield PricePoint(
            source=SOURCE,
            source_provider=SOURCE,
            source_model_key=model_id,
            provider_model_id=model_id,
            component=component,
            price_usd=checked_price(per_token_to_per_mtok(price) if unit == "mtok" else price, where),
            unit=unit,
            original_value=str(value),
            original_unit=original_unit,
        )
