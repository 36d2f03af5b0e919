"""OpenRouter endpoint health: for each watched model, every upstream provider's status, uptime, latency,
throughput and prices from `GET /api/v1/models/{author}/{slug}/endpoints`, kept as a time series.

The API reports rolling windows only (uptime over the last 5 minutes, 30 minutes and day); polling it every few
minutes keeps the history nobody else publishes. Latency and throughput are null without `OPENROUTER_API_KEY`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelatlas.errors import AuthenticationError, ConfigurationError, SourceError
from modelatlas.pipelines.coerce import as_integer, as_mapping, as_number, as_strings, as_text
from modelatlas.pipelines.openrouter import parse_price
from modelatlas.pipelines.quality.suite import CONTEXT_WINDOW_RANGE, MAX_USD_PER_TOKEN, OUTPUT_LIMIT_RANGE, Suite
from modelatlas.pipelines.spec import Batch, Credential, DataType, Request, Setting, Simulated, SourceSpec, TableSpec

TABLE = "openrouter_endpoint_stats"
WATCH_VARIABLE = "MODELATLAS_OPENROUTER_WATCH"
# A flagship model of each major provider, as OpenRouter names them.
DEFAULT_WATCH = (
    "anthropic/claude-sonnet-4.5",
    "openai/gpt-5",
    "google/gemini-2.5-pro",
    "mistralai/mistral-large-2411",
    "meta-llama/llama-3.3-70b-instruct",
    "deepseek/deepseek-chat-v3.1",
    "x-ai/grok-4",
    "qwen/qwen3-235b-a22b",
    "moonshotai/kimi-k2",
    "cohere/command-a",
)
# `author/slug`, the slug possibly with a variant (`:free`).
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:-]*")
_NOT_FOUND = re.compile(r"answered HTTP 404\b")
PERCENTILES = ("p50", "p75", "p90", "p99")
# OpenRouter documents latency (time to first token) in milliseconds, yet its examples read like seconds (p50 0.25).
# The median decides, for all four percentiles together: a median under 60 is seconds (no endpoint answers in
# under 60 ms at the median), one of 60 or more is milliseconds (none takes a minute to its first token).
SECONDS_BELOW = 60.0
UPTIME_RANGE = (0, 100)
LATENCY_RANGE_MS = (0, 3_600_000)
THROUGHPUT_RANGE = (0, 10_000_000)

LATENCY_COLUMNS = tuple(f"latency_{p}_ms" for p in PERCENTILES)
THROUGHPUT_COLUMNS = tuple(f"throughput_{p}" for p in PERCENTILES)
UPTIME_COLUMNS = ("uptime_last_5m", "uptime_last_30m", "uptime_last_1d")
COLUMNS: dict[str, DataType] = {
    "observed_at": "timestamp",
    "model_id": "text",
    "provider_name": "text",
    "endpoint_name": "text",
    "tag": "text",
    "quantization": "text",
    "status": "bigint",
    **dict.fromkeys(UPTIME_COLUMNS, "double"),
    **dict.fromkeys(LATENCY_COLUMNS, "double"),
    **dict.fromkeys(THROUGHPUT_COLUMNS, "double"),
    "context_length": "bigint",
    "max_completion_tokens": "bigint",
    "max_prompt_tokens": "bigint",
    "price_prompt_usd_per_token": "decimal",
    "price_completion_usd_per_token": "decimal",
    "pricing": "json",
    "supported_parameters": "json",
}
NOT_NULL = ("observed_at", "model_id", "provider_name")


def parse_watch(raw: str, variable: str) -> tuple[str, ...]:
    """The watched models of a comma-separated list of OpenRouter ids, in order without repeats; blank: the default."""
    if not raw.strip():
        return DEFAULT_WATCH
    models: list[str] = []
    for part in raw.split(","):
        model_id = part.strip()
        if not model_id:
            continue
        if not _MODEL_ID.fullmatch(model_id):
            raise ConfigurationError(
                f"{variable} holds {model_id!r}, which is not an OpenRouter model id (author/slug): "
                "list ids like anthropic/claude-sonnet-4.5,openai/gpt-5"
            )
        if model_id not in models:
            models.append(model_id)
    if not models:
        raise ConfigurationError(f"{variable} lists no model: give ids like openai/gpt-5 or unset it")
    return tuple(models)


def percentiles(stats: Any) -> dict[str, float | None]:
    """The p50..p99 numbers of a percentile object; all None when it is null (no key) or not an object."""
    values = as_mapping(stats) or {}
    return {p: as_number(values.get(p)) for p in PERCENTILES}


def latency_ms(stats: Any) -> dict[str, float | None]:
    """Latency percentiles in milliseconds, whichever unit they came in (see SECONDS_BELOW)."""
    values = percentiles(stats)
    present = [value for value in values.values() if value is not None]
    if not present:
        return values
    median = values["p50"] if values["p50"] is not None else min(present)
    factor = 1000.0 if median < SECONDS_BELOW else 1.0
    return {p: None if value is None else round(value * factor, 3) for p, value in values.items()}


def endpoint_row(model_id: str, endpoint: Any, observed_at: datetime) -> dict[str, Any]:
    """The row of one upstream provider's endpoint of a watched model."""
    item = as_mapping(endpoint) or {}
    pricing = as_mapping(item.get("pricing"))
    prices = pricing or {}
    latency = latency_ms(item.get("latency_last_30m"))
    throughput = percentiles(item.get("throughput_last_30m"))
    return {
        "observed_at": observed_at,
        "model_id": model_id,
        "provider_name": as_text(item.get("provider_name")),
        "endpoint_name": as_text(item.get("name")),
        "tag": as_text(item.get("tag")),
        "quantization": as_text(item.get("quantization")),
        "status": as_integer(item.get("status")),
        # Percent (successful / (successful + errors) * 100), as given.
        **{column: as_number(item.get(column)) for column in UPTIME_COLUMNS},
        **{f"latency_{p}_ms": latency[p] for p in PERCENTILES},
        **{f"throughput_{p}": throughput[p] for p in PERCENTILES},
        "context_length": as_integer(item.get("context_length")),
        "max_completion_tokens": as_integer(item.get("max_completion_tokens")),
        "max_prompt_tokens": as_integer(item.get("max_prompt_tokens")),
        "price_prompt_usd_per_token": parse_price(prices.get("prompt")),
        "price_completion_usd_per_token": parse_price(prices.get("completion")),
        "pricing": pricing,
        "supported_parameters": as_strings(item.get("supported_parameters")),
    }


