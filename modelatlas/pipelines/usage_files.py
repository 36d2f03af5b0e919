"""Request logs dropped into a folder (`MODELATLAS_USAGE_DIR`): CSV or JSON Lines files, one request per line.

Each file is loaded once, by the SHA-256 of its content: the hashes already loaded are kept in the source's state,
so a file seen again (or the same content under another name) is skipped. Files are parsed through Arrow, a slice of
lines at a time: every CSV field is read as text and converted column by column. A line that does not convert still
becomes a `requests` row, carrying `parse_error` (why) and `raw_line`; the gate's "the line parses" check quarantines
it into `dq.quarantine` with its file and line number while the rest of the file loads. Provider and model are kept
as written: the dbt layer resolves them.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from dlt.common.json import json as fast_json

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines.catalog import batch_id
from modelatlas.pipelines.quality.suite import RowCheck, Suite
from modelatlas.pipelines.spec import Batch, DataType, Request, Setting, SourceSpec, TableSpec

DIR_VARIABLE = "MODELATLAS_USAGE_DIR"
REQUESTS = "requests"
FILES = "files"
# What the folder may hold; anything else (a `.tmp` being written, a README) is left alone, as are hidden files.
CSV_SUFFIXES = (".csv", ".csv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
# A run stops taking new files once it holds this many lines; the rest wait for the next run.
BATCH_LINES = 1_000_000
# A file's lines are split into fields and converted this many at a time: the copies each step makes stay a slice's
# size. A month of requests (121 MiB) converted at once took 1.1 GiB above what the process held before.
PARSE_LINES = 100_000
# The text of a malformed line kept with its quarantined row.
MAX_RAW_CHARS = 2_000
LISTED_FILES = 5
NOT_UTF8 = "the line holds bytes that are not UTF-8"
# Between the reasons of one malformed line.
SEPARATOR = "; "
# Why a CSV line is not split into fields.
CARRIAGE_RETURN = "a carriage return (\\r) in the middle of the line"
UNCLOSED_QUOTE = 'a quote (") is not closed on its line'
MISPLACED_QUOTE = 'a quote (") is out of place: a field is quoted whole, a quote inside it doubled'
RUNS_ON = "a quoted field runs on past the end of the line"
UNREAD = "the line could not be split into fields"

REQUIRED_FIELDS = ("timestamp", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens")
OPTIONAL_FIELDS = (
    "cache_write_tokens",
    "reasoning_tokens",
    "team",
    "project",
    "user",
    "api_key_id",
    "request_id",
    "service_tier",
    "region",
)
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "cache_write_tokens", "reasoning_tokens")
TEXT_FIELDS = tuple(name for name in FIELDS if name != "timestamp" and name not in TOKEN_FIELDS)
# A field's column in `requests`, where the names differ.
COLUMN_OF = {"timestamp": "used_at", "user": "user_id"}

# A token count fits a bigint with room to sum: at most 18 digits.
MAX_DIGITS = 18
# ISO 8601 date and time, seconds and fraction optional, `Z` or an offset optional (naive is UTC).
ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
ZONE = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
# Times outside these years are typing errors (and PostgreSQL refuses year 0).
PLAUSIBLE_YEARS = (1970, 2100)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# A line of CSV fields as RFC 4180 has them: each unquoted without a quote, or quoted whole with its quotes doubled.
_FIELD = r'(?:[^",]*|"(?:[^"]|"")*")'
WHOLE_FIELDS = rf"^{_FIELD}(?:,{_FIELD})*$"
# A field as Arrow's CSV reader takes it: quoted when it starts with a quote (the text after the closing quote
# kept), a quote anywhere else a character. A line it ends inside a quoted field runs on into the lines after it.
_ARROW_FIELD = r'(?:"(?:[^"]|"")*"(?:[^",][^,]*)?|[^",][^,]*|)'
OPEN_AT_END = rf'^(?:{_ARROW_FIELD},)*"(?:[^"]|"")*$'

REQUEST_COLUMNS: dict[str, DataType] = {
    "record_key": "text",
    "file_hash": "text",
    "file_name": "text",
    "line_number": "bigint",
    "used_at": "timestamp",
    "provider": "text",
    "model": "text",
    **dict.fromkeys(TOKEN_FIELDS, "bigint"),
    "team": "text",
    "project": "text",
    "user_id": "text",
    "api_key_id": "text",
    "request_id": "text",
    "service_tier": "text",
    "region": "text",
    # Null on every loaded row: a line with a parse error is quarantined, with its text, never loaded.
    "parse_error": "text",
    "raw_line": "text",
    "fetched_at": "timestamp",
    "batch_id": "text",
}
FILE_COLUMNS: dict[str, DataType] = {
    "file_hash": "text",
    "file_name": "text",
    "size_bytes": "bigint",
    "lines": "bigint",
    "loaded_rows": "bigint",
    "quarantined_rows": "bigint",
    "first_loaded_at": "timestamp",
    "fetched_at": "timestamp",
    "batch_id": "text",
}
_ARROW_TYPES: dict[DataType, pa.DataType] = {"text": pa.string(), "bigint": pa.int64(), "timestamp": _TIMESTAMP}
REQUEST_SCHEMA = pa.schema([(name, _ARROW_TYPES[data_type]) for name, data_type in REQUEST_COLUMNS.items()])
# Every field as text, with the line it came from and why it could not be split into fields.
_TEXT_SCHEMA = pa.schema(
    [("line_number", pa.int64()), *((name, pa.string()) for name in FIELDS), ("parse_error", pa.string())]
)
REQUIRED_COLUMNS = ("used_at", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens")
KEY_COLUMNS = ("record_key", "file_hash", "file_name", "line_number")


class UnreadableFileError(Exception):
    """A file that cannot be read line by line at all (a CSV header without a required column)."""


@dataclass(frozen=True)
class ParsedFile:
    """One file's lines as `requests` rows (malformed ones carrying `parse_error`) and its `files` row's figures."""

    requests: pa.Table
    lines: int
    malformed: int
    notes: tuple[str, ...] = ()


def parse_folder(raw: str, _variable: str) -> Path:
    """The folder the setting names (`~` expanded)."""
    return Path(raw.strip()).expanduser()


def is_usage_file(path: Path) -> bool:
    """A file the folder's reader takes: CSV or JSON Lines (gzipped or not), not hidden."""
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(CSV_SUFFIXES + JSONL_SUFFIXES)


