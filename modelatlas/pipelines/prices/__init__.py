"""Normalised prices: one model of a price point for every source, exact unit conversions and scd2 history."""

from modelatlas.pipelines.prices.genai import genai_price_points
from modelatlas.pipelines.prices.litellm import litellm_price_points, parse_litellm_price_key
from modelatlas.pipelines.prices.model import (
    COMPONENTS,
    SERVICE_TIERS,
    UNITS,
    MappingStats,
    PricePoint,
    canonical_text,
    per_mtok_to_per_token,
    per_token_to_per_mtok,
    per_unit_to_per_units,
    per_units_to_per_unit,
    price_hash,
    unique_points,
)
from modelatlas.pipelines.prices.openrouter import openrouter_price_points
from modelatlas.pipelines.prices.table import TABLE_NAME, price_points_table

__all__ = [
    "COMPONENTS",
    "SERVICE_TIERS",
    "TABLE_NAME",
    "UNITS",
    "MappingStats",
    "PricePoint",
    "canonical_text",
    "genai_price_points",
    "litellm_price_points",
    "openrouter_price_points",
    "parse_litellm_price_key",
    "per_mtok_to_per_token",
    "per_token_to_per_mtok",
    "per_unit_to_per_units",
    "per_units_to_per_unit",
    "price_hash",
    "price_points_table",
    "unique_points",
]
