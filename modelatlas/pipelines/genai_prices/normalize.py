"""Flatten the genai-prices registry (its published JSON shape) into provider, model and price rows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from modelatlas.errors import SourceError

BASE_CONDITION = "base"
TOKENS_PER_MTOK = 1_000_000
SECONDS_PER_HOUR = 3_600
# Price-key suffixes the registry uses, for keys its unit table does not know yet: (family, units per price).
_SUFFIX_UNITS: dict[str, tuple[str, int]] = {
    "mtok": ("tokens", 1_000_000),
    "kcount": ("requests", 1_000),
    "mchars": ("characters", 1_000_000),
    "kpages": ("document_pages", 1_000),
    "hours": ("durations", 3_600),
    "gpixels": ("pixels", 1_000_000_000),
}
_UNIT_LABELS = {
    "tokens": "tokens",
    "characters": "characters",
    "document_pages": "pages",
    "pixels": "pixels",
}


@dataclass(frozen=True)
class PriceUnit:
    """What one price key prices: the component's name, its unit family and how many units one price covers."""

    component: str
    family: str
    per: int

    @property
    def label(self) -> str:
        """A readable unit, such as `1M tokens`, `1K requests` or `3600 seconds`."""
        if self.family == "durations" and self.per == SECONDS_PER_HOUR:
            return "1 hour"
        noun = _UNIT_LABELS.get(self.family, self.component.replace("_", " "))
        return f"{_quantity_label(self.per)} {noun}"


@dataclass(frozen=True)
class PriceCondition:
    """When a price applies: a dated start, a daily window, a request variant and a prompt-size tier."""

    effective_from: date | None = None
    effective_until: date | None = None
    window_start: str | None = None
    window_end: str | None = None
    variant: str | None = None
    above_input_tokens: int | None = None

    def key(self) -> str:
        """A stable, readable identifier of this condition (`base` when it has none)."""
        parts: list[str] = []
        if self.variant:
            parts.append(self.variant)
        if self.effective_from:
            parts.append(f"from {self.effective_from.isoformat()}")
        if self.window_start and self.window_end:
            parts.append(f"{self.window_start}-{self.window_end} UTC")
        if self.above_input_tokens is not None:
            parts.append(f"input > {self.above_input_tokens} tokens")
        return "; ".join(parts) or BASE_CONDITION


