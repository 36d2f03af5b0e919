"""Validate one extracted batch against its suite with Great Expectations: row failures and batch verdicts."""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from modelatlas.pipelines.quality.suite import Suite
from modelatlas.settings import GateSettings

# Great Expectations reads this when it is first imported: no usage statistics leave the machine.
GX_ENVIRONMENT = {"GX_ANALYTICS_ENABLED": "False"}

# Clocks differ: a timestamp this far ahead of ours is still "now" (Mistral stamps cards with its request time).
CLOCK_SKEW = timedelta(minutes=5)
KEY_COLUMN = "__key"
Level = Literal["row", "batch"]
Rows: TypeAlias = Sequence[Mapping[str, Any]] | pa.Table


@dataclass(frozen=True)
class Baseline:
    """What the warehouse holds for an entity before this batch: its latest batch's size and current prices."""

    row_count: int = 0
    # key (as text) -> {price column: price}
    prices: Mapping[tuple[str, ...], Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpectationResult:
    """The result of one expectation on one batch."""

    expectation: str
    column: str | None
    description: str
    level: Level
    success: bool
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    failing_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """Everything one suite said about one batch."""

    suite: Suite
    row_count: int
    results: tuple[ExpectationResult, ...]

    @property
    def blocked(self) -> bool:
        """True when a batch-level expectation failed: nothing of the batch may load."""
        return any(not result.success for result in self.results if result.level == "batch")

    @property
    def block_reasons(self) -> list[str]:
        """The failed batch-level expectations, readable."""
        return [r.description for r in self.results if r.level == "batch" and not r.success]

    @property
    def failed(self) -> list[ExpectationResult]:
        """Every expectation that failed."""
        return [result for result in self.results if not result.success]

    def row_failures(self) -> dict[int, list[str]]:
        """Row position -> the descriptions of the row-level expectations it failed."""
        failures: dict[int, list[str]] = {}
        for result in self.results:
            if result.level == "row" and not result.success:
                for position in result.failing_rows:
                    failures.setdefault(position, []).append(result.description)
        return failures

    def passing_mask(self) -> list[bool]:
        """One flag per row: True when the row passed every row-level expectation."""
        failing = self.row_failures()
        return [position not in failing for position in range(self.row_count)]


def batch_columns(rows: Rows) -> set[str]:
    """The columns a batch carries: an Arrow schema's names, or every key any row has."""
    if isinstance(rows, pa.Table):
        return set(rows.column_names)
    names: set[str] = set()
    for row in rows:
        names.update(row)
    return names


def validation_frame(suite: Suite, rows: Rows) -> pd.DataFrame:
    """The batch as a DataFrame of only the columns the suite reads, typed for comparison (prices as floats)."""
    present = sorted(suite.columns() & batch_columns(rows))
    if isinstance(rows, pa.Table):
        frame = rows.select(present).to_pandas()
    else:
        frame = pd.DataFrame({name: [row.get(name) for row in rows] for name in present}, index=range(len(rows)))
    numeric = {*suite.prices, *suite.ranges, *suite.jump_columns}
    for name in present:
        if name in numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif name in suite.not_in_future:
            frame[name] = pd.to_datetime(frame[name], utc=True, errors="coerce")
    return frame


def key_part(value: Any) -> str:
    """One part of a row's key as text, the same for a batch's value and the warehouse's: a null part is empty."""
    return "" if value is None else str(value)


def key_texts(frame: pd.DataFrame, key: Sequence[str], optional: Collection[str] = ()) -> pd.Series:
    """Each row's key as one text (parts joined by a unit separator), for uniqueness and price comparison.

    A row missing a part has no key, unless the part is `optional` (an undated price's `effective_from`).
    """
    if not all(name in frame for name in key):
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    keyless = pd.Series(False, index=frame.index)
    for name in key:
        if name not in optional:
            keyless |= frame[name].isna()
    texts = _part_texts(frame[key[0]])
    for name in key[1:]:
        texts = texts + "\x1f" + _part_texts(frame[name])
    return texts.astype(object).where(~keyless, None)


def _part_texts(values: pd.Series) -> pd.Series:
    """`key_part` of every value, formatting each distinct value once: a month of probe results repeats each
    timestamp 20 times, and formatting every one (row by row, then value by value) took 8 s, then 5 s."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # unhashable values (lists): each is formatted
        return values.astype(object).where(values.notna(), None).map(key_part)
    # A null's code is -1: the empty text appended last.
    texts = np.array([*(key_part(value) for value in uniques.astype(object)), ""], dtype=object)
    return pd.Series(texts[codes], index=values.index, dtype=object)


def _is_list(value: Any) -> bool:
    # Arrow list columns arrive from `to_pandas()` as numpy arrays, dict rows as lists.
    return isinstance(value, list | tuple | np.ndarray)


def _list_elements_known(values: pd.Series, known: frozenset[str]) -> pd.Series:
    return values.map(lambda value: not _is_list(value) or all(str(v) in known for v in value))


def _holds_lists(values: pd.Series) -> bool:
    # Only an object column can hold lists: a column of strings or categories is not scanned value by value.
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return False
    return any(_is_list(value) for value in values)


@dataclass
class _Plan:
    """The GX expectations of one batch, each tagged with its readable description and level in `meta`."""

    expectations: list[Any] = field(default_factory=list)

    def add(self, expectation: Any, description: str, level: Level = "row") -> None:
        expectation.meta = {"description": description, "level": level}
        self.expectations.append(expectation)


def expectation_plan(
    suite: Suite, frame: pd.DataFrame, baseline: Baseline, settings: GateSettings, now: datetime
) -> Any:
    """The GX expectations of `suite` for this frame (the frame gains the derived columns they read)."""
    import great_expectations.expectations as gxe

    plan = _Plan()
    present = set(frame.columns)
    if suite.guard_shrink:
        floor = max(1, math.ceil(baseline.row_count * (1 - settings.max_shrink)))
        plan.add(
            gxe.ExpectTableRowCountToBeBetween(min_value=floor),
            f"the batch lists at least {floor} rows (the warehouse's latest batch listed {baseline.row_count}; "
            f"at most {settings.max_shrink:.0%} may disappear at once)",
            "batch",
        )
    for name in suite.not_null:
        if name in present:
            plan.add(gxe.ExpectColumnValuesToNotBeNull(column=name), f"{name} is not null")
    if len(suite.key) == 1 and suite.key[0] in present:
        plan.add(gxe.ExpectColumnValuesToBeUnique(column=suite.key[0]), f"{suite.key[0]} is unique in the batch")
    elif suite.key and all(name in present for name in suite.key):
        described = f"({', '.join(suite.key)}) is unique"
        if suite.optional_key:
            # A null optional part is a value of the key: the rows compare by their key texts.
            frame[KEY_COLUMN] = key_texts(frame, suite.key, suite.optional_key)
            plan.add(gxe.ExpectColumnValuesToBeUnique(column=KEY_COLUMN), described)
        else:
            # A row missing a part has no key. Comparing the columns themselves took a month of probe results 0.25 s,
            # joining them into texts first 0.9 s.
            unique = gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(suite.key), ignore_row_if="any_value_is_missing"
            )
            plan.add(unique, described)
    for name, ceiling in suite.prices.items():
        if name in present:
            plan.add(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0, max_value=ceiling),
                f"{name} is between 0 and {ceiling:g}",
            )
    for cache, price in suite.cache_not_above_input:
        if cache in present and price in present:
            plan.add(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=price, column_B=cache, or_equal=True, ignore_row_if="either_value_is_missing"
                ),
                f"{cache} is not above {price}",
            )
    for name, (low, high) in suite.ranges.items():
        if name in present:
            plan.add(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high),
                f"{name} is between {low:,} and {high:,}",
            )
    for name in suite.not_in_future:
        if name in present:
            plan.add(
                gxe.ExpectColumnValuesToBeBetween(column=name, max_value=pd.Timestamp(now + CLOCK_SKEW)),
                f"{name} is not in the future",
            )
    for name, known in suite.known_values.items():
        if name not in present:
            continue
        listed = ", ".join(sorted(known))
        if _holds_lists(frame[name]):
            derived = f"{name}__known"
            frame[derived] = _list_elements_known(frame[name], known)
            plan.add(gxe.ExpectColumnValuesToBeInSet(column=derived, value_set=[True]), f"{name} within {{{listed}}}")
        else:
            plan.add(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=sorted(known)), f"{name} in {{{listed}}}")
    for check in suite.row_checks:
        if all(name in present for name in check.columns):
            derived = f"{check.name}__passes"
            frame[derived] = check.passes(frame).fillna(True).astype(bool)
            plan.add(gxe.ExpectColumnValuesToBeInSet(column=derived, value_set=[True]), check.description)
    return plan.expectations


def preload_engine() -> threading.Thread:
    """Import Great Expectations in a background thread and return the thread.

    The import costs seconds (it loads scipy and altair); a cycle started this way pays it while it waits on the
    providers and the warehouse instead of in its first gated step. Importing it later simply waits for this one.
    """
    os.environ.update(GX_ENVIRONMENT)
    thread = threading.Thread(
        target=importlib.import_module, args=("great_expectations",), name="preload-great-expectations", daemon=True
    )
    thread.start()
    return thread


def run_expectations(frame: pd.DataFrame, expectations: Sequence[Any], name: str) -> list[ExpectationResult]:
    """Validate `frame` with GX (an ephemeral context: no files, no telemetry) and translate every result."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch under this many bytes by hashing all of it, twice a validation, for a batch marker
    # nothing reads: 1.3 s of a month of probe results. Zero turns the fingerprint off.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("modelatlas")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("batch")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=name, expectations=list(expectations))
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    positions = _positions(frame.index)
    return [_result(item, positions) for item in result.results]


def _positions(index: pd.Index) -> Mapping[Any, int] | None:
    """Row label -> row position; None when the labels are the positions (a million labels took 0.2 s to map)."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return None
    return {label: position for position, label in enumerate(index)}


def _failing_rows(labels: Sequence[Any], positions: Mapping[Any, int] | None) -> tuple[int, ...]:
    if positions is None:
        return tuple(int(label) for label in labels)
    return tuple(positions[label] for label in labels if label in positions)


def _result(item: Any, positions: Mapping[Any, int] | None) -> ExpectationResult:
    config = item.expectation_config
    meta = config.meta or {}
    result = item.result or {}
    raised = isinstance(item.exception_info, dict) and item.exception_info.get("raised_exception")
    observed = result.get("observed_value")
    if observed is None and "partial_unexpected_list" in result:
        observed = [_plain(value) for value in result["partial_unexpected_list"][:20]]
    if raised:
        observed = str(item.exception_info.get("exception_message"))[:500]
    return ExpectationResult(
        expectation=config.type,
        column=config.kwargs.get("column")
        or config.kwargs.get("column_A")
        or _joined(config.kwargs.get("column_list")),
        description=str(meta.get("description", config.type)),
        level=meta.get("level", "row"),
        success=bool(item.success) and not raised,
        observed_value=_plain(observed),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        failing_rows=_failing_rows(result.get("unexpected_index_list") or (), positions),
    )


def _joined(columns: Sequence[str] | None) -> str | None:
    return ", ".join(columns) if columns else None


def _plain(value: Any) -> Any:
    """A JSON-friendly value for dq.validation_results."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return str(value)


def price_jump_result(
    suite: Suite, frame: pd.DataFrame, baseline: Baseline, settings: GateSettings
) -> ExpectationResult:
    """The batch-level price guard: the share of prices that moved `jump_factor`x or more against the warehouse."""
    keys = key_texts(frame, suite.key, suite.optional_key)
    compared = moved = 0
    examples: list[str] = []
    for position, key in enumerate(keys):
        before = baseline.prices.get(tuple(key.split("\x1f"))) if isinstance(key, str) else None
        if not before:
            continue
        for column in suite.jump_columns:
            if column not in frame:
                continue
            new, old = frame[column].iloc[position], before.get(column)
            if old is None or pd.isna(new) or new <= 0 or old <= 0:
                continue  # a price from or to zero has no ratio
            compared += 1
            if max(new / old, old / new) >= settings.jump_factor:
                moved += 1
                if len(examples) < settings.sample_rows:
                    examples.append(f"{key.replace(chr(31), '/')} {column}: {old:g} -> {new:g}")
    share = moved / compared if compared else 0.0
    return ExpectationResult(
        expectation="expect_price_jump_share_to_be_at_most",
        column=None,
        description=(
            f"at most {settings.max_price_jump_share:.0%} of prices move {settings.jump_factor:g}x or more "
            f"({moved} of {compared} did)"
        ),
        level="batch",
        success=share <= settings.max_price_jump_share,
        observed_value={"share": round(share, 4), "moved": moved, "compared": compared, "examples": examples},
        element_count=compared,
        unexpected_count=moved,
        unexpected_percent=round(100 * share, 4),
    )


def column_results(declared: Sequence[str], present: set[str]) -> list[ExpectationResult]:
    """One batch-level result per declared column: a batch without one is blocked (staging reads them)."""
    return [
        ExpectationResult(
            expectation="expect_column_to_exist",
            column=name,
            description=f"the batch has the column {name} (declared by its table)",
            level="batch",
            success=name in present,
        )
        for name in declared
    ]


def validate_batch(
    suite: Suite,
    rows: Rows,
    baseline: Baseline | None = None,
    settings: GateSettings | None = None,
    now: datetime | None = None,
    declared: Sequence[str] = (),
) -> Verdict:
    """Validate one batch (dicts or an Arrow table) against `suite` and the table's `declared` columns."""
    baseline = baseline or Baseline()
    settings = settings or GateSettings()
    frame = validation_frame(suite, rows)
    expectations = expectation_plan(suite, frame, baseline, settings, now or datetime.now(UTC))
    # An empty list of rows has no columns to lack (an Arrow table keeps its schema even empty).
    present = batch_columns(rows) if isinstance(rows, pa.Table) or len(rows) else set(declared)
    results = column_results(declared, present) + run_expectations(frame, expectations, suite.name)
    if suite.jump_columns:
        results.append(price_jump_result(suite, frame, baseline, settings))
    return Verdict(suite=suite, row_count=len(frame), results=tuple(results))
