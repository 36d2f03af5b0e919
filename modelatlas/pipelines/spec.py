"""The source spec: one declaration per source of everything that differs between sources, as data.

Everything that lists sources (assets, schedules, freshness, the simulator, secret redaction, the tests' isolation,
dbt's vars, the configuration docs) is derived from the specs in `modelatlas.pipelines.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import httpx
import pyarrow as pa

from modelatlas.pipelines.http import ApiClient, RetryPolicy

if TYPE_CHECKING:
    from modelatlas.pipelines.paginate import Paginator
    from modelatlas.pipelines.quality.suite import Suite

SourceKind = Literal["catalog", "price registry", "status", "usage"]
DataType = Literal["text", "bigint", "double", "bool", "timestamp", "date", "json", "decimal"]
Disposition = Literal["merge", "append", "scd2"]
# One table's extracted rows: dicts, or one Arrow table (big catalogs).
Rows: TypeAlias = Sequence[Mapping[str, Any]] | pa.Table
# Columns recording when a row was fetched, not what it says.
FETCH_COLUMNS = ("batch_id", "_fetched_at", "fetched_at", "observed_at")
# The columns dlt's scd2 merge writes; declared so an empty table is created with them (staging reads them).
SCD2_COLUMNS: dict[str, DataType] = {"_dlt_valid_from": "timestamp", "_dlt_valid_to": "timestamp"}


@dataclass(frozen=True)
class Credential:
    """The key a source reads from the environment, and how it travels (always in a header)."""

    env: str
    required: bool = True
    header: str = "Authorization"
    scheme: str = "Bearer"

    def headers(self, key: str) -> dict[str, str]:
        """The header carrying `key`."""
        return {self.header: f"{self.scheme} {key}" if self.scheme else key}


@dataclass(frozen=True)
class Setting:
    """A setting of one source, `MODELATLAS_<PREFIX>_<SUFFIX>`, read when a run starts."""

    suffix: str
    default: str
    description: str
    # The keyword the source's extract function finds the parsed value under, in `Request.options`.
    option: str
    # (raw text, variable name) -> the value; raises ConfigurationError with what to fix.
    parse: Callable[[str, str], Any] = lambda raw, _name: raw.strip()
    # An empty value (set, but to nothing) switches the source off instead of using the default.
    empty_skips: bool = False
    # The variable's full name when it is not `MODELATLAS_<PREFIX>_<SUFFIX>` (a name the docs promise).
    variable: str | None = None
    # Unset or empty, it switches the source off: the source has nothing to read without it (a folder, a file).
    required: bool = False
    # Its value is a secret (a database URL with a password): redacted like a key, kept out of the tests' environment.
    secret: bool = False


@dataclass(frozen=True)
class Simulated:
    """How the simulator serves a source: its handler and where the source's URL setting points below its root."""

    handler: str
    path: str = ""
    setting: str = "BASE_URL"
    # The setting's value from the simulator's URL for this source, when it is more than that URL and `path`.
    value: Callable[[str], str] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One raw table a source writes: its declared columns, keys, write disposition, suite and versioning."""

    name: str
    description: str
    columns: Mapping[str, DataType]
    # The columns whose content is the table's data: its data version is their hash over the loaded rows.
    version_columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    disposition: Disposition = "merge"
    # The scd2 row version (a hash of what makes a version), for `disposition="scd2"`.
    row_version: str | None = None
    # The extractor never yields two rows with one key: the merge skips dlt's deduplication, and a first load
    # into an empty table is an append.
    unique_rows: bool = False
    # Decimals of `decimal` columns: per-token prices need 18.
    decimal_scale: int = 18
    not_null: tuple[str, ...] = ()
    # Arrow batches travel as csv files that PostgreSQL COPYs.
    file_format: Literal["csv"] | None = None
    # (key columns, content column): rows added, removed and changed since the warehouse's current rows.
    tracked_by: tuple[tuple[str, ...], str] | None = None
    suite: Suite | None = None
    # Columns shown in the markdown preview on the asset page.
    preview: tuple[str, ...] = ()
    # The schema the table lives in when it is not the source's `raw_<source>` (`ts` for the time series).
    dataset: str | None = None
    # A time series: appended, never merged, and partitioned by month (a hypertable under TimescaleDB) on this column.
    time_column: str | None = None

    def column_hints(self) -> dict[str, dict[str, Any]]:
        """dlt column hints, a fresh dict per column (dlt fills them in)."""
        hints: dict[str, dict[str, Any]] = {}
        declared = dict(self.columns) | (SCD2_COLUMNS if self.disposition == "scd2" else {})
        for name, data_type in declared.items():
            hint: dict[str, Any] = {"name": name, "data_type": data_type}
            if data_type == "decimal":
                hint.update(precision=38, scale=self.decimal_scale)
            if name in self.not_null or name in self.primary_key:
                hint["nullable"] = False
            hints[name] = hint
        return hints

    def write_disposition(self, observed_at: datetime | None = None) -> Any:
        """dlt's write disposition; an scd2 boundary at `observed_at` when one is given (a simulated clock)."""
        if self.disposition == "scd2":
            scd2: dict[str, Any] = {
                "disposition": "merge",
                "strategy": "scd2",
                "row_version_column_name": self.row_version,
            }
            if observed_at is not None:
                scd2["boundary_timestamp"] = observed_at
            return scd2
        if self.disposition == "merge" and self.unique_rows:
            return {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
        return self.disposition


@dataclass(frozen=True)
class Endpoint:
    """A list endpoint: its path, where the items sit in a page body, how pages follow, fixed parameters."""

    path: str
    paginator: Paginator
    # The key of the item list in a page body; None: the body is the list.
    items: str | None = "data"
    # A page without the items key is an empty page (proto3 JSON omits empty lists) rather than an error.
    items_optional: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """How a catalog API lists models and how one item becomes a `models` row."""

    endpoint: Endpoint
    # The provider's id of an item; None marks an item without one (the gate quarantines its row).
    identify: Callable[[Mapping[str, Any]], str | None]
    # The typed columns read from an item (the full item is kept as `payload` beside them).
    columns: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    column_types: Mapping[str, DataType]
    # Fields that change on every fetch (request time, counters): left out of the content hash.
    volatile: tuple[str, ...] = ()
    # The table the items land in.
    table: str = "models"


@dataclass
class FetchStats:
    """Filled in while a source fetches: pages and requests, for the asset's metadata."""

    pages: int = 0
    requests: int = 0


@dataclass
class Batch:
    """What one fetch of a source extracted: rows per table, where they came from, what else it noticed."""

    tables: dict[str, Rows]
    # Where the data came from, for the run summary: a URL and region, or "package data, genai-prices 0.2.3".
    origin: str
    # Remarks for the run summary ("published JSON not used: ...").
    notes: tuple[str, ...] = ()
    # Figures for the asset page beyond rows and changes.
    metadata: dict[str, Any] = field(default_factory=dict)
    # The source's state to keep when this batch loads (an incremental cursor): saved in dlt's state in the same
    # load, and given to the next fetch as `Request.state`. None keeps the saved state as it is.
    state: Mapping[str, Any] | None = None


@dataclass
class Request:
    """One fetch of one source, as the environment configures it when a run starts."""

    spec: SourceSpec
    # When the fetch started: the batch's id, its rows' fetch time and the boundary of its scd2 history.
    fetched_at: datetime
    api_key: str | None = None
    base_url: str | None = None
    region: str = "global"
    options: Mapping[str, Any] = field(default_factory=dict)
    stats: FetchStats = field(default_factory=FetchStats)
    policy: RetryPolicy | None = None
    # Items per page instead of the paginator's default (tests and benchmarks page small catalogs).
    page_size: int | None = None
    # The state the source's last loaded batch kept (`Batch.state`); empty before its first load.
    state: Mapping[str, Any] = field(default_factory=dict)

    def client(self, base_url: str | None = None) -> ApiClient:
        """The source's API client: its key in its header, its retry policy, errors naming its key variable."""
        credential = self.spec.credential
        headers = dict(self.spec.headers)
        if credential is not None and self.api_key:
            headers |= credential.headers(self.api_key)
        return ApiClient(
            self.spec.display_name,
            base_url or self.base_url or "",
            headers=headers,
            key_env=credential.env if credential else None,
            secrets=(self.api_key,) if self.api_key else (),
            policy=self.policy,
            rejects_key=self.spec.rejects_key,
        )


@dataclass(frozen=True)
class SourceSpec:
    """One source: where it lives, its key, how it pages and maps items, its tables, cadence and simulator."""

    name: str
    display_name: str
    description: str
    # A catalog lists a provider's models (`models`, unioned into dim_models); a price registry prices many.
    kind: SourceKind
    tables: tuple[TableSpec, ...]
    cadence: str = "*/10 * * * *"
    credential: Credential | None = None
    # The API's default base URL (`MODELATLAS_<PREFIX>_BASE_URL`); sources with one also take a region label.
    base_url: str | None = None
    # Headers every request carries besides the key (an API version).
    headers: Mapping[str, str] = field(default_factory=dict)
    # Responses beyond 401/403 that mean a bad key (Gemini answers 400 API_KEY_INVALID).
    rejects_key: Callable[[httpx.Response], bool] | None = None
    catalog: Catalog | None = None
    # The fetch for sources that are no plain catalog; catalogs use `catalog_batch`.
    extract: Callable[[Request], Batch] | None = None
    settings: tuple[Setting, ...] = ()
    simulator: Simulated | None = None
    # Freshness: stale after this many missed schedule intervals (warned one earlier).
    missed_intervals: int = 3
    # For the sources table of the docs: the endpoint and how it pages, as a reader would write them.
    endpoint_doc: str = ""
    # The Dagster asset group of its tables (and of its job's selection); the source's name by default.
    group: str | None = None
    # The fetch reads `Request.state` (an incremental cursor its batches keep): the engine reads it from dlt's state,
    # from the warehouse when the local pipeline has none.
    keeps_state: bool = False
    # The option (a Setting's `option`) naming a folder that files arrive in: a sensor starts the source's job when
    # the folder's files change, besides its schedule.
    watched_folder: str | None = None

    @property
    def asset_group(self) -> str:
        """The Dagster asset group its tables belong to."""
        return self.group or self.name

    @property
    def env_prefix(self) -> str:
        """The `<PREFIX>` of this source's `MODELATLAS_<PREFIX>_*` settings."""
        return self.name.upper()

    @property
    def dataset(self) -> str:
        """The raw schema this source writes (`raw_<name>`)."""
        return f"raw_{self.name}"

    def variable(self, suffix: str) -> str:
        """The full name of one of this source's settings."""
        for setting in self.settings:
            if setting.suffix == suffix and setting.variable is not None:
                return setting.variable
        return f"MODELATLAS_{self.env_prefix}_{suffix}"

    def table_dataset(self, table: TableSpec) -> str:
        """The schema `table` lives in."""
        return table.dataset or self.dataset

    def datasets(self) -> tuple[str, ...]:
        """Every schema this source writes, its own first."""
        return tuple(dict.fromkeys([self.dataset, *(self.table_dataset(table) for table in self.tables)]))

    def table(self, name: str) -> TableSpec:
        """One of this source's tables by name."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"{self.name} has no table {name!r}")

    def variables(self) -> Iterator[str]:
        """Every environment variable this source reads."""
        if self.credential is not None:
            yield self.credential.env
        if self.base_url is not None:
            yield self.variable("BASE_URL")
            yield self.variable("REGION")
        yield self.variable("CRON")
        for setting in self.settings:
            yield self.variable(setting.suffix)

    def secret_variables(self) -> Iterator[str]:
        """The variables whose values are secrets."""
        if self.credential is not None:
            yield self.credential.env
        for setting in self.settings:
            if setting.secret:
                yield self.variable(setting.suffix)