def _quantity_label(per: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K")):
        if per >= size and per % size == 0:
            return f"{per // size}{suffix}"
    return str(per)


def price_unit(price_key: str, unit_table: Mapping[str, Mapping[str, Any]]) -> PriceUnit:
    """The unit a price key is quoted in, from the registry's unit table or, failing that, its suffix."""
    for usage_key, unit in unit_table.items():
        if unit.get("price_key") == price_key:
            family = str(unit.get("dimensions", {}).get("family", "tokens"))
            component = usage_key.removesuffix("_tokens") if family == "tokens" else usage_key
            return PriceUnit(component, family, int(unit["per"]))
    stem, _, suffix = price_key.rpartition("_")
    if suffix not in _SUFFIX_UNITS or not stem:
        raise SourceError(f"genai-prices: unknown price key {price_key!r}; update the genai-prices package")
    family, per = _SUFFIX_UNITS[suffix]
    return PriceUnit(stem if suffix in ("mtok", "kcount") else price_key, family, per)


def to_decimal(value: Any, where: str) -> Decimal:
    """A price as an exact Decimal; floats go through their shortest repr so 0.1 stays 0.1."""
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SourceError(f"genai-prices: {where} has a price that is not a number: {value!r}") from None
    if not result.is_finite():
        raise SourceError(f"genai-prices: {where} has a price that is not finite: {value!r}")
    return result


def _variant_label(when: Mapping[str, Any] | None) -> str | None:
    if not when:
        return None
    return ", ".join(f"{k}={when[k]}" for k in sorted(when))


def _constraint_fields(constraint: Mapping[str, Any] | None) -> dict[str, Any]:
    if not constraint:
        return {}
    if "start_date" in constraint:
        return {"effective_from": date.fromisoformat(str(constraint["start_date"]))}
    if "start_time" in constraint and "end_time" in constraint:
        return {
            "window_start": _hh_mm(str(constraint["start_time"])),
            "window_end": _hh_mm(str(constraint["end_time"])),
        }
    raise SourceError(f"genai-prices: unknown price constraint {sorted(constraint)}; update the genai-prices package")


def _hh_mm(value: str) -> str:
    # Registry times are UTC, written as 00:30:00Z or 00:30:00+00:00.
    return value[:5]


@dataclass(frozen=True)
class PriceSet:
    """One set of prices of a model, the condition under which it applies, and when each of its prices ends."""

    prices: Mapping[str, Any]
    condition: PriceCondition
    until_by_key: Mapping[str, date | None]


def _next_start(start: date | None, later_starts: list[date]) -> date | None:
    later = [d for d in later_starts if start is None or d > start]
    return min(later) if later else None


def price_sets(model: Mapping[str, Any]) -> list[PriceSet]:
    """Every price set of a model, each dated price closed by the start of the one that replaces it.

    A dated entry of the main price list replaces the whole list before it; a dated variant overrides only the
    keys it prices, so a variant's price ends where a later variant of the same request context prices that key.
    """
    raw_prices = model.get("prices") or {}
    entries: list[tuple[str | None, Mapping[str, Any] | None, Mapping[str, Any]]] = []
    if isinstance(raw_prices, Mapping):
        entries.append((None, None, raw_prices))
    else:
        entries.extend((None, item.get("constraint"), item.get("prices") or {}) for item in raw_prices)
    for variant in model.get("price_variants") or ():
        entries.append((_variant_label(variant.get("when")), variant.get("constraint"), variant.get("prices") or {}))

    parsed = [(label, _constraint_fields(constraint), prices) for label, constraint, prices in entries]

    def starts_replacing(label: str | None, key: str) -> list[date]:
        return [
            fields["effective_from"]
            for other_label, fields, prices in parsed
            if other_label == label and "effective_from" in fields and (label is None or prices.get(key) is not None)
        ]

    result: list[PriceSet] = []
    for label, fields, prices in parsed:
        condition = PriceCondition(variant=label, **fields)
        windowed = "window_start" in fields
        until_by_key = {
            key: None if windowed else _next_start(condition.effective_from, starts_replacing(label, key))
            for key in prices
        }
        result.append(PriceSet(prices, condition, until_by_key))
    return result


def price_rows(
    provider_id: str, model: Mapping[str, Any], unit_table: Mapping[str, Mapping[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One row per price component, tier and condition of one model."""
    model_id = str(model["id"])
    for price_set in price_sets(model):
        for price_key, value in price_set.prices.items():
            if value is None:
                continue
            unit = price_unit(price_key, unit_table)
            where = f"{provider_id}/{model_id} {price_key}"
            if isinstance(value, Mapping):
                tiers: list[tuple[int | None, Any]] = [(None, value["base"])]
                tiers += [(int(t["start"]), t["price"]) for t in value.get("tiers") or ()]
            else:
                tiers = [(None, value)]
            for above, amount in tiers:
                condition = replace(
                    price_set.condition, effective_until=price_set.until_by_key[price_key], above_input_tokens=above
                )
                yield _price_row(provider_id, model_id, price_key, unit, to_decimal(amount, where), condition)


def _price_row(
    provider_id: str, model_id: str, price_key: str, unit: PriceUnit, price: Decimal, condition: PriceCondition
) -> dict[str, Any]:
    is_mtok = unit.family == "tokens" and unit.per == TOKENS_PER_MTOK
    return {
        "provider_id": provider_id,
        "model_id": model_id,
        "component": unit.component,
        "condition": condition.key(),
        "price_key": price_key,
        "unit": unit.label,
        "unit_family": unit.family,
        "units_per_price": unit.per,
        "price_usd": price,
        "price_usd_per_mtok": price if is_mtok else None,
        "effective_from": condition.effective_from,
        "effective_until": condition.effective_until,
        "window_start_utc": condition.window_start,
        "window_end_utc": condition.window_end,
        "variant": condition.variant,
        "above_input_tokens": condition.above_input_tokens,
    }


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def provider_row(provider: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's identity, matching rules (as JSON) and pricing pages."""
    return {
        "provider_id": str(provider["id"]),
        "name": provider.get("name"),
        "api_pattern": provider.get("api_pattern"),
        "description": provider.get("description"),
        "pricing_urls": _json_or_none(provider.get("pricing_urls")),
        "price_comments": provider.get("price_comments"),
        "model_match": _json_or_none(provider.get("model_match")),
        "provider_match": _json_or_none(provider.get("provider_match")),
        "fallback_model_providers": _json_or_none(provider.get("fallback_model_providers")),
        "model_count": len(provider.get("models") or ()),
    }


def model_row(provider_id: str, model: Mapping[str, Any]) -> dict[str, Any]:
    """The model's identity, limits, lifecycle and match rule (as JSON)."""
    return {
        "provider_id": provider_id,
        "model_id": str(model["id"]),
        "name": model.get("name"),
        "description": model.get("description"),
        "context_window": model.get("context_window"),
        "deprecated": bool(model.get("deprecated") or False),
        "price_comments": model.get("price_comments"),
        "match_rule": _json_or_none(model.get("match")),
        "has_dated_prices": not isinstance(model.get("prices") or {}, Mapping),
        "variant_count": len(model.get("price_variants") or ()),
    }


def check_registry_shape(providers: Any) -> Sequence[Mapping[str, Any]]:
    """The provider list, or a clear error when the payload is not one."""
    if not isinstance(providers, list) or not providers:
        raise SourceError("genai-prices: expected a non-empty list of providers in the registry data")
    for provider in providers:
        if not isinstance(provider, Mapping) or "id" not in provider or not isinstance(provider.get("models"), list):
            raise SourceError("genai-prices: a provider entry lacks its id or models list; the data is malformed")
    return providers
