"""Data quality gates: suites per raw entity, validated with Great Expectations before a batch reaches raw."""

from __future__ import annotations

from modelatlas.pipelines.quality.suite import RowCheck, Suite, catalog_suite
from modelatlas.pipelines.quality.validation import Baseline, ExpectationResult, Verdict, validate_batch
from modelatlas.settings import GateSettings

__all__ = [
    "Baseline",
    "ExpectationResult",
    "GateSettings",
    "RowCheck",
    "Suite",
    "Verdict",
    "catalog_suite",
    "validate_batch",
]
