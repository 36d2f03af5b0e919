"""Active probes: the targets are the catalogs whose key is set (or that need none), each probed once per tick with
one untried-again request, timed by httpx's trace events; every failure is a row of its own class, never an error."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.probe import (
    COLUMNS,
    ENVIRONMENT_OPTION,
    ERROR_CLASSES,
    MAX_ERROR_CHARS,
    SPEC,
    TABLE,
    Outcome,
    ProbeTarget,
    Timings,
    error_class,
    probe_batch,
    probe_candidates,
    probe_row,
    probe_targets,
    trace_timings,
)
from modelatlas.pipelines.spec import Batch, Request
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_environment, sample_key

AT = datetime(2026, 3, 14, 9, 26, 0, tzinfo=UTC)
CATALOGS = ("anthropic", "gemini", "huggingface", "mistral", "openai", "openrouter")
KEY = "sk-probe-secret-0123456789"
TARGET = ProbeTarget("openai", "eu", "https://api.example.test/v1/models", secrets=(KEY,))


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with build_simulator(probe_candidates()) as server:
        yield server


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    simulator.clear()
    yield simulator
    simulator.clear()


@pytest.fixture
def env(sim: Simulator) -> dict[str, str]:
    """Every catalog pointed at the simulator with its sample key."""
    return sample_environment(sim, probe_candidates())


def tick(env: Mapping[str, str], *, targets: tuple[str, ...] = (), timeout: float = 2.0) -> Batch:
    options: dict[str, Any] = {"targets": targets, "timeout": timeout, ENVIRONMENT_OPTION: env}
    return probe_batch(Request(SPEC, fetched_at=AT, options=options))


def by_provider(batch: Batch) -> dict[str, dict[str, Any]]:
    rows = batch.tables[TABLE]
    assert isinstance(rows, list)
    return {row["provider"]: row for row in rows}


# --- the row of one probe (pure) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome(Timings(), status=200), None),
        (Outcome(Timings(), status=204), None),
        (Outcome(Timings(), status=429), "rate_limited"),
        (Outcome(Timings(), status=401), "auth"),
        (Outcome(Timings(), status=403), "auth"),
        (Outcome(Timings(), status=400, key_rejected=True), "auth"),
        (Outcome(Timings(), status=400), "client_error"),
        (Outcome(Timings(), status=404), "client_error"),
        (Outcome(Timings(), status=302), "client_error"),
        (Outcome(Timings(), status=500), "server_error"),
        (Outcome(Timings(), status=529), "server_error"),
        (Outcome(Timings(), exception=httpx.ReadTimeout("timed out")), "timeout"),
        (Outcome(Timings(), exception=httpx.ConnectTimeout("timed out")), "timeout"),
        (Outcome(Timings(), exception=httpx.ConnectError("[Errno 111] Connection refused")), "connection"),
        (Outcome(Timings(), exception=httpx.RemoteProtocolError("Server disconnected")), "connection"),
        (Outcome(Timings()), "connection"),
    ],
)
def test_error_class_of_each_outcome(outcome: Outcome, expected: str | None) -> None:
    assert error_class(outcome) == expected
    assert expected is None or expected in ERROR_CLASSES


def test_a_successful_probe_row_carries_its_timings_and_no_error() -> None:
    timings = Timings(dns_connect_ms=12.5, ttfb_ms=80.25, total_ms=101.0)
    row = probe_row(TARGET, AT, Outcome(timings, status=200))
    assert row == {
        "observed_at": AT,
        "provider": "openai",
        "region": "eu",
        "target": "https://api.example.test/v1/models",
        "http_status": 200,
        "ok": True,
        "error_class": None,
        "dns_connect_ms": 12.5,
        "ttfb_ms": 80.25,
        "total_ms": 101.0,
        "error": None,
    }
    assert set(row) == set(COLUMNS)


def test_a_failed_probe_row_says_why_in_short_without_the_key() -> None:
    detail = f"Incorrect API key provided: {KEY}. " + "You can find your API key at the dashboard. " * 20
    row = probe_row(TARGET, AT, Outcome(Timings(total_ms=40.0), status=401, detail=detail))
    assert (row["ok"], row["error_class"], row["http_status"]) == (False, "auth", 401)
    assert row["error"].startswith("HTTP 401: Incorrect API key provided: ***.")
    assert KEY not in row["error"]
    assert len(row["error"]) <= MAX_ERROR_CHARS


def test_a_probe_without_a_response_has_no_status_and_names_the_exception() -> None:
    row = probe_row(TARGET, AT, Outcome(Timings(total_ms=300.0), exception=httpx.ReadTimeout("timed out")))
    assert (row["ok"], row["error_class"], row["http_status"]) == (False, "timeout", None)
    assert row["error"] == "ReadTimeout: timed out"


def test_trace_timings_measure_connect_tls_first_byte_and_total() -> None:
    marks = {
        "connect_tcp.started": 10.000,
        "connect_tcp.complete": 10.020,
        "start_tls.complete": 10.050,
        "send_request_headers.started": 10.051,
        "receive_response_headers.complete": 10.251,
    }
    timings = trace_timings(marks, started=9.999, finished=10.300)
    assert timings.dns_connect_ms == pytest.approx(50.0)
    assert timings.ttfb_ms == pytest.approx(200.0)
    assert timings.total_ms == pytest.approx(301.0)


def test_trace_timings_without_tls_end_the_connect_at_tcp_and_leave_unreached_phases_null() -> None:
    plain = trace_timings({"connect_tcp.started": 1.0, "connect_tcp.complete": 1.004}, started=1.0, finished=1.5)
    assert plain.dns_connect_ms == pytest.approx(4.0)
    assert plain.ttfb_ms is None
    assert plain.total_ms == pytest.approx(500.0)
    reused = trace_timings({"send_request_headers.started": 2.0}, started=2.0, finished=2.1)
    assert (reused.dns_connect_ms, reused.ttfb_ms) == (None, None)


# --- targets and settings -------------------------------------------------------------------------------------------


def test_the_candidates_are_the_catalogs_with_an_api() -> None:
    assert tuple(spec.name for spec in probe_candidates()) == CATALOGS


def test_without_keys_only_the_keyless_catalogs_are_probed() -> None:
    targets, left_out = probe_targets((), {})
    assert [target.provider for target in targets] == ["huggingface", "openrouter"]
    assert "openai not probed: OPENAI_API_KEY is not set" in left_out
    assert len(left_out) == 4


def test_a_target_asks_for_one_item_with_its_key_in_a_header_never_in_the_url() -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY, "MODELATLAS_OPENAI_REGION": "eu"}
    targets = {target.provider: target for target in probe_targets((), env)[0]}
    assert set(targets) == {"anthropic", "gemini", "huggingface", "openai", "openrouter"}
    assert targets["anthropic"].url == "https://api.anthropic.com/v1/models?limit=1"
    assert targets["anthropic"].headers == {"anthropic-version": "2023-06-01", "x-api-key": KEY}
    assert targets["gemini"].url == "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1"
    assert targets["gemini"].rejects_key is not None
    assert targets["openai"].url == "https://api.openai.com/v1/models"
    assert targets["openai"].headers == {"Authorization": f"Bearer {KEY}"}
    assert targets["openai"].region == "eu"
    assert targets["huggingface"].url == "https://huggingface.co/api/models?limit=1"
    assert targets["huggingface"].headers == {}
    assert all(KEY not in target.url and KEY not in repr(target) for target in targets.values())


def test_settings_choose_the_targets_and_the_timeout() -> None:
    env = {"MODELATLAS_PROBE_TARGETS": " openai, huggingface ,openai", "MODELATLAS_PROBE_TIMEOUT": "2.5"}
    assert source_config(SPEC, env).options == {"targets": ("openai", "huggingface"), "timeout": 2.5}
    assert source_config(SPEC, {}).options == {"targets": (), "timeout": 10.0}
    targets, left_out = probe_targets(("openai", "huggingface"), {})
    assert [target.provider for target in targets] == ["huggingface"]
    assert left_out == ["openai not probed: OPENAI_API_KEY is not set"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODELATLAS_PROBE_TARGETS", "openai,litellm", r"MODELATLAS_PROBE_TARGETS names 'litellm'.*anthropic"),
        ("MODELATLAS_PROBE_TIMEOUT", "soon", r"MODELATLAS_PROBE_TIMEOUT='soon' is not a number"),
        ("MODELATLAS_PROBE_TIMEOUT", "0", r"MODELATLAS_PROBE_TIMEOUT must be more than 0"),
    ],
)
def test_a_malformed_setting_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        source_config(SPEC, {variable: value})


def test_a_target_whose_own_settings_are_malformed_is_left_out_with_the_reason() -> None:
    targets, left_out = probe_targets(("openrouter",), {"MODELATLAS_OPENROUTER_BASE_URL": "ftp://nowhere"})
    assert targets == []
    assert left_out == [
        "openrouter not probed: MODELATLAS_OPENROUTER_BASE_URL must be an http(s) URL, got 'ftp://nowhere'"
    ]


# --- ticks through the simulator ------------------------------------------------------------------------------------


def test_a_healthy_tick_probes_every_catalog_once_and_observes_them_at_the_request_time(
    sim: Simulator, env: dict[str, str]
) -> None:
    batch = tick(env)
    rows = by_provider(batch)
    assert set(rows) == set(CATALOGS)
    for name, row in rows.items():
        assert row["ok"] is True, row
        assert (row["http_status"], row["error_class"], row["error"]) == (200, None, None)
        assert row["observed_at"] == AT
        assert row["region"] == "sample"
        assert row["target"].startswith(sim.root_url(name))
        assert row["dns_connect_ms"] is not None and row["dns_connect_ms"] >= 0
        assert 0 <= row["ttfb_ms"] <= row["total_ms"]
        assert len(sim.requests_to(name)) == 1
    assert batch.metadata == {"probes": 6, "failed": 0, "slowest_ms": max(r["total_ms"] for r in rows.values())}
    assert batch.notes == ()


def test_each_tick_measures_a_fresh_connect(sim: Simulator, env: dict[str, str]) -> None:
    first, second = tick(env, targets=("openai",)), tick(env, targets=("openai",))
    assert by_provider(first)["openai"]["dns_connect_ms"] is not None
    assert by_provider(second)["openai"]["dns_connect_ms"] is not None


def test_a_server_error_is_a_row_after_exactly_one_request(sim: Simulator, env: dict[str, str]) -> None:
    sim.inject("openai", Fault("server_error", count=5, status=503))
    rows = by_provider(tick(env))
    assert rows["openai"]["ok"] is False
    assert (rows["openai"]["http_status"], rows["openai"]["error_class"]) == (503, "server_error")
    assert rows["openai"]["error"].startswith("HTTP 503: ")
    assert rows["openai"]["ttfb_ms"] is not None
    assert len(sim.requests_to("openai")) == 1
    assert all(row["ok"] for name, row in rows.items() if name != "openai")


def test_a_probe_slower_than_the_timeout_is_a_timeout_row(sim: Simulator, env: dict[str, str]) -> None:
    sim.inject("anthropic", Fault("slow", delay_s=1.0))
    started = time.monotonic()
    batch = tick(env, targets=("anthropic", "openai"), timeout=0.3)
    assert time.monotonic() - started < 0.9
    rows = by_provider(batch)
    assert (rows["anthropic"]["ok"], rows["anthropic"]["error_class"]) == (False, "timeout")
    assert (rows["anthropic"]["http_status"], rows["anthropic"]["ttfb_ms"]) == (None, None)
    assert rows["anthropic"]["total_ms"] >= 300
    assert rows["anthropic"]["error"].startswith("ReadTimeout")
    assert rows["openai"]["ok"] is True
    assert batch.metadata["failed"] == 1
    assert batch.notes == ("failing: anthropic (timeout)",)


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        (Fault("status", status=401), 401, "auth"),
        (Fault("status", status=403), 403, "auth"),
        (Fault("rate_limit", retry_after_s=30), 429, "rate_limited"),
        (Fault("status", status=404), 404, "client_error"),
    ],
)
def test_refusals_are_rows_of_their_class(
    sim: Simulator, env: dict[str, str], fault: Fault, status: int, kind: str
) -> None:
    sim.inject("mistral", fault)
    row = by_provider(tick(env, targets=("mistral",)))["mistral"]
    assert (row["ok"], row["http_status"], row["error_class"]) == (False, status, kind)
    assert len(sim.requests_to("mistral")) == 1


def test_a_rejected_key_is_an_auth_row_without_the_key(sim: Simulator, env: dict[str, str]) -> None:
    wrong = {**env, "GEMINI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY}
    rows = by_provider(tick(wrong, targets=("gemini", "anthropic")))
    # Gemini answers a bad key with 400 API_KEY_INVALID, which its spec reads as a rejected key.
    assert (rows["gemini"]["http_status"], rows["gemini"]["error_class"]) == (400, "auth")
    assert (rows["anthropic"]["http_status"], rows["anthropic"]["error_class"]) == (401, "auth")
    assert all(KEY not in str(value) for row in rows.values() for value in row.values())
    assert all(sample_key(name) not in str(row) for name in CATALOGS for row in rows.values())


def test_an_unreachable_target_is_a_connection_row(env: dict[str, str], closed_port_url: str) -> None:
    closed = {**env, "MODELATLAS_OPENAI_BASE_URL": closed_port_url.removesuffix("/data.json")}
    row = by_provider(tick(closed, targets=("openai",)))["openai"]
    assert (row["ok"], row["http_status"], row["error_class"]) == (False, None, "connection")
    assert row["error"].startswith("ConnectError")
    assert row["dns_connect_ms"] is None


def test_targets_are_probed_concurrently(sim: Simulator, env: dict[str, str]) -> None:
    for name in CATALOGS:
        sim.inject(name, Fault("slow", delay_s=0.4))
    started = time.monotonic()
    rows = by_provider(tick(env))
    assert time.monotonic() - started < 1.2
    assert all(row["ok"] and row["total_ms"] >= 400 for row in rows.values())


def test_a_tick_without_an_eligible_target_has_no_rows_and_says_why(sim: Simulator) -> None:
    batch = tick({}, targets=("openai", "mistral"))
    assert batch.tables[TABLE] == []
    assert batch.notes == (
        "mistral not probed: MISTRAL_API_KEY is not set",
        "openai not probed: OPENAI_API_KEY is not set",
    )
    assert batch.metadata == {"probes": 0, "failed": 0, "slowest_ms": None}
    assert sim.requests == []


def test_without_an_environment_option_the_targets_come_from_the_process_environment(
    sim: Simulator, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    request = Request(SPEC, fetched_at=AT, options=source_config(SPEC, {"MODELATLAS_PROBE_TARGETS": "mistral"}).options)
    row = by_provider(probe_batch(request))["mistral"]
    assert row["ok"] is True
    assert row["target"] == f"{sim.root_url('mistral')}/v1/models"


# --- the spec ---------------------------------------------------------------------------------------------------------


def test_the_spec_declares_an_appended_time_series_in_the_status_group() -> None:
    table = SPEC.table(TABLE)
    assert (SPEC.kind, SPEC.asset_group, SPEC.cadence) == ("status", "status", "* * * * *")
    assert (SPEC.credential, SPEC.base_url, SPEC.simulator) == (None, None, None)
    assert (table.dataset, table.time_column, table.disposition) == ("ts", "observed_at", "append")
    assert SPEC.table_dataset(table) == "ts"
    assert table.suite is not None and table.suite.guard_shrink is False
    assert table.suite.known_values == {"error_class": ERROR_CLASSES}
    assert set(table.suite.not_null) == {"observed_at", "provider", "region", "ok"}
    assert list(SPEC.variables()) == ["MODELATLAS_PROBE_CRON", "MODELATLAS_PROBE_TARGETS", "MODELATLAS_PROBE_TIMEOUT"]
