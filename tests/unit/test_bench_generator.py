"""The benchmark's scale generator: realistic, unique, deterministic catalogs drawn from the shipped data."""

from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal

from bench import generator
from bench.generator import CatalogSizes, catalogs, real_distributions
from modelatlas.pipelines.genai_prices.normalize import check_registry_shape
from modelatlas.pipelines.huggingface import EXPAND, model_columns
from modelatlas.pipelines.openrouter import model_columns as openrouter_columns
from modelatlas.simulator.core import load_fixture


def test_the_distributions_come_from_the_registry_and_the_fixtures() -> None:
    real = real_distributions()
    assert len(real.price_profiles) > 1000
    assert all(profile["input_mtok"] >= 0 and profile["output_mtok"] >= 0 for profile in real.price_profiles)
    assert 0 < real.tiered_share < 0.5
    assert set(real.hf_authors) == {item["author"] for item in load_fixture("huggingface")}
    assert len(real.openrouter_models) == len(load_fixture("openrouter"))


def test_huggingface_ids_are_unique_and_spread_over_organisations() -> None:
    items = generator.huggingface_models(2500, seed=3, per_organization=1000)
    ids = [item["id"] for item in items]
    assert len(set(ids)) == 2500
    authors = Counter(item["author"] for item in items)
    assert list(authors.values()) == [1000, 1000, 500]
    assert all(item["id"].startswith(item["author"] + "/") for item in items)


