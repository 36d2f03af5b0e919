"""The one Definitions object of the ModelAtlas code location."""

from __future__ import annotations

import dagster as dg

from modelatlas.assets.catalogs import build_catalog_assets
from modelatlas.assets.dbt import build_dbt_assets, dbt_resource
from modelatlas.assets.freshness import build_freshness_sensor, group_crons, with_freshness
from modelatlas.assets.genai_prices import genai_prices_registry
from modelatlas.assets.litellm import litellm_prices
from modelatlas.assets.schedules import build_schedules, log_failed_runs
from modelatlas.resources import QualityGateResource, WarehouseResource


def build_definitions() -> dg.Definitions:
    """Assets, checks, schedules, sensors and resources; settings are read when runs start."""
    sources = with_freshness([genai_prices_registry, litellm_prices, *build_catalog_assets()], group_crons())
    return dg.Definitions(
        assets=[*sources, build_dbt_assets()],
        schedules=build_schedules(),
        sensors=[log_failed_runs, build_freshness_sensor(sources)],
        resources={"warehouse": WarehouseResource(), "quality": QualityGateResource(), "dbt": dbt_resource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not when this module is imported."""
    return build_definitions()