def endpoint_rows(model_id: str, body: Any, observed_at: datetime) -> list[dict[str, Any]]:
    """The rows of one model's endpoints response; a body without an endpoints list is a SourceError."""
    data = as_mapping(body.get("data")) if isinstance(body, Mapping) else None
    endpoints = data.get("endpoints") if data is not None else None
    if not isinstance(endpoints, list):
        raise SourceError(f"OpenRouter endpoints: {model_id} returned no `data.endpoints` list")
    return [endpoint_row(model_id, endpoint, observed_at) for endpoint in endpoints]


def endpoints_path(model_id: str) -> str:
    """The endpoints API path of a model, below the base URL."""
    return f"models/{model_id}/endpoints"


def batch_metadata(watched: Sequence[str], loaded: int, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of one poll for the asset page."""
    uptimes = [row["uptime_last_5m"] for row in rows if row["uptime_last_5m"] is not None]
    return {
        "models_watched": len(watched),
        "models_loaded": loaded,
        "endpoints": len(rows),
        "endpoints_degraded": sum(1 for row in rows if (row["status"] or 0) < 0),
        "lowest_uptime_last_5m": min(uptimes) if uptimes else None,
    }


def endpoints_batch(request: Request) -> Batch:
    """One poll of every watched model's endpoints; an unknown model is a note, a wrong key fails the poll."""
    watched: tuple[str, ...] = request.options.get("watch", DEFAULT_WATCH)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    failures: list[SourceError] = []
    loaded = 0
    with request.client() as client:
        for model_id in watched:
            try:
                body, _ = client.get_json(endpoints_path(model_id))
                model_rows = endpoint_rows(model_id, body, request.fetched_at)
            except AuthenticationError:
                raise  # every model would fail alike
            except SourceError as exc:
                if _NOT_FOUND.search(str(exc)):
                    notes.append(f"{model_id} is not on OpenRouter (404): check {WATCH_VARIABLE}")
                else:
                    failures.append(exc)
                continue
            finally:
                request.stats.requests = client.requests_made
            request.stats.pages += 1
            rows.extend(model_rows)
            loaded += 1
    if failures and loaded == 0:
        raise failures[0]
    notes.extend(f"not loaded: {exc}" for exc in failures)
    if not request.api_key:
        notes.append("no OPENROUTER_API_KEY: latency and throughput are null")
    return Batch(
        tables={TABLE: rows},
        origin=f"{request.base_url} [{request.region}]",
        notes=tuple(notes),
        metadata=batch_metadata(watched, loaded, rows),
    )


SPEC = SourceSpec(
    name="openrouter_endpoints",
    display_name="OpenRouter endpoints",
    description="Each watched model's upstream endpoints on OpenRouter every 5 minutes: status, uptime, latency.",
    kind="status",
    group="status",
    cadence="*/5 * * * *",
    tables=(
        TableSpec(
            name=TABLE,
            description="One row per poll of one upstream provider's endpoint of a watched model.",
            columns=COLUMNS,
            version_columns=("observed_at", "model_id", "provider_name", "tag", "status", "uptime_last_5m"),
            disposition="append",
            not_null=NOT_NULL,
            suite=Suite(
                source="openrouter_endpoints",
                entity=TABLE,
                key=("model_id", "provider_name", "tag"),
                not_null=NOT_NULL,
                prices=dict.fromkeys(
                    ("price_prompt_usd_per_token", "price_completion_usd_per_token"), MAX_USD_PER_TOKEN
                ),
                ranges={
                    **dict.fromkeys(UPTIME_COLUMNS, UPTIME_RANGE),
                    **dict.fromkeys(LATENCY_COLUMNS, LATENCY_RANGE_MS),
                    **dict.fromkeys(THROUGHPUT_COLUMNS, THROUGHPUT_RANGE),
                    "context_length": CONTEXT_WINDOW_RANGE,
                    "max_prompt_tokens": CONTEXT_WINDOW_RANGE,
                    "max_completion_tokens": OUTPUT_LIMIT_RANGE,
                },
            ),
            preview=("model_id", "provider_name", "status", "uptime_last_5m", "latency_p50_ms", "throughput_p50"),
            dataset="ts",
            time_column="observed_at",
        ),
    ),
    credential=Credential("OPENROUTER_API_KEY", required=False),
    base_url="https://openrouter.ai/api/v1",
    extract=endpoints_batch,
    settings=(
        Setting(
            "WATCH",
            ",".join(DEFAULT_WATCH),
            "the OpenRouter models whose endpoints are watched, comma-separated ids (author/slug)",
            option="watch",
            parse=parse_watch,
            variable=WATCH_VARIABLE,
        ),
    ),
    simulator=Simulated("modelatlas.simulator.openrouter_endpoints:OpenRouterEndpointsHandler", path="/api/v1"),
    endpoint_doc="`GET /models/{author}/{slug}/endpoints` per watched model",
)
