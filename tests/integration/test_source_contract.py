"""The contract every provider catalog keeps, as one suite run for each catalog spec against the simulator.

Each catalog is fetched with a small page size (every page of every listing), loaded through the gate into the
session's PostgreSQL, and made to meet each of the simulator's faults. What a provider does differently (its key
header, its pages, its error bodies) comes from its spec and its simulated API; the two facts this file states
itself are named where they are used (OpenRouter's 429 without a delay, Hugging Face's listing per organisation).

Loads share datasets to stay fast: `raw_<source>_contract` holds the catalog as first loaded and only ever gets
the same catalog again (or nothing: every failure case checks that it is left exactly as it was);
`raw_<source>_faults` takes the batches that the payload faults changed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, cast, get_args

import httpx
import pyarrow as pa
import pytest

from modelatlas.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    SourceError,
    SourceUnreachableError,
)
from modelatlas.pipelines import engine, registry
from modelatlas.pipelines.engine import SourceLoad
from modelatlas.pipelines.http import RetryPolicy, error_message
from modelatlas.pipelines.huggingface import DEFAULT_ORGANIZATIONS
from modelatlas.pipelines.quality.validation import batch_columns
from modelatlas.pipelines.spec import Batch, Catalog, Credential, Request, Rows, SourceSpec
from modelatlas.settings import source_config
from modelatlas.simulator import Fault, Simulator, build_simulator, sample_environment, sample_key
from modelatlas.simulator.core import FaultKind, SimRequest, SimResponse
from modelatlas.simulator.server import LoggedRequest
from modelatlas.warehouse import ConnectionInfo, read_only_query
from tests.conftest import free_port

CATALOGS = [spec for spec in registry.sources() if spec.kind == "catalog"]
FAST = RetryPolicy(attempts=4, initial_wait_s=0.05, max_wait_s=0.2, budget_s=20, read_timeout_s=1.0)
SMALL_PAGE = 5
# Longer than any backoff FAST picks (0.2 s + 0.05 s jitter): a wait this long was the advertised one.
ADVERTISED_DELAY_S = 0.3
# OpenRouter's 429 may carry no delay at all (the example in its docs has none): the client backs off instead.
NO_ADVERTISED_DELAY = frozenset({"openrouter"})
UNKNOWN_FIELD = "x_simulator_unannounced"
POSTGRES_TYPES = {
    "text": "character varying",
    "bigint": "bigint",
    "double": "double precision",
    "bool": "boolean",
    "timestamp": "timestamp with time zone",
    "date": "date",
    "json": "jsonb",
    "decimal": "numeric",
}
PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "bigint": int,
    "double": float,
    "bool": bool,
    "timestamp": datetime,
    "date": date,
    "json": (dict, list),
    "decimal": Decimal,
}

# Faults a fetch rides out: each retried, the catalog complete. `skip` lets the first page through.
TRANSIENT: dict[str, Callable[[int], list[Fault]]] = {
    "rate_limit": lambda skip: [Fault("rate_limit", skip=skip, retry_after_s=ADVERTISED_DELAY_S)],
    "server_error": lambda skip: [
        Fault("server_error", skip=skip, status=500),
        Fault("server_error", status=503),
        Fault("server_error", status=529),  # Anthropic's "overloaded"
    ],
    "slow": lambda skip: [Fault("slow", skip=skip, delay_s=1.5)],
}
# Faults that fail the fetch: (faults, error, message, requests made). Truncated and refused pages land after the
# first page where the catalog pages; the endless ones on the first request, since their message counts the
# client's requests so far as the attempts.
FAILING: dict[str, tuple[Callable[[int], list[Fault]], type[SourceError], str, Callable[[int], int]]] = {
    "truncated": (
        lambda skip: [Fault("truncated", skip=skip)],
        SourceError,
        r"returned malformed JSON",
        lambda skip: skip + 1,
    ),
    "status": (
        lambda skip: [Fault("status", skip=skip, status=404)],
        SourceError,
        r"answered HTTP 404: Simulated HTTP 404$",
        lambda skip: skip + 1,
    ),
    "rate_limit_persists": (
        lambda _: [Fault("rate_limit", count=10, retry_after_s=0.05)],
        RateLimitedError,
        rf"rate limited \(429\) after {FAST.attempts} attempts: \S",
        lambda _: FAST.attempts,
    ),
    "server_error_persists": (
        lambda _: [Fault("server_error", count=10, status=503)],
        SourceError,
        rf"answered HTTP 503 after {FAST.attempts} attempts: \S",
        lambda _: FAST.attempts,
    ),
}


@dataclass
class Baseline:
    """The first load of a catalog into its contract dataset, with what the simulator and the logs saw of it."""

    dataset: str
    load: SourceLoad
    requests: list[LoggedRequest]
    log: str


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=CATALOGS, ids=lambda spec: spec.name)
def spec(request: pytest.FixtureRequest) -> SourceSpec:
    return cast(SourceSpec, request.param)


@pytest.fixture(scope="module")
def simulator(spec: SourceSpec) -> Iterator[Simulator]:
    with build_simulator([spec]) as server:
        yield server


@pytest.fixture(scope="module")
def env(spec: SourceSpec, simulator: Simulator) -> dict[str, str]:
    return sample_environment(simulator, [spec])


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipelines")


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The spec's simulator with no fault pending and no request logged."""
    simulator.clear()
    yield simulator
    simulator.clear()


