"""The registry gate's tier check: thresholds must rise within one price, whatever the other prices do."""

from __future__ import annotations

import pandas as pd

from modelatlas.pipelines.genai_prices.expectations import tier_thresholds_increasing


def frame(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "provider_id": "p",
                "model_id": model,
                "component": component,
                "effective_from": None,
                "window_start_utc": None,
                "variant": None,
                "above_input_tokens": threshold,
            }
            for model, component, threshold in rows
        ]
    )


def test_rising_tiers_pass_and_a_falling_tier_fails_only_itself() -> None:
    rows = [
        ("m1", "input", None),
        ("m1", "input", 128_000),
        ("m1", "input", 200_000),
        ("m1", "output", None),
        ("m1", "output", 200_000),
        ("m1", "output", 100_000),
        ("m2", "input", 100_000),
    ]
    assert tier_thresholds_increasing(frame(rows)).tolist() == [True, True, True, True, True, False, True]


def test_groups_are_kept_apart_even_when_their_rows_interleave() -> None:
    rows = [("m1", "input", 200_000), ("m2", "input", 100_000), ("m1", "input", 300_000), ("m2", "input", 100_000)]
    assert tier_thresholds_increasing(frame(rows)).tolist() == [True, True, True, False]
