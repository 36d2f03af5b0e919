"""How an asset tells `modelatlas run` what happened, in one line for its summary."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from modelatlas.errors import SourceError, SourceUnreachableError

# Materialization metadata under this key is printed in the run summary (and shown in the UI).
OUTCOME_METADATA_KEY = "modelatlas/outcome"


def source_failure(source: str, error: SourceError, **metadata: Any) -> dg.Failure:
    """The asset's failure when its source could not be read: `unreachable` (which `modelatlas run` tolerates
    unless --strict) or `failed`, with the source's redacted error as the outcome."""
    kind = "unreachable" if isinstance(error, SourceUnreachableError) else "failed"
    return dg.Failure(description=str(error), metadata={OUTCOME_METADATA_KEY: f"{source}: {kind}: {error}", **metadata})


def with_quarantine(outcome: str, quarantined: Mapping[str, int]) -> str:
    """The outcome line, saying how many rows the quality gate quarantined when it kept any back."""
    if total := sum(quarantined.values()):
        return f"{outcome}; {total} rows quarantined (see dq.quarantine)"
    return outcome
