"""Every suite of every source, by source and raw table: the one place a new source's suites are listed."""

from __future__ import annotations

from modelatlas.pipelines.anthropic.expectations import SUITES as ANTHROPIC
from modelatlas.pipelines.gemini.expectations import SUITES as GEMINI
from modelatlas.pipelines.genai_prices.expectations import SUITES as GENAI_PRICES
from modelatlas.pipelines.huggingface.expectations import SUITES as HUGGINGFACE
from modelatlas.pipelines.litellm.expectations import SUITES as LITELLM
from modelatlas.pipelines.mistral.expectations import SUITES as MISTRAL
from modelatlas.pipelines.openai.expectations import SUITES as OPENAI
from modelatlas.pipelines.openrouter.expectations import SUITES as OPENROUTER
from modelatlas.pipelines.prices.expectations import SUITES as PRICE_POINTS
from modelatlas.pipelines.quality.suite import Suite

ALL_SUITES: tuple[Suite, ...] = (
    *GENAI_PRICES,
    *LITELLM,
    *PRICE_POINTS,
    *OPENAI,
    *ANTHROPIC,
    *GEMINI,
    *MISTRAL,
    *OPENROUTER,
    *HUGGINGFACE,
)


def suites_for(source: str) -> dict[str, Suite]:
    """{table: suite} of one source (dlt source name), empty when none is declared."""
    return {suite.entity: suite for suite in ALL_SUITES if suite.source == source}
