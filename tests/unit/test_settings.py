"""Warehouse settings and durations read from MODELATLAS_* variables, with errors that say what to set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelatlas.settings as settings_module
from modelatlas.errors import ConfigurationError
from modelatlas.settings import DEFAULT_WAREHOUSE_PORT, environment, parse_port, parse_seconds, warehouse_settings

PROJECT = Path(settings_module.__file__).resolve().parent.parent


def test_defaults_are_the_embedded_warehouse() -> None:
    settings = warehouse_settings({})

    assert settings.url is None
    assert settings.embedded is True
    assert settings.home == PROJECT / ".modelatlas"
    assert settings.port == DEFAULT_WAREHOUSE_PORT == 5433
    assert settings.password is None
    assert settings.dagster_database is None


def test_an_external_warehouse() -> None:
    settings = warehouse_settings(
        {
            "MODELATLAS_WAREHOUSE_URL": "  postgresql://ma:pw@db.internal:5432/modelatlas  ",
            "MODELATLAS_WAREHOUSE_PASSWORD": "embedded-pw",
            "MODELATLAS_DAGSTER_DATABASE": "dagster_runs",
        }
    )

    assert settings.url == "postgresql://ma:pw@db.internal:5432/modelatlas"
    assert settings.embedded is False
    assert settings.password == "embedded-pw"
    assert settings.dagster_database == "dagster_runs"


def test_the_postgres_scheme_alias_is_accepted() -> None:
    assert warehouse_settings({"MODELATLAS_WAREHOUSE_URL": "postgres://h/db"}).url == "postgres://h/db"


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_url_means_the_embedded_warehouse(blank: str) -> None:
    assert warehouse_settings({"MODELATLAS_WAREHOUSE_URL": blank}).embedded is True


@pytest.mark.parametrize("url", ["mysql://ma:hunter22@db/modelatlas", "db.internal:5432", "sqlite:///x.db"])
def test_a_url_that_is_not_postgresql_is_rejected_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        warehouse_settings({"MODELATLAS_WAREHOUSE_URL": url})

    message = str(raised.value)
    assert message.startswith("MODELATLAS_WAREHOUSE_URL must be a postgresql:// URL")
    assert "unset it to use the embedded warehouse" in message
    assert url not in message


def test_blank_password_and_dagster_database_are_unset() -> None:
    settings = warehouse_settings({"MODELATLAS_WAREHOUSE_PASSWORD": "", "MODELATLAS_DAGSTER_DATABASE": ""})

    assert (settings.password, settings.dagster_database) == (None, None)


def test_settings_are_read_from_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_PORT", "6543")
    monkeypatch.delenv("MODELATLAS_WAREHOUSE_URL", raising=False)

    assert warehouse_settings().port == 6543
    assert warehouse_settings({}).port == DEFAULT_WAREHOUSE_PORT


# --- MODELATLAS_HOME ----------------------------------------------------------------------------------------------


def test_home_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))

    assert warehouse_settings({"MODELATLAS_HOME": "state"}).home == tmp_path.resolve() / "state"
    assert warehouse_settings({"MODELATLAS_HOME": "~/ma"}).home == (tmp_path / "user" / "ma").resolve()
    assert warehouse_settings({"MODELATLAS_HOME": f" {tmp_path}/abs "}).home == tmp_path.resolve() / "abs"
    assert warehouse_settings({"MODELATLAS_HOME": "  "}).home == PROJECT / ".modelatlas"


# --- ports --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "port"), [("1", 1), ("65535", 65535), (" 6000 ", 6000), ("", 5433), ("  ", 5433)])
def test_warehouse_port(raw: str, port: int) -> None:
    assert warehouse_settings({"MODELATLAS_WAREHOUSE_PORT": raw}).port == port


@pytest.mark.parametrize("raw", ["abc", "54.32", "5433/tcp"])
def test_a_port_that_is_not_a_number(raw: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        warehouse_settings({"MODELATLAS_WAREHOUSE_PORT": raw})

    assert str(raised.value) == (
        f"MODELATLAS_WAREHOUSE_PORT={raw!r} is not a port number: set it to a number such as 5433"
    )


@pytest.mark.parametrize("raw", ["0", "-1", "65536", "100000"])
def test_a_port_out_of_range(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=f"MODELATLAS_WAREHOUSE_PORT={int(raw)} is out of range"):
        warehouse_settings({"MODELATLAS_WAREHOUSE_PORT": raw})


def test_parse_port_names_the_setting() -> None:
    assert parse_port(None, 8080, "MODELATLAS_UI_PORT") == 8080
    with pytest.raises(ConfigurationError, match=r"MODELATLAS_UI_PORT='x' is not a port number.*such as 8080"):
        parse_port("x", 8080, "MODELATLAS_UI_PORT")


# --- parse_seconds ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 5.0), ("", 5.0), (" ", 5.0), ("2.5", 2.5), ("30", 30.0), ("1e-3", 0.001)]
)
def test_parse_seconds(raw: str | None, seconds: float) -> None:
    assert parse_seconds(raw, 5.0) == seconds


def test_parse_seconds_rejects_text() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_seconds("five", 5.0)

    assert str(raised.value) == "MODELATLAS_GENAI_PRICES_TIMEOUT='five' is not a number of seconds"


@pytest.mark.parametrize("raw", ["0", "-1", "-0.5"])
def test_parse_seconds_rejects_durations_that_are_not_positive(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^MODELATLAS_X_TIMEOUT must be more than 0 seconds$"):
        parse_seconds(raw, 5.0, "MODELATLAS_X_TIMEOUT")


def test_parse_seconds_rejects_nan() -> None:
    # NaN compares false with everything, so it slips past `seconds <= 0`; socket timeouts reject it later.
    with pytest.raises(ConfigurationError, match="MODELATLAS_GENAI_PRICES_TIMEOUT"):
        parse_seconds("nan", 5.0)


def test_environment_sets_and_unsets_for_a_block_and_restores_even_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_TEST_KEPT", "before")
    monkeypatch.delenv("MODELATLAS_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError), environment({"MODELATLAS_TEST_KEPT": None, "MODELATLAS_TEST_NEW": "inside"}):
        assert "MODELATLAS_TEST_KEPT" not in os.environ
        assert os.environ["MODELATLAS_TEST_NEW"] == "inside"
        raise RuntimeError("the block failed")
    assert os.environ["MODELATLAS_TEST_KEPT"] == "before"
    assert "MODELATLAS_TEST_NEW" not in os.environ


def test_outage_min_failures_and_model_cadences_come_from_the_environment() -> None:
    from modelatlas.settings import model_cadence_cron, outage_min_failures

    assert outage_min_failures({}) == 3
    assert outage_min_failures({"MODELATLAS_OUTAGE_MIN_FAILURES": "5"}) == 5
    with pytest.raises(ConfigurationError, match="MODELATLAS_OUTAGE_MIN_FAILURES must be a whole number"):
        outage_min_failures({"MODELATLAS_OUTAGE_MIN_FAILURES": "0"})
    assert model_cadence_cron("current", {}) == "*/2 * * * *"
    assert model_cadence_cron("daily", {"MODELATLAS_DAILY_MARTS_CRON": "0 * * * *"}) == "0 * * * *"
    with pytest.raises(ConfigurationError, match="MODELATLAS_STATUS_MARTS_CRON must be a cron expression"):
        model_cadence_cron("current", {"MODELATLAS_STATUS_MARTS_CRON": "every minute"})
    with pytest.raises(ConfigurationError, match="unknown modelatlas_cadence 'hourly'"):
        model_cadence_cron("hourly", {})


def test_a_required_setting_unset_or_empty_skips_its_source_and_set_is_given_to_the_fetch() -> None:
    from modelatlas.pipelines.spec import Setting, SourceSpec
    from modelatlas.settings import source_config

    spec = SourceSpec(
        name="folder",
        display_name="Folder",
        description="Reads a folder.",
        kind="usage",
        tables=(),
        settings=(Setting("DIR", "", "the folder", option="folder", required=True, variable="MODELATLAS_FOLDER"),),
    )
    for env in ({}, {"MODELATLAS_FOLDER": "  "}):
        assert source_config(spec, env).skip_reason == "skipped: MODELATLAS_FOLDER is not set"
    config = source_config(spec, {"MODELATLAS_FOLDER": "/data/usage"})
    assert config.skip_reason is None
    assert config.options == {"folder": "/data/usage"}


def test_usage_variables_have_defaults_and_bad_values_say_what_to_fix() -> None:
    from modelatlas.settings import usage_variables

    assert usage_variables({}) == {"budget_warning_share": 0.8, "cost_reconciliation_threshold": 0.02}
    assert usage_variables({"MODELATLAS_USAGE_AS_OF": "2026-01-10", "MODELATLAS_BUDGET_WARNING_SHARE": "0.9"}) == {
        "budget_warning_share": 0.9,
        "cost_reconciliation_threshold": 0.02,
        "usage_as_of": "2026-01-10",
    }
    for variable, value in (
        ("MODELATLAS_BUDGET_WARNING_SHARE", "80%"),
        ("MODELATLAS_COST_RECONCILIATION_THRESHOLD", "0"),
        ("MODELATLAS_USAGE_AS_OF", "yesterday"),
    ):
        with pytest.raises(ConfigurationError, match=variable):
            usage_variables({variable: value})