def folder_files(folder: Path) -> list[Path]:
    """The request-log files in `folder`, by name."""
    return sorted(path for path in folder.iterdir() if is_usage_file(path) and path.is_file())


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def read_text(path: Path) -> tuple[pa.Array, bool]:
    """A file's text as one Arrow string (gunzipped when it ends in .gz, a UTF-8 byte order mark dropped), and
    whether all of it was UTF-8 (bytes that are not are replaced by U+FFFD). UTF-8 text is the file's bytes
    themselves: decoded, a month of requests was three copies of itself at once."""
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = gzip.decompress(data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    content = pa.py_buffer(data).slice(start)
    offsets = pa.array([0, content.size], pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, content])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return pa.array([data.decode("utf-8-sig", errors="replace")], pa.large_string()), False
    return text, True


def mark_undecodable(text: pa.Table, lines: pa.Array) -> pa.Table:
    """The text table with every line holding a replaced byte (U+FFFD) malformed: its values are not what was meant."""
    line_numbers = text.column("line_number")
    replaced = pc.match_substring(lines.take(pc.subtract(line_numbers, 1)), "\ufffd")
    errors = pc.coalesce(text.column("parse_error"), _where(replaced, pa.scalar(NOT_UTF8)))
    return text.set_column(text.schema.get_field_index("parse_error"), "parse_error", errors)


def physical_lines(text: pa.Array) -> pa.Array:
    """The lines of a text (one Arrow string), split on LF (a CR before it dropped); line N is at position N - 1."""
    lines: pa.Array = pc.list_flatten(pc.split_pattern(text, "\n"))
    # Trimming copies every line: a file without carriage returns has none to drop.
    if pc.any(pc.match_substring(text, "\r")).as_py():
        lines = pc.utf8_rtrim(lines, characters="\r")
    return lines


def _blank(lines: pa.Array) -> pa.Array:
    return pc.equal(pc.utf8_trim_whitespace(lines), "")


def _positions(mask: pa.Array) -> pa.Array:
    positions: pa.Array = pc.indices_nonzero(mask)
    return positions


def _empty_text_table() -> pa.Table:
    return _TEXT_SCHEMA.empty_table()


def _unsplit_lines(line_numbers: Sequence[int] | pa.Array, reasons: Sequence[str] | pa.Array) -> pa.Table:
    """Lines that could not be split into fields: only their number and why."""
    count = len(line_numbers)
    return pa.table(
        {
            "line_number": pa.array(line_numbers, pa.int64()),
            **{name: pa.nulls(count, pa.string()) for name in FIELDS},
            "parse_error": pa.array(reasons, pa.string()),
        },
        schema=_TEXT_SCHEMA,
    )


def _text_table(fields: Mapping[str, Any], line_numbers: Any, count: int) -> pa.Table:
    """The text table of split lines: every field of the format, those the file lacks null."""
    columns = {name: fields[name] if name in fields else pa.nulls(count, pa.string()) for name in FIELDS}
    return pa.table(
        {"line_number": line_numbers, **columns, "parse_error": pa.nulls(count, pa.string())}, schema=_TEXT_SCHEMA
    )


