"""Which dbt models a cycle builds: those whose code or inputs changed since their last build, and what follows."""

from __future__ import annotations

import dagster as dg

from modelatlas.runner import Built, stale_models

RAW = dg.AssetKey(["raw_x", "models"])
OTHER_RAW = dg.AssetKey(["raw_y", "models"])
STAGING = dg.AssetKey(["staging", "stg_x__models"])
OTHER_STAGING = dg.AssetKey(["staging", "stg_y__models"])
MART = dg.AssetKey(["marts", "dim_models"])
ORDER = [STAGING, OTHER_STAGING, MART]
PARENTS = {STAGING: [RAW], OTHER_STAGING: [OTHER_RAW], MART: [STAGING, OTHER_STAGING]}
CODE = {STAGING: "c1", OTHER_STAGING: "c2", MART: "c3"}


def built(code: str, **inputs: str) -> Built:
    return Built(code_version=code, data_version=f"d-{code}", inputs=inputs)


def history(raw: str = "r1", other_raw: str = "o1") -> dict[dg.AssetKey, Built | None]:
    return {
        RAW: Built(code_version=None, data_version=raw),
        OTHER_RAW: Built(code_version=None, data_version=other_raw),
        STAGING: built("c1", **{RAW.to_user_string(): "r1"}),
        OTHER_STAGING: built("c2", **{OTHER_RAW.to_user_string(): "o1"}),
        MART: built("c3", **{STAGING.to_user_string(): "d-c1", OTHER_STAGING.to_user_string(): "d-c2"}),
    }


def test_nothing_is_built_when_every_input_is_unchanged() -> None:
    assert stale_models(ORDER, PARENTS, CODE, history()) == []


def test_a_changed_source_rebuilds_its_models_and_everything_downstream_only() -> None:
    assert stale_models(ORDER, PARENTS, CODE, history(raw="r2")) == [STAGING, MART]
    assert stale_models(ORDER, PARENTS, CODE, history(other_raw="o2")) == [OTHER_STAGING, MART]


def test_a_model_never_built_or_built_from_other_code_is_built() -> None:
    never = {**history(), MART: None}
    assert stale_models(ORDER, PARENTS, CODE, never) == [MART]
    assert stale_models(ORDER, PARENTS, {**CODE, STAGING: "c1-edited"}, history()) == [STAGING, MART]


def test_an_input_that_never_materialized_changes_nothing_once_the_model_exists() -> None:
    # A skipped provider: its staging model was built without it and is not rebuilt for it every cycle.
    skipped = {key: value for key, value in history().items() if key != OTHER_RAW}
    skipped[OTHER_STAGING] = built("c2")
    assert stale_models(ORDER, PARENTS, CODE, skipped) == []
    # Once it does materialize, its models are built.
    assert stale_models(ORDER, PARENTS, CODE, {**skipped, OTHER_RAW: Built(None, "o1")}) == [OTHER_STAGING, MART]


def test_an_input_whose_recorded_version_no_longer_matches_counts_as_changed() -> None:
    vanished = {key: value for key, value in history().items() if key != OTHER_RAW}
    assert stale_models(ORDER, PARENTS, CODE, vanished) == [OTHER_STAGING, MART]


def test_the_versions_come_from_a_materializations_tags() -> None:
    tags = {
        "dagster/code_version": "abc",
        "dagster/data_version": "v9",
        "dagster/input_data_version/raw_x/models": "r1",
        "dagster/input_event_pointer/raw_x/models": "42",
        "dagster/data_version_is_user_provided": "true",
    }
    assert Built.from_tags(tags) == Built(code_version="abc", data_version="v9", inputs={"raw_x/models": "r1"})
