"""Usage files through the production path: a folder of request logs fetched, gated and loaded by the engine into
the session's warehouse; the malformed line in dq.quarantine with its reason, and a file dropped again loading
nothing new."""

from __future__ import annotations

import shutil
from pathlib import Path

from modelatlas.pipelines.engine import load_standalone
from modelatlas.pipelines.usage_files import SPEC
from modelatlas.warehouse import ConnectionInfo, read_only_query

CSV = (
    "timestamp,provider,model,input_tokens,cached_input_tokens,output_tokens,team\n"
    "2026-11-03T09:14:02Z,openai,gpt-4o-2024-08-06,1850,1024,312,search\n"
    "2026-11-03T10:02:58+01:00,anthropic,claude-sonnet-4-5,12000,9500,840,support\n"
    "2026-11-03T10:05:00Z,anthropic,claude-sonnet-4-5,100,200,10,support\n"
    "2026-11-03 11:45:17,google,gemini-2.5-pro,5400,2048,760,\n"
)
JSONL = (
    '{"timestamp": "2026-11-03T12:00:00Z", "provider": "gemini", "model": "gemini-2.5-flash", "input_tokens": 1500,'
    ' "cached_input_tokens": 0, "output_tokens": 220, "user": "li"}\n'
)


def test_rows_land_the_malformed_line_is_quarantined_and_a_file_dropped_again_adds_nothing(
    connection: ConnectionInfo, tmp_path: Path
) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    (folder / "usage-2026-11.csv").write_text(CSV)
    (folder / "x.jsonl").write_text(JSONL)
    pipelines = tmp_path / "pipelines"
    env = {"MODELATLAS_USAGE_DIR": str(folder)}

    first = load_standalone(SPEC, connection, pipelines, env=env)
    assert not first.blocked
    assert first.batch.origin == "2 new files (usage-2026-11.csv, x.jsonl), 0 already loaded"
    assert first.loaded_rows("requests") == 4
    _, rows = read_only_query(
        connection,
        "select file_name, line_number, provider, model, input_tokens, cached_input_tokens, user_id"
        " from raw_usage_files.requests order by file_name, line_number",
    )
    assert rows == [
        ("usage-2026-11.csv", 2, "openai", "gpt-4o-2024-08-06", 1850, 1024, None),
        ("usage-2026-11.csv", 3, "anthropic", "claude-sonnet-4-5", 12000, 9500, None),
        ("usage-2026-11.csv", 5, "google", "gemini-2.5-pro", 5400, 2048, None),
        ("x.jsonl", 1, "gemini", "gemini-2.5-flash", 1500, 0, "li"),
    ]
    _, quarantined = read_only_query(
        connection,
        "select row_key, row_payload ->> 'file_name', (row_payload ->> 'line_number')::int,"
        " row_payload ->> 'parse_error', failed_expectations from dq.quarantine"
        " where source = 'usage_files' and entity = 'requests'",
    )
    [(key, file_name, line, reason, failed)] = quarantined
    assert key.endswith(":4") and (file_name, line) == ("usage-2026-11.csv", 4)
    assert reason == "cached_input_tokens 200 is above input_tokens 100"
    assert failed == ["the line parses (parse_error says why it does not)"]
    _, files = read_only_query(
        connection,
        "select file_name, lines, loaded_rows, quarantined_rows from raw_usage_files.files order by file_name",
    )
    assert files == [("usage-2026-11.csv", 4, 3, 1), ("x.jsonl", 1, 1, 0)]
    _, types = read_only_query(
        connection,
        "select column_name, data_type, is_nullable from information_schema.columns"
        " where table_schema = 'raw_usage_files' and table_name = 'requests'"
        " and column_name in ('used_at', 'input_tokens', 'team') order by column_name",
    )
    assert types == [
        ("input_tokens", "bigint", "NO"),
        ("team", "character varying", "YES"),
        ("used_at", "timestamp with time zone", "NO"),
    ]

    shutil.copy(folder / "usage-2026-11.csv", folder / "usage-2026-11 (copy).csv")
    shutil.rmtree(pipelines)  # a new machine: the loaded hashes come back from the warehouse
    again = load_standalone(SPEC, connection, pipelines, env=env)
    assert again.batch.origin == f"no new file in {folder} (3 already loaded)"
    _, counts = read_only_query(
        connection,
        "select (select count(*) from raw_usage_files.requests), (select count(*) from raw_usage_files.files),"
        " (select count(*) from dq.quarantine where source = 'usage_files')",
    )
    assert counts == [(4, 2, 1)]
