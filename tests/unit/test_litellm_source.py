"""The LiteLLM source's pure parts: parsing the file, its address, model rows, and the simulator's answers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from modelatlas.errors import ConfigurationError, SourceError
from modelatlas.pipelines.engine import fetch, request_for
from modelatlas.pipelines.litellm import SPEC, litellm_tables, model_row, parse_document, split_url
from modelatlas.pipelines.prices import MappingStats
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, build_simulator, sample_environment
from modelatlas.simulator.litellm import FILE_PATH

AT = datetime(2026, 4, 1, tzinfo=UTC)


def test_a_document_keeps_numbers_as_written_and_skips_sample_spec() -> None:
    body = b'{"sample_spec": {"input_cost_per_token": 0.0}, "gpt-4o": {"input_cost_per_token": 2.5e-06}}'
    document = parse_document(body, "https://example.test/prices.json", AT)
    assert list(document.entries) == ["gpt-4o"]
    assert document.entries["gpt-4o"]["input_cost_per_token"] == 2.5e-06
    assert document.exact_entries["gpt-4o"]["input_cost_per_token"] == "2.5e-06"
    assert document.fetched_at == AT and document.version.startswith("sha256:")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"gpt-4o": {"input_cost_per_token": 2.5e-', "malformed JSON .*truncated"),
        (b"[1, 2]", "did not return a JSON object of models"),
        (b'{"gpt-4o": 3}', "the entry 'gpt-4o' is not an object"),
        (b'{"sample_spec": {}}', "lists no models"),
    ],
)
def test_a_malformed_document_is_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=f"LiteLLM: .*{message}"):
        parse_document(body, "https://example.test/prices.json")


def test_a_negative_price_fails_the_whole_read_before_anything_loads() -> None:
    body = b'{"ok": {"input_cost_per_token": 1e-06}, "m": {"litellm_provider": "x", "input_cost_per_token": -1e-06}}'
    document = parse_document(body, "u", AT)
    with pytest.raises(SourceError, match=r"LiteLLM: m input_cost_per_token: the price .* is negative"):
        litellm_tables(document, MappingStats())


def test_the_tables_count_models_points_and_unknown_keys_and_carry_every_declared_column() -> None:
    body = json.dumps(
        {
            "gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
            "dall-e-2": {"litellm_provider": "openai", "input_cost_per_pixel": 1.9e-08},
        }
    ).encode()
    stats = MappingStats()
    tables = litellm_tables(parse_document(body, "u", AT), stats)
    assert {name: len(rows) for name, rows in tables.items()} == {"models": 2, "price_points": 2, "loads": 1}
    assert stats.unknown_count == 1 and dict(stats.unknown_keys) == {"input_cost_per_pixel": 1}
    assert len({row["price_hash"] for row in tables["price_points"]}) == 2
    (load,) = tables["loads"]
    assert (load["model_count"], load["price_point_count"], load["unknown_price_key_count"]) == (2, 2, 1)
    assert load["source_version"].startswith("sha256:") and load["fetched_at"] == AT
    # The gate blocks a batch without a declared column: every row carries each of its table's columns.
    for table in SPEC.tables:
        assert all(set(table.columns) <= set(row) for row in tables[table.name]), table.name


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://raw.example.com/litellm/main/p.json", ("https://raw.example.com/litellm/main/", "p.json", {})),
        ("http://127.0.0.1:8080/litellm/p.json?ref=v1", ("http://127.0.0.1:8080/litellm/", "p.json", {"ref": "v1"})),
    ],
)  # fmt: skip
def test_the_address_splits_into_base_file_and_query(url: str, expected: tuple[str, str, dict[str, str]]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://host/p.json", "https://host/dir/", "not a url", "https:///p.json"])
def test_a_wrong_address_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="MODELATLAS_LITELLM_URL must be the http"):
        split_url(url)


def test_a_model_row_keeps_flags_regions_limits_and_a_valid_deprecation_date() -> None:
    entry = {
        "litellm_provider": "vertex_ai-language-models",
        "mode": "chat",
        "max_input_tokens": 1048576,
        "max_output_tokens": "lots",
        "supports_vision": True,
        "supported_regions": ["global"],
        "deprecation_date": "2026-06-17",
    }
    row = model_row("vertex_ai/gemini-2.5-pro", entry, "b1", AT)
    assert row["provider_model_id"] == "gemini-2.5-pro"
    assert (row["max_input_tokens"], row["max_output_tokens"], row["max_tokens"]) == (1048576, None, None)
    assert row["supports"] == {"supports_vision": True}
    assert row["supported_regions"] == ["global"]
    assert row["deprecation_date"] == date(2026, 6, 17)
    assert model_row("m", {"deprecation_date": "soon"}, "b1", AT)["deprecation_date"] is None
    assert model_row("m", {}, "b1", AT)["litellm_provider"] == "unknown"


def test_the_simulator_serves_the_file_with_faults_and_plain_text_errors() -> None:
    with build_simulator([SPEC]) as simulator:
        url = sample_environment(simulator, [SPEC])["MODELATLAS_LITELLM_URL"]
        assert url == simulator.root_url("litellm") + FILE_PATH
        body = httpx.get(url).json()
        assert "sample_spec" in body and "claude-sonnet-4-5" in body and len(body) == 85
        simulator.inject("litellm", Fault("unknown_field"))
        changed = httpx.get(url).json()
        assert changed["gpt-4o"]["x_simulator_unannounced"] == {"new": True}
        assert "x_simulator_unannounced" not in changed["sample_spec"]
        simulator.inject("litellm", Fault("rate_limit", retry_after_s=3))
        limited = httpx.get(url)
        assert (limited.status_code, limited.headers["retry-after"], limited.text) == (
            429,
            "3",
            "429: Rate limit exceeded",
        )
        missing = httpx.get(simulator.root_url("litellm") + "/other.json")
        assert (missing.status_code, missing.text) == (404, "404: Not Found")


def test_one_fetch_through_the_engine_brings_every_table_its_origin_and_the_unknown_keys() -> None:
    with build_simulator([SPEC]) as simulator:
        env = sample_environment(simulator, [SPEC])
        request = request_for(SPEC, source_config(SPEC, env), fetched_at=AT)
        batch = fetch(request)
    assert {name: len(rows) for name, rows in batch.tables.items()} == {"models": 84, "price_points": 412, "loads": 1}
    assert batch.origin == env["MODELATLAS_LITELLM_URL"]
    assert batch.notes == ("8 prices with unknown keys",)
    assert batch.metadata["unknown_price_keys"] == 8 and batch.metadata["source_version"].startswith("sha256:")
    assert request.stats.requests == 1
    assert {row["batch_id"] for rows in batch.tables.values() for row in rows if "batch_id" in row} == {
        "20260401T000000.000000Z"
    }