def header_fields(header: str, file_name: str) -> list[str]:
    """The CSV header's column names, trimmed and lower-cased; UnreadableFileError without every required field."""
    names = [name.strip().lower() for name in next(csv.reader([header]), [])]
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise UnreadableFileError(f"{file_name} not loaded: its header has no {', '.join(missing)} column")
    repeated = sorted({name for name in names if name in FIELDS and names.count(name) > 1})
    if repeated:
        raise UnreadableFileError(f"{file_name} not loaded: its header names {', '.join(repeated)} twice")
    return names


def fields_count(count: int) -> str:
    """The count with its noun: "1 field", "3 fields"."""
    return f"{count} field" if count == 1 else f"{count} fields"


def numbered_csv(numbers: pa.Array, texts: pa.Array) -> pa.Buffer:
    """CSV text of `texts`, each line prefixed with its number as a first field."""
    large = functools.partial(pa.scalar, type=pa.large_string())
    prefixed = pc.binary_join_element_wise(
        pc.cast(numbers, pa.large_string()), large(","), texts, large("\n"), large("")
    )
    one_list = pa.LargeListArray.from_arrays(pa.array([0, len(prefixed)], pa.int64()), prefixed)
    buffer: pa.Buffer = pc.binary_join(one_list, large(""))[0].as_buffer()
    return buffer


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's header: the position of its line, its column names and what is said about them."""

    position: int
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()


def first_filled(lines: pa.Array) -> int | None:
    """The position of the first line that is not blank, None when all are; read a slice at a time."""
    for start in range(0, len(lines), PARSE_LINES):
        filled = _positions(pc.invert(_blank(lines.slice(start, PARSE_LINES))))
        if len(filled):
            return start + int(filled[0].as_py())
    return None


def csv_header(lines: pa.Array, file_name: str) -> CsvHeader:
    """The first non-blank line as the header (past the last line when every line is blank: no line is data);
    UnreadableFileError without every required field."""
    position = first_filled(lines)
    if position is None:
        return CsvHeader(len(lines), ())
    names = header_fields(lines[position].as_py(), file_name)
    ignored = sorted({name for name in names if name and name not in FIELDS})
    notes = (f"{file_name}: columns {', '.join(ignored)} ignored",) if ignored else ()
    return CsvHeader(position, tuple(names), notes)


def text_bytes(texts: pa.Array) -> bytes:
    """The UTF-8 bytes of `texts`, one after the other."""
    _, offsets, data = texts.buffers()
    if len(texts) == 0 or data is None:
        return b""
    offset_type = pa.int64() if pa.types.is_large_string(texts.type) else pa.int32()
    bounds = pa.Array.from_buffers(offset_type, texts.offset + len(texts) + 1, [None, offsets])
    start, end = bounds[texts.offset].as_py(), bounds[texts.offset + len(texts)].as_py()
    joined: bytes = data.slice(start, end - start).to_pybytes()
    return joined


def _holding(texts: pa.Array, character: str, held: bool) -> pa.Array:
    """Whether each of `texts` holds `character`, all False without searching them when none does (`held`)."""
    holding: pa.Array = pc.match_substring(texts, character) if held else pa.repeat(pa.scalar(False), len(texts))
    return holding


def split_faults(texts: pa.Array) -> pa.Array:
    """Why each CSV line cannot be read as one row of its own, its fields as RFC 4180 has them (null where it can):
    Arrow's reader ends a row at a carriage return, reads on into the next lines from a quote left open, and keeps
    the text after a closing quote in the field."""
    # Most slices hold neither: one search of their bytes takes a millisecond, one line at a time twenty.
    joined = text_bytes(texts)
    has_return, has_quote = b"\r" in joined, b'"' in joined
    del joined
    if not (has_return or has_quote):
        return pa.nulls(len(texts), pa.string())
    carriage_return = _holding(texts, "\r", has_return)
    suspect = pc.or_(carriage_return, _holding(texts, '"', has_quote))
    positions = _positions(suspect)
    suspects = texts.take(positions)
    misquoted = pc.invert(pc.match_substring_regex(suspects, WHOLE_FIELDS))
    open_at_end = pc.match_substring_regex(pc.filter(suspects, misquoted), OPEN_AT_END)
    kinds = pc.if_else(open_at_end, UNCLOSED_QUOTE, MISPLACED_QUOTE)
    quote_reason = pc.replace_with_mask(pa.nulls(len(suspects), pa.string()), misquoted, kinds)
    return_reason = _where(carriage_return.take(positions), pa.scalar(CARRIAGE_RETURN))
    both = pc.binary_join_element_wise(return_reason, quote_reason, SEPARATOR)
    reasons = pc.coalesce(both, return_reason, quote_reason)
    faults: pa.Array = pc.replace_with_mask(pa.nulls(len(texts), pa.string()), suspect, reasons)
    return faults


