"""The scale generator: synthetic catalogs, registries and price histories drawn from the data the project ships.

Every distribution comes from real data: the genai-prices package (prices per component, context windows, tiers)
and the simulator's hand-written provider fixtures (Hugging Face authors, tags, licences and downloads; OpenRouter
modalities and price fields; each keyed provider's item shapes). Output is deterministic for a seed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from modelatlas.pipelines.genai_prices.registry import packaged_snapshot
from modelatlas.simulator.core import load_fixture

MTOK = Decimal(1_000_000)
# genai-prices price keys and the simulator components they feed.
TOKEN_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


@dataclass(frozen=True)
class RealDistributions:
    """Empirical value pools from the shipped data; the generator samples from these."""

    price_profiles: tuple[Mapping[str, Decimal], ...]
    tiered_share: float
    context_windows: tuple[int, ...]
    hf_models: tuple[Mapping[str, Any], ...]
    hf_authors: tuple[str, ...]
    openrouter_models: tuple[Mapping[str, Any], ...]
    keyed_models: Mapping[str, tuple[Mapping[str, Any], ...]]


def _flat_price(value: Any) -> Decimal | None:
    if isinstance(value, str):
        return Decimal(value)
    if isinstance(value, Mapping) and isinstance(value.get("base"), str):
        return Decimal(value["base"])
    return None


@functools.cache
def real_distributions() -> RealDistributions:
    """The value pools of the genai-prices package data and the simulator fixtures (read once)."""
    providers = packaged_snapshot().providers
    profiles: list[dict[str, Decimal]] = []
    windows: list[int] = []
    tiered = 0
    models = 0
    for provider in providers:
        for model in provider.get("models", []):
            models += 1
            prices = model.get("prices")
            if isinstance(prices, list):
                prices = prices[-1].get("prices", {}) if prices else {}
            if not isinstance(prices, Mapping):
                continue
            if any(isinstance(value, Mapping) and value.get("tiers") for value in prices.values()):
                tiered += 1
            profile = {key: price for key in TOKEN_PRICE_KEYS if (price := _flat_price(prices.get(key))) is not None}
            if "input_mtok" in profile and "output_mtok" in profile:
                profiles.append(profile)
            if isinstance(model.get("context_window"), int):
                windows.append(model["context_window"])
    hf = tuple(load_fixture("huggingface"))
    return RealDistributions(
        price_profiles=tuple(profiles),
        tiered_share=tiered / models,
        context_windows=tuple(windows),
        hf_models=hf,
        hf_authors=tuple(sorted({str(item["author"]) for item in hf})),
        openrouter_models=tuple(load_fixture("openrouter")),
        keyed_models={name: tuple(load_fixture(name)) for name in ("openai", "anthropic", "gemini", "mistral")},
    )


def _rng(seed: int, stream: str) -> random.Random:
    # One independent stream per generator, so adding rows to one catalog leaves the others unchanged.
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{stream}".encode()).digest()[:8], "big"))


def organizations(count: int) -> list[str]:
    """`count` Hugging Face organisation names: the fixtures' real authors first, then synthetic ones."""
    real = list(real_distributions().hf_authors)
    return (real + [f"bench-org-{index:04d}" for index in range(max(0, count - len(real)))])[:count]


