"""What the API answers: one pydantic model per kind of row, shared by REST (its OpenAPI schemas) and GraphQL
(its types are derived from these). Field names are the marts' column names, so BI and API users speak alike."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Row(BaseModel):
    """A row of a mart as the API shows it."""

    model_config = ConfigDict(frozen=True)


class Offering(Row):
    """One model at one provider: a row of `marts.mart_model_comparison`."""

    canonical_model_id: str = Field(description="ModelAtlas's id of the model, the same at every provider")
    provider: str = Field(description="ModelAtlas's id of the provider")
    provider_model_id: str | None = Field(description="the provider's own id of the model")
    display_name: str | None
    model_family: str | None
    capability_tier: str | None = Field(description="frontier, mid, small or embedding")
    creator: str | None
    context_window: int | None = Field(description="input tokens the model accepts")
    max_output_tokens: int | None
    input_modalities: list[str] | None = Field(description="text, image, audio, video, file")
    output_modalities: list[str] | None
    supports_vision: bool | None
    supports_tools: bool | None
    supports_reasoning: bool | None
    supports_structured_output: bool | None
    supports_batch: bool | None
    input_price_per_mtok: float | None = Field(description="USD per million input tokens")
    output_price_per_mtok: float | None = Field(description="USD per million output tokens")
    cached_input_price_per_mtok: float | None
    blended_price_per_mtok: float | None = Field(description="USD per million tokens at 3 input to 1 output")
    batch_input_price_per_mtok: float | None
    batch_output_price_per_mtok: float | None
    price_source_count: int | None = Field(description="how many price sources price this offering")
    prices_disagree: bool | None = Field(description="whether the price sources disagree")
    open_weights: bool | None
    license: str | None
    release_date: date | None
    deprecation_date: date | None
    region: str | None
    is_available: bool | None = Field(description="whether the provider lists it and it answers")
    availability: str | None
    availability_30d_pct: float | None = Field(description="percent of the last 30 days it answered")


class ModelPage(BaseModel):
    """One page of offerings; ask for the next with `cursor=next_cursor`."""

    data: list[Offering]
    next_cursor: str | None = Field(description="the cursor of the next page; null on the last page")


class PriceConsensus(Row):
    """Each source's current price of one component of an offering, and the price ModelAtlas takes
    (`marts.mart_price_consensus`)."""

    canonical_model_id: str
    provider: str
    component: str = Field(description="input, output, cache_read, ...")
    unit: str = Field(description="what one price is for, such as `1M tokens`")
    genai_prices_price_usd: float | None
    litellm_price_usd: float | None
    openrouter_price_usd: float | None
    consensus_price_usd: float | None
    consensus_rule: str | None = Field(description="how the consensus was taken from the sources")
    source_count: int | None
    sources_disagree: bool | None
    suspected_unit_error: bool | None
    updated_at: datetime | None


class ModelDetail(BaseModel):
    """A model: its offerings with their attributes, and the current prices per source with the consensus."""

    canonical_model_id: str
    offerings: list[Offering]
    prices: list[PriceConsensus]


class PricePoint(Row):
    """A price in force over an interval: a row of `marts.fct_price_timeline`."""

    provider: str
    canonical_model_id: str
    component: str
    service_tier: str
    condition: str
    region: str
    price_usd: float | None
    unit: str | None
    source: str = Field(description="the price source the interval was taken from")
    provider_model_id: str | None
    valid_from: datetime | None = Field(description="when it took effect; null when before anything was recorded")
    valid_to: datetime | None = Field(description="when it stopped (exclusive); null while in force")


class PricePage(BaseModel):
    """Prices, a page at a time."""

    data: list[PricePoint]
    next_cursor: str | None


class PriceChange(Row):
    """A change of a source's price: a row of `marts.fct_price_changes`."""

    price_change_id: str
    source: str
    provider: str
    canonical_model_id: str | None
    provider_model_id: str | None
    component: str
    service_tier: str | None
    condition: str | None
    region: str | None
    unit: str | None
    old_price_usd: float | None
    new_price_usd: float | None
    price_change_usd: float | None
    price_change_pct: float | None
    change_direction: str | None
    changed_at: datetime
    detected_at: datetime | None


class PriceChangePage(BaseModel):
    """Price changes, newest first, a page at a time."""

    data: list[PriceChange]
    next_cursor: str | None


class Incident(Row):
    """An incident of a provider's status page (`marts.fct_incidents`)."""

    provider: str
    incident_id: str
    title: str | None
    impact: str | None
    status: str | None
    is_open: bool
    created_at: datetime | None
    updated_at: datetime | None
    resolved_at: datetime | None
    shortlink: str | None


class UptimeDay(Row):
    """A provider's day (`marts.mart_provider_uptime_daily`, all regions together)."""

    day: date
    probes: int
    availability_pct: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    minutes_major_outage: float | None
    incidents: int | None


class ProviderStatus(Row):
    """A provider's current status (`marts.mart_status_current`), its open incidents and 30 days of uptime."""

    provider: str
    effective_status: str | None = Field(description="operational, degraded, partial_outage, major_outage, ...")
    status_description: str | None
    status_observed_at: datetime | None
    open_incident_count: int | None
    latest_probe_ok: bool | None
    latest_probe_at: datetime | None
    consecutive_failed_probes: int | None
    status_disagrees: bool | None = Field(description="whether the probes disagree with the status page")
    uptime_30d_pct: float | None = Field(description="percent of probes that succeeded over the last 30 days")
    open_incidents: list[Incident]


class ProviderStatusDetail(ProviderStatus):
    """A provider's current status with its last 30 days, day by day."""

    uptime_days: list[UptimeDay]


class Outage(Row):
    """An outage ModelAtlas observed (`marts.fct_outages`)."""

    outage_id: str
    source: str
    provider: str
    region: str | None
    canonical_model_id: str | None
    started_at: datetime
    ended_at: datetime | None
    is_open: bool
    duration_minutes: float | None
    severity: str | None


class OutagePage(BaseModel):
    """Outages, newest first, a page at a time."""

    data: list[Outage]
    next_cursor: str | None


UsageGroup = Literal["team", "provider", "model", "day"]


class UsageRow(Row):
    """Usage and cost of one group over the period (`marts.mart_usage_daily`)."""

    group: str = Field(description="the team, provider, canonical model or day (YYYY-MM-DD) of this row")
    requests: int | None = Field(description="requests, where the sources count them; null when none of the group's do")
    prompt_tokens: int
    output_tokens: int
    cost_usd: float


class Usage(BaseModel):
    """Usage and cost over `[from, to]`, by `group_by`; only the caller's team unless its key has usage:all."""

    group_by: UsageGroup
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    team: str | None = Field(description="the team the figures are limited to; null for every team")
    data: list[UsageRow]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Budget(Row):
    """A budget's month (`marts.mart_budget_status`)."""

    scope: str = Field(description="team or api_key")
    subject: str
    team: str | None
    month: date
    through_day: date | None
    budget_usd: float | None
    spend_to_date_usd: float | None
    budget_used_share: float | None
    forecast_usd: float | None
    status: str | None
    forecast_exceeds: bool | None
