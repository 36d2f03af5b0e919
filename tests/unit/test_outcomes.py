"""The outcome lines assets hand to `modelatlas run`."""

from __future__ import annotations

from modelatlas.assets.outcomes import OUTCOME_METADATA_KEY, source_failure, with_quarantine
from modelatlas.errors import AuthenticationError, SourceUnreachableError


def test_an_unreachable_source_and_a_failed_one_say_which_they_are() -> None:
    unreachable = source_failure("litellm", SourceUnreachableError("host down"), requests=5)
    assert unreachable.description == "host down"
    assert unreachable.metadata[OUTCOME_METADATA_KEY].value == "litellm: unreachable: host down"
    assert unreachable.metadata["requests"].value == 5
    rejected = source_failure("openai", AuthenticationError("401 from OpenAI"), pages_fetched=0)
    assert rejected.metadata[OUTCOME_METADATA_KEY].value == "openai: failed: 401 from OpenAI"


def test_the_outcome_counts_quarantined_rows_only_when_there_are_some() -> None:
    assert with_quarantine("openai: 31 models", {"models": 0}) == "openai: 31 models"
    assert (
        with_quarantine("openai: 31 models", {"models": 2, "price_points": 1})
        == "openai: 31 models; 3 rows quarantined (see dq.quarantine)"
    )