def test_huggingface_items_have_the_hub_shape_and_realistic_values() -> None:
    items = generator.huggingface_models(3000, seed=1)
    fixture_keys = {key for item in load_fixture("huggingface") for key in item}
    assert all(set(item) <= fixture_keys for item in items)
    assert all(set(EXPAND) - {"private"} <= set(item) | {"gated", "cardData", "library_name"} for item in items)
    downloads = sorted(item["downloads"] for item in items)
    # Downloads span orders of magnitude like the real Hub, never negative.
    assert downloads[0] >= 0
    assert downloads[-1] > 100 * max(downloads[len(downloads) // 2], 1)
    tags = Counter(model_columns(item)["pipeline_tag"] for item in items)
    assert tags.most_common(1)[0][0] == "text-generation"
    # The source's own extraction reads every generated item without a gap in the timestamps.
    assert all(model_columns(item)["created_at"] is not None for item in items)


def test_openrouter_prices_are_per_token_strings_from_the_registry_range() -> None:
    items = generator.openrouter_models(400, seed=2)
    assert len({item["id"] for item in items}) == 400
    per_mtok = [Decimal(item["pricing"]["prompt"]) * 1_000_000 for item in items]
    registry = [profile["input_mtok"] for profile in real_distributions().price_profiles]
    assert min(per_mtok) >= min(registry) * Decimal("0.7") - Decimal("0.01")
    assert max(per_mtok) <= max(registry) * Decimal("1.3") + Decimal("0.01")
    # Typical prices: the median lands within a factor of three of the registry's median input price.
    median = sorted(per_mtok)[len(per_mtok) // 2]
    registry_median = sorted(registry)[len(registry) // 2]
    assert registry_median / 3 <= median <= registry_median * 3
    assert all(openrouter_columns(item)["context_length"] is not None for item in items[:50])


def test_keyed_catalogs_keep_each_providers_shape_with_unique_ids() -> None:
    for provider, field in (("openai", "id"), ("anthropic", "id"), ("gemini", "name"), ("mistral", "id")):
        items = generator.keyed_models(provider, 250, seed=4)
        assert len({item[field] for item in items}) == 250
        fixture_keys = {key for item in load_fixture(provider) for key in item}
        assert all(set(item) <= fixture_keys for item in items)


def test_the_registry_at_1x_is_the_packaged_data_and_scales_by_whole_copies() -> None:
    base = generator.registry_providers(1)
    tripled = generator.registry_providers(3)
    count = sum(len(provider["models"]) for provider in base)
    assert count > 2000
    assert sum(len(provider["models"]) for provider in tripled) == 3 * count
    ids = [(provider["id"], model["id"]) for provider in tripled for model in provider["models"]]
    assert len(set(ids)) == len(ids)
    # The scaled registry is still valid registry data: the source's own shape check accepts it.
    assert len(check_registry_shape(json.loads(json.dumps(tripled)))) == len(base)


def test_a_seed_gives_the_same_catalogs_and_another_seed_others() -> None:
    sizes = CatalogSizes(openrouter=30, huggingface=200, per_keyed_provider=5)
    first, again, other = catalogs(sizes, seed=7), catalogs(sizes, seed=7), catalogs(sizes, seed=8)
    assert first.huggingface == again.huggingface
    assert first.openrouter == again.openrouter
    assert first.keyed == again.keyed
    assert first.huggingface != other.huggingface
    assert first.openrouter != other.openrouter


def test_sizes_scale_by_a_factor_and_never_reach_zero() -> None:
    sizes = CatalogSizes().scaled(10)
    assert (sizes.openrouter, sizes.huggingface, sizes.per_keyed_provider, sizes.registry_scale, sizes.litellm) == (
        4000,
        100_000,
        1000,
        10,
        25_000,
    )
    tiny = CatalogSizes().scaled(0.001)
    assert min(tiny.openrouter, tiny.huggingface, tiny.per_keyed_provider, tiny.registry_scale) == 1


def test_a_days_price_changes_are_the_share_asked_for_and_repeatable() -> None:
    keys = [f"k{index}" for index in range(5000)]
    day_one = generator.price_changes(keys, 0.01, day=1)
    assert len(day_one) == 50
    assert day_one == generator.price_changes(keys, 0.01, day=1)
    assert day_one != generator.price_changes(keys, 0.01, day=2)
    assert day_one <= set(keys)
    assert generator.price_changes(keys[:10], 0.01, day=1) == set()
    assert math.isclose(len(generator.price_changes(keys, 0.1, day=3)), 500)


def test_the_litellm_map_has_the_size_asked_for_with_the_fixtures_entries_first() -> None:
    fixture = load_fixture("litellm", "model_prices_and_context_window.json")
    entries = generator.litellm_entries(500, seed=1)
    assert len(entries) == 501  # and the sample_spec entry LiteLLM's file starts with
    assert set(fixture) <= set(entries)
    assert all(entry["litellm_provider"] for key, entry in entries.items() if key != "sample_spec")


def test_the_bench_simulator_serves_every_sources_generated_catalog_through_the_sources_own_fetch() -> None:
    from bench.simulate import bench_environment, build_bench_simulator
    from modelatlas.pipelines.engine import fetch, request_for
    from modelatlas.pipelines.loading import row_count
    from modelatlas.pipelines.registry import sources
    from modelatlas.settings import source_config

    sizes = CatalogSizes(openrouter=30, huggingface=2500, registry_scale=2, per_keyed_provider=7, litellm=300)
    data = catalogs(sizes)
    expected = {
        **dict.fromkeys(("openai", "anthropic", "gemini", "mistral"), 7),
        "openrouter": 30,
        "huggingface": 2500,
        "litellm": 300,
        "genai_prices": sum(len(provider["models"]) for provider in data.registry),
    }
    with build_bench_simulator(data) as simulator:
        env = bench_environment(simulator, data)
        fetched = {}
        # The catalogs and price registries: the status and usage sources' benches are their own.
        for spec in (spec for spec in sources() if spec.kind in ("catalog", "price registry")):
            batch = fetch(request_for(spec, source_config(spec, env)))
            fetched[spec.name] = (row_count(batch.tables["models"]), batch.origin)
    assert {name: count for name, (count, _) in fetched.items()} == expected
    # Every source read the simulator: none fell back to data of its own (the registry's packaged copy).
    assert all(origin.startswith(("http://127.0.0.1", "published data")) for _, origin in fetched.values())
