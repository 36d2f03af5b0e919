"""Where the registry comes from: the package's dataclasses as JSON, the published file over real HTTP, the fallback."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest
from genai_prices import types

from modelatlas.errors import SourceError, SourceUnreachableError
from modelatlas.pipelines.genai_prices import SPEC
from modelatlas.pipelines.genai_prices.registry import load_snapshot, packaged_snapshot, published_snapshot, to_raw
from modelatlas.simulator import Fault, build_simulator, sample_environment

if TYPE_CHECKING:
    from conftest import LocalServer

SMALL_REGISTRY = [
    {
        "id": "acme",
        "name": "Acme AI",
        "api_pattern": r"https://api\.acme\.test",
        "models": [
            {
                "id": "acme-1",
                "match": {"starts_with": "acme-1"},
                "name": "Acme 1",
                "context_window": 128_000,
                "prices": {
                    "input_mtok": "1",
                    "output_mtok": {"base": "2", "tiers": [{"start": 100_000, "price": "4"}]},
                },
            }
        ],
    }
]


def registry_bytes(registry: object = SMALL_REGISTRY) -> bytes:
    return json.dumps(registry).encode()


def just_now(moment: datetime) -> bool:
    return moment.tzinfo is not None and abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


# --- to_raw -------------------------------------------------------------------------------------------------------


def test_to_raw_names_or_and_and_clauses_as_the_json_does() -> None:
    rule = types.ClauseOr(
        or_=[
            types.ClauseStartsWith("gpt-4o"),
            types.ClauseAnd(and_=[types.ClauseContains("4o"), types.ClauseEquals("x")]),
        ]
    )

    assert to_raw(rule) == {"or": [{"starts_with": "gpt-4o"}, {"and": [{"contains": "4o"}, {"equals": "x"}]}]}


def test_to_raw_of_a_model_with_dated_tiered_prices_and_variants() -> None:
    model = types.ModelInfo(
        id="m-1",
        match=types.ClauseEquals("m-1"),
        context_window=200_000,
        prices=[
            types.ConditionalPrice(prices=types.ModelPrice(input_mtok=Decimal("3"), output_mtok=None)),
            types.ConditionalPrice(
                constraint=types.StartDateConstraint(start_date=date(2025, 6, 1)),
                prices=types.ModelPrice(
                    input_mtok=types.TieredPrices(
                        base=Decimal("2.50"), tiers=[types.Tier(start=200_000, price=Decimal("5"))]
                    )
                ),
            ),
            types.ConditionalPrice(
                constraint=types.TimeOfDateConstraint(start_time=time(0, 30, tzinfo=UTC), end_time=time(16, 30)),
                prices=types.ModelPrice(input_mtok=Decimal("0.1")),
            ),
        ],
        price_variants=[
            types.PriceVariant(when={"processing": "batch"}, prices=types.ModelPrice(input_mtok=Decimal(1)))
        ],
    )

    assert to_raw(model) == {
        "id": "m-1",
        "match": {"equals": "m-1"},
        "context_window": 200_000,
        "prices": [
            {"prices": {"input_mtok": "3"}},
            {
                "constraint": {"start_date": "2025-06-01"},
                "prices": {"input_mtok": {"base": "2.50", "tiers": [{"start": 200_000, "price": "5"}]}},
            },
            {
                "constraint": {"start_time": "00:30:00+00:00", "end_time": "16:30:00"},
                "prices": {"input_mtok": "0.1"},
            },
        ],
        "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": "1"}}],
    }


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (Decimal("0.10"), "0.10"),
        (date(2025, 1, 2), "2025-01-02"),
        (time(16, 30, tzinfo=UTC), "16:30:00+00:00"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05+00:00"),
        ((1, Decimal("2")), [1, "2"]),
        ({1: Decimal("2"), "k": [date(2025, 1, 1)]}, {"1": "2", "k": ["2025-01-01"]}),
        ("text", "text"),
        (True, True),
        (None, None),
    ],
)
def test_to_raw_of_plain_values(value: object, raw: object) -> None:
    assert to_raw(value) == raw


def test_to_raw_leaves_out_usage_extractors() -> None:
    from genai_prices.data import providers

    with_extractors = next(p for p in providers if p.extractors)

    raw = to_raw(with_extractors)

    assert "extractors" not in raw
    assert raw["id"] == with_extractors.id
    assert len(raw["models"]) == len(with_extractors.models)


def test_to_raw_of_the_package_data_is_plain_json() -> None:
    from genai_prices.data import providers

    raw = to_raw(providers)

    assert json.loads(json.dumps(raw)) == raw


# --- packaged_snapshot --------------------------------------------------------------------------------------------


def test_packaged_snapshot() -> None:
    snapshot = packaged_snapshot()

    assert snapshot.origin == "package"
    assert snapshot.version == f"genai-prices {version('genai-prices')}"
    assert re.fullmatch(r"genai-prices \d+\.\d+\.\d+\S*", snapshot.version)
    assert snapshot.url is None
    assert snapshot.fallback_reason is None
    assert just_now(snapshot.fetched_at)
    ids = [provider["id"] for provider in snapshot.providers]
    assert {"openai", "anthropic", "google"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_packaged_snapshot_keeps_the_fallback_reason() -> None:
    assert packaged_snapshot("the network is down").fallback_reason == "the network is down"


# --- published_snapshot and load_snapshot over real HTTP ----------------------------------------------------------


def test_published_snapshot(local_server: LocalServer) -> None:
    url = local_server.serve("/data.json", registry_bytes())

    snapshot = published_snapshot(url, timeout=2)

    assert snapshot.origin == "published"
    assert snapshot.version == "sha256:" + hashlib.sha256(registry_bytes()).hexdigest()[:16]
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", snapshot.version)
    assert snapshot.providers == SMALL_REGISTRY
    assert snapshot.url == url
    assert snapshot.fallback_reason is None
    assert just_now(snapshot.fetched_at)


def test_published_version_changes_with_the_content_only(local_server: LocalServer) -> None:
    url = local_server.serve("/data.json", registry_bytes())
    first = published_snapshot(url, timeout=2).version
    again = published_snapshot(url, timeout=2).version
    local_server.serve("/data.json", registry_bytes([{**SMALL_REGISTRY[0], "name": "Acme AI Inc."}]))

    changed = published_snapshot(url, timeout=2)

    assert first == again
    assert changed.version != first
    assert changed.providers[0]["name"] == "Acme AI Inc."


def test_published_snapshot_follows_redirects(local_server: LocalServer) -> None:
    local_server.serve("/data.json", registry_bytes())
    moved = local_server.serve("/old.json", b"", status=302, headers={"Location": "/data.json"})

    snapshot = published_snapshot(moved, timeout=2)

    assert snapshot.providers == SMALL_REGISTRY
    assert [path for path, _ in local_server.requests] == ["/old.json", "/data.json"]


def test_load_snapshot_prefers_the_published_data(local_server: LocalServer) -> None:
    url = local_server.serve("/data.json", registry_bytes())

    snapshot = load_snapshot(url, timeout=2)

    assert (snapshot.origin, snapshot.url, snapshot.fallback_reason) == ("published", url, None)
    assert snapshot.providers == SMALL_REGISTRY


def test_invalid_json_falls_back_to_the_package(local_server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    url = local_server.serve("/data.json", "<html>rate limited</html>", content_type="text/html")
    with pytest.raises(SourceError, match="did not return JSON"):
        published_snapshot(url, timeout=2)

    with caplog.at_level(logging.DEBUG, logger="modelatlas"):
        snapshot = load_snapshot(url, timeout=2)

    assert snapshot.origin == "package"
    assert snapshot.fallback_reason == f"genai-prices: {url} did not return JSON"
    assert snapshot.version.startswith("genai-prices ")
    assert len(snapshot.providers) >= 20
    assert f"using the packaged genai-prices data: genai-prices: {url} did not return JSON" in caplog.text


def test_json_that_is_not_a_registry_falls_back_to_the_package(local_server: LocalServer) -> None:
    url = local_server.serve("/data.json", json.dumps({"providers": SMALL_REGISTRY}))

    snapshot = load_snapshot(url, timeout=2)

    assert snapshot.origin == "package"
    assert "expected a non-empty list of providers" in (snapshot.fallback_reason or "")


@pytest.mark.parametrize("status", [404, 500, 503])
def test_http_errors_fall_back_with_the_status(local_server: LocalServer, status: int) -> None:
    url = local_server.serve("/data.json", registry_bytes(), status=status)
    with pytest.raises(SourceError) as raised:
        published_snapshot(url, timeout=2)
    assert not isinstance(raised.value, SourceUnreachableError)

    snapshot = load_snapshot(url, timeout=2)

    assert snapshot.origin == "package"
    assert snapshot.fallback_reason == f"genai-prices: {url} answered HTTP {status}"


def test_an_unreachable_address_falls_back(closed_port_url: str) -> None:
    with pytest.raises(SourceUnreachableError):
        published_snapshot(closed_port_url, timeout=2)

    snapshot = load_snapshot(closed_port_url, timeout=2)

    assert snapshot.origin == "package"
    assert snapshot.url is None
    assert f"{closed_port_url} is unreachable (ConnectError" in (snapshot.fallback_reason or "")


def test_a_server_slower_than_the_timeout_counts_as_unreachable(local_server: LocalServer) -> None:
    url = local_server.serve("/data.json", registry_bytes(), delay_s=1.0)

    snapshot = load_snapshot(url, timeout=0.2)

    assert snapshot.origin == "package"
    assert "is unreachable (ReadTimeout" in (snapshot.fallback_reason or "")


@pytest.mark.parametrize("url", [None, ""])
def test_a_switched_off_url_reads_the_package(url: str | None) -> None:
    snapshot = load_snapshot(url)

    assert snapshot.origin == "package"
    assert snapshot.fallback_reason == ("the published registry is switched off (MODELATLAS_GENAI_PRICES_URL is empty)")


def test_a_malformed_url_falls_back_to_the_package() -> None:
    # httpx raises InvalidURL, which is not an httpx.HTTPError, for a URL it cannot parse.
    snapshot = load_snapshot("http://[::1/data.json", timeout=1)

    assert snapshot.origin == "package"
    assert "http://[::1/data.json" in (snapshot.fallback_reason or "")


# --- the simulator's registry -------------------------------------------------------------------------------------


def test_the_simulator_publishes_the_package_data_as_the_registry_json() -> None:
    with build_simulator([SPEC]) as simulator:
        url = sample_environment(simulator, [SPEC])["MODELATLAS_GENAI_PRICES_URL"]
        assert url == simulator.root_url("genai_prices") + "/data.json"
        published = load_snapshot(url, timeout=5)
        simulator.inject("genai_prices", Fault("status", status=503))
        fallback = load_snapshot(url, timeout=5)
    assert (published.origin, published.fallback_reason) == ("published", None)
    assert published.providers == packaged_snapshot().providers
    assert fallback.origin == "package" and "503" in str(fallback.fallback_reason)