def _timestamp(rng: random.Random, start: datetime, days: int) -> str:
    moment = start + timedelta(seconds=rng.randrange(days * 86_400))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def huggingface_models(count: int, seed: int = 0, per_organization: int = 1000) -> list[dict[str, Any]]:
    """`count` Hub model objects shaped like the fixtures, `per_organization` per author, ids unique."""
    rng = _rng(seed, "huggingface")
    pool = real_distributions().hf_models
    authors = organizations(max(1, -(-count // per_organization)))
    rows: list[dict[str, Any]] = []
    for index in range(count):
        template = pool[rng.randrange(len(pool))]
        author = authors[index // per_organization]
        name = str(template["id"]).split("/", 1)[1]
        # A shallow copy: nested tags and card data are shared, never mutated, and cost nothing per row.
        item = dict(template)
        # Downloads span orders of magnitude: scale the real count by a log-uniform factor.
        scale = 10 ** rng.uniform(-3, 0.5)
        item.update(
            _id=hashlib.sha1(f"{seed}:{index}".encode()).hexdigest()[:24],
            id=f"{author}/{name}-b{index:07d}",
            author=author,
            downloads=int(int(template.get("downloads") or 0) * scale),
            likes=int(int(template.get("likes") or 0) * scale),
            trendingScore=int(int(template.get("trendingScore") or 0) * scale),
            createdAt=_timestamp(rng, datetime(2023, 1, 1, tzinfo=UTC), 1000),
            lastModified=_timestamp(rng, datetime(2025, 1, 1, tzinfo=UTC), 330),
        )
        rows.append(item)
    return rows


def _per_token(price_mtok: Decimal) -> str:
    return format((price_mtok / MTOK).normalize(), "f")


def _scaled(rng: random.Random, price: Decimal) -> Decimal:
    """A real price moved by up to +-30%, rounded to cents per million tokens."""
    return (price * Decimal(str(round(rng.uniform(0.7, 1.3), 2)))).quantize(Decimal("0.01"))


def openrouter_models(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` OpenRouter model objects: fixture shapes and modalities, genai-prices price profiles, unique ids."""
    rng = _rng(seed, "openrouter")
    real = real_distributions()
    rows: list[dict[str, Any]] = []
    for index in range(count):
        item = copy.deepcopy(dict(real.openrouter_models[rng.randrange(len(real.openrouter_models))]))
        vendor, _, name = str(item["id"]).partition("/")
        profile = real.price_profiles[rng.randrange(len(real.price_profiles))]
        pricing = dict(item.get("pricing") or {})
        pricing["prompt"] = _per_token(_scaled(rng, profile["input_mtok"]))
        pricing["completion"] = _per_token(_scaled(rng, profile["output_mtok"]))
        if "cache_read_mtok" in profile:
            pricing["input_cache_read"] = _per_token(_scaled(rng, profile["cache_read_mtok"]))
        item.update(
            id=f"{vendor}/{name}-b{index:06d}",
            canonical_slug=f"{vendor}/{name}-b{index:06d}",
            name=f"{item.get('name', name)} b{index:06d}",
            context_length=real.context_windows[rng.randrange(len(real.context_windows))],
            pricing=pricing,
        )
        rows.append(item)
    return rows


_ID_FIELDS = {"openai": "id", "anthropic": "id", "gemini": "name", "mistral": "id"}


def keyed_models(provider: str, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` catalog items of a keyed provider (openai, anthropic, gemini, mistral): fixture shapes, unique ids."""
    rng = _rng(seed, provider)
    pool = real_distributions().keyed_models[provider]
    field = _ID_FIELDS[provider]
    rows: list[dict[str, Any]] = []
    for index in range(count):
        item = copy.deepcopy(dict(pool[rng.randrange(len(pool))]))
        item[field] = f"{item[field]}-b{index:05d}"
        if provider == "mistral":
            item["name"] = item["id"]
            item["aliases"] = []
        rows.append(item)
    return rows


def registry_providers(scale: int, seed: int = 0) -> list[dict[str, Any]]:
    """The genai-prices registry in its published JSON shape; above 1x each model is repeated with new ids and prices.

    At scale 1 it is the packaged data exactly (47 providers, about 2,300 models).
    """
    rng = _rng(seed, "registry")
    providers = [copy.deepcopy(dict(provider)) for provider in packaged_snapshot().providers]
    if scale <= 1:
        return providers
    for provider in providers:
        originals = list(provider.get("models", []))
        copies: list[dict[str, Any]] = []
        for round_ in range(1, scale):
            for model in originals:
                clone = copy.deepcopy(dict(model))
                clone["id"] = f"{model['id']}-b{round_:03d}"
                clone["name"] = f"{model.get('name', model['id'])} b{round_:03d}"
                # A match rule naming the original would claim the clone's traffic too: match the new id only.
                clone["match"] = {"equals": clone["id"]}
                clone["prices"] = _rescale_prices(clone.get("prices"), Decimal(str(round(rng.uniform(0.7, 1.3), 2))))
                copies.append(clone)
        provider["models"] = originals + copies
    return providers


# Rescaled prices keep at most 9 decimals (per million tokens): sources refuse prices they cannot store exactly.
PRICE_QUANTUM = Decimal("1e-9")


def rescale_price(value: str, factor: Decimal) -> str:
    """A decimal price string times `factor`, rounded to `PRICE_QUANTUM`."""
    return format((Decimal(value) * factor).quantize(PRICE_QUANTUM).normalize(), "f")


def _rescale_prices(value: Any, factor: Decimal) -> Any:
    if isinstance(value, str):
        try:
            return rescale_price(value, factor)
        except ArithmeticError:
            return value
    if isinstance(value, list):
        return [_rescale_prices(item, factor) for item in value]
    if isinstance(value, dict):
        return {
            key: item if key in ("start", "constraint") else _rescale_prices(item, factor)
            for key, item in value.items()
        }
    return value


def litellm_entries(count: int, seed: int = 0) -> dict[str, Any]:
    """A LiteLLM price map of `count` models: the fixture's entries repeated under new keys, prices moved +-30%."""
    rng = _rng(seed, "litellm")
    fixture = load_fixture("litellm", "model_prices_and_context_window.json")
    entries = {key: value for key, value in fixture.items() if key != "sample_spec"}
    keys = list(entries)
    result: dict[str, Any] = {"sample_spec": fixture.get("sample_spec", {})}
    for index in range(count):
        key = keys[index % len(keys)]
        entry = dict(entries[key])
        factor = round(rng.uniform(0.7, 1.3), 2)
        for name, value in entry.items():
            if "cost" in name and isinstance(value, int | float) and not isinstance(value, bool):
                entry[name] = float(f"{value * factor:.6g}")
        result[key if index < len(keys) else f"{key}-b{index:05d}"] = entry
    return result


@dataclass(frozen=True)
class CatalogSizes:
    """How many items each simulated source serves in one cycle."""

    openrouter: int = 400
    huggingface: int = 10_000
    registry_scale: int = 1
    per_keyed_provider: int = 100
    # LiteLLM's real price map lists about 2,500 models.
    litellm: int = 2_500

    def scaled(self, factor: float) -> CatalogSizes:
        """These sizes times `factor` (the registry by whole copies of the packaged data)."""
        return CatalogSizes(
            openrouter=max(1, round(self.openrouter * factor)),
            huggingface=max(1, round(self.huggingface * factor)),
            registry_scale=max(1, round(self.registry_scale * factor)),
            per_keyed_provider=max(1, round(self.per_keyed_provider * factor)),
            litellm=max(1, round(self.litellm * factor)),
        )


@dataclass(frozen=True)
class Catalogs:
    """Every simulated source's items for one cycle."""

    sizes: CatalogSizes
    huggingface: list[dict[str, Any]]
    openrouter: list[dict[str, Any]]
    keyed: dict[str, list[dict[str, Any]]]
    registry: list[dict[str, Any]]
    per_organization: int
    litellm: dict[str, Any]

    @property
    def organizations(self) -> list[str]:
        """The Hugging Face organisations the catalog spans, in order."""
        return organizations(max(1, -(-len(self.huggingface) // self.per_organization)))


def catalogs(sizes: CatalogSizes, seed: int = 0, per_organization: int = 1000) -> Catalogs:
    """Every simulated source's items at `sizes`."""
    return Catalogs(
        sizes=sizes,
        huggingface=huggingface_models(sizes.huggingface, seed, per_organization),
        openrouter=openrouter_models(sizes.openrouter, seed),
        keyed={name: keyed_models(name, sizes.per_keyed_provider, seed) for name in _ID_FIELDS},
        registry=registry_providers(sizes.registry_scale, seed),
        per_organization=per_organization,
        litellm=litellm_entries(sizes.litellm, seed),
    )


def price_changes(keys: Sequence[str], share: float, day: int, seed: int = 0) -> set[str]:
    """The keys whose price changes on simulated `day`: a deterministic `share` of them."""
    rng = _rng(seed, f"changes:{day}")
    count = round(len(keys) * share)
    return set(rng.sample(list(keys), count)) if count else set()


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
