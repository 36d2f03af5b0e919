"""Every provider catalog ModelAtlas reads, in one list: key, endpoint, cadence and dlt source."""

from __future__ import annotations

from modelatlas.pipelines.anthropic import DEFAULT_BASE_URL as ANTHROPIC_BASE_URL
from modelatlas.pipelines.anthropic import anthropic_source
from modelatlas.pipelines.catalog import ProviderSpec
from modelatlas.pipelines.gemini import DEFAULT_BASE_URL as GEMINI_BASE_URL
from modelatlas.pipelines.gemini import gemini_source
from modelatlas.pipelines.huggingface import DEFAULT_BASE_URL as HUGGINGFACE_BASE_URL
from modelatlas.pipelines.huggingface import huggingface_options, huggingface_source
from modelatlas.pipelines.mistral import DEFAULT_BASE_URL as MISTRAL_BASE_URL
from modelatlas.pipelines.mistral import mistral_source
from modelatlas.pipelines.openai import DEFAULT_BASE_URL as OPENAI_BASE_URL
from modelatlas.pipelines.openai import openai_source
from modelatlas.pipelines.openrouter import DEFAULT_BASE_URL as OPENROUTER_BASE_URL
from modelatlas.pipelines.openrouter import openrouter_source

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="openai",
        display_name="OpenAI",
        key_env="OPENAI_API_KEY",
        key_required=True,
        default_base_url=OPENAI_BASE_URL,
        default_cron="*/5 * * * *",
        source=openai_source,
        description="OpenAI's model list (GET /v1/models): ids, owners, creation and shutdown dates.",
    ),
    ProviderSpec(
        name="anthropic",
        display_name="Anthropic",
        key_env="ANTHROPIC_API_KEY",
        key_required=True,
        default_base_url=ANTHROPIC_BASE_URL,
        default_cron="*/10 * * * *",
        source=anthropic_source,
        description="Anthropic's Models API (GET /v1/models, every page): token limits and the capabilities tree.",
    ),
    ProviderSpec(
        name="gemini",
        display_name="Google Gemini",
        key_env="GEMINI_API_KEY",
        key_required=True,
        default_base_url=GEMINI_BASE_URL,
        default_cron="*/10 * * * *",
        source=gemini_source,
        description="Google Gemini's model list (GET /v1beta/models, every page): token limits, methods, thinking.",
    ),
    ProviderSpec(
        name="mistral",
        display_name="Mistral",
        key_env="MISTRAL_API_KEY",
        key_required=True,
        default_base_url=MISTRAL_BASE_URL,
        default_cron="*/10 * * * *",
        source=mistral_source,
        description="Mistral's model cards (GET /v1/models): capabilities, context length, aliases, deprecations.",
    ),
    ProviderSpec(
        name="openrouter",
        display_name="OpenRouter",
        key_env="OPENROUTER_API_KEY",
        key_required=False,
        default_base_url=OPENROUTER_BASE_URL,
        default_cron="*/10 * * * *",
        source=openrouter_source,
        tables=("models", "price_points"),
        description="OpenRouter's multi-provider catalog (GET /models, every page): unit prices, limits, modalities.",
    ),
    ProviderSpec(
        name="huggingface",
        display_name="Hugging Face",
        key_env="HF_TOKEN",
        key_required=False,
        default_base_url=HUGGINGFACE_BASE_URL,
        default_cron="*/10 * * * *",
        source=huggingface_source,
        tables=("models", "model_stats"),
        options=huggingface_options,
        description="Open-weight models of tracked Hugging Face organisations, with downloads and likes over time.",
    ),
)


def provider(name: str) -> ProviderSpec:
    """The spec of one provider by name."""
    for spec in PROVIDERS:
        if spec.name == name:
            return spec
    raise KeyError(name)