def line_number_prefix(text: str) -> int | None:
    """The number `numbered_csv` put before a row's text, None when the row does not start with one."""
    prefix = text.split(",", 1)[0]
    return int(prefix) if prefix.isascii() and prefix.isdigit() else None


def arrow_fields(numbers: pa.Array, texts: pa.Array, names: Sequence[str]) -> pa.Table:
    """The text table of CSV lines read by Arrow's CSV reader under the header's `names`, a line of another width
    unsplit; ArrowInvalid when the reader fails."""
    # The real names may repeat or be empty outside the format's fields: Arrow reads them under names of their own.
    columns = ["__line", *(name if name in FIELDS else f"__ignored_{i}" for i, name in enumerate(names))]
    wrong_width: list[tuple[int, str]] = []
    lock = threading.Lock()

    def keep_wrong_width(row: Any) -> str:
        # An exception here would fail the whole read: a row without its number is left to `accounted`.
        number = line_number_prefix(str(row.text))
        reason = f"{fields_count(row.actual_columns - 1)} where the header has {len(names)}"
        if number is not None:
            with lock:
                wrong_width.append((number, reason))
        return "skip"

    read = pa_csv.read_csv(
        pa.BufferReader(numbered_csv(numbers, texts)),
        read_options=pa_csv.ReadOptions(column_names=columns),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=keep_wrong_width),
        convert_options=pa_csv.ConvertOptions(
            column_types={"__line": pa.int64(), **dict.fromkeys(columns[1:], pa.string())},
            include_columns=[name for name in columns if not name.startswith("__ignored_")],
            strings_can_be_null=False,
        ),
    )
    split = _text_table({name: read.column(name) for name in read.column_names}, read.column("__line"), len(read))
    wrong_width.sort()
    skipped = _unsplit_lines([number for number, _ in wrong_width], [reason for _, reason in wrong_width])
    return pa.concat_tables([split, skipped])


def accounted(text: pa.Table, numbers: pa.Array) -> pa.Table:
    """The text table with each of the lines `numbers` once: a row read into another's (a field holding a line
    break) unsplit, as is a line the reader did not return; a row of no line or of one already seen dropped."""
    found = text.column("line_number").combine_chunks()
    if len(found) == len(numbers) and pc.all(pc.is_in(numbers, value_set=found)).as_py():
        return text
    runs_on = _flags(functools.reduce(pc.or_kleene, [pc.match_substring(text.column(name), "\n") for name in FIELDS]))
    expected = set(numbers.to_pylist())
    seen: set[int] = set()
    kept: list[int] = []
    ran_on: list[int] = []
    for position, (number, ran) in enumerate(zip(found.to_pylist(), runs_on.to_pylist(), strict=True)):
        if number not in expected or number in seen:
            continue
        seen.add(number)
        if ran:
            ran_on.append(number)
        else:
            kept.append(position)
    missing = sorted(expected - seen)
    return pa.concat_tables(
        [
            text.take(kept),
            _unsplit_lines(ran_on, [RUNS_ON] * len(ran_on)),
            _unsplit_lines(missing, [UNREAD] * len(missing)),
        ]
    )


def read_lines(numbers: pa.Array, texts: pa.Array, names: Sequence[str]) -> pa.Table:
    """The text table of CSV lines, each line once; lines the reader fails on are read again in halves, down to the
    line it fails on, which is unsplit with the reader's reason."""
    try:
        return accounted(arrow_fields(numbers, texts, names), numbers)
    except pa.ArrowInvalid as exc:
        if len(numbers) == 1:
            return _unsplit_lines(numbers, [f"{UNREAD}: {exc}"])
    middle = len(numbers) // 2
    return pa.concat_tables(
        [
            read_lines(numbers.slice(0, middle), texts.slice(0, middle), names),
            read_lines(numbers.slice(middle), texts.slice(middle), names),
        ]
    )


def csv_text_table(lines: pa.Array, first_number: int, names: Sequence[str]) -> pa.Table:
    """The fields of CSV data lines as text (line `first_number` first, blank ones skipped), through Arrow's CSV
    reader, under the header's `names`; every line that is not blank comes out once, split or with why it is not.

    Each line is prefixed with its number before Arrow reads it, so every row knows its line, even when Arrow
    drops one. A line Arrow would not read as one row of its own (a carriage return inside it, a quote left open
    or out of place) is left out as malformed first.
    """
    data = _positions(pc.invert(_blank(lines)))
    numbers = pc.add(data, first_number)
    texts = pc.take(lines, data)
    faults = split_faults(texts)
    faulty = pc.is_valid(faults)
    unsplit = _unsplit_lines(pc.filter(numbers, faulty), pc.filter(faults, faulty))
    if len(unsplit):
        sound = pc.invert(faulty)
        numbers, texts = pc.filter(numbers, sound), pc.filter(texts, sound)
    if len(numbers) == 0:
        return unsplit
    return pa.concat_tables([read_lines(numbers, texts, names), unsplit])


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, as JSON names it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if isinstance(value, list) else "null"


