"""LiteLLM's price keys (`input_cost_per_token_above_200k_tokens_priority`, ...) as normalised price points."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from modelatlas.errors import SourceError
from modelatlas.pipelines.prices.model import (
    GLOBAL_REGION,
    MappingStats,
    PricePoint,
    Source,
    checked_price,
    condition_key,
    parse_decimal,
    per_token_to_per_mtok,
    unique_points,
)

SOURCE: Source = "litellm"
# Base key -> (component, unit). Token prices are USD per token in LiteLLM; the rest USD per unit.
BASE_KEYS: dict[str, tuple[str, str]] = {
    "input_cost_per_token": ("input", "mtok"),
    "output_cost_per_token": ("output", "mtok"),
    "cache_read_input_token_cost": ("cache_read", "mtok"),
    # DeepSeek's name for the cache-hit input price.
    "input_cost_per_token_cache_hit": ("cache_read", "mtok"),
    "cache_creation_input_token_cost": ("cache_write_5m", "mtok"),
    "cache_creation_input_token_cost_above_1hr": ("cache_write_1h", "mtok"),
    "output_cost_per_reasoning_token": ("reasoning", "mtok"),
    "input_cost_per_audio_token": ("input_audio", "mtok"),
    "output_cost_per_audio_token": ("output_audio", "mtok"),
    "input_cost_per_image_token": ("input_image", "mtok"),
    "output_cost_per_image_token": ("output_image", "mtok"),
    "input_cost_per_image": ("input_image", "image"),
    "output_cost_per_image": ("output_image", "image"),
    "input_cost_per_query": ("web_search", "search"),
    "search_context_cost_per_query": ("web_search", "search"),
    "input_cost_per_request": ("request", "request"),
}
SERVICE_TIER_SUFFIXES = {"_batches": "batch", "_flex": "flex", "_priority": "priority"}
ORIGINAL_UNITS = {"mtok": "USD/token", "image": "USD/image", "search": "USD/query", "request": "USD/request"}
_TIER_SUFFIX = re.compile(r"_above_(?P<count>\d{1,9})(?P<k>k?)_tokens$")
# Regional copies of a model: `bedrock/us-east-1/...` (an AWS region), `azure/eu/...` (an Azure data zone).
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d{1,2}$")
_AZURE_ZONES = frozenset({"eu", "us", "global"})
_SEARCH_CONTEXT_PREFIX = "search_context_size_"
# A rerank model's `input_cost_per_query` prices a rerank query, not a web search.
_NOT_WEB_SEARCH_MODES = frozenset({"rerank"})

ParsedKey = tuple[str, str, int | None, str]


def is_price_key(key: str) -> bool:
    """Whether a LiteLLM entry key states a price (every price key has `cost` in it; limits and flags do not)."""
    return "cost" in key


def parse_litellm_price_key(key: str) -> ParsedKey | None:
    """(component, service_tier, above_input_tokens, unit) of a LiteLLM price key; None when it maps to none."""
    rest = key
    service_tier: str | None = None
    above: int | None = None
    changed = True
    while changed:
        changed = False
        if service_tier is None:
            for suffix, tier in SERVICE_TIER_SUFFIXES.items():
                if rest.endswith(suffix) and len(rest) > len(suffix):
                    rest, service_tier, changed = rest.removesuffix(suffix), tier, True
                    break
        match = _TIER_SUFFIX.search(rest) if above is None else None
        if match is not None:
            count = int(match["count"])
            above = count * 1000 if match["k"] else count
            rest, changed = rest[: match.start()], True
    base = BASE_KEYS.get(rest)
    if base is None or above == 0:
        return None
    return base[0], service_tier or "standard", above, base[1]


def routing_prefix(model_key: str, litellm_provider: str) -> str | None:
    """The `<provider>/` routing prefix of a LiteLLM key, when its first segment names the entry's provider."""
    head, slash, _ = model_key.partition("/")
    if not slash or not head:
        return None
    if litellm_provider == head or litellm_provider.startswith((f"{head}-", f"{head}_")):
        return head
    return None


def split_model_key(model_key: str, litellm_provider: str) -> tuple[str, str]:
    """(provider_model_id, region): the key without its routing prefix, and the region a regional copy names."""
    prefix = routing_prefix(model_key, litellm_provider)
    rest = model_key[len(prefix) + 1 :] if prefix else model_key
    segment, slash, remainder = rest.partition("/")
    regional = (prefix == "bedrock" and _AWS_REGION.match(segment)) or (prefix == "azure" and segment in _AZURE_ZONES)
    if slash and remainder and regional:
        return remainder, segment
    return rest, GLOBAL_REGION


def entry_provider(entry: Mapping[str, Any]) -> str:
    """The entry's `litellm_provider`, or `unknown` when it names none."""
    provider = entry.get("litellm_provider")
    return provider if isinstance(provider, str) and provider else "unknown"


def _price(value: Any, unit: str, where: str) -> Decimal:
    price = checked_price(parse_decimal(value, where), where, stored=False)
    return checked_price(per_token_to_per_mtok(price) if unit == "mtok" else price, where)


def litellm_price_points(model_key: str, entry: Mapping[str, Any], stats: MappingStats) -> Iterator[PricePoint]:
    """Every price of one LiteLLM entry (parsed with floats kept as their text), one per natural key."""
    yield from unique_points(_entry_points(model_key, entry, stats), stats)


def _entry_points(model_key: str, entry: Mapping[str, Any], stats: MappingStats) -> Iterator[PricePoint]:
    provider = entry_provider(entry)
    provider_model_id, region = split_model_key(model_key, provider)
    for key, value in entry.items():
        if not is_price_key(key) or value is None:
            continue
        parsed = parse_litellm_price_key(key)
        if parsed is None or (key.startswith("input_cost_per_query") and entry.get("mode") in _NOT_WEB_SEARCH_MODES):
            stats.unknown_keys[key] += 1
            continue
        component, service_tier, above, unit = parsed
        values: list[tuple[str | None, Any]]
        if isinstance(value, Mapping) and key.startswith("search_context_cost_per_query"):
            values = [(f"search context {size.removeprefix(_SEARCH_CONTEXT_PREFIX)}", v) for size, v in value.items()]
        elif isinstance(value, Mapping | list):
            raise SourceError(f"LiteLLM: {model_key} {key}: expected a number, got a {type(value).__name__}")
        else:
            values = [(None, value)]
        for extra, amount in values:
            if amount is None:
                continue
            where = f"LiteLLM: {model_key} {key}"
            yield PricePoint(
                source=SOURCE,
                source_provider=provider,
                source_model_key=model_key,
                provider_model_id=provider_model_id,
                component=component,
                price_usd=_price(amount, unit, where),
                unit=unit,
                original_value=str(amount),
                original_unit=ORIGINAL_UNITS[unit],
                service_tier=service_tier,
                condition=condition_key(above, extra=[extra] if extra else ()),
                above_input_tokens=above,
                region=region,
            )