@pytest.fixture(scope="module")
def baseline(
    spec: SourceSpec, simulator: Simulator, env: dict[str, str], connection: ConnectionInfo, pipelines_dir: Path
) -> Baseline:
    simulator.clear()
    with captured_logs() as records:
        load = load_into(spec, env, connection, pipelines_dir, "contract")
    return Baseline(f"raw_{spec.name}_contract", load, simulator.requests_to(spec.name), "\n".join(records))


# --- helpers ------------------------------------------------------------------------------------------------------


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log record of every logger, DEBUG and up, formatted with its arguments."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    root = logging.getLogger()
    handler, level = Collect(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def load_into(
    spec: SourceSpec, env: Mapping[str, str], connection: ConnectionInfo, pipelines_dir: Path, case: str
) -> SourceLoad:
    return engine.load_standalone(
        spec,
        connection,
        pipelines_dir,
        env=env,
        dataset=f"raw_{spec.name}_{case}",
        policy=FAST,
        page_size=SMALL_PAGE,
    )


def fetch_request(spec: SourceSpec, env: Mapping[str, str]) -> Request:
    return engine.request_for(spec, source_config(spec, env), policy=FAST, page_size=SMALL_PAGE)


def catalog(spec: SourceSpec) -> Catalog:
    assert spec.catalog is not None
    return spec.catalog


def credential(spec: SourceSpec) -> Credential:
    assert spec.credential is not None
    return spec.credential


def served(simulator: Simulator, spec: SourceSpec) -> list[dict[str, Any]]:
    """The models the simulated provider lists."""
    models: list[dict[str, Any]] = cast(Any, simulator.handlers[spec.name]).models
    return models


def expected_ids(simulator: Simulator, spec: SourceSpec) -> set[str]:
    ids = {catalog(spec).identify(item) for item in served(simulator, spec)}
    assert None not in ids
    return cast(set[str], ids)


def pages_by_size(spec: SourceSpec) -> bool:
    """Whether the catalog's endpoint pages at a size the client asks for."""
    return catalog(spec).endpoint.paginator.size is not None


def expected_pages(simulator: Simulator, spec: SourceSpec) -> int:
    """The pages one fetch takes at SMALL_PAGE: each listing's items in pages, an empty listing one empty page."""
    models = served(simulator, spec)
    if spec.name == "huggingface":  # one listing per tracked organisation
        listings = [sum(1 for m in models if m["author"].lower() == org.lower()) for org in DEFAULT_ORGANIZATIONS]
    else:
        listings = [len(models)]
    if not pages_by_size(spec):
        return len(listings)
    return sum(max(1, math.ceil(count / SMALL_PAGE)) for count in listings)


def first_skip(spec: SourceSpec) -> int:
    """Requests to let through before a fault: one page where the catalog pages, so the fault lands on a later one."""
    return 1 if pages_by_size(spec) else 0


def batch_ids(batch: Batch) -> set[str]:
    rows = batch.tables["models"]
    ids = rows.column("id").to_pylist() if isinstance(rows, pa.Table) else [row["id"] for row in rows]
    return set(ids)


def rows_of(rows: Rows) -> list[Mapping[str, Any]]:
    return rows.to_pylist() if isinstance(rows, pa.Table) else list(rows)


def query(connection: ConnectionInfo, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    _, rows = read_only_query(connection, sql, list(params))
    return list(rows)


def contents(connection: ConnectionInfo, spec: SourceSpec, dataset: str) -> dict[str, list[str]]:
    """Every row of every table of the source in `dataset`, whole, as text: what a load that fails must not touch."""
    return {
        table.name: [row[0] for row in query(connection, f"select t::text from {dataset}.{table.name} t order by 1")]
        for table in spec.tables
    }


def ids_loaded(connection: ConnectionInfo, dataset: str, batch_id: str) -> list[str | None]:
    return [row[0] for row in query(connection, f"select id from {dataset}.models where batch_id = %s", batch_id)]


def as_response(simulated: SimResponse) -> httpx.Response:
    return httpx.Response(simulated.status, headers=simulated.headers, content=simulated.encoded())


# --- a clean fetch and load ---------------------------------------------------------------------------------------


def test_every_page_is_fetched_and_every_model_lands(
    spec: SourceSpec, simulator: Simulator, baseline: Baseline, connection: ConnectionInfo
) -> None:
    ids = expected_ids(simulator, spec)
    pages = expected_pages(simulator, spec)
    stats = baseline.load.stats

    assert stats.pages == stats.requests == len(baseline.requests) == pages
    if pages_by_size(spec):
        assert pages > 1, "the small page size must make the catalog span pages"
        size_param = catalog(spec).endpoint.paginator.size.param  # type: ignore[union-attr]
        assert all(request.query[size_param] == [str(SMALL_PAGE)] for request in baseline.requests)
    asked = [(request.path, json.dumps(request.query, sort_keys=True)) for request in baseline.requests]
    assert len(set(asked)) == len(asked), "no page was fetched twice"
    assert set(ids_loaded(connection, baseline.dataset, baseline.load.gate.batch_id)) == ids
    assert query(connection, f"select count(*), count(distinct id) from {baseline.dataset}.models") == [
        (len(ids), len(ids))
    ]
    assert query(connection, f"select distinct region from {baseline.dataset}.models") == [("sample",)]
    assert baseline.load.report().startswith(f"{spec.name}: {len(ids)} models ({len(ids)} added, 0 removed, 0 changed)")
    assert baseline.load.gate.quarantined_counts() == dict.fromkeys(baseline.load.gate.verdicts, 0)


def test_the_key_travels_in_its_header_only(
    spec: SourceSpec, simulator: Simulator, baseline: Baseline, connection: ConnectionInfo
) -> None:
    key = sample_key(spec.name)
    expected = {name.lower(): value for name, value in {**spec.headers, **credential(spec).headers(key)}.items()}

    for request in baseline.requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert {name: headers.get(name) for name in expected} == expected
        assert [name for name, value in headers.items() if key in value] == [credential(spec).header.lower()]
        assert key not in request.path and key not in json.dumps(request.query)
    assert simulator.root_url(spec.name) in baseline.log, "the requests were logged, so the log could have leaked"
    assert key not in baseline.log
    assert key not in baseline.load.report()
    for table in spec.tables:
        leaked = f"select count(*) from {baseline.dataset}.{table.name} t where t::text like %s"
        assert query(connection, leaked, f"%{key}%") == [(0,)]


def test_every_declared_column_is_in_the_batch_and_in_the_table(
    spec: SourceSpec, baseline: Baseline, connection: ConnectionInfo
) -> None:
    for table in spec.tables:
        rows = baseline.load.batch.tables[table.name]
        assert batch_columns(rows) == set(table.columns), table.name
        for row in rows_of(rows):
            for name, declared in table.columns.items():
                value = row[name]
                if declared == "json" and isinstance(value, str):
                    value = json.loads(value)  # Arrow batches carry JSON as text
                if value is None:
                    continue
                assert isinstance(value, PYTHON_TYPES[declared]), (table.name, name, value)
                assert not isinstance(value, bool) or declared == "bool", (table.name, name, value)
                assert declared != "date" or type(value) is date, (table.name, name, value)
                assert declared != "timestamp" or value.tzinfo is not None, (table.name, name, value)
        in_table = {
            name: (data_type, precision, scale)
            for name, data_type, precision, scale in query(
                connection,
                "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns"
                " where table_schema = %s and table_name = %s",
                baseline.dataset,
                table.name,
            )
        }
        for name, declared in table.columns.items():
            data_type, precision, scale = in_table[name]
            assert data_type == POSTGRES_TYPES[declared], (table.name, name)
            if declared == "decimal":
                assert (precision, scale) == (38, table.decimal_scale), (table.name, name)


def test_each_row_holds_what_its_item_says(
    spec: SourceSpec, simulator: Simulator, baseline: Baseline, connection: ConnectionInfo
) -> None:
    items = {catalog(spec).identify(item): item for item in served(simulator, spec)}
    scale = spec.table("models").decimal_scale
    columns = list(catalog(spec).column_types)
    selected = ", ".join(f'"{name}"' for name in ["id", "payload", *columns])

    rows = query(connection, f"select {selected} from {baseline.dataset}.models")

    assert len(rows) == len(items)
    for identifier, payload, *values in rows:
        item = items[identifier]
        # The payload is the item as served: its own fields, unchanged, and every field the columns read.
        assert payload == {name: item[name] for name in payload}
        assert catalog(spec).columns(payload) == catalog(spec).columns(item)
        expected = catalog(spec).columns(item)
        for name, value in zip(columns, values, strict=True):
            wanted = expected[name]
            if isinstance(wanted, Decimal):  # numeric(38, scale) rounds what it cannot hold
                wanted = wanted.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
            assert value == wanted, (identifier, name)


def test_a_second_load_of_the_same_catalog_changes_nothing(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    baseline: Baseline,
    connection: ConnectionInfo,
    pipelines_dir: Path,
) -> None:
    dataset = baseline.dataset
    before = {
        table.name: query(connection, f"select count(*) from {dataset}.{table.name}")[0][0] for table in spec.tables
    }

    second = load_into(spec, env, connection, pipelines_dir, "contract")

    assert not second.blocked
    assert second.versions == baseline.load.versions
    assert {name: (c.added, c.removed, c.changed) for name, c in second.changes.items()} == {
        name: ([], [], []) for name in second.changes
    }
    for table in spec.tables:
        fetched = second.loaded_rows(table.name)
        [(count,)] = query(connection, f"select count(*) from {dataset}.{table.name}")
        if table.disposition == "append":
            assert count == before[table.name] + fetched, table.name
        else:
            assert count == before[table.name] == fetched, table.name
        if "batch_id" in table.columns:
            batches = dict(query(connection, f"select batch_id, count(*) from {dataset}.{table.name} group by 1"))
            assert batches[second.gate.batch_id] == fetched, "one batch_id per fetch, on every row it wrote"
            if table.disposition != "append":
                assert list(batches) == [second.gate.batch_id], table.name
        if table.disposition == "scd2":
            closed = f"select count(*) from {dataset}.{table.name} where _dlt_valid_to is not null"
            assert query(connection, closed) == [(0,)], "an unchanged price closes no interval"


# --- faults -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TRANSIENT))
def test_a_transient_fault_is_retried_and_the_catalog_is_complete(
    spec: SourceSpec, sim: Simulator, env: dict[str, str], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    skip = first_skip(spec)
    faults = TRANSIENT[kind](skip)
    for fault in faults:
        sim.inject(spec.name, fault)
    request = fetch_request(spec, env)

    batch = engine.fetch(request)

    requests = sim.requests_to(spec.name)
    pages = expected_pages(sim, spec)
    assert batch_ids(batch) == expected_ids(sim, spec)
    assert request.stats.pages == pages
    assert request.stats.requests == len(requests) == pages + len(faults)
    failed, *retries = requests[skip : skip + len(faults) + 1]
    assert all(retry.query == failed.query for retry in retries), "the page that failed was asked again"
    if kind == "rate_limit":
        waited = retries[0].at - failed.at
        if spec.name in NO_ADVERTISED_DELAY:
            assert FAST.initial_wait_s <= waited < 1.0  # FAST's own backoff (at most 0.25 s), with room for a busy host
        else:
            assert waited >= ADVERTISED_DELAY_S
    assert "retrying" in caplog.text
    assert sample_key(spec.name) not in caplog.text


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_fetch_that_fails_loads_nothing_and_keeps_the_earlier_rows(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    baseline: Baseline,
    connection: ConnectionInfo,
    pipelines_dir: Path,
    case: str,
) -> None:
    make_faults, error, message, requests_made = FAILING[case]
    skip = first_skip(spec)
    for fault in make_faults(skip):
        sim.inject(spec.name, fault)
    before = contents(connection, spec, baseline.dataset)

    with pytest.raises(error, match=message) as raised:
        load_into(spec, env, connection, pipelines_dir, "contract")

    assert type(raised.value) is error
    assert str(raised.value).startswith(f"{spec.display_name}: ")
    assert sample_key(spec.name) not in str(raised.value)
    assert len(sim.requests_to(spec.name)) == requests_made(skip)
    assert contents(connection, spec, baseline.dataset) == before


def test_an_unknown_new_field_is_kept_in_the_payload_and_adds_no_column(
    spec: SourceSpec, sim: Simulator, env: dict[str, str], connection: ConnectionInfo, pipelines_dir: Path
) -> None:
    sim.inject(spec.name, Fault("unknown_field", count=1000, field_name=UNKNOWN_FIELD))

    load = load_into(spec, env, connection, pipelines_dir, "faults")

    dataset = f"raw_{spec.name}_faults"
    kept = f"select count(*), count(*) filter (where payload -> %s = '{{\"new\": true}}'::jsonb) from {dataset}.models"
    assert query(connection, kept + " where batch_id = %s", UNKNOWN_FIELD, load.gate.batch_id) == [
        (len(expected_ids(sim, spec)),) * 2
    ]
    column = "select count(*) from information_schema.columns where table_schema = %s and column_name like %s"
    assert query(connection, column, dataset, "%simulator_unannounced%") == [(0,)]


def field_behind_a_column(spec: SourceSpec, item: Mapping[str, Any]) -> tuple[str, str]:
    """A field of `item` (not its id) without which one of the typed columns is null."""
    read = catalog(spec).columns
    for field in item:
        without = {name: value for name, value in item.items() if name != field}
        if catalog(spec).identify(without) != catalog(spec).identify(item):
            continue
        for column, value in read(item).items():
            if value is not None and read(without)[column] is None:
                return field, column
    raise AssertionError(f"no field of {spec.name}'s first model fills a typed column alone")


def test_a_missing_field_is_null_and_the_rest_of_the_row_is_read(
    spec: SourceSpec, sim: Simulator, env: dict[str, str]
) -> None:
    field, column = field_behind_a_column(spec, served(sim, spec)[0])
    sim.inject(spec.name, Fault("missing_field", count=1000, field_name=field))

    batch = engine.fetch(fetch_request(spec, env))

    rows = rows_of(batch.tables["models"])
    assert {row["id"] for row in rows} == expected_ids(sim, spec)
    assert [row[column] for row in rows] == [None] * len(rows)
    payloads = [json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"] for row in rows]
    assert not any(field in payload for payload in payloads)
    items = {catalog(spec).identify(item): item for item in served(sim, spec)}
    for row, payload in zip(rows, payloads, strict=True):
        assert payload == {name: items[row["id"]][name] for name in payload}
        assert sum(value is not None for value in catalog(spec).columns(payload).values()) > 0


def test_an_item_without_an_id_is_quarantined_and_the_rest_loads(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    connection: ConnectionInfo,
    pipelines_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = sim.handlers[spec.name]
    route = handler.route
    stripped: list[str | None] = []

    def first_item_without_its_id(request: SimRequest) -> SimResponse:
        response = route(request)
        listed = response.body if handler.items_key is None else response.body[handler.items_key]
        if stripped or not listed:
            return response
        first, *rest = listed
        stripped.append(catalog(spec).identify(first))
        listed = [
            {name: value for name, value in first.items() if catalog(spec).identify({name: value}) is None},
            *rest,
        ]
        response.body = listed if handler.items_key is None else {**response.body, handler.items_key: listed}
        return response

    monkeypatch.setattr(handler, "route", first_item_without_its_id)

    load = load_into(spec, env, connection, pipelines_dir, "faults")

    others = expected_ids(sim, spec) - set(stripped)
    assert len(others) == len(expected_ids(sim, spec)) - 1
    assert not load.blocked
    assert load.gate.quarantined_counts()["models"] == 1
    assert load.loaded_rows("models") == len(others)
    assert set(ids_loaded(connection, f"raw_{spec.name}_faults", load.gate.batch_id)) == others
    quarantined = query(
        connection,
        "select row_key, row_payload ->> 'id', failed_expectations ? 'id is not null' from dq.quarantine"
        " where source = %s and entity = 'models' and batch_id = %s",
        spec.name,
        load.gate.batch_id,
    )
    assert [(payload_id, failed) for _, payload_id, failed in quarantined] == [(None, True)]
    total = sum(load.gate.quarantined_counts().values())
    assert f"; {total} rows quarantined (see dq.quarantine)" in load.report()


def test_a_shrunken_catalog_is_blocked_and_the_earlier_rows_stay(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    baseline: Baseline,
    connection: ConnectionInfo,
    pipelines_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if pages_by_size(spec):
        # Every page after the first comes back empty, saying it is the last.
        sim.inject(spec.name, Fault("page_vanishes", skip=1, count=1000))
    else:
        # One page: the provider lists a quarter of its models.
        monkeypatch.setattr(sim.handlers[spec.name], "models", served(sim, spec)[: len(served(sim, spec)) // 4])
    before = contents(connection, spec, baseline.dataset)

    load = load_into(spec, env, connection, pipelines_dir, "contract")

    assert load.blocked and load.summary is None
    assert "blocked by the quality gate, nothing loaded, previous data kept" in load.report()
    assert "models: the batch lists at least" in load.report()
    assert contents(connection, spec, baseline.dataset) == before
    guard = query(
        connection,
        "select success from dq.validation_results where source = %s and entity = 'models' and batch_id = %s"
        " and expectation = 'expect_table_row_count_to_be_between'",
        spec.name,
        load.gate.batch_id,
    )
    assert guard == [(False,)]


# --- keys and hosts -----------------------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_naming_its_variable_and_hiding_the_key(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    baseline: Baseline,
    connection: ConnectionInfo,
    pipelines_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{spec.name}-key-9876543210"
    variable = credential(spec).env
    denied = sim.handlers[spec.name].authenticate(
        SimRequest("GET", "/", {}, credential(spec).headers(wrong), sim.root_url(spec.name))
    )
    assert denied is not None
    before = contents(connection, spec, baseline.dataset)

    with pytest.raises(AuthenticationError) as raised:
        load_into(spec, {**env, variable: wrong}, connection, pipelines_dir, "contract")

    message = str(raised.value)
    assert message == (
        f"{spec.display_name} rejected the API key ({denied.status}): check {variable} "
        f"({error_message(as_response(denied))})"
    )
    assert wrong not in message and wrong not in caplog.text
    assert len(sim.requests_to(spec.name)) == 1, "a rejected key is not retried"
    assert contents(connection, spec, baseline.dataset) == before


def test_an_unreachable_host_is_reported_as_unreachable(
    spec: SourceSpec,
    sim: Simulator,
    env: dict[str, str],
    baseline: Baseline,
    connection: ConnectionInfo,
    pipelines_dir: Path,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    before = contents(connection, spec, baseline.dataset)

    with pytest.raises(SourceUnreachableError, match=rf"^{spec.display_name}: {nowhere}/\S* is unreachable") as raised:
        load_into(spec, {**env, spec.variable("BASE_URL"): nowhere}, connection, pipelines_dir, "contract")

    assert sample_key(spec.name) not in str(raised.value)
    assert sim.requests_to(spec.name) == []
    assert contents(connection, spec, baseline.dataset) == before


def test_without_its_key_a_catalog_is_skipped_or_read_anonymously(
    spec: SourceSpec, sim: Simulator, env: dict[str, str], connection: ConnectionInfo, pipelines_dir: Path
) -> None:
    keyless = {name: value for name, value in env.items() if name != credential(spec).env}
    if credential(spec).required:
        with pytest.raises(ConfigurationError, match=rf"^{spec.name}: skipped: {credential(spec).env} is not set$"):
            load_into(spec, keyless, connection, pipelines_dir, "contract")
        assert sim.requests_to(spec.name) == []
        return
    request = fetch_request(spec, keyless)
    assert batch_ids(engine.fetch(request)) == expected_ids(sim, spec)
    requests = sim.requests_to(spec.name)
    assert len(requests) == expected_pages(sim, spec)
    header = credential(spec).header.lower()
    assert all(header not in {name.lower() for name in request.headers} for request in requests)


def test_every_fault_the_simulator_knows_has_a_contract_case() -> None:
    covered = {fault.kind for make in TRANSIENT.values() for fault in make(0)}
    covered |= {fault.kind for make, *_ in FAILING.values() for fault in make(0)}
    covered |= {"unknown_field", "missing_field", "page_vanishes"}  # their own tests above
    assert covered == set(get_args(FaultKind))
    assert {spec.name for spec in CATALOGS} == {"anthropic", "gemini", "huggingface", "mistral", "openai", "openrouter"}
