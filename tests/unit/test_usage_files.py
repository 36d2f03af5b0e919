"""Usage files: CSV and JSON Lines request logs parsed through Arrow, each file once by content, a malformed line a
row with its reason that the gate quarantines while its neighbours load."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelatlas.errors import ConfigurationError
from modelatlas.pipelines import usage_files
from modelatlas.pipelines.quality.gate import gate_batch
from modelatlas.pipelines.spec import Batch, Request
from modelatlas.pipelines.usage_files import (
    FILES,
    REQUEST_SCHEMA,
    REQUESTS,
    SPEC,
    csv_text_table,
    file_digest,
    folder_files,
    parse_file,
    requests_batch,
    text_bytes,
)
from modelatlas.settings import GateSettings, source_config

AT = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "usage" / "requests-example.csv"
HEADER = "timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens"


def rows_of(path: Path) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = parse_file(path, file_hash="h", fetched_at=AT).requests.to_pylist()
    return requests


def by_line(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["line_number"]: row for row in rows}


def fetch(folder: Path, state: dict[str, Any] | None = None) -> Batch:
    """One run over `folder`, configured as the environment would, with the state earlier loads kept."""
    config = source_config(SPEC, {"MODELATLAS_USAGE_DIR": str(folder)})
    return requests_batch(Request(spec=SPEC, fetched_at=AT, options=config.options, state=state or {}))


def test_a_csv_file_parses_with_every_offset_form_and_absent_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        f"{HEADER},team\r\n"
        "2026-11-03T09:14:02Z,openai,gpt-4o-2024-08-06,1850,1024,312,search\r\n"
        "2026-11-03T10:14:02+01:00, anthropic ,claude-sonnet-4-5,100,0,50,\r\n"
        "\r\n"
        '2026-11-03 11:45:17.1234567,google,gemini-2.5-pro,10,0,5,"data, ml"\r\n'
    )
    rows = by_line(rows_of(path))
    assert sorted(rows) == [2, 3, 5]
    assert [rows[n]["used_at"] for n in (2, 3, 5)] == [
        datetime(2026, 11, 3, 9, 14, 2, tzinfo=UTC),
        datetime(2026, 11, 3, 9, 14, 2, tzinfo=UTC),  # +01:00 read as such
        datetime(2026, 11, 3, 11, 45, 17, 123456, tzinfo=UTC),  # naive is UTC
    ]
    assert rows[2] | {"used_at": None} == {
        "record_key": "h:2",
        "file_hash": "h",
        "file_name": "usage.csv",
        "line_number": 2,
        "used_at": None,
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 1850,
        "cached_input_tokens": 1024,
        "output_tokens": 312,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "team": "search",
        "project": None,
        "user_id": None,
        "api_key_id": None,
        "request_id": None,
        "service_tier": None,
        "region": None,
        "parse_error": None,
        "raw_line": None,
        "fetched_at": AT,
        "batch_id": "20261104T120000.000000Z",
    }
    assert (rows[3]["provider"], rows[3]["team"], rows[5]["team"]) == ("anthropic", None, "data, ml")


def test_a_json_lines_file_parses_into_the_same_table(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    path.write_text(
        '{"timestamp": "2026-11-03T09:14:02Z", "provider": "gemini", "model": "gemini-2.5-flash", '
        '"input_tokens": 1500, "cached_input_tokens": "0", "output_tokens": 220.0, "user": "li", '
        '"reasoning_tokens": 64, "extra": {"ignored": true}}\n'
        "\n"
        '{"timestamp": "2026-11-03T09:14:02-05:00", "provider": "openai", "model": "o3", "input_tokens": 1, '
        '"cached_input_tokens": 0, "output_tokens": 1, "team": null}\n'
    )
    parsed = parse_file(path, file_hash="h", fetched_at=AT)
    assert parsed.requests.schema == REQUEST_SCHEMA
    rows = by_line(parsed.requests.to_pylist())
    assert sorted(rows) == [1, 3]
    first = rows[1]
    assert (first["provider"], first["model"], first["user_id"]) == ("gemini", "gemini-2.5-flash", "li")
    assert (first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (1500, 0, 220)
    assert first["reasoning_tokens"] == 64
    assert rows[3]["used_at"] == datetime(2026, 11, 3, 14, 14, 2, tzinfo=UTC)
    assert rows[3]["team"] is None
    assert parsed.malformed == 0


def test_a_gzipped_csv_file_reads_like_the_plain_one(tmp_path: Path) -> None:
    content = f"{HEADER}\n2026-11-03T09:14:02Z,openai,gpt-4o,10,0,1\n"
    (tmp_path / "plain.csv").write_text(content)
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(content.encode()))
    plain, packed = rows_of(tmp_path / "plain.csv"), rows_of(tmp_path / "packed.csv.gz")
    assert [row | {"file_name": None} for row in plain] == [row | {"file_name": None} for row in packed]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-11-03T09:14:02Z,openai,,10,0,1", "model is missing"),
        ("yesterday,openai,gpt-4o,10,0,1", "timestamp 'yesterday' is not ISO 8601"),
        ("2026-02-30T09:14:02Z,openai,gpt-4o,10,0,1", "timestamp '2026-02-30T09:14:02Z' is not a valid date and time"),
        ("1900-01-01T00:00:00Z,openai,gpt-4o,10,0,1", "is outside the years 1970 to 2099"),
        ("2026-11-03T09:14:02Z,openai,gpt-4o,-5,0,1", "input_tokens -5 is negative"),
        ("2026-11-03T09:14:02Z,openai,gpt-4o,10,0,12.5", "output_tokens '12.5' is not a whole number"),
        ("2026-11-03T09:14:02Z,openai,gpt-4o,10,20,1", "cached_input_tokens 20 is above input_tokens 10"),
        ("2026-11-03T09:14:02Z,openai,gpt-4o,10", "4 fields where the header has 6"),
        ('2026-11-03T09:14:02Z,openai,"gpt-4o,10,0,1', 'a quote (") is not closed on its line'),
        # Its quotes pair up, but Arrow's reader reads `a` after the first quoted field and opens a field at the last.
        ('",,,"a,b",12,1,1,"', 'a quote (") is not closed on its line'),
        ('2026-11-03T09:14:02Z,openai,"gpt-4o"-mini,10,0,1', 'a quote (") is out of place'),
        ('2026-11-03T09:14:02Z,openai,gpt "4o",10,0,1', 'a quote (") is out of place'),
        ("2026-11-03T09:14:02Z,open\rai,gpt-4o,10,0,1", "a carriage return (\\r) in the middle of the line"),
        ('2026-11-03T09:14:02Z,openai,"gpt\r4o",10,0,1', "a carriage return (\\r) in the middle of the line"),
    ],
)
def test_a_malformed_line_is_a_row_with_its_reason_and_its_neighbours_parse(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(f"{HEADER}\n2026-11-03T09:00:00Z,openai,gpt-4o,10,0,1\n{line}\n2026-11-03T09:01:00Z,x,y,1,1,1\n")
    parsed = parse_file(path, file_hash="h", fetched_at=AT)
    rows = by_line(parsed.requests.to_pylist())
    assert reason in rows[3]["parse_error"]
    assert rows[3]["raw_line"] == line
    assert (rows[3]["file_name"], rows[3]["record_key"]) == ("usage.csv", "h:3")
    assert rows[2]["parse_error"] is None and rows[4]["parse_error"] is None
    assert (parsed.lines, parsed.malformed) == (3, 1)


def test_every_reason_of_a_line_is_listed_in_column_order(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(f"{HEADER}\nsoon,openai,,1.5,-2,\n")
    [row] = rows_of(path)
    assert row["parse_error"] == (
        "model is missing; output_tokens is missing; timestamp 'soon' is not ISO 8601; "
        "input_tokens '1.5' is not a whole number; cached_input_tokens -2 is negative"
    )


def test_malformed_json_lines_say_why(tmp_path: Path) -> None:
    path = tmp_path / "usage.ndjson"
    path.write_text(
        '{"timestamp": "2026-11-03T09:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 1, '
        '"cached_input_tokens": 0, "output_tokens": 1}\n'
        "not json\n"
        "[1, 2]\n"
        '{"timestamp": "2026-11-03T09:00:00Z", "provider": "openai", "model": {"id": "x"}, "input_tokens": true, '
        '"cached_input_tokens": 0, "output_tokens": 1}\n'
        '{"timestamp": "later", "provider": "openai", "model": "gpt-4o", "input_tokens": -1, '
        '"cached_input_tokens": 0, "output_tokens": 1}\n'
    )
    errors = {row["line_number"]: row["parse_error"] for row in rows_of(path)}
    assert errors[1] is None
    assert errors[2].startswith("not valid JSON (")
    assert errors[3] == "a JSON array, not an object"
    assert errors[4] == "model is a JSON object, not a value; input_tokens is a JSON boolean"
    assert errors[5] == "timestamp 'later' is not ISO 8601; input_tokens -1 is negative"


def test_the_gate_quarantines_the_malformed_line_with_its_reason_and_passes_the_rest(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(
        f"{HEADER}\n2026-11-03T09:00:00Z,openai,gpt-4o,10,0,1\n2026-11-03T09:00:00Z,openai,gpt-4o,10,0,-1\n"
    )
    batch = fetch(tmp_path)
    gate = gate_batch(SPEC, batch, {}, GateSettings(), now=AT)
    assert not gate.blocked
    passing = gate.passing[REQUESTS]
    assert isinstance(passing, pa.Table)
    assert passing.column("line_number").to_pylist() == [2]
    [(key, row, failed)] = gate.quarantined[REQUESTS]
    assert key is not None and key.endswith(":3")
    assert (row["file_name"], row["line_number"], row["parse_error"]) == (
        "usage.csv",
        3,
        "output_tokens -1 is negative",
    )
    assert row["raw_line"] == "2026-11-03T09:00:00Z,openai,gpt-4o,10,0,-1"
    assert failed == ["the line parses (parse_error says why it does not)"]
    [file_row] = batch.tables[FILES]
    assert (file_row["lines"], file_row["loaded_rows"], file_row["quarantined_rows"]) == (2, 1, 1)


def test_the_same_content_under_two_names_is_one_file(tmp_path: Path) -> None:
    content = f"{HEADER}\n2026-11-03T09:00:00Z,openai,gpt-4o,10,0,1\n"
    (tmp_path / "a.csv").write_text(content)
    (tmp_path / "b.csv").write_text(content)
    batch = fetch(tmp_path)
    assert batch.origin == "1 new file (a.csv), 1 already loaded"
    assert "b.csv holds the same content as a.csv: loaded once" in batch.notes
    assert batch.state == {"loaded": {file_digest(tmp_path / "a.csv"): "a.csv"}}
    requests = batch.tables[REQUESTS]
    assert isinstance(requests, pa.Table) and requests.num_rows == 1
    assert [row["file_name"] for row in batch.tables[FILES]] == ["a.csv"]


def test_a_file_already_in_state_is_skipped_and_the_state_keeps_every_hash(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text(f"{HEADER}\n2026-11-01T00:00:00Z,openai,gpt-4o,1,0,1\n")
    (tmp_path / "new.jsonl").write_text(
        '{"timestamp": "2026-11-02T00:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 1, '
        '"cached_input_tokens": 0, "output_tokens": 1}\n'
    )
    old = file_digest(tmp_path / "old.csv")
    batch = fetch(tmp_path, {"loaded": {old: "old.csv", "gone": "deleted.csv"}})
    assert batch.origin == "1 new file (new.jsonl), 1 already loaded"
    requests = batch.tables[REQUESTS]
    assert isinstance(requests, pa.Table)
    assert requests.column("file_name").to_pylist() == ["new.jsonl"]
    assert batch.state == {
        "loaded": {old: "old.csv", "gone": "deleted.csv", file_digest(tmp_path / "new.jsonl"): "new.jsonl"}
    }

    again = fetch(tmp_path, dict(batch.state or {}))
    assert again.origin == f"no new file in {tmp_path} (2 already loaded)"
    assert again.tables == {REQUESTS: [], FILES: []}
    assert again.state is None  # nothing new: the saved state stays as it is


def test_only_complete_request_logs_are_read(tmp_path: Path) -> None:
    for name in ("a.csv", "b.jsonl", "c.ndjson", "d.csv.gz", ".hidden.csv", "e.csv.tmp", "notes.txt", "f.JSONL"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.csv").mkdir()
    assert [path.name for path in folder_files(tmp_path)] == ["a.csv", "b.jsonl", "c.ndjson", "d.csv.gz", "f.JSONL"]


def test_a_line_that_is_not_utf8_is_malformed_and_its_neighbours_load(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_bytes(
        f"{HEADER}\n2026-11-03T09:00:00Z,openai,gpt-4o,1,0,1\n".encode()
        + b"2026-11-03T09:00:00Z,openai,gpt-\xff,1,0,1\n"
    )
    errors = {row["line_number"]: row["parse_error"] for row in rows_of(path)}
    assert errors == {2: None, 3: "the line holds bytes that are not UTF-8"}


def test_an_empty_file_waits_for_its_content(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_bytes(b"")
    batch = fetch(tmp_path)
    assert batch.origin == f"no new file in {tmp_path} (0 already loaded)"
    assert batch.state is None


def test_a_run_stops_taking_files_at_its_line_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_files, "BATCH_LINES", 2)
    for name in ("a.csv", "b.csv", "c.csv"):
        (tmp_path / name).write_text(f"{HEADER}\n2026-11-01T00:00:00Z,openai,{name},1,0,1\n" * 2)
    batch = fetch(tmp_path)
    assert batch.origin == "1 new file (a.csv), 0 already loaded"
    assert "left for the next run: 2 new files (b.csv, c.csv)" in batch.notes
    assert list((batch.state or {})["loaded"].values()) == ["a.csv"]


def test_a_header_without_a_required_column_leaves_the_file_for_a_later_run(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text("timestamp,provider,input_tokens\n2026-11-01T00:00:00Z,openai,1\n")
    batch = fetch(tmp_path)
    assert batch.notes == ("usage.csv not loaded: its header has no model, cached_input_tokens, output_tokens column",)
    assert batch.state is None
    assert batch.tables[FILES] == []


def test_a_file_changed_since_it_was_loaded_loads_again_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(f"{HEADER}\n2026-11-01T00:00:00Z,openai,gpt-4o,1,0,1\n")
    batch = fetch(tmp_path, {"loaded": {"earlier": "usage.csv"}})
    assert "usage.csv changed since it was loaded: loaded again as a new file, its earlier rows kept" in batch.notes


def test_the_example_file_parses_whole() -> None:
    parsed = parse_file(EXAMPLE, file_hash="h", fetched_at=AT)
    assert parsed.malformed == 0 and 8 <= parsed.lines <= 12
    providers = set(parsed.requests.column("provider").to_pylist())
    assert {"openai", "anthropic", "google", "gemini"} <= providers


def test_an_unset_folder_skips_the_source_and_a_missing_one_fails_saying_so(tmp_path: Path) -> None:
    assert source_config(SPEC, {}).skip_reason == "skipped: MODELATLAS_USAGE_DIR is not set"
    assert source_config(SPEC, {"MODELATLAS_USAGE_DIR": " "}).skip_reason == "skipped: MODELATLAS_USAGE_DIR is not set"
    with pytest.raises(ConfigurationError, match=r"MODELATLAS_USAGE_DIR is .*missing, which is not a folder"):
        fetch(tmp_path / "missing")


def test_a_200k_line_csv_parses_through_arrow(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = [f"{HEADER},team"]
    lines += [
        f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,openai,gpt-4o-mini,{100 + i % 900},{i % 100},"
        f"{i % 300},team-{i % 7}"
        for i in range(200_000)
    ]
    path.write_text("\n".join(lines) + "\n")
    parsed = parse_file(path, file_hash="h", fetched_at=AT)
    assert isinstance(parsed.requests, pa.Table)
    assert parsed.requests.num_rows == 200_000 and parsed.malformed == 0
    assert parsed.requests.column("line_number")[-1].as_py() == 200_001


@pytest.mark.parametrize("name", ["usage.csv", "usage.jsonl"])
def test_a_file_read_a_few_lines_at_a_time_parses_as_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    good = "2026-11-03T09:00:00Z,openai,gpt-4o,10,0,1"
    if name.endswith(".csv"):
        lines = ["", " ", f"{HEADER},extra", good + ",x", "", "soon,openai,,1,0,1,x", good, '"a,b,1,0,1,x', good + "\r"]
    else:
        item = '{"timestamp": "2026-11-03T09:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 10, '
        lines = ["", item + '"cached_input_tokens": 0, "output_tokens": 1}', "{bad", "[1]", "", item + '"x": 1}']
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode() + b"\n" + "\ufffd\n".encode() + b"\xff\n")
    whole = parse_file(path, file_hash="h", fetched_at=AT)
    monkeypatch.setattr(usage_files, "PARSE_LINES", 2)
    sliced = parse_file(path, file_hash="h", fetched_at=AT)
    assert sliced.requests.num_rows > 2 and sliced.requests.num_columns == len(REQUEST_SCHEMA)
    assert sliced.requests.equals(whole.requests)
    assert (sliced.lines, sliced.malformed, sliced.notes) == (whole.lines, whole.malformed, whole.notes)


def test_a_byte_order_mark_is_dropped_and_a_file_of_blank_lines_has_no_row(tmp_path: Path) -> None:
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n2026-11-03T09:00:00Z,openai,gpt-4o,1,0,1\n".encode())
    assert [row["parse_error"] for row in rows_of(marked)] == [None]
    blank = tmp_path / "blank.csv"
    blank.write_text("\n \n\r\n")
    assert parse_file(blank, file_hash="h", fetched_at=AT).requests.num_rows == 0


def test_a_quote_left_open_does_not_take_the_lines_after_it(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    good = [f"2026-11-03T09:00:00Z,openai,gpt-4o,{tokens},0,1" for tokens in range(2_000)]
    path.write_text("\n".join([HEADER, good[0], '",,,"a,b",12,1,1,"', *good[1:]]) + "\n")
    parsed = parse_file(path, file_hash="h", fetched_at=AT)
    rows = by_line(parsed.requests.to_pylist())
    assert sorted(rows) == list(range(2, 2_003))
    assert rows[3]["parse_error"] == 'a quote (") is not closed on its line'
    assert rows[3]["raw_line"] == '",,,"a,b",12,1,1,"'
    assert (parsed.lines, parsed.malformed) == (2_001, 1)


def test_a_carriage_return_inside_a_line_is_malformed_and_the_file_loads(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_bytes(
        f"{HEADER}\r\n2026-11-03T09:00:00Z,openai,gpt-4o,10,0,1\r\n".encode()
        + b"2026-11-03T09:01:00Z,open\rai,gpt-4o,10,0,1\r\n2026-11-03T09:02:00Z,openai,gpt-4o,10,0,1\r\n"
    )
    batch = fetch(tmp_path)
    requests = batch.tables[REQUESTS]
    assert isinstance(requests, pa.Table)
    errors = {row["line_number"]: (row["parse_error"], row["raw_line"]) for row in requests.to_pylist()}
    assert errors == {
        2: (None, None),
        3: ("a carriage return (\\r) in the middle of the line", "2026-11-03T09:01:00Z,open\rai,gpt-4o,10,0,1"),
        4: (None, None),
    }
    [file_row] = batch.tables[FILES]
    assert (file_row["lines"], file_row["loaded_rows"], file_row["quarantined_rows"]) == (3, 2, 1)


def test_lines_the_csv_reader_fails_on_are_malformed_and_the_rest_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_csv = usage_files.pa_csv.read_csv

    def failing_on_x(source: Any, **options: Any) -> pa.Table:
        if b"xx" in source.read():
            raise pa.ArrowInvalid("CSV parse error: made to fail")
        source.seek(0)
        table: pa.Table = read_csv(source, **options)
        return table

    monkeypatch.setattr(usage_files.pa_csv, "read_csv", failing_on_x)
    good = [f"2026-11-03T09:{minute:02d}:00Z,openai,gpt-4o,10,0,1" for minute in range(40)]
    good[7] = good[31] = "2026-11-03T09:00:00Z,openai,xx,10,0,1"
    path = tmp_path / "usage.csv"
    path.write_text("\n".join([HEADER, *good]) + "\n")
    parsed = parse_file(path, file_hash="h", fetched_at=AT)
    rows = by_line(parsed.requests.to_pylist())
    assert sorted(rows) == list(range(2, 42))
    failed = {number for number, row in rows.items() if row["parse_error"] is not None}
    assert failed == {9, 33}
    assert rows[9]["parse_error"] == "the line could not be split into fields: CSV parse error: made to fail"
    assert rows[9]["raw_line"] == good[7]


def test_a_row_read_into_another_is_malformed_and_no_line_goes_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the checks before Arrow's reader are for: without them a quote left open runs on into the next lines.
    monkeypatch.setattr(usage_files, "split_faults", lambda texts: pa.nulls(len(texts), pa.string()))
    names = HEADER.split(",")
    lines = pa.array(
        ["2026-11-03T09:00:00Z,a,b,1,0,1", '",,,"a,b",12,1,1,"', "x,a,b,1,0,1", "y,a,b,1,0,1"], pa.large_string()
    )
    text = csv_text_table(lines, 2, names).sort_by("line_number").to_pylist()
    assert [(row["line_number"], row["parse_error"]) for row in text] == [
        (2, None),
        (3, "a quoted field runs on past the end of the line"),
        (4, "the line could not be split into fields"),
        (5, "the line could not be split into fields"),
    ]


_PIECES = ["", " ", "a", "1", '"', '""', '"a"', '"a,b"', '"a""b"', 'a"b', '"a"b', "\r", "a\rb", '"\r"', ","]
_LINE = st.one_of(
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map(",".join),
    st.text(alphabet='a1,"\r ', max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, max_size=12), parse_lines=st.sampled_from([1, 2, 3, 100_000]))
def test_every_line_that_is_not_blank_comes_out_once(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], parse_lines: int
) -> None:
    path = tmp_path_factory.mktemp("random") / "usage.csv"
    path.write_bytes("\n".join([HEADER, *lines]).encode() + b"\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(usage_files, "PARSE_LINES", parse_lines)
        parsed = parse_file(path, file_hash="h", fetched_at=AT)
    rows = parsed.requests.to_pylist()
    expected = [number for number, line in enumerate(lines, 2) if line.strip(" \r")]
    assert Counter(row["line_number"] for row in rows) == Counter(expected)
    trimmed = [line.rstrip("\r") for line in lines] if "\r" in "".join(lines) else lines
    for row in rows:
        if row["parse_error"] is not None:
            assert row["raw_line"] == trimmed[row["line_number"] - 2]
    assert (parsed.lines, parsed.malformed) == (len(expected), sum(row["parse_error"] is not None for row in rows))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=12))
def test_a_line_split_into_fields_has_the_fields_rfc_4180_reads(lines: list[str]) -> None:
    names = ["a", "b", "timestamp", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens"]
    text = csv_text_table(pa.array(lines, pa.large_string()), 1, names).to_pylist()
    for row in text:
        if row["parse_error"] is None:
            [fields] = csv.reader([lines[row["line_number"] - 1]], strict=True)
            assert [row[name] for name in names[2:]] == fields[2:]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_the_bytes_of_lines_are_theirs_alone(kind: pa.DataType) -> None:
    lines = pa.array(["ab", 'c"d', "", "é\r"], kind)
    assert text_bytes(lines) == 'abc"dé\r'.encode()
    assert text_bytes(lines.slice(1, 2)) == b'c"d'
    assert text_bytes(lines.slice(2, 1)) == text_bytes(lines.slice(0, 0)) == b""