def _field_text(name: str, value: Any) -> tuple[str | None, str | None]:
    """(text, error) of one JSON field's value: numbers as written, nested values and booleans refused."""
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return None, f"{name} is a JSON boolean"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)), None
    if isinstance(value, int | float):
        return str(value), None
    return None, f"{name} is a JSON {json_kind(value)}, not a value"


def json_line_fields(line: str) -> tuple[dict[str, str | None], str | None]:
    """The fields of one JSON Lines line as text, and why the line is malformed (None when it is not)."""
    try:
        item = fast_json.loads(line)
    except ValueError as exc:
        return {}, f"not valid JSON ({exc})"
    if not isinstance(item, Mapping):
        return {}, f"a JSON {json_kind(item)}, not an object"
    fields: dict[str, str | None] = {}
    errors = []
    for name in FIELDS:
        fields[name], error = _field_text(name, item.get(name))
        if error is not None:
            errors.append(error)
    return fields, SEPARATOR.join(errors) or None


def jsonl_text_table(lines: pa.Array, first_number: int = 1) -> pa.Table:
    """The fields of JSON Lines lines as text (line `first_number` first), one JSON object a line (blank lines
    skipped)."""
    numbers: list[int] = []
    columns: dict[str, list[str | None]] = {name: [] for name in FIELDS}
    errors: list[str | None] = []
    for number, line in enumerate(lines.to_pylist(), first_number):
        if not line.strip():
            continue
        fields, error = json_line_fields(line)
        numbers.append(number)
        errors.append(error)
        for name in FIELDS:
            columns[name].append(None if error else fields.get(name))
    return pa.table(
        {
            "line_number": pa.array(numbers, pa.int64()),
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
            "parse_error": pa.array(errors, pa.string()),
        },
        schema=_TEXT_SCHEMA,
    )


def _present(values: pa.Array) -> pa.Array:
    """Trimmed text, an empty value null."""
    trimmed = pc.utf8_trim_whitespace(values)
    present: pa.Array = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    return present


def _said(prefix: str, values: Any, suffix: str) -> Any:
    """`prefix` + value + `suffix` for each row (null where the value is null)."""
    return pc.binary_join_element_wise(pa.scalar(prefix), values, pa.scalar(suffix), "")


def _where(condition: Any, texts: Any) -> Any:
    """`texts` where `condition` holds, else null."""
    return pc.if_else(condition, texts, pa.scalar(None, pa.string()))


def _flags(values: Any) -> pa.Array:
    """A boolean column as one array, null read as False."""
    flags = pc.fill_null(values, False)
    return flags.combine_chunks() if isinstance(flags, pa.ChunkedArray) else flags


@dataclass(frozen=True)
class Failure:
    """The rows failing one conversion, and why each does: `prefix`, the row's value, `suffix`."""

    failing: pa.Array
    prefix: str
    values: Any = None
    suffix: str = ""

    def reasons(self, rows: pa.Array) -> Any:
        """The reason of each of `rows` (positions), null for those that do not fail this conversion."""
        if self.values is None:
            return _where(self.failing.take(rows), pa.scalar(self.prefix))
        return _where(self.failing.take(rows), _said(self.prefix, self.values.take(rows), self.suffix))


def cast_or_null(values: pa.Array, target: pa.DataType) -> pa.Array:
    """`values` cast to `target`, a value that does not cast null: the whole array at once, halves on a failure."""
    try:
        cast: pa.Array = pc.cast(values, target)
        return cast
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) <= 1:
            return pa.nulls(len(values), target)
    middle = len(values) // 2
    return pa.concat_arrays([cast_or_null(values.slice(0, middle), target), cast_or_null(values.slice(middle), target)])


def whole_numbers(name: str, values: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """A token count's values as int64 (null unless a whole number of at most 18 digits) and its failures."""
    whole = _flags(pc.and_(pc.ascii_is_decimal(values), pc.less_equal(pc.utf8_length(values), MAX_DIGITS)))
    wrong = pc.and_(pc.is_valid(values), pc.invert(whole))
    negative = _flags(pc.and_(wrong, pc.ascii_is_decimal(pc.utf8_ltrim(values, "-"))))
    numbers: pa.Array = pc.cast(pc.if_else(whole, values, pa.scalar(None, pa.string())), pa.int64())
    return numbers, [
        Failure(negative, f"{name} ", values, " is negative"),
        Failure(_flags(pc.and_(wrong, pc.invert(negative))), f"{name} '", values, "' is not a whole number"),
    ]


def times(values: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """ISO 8601 times as UTC timestamps (naive ones read as UTC, fractions past microseconds dropped) and their
    failures."""
    upper = pc.utf8_upper(values)
    shaped = _flags(pc.match_substring_regex(upper, ISO_TIME))
    long_fraction = _flags(pc.match_substring_regex(upper, r"\.[0-9]{7}"))
    if pc.any(long_fraction).as_py():
        upper = pc.replace_substring_regex(upper, r"(\.[0-9]{6})[0-9]+", r"\1")
    zoned = pc.if_else(pc.match_substring_regex(upper, ZONE), upper, pc.binary_join_element_wise(upper, "Z", ""))
    parsed = cast_or_null(pc.if_else(shaped, zoned, pa.scalar(None, pa.string())), _TIMESTAMP)
    years = pc.year(parsed)
    low, high = PLAUSIBLE_YEARS
    plausible = _flags(pc.and_(pc.greater_equal(years, low), pc.less(years, high)))
    return pc.if_else(plausible, parsed, pa.scalar(None, _TIMESTAMP)), [
        Failure(_flags(pc.and_(pc.is_valid(values), pc.invert(shaped))), "timestamp '", values, "' is not ISO 8601"),
        Failure(_flags(pc.and_(shaped, pc.is_null(parsed))), "timestamp '", values, "' is not a valid date and time"),
        Failure(
            _flags(pc.and_(pc.is_valid(parsed), pc.invert(plausible))),
            "timestamp '",
            values,
            f"' is outside the years {low} to {high - 1}",
        ),
    ]


def parse_errors(failures: Sequence[Failure], split_errors: pa.Array) -> pa.Array:
    """Each row's parse error: why it could not be split into fields, else its failed conversions joined by "; ",
    else null. Only the failing rows' reasons are written out."""
    failing = pc.is_valid(split_errors)
    for failure in failures:
        failing = pc.or_(failing, failure.failing)
    rows = pc.indices_nonzero(failing)
    if len(rows) == 0:
        return pa.nulls(len(split_errors), pa.string())
    # Arrow's join skipping nulls miscounted rows when a column was all null: each reason carries its separator.
    parts = [pc.fill_null(pc.binary_join_element_wise(f.reasons(rows), SEPARATOR, ""), "") for f in failures]
    joined = pc.utf8_slice_codeunits(
        pc.binary_join_element_wise(*parts, pa.repeat("", len(rows)), ""), 0, -len(SEPARATOR)
    )
    errors = pc.coalesce(split_errors.take(rows), joined)
    return pc.replace_with_mask(pa.nulls(len(split_errors), pa.string()), failing, errors)


def typed_requests(
    text: pa.Table, lines: pa.Array, *, file_hash: str, file_name: str, fetched_at: datetime
) -> pa.Table:
    """The `requests` rows of one file's text table, converted column by column; a line that does not convert keeps
    its reasons in `parse_error` and its text in `raw_line`."""
    text = text.sort_by("line_number").combine_chunks()
    count = len(text)
    values = {name: _present(text.column(name).combine_chunks()) for name in FIELDS}
    failures = [Failure(_flags(pc.is_null(values[name])), f"{name} is missing") for name in REQUIRED_FIELDS]
    used_at, time_failures = times(values["timestamp"])
    failures += time_failures
    tokens: dict[str, pa.Array] = {}
    for name in TOKEN_FIELDS:
        tokens[name], token_failures = whole_numbers(name, values[name])
        failures += token_failures
    cached, prompt = tokens["cached_input_tokens"], tokens["input_tokens"]
    above = " is above input_tokens "
    failures.append(
        Failure(
            _flags(pc.greater(cached, prompt)),
            "cached_input_tokens ",
            pc.binary_join_element_wise(pc.cast(cached, pa.string()), above, pc.cast(prompt, pa.string()), ""),
        )
    )
    parse_error = parse_errors(failures, text.column("parse_error").combine_chunks())
    line_numbers = text.column("line_number").combine_chunks()
    malformed = pc.indices_nonzero(pc.is_valid(parse_error))
    raw = pc.utf8_slice_codeunits(lines.take(pc.subtract(line_numbers.take(malformed), 1)), 0, MAX_RAW_CHARS)
    raw_line = pc.replace_with_mask(pa.nulls(count, pa.string()), pc.is_valid(parse_error), pc.cast(raw, pa.string()))
    columns: dict[str, Any] = {
        "record_key": _said(f"{file_hash}:", pc.cast(line_numbers, pa.string()), ""),
        "file_hash": pa.repeat(pa.scalar(file_hash), count),
        "file_name": pa.repeat(pa.scalar(file_name), count),
        "line_number": line_numbers,
        "used_at": used_at,
        **{COLUMN_OF.get(name, name): values[name] for name in TEXT_FIELDS},
        **tokens,
        "parse_error": parse_error,
        "raw_line": raw_line,
        "fetched_at": pa.repeat(pa.scalar(fetched_at, _TIMESTAMP), count),
        "batch_id": pa.repeat(pa.scalar(batch_id(fetched_at)), count),
    }
    return pa.table({name: columns[name] for name in REQUEST_SCHEMA.names}, schema=REQUEST_SCHEMA)


def file_lines(path: Path) -> tuple[pa.Array, bool]:
    """A file's physical lines and whether all of it was UTF-8 (`read_text`); its text is not kept."""
    text, utf8 = read_text(path)
    return physical_lines(text), utf8


# A reader of data lines into a text table: (the lines, the number of the first) -> its text table.
TextReader = Callable[[pa.Array, int], pa.Table]


def text_reader(lines: pa.Array, file_name: str) -> tuple[int, TextReader, tuple[str, ...]]:
    """Where a file's data lines start, how they are read and the notes its header gives: a CSV file's after its
    header, under its names; a JSON Lines file's from the first line."""
    if not file_name.lower().endswith(CSV_SUFFIXES):
        return 0, jsonl_text_table, ()
    header = csv_header(lines, file_name)
    return header.position + 1, functools.partial(csv_text_table, names=header.names), header.notes


def text_tables(lines: pa.Array, first: int, read: TextReader, utf8: bool) -> Iterator[pa.Table]:
    """The text tables of the lines from position `first` on, `PARSE_LINES` lines each; in a file that was not all
    UTF-8, every line holding a replaced byte is malformed."""
    for start in range(first, len(lines), PARSE_LINES):
        fields = read(lines.slice(start, PARSE_LINES), start + 1)
        yield fields if utf8 else mark_undecodable(fields, lines)


def parse_file(path: Path, *, file_hash: str, fetched_at: datetime) -> ParsedFile:
    """One file's `requests` rows, converted `PARSE_LINES` lines at a time; UnreadableFileError when its CSV header
    lacks a required field."""
    lines, utf8 = file_lines(path)
    first, read, notes = text_reader(lines, path.name)

    def typed(fields: pa.Table) -> pa.Table:
        return typed_requests(fields, lines, file_hash=file_hash, file_name=path.name, fetched_at=fetched_at)

    converted = [typed(fields) for fields in text_tables(lines, first, read, utf8)] or [typed(_empty_text_table())]
    requests = pa.concat_tables(converted)
    malformed = requests.num_rows - pc.count(requests.column("parse_error"), mode="only_null").as_py()
    return ParsedFile(requests=requests, lines=requests.num_rows, malformed=malformed, notes=notes)


def file_row(path: Path, file_hash: str, parsed: ParsedFile, fetched_at: datetime) -> dict[str, Any]:
    """The `files` row of a newly loaded file."""
    return {
        "file_hash": file_hash,
        "file_name": path.name,
        "size_bytes": path.stat().st_size,
        "lines": parsed.lines,
        "loaded_rows": parsed.lines - parsed.malformed,
        "quarantined_rows": parsed.malformed,
        "first_loaded_at": fetched_at,
        "fetched_at": fetched_at,
        "batch_id": batch_id(fetched_at),
    }


def listed_names(names: Sequence[str]) -> str:
    """The first file names of a list, and how many more."""
    shown = ", ".join(names[:LISTED_FILES])
    return shown + (f" and {len(names) - LISTED_FILES} more" if len(names) > LISTED_FILES else "")


def files_count(count: int, kind: str = "") -> str:
    """The count with its noun: "1 new file", "2 new files"."""
    return f"{count} {kind}file" if count == 1 else f"{count} {kind}files"


def batch_origin(new: Sequence[str], already: int, folder: Path) -> str:
    """Where the batch came from: "2 new files (a.csv, b.jsonl), 1 already loaded"."""
    if not new:
        return f"no new file in {folder} ({already} already loaded)"
    return f"{files_count(len(new), 'new ')} ({listed_names(new)}), {already} already loaded"


def loaded_hashes(state: Mapping[str, Any]) -> dict[str, str]:
    """{file hash: file name} of every file loaded before, from the source's state."""
    loaded = state.get("loaded")
    return {str(key): str(value) for key, value in loaded.items()} if isinstance(loaded, Mapping) else {}


def requests_batch(request: Request) -> Batch:
    """Every file of the folder not loaded before (by content), parsed into `requests` rows and a `files` row each."""
    folder: Path = request.options["folder"]
    if not folder.is_dir():
        raise ConfigurationError(f"{DIR_VARIABLE} is {folder}, which is not a folder: point it at the request logs")
    loaded = loaded_hashes(request.state)
    names_loaded = set(loaded.values())
    tables: list[pa.Table] = []
    file_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    new: dict[str, str] = {}
    already = lines = 0
    waiting: list[str] = []
    for path in folder_files(folder):
        if path.stat().st_size == 0:
            continue  # a file being created: its content comes later
        digest = file_digest(path)
        if digest in loaded:
            already += 1
            continue
        if digest in new:
            already += 1
            notes.append(f"{path.name} holds the same content as {new[digest]}: loaded once")
            continue
        if lines >= BATCH_LINES:
            waiting.append(path.name)
            continue
        try:
            parsed = parse_file(path, file_hash=digest, fetched_at=request.fetched_at)
        except UnreadableFileError as exc:
            notes.append(str(exc))
            continue
        if path.name in names_loaded:
            notes.append(f"{path.name} changed since it was loaded: loaded again as a new file, its earlier rows kept")
        new[digest] = path.name
        tables.append(parsed.requests)
        file_rows.append(file_row(path, digest, parsed, request.fetched_at))
        notes.extend(parsed.notes)
        lines += parsed.lines
    if waiting:
        notes.append(f"left for the next run: {files_count(len(waiting), 'new ')} ({listed_names(waiting)})")
    malformed = sum(row["quarantined_rows"] for row in file_rows)
    return Batch(
        tables={REQUESTS: pa.concat_tables(tables) if tables else [], FILES: file_rows},
        origin=batch_origin(list(new.values()), already, folder),
        notes=tuple(notes),
        metadata={"files_new": len(new), "files_already_loaded": already, "lines": lines, "malformed_lines": malformed},
        state={"loaded": loaded | new} if new else None,
    )


def _line_parses(frame: pd.DataFrame) -> pd.Series:
    passes: pd.Series = frame["parse_error"].isna()
    return passes


LINE_PARSES = RowCheck(
    name="line_parses",
    description="the line parses (parse_error says why it does not)",
    columns=("parse_error",),
    passes=_line_parses,
)


def _files_in(paths: Iterable[str]) -> str:
    return ", ".join(f"`*{suffix}`" for suffix in paths)


SPEC = SourceSpec(
    name="usage_files",
    display_name="Usage files",
    description="Request logs (CSV or JSON Lines, one request per line) dropped into a folder, each file loaded once.",
    kind="usage",
    group="usage",
    cadence="*/5 * * * *",
    tables=(
        TableSpec(
            name=REQUESTS,
            description="One row per request line of a loaded file; provider and model as written.",
            columns=REQUEST_COLUMNS,
            version_columns=("record_key",),
            primary_key=("record_key",),
            # Appended: a file's content loads once (its hash is kept in the source's state, saved with its rows), so
            # a merge would only copy every batch through a staging table to find nothing to replace.
            disposition="append",
            not_null=(*KEY_COLUMNS, *REQUIRED_COLUMNS, "fetched_at", "batch_id"),
            # A month of requests arrives as one Arrow table: dlt COPYs it as csv.
            file_format="csv",
            suite=Suite(
                source="usage_files",
                entity=REQUESTS,
                key=("record_key",),
                not_null=KEY_COLUMNS,
                row_checks=(LINE_PARSES,),
            ),
            preview=("file_name", "line_number", "used_at", "provider", "model", "input_tokens", "output_tokens"),
        ),
        TableSpec(
            name=FILES,
            description="One row per loaded file (by content hash): its name, size, lines loaded and quarantined.",
            columns=FILE_COLUMNS,
            version_columns=("file_hash",),
            primary_key=("file_hash",),
            unique_rows=True,
            not_null=("file_hash", "file_name", "first_loaded_at", "fetched_at", "batch_id"),
            suite=Suite(source="usage_files", entity=FILES, key=("file_hash",), not_null=("file_hash", "file_name")),
            preview=("file_name", "size_bytes", "lines", "loaded_rows", "quarantined_rows", "first_loaded_at"),
        ),
    ),
    extract=requests_batch,
    settings=(
        Setting(
            "DIR",
            "",
            "the folder of request-log files (CSV or JSON Lines) to load; unset, the source is skipped",
            option="folder",
            parse=parse_folder,
            variable=DIR_VARIABLE,
            required=True,
        ),
    ),
    keeps_state=True,
    watched_folder="folder",
    endpoint_doc=f"{_files_in(CSV_SUFFIXES + JSONL_SUFFIXES)} files in `{DIR_VARIABLE}`, each loaded once",
)
